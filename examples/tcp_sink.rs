//! Benchmark helper (not a product): a plain TCP sink for the one-way
//! loopback benchmark.
//!
//! It listens on `127.0.0.1:PORT` (default 0, any free port), prints
//! `listening on ADDR` on stderr, accepts one connection, copies everything it
//! receives to stdout until end-of-file, and exits. `llserver forward PORT`
//! and `buffered_server forward PORT` relay their plaintext to it;
//! `scripts/bench.sh` sends its stdout to a file and compares its SHA-256
//! with the payload's.
//!
//! Usage: `tcp_sink [PORT]`

use std::io::{self, Read, Write};
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
    // Large reads and writes: std's `io::copy` would use 8 KiB for a socket
    // into a file, and the sink should cost the benchmark as little as it
    // can.
    let mut buf = vec![0; 256 * 1024];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => break,
            Ok(num_bytes) => stdout.write_all(&buf[..num_bytes])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    stdout.flush()
}
