//! What `llclient` and `llserver` are made of, apart from the TLS core: the
//! command line ([`cli`]), the rustls configurations it describes
//! ([`config`]), the mio event-loop driver ([`net`]) and what becomes of
//! `--trace` and `--sequence-diagram` ([`trace_output`]), and failures in
//! words ([`report`]).
//!
//! Behind the default `programs` feature: it brings mio, clap, env_logger,
//! webpki-roots and jiff, which the library itself does not need.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

pub mod cli;
pub mod config;
pub mod net;
pub mod report;
pub mod trace_output;

/// Turns logging on for both programs: `--verbose` logs everything at trace
/// level, as upstream does; otherwise `RUST_LOG` decides, and without it
/// nothing is logged. Logs go to stderr in env_logger's default format, so
/// rustls's lines read exactly as upstream's.
pub fn init_logging(verbose: bool) {
    if verbose {
        env_logger::Builder::new().parse_filters("trace").init();
    } else if std::env::var_os("RUST_LOG").is_some() {
        env_logger::Builder::from_default_env().init();
    }
}

/// How a program ends: its exit code, or its error as one line on stderr
/// (`llclient: …`) and a failure exit, never a panic or a backtrace.
pub fn exit_code<E: std::fmt::Display>(
    program: &str,
    result: Result<std::process::ExitCode, E>,
) -> std::process::ExitCode {
    result.unwrap_or_else(|error| {
        eprintln!("{program}: {error}");
        std::process::ExitCode::FAILURE
    })
}
