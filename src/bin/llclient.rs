//! `llclient`: a drop-in replacement for rustls's `tlsclient-mio`, built on
//! lltls's caller-managed buffers.
//!
//! It connects to HOSTNAME:PORT, sends `--http`'s request or streams stdin
//! (queued before the handshake completes, so it leaves with the client's
//! Finished, as upstream), and prints what the server sends on stdout.

use std::fmt;
use std::fs::File;
use std::io::{self, IoSliceMut, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use lltls::programs::cli::ClientArgs;
use lltls::programs::config::{client_setup, deferred_client_config, ConfigError};
use lltls::programs::net::{
    Check, Closed, Handler, LingerEnd, NetError, Outbox, TlsConn, VerifyPool, BACKLOG_LIMIT,
};
use lltls::programs::report::Readable;
use lltls::programs::trace_output::{DiagramError, TraceOutput, TraceSettings};
use lltls::trace::Role;
use lltls::{HandshakeInfo, LlClientConnection};
use log::debug;
use mio::net::{TcpStream, UnixStream};
use mio::{Events, Interest, Poll, Token, Waker};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;

const CLIENT: Token = Token(0);
const STDIN: Token = Token(1);
/// `--verify-async`: a verdict came back from the worker.
const VERIFY: Token = Token(2);

/// Most records a regular file is read into with one `readv(2)`.
const FILE_RECORDS: usize = 16;
/// Plaintext of a full record (2^14 bytes), to size that read.
const RECORD_PLAINTEXT: usize = 16 * 1024;
/// Size of one read from stdin.
const STDIN_CHUNK: usize = 64 * 1024;
/// Chunks the stdin thread may read ahead of the connection.
const STDIN_QUEUE: usize = 4;
/// How long, once the server stopped the transfer, llclient waits for the
/// stdin thread's next report (data or end of input) before it takes stdin
/// for still open. Reading a stdin that has ended takes the thread no time;
/// this bounds the wait for one that stays open (a terminal, a pipe whose
/// writer is idle).
const STDIN_END_WAIT: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let args = ClientArgs::parse();
    lltls::programs::init_logging(args.verbose);
    lltls::programs::exit_code("llclient", run(&args))
}

fn run(args: &ClientArgs) -> Result<ExitCode, ClientError> {
    let setup = client_setup(args).map_err(ClientError::Config)?;
    let (mut config, diagnostics) = (setup.config, setup.diagnostics);
    let trace_settings =
        TraceSettings::client(args.trace, args.sequence_diagram.as_deref(), &mut config)
            .map_err(ClientError::Diagram)?;
    let server_name = ServerName::try_from(args.hostname.as_str())
        .map_err(|_| ClientError::InvalidName(args.hostname.clone()))?
        .to_owned();
    let mut addrs = resolve(&args.hostname, args.port)?.into_iter();
    let conn = if args.verify_async {
        let deferred = deferred_client_config(args, config, setup.verifier.clone())
            .map_err(ClientError::Config)?;
        LlClientConnection::deferred(&deferred, server_name)
    } else {
        LlClientConnection::with_record_layer(config, server_name, args.record_layer.into())
    }
    .map_err(NetError::Tls)?;

    let linger_time = Duration::from_millis(args.linger_ms);
    let mut poll = Poll::new().map_err(ClientError::Poll)?;
    let verify = match args.verify_async {
        true => Some(verify_pool(&poll, setup.verifier, args.verify_delay_ms)?),
        false => None,
    };
    let mut addr = next_addr(&mut addrs, args)?;
    let socket = connect(addr, args)?;
    let mut tls = TlsConn::connecting(socket, conn);
    let mut trace = trace_settings.map(|settings| settings.attach(&mut tls, Role::Client));
    // Reading the socket only produces stdout: it must go on while our own
    // sends wait, or client and echo server would each wait for the other to
    // read. Backpressure applies to stdin instead (`feed_stdin`).
    tls.set_read_backpressure(false);
    tls.register(poll.registry(), CLIENT)
        .map_err(ClientError::Poll)?;

    let mut stdin = None;
    let mut stdin_file = None;
    if args.http {
        tls.outbox().push(http_request(&args.hostname).as_bytes());
    } else if let Some(file) = regular_file_stdin() {
        debug!("stdin is a file: reading it straight into TLS records");
        stdin_file = Some(FileInput { file, eof: false });
    } else {
        stdin = Some(StdinReader::spawn(poll.registry()).map_err(ClientError::Poll)?);
    }

    let mut stdout = Stdout(io::stdout().lock());
    let mut events = Events::with_capacity(64);
    let deadline = HandshakeDeadline::start(args);
    loop {
        let input_ready = stdin_file.as_ref().is_some_and(|input| input.wants(&tls));
        let mut timeout = (tls.needs_drive() || input_ready).then_some(Duration::ZERO);
        if let Some(deadline) = &deadline {
            match deadline.time_left(&tls) {
                Some(left) => timeout = Some(timeout.map_or(left, |t| t.min(left))),
                None if tls.is_handshaking() => {
                    finish_trace(&mut trace, &mut tls)?;
                    return Err(deadline.expired(args, &tls));
                }
                None => {}
            }
        }
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ClientError::Poll(e)),
        }
        let mut result = Ok(());
        for event in events.iter() {
            match event.token() {
                CLIENT => result = result.and_then(|()| tls.ready(event, &mut stdout)),
                // Chunks wait in the channel: taken below.
                STDIN => {
                    if let Some(reader) = &mut stdin {
                        reader.clear_wakeups();
                    }
                }
                _ => {}
            }
        }
        if events.is_empty() && tls.needs_drive() {
            result = result.and_then(|()| tls.drive(&mut stdout));
        }
        if let Some(reader) = &stdin {
            if reader.feed(&mut tls)? {
                result = result.and_then(|()| tls.drive(&mut stdout));
            }
        }
        if let Some(input) = &mut stdin_file {
            match input.feed(&mut tls) {
                Ok(true) => result = result.and_then(|()| tls.drive(&mut stdout)),
                Ok(false) => {}
                Err(Ok(error)) => result = result.and(Err(error)),
                Err(Err(error)) => return Err(ClientError::Stdin(error)),
            }
        }
        if let Some(pool) = &verify {
            result = result.and_then(|()| verify_async(pool, &mut tls, &mut stdout));
        }
        if let Some(trace) = &mut trace {
            trace.take(&mut tls);
        }
        match result {
            Ok(()) => {}
            Err(NetError::Connect(error)) => {
                // Try the host's next address, as a blocking connect would.
                debug!("cannot connect to {addr}: {error}");
                addr = match addrs.next() {
                    Some(next) => next,
                    None => return Err(connect_error(args, error)),
                };
                let socket = connect(addr, args)?;
                tls.retry_connect(poll.registry(), socket)
                    .map_err(ClientError::Poll)?;
                continue;
            }
            Err(NetError::Sink(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
                finish_trace(&mut trace, &mut tls)?;
                return Ok(ExitCode::SUCCESS);
            }
            Err(error) => {
                let queued = !tls.outbox().is_empty();
                // The peer gets to read our fatal alert before the close;
                // the trace (of a failed connection: the interesting one)
                // ends after it.
                linger(&mut poll, &mut tls, linger_time);
                finish_trace(&mut trace, &mut tls)?;
                // A stdin error matters less than the connection's: it
                // counts as input left.
                let unsent = unsent_input(args, &mut tls, queued, stdin.as_ref())
                    .unwrap_or(Some(Unsent::More));
                return Err(ClientError::Net {
                    error,
                    detail: diagnostics.last_rejection(),
                    unsent: unsent.map(|unsent| (tls.plaintext_sent(), unsent)),
                });
            }
        }
        if let Err(e) = stdout.0.flush() {
            return stdout_error(e);
        }
        // Done once the server closed and everything we had to send is out
        // (also when the server closes first, as in http mode).
        if tls.is_done() || (tls.peer_closed() && tls.is_flushed()) {
            // Taken before the answer, which drops what is queued.
            let queued = !tls.outbox().is_empty();
            // Our close_notify answers the server's (upstream's client
            // sends none).
            if let Err(error) = tls.answer_close_notify() {
                debug!("cannot answer the server's close_notify: {error}");
            }
            // Our last record leaves while lingering: the trace ends after
            // it. Whether input was left is decided after that, as it may
            // wait for stdin.
            linger(&mut poll, &mut tls, linger_time);
            finish_trace(&mut trace, &mut tls)?;
            if let Some(unsent) = unsent_input(args, &mut tls, queued, stdin.as_ref())? {
                // The server closed before we sent all we had: an error,
                // not a clean end.
                return Err(ClientError::PeerClosedEarly {
                    sent: tls.plaintext_sent(),
                    unsent,
                });
            }
            break;
        }
        tls.reregister(poll.registry()).map_err(ClientError::Poll)?;
    }
    if let Err(e) = stdout.0.flush() {
        return stdout_error(e);
    }
    // Upstream's wording; upstream prints it on stdout, but stdout carries the
    // peer's data alone, so that `llclient < in > out` echoes byte for byte.
    eprintln!("Connection closed");
    Ok(ExitCode::SUCCESS)
}

/// `--handshake-timeout`: when connecting and the handshake (with
/// `--verify-async`, the verdict too) must be over.
struct HandshakeDeadline {
    at: Instant,
    secs: u64,
}

impl HandshakeDeadline {
    /// `None` for `--handshake-timeout 0`: no limit.
    fn start(args: &ClientArgs) -> Option<Self> {
        let secs = args.handshake_timeout;
        (secs > 0).then(|| Self {
            at: Instant::now() + Duration::from_secs(secs),
            secs,
        })
    }

    /// How long the loop may sleep before the deadline, while the handshake
    /// is in progress; `None` once it is over or the deadline passed.
    fn time_left(&self, tls: &TlsConn<UnbufferedClientConnection>) -> Option<Duration> {
        let left = self.at.saturating_duration_since(Instant::now());
        (tls.is_handshaking() && !left.is_zero()).then_some(left)
    }

    fn expired(&self, args: &ClientArgs, tls: &TlsConn<UnbufferedClientConnection>) -> ClientError {
        let what = match tls.is_connecting() {
            true => "connecting to",
            false => "waiting for the TLS handshake with",
        };
        ClientError::Timeout {
            what,
            secs: self.secs,
            hostname: args.hostname.clone(),
            port: args.port,
        }
    }
}

/// `--verify-async`: one worker thread checks the server's chain with the
/// verifier normal mode uses, and wakes the loop with its verdict.
fn verify_pool(
    poll: &Poll,
    verifier: Arc<dyn ServerCertVerifier>,
    delay_ms: u64,
) -> Result<VerifyPool, ClientError> {
    let waker = Arc::new(Waker::new(poll.registry(), VERIFY).map_err(ClientError::Poll)?);
    let check: Check = Arc::new(move |certificates| certificates.verify_server(&*verifier));
    Ok(VerifyPool::spawn(
        1,
        check,
        Duration::from_millis(delay_ms),
        waker,
    ))
}

/// Hands a chain the server just presented to the worker, and a verdict
/// that came back to the connection.
fn verify_async(
    pool: &VerifyPool,
    tls: &mut TlsConn<UnbufferedClientConnection>,
    stdout: &mut Stdout,
) -> Result<(), NetError> {
    if let Some(certificates) = tls.take_presented() {
        if let Err(error) = pool.submit(0, certificates) {
            tls.peer_verified(Err(error))?;
            return tls.drive(stdout);
        }
    }
    for (_, verdict) in pool.verdicts() {
        tls.peer_verified(verdict)?;
        tls.drive(stdout)?;
    }
    Ok(())
}

/// What was left to send when the server stopped the transfer.
#[derive(Debug, Clone, Copy)]
enum Unsent {
    /// Plaintext queued, or read from stdin and not sent.
    More,
    /// Stdin neither gave data nor ended within [`STDIN_END_WAIT`].
    StdinOpen,
}

impl fmt::Display for Unsent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::More => write!(f, "with more to send"),
            Self::StdinOpen => write!(
                f,
                "before the end of stdin (still open {}s later)",
                STDIN_END_WAIT.as_secs()
            ),
        }
    }
}

/// Whether some of what we were to send after the handshake had not been
/// sent, once the connection is over: plaintext still queued (`queued`, as
/// it was when the server stopped), or stdin not read to its end. (`--http`
/// sends one request and no end of input: only what is queued counts.)
///
/// Stdin the thread reads may have ended without the event loop hearing of
/// it yet: then this waits (boundedly) for the thread's next report.
fn unsent_input(
    args: &ClientArgs,
    tls: &mut TlsConn<UnbufferedClientConnection>,
    queued: bool,
    stdin: Option<&StdinReader>,
) -> Result<Option<Unsent>, ClientError> {
    // Before the handshake completes nothing is sent, and the error says
    // enough on its own.
    if tls.handshake_info().is_none() {
        return Ok(None);
    }
    if queued {
        return Ok(Some(Unsent::More));
    }
    if args.http || tls.outbox().is_closing() {
        return Ok(None);
    }
    match stdin {
        Some(reader) => match reader.next_report(STDIN_END_WAIT) {
            StdinReport::Ended => Ok(None),
            StdinReport::Data => Ok(Some(Unsent::More)),
            StdinReport::Open => Ok(Some(Unsent::StdinOpen)),
            StdinReport::Failed(error) => Err(ClientError::Stdin(error)),
        },
        // A regular file not read to its end.
        None => Ok(Some(Unsent::More)),
    }
}

/// Closes: when we queued a last record (close_notify or a fatal alert),
/// it goes out, the write side is shut down, and what the server still
/// sends is read and dropped until it closes, for at most `time`, so that
/// it can read that record rather than get a reset. Logs what the close
/// did on the wire.
fn linger(poll: &mut Poll, tls: &mut TlsConn<UnbufferedClientConnection>, time: Duration) {
    let closed = match tls.start_linger() {
        Some(closed) => closed,
        None => linger_loop(poll, tls, Instant::now() + time),
    };
    debug!("{closed}");
}

/// Drives lingering until it ends or `deadline` passes.
fn linger_loop(
    poll: &mut Poll,
    tls: &mut TlsConn<UnbufferedClientConnection>,
    deadline: Instant,
) -> Closed {
    let mut events = Events::with_capacity(8);
    loop {
        let now = Instant::now();
        if now >= deadline {
            return tls.stop_linger(LingerEnd::TimeLimit);
        }
        if let Err(e) = tls.reregister(poll.registry()) {
            return tls.stop_linger(LingerEnd::EventLoop(e));
        }
        match poll.poll(&mut events, Some(deadline - now)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return tls.stop_linger(LingerEnd::EventLoop(e)),
        }
        for event in events.iter() {
            if event.token() == CLIENT {
                if let Some(closed) = tls.linger(Some(event)) {
                    return closed;
                }
            }
        }
    }
}

/// The connection ended: the rest of its trace, and the diagram.
fn finish_trace(
    trace: &mut Option<TraceOutput>,
    tls: &mut TlsConn<UnbufferedClientConnection>,
) -> Result<(), ClientError> {
    match trace {
        Some(trace) => trace.finish(tls).map_err(ClientError::Diagram),
        None => Ok(()),
    }
}

/// A closed stdout (e.g. `| head`) ends the program quietly, as ripgrep does.
fn stdout_error(error: io::Error) -> Result<ExitCode, ClientError> {
    if error.kind() == io::ErrorKind::BrokenPipe {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(ClientError::Stdout(error))
    }
}

/// Upstream's `--http` request, byte for byte.
fn http_request(hostname: &str) -> String {
    format!(
        "GET / HTTP/1.0\r\nHost: {hostname}\r\nConnection: close\r\nAccept-Encoding: identity\r\n\r\n"
    )
}

fn resolve(hostname: &str, port: u16) -> Result<Vec<SocketAddr>, ClientError> {
    let addrs: Vec<SocketAddr> = (hostname, port)
        .to_socket_addrs()
        .map_err(|error| ClientError::Resolve {
            hostname: hostname.to_owned(),
            error,
        })?
        .collect();
    debug!("{hostname} resolves to {addrs:?}");
    Ok(addrs)
}

fn next_addr(
    addrs: &mut impl Iterator<Item = SocketAddr>,
    args: &ClientArgs,
) -> Result<SocketAddr, ClientError> {
    addrs.next().ok_or_else(|| ClientError::Resolve {
        hostname: args.hostname.clone(),
        error: io::Error::new(io::ErrorKind::NotFound, "no addresses found"),
    })
}

/// Starts a non-blocking connect; its outcome arrives as a mio event.
fn connect(addr: SocketAddr, args: &ClientArgs) -> Result<TcpStream, ClientError> {
    debug!("connecting to {addr}");
    let socket = TcpStream::connect(addr).map_err(|error| connect_error(args, error))?;
    // Small records (interactive use, the last piece of a flight) should not
    // wait for Nagle's algorithm.
    if let Err(error) = socket.set_nodelay(true) {
        debug!("cannot set TCP_NODELAY: {error}");
    }
    Ok(socket)
}

fn connect_error(args: &ClientArgs, error: io::Error) -> ClientError {
    ClientError::Connect {
        hostname: args.hostname.clone(),
        port: args.port,
        error,
    }
}

/// Writes received plaintext to stdout.
struct Stdout(io::StdoutLock<'static>);

impl Handler for Stdout {
    fn plaintext(&mut self, plaintext: &[u8], _: &mut Outbox) -> io::Result<()> {
        self.0.write_all(plaintext)
    }

    fn handshake_complete(&mut self, info: &HandshakeInfo, _: &mut Outbox) {
        if let Some(protocol) = &info.alpn_protocol {
            debug!("ALPN protocol: {}", String::from_utf8_lossy(protocol));
        }
    }
}

/// Stdin when it is a regular file, which is always ready to read: it is
/// read on the event loop, straight into the body of the next TLS record
/// (`TlsConn::send_with`), so the plaintext is never copied in user space.
/// Pipes and terminals go through [`StdinReader`] instead.
struct FileInput {
    file: File,
    eof: bool,
}

impl FileInput {
    /// Whether there is more to read and room to send it now, so the loop
    /// should not sleep.
    fn wants(&self, tls: &TlsConn<UnbufferedClientConnection>) -> bool {
        !self.eof && !tls.is_handshaking() && tls.backlog() < BACKLOG_LIMIT
    }

    /// Reads into records while the backlog is under the bound. Returns
    /// whether anything changed, or the connection's error (`Ok`) or
    /// stdin's (`Err`).
    fn feed(
        &mut self,
        tls: &mut TlsConn<UnbufferedClientConnection>,
    ) -> Result<bool, Result<NetError, io::Error>> {
        let mut fed = false;
        while !self.eof && tls.backlog() < BACKLOG_LIMIT {
            // Up to the bound, in one read for several records.
            let records = (BACKLOG_LIMIT - tls.backlog())
                .div_ceil(RECORD_PLAINTEXT)
                .min(FILE_RECORDS);
            let read = tls.send_into_rooms(records, |rooms| {
                let mut slices: [IoSliceMut<'_>; FILE_RECORDS] =
                    std::array::from_fn(|_| IoSliceMut::new(&mut []));
                let mut count = 0;
                for (slice, room) in slices.iter_mut().zip(rooms) {
                    *slice = IoSliceMut::new(room);
                    count += 1;
                }
                loop {
                    match self.file.read_vectored(&mut slices[..count]) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        other => break other,
                    }
                }
            });
            match read.map_err(Ok)? {
                None => break,
                Some(Ok(0)) => {
                    debug!("stdin eof");
                    self.eof = true;
                    tls.outbox().close();
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(Err(error)),
            }
            fed = true;
        }
        Ok(fed)
    }
}

/// Stdin as a file, if it is a regular one.
fn regular_file_stdin() -> Option<File> {
    let fd = io::stdin().as_fd().try_clone_to_owned().ok()?;
    let file = File::from(fd);
    file.metadata().ok()?.is_file().then_some(file)
}

/// Reads stdin on a thread, in chunks, over a bounded channel: when the
/// connection stops taking data (backpressure), the channel fills, the
/// thread blocks, and stdin is no longer read. A thread works for every kind
/// of stdin (files, pipes, terminals), which mio cannot poll alike; polling a
/// pipe or terminal would also need O_NONBLOCK, a flag of the open file that
/// the shell and other processes holding the same stdin would see too. So
/// only a regular file is read straight into records (`FileInput`).
struct StdinReader {
    chunks: Receiver<StdinChunk>,
    /// Readable when the thread sent chunks. A socket pair rather than
    /// `mio::Waker`: the thread exits right after its last wake-up, and a
    /// `Waker` dropped there closes its eventfd, which makes epoll discard
    /// the wake-up still pending (the loop then sleeps on data waiting in
    /// the channel). A socket's closed peer is one more event instead.
    wakeups: UnixStream,
}

impl StdinReader {
    fn spawn(registry: &mio::Registry) -> io::Result<Self> {
        let (mut wakeups, waker) = UnixStream::pair()?;
        registry.register(&mut wakeups, STDIN, Interest::READABLE)?;
        let (sender, chunks) = mpsc::sync_channel(STDIN_QUEUE);
        thread::spawn(move || read_stdin(&sender, waker));
        Ok(Self { chunks, wakeups })
    }

    /// Drains the wake-up socket so the next wake-up is an edge again.
    fn clear_wakeups(&mut self) {
        let mut buf = [0; 64];
        // WouldBlock (drained) and errors (thread gone) both end it.
        while matches!(self.wakeups.read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Moves chunks into the connection while its backlog is under the
    /// bound. Returns whether anything changed.
    fn feed(&self, tls: &mut TlsConn<UnbufferedClientConnection>) -> Result<bool, ClientError> {
        let mut fed = false;
        while tls.backlog() < BACKLOG_LIMIT && !tls.outbox().is_closing() {
            match self.chunks.try_recv() {
                Ok(StdinChunk::Data(chunk)) => tls.outbox().push(&chunk),
                Ok(StdinChunk::Eof) | Err(TryRecvError::Disconnected) => {
                    debug!("stdin eof: closing after {}B", tls.outbox().len());
                    tls.outbox().close();
                }
                Ok(StdinChunk::Failed(error)) => return Err(ClientError::Stdin(error)),
                Err(TryRecvError::Empty) => break,
            }
            fed = true;
        }
        Ok(fed)
    }

    /// Waits at most `bound` for the thread's next report, for a connection
    /// that is over: its end-of-input may still be on its way. Blocks on the
    /// channel (no polling); a report already waiting comes at once.
    fn next_report(&self, bound: Duration) -> StdinReport {
        let report = match self.chunks.try_recv() {
            Ok(chunk) => Ok(chunk),
            Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
            Err(TryRecvError::Empty) => {
                debug!("the connection is over: waiting up to {bound:?} for stdin to end");
                self.chunks.recv_timeout(bound)
            }
        };
        match report {
            Ok(StdinChunk::Data(chunk)) => {
                debug!("stdin: {}B more after the connection ended", chunk.len());
                StdinReport::Data
            }
            Ok(StdinChunk::Eof) | Err(RecvTimeoutError::Disconnected) => {
                debug!("stdin eof, after the connection ended");
                StdinReport::Ended
            }
            Ok(StdinChunk::Failed(error)) => StdinReport::Failed(error),
            Err(RecvTimeoutError::Timeout) => {
                debug!("stdin still open {bound:?} after the connection ended");
                StdinReport::Open
            }
        }
    }
}

/// The stdin thread's next report, awaited once the connection is over.
enum StdinReport {
    /// Stdin ended (or the thread is gone).
    Ended,
    /// More data: input that was never sent.
    Data,
    /// Nothing came within the bound.
    Open,
    Failed(io::Error),
}

/// What the stdin thread sends.
enum StdinChunk {
    Data(Vec<u8>),
    Eof,
    Failed(io::Error),
}

fn read_stdin(sender: &SyncSender<StdinChunk>, mut waker: UnixStream) {
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
        // A failed send means the event loop is gone: stop quietly.
        if sender.send(message).is_err() {
            return;
        }
        // WouldBlock means wake-ups are already pending: one is enough.
        if let Err(e) = waker.write(&[1]) {
            if e.kind() != io::ErrorKind::WouldBlock {
                return;
            }
        }
        if last {
            return;
        }
    }
}

/// Why `llclient` failed; each is one line.
#[derive(Debug)]
enum ClientError {
    Config(ConfigError),
    InvalidName(String),
    Resolve {
        hostname: String,
        error: io::Error,
    },
    Connect {
        hostname: String,
        port: u16,
        error: io::Error,
    },
    /// `--handshake-timeout` passed: `what` (e.g. "connecting to") was
    /// still going on.
    Timeout {
        what: &'static str,
        secs: u64,
        hostname: String,
        port: u16,
    },
    Net {
        error: NetError,
        /// What the certificate verifier noted, when it rejected the server's.
        detail: Option<String>,
        /// Bytes sent when it failed with input left to send, and what was
        /// left.
        unsent: Option<(u64, Unsent)>,
    },
    /// The server sent close_notify before all of our input was sent.
    PeerClosedEarly {
        /// Bytes sent by then.
        sent: u64,
        unsent: Unsent,
    },
    Stdin(io::Error),
    Stdout(io::Error),
    Poll(io::Error),
    Diagram(DiagramError),
}

impl From<NetError> for ClientError {
    fn from(error: NetError) -> Self {
        Self::Net {
            error,
            detail: None,
            unsent: None,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "{e}"),
            Self::InvalidName(name) => write!(f, "invalid server name {name:?}"),
            Self::Resolve { hostname, error } => write!(f, "cannot resolve {hostname}: {error}"),
            Self::Connect {
                hostname,
                port,
                error,
            } => write!(f, "cannot connect to {hostname}:{port}: {error}"),
            Self::Timeout {
                what,
                secs,
                hostname,
                port,
            } => write!(
                f,
                "timed out after {secs}s {what} {hostname}:{port} (--handshake-timeout)"
            ),
            Self::Net {
                error,
                detail,
                unsent,
            } => {
                write!(f, "{}", Readable(error))?;
                if let Some(detail) = detail {
                    write!(f, ": {detail}")?;
                }
                if let Some((sent, unsent)) = unsent {
                    write!(f, " (after {sent}B sent, {unsent})")?;
                }
                Ok(())
            }
            Self::PeerClosedEarly { sent, unsent } => write!(
                f,
                "the server closed the connection (close_notify) after {sent}B sent, {unsent}"
            ),
            Self::Stdin(e) => write!(f, "cannot read stdin: {e}"),
            Self::Stdout(e) => write!(f, "cannot write stdout: {e}"),
            Self::Poll(e) => write!(f, "event loop failed: {e}"),
            Self::Diagram(e) => write!(f, "{e}"),
        }
    }
}
