//! A fresh echo server fed arbitrary client bytes in arbitrary chunks.
//!
//! Input: `[profile byte][chunk seed byte][client bytes…]` (see `tests/harness/hostile`). The
//! harness panics if the driver spins or a buffer outgrows its bound; rustls's own panics and
//! `debug_assert`s (on in this build) count as crashes too.
#![no_main]

#[path = "../../tests/harness/hostile/mod.rs"]
mod hostile;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hostile::fuzz_server(data);
});
