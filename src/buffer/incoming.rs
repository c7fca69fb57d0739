//! The caller-owned buffer of TLS bytes received from the peer.

use super::Storage;
use crate::error::Error;
use alloc::vec;
use alloc::vec::Vec;

/// The largest record rustls accepts: 2^14 bytes of plaintext plus 2048 bytes
/// of ciphertext expansion (the TLS 1.2 bound; TLS 1.3 allows only 256), plus
/// the 5-byte header. rustls rejects any header announcing more.
pub const MAX_RECORD_SIZE: usize = 16_384 + 2_048 + 5;

/// rustls reassembles a handshake message fragmented over several records
/// inside the caller's buffer, and allows messages up to 64 KiB. During the
/// handshake the buffer must hold such a message plus the record that
/// completes it.
pub const MAX_HANDSHAKE_BUFFER: usize = 0xffff + MAX_RECORD_SIZE;

/// How much room a read gets by default: one maximal record, so a socket read
/// never has to stop in the middle of one.
const READ_SIZE: usize = MAX_RECORD_SIZE;

/// How much room a read gets during the handshake while the next record's
/// header has not arrived (see [`IncomingTls::reserve_exact`]): a typical
/// flight, a server's certificate chain included, fits in one read, and a
/// peer that connects and stalls costs less than a maximal record.
pub(crate) const HANDSHAKE_READ_SIZE: usize = 8192;

/// Received TLS bytes, in storage the caller owns.
///
/// The caller reads from its transport into [`unfilled`](Self::unfilled) and
/// then calls [`advance`](Self::advance); the connection decrypts records in
/// place in [`filled`](Self::filled) and discards them once processed.
///
/// Consumed bytes are dropped from the front lazily: the buffer only moves
/// its contents to the start (compacts) when a read needs the room, so a
/// stream of records costs no memmove per record.
#[derive(Debug)]
pub struct IncomingTls<S: Storage = Vec<u8>> {
    storage: S,
    /// Start of the bytes not yet discarded.
    start: usize,
    /// End of the received bytes.
    end: usize,
}

impl IncomingTls<Vec<u8>> {
    /// An empty buffer that allocates on first use.
    pub fn new() -> Self {
        Self::with_storage(Vec::new())
    }

    /// A buffer with `capacity` bytes to start with; it grows when needed.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_storage(vec![0; capacity])
    }
}

impl Default for IncomingTls<Vec<u8>> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Storage> IncomingTls<S> {
    /// A buffer over caller-provided storage. Its whole length is usable.
    pub fn with_storage(storage: S) -> Self {
        Self {
            storage,
            start: 0,
            end: 0,
        }
    }

    /// Bytes received and not yet discarded.
    #[must_use]
    pub fn filled(&self) -> &[u8] {
        &self.storage.as_ref()[self.start..self.end]
    }

    /// The received bytes, mutable: rustls and the record layer decrypt
    /// records in place.
    pub(crate) fn filled_mut(&mut self) -> &mut [u8] {
        &mut self.storage.as_mut()[self.start..self.end]
    }

    /// Room to read the transport into. Call [`advance`](Self::advance) with
    /// the number of bytes read.
    ///
    /// A buffer without storage (new, or released) gets room for one record
    /// here, so a first read before any `process` never looks like
    /// end-of-file. Otherwise it gets more room only from the connection,
    /// which makes it (within the protocol's limits) before it returns
    /// `NeedsMoreTlsData`: until then this may be empty. Fixed storage is
    /// never grown.
    pub fn unfilled(&mut self) -> &mut [u8] {
        // Only storage of length 0: the connection sizes what it has made
        // (small during the handshake), and growing that here would undo it.
        if self.storage.as_ref().is_empty() {
            // Fails only for fixed storage, which keeps what it has.
            let _ = self.reserve(READ_SIZE);
        }
        let end = self.end;
        &mut self.storage.as_mut()[end..]
    }

    /// Records that `num_bytes` were written into [`unfilled`](Self::unfilled).
    ///
    /// # Panics
    /// If `num_bytes` exceeds the unfilled length: that is a caller bug.
    pub fn advance(&mut self, num_bytes: usize) {
        assert!(
            num_bytes <= self.storage.as_ref().len() - self.end,
            "advanced past the end of IncomingTls"
        );
        self.end += num_bytes;
    }

    /// Drops `num_bytes` processed bytes from the front.
    pub(crate) fn discard(&mut self, num_bytes: usize) {
        debug_assert!(num_bytes <= self.end - self.start);
        self.start += num_bytes.min(self.end - self.start);
        if self.start == self.end {
            // Nothing left: start over at offset 0 for free.
            self.start = 0;
            self.end = 0;
        }
    }

    /// Makes sure [`unfilled`](Self::unfilled) has room for a read, without
    /// the buffer exceeding `limit` bytes in all.
    ///
    /// Compacts first and grows only when compaction is not enough. Fails
    /// when the received bytes alone already fill `limit`.
    pub(crate) fn reserve(&mut self, limit: usize) -> Result<(), Error> {
        self.make_room(limit, READ_SIZE, |held, wanted, capacity| {
            // Grow geometrically so a buffer filled a little at a time is
            // not reallocated on every call, but never past `limit`: a peer
            // announcing a 64 KiB handshake message must not make it hold
            // twice that.
            (held + wanted).max(capacity.saturating_mul(2).min(limit))
        })
    }

    /// Makes sure [`unfilled`](Self::unfilled) has room for a read of `room`
    /// bytes (fewer if the buffer would exceed `limit`), growing, if it
    /// must, to exactly that: the handshake's policy. The connection asks
    /// for the rest of the record being received (or, before its header,
    /// [`HANDSHAKE_READ_SIZE`]), so a peer that stalls in the middle of a
    /// record costs the record and no more, and one that sends a large
    /// flight costs a reallocation per record at most.
    pub(crate) fn reserve_exact(&mut self, limit: usize, room: usize) -> Result<(), Error> {
        self.make_room(limit, room, |held, wanted, _| held + wanted)
    }

    /// Room for a read of `room` bytes (fewer if the buffer would exceed
    /// `limit`): compacts first, grows to `target(held, wanted, capacity)`
    /// only when compaction is not enough.
    fn make_room(
        &mut self,
        limit: usize,
        room: usize,
        target: impl FnOnce(usize, usize, usize) -> usize,
    ) -> Result<(), Error> {
        let held = self.end - self.start;
        if held >= limit {
            return Err(Error::IncomingLimit {
                buffered: held,
                limit,
            });
        }
        let wanted = room.clamp(1, limit - held);
        let capacity = self.storage.as_ref().len();
        if capacity - self.end >= wanted {
            return Ok(());
        }
        if self.start > 0 {
            self.storage.as_mut().copy_within(self.start..self.end, 0);
            self.end = held;
            self.start = 0;
        }
        if capacity - self.end >= wanted {
            return Ok(());
        }
        let target = target(held, wanted, capacity);
        if self.storage.grow_to(target) || self.storage.as_ref().len() > held {
            // Fixed storage with some room left still allows a smaller read.
            Ok(())
        } else {
            Err(Error::IncomingLimit {
                buffered: held,
                limit: self.storage.as_ref().len(),
            })
        }
    }

    /// Whether no received bytes are waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Bytes of storage currently held.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.storage.as_ref().len()
    }

    /// Gives back the storage's memory if no bytes are waiting; an idle
    /// connection then holds no incoming buffer. Returns whether it did.
    pub fn release(&mut self) -> bool {
        if self.is_empty() {
            self.storage.release();
            true
        } else {
            false
        }
    }
}
