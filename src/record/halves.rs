//! The two directions of the record layer apart, for split halves: each
//! owns its protection state, and they share the [`Control`] behind a lock.
//! Every rule of the whole connection holds, because the code is the same:
//! only the way to reach the control state differs.

use super::control::{Access, Control, Failure, Shared};
use super::kernel::Kernel;
use super::post_handshake::Event;
use super::receive::Receiver;
use super::send::Sender;
use crate::buffer::{OutgoingTls, Storage};
use crate::error::Error;

/// The sending direction of split halves.
pub(crate) struct SendDirection<K> {
    sender: Sender,
    shared: Shared<K>,
    /// The error that ended the connection, from either direction.
    failed: Option<Error>,
}

impl<K: Kernel> SendDirection<K> {
    pub(super) fn new(sender: Sender, shared: Shared<K>) -> Self {
        Self {
            sender,
            shared,
            failed: None,
        }
    }

    /// Runs `f` with the control state locked; an error ends sending for
    /// good, and every later call returns it.
    fn with_control<R>(
        &mut self,
        f: impl FnOnce(&mut Sender, &mut Control<K>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let sender = &mut self.sender;
        let result = self
            .shared
            .with(|control| f(sender, control))
            .and_then(|result| result);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }

    /// Runs `f` with the control state locked, after sealing what the
    /// receiving direction queued.
    fn locked<O: Storage, R>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
        f: impl FnOnce(&mut Sender, &mut Control<K>, &mut OutgoingTls<O>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.with_control(|sender, control| {
            sender.flush_owed(control, outgoing_tls)?;
            f(sender, control, outgoing_tls)
        })
    }

    /// Seals what the receiving direction queued (a refusal, the fatal
    /// alert of its error).
    pub(crate) fn flush<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Error> {
        self.locked(outgoing_tls, |_, _, _| Ok(()))
    }

    pub(crate) fn encrypt<O: Storage>(
        &mut self,
        app_data: &[u8],
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<usize, Error> {
        self.locked(outgoing_tls, |sender, control, outgoing_tls| {
            sender.encrypt(control, app_data, outgoing_tls)
        })
    }

    pub(crate) fn queue_close_notify<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Error> {
        self.locked(outgoing_tls, |sender, control, outgoing_tls| {
            sender.queue_close_notify(control, outgoing_tls)
        })
    }

    pub(crate) fn refresh_traffic_keys<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<bool, Error> {
        self.locked(outgoing_tls, |sender, control, outgoing_tls| {
            sender.refresh_traffic_keys(control, outgoing_tls)
        })
    }

    /// Room for the next record's plaintext, as [`Sender::room`].
    pub(crate) fn room<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<Option<(usize, usize)>, Error> {
        self.locked(outgoing_tls, |sender, control, outgoing_tls| {
            sender.room(control, outgoing_tls)
        })
    }

    /// Seals `len` bytes written into the room [`room`](Self::room) made,
    /// unless the receiving direction ended the connection meanwhile: then
    /// its alert is sealed instead (over the room) and its error returned.
    /// What it queued otherwise (a refusal) waits for the next call: sealed
    /// now, it would land where the room is.
    pub(crate) fn seal_room<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
        len: usize,
    ) -> Result<usize, Error> {
        self.with_control(|sender, control| {
            if control.ended.is_some() {
                return sender.flush_owed(control, outgoing_tls).map(|()| 0);
            }
            let capacity = sender.max_fragment;
            sender.seal_rooms(outgoing_tls, capacity, len);
            Ok(len)
        })
    }

    /// Whether close_notify (or a fatal alert) was sent.
    pub(crate) fn closed(&self) -> bool {
        self.sender.closed
    }

    pub(crate) fn error(&self) -> Option<&Error> {
        self.failed.as_ref()
    }

    /// Sequence number of the next record sent.
    pub(crate) fn sequence_number(&self) -> u64 {
        self.sender.tx.seq()
    }
}

/// The receiving direction of split halves.
pub(crate) struct ReceiveDirection<K> {
    pub(crate) receiver: Receiver,
    shared: Shared<K>,
    failed: Option<Error>,
}

impl<K: Kernel> ReceiveDirection<K> {
    pub(super) fn new(receiver: Receiver, shared: Shared<K>) -> Self {
        Self {
            receiver,
            shared,
            failed: None,
        }
    }

    /// Processes received records as the whole connection does; what the
    /// peer is owed is queued for the sending direction. On error the
    /// failure goes to the sending direction, which seals its alert.
    pub(crate) fn advance(&mut self, incoming_tls: &mut [u8]) -> Result<Event, Error> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let failure = match self.receiver.advance(&mut self.shared, incoming_tls) {
            Ok(event) => return Ok(event),
            Err(failure) => failure,
        };
        let error = failure.unsent();
        // Poisoned: the sending direction finds the same when it locks.
        let _ = self.shared.with(|control| control.ended = Some(failure));
        self.failed = Some(error.clone());
        Err(error)
    }

    /// Whether the last pass queued a record the sending direction should
    /// send now, without waiting for data of its own.
    pub(crate) fn take_queued_for_sender(&mut self) -> bool {
        self.receiver.take_queued_for_sender()
    }

    pub(crate) fn error(&self) -> Option<&Error> {
        self.failed.as_ref()
    }

    /// Ends the connection for an error found outside the record layer (a
    /// truncation, no room for a record): the sending direction stops too.
    pub(crate) fn fail(&mut self, error: Error) {
        let failure = Failure::Local(error.clone());
        let _ = self.shared.with(|control| control.ended = Some(failure));
        self.failed = Some(error);
    }
}
