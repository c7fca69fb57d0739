//! Benchmark reference (not a product): a TLS client on rustls's buffered
//! `ClientConnection`, built the way rustls's `tlsclient-mio` example is, so
//! that `scripts/bench.sh` can compare `llclient` with the buffered API on
//! the same work.
//!
//! Like upstream it has one mio event loop, registers interest from
//! `wants_read`/`wants_write`, does one `read_tls` and one `write_tls` per
//! readiness event, copies received plaintext out with `reader()` into a
//! fresh `Vec` and writes it to stdout, and prints `Connection closed` at the
//! end. Fixed where upstream falls short, so that the comparison measures the
//! API rather than those bugs:
//!
//! - upstream reads all of stdin before connecting and panics at 64 KiB
//!   (`writer().write_all` past rustls's buffer limit); here a thread streams
//!   stdin in 64 KiB chunks (as llclient does) and plaintext goes in as fast
//!   as `writer().write` takes it, which is backpressure;
//! - upstream never exits in echo mode; here stdin's end sends close_notify,
//!   and the client exits once the server has closed too;
//! - errors are reported, not unwrapped.
//!
//! `--drain` reads and writes until `WouldBlock` on every event instead of
//! once, and reuses one plaintext buffer: what a careful user of the buffered
//! API would write (rustls still reads at most 4 KiB per `read_tls` while no
//! partial record is buffered).
//!
//! Usage: `buffered_client --port PORT --cafile CA.pem [--drain] HOSTNAME`

use std::io::{self, Read, Write};
use std::net::ToSocketAddrs;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::thread;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

const CLIENT: Token = Token(0);
const STDIN: Token = Token(1);

/// stdin is read in chunks of this size, as llclient does.
const STDIN_CHUNK: usize = 64 * 1024;
/// Chunks the stdin thread may read ahead.
const STDIN_QUEUE: usize = 4;
/// Plaintext buffer for `--drain`.
const READ_BUF: usize = 64 * 1024;

struct Args {
    port: u16,
    cafile: String,
    drain: bool,
    hostname: String,
}

fn parse_args() -> Result<Args, String> {
    let mut port = None;
    let mut cafile = None;
    let mut drain = false;
    let mut hostname = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or("--port needs a value")?;
                port = Some(value.parse().map_err(|_| format!("bad port {value}"))?);
            }
            "--cafile" => cafile = Some(args.next().ok_or("--cafile needs a value")?),
            "--drain" => drain = true,
            other if !other.starts_with('-') && hostname.is_none() => {
                hostname = Some(other.to_owned());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        port: port.ok_or("--port is required")?,
        cafile: cafile.ok_or("--cafile is required")?,
        drain,
        hostname: hostname.ok_or("HOSTNAME is required")?,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("buffered_client: {e}");
            eprintln!("usage: buffered_client --port PORT --cafile CA.pem [--drain] HOSTNAME");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("buffered_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn config(cafile: &str) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let certs =
        CertificateDer::pem_file_iter(cafile).map_err(|e| format!("cannot read {cafile}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("cannot read {cafile}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{cafile}: {e}"))?;
    }
    // The aws-lc-rs provider and its defaults, as upstream and llclient.
    let config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

fn run(args: &Args) -> Result<ExitCode, String> {
    let config = config(&args.cafile)?;
    let addr = (args.hostname.as_str(), args.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", args.hostname))?
        .next()
        .ok_or_else(|| format!("no address for {}", args.hostname))?;
    let name = ServerName::try_from(args.hostname.clone())
        .map_err(|_| format!("invalid server name {}", args.hostname))?;
    let tls = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let socket = TcpStream::connect(addr).map_err(|e| format!("cannot connect: {e}"))?;
    // The same socket options as llclient.
    let _ = socket.set_nodelay(true);

    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    // The event loop keeps a reference: mio drops the events of a Waker
    // once its last handle is gone, and the reader thread ends right after
    // its last wake-up (stdin's end), which would then be lost.
    let waker = Arc::new(Waker::new(poll.registry(), STDIN).map_err(|e| e.to_string())?);
    let stdin = spawn_stdin_reader(waker.clone());
    let mut client = Client {
        socket,
        tls,
        drain: args.drain,
        pending: Vec::new(),
        pending_start: 0,
        stdin_done: false,
        close_sent: false,
        peer_closed: false,
        eof: false,
        read_buf: vec![0; if args.drain { READ_BUF } else { 0 }],
        stdout: io::stdout().lock(),
    };
    let interest = client.interest();
    poll.registry()
        .register(&mut client.socket, CLIENT, interest)
        .map_err(|e| e.to_string())?;

    let mut events = Events::with_capacity(16);
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        }
        for event in events.iter() {
            if event.token() == CLIENT {
                if event.is_readable() {
                    client.do_read()?;
                }
                if event.is_writable() {
                    client.do_write()?;
                }
            }
        }
        client.feed(&stdin)?;
        if client.eof || (client.peer_closed && !client.tls.wants_write()) {
            break;
        }
        let interest = client.interest();
        poll.registry()
            .reregister(&mut client.socket, CLIENT, interest)
            .map_err(|e| e.to_string())?;
    }
    drop(waker);
    client.stdout.flush().map_err(|e| e.to_string())?;
    // As upstream, on stdout.
    let _ = writeln!(client.stdout, "Connection closed");
    Ok(if client.peer_closed {
        ExitCode::SUCCESS
    } else {
        eprintln!("buffered_client: connection closed without close_notify");
        ExitCode::FAILURE
    })
}

struct Client {
    socket: TcpStream,
    tls: ClientConnection,
    drain: bool,
    /// The stdin chunk being fed to `writer()`, and how much it took.
    pending: Vec<u8>,
    pending_start: usize,
    stdin_done: bool,
    close_sent: bool,
    peer_closed: bool,
    eof: bool,
    read_buf: Vec<u8>,
    stdout: io::StdoutLock<'static>,
}

impl Client {
    fn interest(&self) -> Interest {
        let read = self.tls.wants_read();
        let write = self.tls.wants_write();
        match (read, write) {
            (_, false) => Interest::READABLE,
            (false, true) => Interest::WRITABLE,
            (true, true) => Interest::READABLE | Interest::WRITABLE,
        }
    }

    fn do_read(&mut self) -> Result<(), String> {
        loop {
            match self.tls.read_tls(&mut self.socket) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("TLS read error: {e}")),
            }
            let state = self
                .tls
                .process_new_packets()
                .map_err(|e| format!("TLS error: {e}"))?;
            if self.drain {
                loop {
                    match self.tls.reader().read(&mut self.read_buf) {
                        Ok(0) => break,
                        Ok(n) => self.write_stdout(n)?,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(format!("TLS read error: {e}")),
                    }
                }
            } else if state.plaintext_bytes_to_read() > 0 {
                // Upstream's way: a fresh buffer of exactly what is there.
                let mut plaintext = vec![0; state.plaintext_bytes_to_read()];
                self.tls
                    .reader()
                    .read_exact(&mut plaintext)
                    .map_err(|e| e.to_string())?;
                self.stdout
                    .write_all(&plaintext)
                    .map_err(|e| format!("cannot write stdout: {e}"))?;
            }
            if state.peer_has_closed() {
                self.peer_closed = true;
            }
            if !self.drain || self.peer_closed {
                return Ok(());
            }
        }
    }

    fn write_stdout(&mut self, num_bytes: usize) -> Result<(), String> {
        self.stdout
            .write_all(&self.read_buf[..num_bytes])
            .map_err(|e| format!("cannot write stdout: {e}"))
    }

    fn do_write(&mut self) -> Result<(), String> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.socket) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("TLS write error: {e}")),
            }
            if !self.drain {
                break;
            }
        }
        Ok(())
    }

    /// Moves stdin plaintext into rustls while it takes it; sends
    /// close_notify after the last byte.
    fn feed(&mut self, stdin: &Receiver<StdinChunk>) -> Result<(), String> {
        loop {
            if self.pending_start < self.pending.len() {
                let taken = self
                    .tls
                    .writer()
                    .write(&self.pending[self.pending_start..])
                    .map_err(|e| e.to_string())?;
                self.pending_start += taken;
                if self.pending_start < self.pending.len() {
                    // rustls's buffer is full: wait for the socket.
                    return Ok(());
                }
            }
            if self.stdin_done {
                if !self.close_sent && !self.tls.is_handshaking() {
                    self.tls.send_close_notify();
                    self.close_sent = true;
                }
                return Ok(());
            }
            match stdin.try_recv() {
                Ok(StdinChunk::Data(chunk)) => {
                    self.pending = chunk;
                    self.pending_start = 0;
                }
                Ok(StdinChunk::Eof) | Err(TryRecvError::Disconnected) => self.stdin_done = true,
                Ok(StdinChunk::Failed(e)) => return Err(format!("cannot read stdin: {e}")),
                Err(TryRecvError::Empty) => return Ok(()),
            }
        }
    }
}

enum StdinChunk {
    Data(Vec<u8>),
    Eof,
    Failed(io::Error),
}

/// Reads stdin on a thread over a bounded channel (as llclient does): when
/// the connection stops taking plaintext, the channel fills and stdin is no
/// longer read.
fn spawn_stdin_reader(waker: Arc<Waker>) -> Receiver<StdinChunk> {
    let (sender, receiver) = mpsc::sync_channel(STDIN_QUEUE);
    thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        loop {
            let mut chunk = vec![0; STDIN_CHUNK];
            let message = match stdin.read(&mut chunk) {
                Ok(0) => StdinChunk::Eof,
                Ok(num_bytes) => {
                    chunk.truncate(num_bytes);
                    StdinChunk::Data(chunk)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => StdinChunk::Failed(e),
            };
            let last = !matches!(message, StdinChunk::Data(_));
            if sender.send(message).is_err() || waker.wake().is_err() || last {
                return;
            }
        }
    });
    receiver
}
