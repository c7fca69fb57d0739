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

/// Room for the plaintext of one application-data record, inside the
/// caller's `OutgoingTls`. From [`LlConnection::record_room`].
///
/// Write up to `buf().len()` bytes into [`buf`](Self::buf), then call
/// [`seal`](Self::seal) with how many. Dropping it instead sends nothing.
pub struct RecordRoom<'a, C: Side, I: Storage, O: Storage> {
    conn: &'a mut LlConnection<C>,
    incoming_tls: &'a mut IncomingTls<I>,
    outgoing_tls: &'a mut OutgoingTls<O>,
    /// Where the plaintext goes in `outgoing_tls.unfilled()`.
    at: usize,
    capacity: usize,
}

impl<'a, C: Side, I: Storage, O: Storage> RecordRoom<'a, C, I, O> {
    pub(super) fn new(
        conn: &'a mut LlConnection<C>,
        incoming_tls: &'a mut IncomingTls<I>,
        outgoing_tls: &'a mut OutgoingTls<O>,
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
                    // room for a whole record, then the plaintext.
                    let capacity = conn.max_fragment;
                    let at = capacity + RUSTLS_OVERHEAD;
                    outgoing_tls.reserve(at + capacity)?;
                    return Ok(Some(Self {
                        conn,
                        incoming_tls,
                        outgoing_tls,
                        at,
                        capacity,
                    }));
                }
                Written::NotNow => return Ok(None),
                Written::Switched => {}
            }
        }
        let room = conn.in_place()?.room(outgoing_tls);
        let Some((at, capacity)) = conn.note_failure(room)? else {
            return Ok(None);
        };
        Ok(Some(Self {
            conn,
            incoming_tls,
            outgoing_tls,
            at,
            capacity,
        }))
    }

    /// Where to write the plaintext: at most one record's worth (16 KiB, or
    /// less with `max_fragment_size`).
    pub fn buf(&mut self) -> &mut [u8] {
        &mut self.outgoing_tls.unfilled()[self.at..self.at + self.capacity]
    }

    /// Seals the first `num_bytes` of [`buf`](Self::buf) into a record at the
    /// end of `OutgoingTls`. Returns `num_bytes`; `0` sends nothing.
    ///
    /// # Panics
    /// If `num_bytes` exceeds `buf().len()`: that is a caller bug.
    #[must_use = "it says how much of the plaintext was taken"]
    pub fn seal(self, num_bytes: usize) -> Result<usize, Error> {
        assert!(
            num_bytes <= self.capacity,
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
            layer.seal_room(outgoing_tls, num_bytes);
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
