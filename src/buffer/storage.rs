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

    /// Whether [`grow_to`](Self::grow_to) always succeeds. A buffer then
    /// grows when its room is used rather than when the connection asks for
    /// it, so only storage whose `grow_to` never returns `false` may say
    /// `true`.
    fn can_grow(&self) -> bool {
        false
    }
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

    fn can_grow(&self) -> bool {
        true
    }
}

impl Storage for Box<[u8]> {}

impl<const N: usize> Storage for [u8; N] {}

impl Storage for &mut [u8] {}

#[cfg(test)]
mod tests {
    use super::Storage;
    use alloc::vec;

    /// `grow_to` allocates what it is asked for: `Vec::resize` alone would
    /// double a full vector's allocation, which the buffers' own growth
    /// policies (and a stalled handshake's memory) would not see.
    #[test]
    fn a_vec_grows_to_exactly_the_length_asked() {
        let mut storage = vec![0u8; 16_384];
        assert!(storage.grow_to(16_389));
        assert_eq!(storage.len(), 16_389);
        assert!(storage.capacity() < 16_384 + 1024, "{}", storage.capacity());
    }
}
