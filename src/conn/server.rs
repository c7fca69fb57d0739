use alloc::sync::Arc;
use alloc::vec::Vec;

use rustls::kernel::KernelConnection;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ReadEarlyData, ReadTraffic, UnbufferedStatus};
use rustls::{ExtractedSecrets, ServerConfig};

use super::{LlConnection, Pump, ReceiveHalf, SendHalf, Side};
use crate::error::Error;
use crate::record::RecordLayer;
use crate::status::AppData;

/// A TLS server connection over caller-managed buffers.
pub type LlServerConnection = LlConnection<UnbufferedServerConnection>;
/// A server connection driven by a [`Pump`] (growable buffers by default).
pub type ServerPump<I = Vec<u8>, O = Vec<u8>> = Pump<UnbufferedServerConnection, I, O>;
/// The sending half of a split server connection.
pub type ServerSendHalf = SendHalf<UnbufferedServerConnection>;
/// The receiving half of a split server connection.
pub type ServerReceiveHalf = ReceiveHalf<UnbufferedServerConnection>;

impl super::sealed::Sealed for UnbufferedServerConnection {}

impl Side for UnbufferedServerConnection {
    type Data = ServerConnectionData;

    fn process_tls_records<'c, 'i>(
        &'c mut self,
        incoming_tls: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, ServerConnectionData> {
        (**self).process_tls_records(incoming_tls)
    }

    fn app_data<'a>(records: ReadTraffic<'a, 'a, ServerConnectionData>) -> AppData<'a> {
        AppData::server(records)
    }

    fn early_data<'a>(
        records: ReadEarlyData<'a, 'a, ServerConnectionData>,
        early_bytes: &'a mut usize,
    ) -> Option<AppData<'a>> {
        Some(AppData::server_early(records, early_bytes))
    }

    const IS_CLIENT: bool = false;

    fn into_kernel(
        self,
    ) -> Result<(ExtractedSecrets, KernelConnection<ServerConnectionData>), rustls::Error> {
        self.dangerous_into_kernel_connection()
    }

    fn handle_new_session_ticket(
        _: &mut KernelConnection<ServerConnectionData>,
        _: &[u8],
    ) -> Option<Result<(), rustls::Error>> {
        // Only servers send tickets.
        None
    }
}

impl LlConnection<UnbufferedServerConnection> {
    /// A server connection waiting for a ClientHello, with the in-place
    /// record layer after the handshake.
    ///
    /// The config MUST have `enable_secret_extraction` set (see
    /// [`LlClientConnection::new`](crate::conn::LlClientConnection::new)).
    pub fn new(config: Arc<ServerConfig>) -> Result<Self, Error> {
        Self::with_record_layer(config, RecordLayer::default())
    }

    #[cfg(feature = "std")]
    /// A server connection in deferred mode: the caller verifies client
    /// certificates (see [`crate::verify`]). Always with the in-place record
    /// layer, which seals the alert of a rejection.
    pub fn deferred(config: &crate::verify::DeferredServerConfig) -> Result<Self, Error> {
        Self::with_record_layer(config.0.clone(), RecordLayer::InPlace).map(Self::deferred_mode)
    }

    /// A server connection with the given record layer after the handshake.
    pub fn with_record_layer(
        config: Arc<ServerConfig>,
        record_layer: RecordLayer,
    ) -> Result<Self, Error> {
        if record_layer == RecordLayer::InPlace && !config.enable_secret_extraction {
            return Err(Error::SecretExtractionDisabled);
        }
        let max_fragment_size = config.max_fragment_size;
        let conn = UnbufferedServerConnection::new(config).map_err(Error::tls)?;
        Ok(Self::from_rustls(conn, record_layer, max_fragment_size))
    }
}
