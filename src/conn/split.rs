//! Split halves: after the handshake, a connection taken apart into a
//! [`SendHalf`] and a [`ReceiveHalf`] that can be driven from two threads or
//! tasks, each with its own buffer.
//!
//! Each half owns its direction's keys and sequence number. They share
//! rustls's kernel connection (it derives both directions' next secrets and
//! stores session tickets) and a small queue through which the receive half
//! hands the send half what the peer is owed: a KeyUpdate answer, a TLS 1.2
//! renegotiation refusal, the fatal alert of an error. The caller never
//! moves bytes between them. The rules of the whole connection hold on
//! both: one nonce per sequence number, key limits, nothing sent after our
//! close_notify or a fatal alert.

use core::fmt;

use crate::buffer::{IncomingTls, OutgoingTls, Storage};
use crate::conn::{LlConnection, Side, SideKernel, MAX_ENCRYPT_CHUNK};
use crate::error::Error;
use crate::record::{Event, ReceiveDirection, SendDirection};
use crate::status::AppData;
use crate::verify::Deferred;

/// The sending half of a split connection: seals application data,
/// close_notify and KeyUpdates into the caller's `OutgoingTls`.
///
/// Before each call does what it is asked, it seals what the receive half
/// queued. When the receive half fails with an error, the send half's next
/// call seals the fatal alert due (if any) and returns the same error:
/// transmit `outgoing_tls`, then close the transport.
///
/// Dropping it while the receive half lives is allowed, but what the
/// receive half queues (KeyUpdate answers, refusals, alerts) is then never
/// sent, and the receive half cannot tell.
pub struct SendHalf<C: Side> {
    direction: SendDirection<SideKernel<C>>,
}

/// The receiving half of a split connection: opens records in place in the
/// caller's `IncomingTls` and lends their plaintext.
pub struct ReceiveHalf<C: Side> {
    direction: ReceiveDirection<SideKernel<C>>,
}

/// What the caller of [`ReceiveHalf::process`] does next.
#[must_use]
#[non_exhaustive]
#[derive(Debug)]
pub enum ReceiveStatus<'a> {
    /// Plaintext records, lent where they were decrypted.
    AppDataAvailable(AppData<'a>),
    /// Read more bytes from the transport into `incoming_tls.unfilled()`.
    NeedsMoreTlsData,
    /// The receive half queued a record for the peer (a TLS 1.2
    /// renegotiation refusal): make the send half call
    /// [`SendHalf::flush`] and transmit, then call `process` again.
    /// Edge-triggered. A KeyUpdate answer needs no flush: it goes out
    /// right before our next record, as the whole connection sends it.
    FlushSender,
    /// The peer sent close_notify: nothing more comes. Level-triggered.
    PeerClosed,
}

impl<C: Side> fmt::Debug for SendHalf<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendHalf")
            .field("sequence_number", &self.sequence_number())
            .field("close_notify_sent", &self.close_notify_sent())
            .field("error", &self.error())
            .finish_non_exhaustive()
    }
}

impl<C: Side> fmt::Debug for ReceiveHalf<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiveHalf")
            .field("peer_closed", &self.peer_closed())
            .field("error", &self.error())
            .finish_non_exhaustive()
    }
}

impl<C: Side> LlConnection<C> {
    /// Splits the connection into its two halves, for two threads or tasks.
    ///
    /// Possible once `process` returned [`Status::HandshakeComplete`]
    /// with the in-place record layer (the default). The receive half
    /// MUST be driven with the `IncomingTls` this connection used (its
    /// unprocessed records may already be in it), the send half with its
    /// `OutgoingTls` (transmit what it holds first, or keep it).
    ///
    /// # Errors
    /// Gives the connection back, unchanged, with
    /// [`Error::CannotSplit`] during the handshake, before
    /// `HandshakeComplete` was returned, or with rustls's record layer;
    /// [`Error::AwaitingVerdict`] while a verdict is pending; and the
    /// connection's own error once it failed.
    ///
    /// [`Status::HandshakeComplete`]: crate::status::Status::HandshakeComplete
    #[allow(clippy::result_large_err)] // the connection is given back whole, rarely
    pub fn into_split(self) -> Result<(SendHalf<C>, ReceiveHalf<C>), (Self, Error)> {
        if let Some(error) = &self.failed {
            let error = error.clone();
            return Err((self, error));
        }
        if self.deferred.as_ref().is_some_and(Deferred::rejected) {
            return Err((
                self,
                Error::CannotSplit("the peer was rejected: process sends the alert"),
            ));
        }
        if self.withholds() {
            return Err((self, Error::AwaitingVerdict));
        }
        let reason = if self.is_handshaking() {
            "the handshake is in progress"
        } else if self.record_layer != crate::record::RecordLayer::InPlace {
            "rustls's record layer protects this connection; halves need the in-place one"
        } else if !self.handshake_reported {
            "process has not returned HandshakeComplete yet"
        } else {
            ""
        };
        let super::Layer::InPlace(layer) = self.conn else {
            return Err((self, Error::CannotSplit(reason)));
        };
        if !reason.is_empty() {
            let this = Self {
                conn: super::Layer::InPlace(layer),
                ..self
            };
            return Err((this, Error::CannotSplit(reason)));
        }
        let (send, receive) = layer.into_halves();
        Ok((
            SendHalf { direction: send },
            ReceiveHalf { direction: receive },
        ))
    }
}

impl<C: Side> SendHalf<C> {
    /// Encrypts up to [`MAX_ENCRYPT_CHUNK`] bytes of `app_data` into
    /// `outgoing_tls`, one copy, and returns how many it took (0 after
    /// close_notify).
    #[must_use = "it says how much of the plaintext was taken"]
    pub fn encrypt<O: Storage>(
        &mut self,
        app_data: &[u8],
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<usize, Error> {
        let chunk = &app_data[..app_data.len().min(MAX_ENCRYPT_CHUNK)];
        self.direction.encrypt(chunk, outgoing_tls)
    }

    /// Queues close_notify (once): nothing is sent after it. The receive
    /// half goes on until the peer's own close_notify.
    pub fn queue_close_notify<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Error> {
        self.direction.queue_close_notify(outgoing_tls)
    }

    /// Room for the plaintext of the next record inside `outgoing_tls`, as
    /// [`LlConnection::record_room`]: write into [`SendRoom::buf`], then
    /// [`SendRoom::seal`]. `None` after close_notify.
    pub fn record_room<'a, O: Storage>(
        &'a mut self,
        outgoing_tls: &'a mut OutgoingTls<O>,
    ) -> Result<Option<SendRoom<'a, C, O>>, Error> {
        let Some((at, capacity)) = self.direction.room(outgoing_tls)? else {
            return Ok(None);
        };
        Ok(Some(SendRoom {
            half: self,
            outgoing_tls,
            at,
            capacity,
        }))
    }

    /// Sends a TLS 1.3 KeyUpdate and switches to new sending keys, asking
    /// the peer to do the same. `false` in TLS 1.2 and after close_notify.
    pub fn refresh_traffic_keys<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<bool, Error> {
        self.direction.refresh_traffic_keys(outgoing_tls)
    }

    /// Seals what the receive half queued (see
    /// [`ReceiveStatus::FlushSender`]); after the receive half's error, the
    /// fatal alert due, returning that error.
    pub fn flush<O: Storage>(&mut self, outgoing_tls: &mut OutgoingTls<O>) -> Result<(), Error> {
        self.direction.flush(outgoing_tls)
    }

    /// Whether close_notify or a fatal alert went out: nothing more will.
    #[must_use]
    pub fn close_notify_sent(&self) -> bool {
        self.direction.closed()
    }

    /// The error that ended sending, if one did.
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        self.direction.error()
    }

    /// Sequence number of the next record sent.
    #[must_use]
    pub fn sequence_number(&self) -> u64 {
        self.direction.sequence_number()
    }
}

/// Room for the plaintext of one record, inside the send half's
/// `OutgoingTls`. From [`SendHalf::record_room`]; dropping it sends nothing.
pub struct SendRoom<'a, C: Side, O: Storage> {
    half: &'a mut SendHalf<C>,
    outgoing_tls: &'a mut OutgoingTls<O>,
    /// Where the plaintext goes in `outgoing_tls.unfilled()`.
    at: usize,
    capacity: usize,
}

impl<C: Side, O: Storage> SendRoom<'_, C, O> {
    /// Where to write the plaintext: at most one record's worth.
    pub fn buf(&mut self) -> &mut [u8] {
        &mut self.outgoing_tls.unfilled()[self.at..self.at + self.capacity]
    }

    /// Seals the first `num_bytes` of [`buf`](Self::buf) where they lie;
    /// returns `num_bytes` (0 sends nothing).
    ///
    /// When the receive half ended the connection after the room was
    /// taken (the peer's fatal alert, a record that did not open), nothing
    /// is sealed: the error comes back, and the fatal alert due, if any,
    /// is sealed instead.
    ///
    /// # Panics
    /// If `num_bytes` exceeds `buf().len()`: that is a caller bug.
    #[must_use = "it says how much of the plaintext was taken"]
    pub fn seal(self, num_bytes: usize) -> Result<usize, Error> {
        assert!(
            num_bytes <= self.capacity,
            "sealed more than SendRoom holds"
        );
        if num_bytes == 0 {
            return Ok(0);
        }
        self.half.direction.seal_room(self.outgoing_tls, num_bytes)
    }
}

impl<C: Side> ReceiveHalf<C> {
    /// Processes the records in `incoming_tls` and says what to do next.
    ///
    /// Processed records are discarded from `incoming_tls`. On error the
    /// receive half is dead, and the send half's next call seals the
    /// fatal alert due and returns the same error: the caller MUST make it
    /// call (e.g. [`SendHalf::flush`]) and transmit before closing. The
    /// receive half's error says `alert_sent: None` (it sends nothing);
    /// the send half's names the alert it sealed.
    pub fn process<'a, I: Storage>(
        &'a mut self,
        incoming_tls: &'a mut IncomingTls<I>,
    ) -> Result<ReceiveStatus<'a>, Error> {
        // Records handed out or handled by the previous pass are done with.
        incoming_tls.discard(self.direction.receiver.take_consumed());
        let event = self.direction.advance(incoming_tls.filled_mut())?;
        incoming_tls.discard(self.direction.receiver.take_consumed());
        if self.direction.take_queued_for_sender() {
            return Ok(ReceiveStatus::FlushSender);
        }
        match event {
            Event::AppData => Ok(ReceiveStatus::AppDataAvailable(AppData::in_place(
                &mut self.direction.receiver,
                incoming_tls.filled_mut(),
            ))),
            Event::PeerClosed => Ok(ReceiveStatus::PeerClosed),
            Event::Blocked if self.direction.receiver.peer_closed() => {
                Ok(ReceiveStatus::PeerClosed)
            }
            Event::Blocked => {
                if let Err(error) = super::room_for_records(incoming_tls) {
                    self.direction.fail(error.clone());
                    return Err(error);
                }
                Ok(ReceiveStatus::NeedsMoreTlsData)
            }
        }
    }

    /// Tells the receive half the transport reached end-of-file: the
    /// normal end after the peer's close_notify, else
    /// [`Error::UnexpectedEof`] (the data may have been truncated).
    pub fn handle_eof(&mut self) -> Result<(), Error> {
        if let Some(error) = self.direction.error() {
            return Err(error.clone());
        }
        if self.direction.receiver.peer_closed() {
            return Ok(());
        }
        let error = Error::UnexpectedEof { handshaking: false };
        self.direction.fail(error.clone());
        Err(error)
    }

    /// Whether the peer's close_notify was received.
    #[must_use]
    pub fn peer_closed(&self) -> bool {
        self.direction.receiver.peer_closed()
    }

    /// The error that ended receiving, if one did.
    #[must_use]
    pub fn error(&self) -> Option<&Error> {
        self.direction.error()
    }
}
