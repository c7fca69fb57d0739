//! `llserver`: a drop-in replacement for rustls's `tlsserver-mio`, built on
//! lltls's caller-managed buffers.
//!
//! One mio event loop serves every connection; each is a [`TlsConn`] driven
//! by its events, with its own backpressure, so a slow or hostile client
//! only ever costs its own connection.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use lltls::programs::cli::{ServerArgs, ServerMode};
use lltls::programs::config::{server_setup, ConfigError};
use lltls::programs::net::{
    Check, Closed, Handler, LingerEnd, NetError, Outbox, PlainConn, TlsConn, VerifyPool,
    BACKLOG_LIMIT,
};
use lltls::programs::report::Readable;
use lltls::programs::trace_output::{DiagramError, TraceOutput, TraceSettings};
use lltls::trace::Role;
use lltls::{DeferredServerConfig, LlServerConnection, RecordLayer};
use log::{debug, error, warn};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use rustls::server::UnbufferedServerConnection;
use rustls::ServerConfig;

const LISTENER: Token = Token(0);
/// `--verify-async`: verdicts came back. Connections use tokens from 2 on.
const VERIFY: Token = Token(1);
/// `--verify-async` worker threads: checks that wait (on a CRL or OCSP
/// server, say) do not queue behind one another.
const VERIFY_THREADS: usize = 4;

/// Upstream's http-mode response, byte for byte.
const HTTP_RESPONSE: &[u8] =
    b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nHello world from rustls tlsserver\r\n";

/// Rounds of relaying one forward-mode event may do before yielding to the
/// other connections.
const FORWARD_ROUNDS: usize = 8;

/// How soon to accept again after `accept` failed for lack of resources
/// (descriptors, memory). The listener's readiness is edge-triggered: the
/// event that reported the waiting connections was used up, and no other
/// comes until yet another client connects.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

fn main() -> ExitCode {
    let args = ServerArgs::parse();
    lltls::programs::init_logging(args.verbose);
    lltls::programs::exit_code("llserver", run(&args))
}

fn run(args: &ServerArgs) -> Result<ExitCode, ServerError> {
    let setup = server_setup(args).map_err(ServerError::Config)?;
    let mut config = setup.config;
    if args.tickets && args.max_early_data > 0 {
        // rustls refuses 0-RTT on stateless tickets (they could be replayed
        // without limit), so the option would silently do nothing.
        eprintln!("llserver: warning: --max-early-data has no effect with --tickets (0-RTT needs stateful resumption)");
    }
    let trace = TraceSettings::server(args.trace, args.sequence_diagram.as_deref(), &mut config)
        .map_err(ServerError::Diagram)?;
    let tls_config = match args.verify_async {
        true => TlsConfig::Deferred(
            DeferredServerConfig::new(Arc::unwrap_or_clone(config))
                .map_err(ServerError::Deferred)?,
        ),
        false => TlsConfig::Normal(config, args.record_layer.into()),
    };
    let mut listener = listen(args.port)?;
    let local = listener.local_addr().map_err(ServerError::Poll)?;
    // Tests and scripts read the port from this line: flush it now.
    let mut stdout = io::stdout();
    writeln!(stdout, "listening on {local}")
        .and_then(|()| stdout.flush())
        .map_err(ServerError::Stdout)?;

    let mut poll = Poll::new().map_err(ServerError::Poll)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(ServerError::Poll)?;
    let handshake_timeout =
        (args.handshake_timeout > 0).then(|| Duration::from_secs(args.handshake_timeout));
    let linger_time = Duration::from_millis(args.linger_ms);
    let verify = match args.verify_async {
        true => {
            let waker = Waker::new(poll.registry(), VERIFY).map_err(ServerError::Poll)?;
            let verifier = setup.client_verifier;
            let check: Check = Arc::new(move |certificates| certificates.verify_client(&*verifier));
            let delay = Duration::from_millis(args.verify_delay_ms);
            Some(VerifyPool::spawn(
                VERIFY_THREADS,
                check,
                delay,
                Arc::new(waker),
            ))
        }
        false => None,
    };
    let mut server = Server {
        listener,
        config: tls_config,
        mode: args.mode,
        handshake_timeout,
        linger_time,
        verify,
        conns: HashMap::new(),
        next_id: 1,
        deadlines: VecDeque::new(),
        lingering: VecDeque::new(),
        again: Vec::new(),
        accept_retry: None,
        trace,
    };

    let mut events = Events::with_capacity(256);
    loop {
        let timeout = server.poll_timeout(Instant::now());
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ServerError::Poll(e)),
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => server.accept(poll.registry()),
                VERIFY => server.verdicts(poll.registry()),
                token => server.conn_event(poll.registry(), token, Some(event)),
            }
        }
        server.drive_again(poll.registry());
        server.expire_handshakes(poll.registry(), Instant::now());
        server.expire_lingering(poll.registry(), Instant::now());
        server.retry_accept(poll.registry(), Instant::now());
    }
}

/// Binds `[::]:port` as upstream does (dual-stack: IPv4 clients arrive as
/// `::ffff:a.b.c.d`); falls back to `0.0.0.0` where IPv6 is unavailable.
fn listen(port: u16) -> Result<TcpListener, ServerError> {
    let any6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    match TcpListener::bind(any6) {
        Ok(listener) => Ok(listener),
        Err(error) if error.kind() == io::ErrorKind::AddrNotAvailable || is_no_ipv6(&error) => {
            let any4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
            TcpListener::bind(any4).map_err(|error| ServerError::Listen { addr: any4, error })
        }
        Err(error) => Err(ServerError::Listen { addr: any6, error }),
    }
}

/// EAFNOSUPPORT: the kernel has no IPv6.
fn is_no_ipv6(error: &io::Error) -> bool {
    error.raw_os_error() == Some(97)
}

/// The rustls side of every connection.
enum TlsConfig {
    Normal(Arc<ServerConfig>, RecordLayer),
    /// `--verify-async`: client certificates are checked by the pool.
    Deferred(DeferredServerConfig),
}

impl TlsConfig {
    fn connection(&self) -> Result<LlServerConnection, lltls::Error> {
        match self {
            Self::Normal(config, record_layer) => {
                LlServerConnection::with_record_layer(config.clone(), *record_layer)
            }
            Self::Deferred(config) => LlServerConnection::deferred(config),
        }
    }
}

struct Server {
    listener: TcpListener,
    config: TlsConfig,
    mode: ServerMode,
    handshake_timeout: Option<Duration>,
    /// How long a closing connection lingers at most.
    linger_time: Duration,
    /// `--verify-async`: the workers checking client certificates.
    verify: Option<VerifyPool>,
    /// Connections by id; the TLS socket has token `2 * id`, the forward
    /// target `2 * id + 1`. Boxed: the table keeps spare slots, which cost
    /// a pointer each rather than a whole connection.
    conns: HashMap<usize, Box<Conn>>,
    next_id: usize,
    /// Handshake deadlines in accept order (all have the same timeout, so
    /// they are sorted).
    deadlines: VecDeque<(Instant, usize)>,
    /// Connections closing gracefully, with when to give up on them (all
    /// linger as long, so sorted too).
    lingering: VecDeque<(Instant, usize)>,
    /// Connections that stopped with work left, to drive without an event.
    again: Vec<usize>,
    /// When to call `accept` again after it ran out of resources.
    accept_retry: Option<Instant>,
    /// `--trace` / `--sequence-diagram`.
    trace: Option<TraceSettings>,
}

impl Server {
    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.again.is_empty() {
            return Some(Duration::ZERO);
        }
        let deadline = self.deadlines.front().map(|(deadline, _)| *deadline);
        let linger = self.lingering.front().map(|(deadline, _)| *deadline);
        [deadline, linger, self.accept_retry]
            .into_iter()
            .flatten()
            .min()
            .map(|deadline| deadline.saturating_duration_since(now))
    }

    fn accept(&mut self, registry: &Registry) {
        self.accept_retry = None;
        loop {
            match self.listener.accept() {
                Ok((socket, addr)) => self.open(registry, socket, addr),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // A client that gave up while queued fails alone.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    // E.g. out of file descriptors: the connection waits in
                    // the backlog and existing ones go on; try again soon,
                    // as no event will say when descriptors are free.
                    error!("cannot accept connection: {e}");
                    self.accept_retry = Some(Instant::now() + ACCEPT_RETRY);
                    return;
                }
            }
        }
    }

    fn retry_accept(&mut self, registry: &Registry, now: Instant) {
        if self.accept_retry.is_some_and(|at| at <= now) {
            self.accept(registry);
        }
    }

    fn open(&mut self, registry: &Registry, socket: TcpStream, addr: SocketAddr) {
        debug!("Accepting new connection from {addr}");
        let id = self.next_id;
        self.next_id += 1;
        let trace = self.trace.as_ref();
        match Conn::open(registry, id, socket, addr, &self.config, self.mode, trace) {
            Ok(conn) => {
                self.conns.insert(id, Box::new(conn));
                if let Some(timeout) = self.handshake_timeout {
                    self.deadlines.push_back((Instant::now() + timeout, id));
                }
            }
            Err(e) => error!("{addr}: {e}"),
        }
    }

    fn conn_event(&mut self, registry: &Registry, token: Token, event: Option<&Event>) {
        let id = token.0 / 2;
        // Tokens of connections already closed are ignored.
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.lingering {
            // Only the TLS socket's events matter now.
            let closed = match token.0 % 2 == 0 {
                true => conn.tls.linger(event),
                false => None,
            };
            if let Some(closed) = closed {
                conn.log_closed(&closed);
                self.close(registry, id);
            } else if let Err(e) = conn.tls.reregister(registry) {
                let closed = conn.tls.stop_linger(LingerEnd::EventLoop(e));
                conn.log_closed(&closed);
                self.close(registry, id);
            }
            return;
        }
        let mut result = conn.handle(event.map(|event| (event, token.0 % 2 == 1)));
        if let (Some(pool), Some(certificates)) = (&self.verify, conn.tls.take_presented()) {
            debug!(
                "{}: client certificate to the verification workers",
                conn.addr
            );
            if let Err(error) = pool.submit(id, certificates) {
                result = result
                    .and_then(|()| conn.tls.peer_verified(Err(error)))
                    .and_then(|()| conn.handle(None));
            }
        }
        let result = result.and_then(|()| conn.reregister(registry).map_err(NetError::Io));
        conn.take_trace();
        match result {
            Ok(()) if conn.is_done() => {
                debug!("{}: TLS connection ended cleanly", conn.addr);
                self.finish(registry, id);
            }
            Ok(()) => {
                if conn.needs_drive() {
                    self.again.push(id);
                }
            }
            Err(e) => {
                conn.log_end(&e);
                self.finish(registry, id);
            }
        }
    }

    /// The connection is over: its last record (close_notify or a fatal
    /// alert), if it has one, goes out and the peer gets to read it before
    /// the socket closes (see `TlsConn::start_linger`).
    fn finish(&mut self, registry: &Registry, id: usize) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        // Before anything else: whoever waits for the end finds the trace
        // complete.
        conn.finish_trace();
        conn.drop_target(registry);
        let closed = match conn.tls.start_linger() {
            None => match conn.tls.reregister(registry) {
                Ok(()) => {
                    conn.lingering = true;
                    let deadline = Instant::now() + self.linger_time;
                    self.lingering.push_back((deadline, id));
                    return;
                }
                Err(e) => conn.tls.stop_linger(LingerEnd::EventLoop(e)),
            },
            Some(closed) => closed,
        };
        conn.log_closed(&closed);
        self.close(registry, id);
    }

    fn expire_lingering(&mut self, registry: &Registry, now: Instant) {
        while let Some(&(deadline, id)) = self.lingering.front() {
            if deadline > now {
                return;
            }
            self.lingering.pop_front();
            if let Some(conn) = self.conns.get_mut(&id).filter(|conn| conn.lingering) {
                let closed = conn.tls.stop_linger(LingerEnd::TimeLimit);
                conn.log_closed(&closed);
                self.close(registry, id);
            }
        }
    }

    /// `--verify-async`: hands each verdict that came back to its
    /// connection (if it is still there) and drives it.
    fn verdicts(&mut self, registry: &Registry) {
        let Some(pool) = &self.verify else {
            return;
        };
        let verdicts: Vec<_> = pool.verdicts().collect();
        for (id, verdict) in verdicts {
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            if conn.lingering {
                continue;
            }
            if let Err(e) = conn.tls.peer_verified(verdict) {
                conn.log_end(&e);
                self.finish(registry, id);
                continue;
            }
            self.conn_event(registry, Token(2 * id), None);
        }
    }

    fn drive_again(&mut self, registry: &Registry) {
        for id in std::mem::take(&mut self.again) {
            self.conn_event(registry, Token(2 * id), None);
        }
    }

    fn expire_handshakes(&mut self, registry: &Registry, now: Instant) {
        while let Some(&(deadline, id)) = self.deadlines.front() {
            if deadline > now {
                return;
            }
            self.deadlines.pop_front();
            if let Some(conn) = self.conns.get(&id) {
                // A verdict not given in time counts as a slow handshake
                // (`is_handshaking` includes the wait for it).
                if conn.tls.is_handshaking() && !conn.lingering {
                    // No alert is sent for a peer that stalls: `finish`
                    // closes at once, and says so.
                    warn!("{}: handshake timed out", conn.addr);
                    self.finish(registry, id);
                }
            }
        }
    }

    fn close(&mut self, registry: &Registry, id: usize) {
        if let Some(mut conn) = self.conns.remove(&id) {
            // Before the socket closes: whoever waits for the end finds the
            // trace complete.
            conn.finish_trace();
            if let Err(e) = conn.deregister(registry) {
                debug!("{}: deregister failed: {e}", conn.addr);
            }
        }
    }
}

/// One client connection and what serves it.
struct Conn {
    addr: SocketAddr,
    tls: TlsConn<UnbufferedServerConnection>,
    app: App,
    /// What becomes of the records traced, with `--trace` or
    /// `--sequence-diagram`. Boxed: most connections are not traced, and
    /// each one of many stalled or idle ones should not carry its size.
    trace: Option<Box<TraceOutput>>,
    /// Closing gracefully (see `Server::finish`).
    lingering: bool,
}

impl Conn {
    fn open(
        registry: &Registry,
        id: usize,
        socket: TcpStream,
        addr: SocketAddr,
        config: &TlsConfig,
        mode: ServerMode,
        trace: Option<&TraceSettings>,
    ) -> Result<Self, NetError> {
        if let Err(e) = socket.set_nodelay(true) {
            debug!("cannot set TCP_NODELAY: {e}");
        }
        let conn = config.connection().map_err(NetError::Tls)?;
        let app = match mode {
            ServerMode::Echo => App::Echo,
            ServerMode::Http => App::Http { responded: false },
            ServerMode::Forward { port } => {
                let target = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                let socket = TcpStream::connect(target).map_err(|e| {
                    NetError::Connect(io::Error::new(
                        e.kind(),
                        format!("forward target {target}: {e}"),
                    ))
                })?;
                App::Forward(Box::new(Forward {
                    target: PlainConn::connecting(socket),
                    target_addr: target,
                }))
            }
        };
        let mut conn = Self {
            addr,
            tls: TlsConn::new(socket, conn),
            app,
            trace: None,
            lingering: false,
        };
        conn.trace = trace.map(|settings| Box::new(settings.attach(&mut conn.tls, Role::Server)));
        if matches!(conn.app, App::Forward(_)) {
            // Reading TLS feeds the target, not our sends: `Forward::relay`
            // pauses it on the target's backlog instead.
            conn.tls.set_read_backpressure(false);
        }
        conn.tls
            .register(registry, Token(2 * id))
            .map_err(NetError::Io)?;
        if let App::Forward(forward) = &mut conn.app {
            forward
                .target
                .register(registry, Token(2 * id + 1))
                .map_err(NetError::Io)?;
        }
        Ok(conn)
    }

    /// Handles an event (`(event, for_target)`), or drives without one.
    fn handle(&mut self, event: Option<(&Event, bool)>) -> Result<(), NetError> {
        let App::Forward(forward) = &mut self.app else {
            return match event {
                Some((event, _)) => self.tls.ready(event, &mut self.app),
                None => self.tls.drive(&mut self.app),
            };
        };
        if let Some((event, true)) = event {
            forward.target.ready(event)?;
        }
        if let Some((event, false)) = event {
            self.tls.ready(event, forward.as_mut())?;
        }
        forward.relay(&mut self.tls)
    }

    /// Prints the records traced so far to stderr, one line each, and adds
    /// them to the diagram.
    fn take_trace(&mut self) {
        if let Some(trace) = &mut self.trace {
            trace.take(&mut self.tls);
        }
    }

    /// The connection ends: reports the rest and writes the diagram (each
    /// connection's replaces the previous one's).
    fn finish_trace(&mut self) {
        // Once: a lingering connection finishes its trace before it closes.
        if let Some(mut trace) = self.trace.take() {
            if let Err(e) = trace.finish(&mut self.tls) {
                error!("{e}");
            }
        }
    }

    fn needs_drive(&self) -> bool {
        self.tls.needs_drive()
            || matches!(&self.app, App::Forward(f) if f.target.needs_drive()
                && self.tls.backlog() < BACKLOG_LIMIT)
    }

    fn is_done(&self) -> bool {
        self.tls.is_done()
    }

    fn reregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.tls.reregister(registry)?;
        if let App::Forward(forward) = &mut self.app {
            forward.target.reregister(registry)?;
        }
        Ok(())
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.tls.deregister(registry)?;
        self.drop_target(registry);
        Ok(())
    }

    /// Forward mode: closes the connection to the target.
    fn drop_target(&mut self, registry: &Registry) {
        if let App::Forward(forward) = &mut self.app {
            if let Err(e) = forward.target.deregister(registry) {
                debug!("{}: deregister of the target failed: {e}", self.addr);
            }
        }
    }

    /// Logs what closing the connection did on the wire.
    fn log_closed(&self, closed: &Closed) {
        debug!("{}: {closed}", self.addr);
    }

    /// Logs why the connection ended, as upstream words it.
    fn log_end(&self, error: &NetError) {
        match error {
            // The client closed TCP after our close_notify without sending
            // its own, as upstream's client does: a normal end.
            NetError::Tls(lltls::Error::UnexpectedEof { .. }) if self.tls.close_notify_queued() => {
                debug!("eof");
            }
            NetError::Tls(lltls::Error::UnexpectedEof { .. }) => {
                debug!("eof");
                warn!("{}: {error}", self.addr);
            }
            NetError::Connect(e) => match &self.app {
                App::Forward(forward) => error!(
                    "{}: cannot connect to forward target {}: {e}",
                    self.addr, forward.target_addr
                ),
                _ => error!("{}: {error}", self.addr),
            },
            _ => error!("{}: {}", self.addr, Readable(error)),
        }
    }
}

/// What the server does with each connection's plaintext.
enum App {
    Echo,
    Http { responded: bool },
    Forward(Box<Forward>),
}

impl Handler for App {
    fn plaintext(&mut self, plaintext: &[u8], outbox: &mut Outbox) -> io::Result<()> {
        if let Self::Forward(forward) = self {
            // `Conn::handle` hands forward-mode plaintext to `Forward` itself.
            return forward.plaintext(plaintext, outbox);
        }
        debug!("plaintext read {}", plaintext.len());
        match self {
            Self::Echo => outbox.push(plaintext),
            Self::Http { responded } => {
                if !*responded {
                    *responded = true;
                    outbox.push(HTTP_RESPONSE);
                    outbox.close();
                }
            }
            Self::Forward(_) => {}
        }
        Ok(())
    }

    fn echoes(&self) -> bool {
        matches!(self, Self::Echo)
    }

    fn peer_closed(&mut self, outbox: &mut Outbox) {
        match self {
            // Everything received was queued for echo before this: it goes
            // out, then close_notify.
            Self::Echo | Self::Http { .. } => outbox.close(),
            Self::Forward(forward) => forward.peer_closed(outbox),
        }
    }
}

/// Forward mode: the plaintext relay to `localhost:PORT`.
struct Forward {
    target: PlainConn,
    target_addr: SocketAddr,
}

impl Handler for Forward {
    fn plaintext(&mut self, plaintext: &[u8], _: &mut Outbox) -> io::Result<()> {
        debug!("plaintext read {}", plaintext.len());
        self.target.outbox().push(plaintext);
        Ok(())
    }

    fn peer_closed(&mut self, _: &mut Outbox) {
        // Half-close: the target's write side is shut down once everything
        // was written to it.
        debug!("client closed: half-closing the forward connection");
        self.target.outbox().close();
    }
}

impl Forward {
    /// Moves bytes both ways until nothing moves (or the round budget runs
    /// out), with backpressure on each side.
    fn relay(&mut self, tls: &mut TlsConn<UnbufferedServerConnection>) -> Result<(), NetError> {
        for _ in 0..FORWARD_ROUNDS {
            let before = (tls.backlog(), self.target.backlog());
            self.target.flush()?;
            // The target's bytes go straight into TLS records once the
            // handshake allows sending.
            let read = self.target.read_into_records(tls, BACKLOG_LIMIT)?;
            if self.target.is_eof() && !tls.outbox().is_closing() {
                debug!("back eof");
                tls.outbox().close();
            }
            // Stop reading TLS while the target does not take what we have.
            tls.set_read_paused(self.target.backlog() >= BACKLOG_LIMIT);
            tls.drive(self)?;
            if read == 0 && before == (tls.backlog(), self.target.backlog()) {
                break;
            }
        }
        Ok(())
    }
}

/// Why `llserver` failed; each is one line.
#[derive(Debug)]
enum ServerError {
    Config(ConfigError),
    Listen { addr: SocketAddr, error: io::Error },
    Stdout(io::Error),
    Poll(io::Error),
    Diagram(DiagramError),
    Deferred(lltls::Error),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "{e}"),
            Self::Listen { addr, error } => write!(f, "cannot listen on {addr}: {error}"),
            Self::Stdout(e) => write!(f, "cannot write stdout: {e}"),
            Self::Poll(e) => write!(f, "event loop failed: {e}"),
            Self::Diagram(e) => write!(f, "{e}"),
            Self::Deferred(e) => write!(f, "--verify-async: {e}"),
        }
    }
}
