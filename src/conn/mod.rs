//! The one driver behind [`LlClientConnection`] and [`LlServerConnection`].
//!
//! It advances rustls's `ConnectionState` machine as far as it can on the
//! bytes the caller has, encoding everything rustls wants to send straight
//! into the caller's `OutgoingTls`, and stops only at something the caller
//! must act on.

use alloc::boxed::Box;
mod client;
mod server;

pub use client::{ClientPump, ClientReceiveHalf, ClientSendHalf, LlClientConnection};
pub use server::{LlServerConnection, ServerPump, ServerReceiveHalf, ServerSendHalf};

mod framing;
mod pump;
mod room;
mod rustls_phase;
mod split;
#[cfg(test)]
mod tests;

use rustls_phase::{rustls_input, write_encrypted, Stop, Written};

pub use pump::{Next, Pump};
pub use room::{RecordRoom, Rooms};
pub use split::{ReceiveHalf, ReceiveStatus, SendHalf, SendRoom};

use core::ops::DerefMut;

use log::{debug, trace};
use rustls::kernel::KernelConnection;
use rustls::unbuffered::{
    ConnectionState, ReadEarlyData, ReadTraffic, UnbufferedConnectionCommon, UnbufferedStatus,
};
use rustls::{ConnectionTrafficSecrets, ExtractedSecrets, HandshakeKind};

use crate::buffer::Storage;
use crate::buffer::{IncomingTls, OutgoingTls};
use crate::buffer::{HANDSHAKE_READ_SIZE, MAX_HANDSHAKE_BUFFER, MAX_RECORD_SIZE};
use crate::error::Error;
use crate::record::{self, Event, InPlace, Kernel, RecordLayer};
use crate::status::{AppData, EarlyDataOutcome, HandshakeInfo, Status};
use crate::verify::{self, Deferred};

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

    #[doc(hidden)]
    const IS_CLIENT: bool;

    #[doc(hidden)]
    fn into_kernel(self)
        -> Result<(ExtractedSecrets, KernelConnection<Self::Data>), rustls::Error>;

    #[doc(hidden)]
    fn handle_new_session_ticket(
        kernel: &mut KernelConnection<Self::Data>,
        body: &[u8],
    ) -> Option<Result<(), rustls::Error>>;
}

/// rustls's kernel connection of one side, as the record layer sees it, with
/// the connection's deferred verification (a ticket may be stored).
struct SideKernel<C: Side>(KernelConnection<C::Data>, Option<Deferred>);

impl<C: Side> Kernel for SideKernel<C> {
    const IS_CLIENT: bool = C::IS_CLIENT;

    fn update_tx_secret(&mut self) -> Result<ConnectionTrafficSecrets, rustls::Error> {
        // After an update the sequence number is always 0 (RFC 8446 §5.3).
        self.0.update_tx_secret().map(|(_, secrets)| secrets)
    }

    fn update_rx_secret(&mut self) -> Result<ConnectionTrafficSecrets, rustls::Error> {
        self.0.update_rx_secret().map(|(_, secrets)| secrets)
    }

    fn handle_new_session_ticket(&mut self, body: &[u8]) -> Option<Result<(), rustls::Error>> {
        let _armed = verify::arm(&self.1);
        C::handle_new_session_ticket(&mut self.0, body)
    }

    fn suite(&self) -> rustls::SupportedCipherSuite {
        self.0.negotiated_cipher_suite()
    }

    fn version(&self) -> rustls::ProtocolVersion {
        self.0.protocol_version()
    }
}

/// Who protects records: rustls (always during the handshake), or lltls's
/// in-place layer after the switch.
enum Layer<C: Side> {
    /// Boxed: rustls's connection is large, and an idle switched connection
    /// should not keep its size.
    Rustls(Box<C>),
    InPlace(Box<InPlace<SideKernel<C>>>),
    /// rustls's connection was consumed by a switch that failed; the
    /// connection has failed too.
    Gone,
}

mod sealed {
    pub trait Sealed {}
}

/// The shared connection driver. Use it through [`LlClientConnection`] or
/// [`LlServerConnection`].
pub struct LlConnection<C: Side> {
    conn: Layer<C>,
    /// The record layer asked for after the handshake.
    record_layer: RecordLayer,
    /// Most plaintext per record (rustls's `max_fragment_size`).
    max_fragment: usize,
    /// A lower limit on records per sending key than the suite's, applied
    /// at the switch.
    key_limit: Option<u64>,
    /// What the handshake negotiated, kept when rustls's connection is
    /// given up at the switch.
    info: Option<HandshakeInfo>,
    /// rustls's record layer took our close_notify (the in-place layer
    /// knows its own).
    close_notify_sent: bool,
    /// What the framing checks know of the protection state.
    framing: framing::Framing,
    /// A TLS 1.3 server's sending key after its flight, to seal an alert
    /// rustls does not send (`checked::SealingKeyLog`).
    alert_key: crate::checked::AlertKey,
    /// Before the switch: the end of the record rustls is being shown, from
    /// the front of `IncomingTls`; it may lie beyond the bytes received so
    /// far (see [`LlConnection::feed`]).
    shown: usize,
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
    /// Deferred mode: the caller verifies the peer's certificate.
    deferred: Option<Deferred>,
}

impl<C: Side> LlConnection<C> {
    fn from_rustls(conn: C, record_layer: RecordLayer, max_fragment_size: Option<usize>) -> Self {
        Self {
            conn: Layer::Rustls(Box::new(conn)),
            record_layer,
            max_fragment: record::max_fragment(max_fragment_size),
            key_limit: None,
            info: None,
            close_notify_sent: false,
            framing: framing::Framing::new(!C::IS_CLIENT),
            alert_key: crate::checked::AlertKey::default(),
            shown: 0,
            handshake_reported: false,
            peer_closed_unreported: false,
            peer_closed: false,
            early_data: EarlyDataOutcome::None,
            early_bytes_received: 0,
            failed: None,
            deferred: None,
        }
    }

    /// Puts the connection in deferred mode (see [`crate::verify`]).
    #[cfg(feature = "std")]
    fn deferred_mode(mut self) -> Self {
        self.deferred = Some(Deferred::default());
        self
    }

    /// Advances the connection on the bytes in `incoming_tls` and tells the
    /// caller what to do next.
    ///
    /// Processed records are discarded from `incoming_tls`; everything rustls
    /// wants to send is appended to `outgoing_tls`. Call it again after each
    /// status has been acted on, until it returns `NeedsMoreTlsData` or
    /// `MustTransmitTlsData`.
    ///
    /// On error, the fatal alert due, if any, is already in `outgoing_tls`:
    /// the caller SHOULD transmit it before closing the transport. When the
    /// peer's own fatal alert ended the connection, `outgoing_tls` is
    /// emptied instead: nothing more may be sent (RFC 8446 §6.2).
    pub fn process<'a, I: Storage, O: Storage>(
        &'a mut self,
        incoming_tls: &'a mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<Status<'a>, Error> {
        // The handshake's room asked for by the previous call was for the
        // read that came before this one.
        incoming_tls.forget_wanted();
        self.check_failed()?;
        if let Some(certificates) = self.deferred.as_ref().and_then(Deferred::take_presented) {
            return Ok(Status::VerifyPeer(certificates));
        }
        if self.peer_closed_unreported {
            self.peer_closed_unreported = false;
            return Ok(Status::PeerClosed);
        }
        if matches!(self.conn, Layer::InPlace(_)) {
            // The switch may have happened in a call that returned something
            // else (PeerClosed, or a call to `encrypt`).
            if let Some(info) = self.report_handshake() {
                return Ok(Status::HandshakeComplete(info));
            }
            return self.process_in_place(incoming_tls, outgoing_tls);
        }
        let stop = self.run(incoming_tls, outgoing_tls, false)?;
        if stop == Stop::Verify {
            if let Some(certificates) = self.deferred.as_ref().and_then(Deferred::take_presented) {
                return Ok(Status::VerifyPeer(certificates));
            }
        }
        if self.peer_closed_unreported {
            self.peer_closed_unreported = false;
            return Ok(Status::PeerClosed);
        }
        if stop != Stop::AppData {
            if let Some(info) = self.report_handshake() {
                return Ok(Status::HandshakeComplete(info));
            }
        }
        match stop {
            Stop::Switched => self.process_in_place(incoming_tls, outgoing_tls),
            Stop::AppData | Stop::EarlyData => {
                let feed = self.feed();
                let Layer::Rustls(conn) = &mut self.conn else {
                    unreachable!("rustls stopped at its own plaintext")
                };
                // rustls returns the same state again: nothing changed since
                // `run` saw it, and it checks pending plaintext before reading
                // any record, so nothing is discarded by this call.
                let _armed = verify::arm(&self.deferred);
                let UnbufferedStatus { state, .. } =
                    conn.process_tls_records(rustls_input(feed, incoming_tls));
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
            Stop::WriteTraffic | Stop::Blocked | Stop::Transmit | Stop::Verify => {
                self.wait_for_input(incoming_tls, outgoing_tls)
            }
        }
    }

    /// The outcome of the handshake, the first time it is complete.
    fn report_handshake(&mut self) -> Option<HandshakeInfo> {
        if self.handshake_reported || self.is_handshaking() || self.withholds() {
            return None;
        }
        self.handshake_reported = true;
        let mut info = self.handshake_info();
        if let Some(kept) = &mut self.info {
            // The certificates go out with this status; rustls's kernel
            // connection keeps its own copy (for session tickets), and a
            // second one here would cost an idle client about 1.5 KB.
            info.peer_certificates = kept.peer_certificates.take();
        }
        debug!(
            "handshake complete: {:?} {:?}",
            info.protocol_version,
            info.cipher_suite.map(|s| s.suite())
        );
        Some(info)
    }

    /// `process` after the switch: lltls's record layer reads the records.
    fn process_in_place<'a, I: Storage, O: Storage>(
        &'a mut self,
        incoming_tls: &'a mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<Status<'a>, Error> {
        let Layer::InPlace(layer) = &mut self.conn else {
            unreachable!("called after the switch")
        };
        if let Some(deferred) = &self.deferred {
            if let Some(rejection) = deferred.take_rejection() {
                let alert = verify::rejection_alert(&rejection);
                let error = layer.send_fatal_alert(rejection, alert, outgoing_tls);
                self.failed = Some(error.clone());
                return Err(error);
            }
            if deferred.withholds() {
                // Records received stay unopened in `incoming_tls` until the
                // verdict; the caller stops reading (`wants_read`). What is
                // in flight still fits: the room of any connection past its
                // handshake (the handshake's may be smaller). Best effort:
                // nothing is read until the verdict anyway.
                let _ = incoming_tls.reserve(MAX_RECORD_SIZE);
                return Ok(if outgoing_tls.is_empty() {
                    Status::AwaitingVerdict
                } else {
                    Status::MustTransmitTlsData
                });
            }
        }
        // Records handed out or handled by the previous pass are done with.
        incoming_tls.discard(layer.receiver.take_consumed());
        let event = match layer.advance(incoming_tls.filled_mut(), outgoing_tls) {
            Ok(event) => event,
            Err(error) => {
                self.failed = Some(error.clone());
                return Err(error);
            }
        };
        let close_notify_sent = layer.close_notify_sent();
        incoming_tls.discard(layer.receiver.take_consumed());
        match event {
            Event::AppData => {
                let Layer::InPlace(layer) = &mut self.conn else {
                    unreachable!("called after the switch")
                };
                Ok(Status::AppDataAvailable(AppData::in_place(
                    &mut layer.receiver,
                    incoming_tls.filled_mut(),
                )))
            }
            Event::PeerClosed => {
                self.peer_closed = true;
                Ok(Status::PeerClosed)
            }
            Event::Blocked if self.peer_closed && close_notify_sent => Ok(Status::Closed),
            Event::Blocked => self.wait_for_input(incoming_tls, outgoing_tls),
        }
    }

    /// Makes room for the next read and says whether to transmit first.
    fn wait_for_input<'a, I: Storage, O: Storage>(
        &mut self,
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &OutgoingTls<O>,
    ) -> Result<Status<'a>, Error> {
        let reserved = match self.feed() {
            // rustls is shown the record being received, which ends at
            // `shown`: room for its rest, and a stalled peer costs no more.
            Some(shown) if self.is_handshaking() => {
                let room = match shown.saturating_sub(incoming_tls.filled().len()) {
                    0 => HANDSHAKE_READ_SIZE,
                    rest => rest,
                };
                incoming_tls.reserve_exact(MAX_HANDSHAKE_BUFFER, room)
            }
            _ => room_for_records(incoming_tls),
        };
        if let Err(error) = reserved {
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

    /// Encrypts up to [`MAX_ENCRYPT_CHUNK`] bytes of `app_data` into
    /// `outgoing_tls` and returns how many it took.
    ///
    /// Returns `Ok(0)` while rustls may not encrypt application data yet: the
    /// plaintext stays with the caller, who offers it again after the next
    /// `process` (the client may send from the moment its Finished is
    /// encoded, the server from the moment it sent its own Finished). It also
    /// returns `Ok(0)` after `close_notify` was sent and, with rustls's record
    /// layer, while received plaintext waits to be taken out with `process`.
    ///
    /// After the handshake, with the in-place record layer, each record is
    /// sealed where it will be transmitted: the plaintext is copied once,
    /// from `app_data` into `outgoing_tls`. [`record_room`](Self::record_room)
    /// avoids even that copy.
    ///
    /// Why it takes `incoming_tls`: rustls 0.23 lets a connection encrypt
    /// only through the state `process_tls_records` returns for the bytes
    /// received, so during the handshake and with rustls's record layer it
    /// must be shown them. The halves of [`into_split`](Self::into_split)
    /// send without it.
    #[must_use = "it says how much of the plaintext was taken"]
    pub fn encrypt<I: Storage, O: Storage>(
        &mut self,
        app_data: &[u8],
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<usize, Error> {
        if app_data.is_empty() {
            return Ok(0);
        }
        self.check_failed()?;
        if self.sending_held() {
            return Ok(0);
        }
        let chunk = &app_data[..app_data.len().min(MAX_ENCRYPT_CHUNK)];
        if !matches!(self.conn, Layer::InPlace(_)) {
            let written =
                self.with_write_traffic(incoming_tls, outgoing_tls, |mut traffic, outgoing| {
                    write_encrypted(outgoing, |buf| traffic.encrypt(chunk, buf))
                })?;
            match written {
                Written::Done(num_bytes) => {
                    trace!("encrypted {}B into {num_bytes}B", chunk.len());
                    return Ok(chunk.len());
                }
                Written::NotNow => return Ok(0),
                Written::Switched => {}
            }
        }
        let result = self.in_place()?.encrypt(chunk, outgoing_tls);
        self.note_failure(result)
    }

    /// Sends the application data received straight back to the peer (an
    /// echo) and returns how many plaintext bytes that was.
    ///
    /// With the in-place record layer each record is opened where it lies
    /// in `incoming_tls`, and its plaintext is copied once, into the body
    /// of the next record in `outgoing_tls`, and sealed there: one copy
    /// where `process` then `encrypt` take two (into the caller's buffer,
    /// and out of it). It stops at the first record that is not
    /// application data, which `process` handles next.
    ///
    /// Returns `Ok(0)`, taking nothing, where it cannot do that: with
    /// rustls's record layer (rustls lends received plaintext only while
    /// it may not encrypt), during the handshake, while a verdict on the
    /// peer's certificate waits, and after `close_notify` was sent. Use
    /// `process` and `encrypt` then.
    pub fn echo_app_data<I: Storage, O: Storage>(
        &mut self,
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<usize, Error> {
        self.check_failed()?;
        if self.sending_held() {
            return Ok(0);
        }
        let Layer::InPlace(layer) = &mut self.conn else {
            return Ok(0);
        };
        // Records handed out or handled before are done with.
        incoming_tls.discard(layer.receiver.take_consumed());
        let echoed = layer.echo(incoming_tls.filled_mut(), outgoing_tls);
        incoming_tls.discard(layer.receiver.take_consumed());
        if let Ok(num_bytes @ 1..) = echoed {
            trace!("echoed {num_bytes}B");
        }
        self.note_failure(echoed)
    }

    /// Queues a `close_notify` alert in `outgoing_tls`.
    ///
    /// Returns `Ok(false)` while the handshake is in progress (rustls can only
    /// send it once it may send application data) or, with rustls's record
    /// layer, while received plaintext waits: call again after the next
    /// `process`. Plaintext encrypted before it is sent before it.
    pub fn queue_close_notify<I: Storage, O: Storage>(
        &mut self,
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<bool, Error> {
        self.check_failed()?;
        // rustls would send it during the handshake already (a TLS 1.3 server
        // may send after its first flight), but the handshake's own remaining
        // messages, such as session tickets, would then never be sent.
        if self.close_notify_sent() {
            return Ok(true);
        }
        if self.is_handshaking() || self.withholds() {
            return Ok(false);
        }
        if !matches!(self.conn, Layer::InPlace(_)) {
            let queued =
                self.with_write_traffic(incoming_tls, outgoing_tls, |mut traffic, outgoing| {
                    write_encrypted(outgoing, |buf| traffic.queue_close_notify(buf))
                })?;
            match queued {
                Written::Done(_) => {
                    self.close_notify_sent = true;
                    return Ok(true);
                }
                Written::NotNow => return Ok(false),
                Written::Switched => {}
            }
        }
        let result = self.in_place()?.queue_close_notify(outgoing_tls);
        self.note_failure(result).map(|()| true)
    }

    /// Sends a TLS 1.3 KeyUpdate and switches to new sending keys, asking the
    /// peer to do the same. Returns `Ok(false)` when not possible now (as
    /// `queue_close_notify`), and always in TLS 1.2, which has no KeyUpdate.
    pub fn refresh_traffic_keys<I: Storage, O: Storage>(
        &mut self,
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<bool, Error> {
        self.check_failed()?;
        if self.sending_held() || self.version() == Some(rustls::ProtocolVersion::TLSv1_2) {
            return Ok(false);
        }
        if !matches!(self.conn, Layer::InPlace(_)) {
            let refreshed = self.with_write_traffic(incoming_tls, outgoing_tls, |traffic, _| {
                traffic.refresh_traffic_keys().map_err(Error::tls)
            })?;
            match refreshed {
                Written::Done(()) => {
                    // The KeyUpdate message is queued inside rustls; encode it
                    // now so it precedes any data encrypted with the new keys.
                    self.run(incoming_tls, outgoing_tls, true)?;
                    return Ok(true);
                }
                Written::NotNow => return Ok(false),
                Written::Switched => {}
            }
        }
        let result = self.in_place()?.refresh_traffic_keys(outgoing_tls);
        self.note_failure(result)
    }

    /// Room for the plaintext of the next application-data record, inside
    /// `outgoing_tls`: the caller writes into [`RecordRoom::buf`] (for
    /// instance straight from a `read(2)`), then [`RecordRoom::seal`] seals
    /// it where it lies. With the in-place record layer no byte of plaintext
    /// is copied in user space.
    ///
    /// `None` when nothing may be sent now (as `encrypt` returning 0). With
    /// rustls's record layer the room works the same, but rustls copies the
    /// plaintext into the record it builds.
    pub fn record_room<'a, I: Storage, O: Storage>(
        &'a mut self,
        incoming_tls: &'a mut IncomingTls<I>,
        outgoing_tls: &'a mut OutgoingTls<O>,
    ) -> Result<Option<RecordRoom<'a, C, I, O>>, Error> {
        RecordRoom::new(self, incoming_tls, outgoing_tls, 1)
    }

    /// As [`record_room`](Self::record_room), with room for up to `records`
    /// consecutive records at once, laid out as they will be sealed: filled
    /// with one vectored read ([`RecordRoom::rooms`]), they cost one system
    /// call instead of one per record. The records are the ones the same
    /// plaintext would make one room at a time.
    ///
    /// Fewer rooms than asked when the keys allow fewer records before a
    /// KeyUpdate must go out, when `outgoing_tls`'s storage cannot grow to
    /// hold them all, and past 64; always one with rustls's record layer.
    pub fn record_rooms<'a, I: Storage, O: Storage>(
        &'a mut self,
        incoming_tls: &'a mut IncomingTls<I>,
        outgoing_tls: &'a mut OutgoingTls<O>,
        records: usize,
    ) -> Result<Option<RecordRoom<'a, C, I, O>>, Error> {
        RecordRoom::new(self, incoming_tls, outgoing_tls, records)
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
            handshaking: self.is_handshaking(),
        };
        self.failed = Some(error.clone());
        Err(error)
    }

    /// The protocol version, once negotiated.
    fn version(&self) -> Option<rustls::ProtocolVersion> {
        match (&self.conn, &self.info) {
            (Layer::Rustls(conn), _) => conn.protocol_version(),
            (_, info) => info.as_ref().and_then(|info| info.protocol_version),
        }
    }

    /// Whether the handshake is still in progress.
    #[must_use]
    pub fn is_handshaking(&self) -> bool {
        match &self.conn {
            Layer::Rustls(conn) => conn.is_handshaking(),
            Layer::InPlace(_) | Layer::Gone => false,
        }
    }

    /// Whether the peer's `close_notify` has been received.
    #[must_use]
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Whether the connection may still receive data, i.e. the caller should
    /// keep reading the transport.
    #[must_use]
    ///
    /// `false` while the connection awaits the caller's verdict on the
    /// peer's certificate after the handshake: records that arrive then
    /// would only be held.
    pub fn wants_read(&self) -> bool {
        self.failed.is_none() && !self.peer_closed && (self.is_handshaking() || !self.withholds())
    }

    /// Deferred mode: whether the peer presented a chain that has no
    /// verdict yet (everything that depends on trust waits).
    #[must_use]
    pub fn awaiting_verdict(&self) -> bool {
        self.withholds()
    }

    /// Whether nothing may be sealed now: our close_notify (or a fatal
    /// alert) went out, through whichever record layer, or the peer awaits
    /// its verdict. Every sending input checks it first, before rustls's
    /// record layer, which itself encrypts after its close_notify.
    fn sending_held(&self) -> bool {
        self.close_notify_sent() || self.withholds()
    }

    /// Deferred mode: whether everything that depends on trust in the peer
    /// waits, because a certificate chain was presented and not accepted.
    fn withholds(&self) -> bool {
        self.deferred.as_ref().is_some_and(Deferred::withholds)
    }

    /// Deferred mode: the caller's verdict on the chain handed out with
    /// [`Status::VerifyPeer`] (see [`crate::verify`]).
    ///
    /// `Ok(())` releases what was held: the `HandshakeComplete` status,
    /// application data both ways, and the sessions the peer gave
    /// (committed to the caller's store). `Err(reason)` drops the sessions;
    /// the next `process` seals the fatal alert rustls would send for
    /// `reason` (unknown_ca for an unknown issuer, certificate_expired,
    /// bad_certificate, ...) into `outgoing_tls` and returns the error.
    /// Call `process` after either.
    ///
    /// Returns [`Error::NoVerdictPending`] when no chain awaits a verdict.
    pub fn peer_verified(&mut self, verdict: Result<(), rustls::Error>) -> Result<(), Error> {
        match &self.deferred {
            Some(deferred) if deferred.settle(verdict) => Ok(()),
            _ => Err(Error::NoVerdictPending),
        }
    }

    /// The error that ended the connection, if one did.
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        self.failed.as_ref()
    }

    /// What the handshake negotiated so far.
    ///
    /// Once the in-place record layer has taken over and
    /// [`Status::HandshakeComplete`] was returned, `peer_certificates` is
    /// `None` here: the chain was handed out with that status, and lltls
    /// keeps no second copy next to the one rustls keeps.
    #[must_use]
    pub fn handshake_info(&self) -> HandshakeInfo {
        let mut info = match (&self.conn, &self.info) {
            (Layer::Rustls(conn), _) => HandshakeInfo {
                protocol_version: conn.protocol_version(),
                cipher_suite: conn.negotiated_cipher_suite(),
                key_exchange: conn.negotiated_key_exchange_group().map(|g| g.name()),
                alpn_protocol: conn.alpn_protocol().map(<[u8]>::to_vec),
                peer_certificates: conn.peer_certificates().map(<[_]>::to_vec),
                resumed: conn.handshake_kind() == Some(HandshakeKind::Resumed),
                early_data: EarlyDataOutcome::None,
            },
            (_, Some(info)) => info.clone(),
            (_, None) => unreachable!("the switch keeps the handshake's outcome"),
        };
        info.early_data = match self.early_bytes_received {
            0 => self.early_data,
            n => EarlyDataOutcome::Accepted(n),
        };
        info
    }

    /// Which record layer protects records now: rustls's during the
    /// handshake (and throughout in [`RecordLayer::Rustls`] mode), lltls's
    /// in-place one after the switch.
    #[must_use]
    pub fn record_layer(&self) -> RecordLayer {
        match self.conn {
            Layer::InPlace(_) => RecordLayer::InPlace,
            Layer::Rustls(_) | Layer::Gone => RecordLayer::Rustls,
        }
    }

    /// Lowers how many records one sending key may protect (at least 2).
    /// At the limit, TLS 1.3 sends a KeyUpdate and uses new keys, TLS 1.2
    /// sends close_notify and `encrypt` fails with
    /// [`Error::EncryptExhausted`]. The default is the suite's
    /// confidentiality limit. Applies to the in-place record layer; rustls's
    /// own keeps its limits.
    pub fn set_key_limit(&mut self, records: u64) {
        self.key_limit = Some(records);
        if let Layer::InPlace(layer) = &mut self.conn {
            layer.set_key_limit(records);
        }
    }

    /// Whether `queue_close_notify` has queued our close_notify (with the
    /// in-place record layer, also a fatal alert sent): nothing more will
    /// be sent.
    #[must_use]
    pub fn close_notify_sent(&self) -> bool {
        match &self.conn {
            Layer::InPlace(layer) => self.close_notify_sent || layer.close_notify_sent(),
            Layer::Rustls(_) | Layer::Gone => self.close_notify_sent,
        }
    }

    /// Sequence numbers of the next record sent and received, once the
    /// in-place record layer runs.
    #[must_use]
    pub fn sequence_numbers(&self) -> Option<(u64, u64)> {
        match &self.conn {
            Layer::InPlace(layer) => Some(layer.sequence_numbers()),
            Layer::Rustls(_) | Layer::Gone => None,
        }
    }

    /// The rustls connection inside, for what lltls does not wrap; `None`
    /// once the in-place record layer took over, and in deferred mode while
    /// the peer's certificate awaits its verdict (see
    /// [`into_rustls`](Self::into_rustls)).
    #[must_use]
    pub fn rustls(&self) -> Option<&C> {
        match &self.conn {
            Layer::Rustls(conn) if !self.withholds() => Some(conn),
            Layer::Rustls(_) | Layer::InPlace(_) | Layer::Gone => None,
        }
    }

    /// Gives back rustls's connection, e.g. to take its secrets for another
    /// record layer (kTLS) with `dangerous_into_kernel_connection`.
    ///
    /// Fails with [`Error::AwaitingVerdict`] in deferred mode while the
    /// peer's certificate awaits its verdict: rustls's handshake took the
    /// chain unverified, and its connection would send and receive data
    /// without asking. Fails with [`Error::RecordLayerSwitched`] once the
    /// in-place record layer took over, and with the connection's error if
    /// that switch failed.
    pub fn into_rustls(self) -> Result<C, Error> {
        if self.withholds() {
            return Err(Error::AwaitingVerdict);
        }
        match self.conn {
            Layer::Rustls(conn) => Ok(*conn),
            Layer::InPlace(_) => Err(Error::RecordLayerSwitched),
            Layer::Gone => Err(self.failed.unwrap_or(Error::RecordLayerSwitched)),
        }
    }

    fn in_place(&mut self) -> Result<&mut InPlace<SideKernel<C>>, Error> {
        match &mut self.conn {
            Layer::InPlace(layer) => Ok(layer),
            // Every caller checked the layer, or `run` just switched.
            Layer::Rustls(_) | Layer::Gone => {
                Err(self.failed.clone().unwrap_or(Error::EncryptExhausted))
            }
        }
    }

    fn note_failure<R>(&mut self, result: Result<R, Error>) -> Result<R, Error> {
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    fn check_failed(&self) -> Result<(), Error> {
        match &self.failed {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }
}

/// Room to read records into after the handshake. An empty buffer reads
/// into the room it has (the handshake's may be less than a record) and
/// grows once a record is partly in: a connection that receives nothing
/// after its handshake never holds a record's room.
fn room_for_records<I: Storage>(incoming_tls: &mut IncomingTls<I>) -> Result<(), Error> {
    if incoming_tls.is_empty() && incoming_tls.capacity() > 0 {
        return Ok(());
    }
    incoming_tls.reserve(MAX_RECORD_SIZE)
}

/// RFC 8446 §6.2: after the peer's fatal `alert` nothing more is sent, not
/// even what was encoded before it arrived and waits to be transmitted.
fn send_nothing_after<O: Storage>(
    alert: rustls::AlertDescription,
    outgoing_tls: &mut OutgoingTls<O>,
) {
    if !outgoing_tls.is_empty() {
        debug!(
            "peer sent {alert:?}: dropping {}B not sent yet",
            outgoing_tls.len()
        );
        outgoing_tls.discard(outgoing_tls.len());
    }
}
