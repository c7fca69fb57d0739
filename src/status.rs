//! What the connection tells its caller to do next.

use alloc::vec::Vec;
use rustls::pki_types::CertificateDer;
use rustls::unbuffered::{ReadEarlyData, ReadTraffic};
use rustls::{
    client::ClientConnectionData, server::ServerConnectionData, NamedGroup, ProtocolVersion,
    SupportedCipherSuite,
};

use crate::error::Error;
use crate::record::Receiver;
use crate::verify::PeerCertificates;

/// The caller's next duty, returned by `process`.
///
/// Which rustls [`ConnectionState`](rustls::unbuffered::ConnectionState) each
/// variant comes from:
///
/// | variant | rustls state |
/// |---|---|
/// | `MustTransmitTlsData` | `TransmitTlsData` (after the `EncodeTlsData` that filled the buffer), or blocked with bytes pending |
/// | `NeedsMoreTlsData` | `BlockedHandshake`, or `WriteTraffic` with a partial record buffered |
/// | `AppDataAvailable` | `ReadTraffic`; after the switch, a record the in-place layer opened |
/// | `EarlyDataAvailable` | `ReadEarlyData` (server) |
/// | `HandshakeComplete` | first `WriteTraffic` once `is_handshaking()` is false |
/// | `PeerClosed` | `PeerClosed`, or close_notify read by the in-place layer |
/// | `Closed` | `Closed`, or close_notify sent and received after the switch |
/// | `VerifyPeer` | none: deferred mode, the chain lltls's verifier recorded |
/// | `AwaitingVerdict` | none: deferred mode, handshake done, no verdict yet |
///
/// `HandshakeComplete`, `PeerClosed` and `VerifyPeer` are edge-triggered:
/// each is returned once. The others are level-triggered: they are returned again until the
/// caller has done what they ask.
///
/// `MustTransmitTlsData` and `NeedsMoreTlsData` both end a pass, and a
/// driver that always transmits what `OutgoingTls` holds before it reads
/// may treat them alike ([`Pump`](crate::conn::Pump) does: one `Receive`,
/// preceded by `Transmit` while bytes wait). They stay two because they
/// are the RFC's two states, and because the first tells a driver that
/// writes only when asked that the peer may be waiting for our bytes.
#[must_use]
#[non_exhaustive]
#[derive(Debug)]
pub enum Status<'a> {
    /// The connection cannot progress until the peer receives what is in
    /// `OutgoingTls` (and, possibly, answers). The caller MUST transmit
    /// `outgoing_tls.filled()`, then read more input if `wants_read()`.
    MustTransmitTlsData,
    /// Nothing to send; the connection needs more bytes from the peer. The
    /// caller MUST read into `incoming_tls.unfilled()` (the connection asked
    /// for room; a `Vec` makes it when `unfilled()` is called) and call
    /// `advance`, or copy at most `incoming_tls.copy_room()` bytes in with
    /// `extend_from_slice`, or report EOF with `handle_eof`.
    NeedsMoreTlsData,
    /// Decrypted application data. Take the records out with
    /// [`AppData::next_record`]; those not taken are returned again.
    AppDataAvailable(AppData<'a>),
    /// 0-RTT data from a resuming client (server only), before the handshake
    /// completes. Same contract as `AppDataAvailable`.
    EarlyDataAvailable(AppData<'a>),
    /// The handshake just completed; what was negotiated.
    HandshakeComplete(HandshakeInfo),
    /// The peer sent `close_notify`: no more data will come. The connection
    /// may still send data, then `queue_close_notify`.
    PeerClosed,
    /// Both sides sent `close_notify`. Transmit what remains in
    /// `OutgoingTls`, then close the transport.
    Closed,
    /// Deferred mode ([`crate::verify`]): the peer presented this chain.
    /// Verify it (now, or later, e.g. on another thread) and give the
    /// verdict with [`peer_verified`](crate::LlConnection::peer_verified);
    /// meanwhile keep calling `process`, which completes the handshake but
    /// holds everything that depends on trust.
    VerifyPeer(PeerCertificates),
    /// Deferred mode: the handshake is done on this side and nothing can
    /// progress until `peer_verified`. Nothing to transmit; do not read
    /// (`wants_read` is false). Call `process` after the verdict.
    AwaitingVerdict,
}

/// Plaintext records received, borrowed from the connection.
///
/// With the in-place record layer (after the handshake, by default) each
/// record is decrypted where it lies in the caller's `IncomingTls`, and
/// `next_record` lends that slice: no copy, no allocation. With rustls's
/// record layer (during the handshake, for 0-RTT data, or on request),
/// rustls 0.23 decrypts in `IncomingTls` and then copies the plaintext into
/// a `Vec` of its own, which `next_record` lends. Either way the caller uses
/// the slice (copies it, or writes it out) and asks for the next one.
///
/// A record that fails to decrypt ends the batch (`next_record` returns
/// `None`); the next `process` call reports the error, with the alert sent.
pub struct AppData<'a> {
    records: Records<'a>,
    /// Server early data: bytes handed out, for `HandshakeInfo::early_data`.
    early_bytes: Option<&'a mut usize>,
}

enum Records<'a> {
    Client(ReadTraffic<'a, 'a, ClientConnectionData>),
    Server(ReadTraffic<'a, 'a, ServerConnectionData>),
    ServerEarly(ReadEarlyData<'a, 'a, ServerConnectionData>),
    InPlace {
        receiver: &'a mut Receiver,
        /// The unprocessed bytes of `IncomingTls`.
        incoming_tls: &'a mut [u8],
    },
}

impl<'a> AppData<'a> {
    pub(crate) fn client(records: ReadTraffic<'a, 'a, ClientConnectionData>) -> Self {
        Self {
            records: Records::Client(records),
            early_bytes: None,
        }
    }

    pub(crate) fn server(records: ReadTraffic<'a, 'a, ServerConnectionData>) -> Self {
        Self {
            records: Records::Server(records),
            early_bytes: None,
        }
    }

    pub(crate) fn server_early(
        records: ReadEarlyData<'a, 'a, ServerConnectionData>,
        early_bytes: &'a mut usize,
    ) -> Self {
        Self {
            records: Records::ServerEarly(records),
            early_bytes: Some(early_bytes),
        }
    }

    pub(crate) fn in_place(receiver: &'a mut Receiver, incoming_tls: &'a mut [u8]) -> Self {
        Self {
            records: Records::InPlace {
                receiver,
                incoming_tls,
            },
            early_bytes: None,
        }
    }

    /// The plaintext of the next record, or `None` when all were taken.
    #[must_use]
    pub fn next_record(&mut self) -> Option<Result<&[u8], Error>> {
        let record = match &mut self.records {
            Records::Client(r) => r.next_record(),
            Records::Server(r) => r.next_record(),
            Records::ServerEarly(r) => r.next_record(),
            Records::InPlace {
                receiver,
                incoming_tls,
            } => {
                let plaintext = receiver.take_app_data(incoming_tls)?;
                // Open the next one now so `peek_len` can tell its length.
                receiver.prefetch(incoming_tls);
                return Some(Ok(&incoming_tls[plaintext]));
            }
        };
        let payload = record.map(|r| r.map(|r| r.payload).map_err(Error::tls));
        if let (Some(Ok(payload)), Some(count)) = (&payload, &mut self.early_bytes) {
            **count += payload.len();
        }
        payload
    }

    /// Length of the next record's plaintext, without taking it.
    #[must_use]
    pub fn peek_len(&self) -> Option<usize> {
        let len = match &self.records {
            Records::Client(r) => r.peek_len(),
            Records::Server(r) => r.peek_len(),
            Records::ServerEarly(r) => r.peek_len(),
            Records::InPlace { receiver, .. } => return receiver.peek_app_data(),
        };
        len.map(|n| n.get())
    }
}

impl core::fmt::Debug for AppData<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AppData")
            .field("next_len", &self.peek_len())
            .finish()
    }
}

/// What the handshake negotiated.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HandshakeInfo {
    /// TLS 1.2 or TLS 1.3.
    pub protocol_version: Option<ProtocolVersion>,
    /// The cipher suite.
    pub cipher_suite: Option<SupportedCipherSuite>,
    /// The key-exchange group, when one was used.
    pub key_exchange: Option<NamedGroup>,
    /// The ALPN protocol both sides agreed on.
    pub alpn_protocol: Option<Vec<u8>>,
    /// The peer's certificate chain, end entity first (absent for an
    /// unauthenticated client, and on resumption; see
    /// [`LlConnection::handshake_info`](crate::LlConnection::handshake_info)
    /// for after the switch).
    pub peer_certificates: Option<Vec<CertificateDer<'static>>>,
    /// Whether a previous session was resumed.
    pub resumed: bool,
    /// What became of 0-RTT data.
    pub early_data: EarlyDataOutcome,
}

/// What became of 0-RTT early data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EarlyDataOutcome {
    /// No early data was sent (client) or received (server).
    None,
    /// Client: this many bytes were sent as early data. rustls 0.23's
    /// unbuffered client does not expose whether the server accepted them;
    /// a client that must know resends them after the handshake unless the
    /// server's answer proves they arrived.
    Sent(usize),
    /// Server: this many bytes of early data were accepted and delivered.
    Accepted(usize),
}
