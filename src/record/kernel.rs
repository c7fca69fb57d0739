//! What the record layer takes over from rustls at the switch: rustls's
//! kernel connection (new traffic secrets on KeyUpdate, and, for a client,
//! somewhere to store session tickets; the driver implements [`Kernel`]
//! over rustls's `KernelConnection` for each side), and what the
//! connection did before the switch ([`Handover`]).

use rustls::{ConnectionTrafficSecrets, Error as TlsError, ProtocolVersion, SupportedCipherSuite};

/// rustls's `KernelConnection`, for either side.
pub(crate) trait Kernel {
    /// Whether this is the client's end (TLS 1.2 renegotiation is refused
    /// differently on each side).
    const IS_CLIENT: bool;
    /// New secrets for what we send (TLS 1.3 KeyUpdate).
    fn update_tx_secret(&mut self) -> Result<ConnectionTrafficSecrets, TlsError>;
    /// New secrets for what we receive (TLS 1.3 KeyUpdate).
    fn update_rx_secret(&mut self) -> Result<ConnectionTrafficSecrets, TlsError>;
    /// Stores a NewSessionTicket body; `None` when this side never takes one
    /// (a server).
    fn handle_new_session_ticket(&mut self, body: &[u8]) -> Option<Result<(), TlsError>>;
    /// The negotiated suite, for its confidentiality limit.
    fn suite(&self) -> SupportedCipherSuite;
    /// The negotiated version.
    fn version(&self) -> ProtocolVersion;
}

/// What the connection did before the switch that the record layer goes on
/// from: rustls's own state of these is given up with its connection.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Handover {
    /// The peer's close_notify arrived before the switch.
    pub(crate) peer_closed: bool,
    /// rustls sealed our close_notify before the switch (a caller may queue
    /// it right after the handshake, before `process` lets the switch
    /// happen): nothing more may be sent.
    pub(crate) close_notify_sent: bool,
    /// Alert records the peer sent during the handshake that did not end
    /// it: warnings rustls counted against the same allowance as ours.
    pub(crate) warning_alerts: u8,
}
