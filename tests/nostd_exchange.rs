//! The no_std check program's exchange (`nostd-check/`), run as a normal
//! test on this build's backend: the driver code that proves the no_std
//! build stays correct in every `cargo test`.

extern crate alloc;

#[path = "../nostd-check/src/exchange.rs"]
mod exchange;

use std::sync::Arc;

#[cfg(feature = "aws-lc-rs")]
use rustls::crypto::aws_lc_rs::default_provider;
#[cfg(not(feature = "aws-lc-rs"))]
use rustls::crypto::ring::default_provider;

#[test]
fn exchange_without_std_types_completes_both_versions() {
    for tls12 in [false, true] {
        let report = exchange::run(Arc::new(default_provider()), tls12, false)
            .unwrap_or_else(|error| panic!("TLS 1.2: {tls12}: {error}"));
        let version = if tls12 { "TLSv1_2" } else { "TLSv1_3" };
        assert!(report.starts_with(version), "{report}");
        assert!(report.contains("InPlace"), "{report}");
    }
}

#[test]
fn split_exchange_without_std_types_completes_both_versions() {
    for tls12 in [false, true] {
        let report = exchange::run(Arc::new(default_provider()), tls12, true)
            .unwrap_or_else(|error| panic!("TLS 1.2: {tls12}: {error}"));
        let version = if tls12 { "TLSv1_2" } else { "TLSv1_3" };
        assert!(report.starts_with(version), "{report}");
        assert!(report.contains("split halves"), "{report}");
    }
}

/// The halves on four threads: their shared state (a spin lock when the
/// library is built without std) contended by real threads, with
/// KeyUpdates in TLS 1.3.
#[test]
fn split_exchange_on_four_threads_completes_both_versions() {
    for tls12 in [false, true] {
        exchange::run_threaded(Arc::new(default_provider()), tls12)
            .unwrap_or_else(|error| panic!("TLS 1.2: {tls12}: {error}"));
    }
}
