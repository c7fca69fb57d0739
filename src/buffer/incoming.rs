//! The caller-owned buffer of TLS bytes received from the peer.

use super::storage::Storage;
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

/// The handshake's request for room, in bytes held (not discarded): at most
/// `limit` in all, and `until` is where the record being received ends (or
/// one handshake read's room, before its header has arrived).
#[derive(Clone, Copy, Debug)]
struct Wanted {
    limit: usize,
    until: usize,
}

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
    /// Room the connection asked for during the handshake, not made yet (see
    /// [`reserve_exact`](Self::reserve_exact)). Growable storage grows only
    /// when the caller reads ([`unfilled`](Self::unfilled)) or copies bytes in
    /// ([`extend_from_slice`](Self::extend_from_slice)), so a caller that
    /// copies from a buffer it shares between connections holds what arrived.
    wanted: Option<Wanted>,
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
            wanted: None,
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
    /// which asks for it (within the protocol's limits) before it returns
    /// `NeedsMoreTlsData`: until then this may be empty. During the
    /// handshake a `Vec` grows to that room here, when it is about to be
    /// used. Fixed storage is never grown.
    pub fn unfilled(&mut self) -> &mut [u8] {
        if let Some(Wanted { limit, until }) = self.wanted.take() {
            let room = until.saturating_sub(self.end - self.start);
            // Growable storage always makes its room (`Storage::can_grow`).
            let _ = self.make_room(limit, room, |held, wanted, _| held + wanted);
        }
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

    /// How many bytes [`extend_from_slice`](Self::extend_from_slice) takes
    /// now: the room [`unfilled`](Self::unfilled) would give, or, during the
    /// handshake, as much as the connection's limit on buffered handshake
    /// bytes allows (growable storage).
    #[must_use]
    pub fn copy_room(&self) -> usize {
        let held = self.end - self.start;
        let capacity = self.storage.as_ref().len();
        match self.wanted {
            Some(Wanted { limit, .. }) => limit.saturating_sub(held).max(capacity - held),
            // As `unfilled` gives it.
            None if capacity == 0 && self.storage.can_grow() => READ_SIZE,
            // Compaction makes the bytes discarded from the front usable.
            None => capacity - held,
        }
    }

    /// Copies `bytes`, read into memory the caller shares between
    /// connections, into the buffer: the other way to fill it besides
    /// [`unfilled`](Self::unfilled) and [`advance`](Self::advance).
    ///
    /// During the handshake growable storage grows to hold the bytes
    /// received, where a read into [`unfilled`](Self::unfilled) needs room
    /// for what may come (up to the rest of the record being received): the
    /// first copy into an empty buffer allocates exactly its bytes, later ones
    /// double the buffer but never past the end of the record being
    /// received. A peer that announces a large record and stalls then costs
    /// at most twice what it sent (exactly that when its bytes came in one
    /// read) and never more than the record, and one that sends a byte at a
    /// time causes a few reallocations per record, not one per byte. After
    /// the handshake reading into [`unfilled`](Self::unfilled) saves this
    /// copy.
    ///
    /// # Panics
    /// If `bytes` is longer than [`copy_room`](Self::copy_room): that is a
    /// caller bug.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        let room = self.copy_room();
        assert!(
            bytes.len() <= room,
            "extend_from_slice of {}B with room for {room}B",
            bytes.len()
        );
        if bytes.is_empty() {
            return;
        }
        let held = self.end - self.start;
        let record_end = self.wanted.map_or(0, |w| w.until.min(w.limit));
        // Within `copy_room`, growable storage always gets the room, and
        // fixed storage needs only compaction.
        let made = self.make_room(held + bytes.len(), bytes.len(), |held, wanted, capacity| {
            (held + wanted).max(capacity.saturating_mul(2).min(record_end))
        });
        assert!(
            made.is_ok(),
            "extend_from_slice: storage that can_grow did not grow"
        );
        let end = self.end;
        self.storage.as_mut()[end..end + bytes.len()].copy_from_slice(bytes);
        self.end += bytes.len();
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

    /// The handshake's room (see `wanted`) no longer applies: its limit and
    /// exact growth are the handshake's.
    pub(crate) fn forget_wanted(&mut self) {
        self.wanted = None;
    }

    /// Makes sure [`unfilled`](Self::unfilled) has room for a read, without
    /// the buffer exceeding `limit` bytes in all.
    ///
    /// Compacts first and grows only when compaction is not enough. Fails
    /// when the received bytes alone already fill `limit`.
    pub(crate) fn reserve(&mut self, limit: usize) -> Result<(), Error> {
        self.wanted = None;
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
    ///
    /// Growable storage grows later, when the caller reads or copies bytes
    /// in (see `wanted`); only fixed storage, which cannot, is checked here.
    pub(crate) fn reserve_exact(&mut self, limit: usize, room: usize) -> Result<(), Error> {
        self.wanted = None;
        let held = self.end - self.start;
        if held >= limit {
            return Err(Error::IncomingLimit {
                buffered: held,
                limit,
            });
        }
        if self.storage.can_grow() {
            self.wanted = Some(Wanted {
                limit,
                until: held.saturating_add(room).min(limit),
            });
            return Ok(());
        }
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

#[cfg(test)]
mod tests {
    use super::{IncomingTls, READ_SIZE};
    use crate::error::Error;
    use alloc::vec;

    /// A buffer asked for handshake room grows only when the room is used:
    /// by as much as is copied in, or to the room asked for when read into.
    #[test]
    fn handshake_room_is_made_when_used() {
        let mut incoming = IncomingTls::new();
        incoming.reserve_exact(100, 10).unwrap();
        assert_eq!(incoming.capacity(), 0, "nothing allocated when asked");
        assert_eq!(incoming.copy_room(), 100, "up to the limit");
        incoming.extend_from_slice(&[7; 6]);
        assert_eq!(incoming.capacity(), 6, "exactly what arrived");
        assert_eq!(incoming.filled(), &[7; 6][..]);
        assert_eq!(
            incoming.unfilled().len(),
            4,
            "the rest of the room asked for"
        );
        assert_eq!(incoming.capacity(), 10);
        incoming.advance(4);
        // The limit counts what is held.
        incoming.discard(2);
        assert!(matches!(
            incoming.reserve_exact(8, 10),
            Err(Error::IncomingLimit {
                buffered: 8,
                limit: 8
            })
        ));
        incoming.reserve_exact(9, 10).unwrap();
        assert_eq!(
            incoming.copy_room(),
            2,
            "what the storage has beats the limit"
        );
        incoming.extend_from_slice(&[8; 2]);
        assert_eq!(incoming.capacity(), 10, "compacted, not grown");
        assert_eq!(&incoming.filled()[..8], &[7, 7, 7, 7, 0, 0, 0, 0][..]);
        assert_eq!(&incoming.filled()[8..], &[8; 2][..]);
    }

    /// The room asked for counts from the bytes held, wherever they start:
    /// after bytes were discarded from the front, a read gets the rest of
    /// the record, not less.
    #[test]
    fn handshake_room_counts_from_the_bytes_held() {
        let mut incoming = IncomingTls::new();
        incoming.extend_from_slice(&[1; 100]);
        incoming.discard(40);
        incoming.reserve_exact(10_000, 1_000).unwrap();
        assert_eq!(incoming.unfilled().len(), 1_000);
        assert_eq!(incoming.filled(), &[1; 60][..]);
    }

    /// Bytes copied in one at a time grow the buffer by doubling up to the
    /// end of the record being received, not by a reallocation per byte.
    #[test]
    fn copying_in_byte_by_byte_grows_geometrically_to_the_record() {
        let mut incoming = IncomingTls::new();
        incoming.reserve_exact(100_000, 16_389).unwrap();
        let mut growths = 0;
        let mut capacity = incoming.capacity();
        for byte in 0..16_389u32 {
            incoming.extend_from_slice(&[byte as u8]);
            if incoming.capacity() != capacity {
                growths += 1;
                capacity = incoming.capacity();
            }
            assert!(capacity <= 16_389, "never past the record");
            assert!(capacity <= 2 * incoming.filled().len().max(1));
        }
        assert_eq!(capacity, 16_389);
        assert!(growths <= 16, "{growths} reallocations");
    }

    /// After the handshake's room is forgotten, copying in takes what the
    /// storage has; a buffer without storage gets a record's room, as
    /// `unfilled` gives it.
    #[test]
    fn copy_room_without_a_request() {
        let mut incoming = IncomingTls::new();
        assert_eq!(incoming.copy_room(), READ_SIZE);
        incoming.extend_from_slice(&[1; 10]);
        assert_eq!(incoming.capacity(), 10);
        incoming.reserve_exact(1000, 500).unwrap();
        incoming.forget_wanted();
        assert_eq!(incoming.copy_room(), 0);
        incoming.discard(4);
        assert_eq!(
            incoming.copy_room(),
            4,
            "the discarded front, by compaction"
        );
        incoming.extend_from_slice(&[2; 4]);
        assert_eq!(incoming.filled(), &[1, 1, 1, 1, 1, 1, 2, 2, 2, 2][..]);
    }

    /// Fixed storage is never grown: it is checked when room is asked for,
    /// as before, and copying in compacts it.
    #[test]
    fn fixed_storage_copies_in_by_compacting() {
        let mut incoming = IncomingTls::with_storage([0u8; 16]);
        incoming.extend_from_slice(&[3; 16]);
        assert!(matches!(
            incoming.reserve_exact(1000, 10),
            Err(Error::IncomingLimit {
                buffered: 16,
                limit: 16
            })
        ));
        incoming.discard(10);
        incoming.reserve_exact(1000, 10).unwrap();
        assert_eq!(incoming.copy_room(), 10);
        incoming.extend_from_slice(&[4; 10]);
        assert_eq!(
            incoming.filled(),
            &[3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4][..]
        );
    }

    #[test]
    #[should_panic(expected = "with room for 4B")]
    fn copying_in_more_than_the_room_is_a_caller_bug() {
        let mut incoming = IncomingTls::with_storage(vec![0u8; 4]);
        incoming.extend_from_slice(&[0; 5]);
    }
}
