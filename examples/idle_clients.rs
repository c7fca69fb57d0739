//! Benchmark helper (not a product): opens many TLS connections from one
//! process and holds them idle, so `scripts/bench.sh` can measure what a
//! server's memory grows by per established, idle connection.
//!
//! Each connection completes the handshake (rustls's buffered client, TLS
//! 1.3 by default), sends `ping` and waits for the echo, so the server has
//! gone through its application-data path once. Connections are opened with
//! at most `--parallel` handshakes in flight, non-blocking on one mio event
//! loop. When all are established it prints `established N` on stdout and
//! holds them until stdin reaches end-of-file, then exits (closing them).
//! It fails, without holding anything, if any connection fails or the whole
//! does not finish within `--timeout` seconds.
//!
//! With `--partial-hello` each connection instead sends the first 12 KiB
//! of a handshake record whose header announces 16 KiB (a ClientHello that
//! never completes) and stalls there, so the measurement is what a server
//! holds per stalled handshake. It prints `stalled N` once every connection
//! has sent its bytes.
//!
//! Usage: `idle_clients --port PORT --cafile CA.pem --count N
//! [--parallel K] [--timeout SECS] [--partial-hello] [HOSTNAME]`

use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

const PING: &[u8] = b"ping";

/// `--partial-hello`: the record body announced, and how much of it is sent.
const PARTIAL_RECORD_LEN: usize = 16_384;
const PARTIAL_SENT: usize = 12 * 1024;

struct Args {
    port: u16,
    cafile: String,
    count: usize,
    parallel: usize,
    timeout: Duration,
    hostname: String,
    partial_hello: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut port = None;
    let mut cafile = None;
    let mut count = None;
    let mut parallel = 128;
    let mut timeout = 300;
    let mut hostname = "localhost".to_owned();
    let mut partial_hello = false;
    let mut args = std::env::args().skip(1);
    let number = |name: &str, value: Option<String>| -> Result<u64, String> {
        let value = value.ok_or_else(|| format!("{name} needs a value"))?;
        value.parse().map_err(|_| format!("bad {name} {value}"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = Some(number("--port", args.next())?),
            "--cafile" => cafile = Some(args.next().ok_or("--cafile needs a value")?),
            "--count" => count = Some(number("--count", args.next())? as usize),
            "--parallel" => parallel = number("--parallel", args.next())?.max(1) as usize,
            "--timeout" => timeout = number("--timeout", args.next())?,
            "--partial-hello" => partial_hello = true,
            other if !other.starts_with('-') => hostname = other.to_owned(),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        port: u16::try_from(port.ok_or("--port is required")?).map_err(|e| e.to_string())?,
        cafile: cafile.ok_or("--cafile is required")?,
        count: count.ok_or("--count is required")?,
        parallel,
        timeout: Duration::from_secs(timeout),
        hostname,
        partial_hello,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("idle_clients: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idle_clients: {e}");
            ExitCode::FAILURE
        }
    }
}

fn config(cafile: &str) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cafile).map_err(|e| format!("{cafile}: {e}"))? {
        roots
            .add(cert.map_err(|e| format!("{cafile}: {e}"))?)
            .map_err(|e| format!("{cafile}: {e}"))?;
    }
    let config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

struct Conn {
    socket: TcpStream,
    tls: ClientConnection,
    echoed: usize,
}

impl Conn {
    /// Moves bytes both ways; returns whether the connection is established
    /// (handshake done, ping echoed, nothing left to send).
    fn ready(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.socket) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        loop {
            match self.tls.read_tls(&mut self.socket) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {
                    self.tls
                        .process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    let mut buf = [0; 64];
                    loop {
                        match self.tls.reader().read(&mut buf) {
                            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                            Ok(n) => self.echoed += n,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // The server's tickets may still follow the echo; they are read if
        // they arrive before the measurement, and sit in the socket if not.
        Ok(self.echoed >= PING.len() && !self.tls.wants_write())
    }

    fn interest(&self) -> Interest {
        if self.tls.wants_write() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        }
    }
}

/// The first `PARTIAL_SENT` bytes of a handshake record announcing
/// `PARTIAL_RECORD_LEN` bytes: a ClientHello's record and message headers,
/// then zeros (nothing past the headers is parsed before the record is
/// complete).
fn partial_hello() -> Vec<u8> {
    let record_len = u16::try_from(PARTIAL_RECORD_LEN).expect("a record length fits 16 bits");
    let message_len = PARTIAL_RECORD_LEN - 4;
    let mut bytes = vec![22, 3, 1];
    bytes.extend_from_slice(&record_len.to_be_bytes());
    // handshake type client_hello, 24-bit length, legacy_version TLS 1.2
    bytes.push(1);
    bytes.extend_from_slice(&u32::try_from(message_len).expect("small").to_be_bytes()[1..]);
    bytes.extend_from_slice(&[3, 3]);
    bytes.resize(5 + PARTIAL_SENT, 0);
    bytes
}

/// `--partial-hello`: opens the connections one after another, each sending
/// the partial record, and holds them until stdin ends.
fn run_partial(args: &Args, addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + args.timeout;
    let hello = partial_hello();
    let mut conns = Vec::with_capacity(args.count);
    for i in 0..args.count {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| {
                format!(
                    "only {i} of {} connections within {:?}",
                    args.count, args.timeout
                )
            })?;
        let mut socket = std::net::TcpStream::connect_timeout(&addr, left)
            .map_err(|e| format!("connection {i}: cannot connect: {e}"))?;
        socket
            .set_write_timeout(Some(left))
            .and_then(|()| socket.write_all(&hello))
            .map_err(|e| format!("connection {i}: {e}"))?;
        conns.push(socket);
    }
    hold(&format!("stalled {}", conns.len()), conns)
}

/// Says `line` on stdout, then holds `conns` open until stdin ends.
fn hold<T>(line: &str, conns: Vec<T>) -> Result<(), String> {
    let mut stdout = io::stdout();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .map_err(|e| e.to_string())?;
    let mut rest = Vec::new();
    let _ = io::stdin().read_to_end(&mut rest);
    drop(conns);
    Ok(())
}

fn run(args: &Args) -> Result<(), String> {
    let addr = (args.hostname.as_str(), args.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", args.hostname))?
        .next()
        .ok_or("no address")?;
    if args.partial_hello {
        return run_partial(args, addr);
    }
    let config = config(&args.cafile)?;
    let name = ServerName::try_from(args.hostname.clone()).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + args.timeout;

    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(1024);
    // Slot i holds connection i; established ones stay, out of the poll.
    let mut conns: Vec<Conn> = Vec::with_capacity(args.count);
    let mut in_flight = 0;
    let mut established = 0;
    while established < args.count {
        while in_flight < args.parallel && conns.len() < args.count {
            let socket = TcpStream::connect(addr).map_err(|e| format!("cannot connect: {e}"))?;
            let mut tls =
                ClientConnection::new(config.clone(), name.clone()).map_err(|e| e.to_string())?;
            // Queued now, sent right after the handshake.
            tls.writer().write_all(PING).map_err(|e| e.to_string())?;
            let mut conn = Conn {
                socket,
                tls,
                echoed: 0,
            };
            let interest = conn.interest();
            poll.registry()
                .register(&mut conn.socket, Token(conns.len()), interest)
                .map_err(|e| e.to_string())?;
            conns.push(conn);
            in_flight += 1;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(format!(
                "only {established} of {} connections established within {:?}",
                args.count, args.timeout
            ));
        }
        match poll.poll(&mut events, Some(deadline - now)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        }
        for event in events.iter() {
            let Some(conn) = conns.get_mut(event.token().0) else {
                continue;
            };
            let done = conn
                .ready()
                .map_err(|e| format!("connection {}: {e}", event.token().0))?;
            if done {
                poll.registry()
                    .deregister(&mut conn.socket)
                    .map_err(|e| e.to_string())?;
                established += 1;
                in_flight -= 1;
            } else {
                let interest = conn.interest();
                poll.registry()
                    .reregister(&mut conn.socket, event.token(), interest)
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    // Hold every connection until told to let go.
    hold(&format!("established {established}"), conns)
}
