//! The test suite's harness, one file per job. Every test file includes it with `mod harness;`
//! and uses its part:
//!
//! - [`process`]: `llserver`, `llclient`, `openssl` and scripts as child processes, with
//!   bounded waits, watched output, kill-on-drop guards, failure frames and /proc readings
//!   (only with the `programs` feature, which builds the binaries);
//! - [`net`]: loopback helpers: a TCP relay that records the TLS records crossing it, a plain
//!   TCP echo server, a blocking client on the library (for 0-RTT);
//! - [`logs`]: env_logger output parsed into events that compare across runs;
//! - [`configs`]: the test PKIs and rustls configurations for them;
//! - [`pair`]: a client and a server wired buffer to buffer, no sockets;
//! - [`data`]: seeded and random bytes, digests, byte search;
//! - [`hostile`]: hostile peers feeding one connection arbitrary bytes, with reproducible
//!   crypto; the fuzz targets include it too (`fuzz/fuzz_targets/*.rs`, `fuzz/examples/*.rs`,
//!   by `#[path]`), so it depends on nothing else here;
//! - [`api_model`]: a client and a server driven through arbitrary interleavings of every API
//!   call, with a model of what each may do checked after every step (`tests/api_model.rs`, and
//!   the `api` fuzz target, which includes it and `hostile` by `#[path]`).
//!
//! And here: paths in the repository and scratch space, the bounds every wait uses, and the
//! open-file limit of tests that hold many sockets.

// Each test binary includes the whole harness and uses a different part of it.
#![allow(dead_code)]

pub mod api_model;
pub mod configs;
pub mod data;
pub mod hostile;
pub mod logs;
pub mod net;
pub mod pair;
// Runs the programs, whose paths Cargo only gives test binaries built with them.
#[cfg(feature = "programs")]
pub mod process;

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

/// Upper bound for any one wait: a process to finish, an exchange, a socket read. Generous:
/// only a hang reaches it, and then the test fails instead of blocking.
pub const TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound for a server to say it is listening.
pub const STARTUP: Duration = Duration::from_secs(20);

/// The request upstream's client sends with `--http`.
pub const HTTP_REQUEST: &[u8] =
    b"GET / HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\nAccept-Encoding: identity\r\n\r\n";
/// What upstream's server (and llserver) answers in http mode, byte for byte.
pub const HTTP_RESPONSE: &[u8] =
    b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nHello world from rustls tlsserver\r\n";

/// Raises this process's soft limit on open files to its hard limit and
/// returns the soft limit now in force (the old one if it cannot be raised).
/// Children spawned afterwards (llserver) inherit it. Tests that hold many
/// sockets call it, so that a plain `cargo test` passes under the common soft
/// limit of 1024 when the hard limit is higher.
pub fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given, which we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 0;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    // rlim_t is u64 here, but not on every target.
    #[allow(clippy::useless_conversion)]
    u64::try_from(limit.rlim_cur).unwrap_or(u64::MAX)
}

/// A path inside the repository, as a string for command lines (`""`: the repository).
pub fn repo(rel: &str) -> String {
    format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// A fresh path for a scratch file, unique to this test binary and `name`.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("scratch");
    fs::create_dir_all(&dir).expect("create the scratch directory");
    dir.join(format!("{}-{name}", std::process::id()))
}

/// A fresh, empty scratch directory, unique to this test binary and `name`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = scratch(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}
