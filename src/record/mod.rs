//! The in-place record layer lltls runs after the handshake.
//!
//! rustls runs the handshake. Once it is complete and rustls has nothing left
//! to send, the driver takes the traffic secrets and sequence numbers out of
//! rustls (`dangerous_into_kernel_connection`) and protects records itself:
//! received records are opened where they lie in the caller's `IncomingTls`
//! and their plaintext is lent from there; records to send are sealed where
//! they will be transmitted, in `OutgoingTls`. No copy into a buffer of
//! lltls's, no allocation per record.
//!
//! rustls keeps what only it can do, through its `KernelConnection`: deriving
//! the next secrets on KeyUpdate and storing session tickets. Everything else
//! after the handshake is here: framing, alerts, KeyUpdate messages, key
//! usage limits (rustls no longer tracks them after the switch), and the
//! refusal of renegotiation.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;
mod cipher;
mod kernel;
mod receive;
mod send;
#[cfg(test)]
mod tests;

pub(crate) use cipher::{
    RecordError, MAX_FRAGMENT_LEN, MAX_TLS12_CIPHERTEXT, MAX_TLS13_CIPHERTEXT,
};
pub(crate) use kernel::Kernel;
pub(crate) use receive::Receiver;

use log::{debug, warn};
use rustls::{
    AlertDescription, ContentType, Error as TlsError, HandshakeType, InvalidMessage,
    PeerMisbehaved, ProtocolVersion, SupportedCipherSuite,
};

use cipher::{Protection, Version, HEADER_LEN};
use receive::unexpected;
use send::Sender;

use crate::buffer::OutgoingTls;
use crate::buffer::Storage;
use crate::error::Error;

/// rustls stops using a key at this sequence number whatever the suite
/// (`SEQ_SOFT_LIMIT` in its record layer); so does lltls.
const SEQ_SOFT_LIMIT: u64 = 0xffff_ffff_ffff_0000;

/// Largest handshake message accepted after the handshake, as rustls.
const MAX_HANDSHAKE_MESSAGE: usize = 0xffff;

/// Warning alerts and renegotiation requests a peer may send before it is
/// cut off, as rustls (after BoringSSL).
const WARNING_ALERTS: u8 = 4;
const RENEGOTIATION_REQUESTS: u8 = 1;

const KEY_UPDATE_NOT_REQUESTED: u8 = 0;
const KEY_UPDATE_REQUESTED: u8 = 1;

/// What a pass over the received records stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    /// Application data is opened and waits for the caller.
    AppData,
    /// The peer's close_notify arrived just now.
    PeerClosed,
    /// Nothing more can be done without more bytes from the peer.
    Blocked,
}

/// Which record layer a connection uses after its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RecordLayer {
    /// lltls seals and opens records in place in the caller's buffers
    /// (needs `enable_secret_extraction` in the rustls config).
    #[default]
    InPlace,
    /// rustls's own record layer throughout: each received record's
    /// plaintext is copied into rustls, each sent record built in rustls and
    /// copied out. Its post-handshake log lines are rustls's own.
    Rustls,
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

/// Most rooms [`InPlace::rooms`] makes at once (1 MiB of plaintext): the
/// buffer holds them all.
pub(crate) const MAX_ROOMS: usize = 64;

/// Where [`InPlace::rooms`] put the rooms of consecutive records.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoomRun {
    /// Offset of the first room in `outgoing_tls.unfilled()`.
    pub(crate) at: usize,
    /// Plaintext one room holds.
    pub(crate) capacity: usize,
    pub(crate) count: usize,
    /// From one room to the next: a full record.
    pub(crate) stride: usize,
}

/// The record layer after the switch, with rustls's kernel connection.
pub(crate) struct InPlace<K> {
    kernel: K,
    version: Version,
    pub(crate) receiver: Receiver,
    sender: Sender,
    /// The peer asked for a KeyUpdate; ours goes out right before our next
    /// record (RFC 8446 §4.6.3: before the next application data), one for
    /// any number of requests meanwhile. rustls answers at the same point,
    /// so the records on the wire are the same in both modes.
    key_update_owed: bool,
    warning_alerts_left: u8,
    renegotiations_left: u8,
}

impl<K: Kernel> InPlace<K> {
    /// Takes over from rustls with its extracted secrets.
    pub(crate) fn new(
        kernel: K,
        secrets: rustls::ExtractedSecrets,
        max_fragment: usize,
        handover: Handover,
    ) -> Result<Self, TlsError> {
        let version = match kernel.version() {
            ProtocolVersion::TLSv1_3 => Version::Tls13,
            ProtocolVersion::TLSv1_2 => Version::Tls12,
            other => {
                return Err(TlsError::General(format!(
                    "in-place record layer does not support {other:?}"
                )))
            }
        };
        let (tx_seq, tx) = secrets.tx;
        let (rx_seq, rx) = secrets.rx;
        let limit = match kernel.suite() {
            SupportedCipherSuite::Tls13(suite) => suite.common.confidentiality_limit,
            SupportedCipherSuite::Tls12(suite) => suite.common.confidentiality_limit,
        };
        Ok(Self {
            version,
            receiver: Receiver::new(
                version,
                Protection::new(version, &rx, rx_seq)?,
                handover.peer_closed,
            ),
            sender: Sender {
                tx: Protection::new(version, &tx, tx_seq)?,
                max_fragment,
                limit: limit.min(SEQ_SOFT_LIMIT),
                closed: handover.close_notify_sent,
            },
            kernel,
            key_update_owed: false,
            // rustls is never shown a post-handshake record (the switch comes
            // first), so renegotiation requests and KeyUpdates start afresh;
            // warnings may arrive during the handshake.
            warning_alerts_left: WARNING_ALERTS.saturating_sub(handover.warning_alerts),
            renegotiations_left: RENEGOTIATION_REQUESTS,
        })
    }

    /// Lowers the number of records one sending key may protect. At the
    /// limit TLS 1.3 updates its keys and TLS 1.2 closes.
    pub(crate) fn set_key_limit(&mut self, records: u64) {
        self.sender.limit = self.sender.limit.min(records.max(2));
    }

    /// Whether close_notify (or a fatal alert) was sent.
    pub(crate) fn close_notify_sent(&self) -> bool {
        self.sender.closed
    }

    /// Sequence numbers of the next record each way: (send, receive).
    pub(crate) fn sequence_numbers(&self) -> (u64, u64) {
        (self.sender.tx.seq(), self.receiver.rx.seq())
    }

    /// Processes received records at the front of `incoming_tls` (the bytes
    /// left after discarding `receiver.take_consumed()`) until one needs the
    /// caller. Post-handshake messages are handled here; what they ask us to
    /// send is sealed into `outgoing_tls`.
    ///
    /// On error the connection is dead; the fatal alert, when one is due and
    /// may be sent, is already sealed into `outgoing_tls`.
    pub(crate) fn advance<O: Storage>(
        &mut self,
        incoming_tls: &mut [u8],
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<Event, Error> {
        let event = match self.receive(incoming_tls, outgoing_tls) {
            Ok(event) => event,
            Err(Failure::Record(error)) => return Err(self.send_fatal(error, outgoing_tls)),
            Err(Failure::Alert(alert)) => {
                debug!("peer sent fatal alert {alert:?}");
                self.sender.closed = true;
                return Err(Error::Tls {
                    error: TlsError::AlertReceived(alert),
                    alert_sent: None,
                });
            }
            Err(Failure::Local(error)) => return Err(error),
        };
        Ok(event)
    }

    fn receive<O: Storage>(
        &mut self,
        incoming_tls: &mut [u8],
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<Event, Failure> {
        loop {
            if self.receiver.peer_closed {
                // RFC 8446 §6.1: data after a closure alert MUST be ignored.
                let rest = incoming_tls.len() - self.receiver.offset();
                if rest > 0 {
                    debug!("ignoring {rest}B after close_notify");
                    self.receiver.consume(rest);
                }
                return Ok(Event::Blocked);
            }
            if self.receiver.has_app_data() {
                return Ok(Event::AppData);
            }
            let Some((len, opened)) = self.receiver.next(incoming_tls)? else {
                return Ok(Event::Blocked);
            };
            let start = self.receiver.offset();
            let plaintext =
                &incoming_tls[start + opened.plaintext.start..start + opened.plaintext.end];
            let pending_fragment = !self.receiver.handshake.is_empty();
            match opened.content_type {
                ContentType::ApplicationData if pending_fragment => {
                    return Err(interleaved().into())
                }
                ContentType::ApplicationData if plaintext.is_empty() => {
                    // Allowed (RFC 8446 §5.1), and there is nothing to deliver.
                    self.receiver.consume(len);
                }
                ContentType::ApplicationData => {
                    self.receiver.stash(len, opened);
                    return Ok(Event::AppData);
                }
                ContentType::Handshake if plaintext.is_empty() => {
                    return Err(empty(ContentType::Handshake).into())
                }
                ContentType::Handshake => {
                    self.handle_handshake(plaintext, outgoing_tls)?;
                    self.receiver.consume(len);
                }
                ContentType::Alert if pending_fragment => return Err(interleaved().into()),
                ContentType::Alert => {
                    let [level, description] = *plaintext else {
                        return Err(match plaintext.len() {
                            0 => empty(ContentType::Alert),
                            // Alerts are never fragmented nor coalesced (§5.1).
                            _ => RecordError::new(
                                InvalidMessage::TrailingData("alert"),
                                AlertDescription::DecodeError,
                            ),
                        }
                        .into());
                    };
                    self.receiver.consume(len);
                    if self.handle_alert(level, AlertDescription::from(description))? {
                        return Ok(Event::PeerClosed);
                    }
                }
                other => return Err(unexpected(other).into()),
            }
        }
    }

    /// Handles the whole handshake messages in what was held back plus this
    /// record's `plaintext`, and holds back a trailing partial one.
    fn handle_handshake<O: Storage>(
        &mut self,
        plaintext: &[u8],
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Failure> {
        if self.receiver.handshake.is_empty() {
            // The usual case: whole messages in one record, read where they
            // lie without a copy.
            let used = self.handle_messages(plaintext, outgoing_tls)?;
            self.hold_back(&plaintext[used..])?;
        } else {
            let mut held = core::mem::take(&mut self.receiver.handshake);
            held.extend_from_slice(plaintext);
            let used = self.handle_messages(&held, outgoing_tls)?;
            held.drain(..used);
            if held.is_empty() {
                // An idle connection keeps no reassembly memory.
                held = Vec::new();
            }
            self.receiver.handshake = held;
        }
        Ok(())
    }

    fn hold_back(&mut self, partial: &[u8]) -> Result<(), Failure> {
        if partial.len() >= 4 {
            let len = u32::from_be_bytes([0, partial[1], partial[2], partial[3]]) as usize;
            if len > MAX_HANDSHAKE_MESSAGE {
                return Err(too_large().into());
            }
        }
        self.receiver.handshake.extend_from_slice(partial);
        Ok(())
    }

    /// Handles each whole message at the front of `messages`; returns how
    /// many bytes they took. The end of `messages` is the end of the record
    /// just received.
    fn handle_messages<O: Storage>(
        &mut self,
        messages: &[u8],
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<usize, Failure> {
        let mut used = 0;
        while let [typ, a, b, c, rest @ ..] = &messages[used..] {
            let len = u32::from_be_bytes([0, *a, *b, *c]) as usize;
            if len > MAX_HANDSHAKE_MESSAGE {
                return Err(too_large().into());
            }
            let Some(body) = rest.get(..len) else { break };
            used += 4 + len;
            let at_record_end = used == messages.len();
            self.handle_message(HandshakeType::from(*typ), body, at_record_end, outgoing_tls)?;
        }
        Ok(used)
    }

    fn handle_message<O: Storage>(
        &mut self,
        typ: HandshakeType,
        body: &[u8],
        at_record_end: bool,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Failure> {
        debug!("received {typ:?} ({}B)", body.len());
        match (self.version, typ) {
            (Version::Tls13, HandshakeType::KeyUpdate) => {
                self.handle_key_update(body, at_record_end)
            }
            (Version::Tls13, HandshakeType::NewSessionTicket) => {
                match self.kernel.handle_new_session_ticket(body) {
                    Some(Ok(())) => Ok(()),
                    Some(Err(error)) => {
                        Err(RecordError::new(error, AlertDescription::DecodeError).into())
                    }
                    // Only servers send tickets.
                    None => Err(unexpected_handshake(typ).into()),
                }
            }
            // TLS 1.2 renegotiation: refused with a warning, as rustls does;
            // a second request ends the connection.
            (Version::Tls12, HandshakeType::HelloRequest) if K::IS_CLIENT => {
                self.refuse_renegotiation(outgoing_tls)
            }
            (Version::Tls12, HandshakeType::ClientHello) if !K::IS_CLIENT => {
                self.refuse_renegotiation(outgoing_tls)
            }
            _ => Err(unexpected_handshake(typ).into()),
        }
    }

    fn handle_key_update(&mut self, body: &[u8], at_record_end: bool) -> Result<(), Failure> {
        let &[request] = body else {
            return Err(RecordError::new(
                InvalidMessage::InvalidKeyUpdate,
                AlertDescription::DecodeError,
            )
            .into());
        };
        // A key change must fall on a record boundary (RFC 8446 §5.1): nothing
        // may follow the KeyUpdate in its record.
        if !at_record_end {
            return Err(RecordError::new(
                PeerMisbehaved::KeyEpochWithPendingFragment,
                AlertDescription::UnexpectedMessage,
            )
            .into());
        }
        if self.receiver.key_updates_left == 0 {
            return Err(RecordError::new(
                PeerMisbehaved::TooManyKeyUpdateRequests,
                AlertDescription::UnexpectedMessage,
            )
            .into());
        }
        self.receiver.key_updates_left -= 1;
        match request {
            KEY_UPDATE_NOT_REQUESTED => {}
            KEY_UPDATE_REQUESTED => self.key_update_owed = true,
            _ => {
                return Err(RecordError::new(
                    InvalidMessage::InvalidKeyUpdate,
                    AlertDescription::IllegalParameter,
                )
                .into())
            }
        }
        let secrets = self.kernel.update_rx_secret().map_err(Failure::local)?;
        self.receiver.rx = Protection::new(self.version, &secrets, 0).map_err(Failure::local)?;
        debug!("receive keys updated");
        Ok(())
    }

    fn refuse_renegotiation<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Failure> {
        if self.renegotiations_left == 0 {
            return Err(RecordError::new(
                PeerMisbehaved::TooManyRenegotiationRequests,
                AlertDescription::NoRenegotiation,
            )
            .into());
        }
        self.renegotiations_left -= 1;
        if self.sender.closed {
            // Nothing follows our close_notify, not even this warning.
            debug!("renegotiation request ignored: we closed");
            return Ok(());
        }
        debug!("refusing renegotiation: sending warning alert NoRenegotiation");
        self.send_alert(
            AlertLevel::Warning,
            AlertDescription::NoRenegotiation,
            outgoing_tls,
        )
        .map_err(Failure::Local)
    }

    /// Returns whether it was close_notify.
    fn handle_alert(&mut self, level: u8, description: AlertDescription) -> Result<bool, Failure> {
        let level = AlertLevel::from_u8(level);
        if level.is_none() && self.version == Version::Tls12 {
            // Not a valid alert, so not the peer's last word: it is answered
            // (as rustls does) with the error naming what it carried.
            return Err(RecordError::new(
                TlsError::AlertReceived(description),
                AlertDescription::IllegalParameter,
            )
            .into());
        }
        if description == AlertDescription::CloseNotify {
            debug!("peer sent close_notify");
            self.receiver.peer_closed = true;
            return Ok(true);
        }
        // TLS 1.3 (§6): the level is ignored; every alert but the closure
        // alerts (close_notify, user_canceled) is an error alert. TLS 1.2:
        // warnings are harmless.
        let harmless = match self.version {
            Version::Tls12 => level == Some(AlertLevel::Warning),
            Version::Tls13 => description == AlertDescription::UserCanceled,
        };
        if !harmless {
            return Err(Failure::Alert(description));
        }
        if self.warning_alerts_left == 0 {
            return Err(RecordError::new(
                PeerMisbehaved::TooManyWarningAlertsReceived,
                AlertDescription::UnexpectedMessage,
            )
            .into());
        }
        self.warning_alerts_left -= 1;
        warn!("peer sent warning alert {description:?}");
        Ok(false)
    }

    /// Seals and sends our owed KeyUpdate, then switches to new send keys.
    fn flush_key_update<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Error> {
        if self.key_update_owed && !self.sender.closed {
            self.key_update_owed = false;
            self.send_key_update(KEY_UPDATE_NOT_REQUESTED, outgoing_tls)?;
        }
        Ok(())
    }

    fn send_key_update<O: Storage>(
        &mut self,
        request: u8,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Error> {
        let message = [u8::from(HandshakeType::KeyUpdate), 0, 0, 1, request];
        self.sender
            .seal(outgoing_tls, ContentType::Handshake, &message)?;
        let secrets = self.kernel.update_tx_secret().map_err(Error::tls)?;
        self.sender.tx = Protection::new(self.version, &secrets, 0).map_err(Error::tls)?;
        debug!(
            "sent KeyUpdate (update_requested: {}); send keys updated",
            request == KEY_UPDATE_REQUESTED
        );
        Ok(())
    }

    /// Makes sure the next record may be sealed with the current keys: sends
    /// an owed KeyUpdate, and replaces keys that reached their limit (TLS
    /// 1.3) or closes the connection (TLS 1.2, which has no key update).
    fn before_seal<O: Storage>(&mut self, outgoing_tls: &mut OutgoingTls<O>) -> Result<(), Error> {
        self.flush_key_update(outgoing_tls)?;
        if !self.sender.keys_worn_out() {
            return Ok(());
        }
        match self.version {
            Version::Tls13 => {
                debug!(
                    "send keys reached their limit of {} records",
                    self.sender.limit
                );
                self.key_update_owed = false;
                self.send_key_update(KEY_UPDATE_REQUESTED, outgoing_tls)
            }
            Version::Tls12 => {
                log::error!(
                    "traffic keys exhausted, closing connection to prevent security failure"
                );
                self.queue_close_notify(outgoing_tls)?;
                Err(Error::EncryptExhausted)
            }
        }
    }

    /// Seals up to [`MAX_ENCRYPT_CHUNK`](crate::MAX_ENCRYPT_CHUNK) bytes of
    /// `app_data` into records; returns how many it took (0 once closed).
    pub(crate) fn encrypt<O: Storage>(
        &mut self,
        app_data: &[u8],
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<usize, Error> {
        let mut taken = 0;
        for fragment in app_data.chunks(self.sender.max_fragment) {
            if self.sender.closed {
                break;
            }
            self.before_seal(outgoing_tls)?;
            self.sender
                .seal(outgoing_tls, ContentType::ApplicationData, fragment)?;
            taken += fragment.len();
        }
        Ok(taken)
    }

    /// Seals the application data received, record by record, back to the
    /// peer: each plaintext goes from where it was opened in `incoming`
    /// into the body of a record in `outgoing_tls`, one copy. Stops at the
    /// first record that is not application data (stashed for
    /// [`advance`](Self::advance)), at an incomplete one, and once closed;
    /// returns the plaintext bytes sealed.
    pub(crate) fn echo<O: Storage>(
        &mut self,
        incoming: &mut [u8],
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<usize, Error> {
        let mut echoed = 0;
        while !self.sender.closed {
            let Some(plaintext) = self.receiver.take_app_data(incoming) else {
                break;
            };
            // Only a TLS 1.2 sender at its key limit closes while sealing,
            // and that is an error: nothing taken is left unsealed.
            echoed += self.encrypt(&incoming[plaintext], outgoing_tls)?;
        }
        Ok(echoed)
    }

    /// Room for the plaintext of the next application-data record, inside
    /// `outgoing_tls`: `(offset in outgoing_tls.unfilled(), capacity)`, or
    /// `None` once closed. Seal it with [`seal_room`](Self::seal_room).
    pub(crate) fn room<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<Option<(usize, usize)>, Error> {
        if self.sender.closed {
            return Ok(None);
        }
        self.before_seal(outgoing_tls)?;
        if self.sender.closed {
            return Ok(None);
        }
        let capacity = self.sender.max_fragment;
        let at = self.sender.reserve(outgoing_tls, capacity)?;
        Ok(Some((at, capacity)))
    }

    /// Room for the plaintext of up to `records` consecutive records, laid
    /// out as they will be sealed: returns the offset of the first room in
    /// `outgoing_tls.unfilled()`, each room's capacity, how many rooms, and
    /// the distance from one room to the next (a full record). Fewer rooms
    /// than asked when the keys allow fewer records before they must be
    /// replaced: no KeyUpdate can fall between them.
    pub(crate) fn rooms<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
        records: usize,
    ) -> Result<Option<RoomRun>, Error> {
        let Some((at, capacity)) = self.room(outgoing_tls)? else {
            return Ok(None);
        };
        // `room` replaced worn-out keys: the first record may be sealed. The
        // last one the keys allow must be a KeyUpdate or close_notify.
        let left = self
            .sender
            .limit
            .saturating_sub(1)
            .saturating_sub(self.sender.tx.seq());
        let wanted = records
            .min(MAX_ROOMS)
            .min(usize::try_from(left).unwrap_or(usize::MAX))
            .max(1);
        let stride = capacity + self.sender.tx.overhead();
        // `room` reserved the first; the whole run at once, so none moves.
        // Storage that cannot grow that far holds as many as fit.
        let count = match self
            .sender
            .reserve(outgoing_tls, stride * (wanted - 1) + capacity)
        {
            Ok(_) => wanted,
            Err(_) => (outgoing_tls.unfilled().len() / stride).clamp(1, wanted),
        };
        Ok(Some(RoomRun {
            at,
            capacity,
            count,
            stride,
        }))
    }

    /// Seals the `len` bytes the caller wrote into the rooms
    /// [`rooms`](Self::rooms) made (of `capacity` each), filled in order:
    /// full records, then the rest in one shorter record. Returns how many
    /// records.
    pub(crate) fn seal_rooms<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
        capacity: usize,
        mut len: usize,
    ) -> usize {
        debug_assert!(capacity <= self.sender.max_fragment);
        let mut sealed = 0;
        while len > 0 {
            let part = len.min(capacity);
            // Each full record ends where the next room's record starts.
            self.sender
                .seal_reserved(outgoing_tls, ContentType::ApplicationData, part);
            len -= part;
            sealed += 1;
        }
        sealed
    }

    /// Queues close_notify (once).
    pub(crate) fn queue_close_notify<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Error> {
        if self.sender.closed {
            return Ok(());
        }
        self.flush_key_update(outgoing_tls)?;
        debug!("sending warning alert CloseNotify");
        self.send_alert(
            AlertLevel::Warning,
            AlertDescription::CloseNotify,
            outgoing_tls,
        )?;
        self.sender.closed = true;
        Ok(())
    }

    /// Sends a KeyUpdate asking the peer to update too, then uses new send
    /// keys. TLS 1.3 only.
    pub(crate) fn refresh_traffic_keys<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<bool, Error> {
        if self.version != Version::Tls13 {
            return Err(Error::tls(TlsError::General(
                "key updates need TLS 1.3".into(),
            )));
        }
        if self.sender.closed {
            return Ok(false);
        }
        // An owed answer goes first, as rustls sends it: the peer asked
        // for update_not_requested (RFC 8446 §4.6.3).
        self.flush_key_update(outgoing_tls)?;
        self.send_key_update(KEY_UPDATE_REQUESTED, outgoing_tls)?;
        Ok(true)
    }

    fn send_alert<O: Storage>(
        &mut self,
        level: AlertLevel,
        description: AlertDescription,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Error> {
        self.sender.seal(
            outgoing_tls,
            ContentType::Alert,
            &[level as u8, u8::from(description)],
        )?;
        Ok(())
    }

    /// Ends the connection for a reason found outside the record layer (the
    /// caller rejected the peer's certificate), sealing `alert` with the
    /// current keys.
    pub(crate) fn send_fatal_alert<O: Storage>(
        &mut self,
        error: TlsError,
        alert: AlertDescription,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Error {
        self.send_fatal(RecordError::new(error, alert), outgoing_tls)
    }

    /// Sends the fatal alert for `error` if anything may still be sent, and
    /// builds the connection's error naming it.
    fn send_fatal<O: Storage>(
        &mut self,
        error: RecordError,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Error {
        let unsent = if self.sender.closed {
            Some("nothing may follow our close_notify or fatal alert")
        } else if self.sender.tx.seq() == u64::MAX {
            Some("the sequence numbers are used up")
        } else if self
            .send_alert(AlertLevel::Fatal, error.alert, outgoing_tls)
            .is_err()
        {
            Some("no room for it in OutgoingTls")
        } else {
            None
        };
        self.sender.closed = true;
        match unsent {
            None => debug!(
                "TLS error: {}; sent fatal alert {:?}",
                error.error, error.alert
            ),
            Some(why) => debug!("TLS error: {}; no alert sent: {why}", error.error),
        }
        let sent = unsent.is_none();
        Error::Tls {
            error: error.error,
            alert_sent: sent.then_some(error.alert),
        }
    }
}

/// Why a pass over received records ended the connection.
enum Failure {
    /// The peer broke a rule: send this alert.
    Record(RecordError),
    /// The peer sent this fatal alert: send nothing.
    Alert(AlertDescription),
    /// lltls could not go on (buffer too small, rustls refused a key update).
    Local(Error),
}

impl Failure {
    fn local(error: TlsError) -> Self {
        Self::Local(Error::tls(error))
    }
}

impl From<RecordError> for Failure {
    fn from(error: RecordError) -> Self {
        Self::Record(error)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum AlertLevel {
    Warning = 1,
    Fatal = 2,
}

impl AlertLevel {
    fn from_u8(level: u8) -> Option<Self> {
        match level {
            1 => Some(Self::Warning),
            2 => Some(Self::Fatal),
            _ => None,
        }
    }
}

/// Most plaintext per record for rustls's `max_fragment_size` setting, which
/// counts the 5-byte header.
pub(crate) fn max_fragment(max_fragment_size: Option<usize>) -> usize {
    max_fragment_size.map_or(MAX_FRAGMENT_LEN, |size| {
        size.saturating_sub(HEADER_LEN).clamp(1, MAX_FRAGMENT_LEN)
    })
}

fn interleaved() -> RecordError {
    RecordError::new(
        PeerMisbehaved::MessageInterleavedWithHandshakeMessage,
        AlertDescription::UnexpectedMessage,
    )
}

fn empty(content_type: ContentType) -> RecordError {
    debug_assert!(matches!(
        content_type,
        ContentType::Handshake | ContentType::Alert
    ));
    RecordError::new(
        InvalidMessage::InvalidEmptyPayload,
        AlertDescription::UnexpectedMessage,
    )
}

/// A handshake message over rustls's limit (not a record over the RFC's:
/// that is record_overflow). rustls names and answers it the same way.
fn too_large() -> RecordError {
    RecordError::new(
        InvalidMessage::HandshakePayloadTooLarge,
        AlertDescription::DecodeError,
    )
}

fn unexpected_handshake(got_type: HandshakeType) -> RecordError {
    RecordError::new(
        TlsError::InappropriateHandshakeMessage {
            expect_types: vec![HandshakeType::NewSessionTicket, HandshakeType::KeyUpdate],
            got_type,
        },
        AlertDescription::UnexpectedMessage,
    )
}
