//! The crypto backend, chosen at build time: aws-lc-rs (the default; it
//! needs std) or ring (it works without). Both offer the same in-place AEAD
//! API (`LessSafeKey`, `Nonce`, `Aad`, seal and open in place), so the record
//! layer is written once, against this module; with both features on,
//! aws-lc-rs is used, as rustls prefers it.

#[cfg(feature = "aws-lc-rs")]
pub(crate) use aws_lc_rs::aead;
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
pub(crate) use ring::aead;

/// rustls's provider over the same backend (for the tracer's key schedule
/// and the crate's own tests).
#[cfg(feature = "aws-lc-rs")]
#[allow(unused_imports)] // Used by the tracer and tests only, which a no_std build leaves out.
pub(crate) use rustls::crypto::aws_lc_rs as provider;
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
#[allow(unused_imports)] // As above.
pub(crate) use rustls::crypto::ring as provider;

#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
compile_error!("lltls needs an AEAD backend: enable the `aws-lc-rs` or the `ring` feature");
