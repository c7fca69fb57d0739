//! What a caller-owned buffer may be backed by.

use alloc::boxed::Box;
use alloc::vec::Vec;
/// Byte storage behind [`IncomingTls`](crate::IncomingTls) and
/// [`OutgoingTls`](crate::OutgoingTls).
///
/// A `Vec<u8>` grows on demand and can be released when the connection is
/// idle. Fixed storage (`[u8; N]`, `Box<[u8]>`, `&mut [u8]`) never grows: when
/// it is too small the connection reports [`Error::BufferTooSmall`](crate::Error::BufferTooSmall)
/// or [`Error::IncomingLimit`](crate::Error::IncomingLimit).
pub trait Storage: AsRef<[u8]> + AsMut<[u8]> {
    /// Makes the storage at least `len` bytes long, keeping its contents.
    /// Returns `false` when it cannot.
    fn grow_to(&mut self, len: usize) -> bool {
        self.as_ref().len() >= len
    }

    /// Gives back the memory of an empty buffer. Fixed storage keeps it.
    fn release(&mut self) {}
}

impl Storage for Vec<u8> {
    fn grow_to(&mut self, len: usize) -> bool {
        // Exactly `len`: the buffers choose geometric growth themselves, so
        // that `IncomingTls` can cap it at its limit.
        if self.len() < len {
            // `resize` alone would round the allocation up (to twice the old
            // one) behind the buffers' back.
            self.reserve_exact(len - self.len());
            self.resize(len, 0);
        }
        true
    }

    fn release(&mut self) {
        *self = Vec::new();
    }
}

impl Storage for Box<[u8]> {}

impl<const N: usize> Storage for [u8; N] {}

impl Storage for &mut [u8] {}
