//! Driving rustls's state machine: the whole connection with
//! [`RecordLayer::Rustls`], and the handshake before the in-place record
//! layer takes over. Encodes everything rustls wants to send straight into
//! the caller's `OutgoingTls`, flushes the fatal alert rustls queues on an
//! error, and shows rustls one record at a time until the switch.

use alloc::boxed::Box;
use log::{debug, trace};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncryptError, UnbufferedStatus, WriteTraffic,
};

use super::{framing, Layer, LlConnection, Side, SideKernel};
use crate::buffer::{IncomingTls, OutgoingTls};
use crate::buffer::{Storage, WriteError};
use crate::checked;
use crate::error::Error;
use crate::record::{Handover, InPlace, RecordLayer};
use crate::verify::{self, Deferred};

/// Where one run of the state machine stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    AppData,
    EarlyData,
    /// `TransmitTlsData`, when the caller of `run` wants to act on it.
    Transmit,
    WriteTraffic,
    /// The handshake is over and lltls's in-place record layer took over.
    Switched,
    Blocked,
    Closed,
    /// Deferred mode: the verifier recorded the peer's chain.
    Verify,
}

impl<C: Side> LlConnection<C> {
    /// How much of `IncomingTls` rustls may see: `None` once the in-place
    /// layer took over, else `Some(shown)`.
    ///
    /// rustls is shown one record at a time, each after its header passed
    /// the framing checks (`framing.rs`). It processes every complete record
    /// it is given before it returns: given the records that follow the
    /// handshake it would also handle post-handshake messages itself, and a
    /// KeyUpdate answer it queued would be lost at the switch
    /// (`dangerous_into_kernel_connection` only checks for encoded output).
    /// So the switch happens as soon as it has processed the record that
    /// completed the handshake.
    pub(super) fn feed(&self) -> Option<usize> {
        match &self.conn {
            Layer::Rustls(_) => Some(self.shown),
            Layer::InPlace(_) | Layer::Gone => None,
        }
    }

    /// The version rustls negotiated, while it runs the connection.
    fn rustls_version(&self) -> Option<rustls::ProtocolVersion> {
        match &self.conn {
            Layer::Rustls(conn) => conn.protocol_version(),
            Layer::InPlace(_) | Layer::Gone => None,
        }
    }

    /// Ends the connection over a framing violation, with the RFC's alert
    /// in the clear if this side still sends in the clear.
    fn refuse<O: Storage>(
        &mut self,
        (error, alert): framing::Violation,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Error {
        debug!("TLS error: {error}; peer broke the record framing");
        let alert_sent = match self.send_plaintext_alert(alert, outgoing_tls) {
            Some(alert) => Some(alert),
            None => self.send_sealed_alert(alert, outgoing_tls),
        };
        let error = Error::Tls { error, alert_sent };
        self.failed = Some(error.clone());
        error
    }

    /// Writes `alert` as a plaintext record if this side still sends in the
    /// clear; returns it if it went out.
    fn send_plaintext_alert<O: Storage>(
        &mut self,
        alert: rustls::AlertDescription,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Option<rustls::AlertDescription> {
        let version = self.rustls_version();
        let record = self.framing.plaintext_alert(alert, version)?;
        outgoing_tls.write_bytes(&record).ok().map(|()| alert)
    }

    /// Seals `alert` with a TLS 1.3 server's current sending key, while
    /// rustls is in its handshake (it changes that key no more until the
    /// handshake is over) and the key is known (`checked::SealingKeyLog`);
    /// returns it if it went out. Nothing of rustls's is sent after it: the
    /// connection ends with it.
    fn send_sealed_alert<O: Storage>(
        &mut self,
        alert: rustls::AlertDescription,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Option<rustls::AlertDescription> {
        let Layer::Rustls(conn) = &self.conn else {
            return None;
        };
        let Some(rustls::SupportedCipherSuite::Tls13(suite)) = conn.negotiated_cipher_suite()
        else {
            return None;
        };
        if !conn.is_handshaking() {
            return None;
        }
        let record = self.alert_key.seal(suite, alert)?;
        outgoing_tls.write_bytes(&record).ok()?;
        debug!("sealed the fatal alert {alert:?} with the server's traffic key");
        Some(alert)
    }

    /// Gives rustls's connection up for lltls's record layer, if the
    /// connection asked for it and rustls allows it now (handshake complete,
    /// nothing left to send).
    pub(super) fn switch_if_wanted(&mut self) -> Result<bool, Error> {
        let Layer::Rustls(conn) = &self.conn else {
            return Ok(false);
        };
        if self.record_layer != RecordLayer::InPlace || conn.is_handshaking() || conn.wants_write()
        {
            return Ok(false);
        }
        // rustls discarded every record it processed; what follows is raw
        // records for the in-place layer.
        debug_assert_eq!(self.shown, 0, "rustls holds no bytes at the switch");
        self.info = Some(self.handshake_info());
        let Layer::Rustls(conn) = core::mem::replace(&mut self.conn, Layer::Gone) else {
            unreachable!("checked above")
        };
        let layer = conn.into_kernel().and_then(|(secrets, kernel)| {
            InPlace::new(
                SideKernel(kernel, self.deferred.clone()),
                secrets,
                self.max_fragment,
                Handover {
                    peer_closed: self.peer_closed,
                    close_notify_sent: self.close_notify_sent,
                    warning_alerts: self.framing.alerts_shown(),
                },
            )
        });
        match layer {
            Ok(mut layer) => {
                if let Some(records) = self.key_limit {
                    layer.set_key_limit(records);
                }
                let (tx, rx) = layer.sequence_numbers();
                debug!("in-place record layer takes over at send seq {tx}, receive seq {rx}");
                self.conn = Layer::InPlace(Box::new(layer));
                Ok(true)
            }
            Err(error) => {
                let error = Error::tls(error);
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    /// Runs the state machine until it stops at something the caller must
    /// act on, encoding handshake messages along the way.
    ///
    /// With `stop_at_transmit` it stops at `TransmitTlsData` without calling
    /// `done()`, so that data can be encrypted into the same flight.
    pub(super) fn run<I: Storage, O: Storage>(
        &mut self,
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
        stop_at_transmit: bool,
    ) -> Result<Stop, Error> {
        self.check_failed()?;
        loop {
            let feed = self.feed();
            let encoded_from = outgoing_tls.len();
            let Layer::Rustls(conn) = &mut self.conn else {
                // Callers check first; a switch ends the loop below.
                return Ok(Stop::Switched);
            };
            let _armed = verify::arm(&self.deferred);
            // What a checked wrapper left outside this call (a config used
            // elsewhere on this thread) is not this call's.
            checked::clear();
            let UnbufferedStatus { discard, state } =
                conn.process_tls_records(rustls_input(feed, incoming_tls));
            let step = match state {
                Err(error) => Err(error),
                Ok(ConnectionState::EncodeTlsData(mut encoder)) => {
                    match outgoing_tls.write_with(|buf| encode_result(encoder.encode(buf))) {
                        Ok(num_bytes) if self.close_notify_sent => {
                            // Nothing follows our close_notify. rustls's
                            // record layer may still queue something (a TLS
                            // 1.2 renegotiation refusal): encoded, so rustls
                            // moves on, and taken back.
                            outgoing_tls.unwrite(num_bytes);
                            debug!("dropped {num_bytes}B rustls encoded after our close_notify");
                            Ok(None)
                        }
                        Ok(num_bytes) => {
                            trace!("encoded {num_bytes}B");
                            Ok(None)
                        }
                        Err(error) => {
                            // Dropping the encoder loses the message: the
                            // connection cannot go on.
                            drop(encoder);
                            self.shown = self.shown.saturating_sub(discard);
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
            self.shown = self.shown.saturating_sub(discard);
            incoming_tls.discard(discard);
            if outgoing_tls.len() > encoded_from {
                let version = self.rustls_version();
                self.framing
                    .note_sent(&outgoing_tls.filled()[encoded_from..], version);
            }
            // A client's rustls logs the server's secret too (when its
            // handshake ends, so it would never be used): only a server
            // seals with it.
            if !C::IS_CLIENT {
                self.alert_key.take_logged();
            }
            let drained = matches!(&self.conn, Layer::Rustls(conn) if !conn.wants_write());
            self.alert_key
                .note_sent(&outgoing_tls.filled()[encoded_from..], drained);
            // The caller may start verifying while the handshake goes on.
            if step.is_ok() && self.deferred.as_ref().is_some_and(Deferred::presented) {
                return Ok(Stop::Verify);
            }
            match step {
                // rustls processed everything it was shown and has nothing
                // to say: the moment to take over, or to show it one more
                // record.
                Ok(Some(stop @ (Stop::WriteTraffic | Stop::Blocked))) if feed.is_some() => {
                    if self.switch_if_wanted()? {
                        return Ok(Stop::Switched);
                    }
                    let filled = incoming_tls.filled();
                    // The record shown is still partial, or none follows.
                    match next_record_end(filled, self.shown) {
                        Some(end) if self.shown <= filled.len() => {
                            let version = self.rustls_version();
                            let record = &filled[self.shown..];
                            if self.alert_key.ready() {
                                if let Some(violation) = self
                                    .framing
                                    .cleartext_handshake_after_key_change(record, version)
                                {
                                    return Err(self.refuse(violation, outgoing_tls));
                                }
                            }
                            if let Err(violation) = self.framing.check(record, version) {
                                // When lltls cannot send the alert in the
                                // clear, a record rustls refuses too is left
                                // to rustls: it seals its own alert.
                                if self.framing.sends_in_clear(version)
                                    || !framing::rustls_refuses(record, version)
                                {
                                    return Err(self.refuse(violation, outgoing_tls));
                                }
                            }
                            if self.framing.awaits_first_type(record) {
                                // Checked again once the byte arrives.
                                return Ok(stop);
                            }
                            self.shown = end;
                        }
                        _ => return Ok(stop),
                    }
                }
                Ok(Some(stop)) => return Ok(stop),
                Ok(None) => continue,
                Err(error) => {
                    // rustls consumes a record it opened before a message in
                    // it fails; one that fails to open stays.
                    let opened = feed.is_some_and(|shown| shown > 0 && self.shown == 0);
                    return Err(self.fail(error, opened, incoming_tls, outgoing_tls));
                }
            }
        }
    }

    /// Records a rustls error and flushes the fatal alert rustls queued for it.
    ///
    /// rustls only hands out that alert if it is called again: the next calls
    /// return `EncodeTlsData` with it. They return the error again once it is
    /// out.
    pub(super) fn fail<I: Storage, O: Storage>(
        &mut self,
        error: rustls::Error,
        opened: bool,
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Error {
        debug!("TLS error: {error}");
        // Left by a checked wrapper during the call that failed.
        let note = checked::take_note();
        let tls13 = self.rustls_version() == Some(rustls::ProtocolVersion::TLSv1_3);
        // rustls is shown one record at a time and hands out what a record
        // made it queue before it reads the next: whatever it wants to send
        // now is its answer to the record that failed.
        let answers = matches!(&self.conn, Layer::Rustls(conn) if conn.wants_write());
        let mut answer_alert = None;
        // Nothing is sent after the peer's error alert, nor after our own
        // close_notify (rustls's record layer takes that for a fatal alert,
        // rustls/rustls#959, and in release builds seals another).
        let mut silent = self.close_notify_sent;
        if let rustls::Error::AlertReceived(alert) = &error {
            // rustls answers a received alert only when it is not one it
            // takes as the peer's last word: an unknown level
            // (illegal_parameter) or, in TLS 1.3, a warning (decode_error).
            // TLS 1.3 (§6) ignores the level: every alert but the closure
            // alerts is an error alert, after which nothing is sent.
            if tls13 || !answers {
                // A TLS 1.3 client's change_cipher_spec after the
                // ServerHello, say, is dropped.
                super::send_nothing_after(*alert, outgoing_tls);
                silent = true;
            }
            answer_alert = Some(rustls::AlertDescription::IllegalParameter);
        }
        if silent {
            let error = Error::Tls {
                error,
                alert_sent: None,
            };
            self.failed = Some(error.clone());
            return error;
        }
        let missing_alert = framing::rfc_alert_for(&error);
        let rustls_error = error.clone();
        // rustls answers a record that fails to open with bad_record_mac,
        // and a Finished or signature that fails to verify, in a record it
        // opened, with decrypt_error. "Opened" is read off its discard, which
        // covers the record only if the message that failed was its last:
        // a Finished with more handshake bytes behind it in its record is
        // taken for a record that failed to open, when the alert is sealed
        // (in the clear, the alert itself is read below).
        let decrypt_alert = (error == rustls::Error::DecryptError && opened)
            .then_some(rustls::AlertDescription::DecryptError);
        let mut error = Error::tls(error);
        if let Error::Tls { alert_sent, .. } = &mut error {
            if let Some(alert) = answer_alert.or(decrypt_alert) {
                *alert_sent = Some(alert);
            }
        }
        let before = outgoing_tls.len();
        // Call again only while rustls holds messages to send: with nothing
        // queued it would parse the offending record once more.
        let feed = self.feed();
        while let Layer::Rustls(conn) = &mut self.conn {
            if !conn.wants_write() {
                break;
            }
            let _armed = verify::arm(&self.deferred);
            let UnbufferedStatus { discard, state } =
                conn.process_tls_records(rustls_input(feed, incoming_tls));
            let encoded = match state {
                Ok(ConnectionState::EncodeTlsData(mut encoder)) => outgoing_tls
                    .write_with(|buf| encode_result(encoder.encode(buf)))
                    .is_ok(),
                _ => false,
            };
            self.shown = self.shown.saturating_sub(discard);
            incoming_tls.discard(discard);
            if !encoded {
                break;
            }
        }
        if let [21, 3, _, 0, 2, 2, description] = outgoing_tls.filled()[before..] {
            // rustls's alert went out in the clear: it says which it is,
            // whatever the error's type suggests; lltls reads the whole
            // record and may correct it.
            let mut alert = rustls::AlertDescription::from(description);
            if let Some(corrected) = framing::corrected_alert(&rustls_error, alert, note) {
                if replace_last_byte(outgoing_tls, u8::from(corrected)) {
                    debug!("rustls's plaintext {alert:?} corrected to {corrected:?}");
                    alert = corrected;
                }
            }
            if let Error::Tls {
                alert_sent,
                error: tls_error,
            } = &mut error
            {
                *alert_sent = Some(alert);
                if alert == rustls::AlertDescription::HandshakeFailure
                    && note == Some(checked::Note::NoUsableScheme)
                {
                    // rustls reports the resolver's refusal as "no server
                    // certificate chain resolved"; this is why it refused.
                    *tls_error = rustls::PeerIncompatible::NoSignatureSchemesInCommon.into();
                }
            }
        }
        if outgoing_tls.len() == before {
            // rustls sent nothing: either nothing was due (the peer's own
            // fatal alert ended it), or rustls ends some violations without
            // the alert the RFC requires, which goes out here if it can.
            // In the clear if this side still sends so, else sealed when
            // the key is known (`checked::SealingKeyLog`).
            let sent = missing_alert.and_then(|alert| {
                match self.send_plaintext_alert(alert, outgoing_tls) {
                    Some(alert) => Some(alert),
                    None => self.send_sealed_alert(alert, outgoing_tls),
                }
            });
            if let Some(alert) = sent {
                debug!("sent the fatal alert rustls did not: {alert:?}");
            }
            if let Error::Tls { alert_sent, .. } = &mut error {
                *alert_sent = sent;
            }
        }
        self.failed = Some(error.clone());
        error
    }

    /// Brings rustls's state machine to a point where it may encrypt, and
    /// calls `write` with its `WriteTraffic` there.
    pub(super) fn with_write_traffic<R, I: Storage, O: Storage>(
        &mut self,
        incoming_tls: &mut IncomingTls<I>,
        outgoing_tls: &mut OutgoingTls<O>,
        write: impl FnOnce(WriteTraffic<'_, C::Data>, &mut OutgoingTls<O>) -> Result<R, Error>,
    ) -> Result<Written<R>, Error> {
        match self.run(incoming_tls, outgoing_tls, true)? {
            Stop::WriteTraffic | Stop::Transmit => {}
            Stop::Switched => return Ok(Written::Switched),
            _ => return Ok(Written::NotNow),
        }
        let feed = self.feed();
        let Layer::Rustls(conn) = &mut self.conn else {
            return Ok(Written::Switched);
        };
        // Same state as `run` stopped at: nothing changed in between.
        let _armed = verify::arm(&self.deferred);
        let UnbufferedStatus { state, .. } =
            conn.process_tls_records(rustls_input(feed, incoming_tls));
        let result = match state {
            Ok(ConnectionState::WriteTraffic(traffic)) => {
                write(traffic, outgoing_tls).map(Written::Done)
            }
            Ok(ConnectionState::TransmitTlsData(mut transmit)) => {
                match transmit.may_encrypt_app_data() {
                    Some(traffic) => write(traffic, outgoing_tls).map(Written::Done),
                    None => Ok(Written::NotNow),
                }
            }
            Err(error) => Err(Error::tls(error)),
            Ok(_) => Ok(Written::NotNow),
        };
        self.note_failure(result)
    }
}

/// What [`LlConnection::with_write_traffic`] did.
pub(super) enum Written<R> {
    /// rustls wrote, with this result.
    Done(R),
    /// rustls may not write now.
    NotNow,
    /// The in-place record layer took over: write with it instead.
    Switched,
}

/// The part of `incoming_tls` rustls may see (see [`LlConnection::feed`]).
pub(super) fn rustls_input<I: Storage>(
    feed: Option<usize>,
    incoming_tls: &mut IncomingTls<I>,
) -> &mut [u8] {
    let filled = incoming_tls.filled_mut();
    match feed {
        Some(shown) => {
            let end = shown.min(filled.len());
            &mut filled[..end]
        }
        None => filled,
    }
}

/// Where the record starting at `start` in `filled` ends, once its header
/// arrived (the end may lie beyond what arrived so far: rustls checks the
/// header before the rest comes).
fn next_record_end(filled: &[u8], start: usize) -> Option<usize> {
    let header = filled.get(start..start + 5)?;
    Some(start + 5 + usize::from(u16::from_be_bytes([header[3], header[4]])))
}

/// Replaces the last byte written to `outgoing_tls` (the description of
/// the plaintext alert just written). `false` if it could not be written
/// back, which leaves the record one byte short: not reachable, as the
/// byte's own room is reused.
fn replace_last_byte<O: Storage>(outgoing_tls: &mut OutgoingTls<O>, byte: u8) -> bool {
    outgoing_tls.unwrite(1);
    outgoing_tls.write_bytes(&[byte]).is_ok()
}

fn encode_result(result: Result<usize, EncodeError>) -> Result<usize, WriteError> {
    match result {
        Ok(num_bytes) => Ok(num_bytes),
        Err(EncodeError::InsufficientSize(e)) => Err(WriteError::InsufficientSize(e.required_size)),
        // The driver encodes each `EncodeTlsData` once.
        Err(EncodeError::AlreadyEncoded) => Ok(0),
    }
}

pub(super) fn write_encrypted<O: Storage>(
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
