use std::sync::Arc;

use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ReadEarlyData, ReadTraffic, UnbufferedStatus};
use rustls::ServerConfig;

use super::{LlConnection, Side};
use crate::status::AppData;
use crate::Error;

/// A TLS server connection over caller-managed buffers.
pub type LlServerConnection = LlConnection<UnbufferedServerConnection>;

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
}

impl LlConnection<UnbufferedServerConnection> {
    /// A server connection waiting for a ClientHello.
    pub fn new(config: Arc<ServerConfig>) -> Result<Self, Error> {
        let conn = UnbufferedServerConnection::new(config).map_err(Error::tls)?;
        Ok(Self::from_rustls(conn))
    }
}
