//! The sending half: seals each record straight into the caller's
//! `OutgoingTls`, around plaintext that is already there.

use log::trace;
use rustls::ContentType;

use super::cipher::{Protection, HEADER_LEN};
use crate::buffer::OutgoingTls;
use crate::buffer::Storage;
use crate::error::Error;

/// Send state after the handshake.
#[derive(Debug)]
pub(crate) struct Sender {
    pub(super) tx: Protection,
    /// Most plaintext per record: 2^14, or less with rustls's
    /// `max_fragment_size` (which counts the 5-byte header).
    pub(super) max_fragment: usize,
    /// Sequence number at which the keys are worn out: the suite's
    /// confidentiality limit, at most rustls's own soft limit.
    pub(super) limit: u64,
    /// close_notify or a fatal alert went out: nothing more may be sent.
    pub(super) closed: bool,
}

impl Sender {
    /// Whether the record about to be sealed is the last one the keys allow
    /// (so it must be the KeyUpdate or close_notify that ends their use).
    pub(super) fn keys_worn_out(&self) -> bool {
        self.tx.seq() >= self.limit.saturating_sub(1)
    }

    /// Room for the plaintext of one record of up to `len` bytes at the end
    /// of `outgoing_tls`: returns its offset in `outgoing_tls.unfilled()`.
    pub(super) fn reserve<O: Storage>(
        &self,
        outgoing_tls: &mut OutgoingTls<O>,
        len: usize,
    ) -> Result<usize, Error> {
        outgoing_tls.reserve(len + self.tx.overhead())?;
        Ok(HEADER_LEN + self.tx.prefix_len())
    }

    /// Seals the `len` bytes of plaintext at the offset [`reserve`](Self::reserve)
    /// returned, and commits the record.
    pub(super) fn seal_reserved<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
        content_type: ContentType,
        len: usize,
    ) -> usize {
        // Every path that seals checks `closed` first and says so to its
        // caller; this is the one place all records pass through.
        debug_assert!(
            !self.closed,
            "a record sealed after close_notify or a fatal alert"
        );
        let seq = self.tx.seq();
        let num_bytes = self.tx.seal(content_type, outgoing_tls.unfilled(), len);
        outgoing_tls.advance(num_bytes);
        trace!("sealed {content_type:?} seq {seq}: {len}B into {num_bytes}B");
        num_bytes
    }

    /// Seals one record holding `plaintext` (at most one fragment).
    pub(super) fn seal<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
        content_type: ContentType,
        plaintext: &[u8],
    ) -> Result<usize, Error> {
        debug_assert!(plaintext.len() <= self.max_fragment);
        let at = self.reserve(outgoing_tls, plaintext.len())?;
        outgoing_tls.unfilled()[at..at + plaintext.len()].copy_from_slice(plaintext);
        Ok(self.seal_reserved(outgoing_tls, content_type, plaintext.len()))
    }
}
