//! The one driver behind [`LlClientConnection`] and [`LlServerConnection`].
//!
//! It advances rustls's `ConnectionState` machine as far as it can on the
//! bytes the caller has, encoding everything rustls wants to send straight
//! into the caller's `OutgoingTls`, and stops only at something the caller
//! must act on.

mod client;
mod server;

pub use client::LlClientConnection;
pub use server::LlServerConnection;

use core::ops::DerefMut;

use log::{debug, trace};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, ReadEarlyData, ReadTraffic,
    UnbufferedConnectionCommon, UnbufferedStatus, WriteTraffic,
};
use rustls::HandshakeKind;

use crate::incoming::{MAX_HANDSHAKE_BUFFER, MAX_RECORD_SIZE};
use crate::outgoing::WriteError;
use crate::status::{AppData, EarlyDataOutcome, HandshakeInfo, Status};
use crate::storage::Storage;
use crate::{Error, IncomingTls, OutgoingTls};

/// Most plaintext one `encrypt` call takes: four full records. Bounds how much
/// one call can add to `OutgoingTls`; the caller calls again for the rest.
pub const MAX_ENCRYPT_CHUNK: usize = 4 * 16_384;

/// A rustls unbuffered connection, client or server. Sealed: implemented for
/// rustls's `UnbufferedClientConnection` and `UnbufferedServerConnection`.
pub trait Side: DerefMut<Target = UnbufferedConnectionCommon<Self::Data>> + sealed::Sealed {
    /// rustls's per-side connection data.
    type Data;

    #[doc(hidden)]
    fn process_tls_records<'c, 'i>(
        &'c mut self,
        incoming_tls: &'i mut [u8],
    ) -> UnbufferedStatus<'c, 'i, Self::Data>;

    #[doc(hidden)]
    fn app_data<'a>(records: ReadTraffic<'a, 'a, Self::Data>) -> AppData<'a>;

    #[doc(hidden)]
    fn early_data<'a>(
        records: ReadEarlyData<'a, 'a, Self::Data>,
        early_bytes: &'a mut usize,
    ) -> Option<AppData<'a>>;
}

mod sealed {
    pub trait Sealed {}
}

/// Where one run of the state machine stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    AppData,
    EarlyData,
    /// `TransmitTlsData`, when the caller of `run` wants to act on it.
    Transmit,
    WriteTraffic,
    Blocked,
    Closed,
}

/// The shared connection driver. Use it through [`LlClientConnection`] or
/// [`LlServerConnection`].
pub struct LlConnection<C: Side> {
    conn: C,
    /// `HandshakeComplete` was returned.
    handshake_reported: bool,
    /// rustls emitted `PeerClosed` (edge-triggered) during a call that could
    /// not return it; `process` reports it next.
    peer_closed_unreported: bool,
    peer_closed: bool,
    early_data: EarlyDataOutcome,
    /// Server: early data bytes handed to the caller.
    early_bytes_received: usize,
    /// The error that ended the connection; every later call returns it.
    failed: Option<Error>,
}

impl<C: Side> LlConnection<C> {
    fn from_rustls(conn: C) -> Self {
        Self {
            conn,
            handshake_reported: false,
            peer_closed_unreported: false,
            peer_closed: false,
            early_data: EarlyDataOutcome::None,
            early_bytes_received: 0,
            failed: None,
        }
    }

    /// Advances the connection on the bytes in `incoming_tls` and tells the
    /// caller what to do next.
    ///
    /// Processed records are discarded from `incoming_tls`; everything rustls
    /// wants to send is appended to `outgoing_tls`. Call it again after each
    /// status has been acted on, until it returns `NeedsMoreTlsData` or
    /// `MustTransmitTlsData`.
    ///
    /// On error, the fatal alert rustls queued is already in `outgoing_tls`:
    /// the caller SHOULD transmit it before closing the transport.
    pub fn process<'a, I: Storage, O: Storage>(
        &'a mut self,
        incoming_tls: &'a mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<Status<'a>, Error> {
        self.check_failed()?;
        if self.peer_closed_unreported {
            self.peer_closed_unreported = false;
            return Ok(Status::PeerClosed);
        }
        let stop = self.run(incoming_tls, outgoing_tls, false)?;
        if self.peer_closed_unreported {
            self.peer_closed_unreported = false;
            return Ok(Status::PeerClosed);
        }
        if !self.handshake_reported && !self.conn.is_handshaking() && stop != Stop::AppData {
            self.handshake_reported = true;
            let info = self.handshake_info();
            debug!(
                "handshake complete: {:?} {:?}",
                info.protocol_version,
                info.cipher_suite.map(|s| s.suite())
            );
            return Ok(Status::HandshakeComplete(info));
        }
        match stop {
            Stop::AppData | Stop::EarlyData => {
                // rustls returns the same state again: nothing changed since
                // `run` saw it, and it checks pending plaintext before reading
                // any record, so nothing is discarded by this call.
                let UnbufferedStatus { state, .. } =
                    self.conn.process_tls_records(incoming_tls.filled_mut());
                match state {
                    Ok(ConnectionState::ReadTraffic(records)) => {
                        Ok(Status::AppDataAvailable(C::app_data(records)))
                    }
                    Ok(ConnectionState::ReadEarlyData(records)) => {
                        match C::early_data(records, &mut self.early_bytes_received) {
                            Some(records) => Ok(Status::EarlyDataAvailable(records)),
                            None => Ok(Status::NeedsMoreTlsData),
                        }
                    }
                    Err(error) => Err(Error::tls(error)),
                    Ok(_) => Ok(Status::NeedsMoreTlsData),
                }
            }
            Stop::Closed => Ok(Status::Closed),
            Stop::WriteTraffic | Stop::Blocked | Stop::Transmit => {
                let limit = if self.conn.is_handshaking() {
                    MAX_HANDSHAKE_BUFFER
                } else {
                    MAX_RECORD_SIZE
                };
                if let Err(error) = incoming_tls.reserve(limit) {
                    debug!("incoming buffer limit: {error}");
                    self.failed = Some(error.clone());
                    return Err(error);
                }
                if outgoing_tls.is_empty() {
                    Ok(Status::NeedsMoreTlsData)
                } else {
                    Ok(Status::MustTransmitTlsData)
                }
            }
        }
    }

    /// Encrypts up to [`MAX_ENCRYPT_CHUNK`] bytes of `app_data` into
    /// `outgoing_tls` and returns how many it took.
    ///
    /// Returns `Ok(0)` while rustls may not encrypt application data yet: the
    /// plaintext stays with the caller, who offers it again after the next
    /// `process` (the client may send from the moment its Finished is
    /// encoded, the server from the moment it sent its own Finished). It also
    /// returns `Ok(0)` while received plaintext waits to be taken out with
    /// `process`, and after `close_notify` was sent.
    pub fn encrypt<I: Storage, O: Storage>(
        &mut self,
        app_data: &[u8],
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<usize, Error> {
        if app_data.is_empty() {
            return Ok(0);
        }
        let chunk = &app_data[..app_data.len().min(MAX_ENCRYPT_CHUNK)];
        let written =
            self.with_write_traffic(incoming_tls, outgoing_tls, |mut traffic, outgoing| {
                write_encrypted(outgoing, |buf| traffic.encrypt(chunk, buf))
            })?;
        Ok(match written {
            Some(num_bytes) => {
                trace!("encrypted {}B into {num_bytes}B", chunk.len());
                chunk.len()
            }
            None => 0,
        })
    }

    /// Queues a `close_notify` alert in `outgoing_tls`.
    ///
    /// Returns `Ok(false)` while the handshake is in progress (rustls can only
    /// send it once it may send application data) or received plaintext
    /// waits: call again after the next `process`. Plaintext encrypted before
    /// it is sent before it.
    pub fn queue_close_notify<I: Storage, O: Storage>(
        &mut self,
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<bool, Error> {
        // rustls would send it during the handshake already (a TLS 1.3 server
        // may send after its first flight), but the handshake's own remaining
        // messages, such as session tickets, would then never be sent.
        if self.conn.is_handshaking() {
            self.check_failed()?;
            return Ok(false);
        }
        let queued =
            self.with_write_traffic(incoming_tls, outgoing_tls, |mut traffic, outgoing| {
                write_encrypted(outgoing, |buf| traffic.queue_close_notify(buf))
            })?;
        Ok(queued.is_some())
    }

    /// Sends a TLS 1.3 KeyUpdate and switches to new sending keys, asking the
    /// peer to do the same. Returns `Ok(false)` when not possible now (as
    /// `queue_close_notify`).
    pub fn refresh_traffic_keys<I: Storage, O: Storage>(
        &mut self,
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<bool, Error> {
        let refreshed = self.with_write_traffic(incoming_tls, outgoing_tls, |traffic, _| {
            traffic.refresh_traffic_keys().map_err(Error::tls)
        })?;
        if refreshed.is_none() {
            return Ok(false);
        }
        // The KeyUpdate message is queued inside rustls; encode it now so it
        // precedes any data encrypted with the new keys.
        self.run(incoming_tls, outgoing_tls, true)?;
        Ok(true)
    }

    /// Tells the connection the transport reached end-of-file.
    ///
    /// That is the normal end after the peer's `close_notify`; before it, the
    /// data may have been truncated, and this returns
    /// [`Error::UnexpectedEof`].
    pub fn handle_eof(&mut self) -> Result<(), Error> {
        self.check_failed()?;
        if self.peer_closed {
            return Ok(());
        }
        let error = Error::UnexpectedEof {
            handshaking: self.conn.is_handshaking(),
        };
        self.failed = Some(error.clone());
        Err(error)
    }

    /// Whether the handshake is still in progress.
    #[must_use]
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    /// Whether the peer's `close_notify` has been received.
    #[must_use]
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Whether the connection may still receive data, i.e. the caller should
    /// keep reading the transport.
    #[must_use]
    pub fn wants_read(&self) -> bool {
        self.failed.is_none() && !self.peer_closed
    }

    /// The error that ended the connection, if one did.
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        self.failed.as_ref()
    }

    /// What the handshake negotiated so far.
    #[must_use]
    pub fn handshake_info(&self) -> HandshakeInfo {
        HandshakeInfo {
            protocol_version: self.conn.protocol_version(),
            cipher_suite: self.conn.negotiated_cipher_suite(),
            key_exchange: self.conn.negotiated_key_exchange_group().map(|g| g.name()),
            alpn_protocol: self.conn.alpn_protocol().map(<[u8]>::to_vec),
            peer_certificates: self.conn.peer_certificates().map(<[_]>::to_vec),
            resumed: self.conn.handshake_kind() == Some(HandshakeKind::Resumed),
            early_data: match self.early_bytes_received {
                0 => self.early_data,
                n => EarlyDataOutcome::Accepted(n),
            },
        }
    }

    /// The rustls connection inside, for what lltls does not wrap.
    #[must_use]
    pub fn rustls(&self) -> &C {
        &self.conn
    }

    fn check_failed(&self) -> Result<(), Error> {
        match &self.failed {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    /// Runs the state machine until it stops at something the caller must
    /// act on, encoding handshake messages along the way.
    ///
    /// With `stop_at_transmit` it stops at `TransmitTlsData` without calling
    /// `done()`, so that data can be encrypted into the same flight.
    fn run<I: Storage, O: Storage>(
        &mut self,
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
        stop_at_transmit: bool,
    ) -> Result<Stop, Error> {
        self.check_failed()?;
        loop {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(incoming_tls.filled_mut());
            let step = match state {
                Err(error) => Err(error),
                Ok(ConnectionState::EncodeTlsData(mut encoder)) => {
                    match outgoing_tls.write_with(|buf| encode_result(encoder.encode(buf))) {
                        Ok(num_bytes) => {
                            trace!("encoded {num_bytes}B");
                            Ok(None)
                        }
                        Err(error) => {
                            // Dropping the encoder loses the message: the
                            // connection cannot go on.
                            drop(encoder);
                            incoming_tls.discard(discard);
                            self.failed = Some(error.clone());
                            return Err(error);
                        }
                    }
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => {
                    if stop_at_transmit {
                        Ok(Some(Stop::Transmit))
                    } else {
                        // The bytes are safe in the caller's buffer; the caller
                        // transmits them when `process` stops. Telling rustls
                        // now lets it go on to the next flight.
                        transmit.done();
                        Ok(None)
                    }
                }
                Ok(ConnectionState::ReadTraffic(_)) => Ok(Some(Stop::AppData)),
                Ok(ConnectionState::ReadEarlyData(_)) => Ok(Some(Stop::EarlyData)),
                Ok(ConnectionState::PeerClosed) => {
                    debug!("peer closed");
                    self.peer_closed = true;
                    self.peer_closed_unreported = true;
                    Ok(None)
                }
                Ok(ConnectionState::Closed) => Ok(Some(Stop::Closed)),
                Ok(ConnectionState::WriteTraffic(_)) => Ok(Some(Stop::WriteTraffic)),
                Ok(_) => Ok(Some(Stop::Blocked)),
            };
            // rustls's discard counts MUST be applied on every return,
            // errors included, before the next call.
            incoming_tls.discard(discard);
            match step {
                Ok(Some(stop)) => return Ok(stop),
                Ok(None) => continue,
                Err(error) => return Err(self.fail(error, incoming_tls, outgoing_tls)),
            }
        }
    }

    /// Records a rustls error and flushes the fatal alert rustls queued for it.
    ///
    /// rustls only hands out that alert if it is called again: the next calls
    /// return `EncodeTlsData` with it. They return the error again once it is
    /// out.
    fn fail<I: Storage, O: Storage>(
        &mut self,
        error: rustls::Error,
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Error {
        debug!("TLS error: {error}");
        let mut error = Error::tls(error);
        let before = outgoing_tls.len();
        // Call again only while rustls holds messages to send: with nothing
        // queued it would parse the offending record once more.
        while self.conn.wants_write() {
            let UnbufferedStatus { discard, state } =
                self.conn.process_tls_records(incoming_tls.filled_mut());
            let encoded = match state {
                Ok(ConnectionState::EncodeTlsData(mut encoder)) => outgoing_tls
                    .write_with(|buf| encode_result(encoder.encode(buf)))
                    .is_ok(),
                _ => false,
            };
            incoming_tls.discard(discard);
            if !encoded {
                break;
            }
        }
        if outgoing_tls.len() == before {
            // Nothing was sent (e.g. the peer's own fatal alert ended it).
            if let Error::Tls { alert_sent, .. } = &mut error {
                *alert_sent = None;
            }
        }
        self.failed = Some(error.clone());
        error
    }

    /// Brings the state machine to a point where it may encrypt, and calls
    /// `write` with rustls's `WriteTraffic` there. `None` when it cannot now.
    fn with_write_traffic<R, I: Storage, O: Storage>(
        &mut self,
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
        write: impl FnOnce(WriteTraffic<'_, C::Data>, &mut OutgoingTls<O>) -> Result<R, Error>,
    ) -> Result<Option<R>, Error> {
        let stop = self.run(incoming_tls, outgoing_tls, true)?;
        if !matches!(stop, Stop::WriteTraffic | Stop::Transmit) {
            return Ok(None);
        }
        // Same state as `run` stopped at: nothing changed in between.
        let UnbufferedStatus { state, .. } =
            self.conn.process_tls_records(incoming_tls.filled_mut());
        let result = match state {
            Ok(ConnectionState::WriteTraffic(traffic)) => write(traffic, outgoing_tls).map(Some),
            Ok(ConnectionState::TransmitTlsData(mut transmit)) => {
                match transmit.may_encrypt_app_data() {
                    Some(traffic) => write(traffic, outgoing_tls).map(Some),
                    None => Ok(None),
                }
            }
            Err(error) => Err(Error::tls(error)),
            Ok(_) => Ok(None),
        };
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }
}

fn encode_result(result: Result<usize, EncodeError>) -> Result<usize, WriteError> {
    match result {
        Ok(num_bytes) => Ok(num_bytes),
        Err(EncodeError::InsufficientSize(e)) => Err(WriteError::InsufficientSize(e.required_size)),
        // The driver encodes each `EncodeTlsData` once.
        Err(EncodeError::AlreadyEncoded) => Ok(0),
    }
}

fn write_encrypted<O: Storage>(
    outgoing_tls: &mut OutgoingTls<O>,
    mut encrypt: impl FnMut(&mut [u8]) -> Result<usize, EncryptError>,
) -> Result<usize, Error> {
    outgoing_tls.write_with(|buf| match encrypt(buf) {
        Ok(num_bytes) => Ok(num_bytes),
        Err(EncryptError::InsufficientSize(e)) => {
            Err(WriteError::InsufficientSize(e.required_size))
        }
        Err(EncryptError::EncryptExhausted) => Err(WriteError::Failed(Error::EncryptExhausted)),
    })
}
