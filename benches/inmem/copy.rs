//! The platform's copy at the alignment of a record's plaintext: why lltls
//! copies plaintext in pieces when the destination lies just after the
//! source (src/buffer/copy.rs), measured where the benchmark runs.

use std::hint::black_box;

use crate::harness::{copy_in_pieces, Stopwatch};
use crate::report::{Better, Row};
use crate::{median, Settings};

const LEN: usize = 16 << 10;

/// Gigabytes per second copying `LEN` bytes to `distance` bytes after the
/// source modulo 4 KiB, whole or in pieces; the median of the runs.
fn rate(settings: &Settings, distance: usize, pieces: bool) -> f64 {
    let src = vec![7u8; LEN + 8192];
    let mut dst = vec![0u8; LEN + 8192];
    // Page-relative positions of both: the source at a 64-byte boundary,
    // the destination `distance` further along its page.
    let src_at = (4096 - src.as_ptr() as usize % 4096) % 4096;
    let dst_at = (4096 + (src.as_ptr() as usize + src_at) % 4096 + distance
        - dst.as_ptr() as usize % 4096)
        % 4096;
    let from = &src[src_at..src_at + LEN];
    let copies = (settings.bulk_bytes / LEN).max(64);
    let runs = (0..settings.runs)
        .map(|_| {
            let clock = Stopwatch::start();
            for _ in 0..copies {
                let to = black_box(&mut dst[dst_at..dst_at + LEN]);
                if pieces {
                    copy_in_pieces(to, from);
                } else {
                    to.copy_from_slice(from);
                }
            }
            (copies * LEN) as f64 / clock.seconds() / 1e9
        })
        .collect();
    median(runs)
}

pub fn copy_rows(settings: &Settings) -> Vec<Row> {
    const SECTION: &str = "copy (mem)";
    let mut rows = Vec::new();
    for (distance, what) in [
        (
            5,
            "destination 5 B after the source mod 4 KiB (plaintext behind a header)",
        ),
        (64, "destination 64 B after the source mod 4 KiB"),
    ] {
        for pieces in [false, true] {
            let how = if pieces {
                "in 1 KiB pieces"
            } else {
                "one memcpy"
            };
            rows.push(
                Row::new(
                    SECTION,
                    format!("16 KiB, {what}, {how}"),
                    "GB/s",
                    Better::Higher,
                )
                .with_lltls(rate(settings, distance, pieces)),
            );
        }
    }
    rows
}
