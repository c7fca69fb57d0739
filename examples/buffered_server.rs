//! Benchmark reference (not a product): a TLS server on rustls's buffered
//! `ServerConnection`, built the way rustls's `tlsserver-mio` example is, so
//! that `scripts/bench.sh` can compare `llserver` with the buffered API on
//! the same work.
//!
//! Like upstream it serves every connection from one mio event loop, keeps a
//! `HashMap` of connections by token, does one `read_tls` and one
//! `write_tls` per readiness event, takes plaintext out with
//! `reader().read_to_end` into a fresh `Vec`, and offers `echo` and
//! `forward PORT` modes. Fixed where upstream falls short, so that the
//! comparison measures the API rather than those bugs:
//!
//! - upstream's echo panics when a client sends faster than it reads
//!   (`writer().write_all(..).unwrap()` past rustls's 64 KiB buffer limit);
//!   here plaintext rustls does not take yet waits in a per-connection queue
//!   and the connection stops reading its socket while more than
//!   [`BACKLOG_LIMIT`] waits (the same bound as llserver);
//! - forward mode does the same towards the target, whose writes upstream
//!   unwraps on a non-blocking socket;
//! - on the client's close_notify, echo mode sends what remains and then
//!   close_notify; forward mode half-closes the target and closes once the
//!   target has;
//! - errors close the connection instead of panicking; it prints
//!   `listening on ADDR` (as llserver) so scripts can use port 0.
//!
//! `--drain` reads and writes until `WouldBlock` on every event instead of
//! once (see `buffered_client`).
//!
//! Usage: `buffered_server [--port PORT] --certs CHAIN.pem --key KEY.pem
//! [--drain] echo|forward PORT`

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection};

const LISTENER: Token = Token(0);

/// Plaintext waiting (for rustls in echo mode, for the target in forward
/// mode) above which a connection stops reading its TLS socket: llserver's
/// `BACKLOG_LIMIT`.
const BACKLOG_LIMIT: usize = 256 * 1024;

/// Target reads per event in forward mode (upstream reads 1 KiB once).
const BACK_READ: usize = 16 * 1024;

#[derive(Clone, Copy)]
enum Mode {
    Echo,
    Forward(u16),
}

struct Args {
    port: u16,
    certs: String,
    key: String,
    drain: bool,
    mode: Mode,
}

fn parse_args() -> Result<Args, String> {
    let mut port = 0;
    let mut certs = None;
    let mut key = None;
    let mut drain = false;
    let mut mode = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" | "-p" => {
                let value = args.next().ok_or("--port needs a value")?;
                port = value.parse().map_err(|_| format!("bad port {value}"))?;
            }
            "--certs" => certs = Some(args.next().ok_or("--certs needs a value")?),
            "--key" => key = Some(args.next().ok_or("--key needs a value")?),
            "--drain" => drain = true,
            "echo" => mode = Some(Mode::Echo),
            "forward" => {
                let value = args.next().ok_or("forward needs a port")?;
                let port = value.parse().map_err(|_| format!("bad port {value}"))?;
                mode = Some(Mode::Forward(port));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        port,
        certs: certs.ok_or("--certs is required")?,
        key: key.ok_or("--key is required")?,
        drain,
        mode: mode.ok_or("a mode (echo or forward PORT) is required")?,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("buffered_server: {e}");
            eprintln!(
                "usage: buffered_server [--port PORT] --certs CHAIN --key KEY [--drain] echo|forward PORT"
            );
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("buffered_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn config(args: &Args) -> Result<Arc<ServerConfig>, String> {
    let certs = CertificateDer::pem_file_iter(&args.certs)
        .map_err(|e| format!("cannot read {}: {e}", args.certs))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read {}: {e}", args.certs))?;
    let key = PrivateKeyDer::from_pem_file(&args.key)
        .map_err(|e| format!("cannot read {}: {e}", args.key))?;
    // The aws-lc-rs provider and rustls's defaults (stateful resumption, two
    // TLS 1.3 tickets), as upstream and llserver.
    let config = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

fn run(args: &Args) -> Result<(), String> {
    let config = config(args)?;
    // Dual-stack like llserver, IPv4 where there is no IPv6.
    let mut listener = TcpListener::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, args.port)))
        .or_else(|_| TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, args.port))))
        .map_err(|e| format!("cannot listen: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let mut stdout = io::stdout();
    writeln!(stdout, "listening on {local}")
        .and_then(|()| stdout.flush())
        .map_err(|e| e.to_string())?;

    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(|e| e.to_string())?;
    let mut conns: HashMap<usize, Conn> = HashMap::new();
    let mut next_id = 1;
    let mut events = Events::with_capacity(256);
    loop {
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((socket, _)) => {
                            let id = next_id;
                            next_id += 1;
                            match Conn::open(poll.registry(), id, socket, &config, args) {
                                Ok(conn) => {
                                    conns.insert(id, conn);
                                }
                                Err(e) => eprintln!("buffered_server: {e}"),
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            eprintln!("buffered_server: cannot accept: {e}");
                            break;
                        }
                    }
                }
                continue;
            }
            let id = event.token().0 / 2;
            let Some(conn) = conns.get_mut(&id) else {
                continue;
            };
            let from_target = event.token().0 % 2 == 1;
            let result = conn
                .ready(event, from_target)
                .and_then(|()| conn.reregister(poll.registry()));
            if let Err(e) = &result {
                // A client going away is routine for a server.
                if e.kind() != io::ErrorKind::UnexpectedEof {
                    eprintln!("buffered_server: connection {id}: {e}");
                }
            }
            if result.is_err() || conn.closed {
                conn.deregister(poll.registry());
                conns.remove(&id);
            }
        }
    }
}

struct Conn {
    socket: TcpStream,
    token: Token,
    tls: ServerConnection,
    mode: Mode,
    drain: bool,
    /// Echo: received plaintext `writer()` has not taken yet.
    echo: Vec<u8>,
    echo_start: usize,
    /// Forward: the target connection and what it has not taken yet.
    target: Option<TcpStream>,
    target_pending: Vec<u8>,
    target_start: usize,
    target_write_closed: bool,
    target_eof: bool,
    peer_closed: bool,
    close_sent: bool,
    closed: bool,
    /// Whether the TLS socket is in the poll (see `reregister`).
    registered: bool,
}

/// Drops the part of a queue already taken (`..start`): all of it for free
/// when everything was taken, else by moving the rest down once the taken
/// part is big, so a queue that never quite empties does not grow forever.
fn compact(queue: &mut Vec<u8>, start: &mut usize) {
    if *start == queue.len() {
        queue.clear();
        *start = 0;
    } else if *start >= 64 * 1024 && *start * 2 >= queue.len() {
        queue.drain(..*start);
        *start = 0;
    }
}

fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl Conn {
    fn open(
        registry: &Registry,
        id: usize,
        mut socket: TcpStream,
        config: &Arc<ServerConfig>,
        args: &Args,
    ) -> io::Result<Self> {
        // The same socket options as llserver.
        let _ = socket.set_nodelay(true);
        let tls = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        let mut target = match args.mode {
            Mode::Forward(port) => Some(TcpStream::connect(SocketAddr::from((
                Ipv4Addr::LOCALHOST,
                port,
            )))?),
            Mode::Echo => None,
        };
        let token = Token(2 * id);
        registry.register(&mut socket, token, Interest::READABLE)?;
        if let Some(target) = &mut target {
            registry.register(
                target,
                Token(2 * id + 1),
                Interest::READABLE | Interest::WRITABLE,
            )?;
        }
        Ok(Self {
            socket,
            token,
            tls,
            mode: args.mode,
            drain: args.drain,
            echo: Vec::new(),
            echo_start: 0,
            target,
            target_pending: Vec::new(),
            target_start: 0,
            target_write_closed: false,
            target_eof: false,
            peer_closed: false,
            close_sent: false,
            closed: false,
            registered: true,
        })
    }

    fn backlog(&self) -> usize {
        (self.echo.len() - self.echo_start) + (self.target_pending.len() - self.target_start)
    }

    fn ready(&mut self, event: &mio::event::Event, from_target: bool) -> io::Result<()> {
        if from_target {
            if event.is_readable() {
                self.read_target()?;
            }
        } else {
            if event.is_readable() {
                self.do_tls_read()?;
            }
            if event.is_writable() {
                self.do_tls_write()?;
            }
        }
        self.flush_plaintext()?;
        self.progress_close()
    }

    fn do_tls_read(&mut self) -> io::Result<()> {
        loop {
            if self.backlog() >= BACKLOG_LIMIT || self.peer_closed {
                return Ok(());
            }
            match self.tls.read_tls(&mut self.socket) {
                Ok(0) => {
                    // TCP EOF; after close_notify that is the normal end.
                    self.closed = true;
                    return if self.peer_closed {
                        Ok(())
                    } else {
                        Err(io::ErrorKind::UnexpectedEof.into())
                    };
                }
                Ok(_) => {}
                Err(e) if would_block(&e) => return Ok(()),
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(e),
            }
            let state = match self.tls.process_new_packets() {
                Ok(state) => state,
                Err(e) => {
                    // Last gasp: send the alert rustls queued.
                    let _ = self.tls.write_tls(&mut self.socket);
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            };
            // Upstream's way: everything there is, into a fresh Vec.
            let mut plaintext = Vec::new();
            match self.tls.reader().read_to_end(&mut plaintext) {
                Ok(_) => {}
                Err(e) if would_block(&e) => {}
                Err(e) => return Err(e),
            }
            match self.mode {
                Mode::Echo => self.echo.extend_from_slice(&plaintext),
                Mode::Forward(_) => self.target_pending.extend_from_slice(&plaintext),
            }
            if state.peer_has_closed() {
                self.peer_closed = true;
            }
            if !self.drain {
                return Ok(());
            }
        }
    }

    fn do_tls_write(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.socket) {
                Ok(_) => {}
                Err(e) if would_block(&e) => return Ok(()),
                Err(e) if interrupted(&e) => continue,
                Err(e) => return Err(e),
            }
            if !self.drain {
                break;
            }
        }
        Ok(())
    }

    /// Hands queued plaintext on: to rustls (echo) or to the target
    /// (forward), as far as each takes it.
    fn flush_plaintext(&mut self) -> io::Result<()> {
        if self.echo_start < self.echo.len() && !self.tls.is_handshaking() {
            let taken = self.tls.writer().write(&self.echo[self.echo_start..])?;
            self.echo_start += taken;
            compact(&mut self.echo, &mut self.echo_start);
        }
        if let Some(target) = &mut self.target {
            while self.target_start < self.target_pending.len() {
                match target.write(&self.target_pending[self.target_start..]) {
                    Ok(n) => self.target_start += n,
                    Err(e) if would_block(&e) => break,
                    Err(e) if interrupted(&e) => {}
                    Err(e) => return Err(e),
                }
            }
            compact(&mut self.target_pending, &mut self.target_start);
        }
        Ok(())
    }

    fn read_target(&mut self) -> io::Result<()> {
        let Some(target) = &mut self.target else {
            return Ok(());
        };
        let mut buf = [0; BACK_READ];
        loop {
            match target.read(&mut buf) {
                Ok(0) => {
                    self.target_eof = true;
                    return Ok(());
                }
                // The benchmark's targets never send; a target that sent
                // more than rustls buffers would end the connection.
                Ok(n) => self.tls.writer().write_all(&buf[..n])?,
                Err(e) if would_block(&e) => return Ok(()),
                Err(e) if interrupted(&e) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The orderly end: echo closes once everything was echoed; forward
    /// half-closes the target after the client's close_notify and closes
    /// once the target has.
    fn progress_close(&mut self) -> io::Result<()> {
        match self.mode {
            Mode::Echo => {
                if self.peer_closed && self.backlog() == 0 && !self.close_sent {
                    self.tls.send_close_notify();
                    self.close_sent = true;
                }
            }
            Mode::Forward(_) => {
                if self.peer_closed && self.backlog() == 0 && !self.target_write_closed {
                    if let Some(target) = &self.target {
                        let _ = target.shutdown(Shutdown::Write);
                    }
                    self.target_write_closed = true;
                }
                if self.target_eof && !self.close_sent && !self.tls.is_handshaking() {
                    self.tls.send_close_notify();
                    self.close_sent = true;
                }
            }
        }
        if self.close_sent && self.tls.wants_write() {
            self.do_tls_write()?;
        }
        if self.close_sent && !self.tls.wants_write() && self.peer_closed {
            let _ = self.socket.shutdown(Shutdown::Both);
            self.closed = true;
        }
        Ok(())
    }

    fn reregister(&mut self, registry: &Registry) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        // Upstream's event set, plus backpressure: no reading while too much
        // waits to be sent.
        let read = self.tls.wants_read() && self.backlog() < BACKLOG_LIMIT && !self.peer_closed;
        let write = self.tls.wants_write();
        let interest = match (read, write) {
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        };
        // Re-registering re-arms mio's edge-triggered events, so a socket
        // that is still readable reports it again at once: a paused
        // connection is taken out of the poll instead, or it would spin.
        match (interest, self.registered) {
            (Some(interest), true) => registry.reregister(&mut self.socket, self.token, interest),
            (Some(interest), false) => {
                self.registered = true;
                registry.register(&mut self.socket, self.token, interest)
            }
            (None, true) => {
                self.registered = false;
                registry.deregister(&mut self.socket)
            }
            (None, false) => Ok(()),
        }
    }

    fn deregister(&mut self, registry: &Registry) {
        if self.registered {
            let _ = registry.deregister(&mut self.socket);
        }
        if let Some(target) = &mut self.target {
            let _ = registry.deregister(target);
        }
    }
}
