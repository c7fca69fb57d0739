//! Record framing checked before rustls sees a record, while rustls runs the
//! record layer (the handshake, and the whole connection in
//! [`RecordLayer::Rustls`](crate::record::RecordLayer::Rustls) mode): known content
//! types, the length limits of RFC 8446 §5.1–5.2 and RFC 5246 §6.2 for the
//! phase, and a change_cipher_spec that is exactly one byte 0x01. Each with
//! the RFC's alert, sent in the clear while this side still sends in the
//! clear; once its records are encrypted, lltls has no keys to seal an alert
//! until the in-place record layer takes over, and the error says none went
//! out.
//!
//! rustls checks only that a header announces less than 18,432 bytes, and for
//! some violations it ends the connection without any alert (a
//! change_cipher_spec between two fragments of one handshake message, a
//! record interleaved with a fragmented handshake message, a TLS 1.3 record
//! without a content type): [`rfc_alert_for`] names the alert it should have
//! sent.
//!
//! A server also checks that the client's first handshake message is a
//! ClientHello (RFC 8446 §4, RFC 5246 §7.4: unexpected_message), from the
//! type byte at the front of the first handshake record: rustls parses the
//! message first and answers a body it cannot parse with decode_error.
//!
//! [`corrected_alert`] names the plaintext alerts rustls writes that the
//! RFCs want to read differently.

use alloc::vec;

use rustls::{
    AlertDescription, ContentType, Error as TlsError, HandshakeType, InvalidMessage,
    PeerIncompatible, PeerMisbehaved, ProtocolVersion,
};

use crate::checked::Note;

use crate::record::{MAX_FRAGMENT_LEN, MAX_TLS12_CIPHERTEXT, MAX_TLS13_CIPHERTEXT};

/// rustls refuses a record header announcing this many bytes or more: one
/// more than the longest TLS 1.2 ciphertext.
const RUSTLS_REFUSES_FROM: usize = MAX_TLS12_CIPHERTEXT + 1;

/// What the checks need to know of the connection's protection state.
#[derive(Debug)]
pub(super) struct Framing {
    /// This side is a server.
    server: bool,
    /// Server: no handshake byte from the client yet, so the next
    /// handshake record must start a ClientHello.
    awaiting_client_hello: bool,
    /// TLS 1.2: the peer's change_cipher_spec went by, so its handshake and
    /// alert records are encrypted now.
    peer_switched: bool,
    /// This side has sent an encrypted record (or, in TLS 1.2, its
    /// change_cipher_spec): an alert can no longer go out in the clear.
    sending_encrypted: bool,
    /// Alert records shown to rustls. One that did not end the connection
    /// was a warning rustls counted; TLS 1.3 hides the type of its
    /// encrypted records, so those are not seen here.
    alerts: u8,
}

/// A framing violation: the error, and the alert the RFC asks for.
pub(super) type Violation = (TlsError, AlertDescription);

impl Framing {
    /// The checks of a server's connection (`server`) or a client's.
    pub(super) fn new(server: bool) -> Self {
        Self {
            server,
            awaiting_client_hello: server,
            peer_switched: false,
            sending_encrypted: false,
            alerts: 0,
        }
    }

    /// Whether `record` (a header at least) is the client's first
    /// handshake record but its first message byte, the one to check, has
    /// not arrived yet.
    pub(super) fn awaits_first_type(&self, record: &[u8]) -> bool {
        self.awaiting_client_hello
            && ContentType::from(record[0]) == ContentType::Handshake
            && u16::from_be_bytes([record[3], record[4]]) > 0
            && record.len() < 6
    }

    /// Whether `record` is a handshake record in the clear from a TLS 1.3
    /// client after this server's keys changed (RFC 8446 §5: only
    /// change_cipher_spec may come unprotected then): unexpected_message.
    /// rustls tries to open it and answers bad_record_mac.
    pub(super) fn cleartext_handshake_after_key_change(
        &self,
        record: &[u8],
        version: Option<ProtocolVersion>,
    ) -> Option<Violation> {
        let cleartext_handshake = self.server
            && self.sending_encrypted
            && version == Some(ProtocolVersion::TLSv1_3)
            && ContentType::from(record[0]) == ContentType::Handshake;
        cleartext_handshake.then(|| {
            (
                TlsError::InappropriateMessage {
                    expect_types: vec![ContentType::ApplicationData],
                    got_type: ContentType::Handshake,
                },
                AlertDescription::UnexpectedMessage,
            )
        })
    }

    /// Checks the record at the front of `record` (its header at least;
    /// the rest may not have arrived yet).
    pub(super) fn check(
        &mut self,
        record: &[u8],
        version: Option<ProtocolVersion>,
    ) -> Result<(), Violation> {
        let content_type = ContentType::from(record[0]);
        let len = usize::from(u16::from_be_bytes([record[3], record[4]]));
        let overflow = || {
            Err((
                TlsError::PeerSentOversizedRecord,
                AlertDescription::RecordOverflow,
            ))
        };
        match content_type {
            ContentType::ChangeCipherSpec => {
                // RFC 8446 §5 and RFC 5246 §7.1: one byte, value 1.
                if len != 1 || record.get(5).is_some_and(|&byte| byte != 1) {
                    return Err((
                        InvalidMessage::InvalidCcs.into(),
                        AlertDescription::UnexpectedMessage,
                    ));
                }
                if version != Some(ProtocolVersion::TLSv1_3) {
                    self.peer_switched = true;
                }
            }
            ContentType::Handshake | ContentType::Alert => {
                if content_type == ContentType::Alert {
                    self.alerts = self.alerts.saturating_add(1);
                }
                // TLS 1.3 protects these inside application_data records:
                // as themselves they are always plaintext.
                let limit = match (version, self.peer_switched) {
                    (Some(ProtocolVersion::TLSv1_2), true) => MAX_TLS12_CIPHERTEXT,
                    _ => MAX_FRAGMENT_LEN,
                };
                if len > limit {
                    return overflow();
                }
                if content_type == ContentType::Handshake && len > 0 && self.awaiting_client_hello {
                    // The header passed; `awaits_first_type` holds the
                    // record until its type byte comes.
                    if let Some(&msg_type) = record.get(5) {
                        self.awaiting_client_hello = false;
                        let got_type = HandshakeType::from(msg_type);
                        if got_type != HandshakeType::ClientHello {
                            return Err((
                                TlsError::InappropriateHandshakeMessage {
                                    expect_types: vec![HandshakeType::ClientHello],
                                    got_type,
                                },
                                AlertDescription::UnexpectedMessage,
                            ));
                        }
                    }
                }
            }
            ContentType::ApplicationData => {
                let limit = match version {
                    Some(ProtocolVersion::TLSv1_3) => MAX_TLS13_CIPHERTEXT,
                    _ => MAX_TLS12_CIPHERTEXT,
                };
                if len > limit {
                    return overflow();
                }
            }
            // RFC 8446 §5: an unexpected record type is unexpected_message.
            _ => {
                return Err((
                    InvalidMessage::InvalidContentType.into(),
                    AlertDescription::UnexpectedMessage,
                ))
            }
        }
        Ok(())
    }

    /// How many alert records rustls was shown (see `alerts`).
    pub(super) fn alerts_shown(&self) -> u8 {
        self.alerts
    }

    /// Takes note of records this side just encoded.
    pub(super) fn note_sent(&mut self, mut records: &[u8], version: Option<ProtocolVersion>) {
        while records.len() >= 5 {
            match ContentType::from(records[0]) {
                ContentType::ApplicationData => self.sending_encrypted = true,
                ContentType::ChangeCipherSpec if version != Some(ProtocolVersion::TLSv1_3) => {
                    self.sending_encrypted = true
                }
                _ => {}
            }
            let len = usize::from(u16::from_be_bytes([records[3], records[4]]));
            records = &records[(5 + len).min(records.len())..];
        }
    }

    /// Whether this side still sends in the clear, so lltls can send an
    /// alert itself. In TLS 1.3 the keys change as soon as the version is
    /// known (a client's with the ServerHello it read, a server's with the
    /// one it sends), before any encrypted record need have gone out.
    pub(super) fn sends_in_clear(&self, version: Option<ProtocolVersion>) -> bool {
        !self.sending_encrypted && version != Some(ProtocolVersion::TLSv1_3)
    }

    /// The fatal `alert` as a plaintext record, when this side still sends
    /// in the clear.
    pub(super) fn plaintext_alert(
        &self,
        alert: AlertDescription,
        version: Option<ProtocolVersion>,
    ) -> Option<[u8; 7]> {
        self.sends_in_clear(version).then_some([
            u8::from(ContentType::Alert),
            3,
            3,
            0,
            2,
            2, // fatal
            u8::from(alert),
        ])
    }
}

/// Whether rustls refuses this record itself (and so sends an alert it can
/// seal when lltls cannot): unknown content types, lengths over 18,432
/// bytes, a malformed change_cipher_spec, and TLS 1.3 ciphertext over the
/// RFC's limit, which rustls opens and refuses (bad_record_mac on the tag,
/// or record_overflow on the plaintext's size).
pub(super) fn rustls_refuses(record: &[u8], version: Option<ProtocolVersion>) -> bool {
    let len = usize::from(u16::from_be_bytes([record[3], record[4]]));
    match ContentType::from(record[0]) {
        ContentType::Unknown(_) => true,
        ContentType::ChangeCipherSpec => len != 1 || record.get(5).is_some_and(|&byte| byte != 1),
        ContentType::ApplicationData if version == Some(ProtocolVersion::TLSv1_3) => {
            len > MAX_TLS13_CIPHERTEXT
        }
        _ => len >= RUSTLS_REFUSES_FROM,
    }
}

/// The alert RFC 8446 / RFC 5246 require for a rustls error that rustls ends
/// the connection with but sends no alert for.
pub(super) fn rfc_alert_for(error: &TlsError) -> Option<AlertDescription> {
    match error {
        TlsError::PeerMisbehaved(
            PeerMisbehaved::IllegalTlsInnerPlaintext
            | PeerMisbehaved::MessageInterleavedWithHandshakeMessage
            | PeerMisbehaved::KeyEpochWithPendingFragment
            | PeerMisbehaved::IllegalMiddleboxChangeCipherSpec,
        )
        | TlsError::InappropriateMessage { .. }
        | TlsError::InappropriateHandshakeMessage { .. } => {
            Some(AlertDescription::UnexpectedMessage)
        }
        // After rejected 0-RTT data the server skips records it cannot
        // open only until a handshake message starts (RFC 8446 §4.2.10).
        TlsError::PeerMisbehaved(
            PeerMisbehaved::RejectedEarlyDataInterleavedWithHandshakeMessage,
        ) => Some(AlertDescription::BadRecordMac),
        TlsError::InvalidMessage(InvalidMessage::MessageTooLarge)
        | TlsError::PeerSentOversizedRecord => Some(AlertDescription::RecordOverflow),
        TlsError::InvalidMessage(_) => Some(AlertDescription::DecodeError),
        TlsError::DecryptError => Some(AlertDescription::BadRecordMac),
        _ => None,
    }
}

/// The alert the RFCs want instead of `sent`, the description of the
/// plaintext alert rustls wrote for `error`, given the note a
/// [`checked`](crate::checked) wrapper left during the call that failed.
pub(super) fn corrected_alert(
    error: &TlsError,
    sent: AlertDescription,
    note: Option<Note>,
) -> Option<AlertDescription> {
    match (sent, note, error) {
        // The checked resolver refused a hello whose schemes the key cannot
        // sign with (RFC 8446 §4.4.2.2, RFC 5246 §7.4.1.4.1).
        (AlertDescription::AccessDenied, Some(Note::NoUsableScheme), _) => {
            Some(AlertDescription::HandshakeFailure)
        }
        // An empty certificate entry breaks the message's syntax.
        (AlertDescription::BadCertificate, Some(Note::EmptyCertificateEntry), _) => {
            Some(AlertDescription::DecodeError)
        }
        // RFC 8446 §9.2: a TLS 1.3 ClientHello without key_share (rustls
        // needs one: it offers no PSK-only mode).
        (
            AlertDescription::HandshakeFailure,
            _,
            TlsError::PeerIncompatible(PeerIncompatible::KeyShareExtensionRequired),
        ) => Some(AlertDescription::MissingExtension),
        _ => None,
    }
}
