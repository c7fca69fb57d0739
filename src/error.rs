//! The one error type of the connection layer.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use rustls::pki_types::ServerName;
use rustls::{AlertDescription, CertificateError, InvalidMessage};

/// Why a connection failed.
///
/// Every variant is final: once a connection method has returned an error, the
/// connection is dead and the caller should transmit what is left in its
/// `OutgoingTls` (the fatal alert) and close the transport.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// rustls rejected the peer's data, or the peer sent a fatal alert.
    ///
    /// `alert_sent` is the fatal alert lltls flushed to the outgoing buffer in
    /// response, when it is known.
    Tls {
        /// The error rustls reported.
        error: rustls::Error,
        /// The alert queued for the peer, if one was.
        alert_sent: Option<AlertDescription>,
    },
    /// The peer needs more buffered TLS data than the incoming buffer may hold:
    /// a handshake message or record larger than the protocol allows.
    IncomingLimit {
        /// Bytes the buffer already held when it ran out of room.
        buffered: usize,
        /// The buffer's limit at that point.
        limit: usize,
    },
    /// A caller-provided fixed-size buffer is too small for what must go in it.
    BufferTooSmall {
        /// Size needed.
        required_size: usize,
        /// Size available.
        capacity: usize,
    },
    /// The transport reached end-of-file before the peer sent `close_notify`:
    /// the data may have been truncated by an attacker or a crash.
    UnexpectedEof {
        /// Whether the handshake had completed.
        handshaking: bool,
    },
    /// The traffic keys may not encrypt any more records (TLS 1.2 sequence
    /// number exhaustion); a `close_notify` was queued instead.
    EncryptExhausted,
    /// The in-place record layer was asked for, but the rustls config does
    /// not set `enable_secret_extraction`, without which rustls keeps the
    /// traffic secrets to itself.
    SecretExtractionDisabled,
    /// A configuration lltls refuses, and why.
    Config(&'static str),
    /// `peer_verified` was called with no certificate awaiting a verdict
    /// (not in deferred mode, before `Status::VerifyPeer`, or twice).
    NoVerdictPending,
    /// Deferred mode: the peer's certificate awaits the caller's verdict, and
    /// what was asked for depends on it: rustls's connection (whose handshake
    /// took the chain unverified), or a `Stream`'s next step when the chain
    /// went to a caller outside the stream.
    AwaitingVerdict,
    /// rustls's connection was asked for after the in-place record layer
    /// took its secrets over.
    RecordLayerSwitched,
    /// The connection cannot be split into halves now, and why (it is
    /// given back unchanged).
    CannotSplit(&'static str),
    /// The other half of a split connection panicked while it held the
    /// state both share: its key update may be half done, so this half
    /// stops too.
    OtherHalfPanicked,
}

impl Error {
    pub(crate) fn tls(error: rustls::Error) -> Self {
        let alert_sent = alert_for(&error);
        Self::Tls { error, alert_sent }
    }

    /// The alert the peer sent, when the connection ended with one.
    pub fn alert_received(&self) -> Option<AlertDescription> {
        match self {
            Self::Tls {
                error: rustls::Error::AlertReceived(alert),
                ..
            } => Some(*alert),
            _ => None,
        }
    }

    /// The rustls error behind this one, if any.
    pub fn rustls_error(&self) -> Option<&rustls::Error> {
        match self {
            Self::Tls { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The alert rustls sends for the errors whose alert it fixes by type.
///
/// rustls does not expose which alert it queued; these mappings are public
/// (`From<CertificateError>`, `From<InvalidMessage>`) and are the ones it uses.
fn alert_for(error: &rustls::Error) -> Option<AlertDescription> {
    use rustls::Error as E;
    match error {
        E::InvalidCertificate(e) => Some(AlertDescription::from(e.clone())),
        E::InvalidMessage(e) => Some(AlertDescription::from(*e)),
        E::DecryptError => Some(AlertDescription::BadRecordMac),
        E::NoCertificatesPresented => Some(AlertDescription::CertificateRequired),
        E::PeerIncompatible(_) => Some(AlertDescription::HandshakeFailure),
        _ => None,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tls { error, alert_sent } => {
                match error {
                    rustls::Error::AlertReceived(alert) => {
                        write!(f, "peer sent fatal alert {}", alert_name(*alert))?
                    }
                    rustls::Error::InvalidCertificate(e) => {
                        write!(f, "invalid peer certificate: {}", certificate_reason(e))?
                    }
                    rustls::Error::InvalidMessage(InvalidMessage::MessageTooLarge) => {
                        f.write_str("peer sent a record larger than the protocol allows")?
                    }
                    rustls::Error::InvalidMessage(e) => write!(f, "peer sent an invalid message: {e:?}")?,
                    rustls::Error::PeerMisbehaved(e) => write!(f, "peer misbehaved: {e:?}")?,
                    rustls::Error::DecryptError => {
                        f.write_str("cannot decrypt peer's record: corrupt or forged")?
                    }
                    other => write!(f, "{other}")?,
                }
                if let Some(alert) = alert_sent {
                    write!(f, " (sent fatal alert {})", alert_name(*alert))?;
                }
                Ok(())
            }
            Self::IncomingLimit { buffered, limit } => write!(
                f,
                "peer needs more than {limit}B of buffered TLS data ({buffered}B held): message too large"
            ),
            Self::BufferTooSmall {
                required_size,
                capacity,
            } => write!(
                f,
                "cannot fit {required_size}B in a fixed buffer of {capacity}B"
            ),
            Self::UnexpectedEof { handshaking: true } => {
                f.write_str("peer closed the connection during the handshake")
            }
            Self::UnexpectedEof { handshaking: false } => {
                f.write_str("peer closed the connection without sending close_notify")
            }
            Self::EncryptExhausted => f.write_str("cannot encrypt more records with these keys"),
            Self::SecretExtractionDisabled => f.write_str(
                "the in-place record layer needs enable_secret_extraction in the rustls config",
            ),
            Self::Config(reason) => f.write_str(reason),
            Self::NoVerdictPending => {
                f.write_str("no peer certificate awaits a verdict on this connection")
            }
            Self::AwaitingVerdict => {
                f.write_str("the peer's certificate awaits the caller's verdict")
            }
            Self::RecordLayerSwitched => {
                f.write_str("rustls's connection was given up to the in-place record layer")
            }
            Self::CannotSplit(reason) => write!(f, "cannot split the connection: {reason}"),
            Self::OtherHalfPanicked => {
                f.write_str("the other half of the connection panicked while holding shared state")
            }
        }
    }
}

/// rustls's address as people write it (pki-types converts to `IpAddr` with
/// std only).
fn ip_string(ip: &rustls::pki_types::IpAddr) -> String {
    use rustls::pki_types::IpAddr;
    match ip {
        IpAddr::V4(v4) => core::net::Ipv4Addr::from(*v4.as_ref()).to_string(),
        IpAddr::V6(v6) => core::net::Ipv6Addr::from(*v6.as_ref()).to_string(),
    }
}

fn certificate_reason(e: &CertificateError) -> String {
    match e {
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let expected = match expected {
                ServerName::DnsName(name) => name.as_ref().to_owned(),
                ServerName::IpAddress(ip) => ip_string(ip),
                other => format!("{other:?}"),
            };
            format!(
                "not valid for {expected} (valid for {})",
                presented.join(", ")
            )
        }
        CertificateError::NotValidForName => "not valid for the requested name".into(),
        CertificateError::UnknownIssuer => "issued by an unknown certificate authority".into(),
        CertificateError::ExpiredContext { time, not_after } => format!(
            "expired (not after {}s since the epoch, now {}s)",
            not_after.as_secs(),
            time.as_secs()
        ),
        CertificateError::NotValidYetContext { time, not_before } => format!(
            "not valid yet (not before {}s since the epoch, now {}s)",
            not_before.as_secs(),
            time.as_secs()
        ),
        CertificateError::Revoked => "revoked".into(),
        other => format!("{other:?}"),
    }
}

/// `bad_certificate` style names, as RFC 8446 spells them.
pub(crate) fn alert_name(alert: AlertDescription) -> String {
    let debug: Vec<char> = format!("{alert:?}").chars().collect();
    let mut out = String::with_capacity(debug.len() + 4);
    for (i, &c) in debug.iter().enumerate() {
        // A word starts at an uppercase letter after a lowercase one, or at
        // the last capital of an acronym: `UnknownCA` is `unknown_ca`,
        // `UnknownPSKIdentity` is `unknown_psk_identity`.
        let prev_lower = i > 0 && !debug[i - 1].is_ascii_uppercase();
        let acronym_end = i > 0
            && debug[i - 1].is_ascii_uppercase()
            && debug.get(i + 1).is_some_and(char::is_ascii_lowercase);
        if c.is_ascii_uppercase() && (prev_lower || acronym_end) {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

impl core::error::Error for Error {
    /// `None`: the message already says what rustls reported, and an error
    /// chain printer would say it twice. [`Error::rustls_error`] gives the
    /// rustls error itself.
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        None
    }
}

#[cfg(feature = "std")]
impl From<Error> for std::io::Error {
    fn from(error: Error) -> Self {
        use std::io;
        let kind = match &error {
            Error::UnexpectedEof { .. } => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, error)
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::{alert_name, Error};
    use rustls::AlertDescription;

    /// The message says what rustls reported once: an error-chain printer
    /// (`{:#}` in anyhow, `Report`) would repeat a source.
    #[test]
    fn display_does_not_repeat_a_source() {
        let error = Error::tls(rustls::Error::General("weird peer".into()));
        assert!(core::error::Error::source(&error).is_none());
        assert_eq!(error.to_string().matches("weird peer").count(), 1);
        assert!(error.rustls_error().is_some());
    }

    #[test]
    fn alert_names_are_rfc_spellings() {
        for (alert, name) in [
            (AlertDescription::CloseNotify, "close_notify"),
            (AlertDescription::UnknownCA, "unknown_ca"),
            (AlertDescription::UnknownPSKIdentity, "unknown_psk_identity"),
            (AlertDescription::BadRecordMac, "bad_record_mac"),
            (
                AlertDescription::CertificateRequired,
                "certificate_required",
            ),
        ] {
            assert_eq!(alert_name(alert), name);
        }
    }
}
