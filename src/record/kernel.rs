//! What the record layer needs from rustls after the handshake: new traffic
//! secrets on KeyUpdate, and (client) somewhere to store session tickets.
//! The driver implements it over rustls's `KernelConnection` for each side.

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
