//! What the records received after the handshake mean: application data
//! for the caller, post-handshake messages (KeyUpdate, NewSessionTicket,
//! TLS 1.2 renegotiation requests) and alerts.
//!
//! A pass never seals anything: what the peer is owed (a KeyUpdate answer,
//! a refusal, the fatal alert of an error) is queued in the [`Control`] for
//! the sending direction.

use alloc::vec::Vec;

use log::{debug, warn};
use rustls::{AlertDescription, ContentType, HandshakeType, InvalidMessage, PeerMisbehaved};

use super::cipher::{Protection, RecordError, Version};
use super::control::{Access, Control, Failure};
use super::kernel::Kernel;
use super::receive::{unexpected, Receiver};
use super::rules::{
    empty, interleaved, too_large, unexpected_handshake, AlertLevel, KEY_UPDATE_NOT_REQUESTED,
    KEY_UPDATE_REQUESTED, MAX_HANDSHAKE_MESSAGE,
};

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

impl Receiver {
    /// Processes received records at the front of `incoming_tls` (the bytes
    /// left after discarding `take_consumed()`) until one needs the caller.
    ///
    /// On error the connection is dead: the caller hands the failure to the
    /// sending direction, which seals its alert.
    pub(crate) fn advance<K: Kernel>(
        &mut self,
        control: &mut impl Access<K>,
        incoming_tls: &mut [u8],
    ) -> Result<Event, Failure> {
        loop {
            if self.peer_closed {
                // RFC 8446 §6.1: data after a closure alert MUST be ignored.
                let rest = incoming_tls.len() - self.offset();
                if rest > 0 {
                    debug!("ignoring {rest}B after close_notify");
                    self.consume(rest);
                }
                return Ok(Event::Blocked);
            }
            if self.has_app_data() {
                return Ok(Event::AppData);
            }
            let Some((len, opened)) = self.next(incoming_tls)? else {
                return Ok(Event::Blocked);
            };
            let start = self.offset();
            let plaintext =
                &incoming_tls[start + opened.plaintext.start..start + opened.plaintext.end];
            let pending_fragment = !self.handshake.is_empty();
            match opened.content_type {
                ContentType::ApplicationData if pending_fragment => {
                    return Err(interleaved().into())
                }
                ContentType::ApplicationData if plaintext.is_empty() => {
                    // Allowed (RFC 8446 §5.1), and there is nothing to deliver.
                    self.consume(len);
                }
                ContentType::ApplicationData => {
                    self.stash(len, opened);
                    return Ok(Event::AppData);
                }
                ContentType::Handshake if plaintext.is_empty() => {
                    return Err(empty(ContentType::Handshake).into())
                }
                ContentType::Handshake => {
                    self.handle_handshake(control, plaintext)?;
                    self.consume(len);
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
                    self.consume(len);
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
    fn handle_handshake<K: Kernel>(
        &mut self,
        control: &mut impl Access<K>,
        plaintext: &[u8],
    ) -> Result<(), Failure> {
        if self.handshake.is_empty() {
            // The usual case: whole messages in one record, read where they
            // lie without a copy.
            let used = self.handle_messages(control, plaintext)?;
            self.hold_back(&plaintext[used..])?;
        } else {
            let mut held = core::mem::take(&mut self.handshake);
            held.extend_from_slice(plaintext);
            let used = self.handle_messages(control, &held)?;
            held.drain(..used);
            if held.is_empty() {
                // An idle connection keeps no reassembly memory.
                held = Vec::new();
            }
            self.handshake = held;
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
        self.handshake.extend_from_slice(partial);
        Ok(())
    }

    /// Handles each whole message at the front of `messages`; returns how
    /// many bytes they took. The end of `messages` is the end of the record
    /// just received.
    fn handle_messages<K: Kernel>(
        &mut self,
        control: &mut impl Access<K>,
        messages: &[u8],
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
            self.handle_message(control, HandshakeType::from(*typ), body, at_record_end)?;
        }
        Ok(used)
    }

    fn handle_message<K: Kernel>(
        &mut self,
        control: &mut impl Access<K>,
        typ: HandshakeType,
        body: &[u8],
        at_record_end: bool,
    ) -> Result<(), Failure> {
        debug!("received {typ:?} ({}B)", body.len());
        match (self.version, typ) {
            (Version::Tls13, HandshakeType::KeyUpdate) => {
                self.handle_key_update(control, body, at_record_end)
            }
            (Version::Tls13, HandshakeType::NewSessionTicket) => {
                let stored = control
                    .with(|control| control.kernel.handle_new_session_ticket(body))
                    .map_err(Failure::Local)?;
                match stored {
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
                self.refuse_renegotiation(control)
            }
            (Version::Tls12, HandshakeType::ClientHello) if !K::IS_CLIENT => {
                self.refuse_renegotiation(control)
            }
            _ => Err(unexpected_handshake(typ).into()),
        }
    }

    fn handle_key_update<K: Kernel>(
        &mut self,
        control: &mut impl Access<K>,
        body: &[u8],
        at_record_end: bool,
    ) -> Result<(), Failure> {
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
        if self.key_updates_left == 0 {
            return Err(RecordError::new(
                PeerMisbehaved::TooManyKeyUpdateRequests,
                AlertDescription::UnexpectedMessage,
            )
            .into());
        }
        self.key_updates_left -= 1;
        let owed = match request {
            KEY_UPDATE_NOT_REQUESTED => false,
            KEY_UPDATE_REQUESTED => true,
            _ => {
                return Err(RecordError::new(
                    InvalidMessage::InvalidKeyUpdate,
                    AlertDescription::IllegalParameter,
                )
                .into())
            }
        };
        let secrets = control
            .with(|control: &mut Control<K>| {
                control.key_update_owed |= owed;
                control.kernel.update_rx_secret()
            })
            .map_err(Failure::Local)?
            .map_err(Failure::local)?;
        self.rx = Protection::new(self.version, &secrets, 0).map_err(Failure::local)?;
        debug!("receive keys updated");
        Ok(())
    }

    fn refuse_renegotiation<K>(&mut self, control: &mut impl Access<K>) -> Result<(), Failure> {
        if self.renegotiations_left == 0 {
            return Err(RecordError::new(
                PeerMisbehaved::TooManyRenegotiationRequests,
                AlertDescription::NoRenegotiation,
            )
            .into());
        }
        self.renegotiations_left -= 1;
        let queued = control
            .with(|control| {
                // Nothing follows our close_notify, not even this warning.
                let queued = !control.send_closed;
                control.refusals_owed += u8::from(queued);
                queued
            })
            .map_err(Failure::Local)?;
        if queued {
            self.queued_for_sender = true;
        } else {
            debug!("renegotiation request ignored: we closed");
        }
        Ok(())
    }

    /// Returns whether it was close_notify.
    fn handle_alert(&mut self, level: u8, description: AlertDescription) -> Result<bool, Failure> {
        let level = AlertLevel::from_u8(level);
        if level.is_none() && self.version == Version::Tls12 {
            // Not a valid alert, so not the peer's last word: it is answered
            // (as rustls does) with the error naming what it carried.
            return Err(RecordError::new(
                rustls::Error::AlertReceived(description),
                AlertDescription::IllegalParameter,
            )
            .into());
        }
        if description == AlertDescription::CloseNotify {
            debug!("peer sent close_notify");
            self.peer_closed = true;
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

    /// Takes the note that a pass queued a record for the sending direction.
    pub(crate) fn take_queued_for_sender(&mut self) -> bool {
        core::mem::take(&mut self.queued_for_sender)
    }
}
