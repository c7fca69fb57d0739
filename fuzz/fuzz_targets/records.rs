//! An echo server past its handshake, on the in-place record layer, fed post-handshake records
//! that a peer holding the real keys sealed from the fuzzer's choices (content types, padding,
//! lengths, key updates, tampering, raw bytes).
//!
//! Input: `[profile byte][chunk seed byte][ops…]` (see `tests/harness/hostile/records.rs`).
#![no_main]

#[path = "../../tests/harness/hostile/mod.rs"]
mod hostile;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hostile::records::fuzz_records(data);
});
