//! Sending without a copy: the caller writes plaintext straight into the
//! body of the next record, inside `OutgoingTls`, and it is sealed there.

use rustls::unbuffered::EncryptError;

use super::{Layer, LlConnection, Side, Written};
use crate::buffer::Storage;
use crate::buffer::{IncomingTls, OutgoingTls};
use crate::error::Error;

/// Bytes a record built by rustls may add to its plaintext: header, TLS 1.2
/// explicit nonce, TLS 1.3 content type, tag (5 + 8 + 1 + 16), rounded up.
const RUSTLS_OVERHEAD: usize = 64;

/// Room for the plaintext of one application-data record, or of several
/// consecutive ones, inside the caller's `OutgoingTls`. From
/// [`LlConnection::record_room`] (one) or [`LlConnection::record_rooms`].
///
/// Write up to `buf().len()` bytes into [`buf`](Self::buf) (or fill
/// [`rooms`](Self::rooms) in order, e.g. with one `readv(2)`), then call
/// [`seal`](Self::seal) with how many. Dropping it instead sends nothing.
pub struct RecordRoom<'a, C: Side, I: Storage, O: Storage> {
    conn: &'a mut LlConnection<C>,
    incoming_tls: &'a mut IncomingTls<I>,
    outgoing_tls: &'a mut OutgoingTls<O>,
    /// Where the plaintext goes in `outgoing_tls.unfilled()`.
    at: usize,
    /// Plaintext one room holds.
    capacity: usize,
    /// How many rooms (always 1 with rustls's record layer).
    count: usize,
    /// From one room to the next: a full record, header to tag.
    stride: usize,
}

impl<'a, C: Side, I: Storage, O: Storage> RecordRoom<'a, C, I, O> {
    pub(super) fn new(
        conn: &'a mut LlConnection<C>,
        incoming_tls: &'a mut IncomingTls<I>,
        outgoing_tls: &'a mut OutgoingTls<O>,
        records: usize,
    ) -> Result<Option<Self>, Error> {
        conn.check_failed()?;
        if conn.sending_held() {
            return Ok(None);
        }
        if !matches!(conn.conn, Layer::InPlace(_)) {
            // Ask rustls whether it may encrypt now, without encrypting.
            let may = conn.with_write_traffic(incoming_tls, outgoing_tls, |_, _| Ok(()))?;
            match may {
                Written::Done(()) => {
                    // rustls builds the record before the plaintext: leave
                    // room for a whole record, then the plaintext. One room:
                    // rustls decides itself when a KeyUpdate goes out.
                    let capacity = conn.max_fragment;
                    let at = capacity + RUSTLS_OVERHEAD;
                    outgoing_tls.reserve(at + capacity)?;
                    return Ok(Some(Self {
                        conn,
                        incoming_tls,
                        outgoing_tls,
                        at,
                        capacity,
                        count: 1,
                        stride: 0,
                    }));
                }
                Written::NotNow => return Ok(None),
                Written::Switched => {}
            }
        }
        let rooms = conn.in_place()?.rooms(outgoing_tls, records.max(1));
        let Some(rooms) = conn.note_failure(rooms)? else {
            return Ok(None);
        };
        Ok(Some(Self {
            conn,
            incoming_tls,
            outgoing_tls,
            at: rooms.at,
            capacity: rooms.capacity,
            count: rooms.count,
            stride: rooms.stride,
        }))
    }

    /// How much plaintext all the rooms hold together.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity * self.count
    }

    /// The rooms, in the order they are sealed; each holds one record's
    /// plaintext. Fill them in that order: [`seal`](Self::seal) takes the
    /// first `num_bytes` of their concatenation.
    pub fn rooms(&mut self) -> Rooms<'_> {
        let unfilled = &mut self.outgoing_tls.unfilled()[self.at..];
        Rooms {
            rest: unfilled,
            capacity: self.capacity,
            gap: self.stride.saturating_sub(self.capacity),
            left: self.count,
        }
    }

    /// Where to write the plaintext: at most one record's worth (16 KiB, or
    /// less with `max_fragment_size`). With several rooms, the first.
    pub fn buf(&mut self) -> &mut [u8] {
        &mut self.outgoing_tls.unfilled()[self.at..self.at + self.capacity]
    }

    /// Seals the first `num_bytes` of [`buf`](Self::buf) (with several
    /// rooms, of their concatenation: full records, then the rest in one
    /// shorter record) at the end of `OutgoingTls`. Returns `num_bytes`; `0`
    /// sends nothing.
    ///
    /// # Panics
    /// If `num_bytes` exceeds [`capacity`](Self::capacity): that is a caller
    /// bug.
    #[must_use = "it says how much of the plaintext was taken"]
    pub fn seal(self, num_bytes: usize) -> Result<usize, Error> {
        assert!(
            num_bytes <= self.capacity(),
            "sealed more than RecordRoom holds"
        );
        if num_bytes == 0 {
            return Ok(0);
        }
        let Self {
            conn,
            incoming_tls,
            outgoing_tls,
            at,
            ..
        } = self;
        if let Layer::InPlace(layer) = &mut conn.conn {
            layer.seal_rooms(outgoing_tls, self.capacity, num_bytes);
            return Ok(num_bytes);
        }
        // rustls's record layer: it encrypts from the room into the space
        // before it. Nothing changed since `new` saw it may encrypt.
        let written =
            conn.with_write_traffic(incoming_tls, outgoing_tls, |mut traffic, outgoing| {
                let (record, plaintext) = outgoing.unfilled().split_at_mut(at);
                match traffic.encrypt(&plaintext[..num_bytes], record) {
                    Ok(len) => {
                        outgoing.advance(len);
                        Ok(len)
                    }
                    Err(EncryptError::InsufficientSize(e)) => Err(Error::BufferTooSmall {
                        required_size: e.required_size,
                        capacity: record.len(),
                    }),
                    Err(EncryptError::EncryptExhausted) => Err(Error::EncryptExhausted),
                }
            })?;
        match written {
            Written::Done(_) => Ok(num_bytes),
            Written::NotNow | Written::Switched => Ok(0),
        }
    }
}

/// The rooms of a [`RecordRoom`], in order: each one record's plaintext.
#[derive(Debug)]
pub struct Rooms<'b> {
    /// From the next room to the end of `OutgoingTls`.
    rest: &'b mut [u8],
    capacity: usize,
    /// Bytes between one room's end and the next one's start (the record's
    /// trailer and the next header).
    gap: usize,
    left: usize,
}

impl<'b> Iterator for Rooms<'b> {
    type Item = &'b mut [u8];

    fn next(&mut self) -> Option<&'b mut [u8]> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let rest = core::mem::take(&mut self.rest);
        let (room, after) = rest.split_at_mut(self.capacity);
        // The last room has no next one: what follows it stays behind.
        self.rest = match self.left {
            0 => &mut [],
            _ => &mut after[self.gap..],
        };
        Some(room)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Rooms<'_> {}
