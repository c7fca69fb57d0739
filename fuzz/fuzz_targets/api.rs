//! The connection API driven by the fuzzer: a client and a server through an arbitrary
//! interleaving of every public call (process with arbitrary chunks of the bytes in flight,
//! encrypt, record_room + seal, echo, close_notify, key updates, EOF, key limits, verdicts in
//! deferred mode, into_rustls, 0-RTT, forged records, into_split and the halves' calls),
//! every invariant of the model checked after every step; both record layers where the
//! operations mean the same.
//!
//! Input: `[setup byte][setup byte][op byte, param byte]…` (see `tests/harness/api_model`).
#![no_main]

#[path = "../../tests/harness/hostile/mod.rs"]
mod hostile;

#[path = "../../tests/harness/api_model/mod.rs"]
mod api_model;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    api_model::run(data);
});
