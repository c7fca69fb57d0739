//! How lltls copies plaintext between the caller's memory and its buffers
//! (`encrypt` into a record, `Pump::read` out of one).
//!
//! glibc's `memcpy` moves large blocks with `rep movsb` on CPUs that
//! advertise fast string moves. On AMD Zen 3 and 4 that instruction runs at
//! about a twentieth of its speed when the destination lies 1 to 63 bytes
//! after the source modulo 4 KiB (measured here: 2.1–2.8 GB/s against
//! 40–100 GB/s for a 16 KiB copy). A record's plaintext starts 5 bytes into
//! the record, so a caller's buffer and lltls's, both aligned alike by the
//! allocator, land on that case easily. Below 1 KiB glibc copies with vector
//! registers instead, which no alignment slows down; so in that one case the
//! copy goes in pieces of that size.

/// Pieces below the size at which glibc switches to `rep movsb`.
const PIECE: usize = 1024;

/// The distance (destination after source, modulo 4 KiB) below which a
/// single large copy is slow on the CPUs above.
const SLOW_DISTANCE: usize = 64;

/// Copies `src` into `dst`, which must have the same length.
///
/// # Panics
/// If the lengths differ, as `copy_from_slice`.
#[inline]
pub(crate) fn copy_bytes(dst: &mut [u8], src: &[u8]) {
    if !in_pieces(dst.as_ptr() as usize, src.as_ptr() as usize, src.len()) {
        dst.copy_from_slice(src);
        return;
    }
    assert_eq!(dst.len(), src.len(), "copy_bytes: lengths differ");
    for (to, from) in dst.chunks_mut(PIECE).zip(src.chunks(PIECE)) {
        to.copy_from_slice(from);
    }
}

/// Whether a copy of `len` bytes from address `src` to `dst` goes in pieces:
/// when it is longer than a piece and the destination lies 1 to 63 bytes
/// after the source modulo 4 KiB.
#[inline]
fn in_pieces(dst: usize, src: usize, len: usize) -> bool {
    let distance = dst.wrapping_sub(src) % 4096;
    len > PIECE && distance != 0 && distance < SLOW_DISTANCE
}

#[cfg(test)]
mod tests {
    use super::{copy_bytes, in_pieces};
    use alloc::vec;

    /// Every distance and length around the pieces copies every byte once,
    /// in order.
    #[test]
    fn copies_exactly_at_every_distance() {
        let src: alloc::vec::Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let mut backing = vec![0u8; 5000 + 4096 + 128];
        for distance in [0, 1, 5, 31, 63, 64, 65, 4095] {
            for len in [0, 1, 1023, 1024, 1025, 2048, 4097, 5000] {
                backing.fill(0xee);
                // A destination `distance` bytes after the source, mod 4 KiB.
                let base = backing.as_ptr() as usize;
                let want = (src.as_ptr() as usize + distance) % 4096;
                let at = (want + 4096 - base % 4096) % 4096;
                copy_bytes(&mut backing[at..at + len], &src[..len]);
                assert_eq!(&backing[at..at + len], &src[..len], "{distance} {len}");
                assert!(backing[..at].iter().all(|&b| b == 0xee));
                assert!(backing[at + len..].iter().all(|&b| b == 0xee));
            }
        }
    }

    /// Pieces exactly where one `memcpy` would be slow: long copies to a
    /// destination 1 to 63 bytes after the source modulo 4 KiB, wherever
    /// in memory, and the address arithmetic wraps.
    #[test]
    fn pieces_only_in_the_slow_case() {
        for base in [0x1000usize, 0x7fff_0000_1230, usize::MAX - 0xfff] {
            let src = base;
            for (distance, want) in [(0, false), (1, true), (5, true), (63, true), (64, false)] {
                for page in [0, 4096, 3 * 4096] {
                    let dst = src.wrapping_add(page + distance);
                    assert_eq!(in_pieces(dst, src, 16_384), want, "{distance} {page}");
                }
            }
            // A destination before the source is not the slow case.
            assert!(!in_pieces(src.wrapping_sub(5), src, 16_384));
            assert!(!in_pieces(src.wrapping_add(5), src, 1024), "one piece");
            assert!(in_pieces(src.wrapping_add(5), src, 1025));
        }
    }

    #[test]
    #[should_panic]
    fn lengths_must_match() {
        copy_bytes(&mut [0; 2000], &[1; 1999]);
    }
}
