use alloc::sync::Arc;
use alloc::vec::Vec;

use rustls::client::UnbufferedClientConnection;
use rustls::client::{ClientConnectionData, EarlyDataError};
use rustls::kernel::KernelConnection;
use rustls::pki_types::ServerName;
use rustls::unbuffered::{
    ConnectionState, EncryptError, ReadEarlyData, ReadTraffic, UnbufferedStatus,
};
use rustls::{ClientConfig, ExtractedSecrets};

use super::{Layer, LlConnection, Pump, ReceiveHalf, SendHalf, Side, Stop, MAX_ENCRYPT_CHUNK};
use crate::buffer::Storage;
use crate::buffer::WriteError;
use crate::buffer::{IncomingTls, OutgoingTls};
use crate::error::Error;
use crate::record::RecordLayer;
use crate::status::{AppData, EarlyDataOutcome};

/// A TLS client over caller-managed buffers.
pub type LlClientConnection = LlConnection<UnbufferedClientConnection>;
/// A client connection driven by a [`Pump`] (growable buffers by default).
pub type ClientPump<I = Vec<u8>, O = Vec<u8>> = Pump<UnbufferedClientConnection, I, O>;
/// The sending half of a split client connection.
pub type ClientSendHalf = SendHalf<UnbufferedClientConnection>;
/// The receiving half of a split client connection.
pub type ClientReceiveHalf = ReceiveHalf<UnbufferedClientConnection>;

impl super::sealed::Sealed for UnbufferedClientConnection {}

impl Side for UnbufferedClientConnection {
    type Data = ClientConnectionData;

    fn process_tls_records<'c, 'i>(
        &'c mut self,
        incoming_tls: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, ClientConnectionData> {
        (**self).process_tls_records(incoming_tls)
    }

    fn app_data<'a>(records: ReadTraffic<'a, 'a, ClientConnectionData>) -> AppData<'a> {
        AppData::client(records)
    }

    fn early_data<'a>(
        _: ReadEarlyData<'a, 'a, ClientConnectionData>,
        _: &'a mut usize,
    ) -> Option<AppData<'a>> {
        // Only servers receive early data; rustls never returns this state to
        // a client.
        None
    }

    const IS_CLIENT: bool = true;

    fn into_kernel(
        self,
    ) -> Result<(ExtractedSecrets, KernelConnection<ClientConnectionData>), rustls::Error> {
        self.dangerous_into_kernel_connection()
    }

    fn handle_new_session_ticket(
        kernel: &mut KernelConnection<ClientConnectionData>,
        body: &[u8],
    ) -> Option<Result<(), rustls::Error>> {
        // rustls stores the session in the config's resumption store, as it
        // does for tickets it reads itself.
        Some(kernel.handle_new_session_ticket(body))
    }
}

impl LlConnection<UnbufferedClientConnection> {
    /// A client connecting to `server_name`, with the in-place record layer
    /// after the handshake. Nothing is sent until the first `process` (or
    /// `encrypt_early_data`) call.
    ///
    /// The config MUST have `enable_secret_extraction` set: the in-place
    /// layer takes the traffic secrets from rustls. Without it this returns
    /// [`Error::SecretExtractionDisabled`]; use
    /// [`with_record_layer`](Self::with_record_layer) to keep rustls's.
    pub fn new(config: Arc<ClientConfig>, server_name: ServerName<'static>) -> Result<Self, Error> {
        Self::with_record_layer(config, server_name, RecordLayer::default())
    }

    /// A client connecting to `server_name` with the given record layer
    /// after the handshake.
    pub fn with_record_layer(
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
        record_layer: RecordLayer,
    ) -> Result<Self, Error> {
        if record_layer == RecordLayer::InPlace && !config.enable_secret_extraction {
            return Err(Error::SecretExtractionDisabled);
        }
        let max_fragment_size = config.max_fragment_size;
        let conn = UnbufferedClientConnection::new(config, server_name).map_err(Error::tls)?;
        Ok(Self::from_rustls(conn, record_layer, max_fragment_size))
    }

    #[cfg(feature = "std")]
    /// A client in deferred mode: the caller verifies the server's
    /// certificate (see [`crate::verify`]). Always with the in-place record
    /// layer, which seals the alert of a rejection.
    pub fn deferred(
        config: &crate::verify::DeferredClientConfig,
        server_name: ServerName<'static>,
    ) -> Result<Self, Error> {
        Self::with_record_layer(config.0.clone(), server_name, RecordLayer::InPlace)
            .map(Self::deferred_mode)
    }

    /// Encrypts 0-RTT early data right after the ClientHello, when resuming a
    /// session whose ticket allows it. Returns how many bytes were taken (at
    /// most what the ticket allows); `Ok(0)` when early data is not possible.
    ///
    /// It MUST be called before the first `process`: early data travels in
    /// the first flight. The server may still reject it, in which case the
    /// caller sends it again as normal data after the handshake.
    #[must_use = "it says how much of the plaintext was taken"]
    pub fn encrypt_early_data<I: Storage, O: Storage>(
        &mut self,
        early_data: &[u8],
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<usize, Error> {
        if self.run(incoming_tls, outgoing_tls, true)? != Stop::Transmit {
            return Ok(0);
        }
        let feed = self.feed();
        let Layer::Rustls(conn) = &mut self.conn else {
            return Ok(0);
        };
        let _armed = crate::verify::arm(&self.deferred);
        let UnbufferedStatus { state, .. } =
            conn.process_tls_records(super::rustls_input(feed, incoming_tls));
        let Ok(ConnectionState::TransmitTlsData(mut transmit)) = state else {
            return Ok(0);
        };
        let Some(mut early) = transmit.may_encrypt_early_data() else {
            return Ok(0);
        };
        // rustls counts the allowance down before it checks the room, so a
        // retry after `InsufficientSize` would lose early-data allowance:
        // make room for the worst case (many small fragments) up front.
        let chunk = &early_data[..early_data.len().min(MAX_ENCRYPT_CHUNK)];
        if let Err(error) = outgoing_tls.reserve(2 * chunk.len() + 1024) {
            self.failed = Some(error.clone());
            return Err(error);
        }
        let before = outgoing_tls.len();
        let result = outgoing_tls.write_with(|buf| match early.encrypt(chunk, buf) {
            Ok(num_bytes) => Ok(num_bytes),
            Err(EarlyDataError::Encrypt(EncryptError::InsufficientSize(e))) => {
                Err(WriteError::InsufficientSize(e.required_size))
            }
            Err(EarlyDataError::Encrypt(EncryptError::EncryptExhausted)) => {
                Err(WriteError::Failed(Error::EncryptExhausted))
            }
            // Nothing left of the ticket's allowance.
            Err(_) => Ok(0),
        });
        if let Err(error) = result {
            self.failed = Some(error.clone());
            return Err(error);
        }
        // rustls takes only what the ticket allows without saying how much:
        // count the plaintext in the records it just wrote.
        let taken = tls13_plaintext_len(&outgoing_tls.filled()[before..]);
        if taken > 0 {
            self.early_data = match self.early_data {
                EarlyDataOutcome::Sent(n) => EarlyDataOutcome::Sent(n + taken),
                _ => EarlyDataOutcome::Sent(taken),
            };
        }
        Ok(taken)
    }
}

/// Plaintext bytes carried by a run of TLS 1.3 records (each holds the
/// content-type byte and a 16-byte AEAD tag besides the data; every TLS 1.3
/// suite has a 16-byte tag).
fn tls13_plaintext_len(mut records: &[u8]) -> usize {
    let mut total = 0;
    while records.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([records[3], records[4]]));
        total += len.saturating_sub(17);
        records = &records[(5 + len).min(records.len())..];
    }
    total
}
