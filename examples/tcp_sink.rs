//! Benchmark helper (not a product): a plain TCP sink for the one-way
//! loopback benchmark.
//!
//! It listens on `127.0.0.1:PORT` (default 0, any free port), prints
//! `listening on ADDR` on stderr, accepts one connection, copies everything it
//! receives to stdout until end-of-file, and exits. `llserver forward PORT`
//! and `buffered_server forward PORT` relay their plaintext to it;
//! `scripts/bench.sh` pipes its stdout into `sha256sum`.
//!
//! Usage: `tcp_sink [PORT]`

use std::io::{self, Write};
use std::net::TcpListener;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of stdout went away: nothing left to do.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcp_sink: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(port) => port
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad port"))?,
        None => 0,
    };
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    // Scripts read the port from this line (stdout carries the data).
    eprintln!("listening on {}", listener.local_addr()?);
    let (mut socket, _) = listener.accept()?;
    drop(listener);
    let mut stdout = io::stdout().lock();
    // std's `io::copy` moves socket → pipe with splice(2) where it can.
    io::copy(&mut socket, &mut stdout)?;
    stdout.flush()
}
