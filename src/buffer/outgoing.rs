//! The caller-owned buffer of TLS bytes waiting to be transmitted.

use super::storage::Storage;
use crate::error::Error;
use alloc::vec;
use alloc::vec::Vec;

/// TLS bytes for the peer, in storage the caller owns.
///
/// The connection encodes handshake messages and encrypts application data
/// straight into the room after the pending bytes, growing the buffer by what
/// rustls says it requires. The caller transmits [`filled`](Self::filled) and
/// calls [`discard`](Self::discard) with what the transport accepted; partial
/// writes are the normal case with non-blocking sockets.
///
/// Bytes leave in the order they were produced, each exactly once.
#[derive(Debug)]
pub struct OutgoingTls<S: Storage = Vec<u8>> {
    storage: S,
    start: usize,
    end: usize,
}

impl OutgoingTls<Vec<u8>> {
    /// An empty buffer that allocates on first use.
    pub fn new() -> Self {
        Self::with_storage(Vec::new())
    }

    /// A buffer with `capacity` bytes to start with; it grows when needed.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_storage(vec![0; capacity])
    }
}

impl Default for OutgoingTls<Vec<u8>> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Storage> OutgoingTls<S> {
    /// A buffer over caller-provided storage.
    pub fn with_storage(storage: S) -> Self {
        Self {
            storage,
            start: 0,
            end: 0,
        }
    }

    /// Bytes waiting to be transmitted, oldest first.
    #[must_use]
    pub fn filled(&self) -> &[u8] {
        &self.storage.as_ref()[self.start..self.end]
    }

    /// Records that the transport accepted the first `num_bytes` of
    /// [`filled`](Self::filled).
    ///
    /// # Panics
    /// If `num_bytes` exceeds what is filled: that is a caller bug.
    pub fn discard(&mut self, num_bytes: usize) {
        assert!(
            num_bytes <= self.end - self.start,
            "discarded more than OutgoingTls holds"
        );
        self.start += num_bytes;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Takes back the last `num_bytes` written, which must not be sent.
    pub(crate) fn unwrite(&mut self, num_bytes: usize) {
        debug_assert!(num_bytes <= self.end - self.start);
        self.end -= num_bytes.min(self.end - self.start);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Whether nothing waits to be transmitted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Number of bytes waiting to be transmitted.
    #[must_use]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Bytes of storage currently held.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.storage.as_ref().len()
    }

    /// Gives back the storage's memory if nothing is pending. Returns whether
    /// it did.
    pub fn release(&mut self) -> bool {
        if self.is_empty() {
            self.storage.release();
            true
        } else {
            false
        }
    }

    /// Room after the pending bytes: new records are appended there, never
    /// written over bytes not yet transmitted.
    pub(crate) fn unfilled(&mut self) -> &mut [u8] {
        let end = self.end;
        &mut self.storage.as_mut()[end..]
    }

    pub(crate) fn advance(&mut self, num_bytes: usize) {
        debug_assert!(self.end + num_bytes <= self.storage.as_ref().len());
        self.end += num_bytes;
    }

    /// Makes [`unfilled`](Self::unfilled) at least `required_size` long,
    /// compacting before growing.
    pub(crate) fn reserve(&mut self, required_size: usize) -> Result<(), Error> {
        let capacity = self.storage.as_ref().len();
        if capacity - self.end >= required_size {
            return Ok(());
        }
        let pending = self.end - self.start;
        if self.start > 0 && capacity - pending >= required_size {
            // Moving the pending bytes is cheaper than growing, and is only
            // needed when the tail is too short.
            self.storage.as_mut().copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = pending;
            return Ok(());
        }
        // Grow geometrically so a buffer filled a little at a time is not
        // reallocated on every call.
        let target = (self.end + required_size).max(capacity.saturating_mul(2));
        if self.storage.grow_to(target) {
            Ok(())
        } else {
            Err(Error::BufferTooSmall {
                required_size: pending + required_size,
                capacity,
            })
        }
    }

    /// Appends `bytes` (a record lltls built whole), growing as needed.
    pub(crate) fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.reserve(bytes.len())?;
        self.unfilled()[..bytes.len()].copy_from_slice(bytes);
        self.advance(bytes.len());
        Ok(())
    }

    /// Calls `write` with the unfilled room until it fits, growing by the
    /// size it reports; commits what it wrote.
    ///
    /// `write` returns `InsufficientSize(required_size)` when the room is too
    /// small; rustls guarantees it left the buffer untouched in that case, so
    /// the same call is simply retried with more room.
    pub(crate) fn write_with(
        &mut self,
        mut write: impl FnMut(&mut [u8]) -> Result<usize, WriteError>,
    ) -> Result<usize, Error> {
        loop {
            match write(self.unfilled()) {
                Ok(num_bytes) => {
                    self.advance(num_bytes);
                    return Ok(num_bytes);
                }
                Err(WriteError::InsufficientSize(required_size)) => self.reserve(required_size)?,
                Err(WriteError::Failed(error)) => return Err(error),
            }
        }
    }
}

/// Why one attempt to write into [`OutgoingTls`] failed.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The room was too small; this many bytes are needed.
    InsufficientSize(usize),
    /// The write itself failed.
    Failed(Error),
}
