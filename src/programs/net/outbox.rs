//! Plaintext queued by the application and not yet taken by the connection.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

/// Below this many consumed bytes the [`Outbox`] does not bother compacting.
const OUTBOX_COMPACT_MIN: usize = 64 * 1024;

/// Plaintext the application queued that the connection has not taken yet.
///
/// `encrypt` takes nothing before the handshake allows it, and at most
/// [`MAX_ENCRYPT_CHUNK`](crate::MAX_ENCRYPT_CHUNK) bytes per call: the rest
/// waits here.
#[derive(Debug, Default)]
pub struct Outbox {
    data: Vec<u8>,
    /// Start of the bytes not taken yet.
    start: usize,
    /// `close_notify` is wanted once everything queued has been taken.
    close: bool,
}

impl Outbox {
    /// Queues `plaintext` to be sent after what is already queued.
    pub fn push(&mut self, plaintext: &[u8]) {
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        } else if self.start >= OUTBOX_COMPACT_MIN && self.start * 2 >= self.data.len() {
            // Most of the vector is taken: move the rest down instead of
            // growing it for ever.
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.extend_from_slice(plaintext);
    }

    /// Asks for `close_notify` once everything queued has been sent.
    pub fn close(&mut self) {
        self.close = true;
    }

    /// Whether [`close`](Self::close) was called.
    #[must_use]
    pub fn is_closing(&self) -> bool {
        self.close
    }

    /// Bytes queued and not taken yet.
    #[must_use]
    pub fn len(&self) -> usize {
        self.data.len() - self.start
    }

    /// Whether nothing is queued.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn pending(&self) -> &[u8] {
        &self.data[self.start..]
    }

    pub(super) fn consume(&mut self, num_bytes: usize) {
        self.start += num_bytes;
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }

    pub(super) fn release(&mut self) {
        if self.is_empty() {
            self.data = Vec::new();
            self.start = 0;
        }
    }
}

impl Outbox {
    /// Bytes of memory it holds.
    pub(super) fn capacity(&self) -> usize {
        self.data.capacity()
    }
}
