//! A fresh client that sent its real ClientHello (and queued a request), fed arbitrary server
//! bytes in arbitrary chunks.
//!
//! Input: `[profile byte][chunk seed byte][server bytes…]` (see `tests/harness/hostile`).
#![no_main]

#[path = "../../tests/harness/hostile/mod.rs"]
mod hostile;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hostile::fuzz_client(data);
});
