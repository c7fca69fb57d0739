//! The mio glue of `llclient` and `llserver`.
//!
//! [`TlsConn`] owns a non-blocking `mio::net::TcpStream`, the connection's
//! [`IncomingTls`] / [`OutgoingTls`], and the plaintext the application queued
//! ([`Outbox`]). It only moves bytes between the socket and those buffers and
//! acts on each [`Status`]; every TLS decision is the core's.
//!
//! mio delivers edge-triggered events: an event says the socket *became*
//! readable or writable, and none comes again until a read or write has
//! returned `WouldBlock`. `TlsConn` therefore remembers readiness itself
//! (`readable` / `writable`) and clears it only on `WouldBlock`, so it can stop
//! reading (backpressure, fairness) and resume later without waiting for an
//! event that will never come.

use core::fmt;
use std::io::{self, Read, Write};
use std::net::Shutdown;

use log::{debug, trace};
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::trace::{Role, Tracer};
use crate::{Error, HandshakeInfo, IncomingTls, LlConnection, OutgoingTls, Side, Status};

/// Bytes waiting to be sent (plaintext in the [`Outbox`] plus TLS bytes in
/// `OutgoingTls`) above which a connection stops reading its socket. Reading
/// resumes once the peer has taken enough; memory per connection stays
/// bounded however fast the peer sends and however slowly it reads.
pub const BACKLOG_LIMIT: usize = 256 * 1024;

/// Outgoing TLS bytes worth a write before the read loop of one turn ends.
const TRANSMIT_BATCH: usize = 64 * 1024;

/// Socket reads one [`TlsConn::drive`] call makes at most (each up to one
/// maximal record). Stopping there keeps one fast peer from starving the
/// other connections of an event loop; [`TlsConn::needs_drive`] then says
/// the connection has more to do.
const READS_PER_TURN: usize = 32;

/// Below this many consumed bytes the [`Outbox`] does not bother compacting.
const OUTBOX_COMPACT_MIN: usize = 64 * 1024;

/// Plaintext the application queued that the connection has not taken yet.
///
/// `encrypt` takes nothing before the handshake allows it, and at most
/// [`MAX_ENCRYPT_CHUNK`](crate::MAX_ENCRYPT_CHUNK) bytes per call: the rest
/// waits here.
#[derive(Debug, Default)]
pub struct Outbox {
    data: Vec<u8>,
    /// Start of the bytes not taken yet.
    start: usize,
    /// `close_notify` is wanted once everything queued has been taken.
    close: bool,
}

impl Outbox {
    /// Queues `plaintext` to be sent after what is already queued.
    pub fn push(&mut self, plaintext: &[u8]) {
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        } else if self.start >= OUTBOX_COMPACT_MIN && self.start * 2 >= self.data.len() {
            // Most of the vector is taken: move the rest down instead of
            // growing it for ever.
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.extend_from_slice(plaintext);
    }

    /// Asks for `close_notify` once everything queued has been sent.
    pub fn close(&mut self) {
        self.close = true;
    }

    /// Whether [`close`](Self::close) was called.
    #[must_use]
    pub fn is_closing(&self) -> bool {
        self.close
    }

    /// Bytes queued and not taken yet.
    #[must_use]
    pub fn len(&self) -> usize {
        self.data.len() - self.start
    }

    /// Whether nothing is queued.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn pending(&self) -> &[u8] {
        &self.data[self.start..]
    }

    fn consume(&mut self, num_bytes: usize) {
        self.start += num_bytes;
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }

    fn release(&mut self) {
        if self.is_empty() {
            self.data = Vec::new();
            self.start = 0;
        }
    }
}

/// What the application does with what the connection reports.
///
/// Each method gets the connection's [`Outbox`], so the application can
/// answer (queue plaintext, ask for `close_notify`) in the same flight.
pub trait Handler {
    /// A record's plaintext arrived. An error ends the connection with
    /// [`NetError::Sink`].
    fn plaintext(&mut self, plaintext: &[u8], outbox: &mut Outbox) -> io::Result<()>;

    /// The handshake completed.
    fn handshake_complete(&mut self, info: &HandshakeInfo, outbox: &mut Outbox) {
        let _ = (info, outbox);
    }

    /// The peer sent `close_notify`: nothing more will arrive.
    fn peer_closed(&mut self, outbox: &mut Outbox) {
        let _ = outbox;
    }
}

/// Why a [`TlsConn`] ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum NetError {
    /// The TCP connection could not be established.
    Connect(io::Error),
    /// Reading or writing the socket failed.
    Io(io::Error),
    /// The TLS connection failed; its fatal alert was sent if the socket took
    /// it. Includes a transport EOF before the peer's `close_notify`.
    Tls(Error),
    /// The [`Handler`] could not take the plaintext.
    Sink(io::Error),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "cannot connect: {e}"),
            Self::Io(e) => write!(f, "socket error: {e}"),
            Self::Tls(e) => write!(f, "TLS error: {e}"),
            Self::Sink(e) => write!(f, "cannot deliver plaintext: {e}"),
        }
    }
}

impl std::error::Error for NetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect(e) | Self::Io(e) | Self::Sink(e) => Some(e),
            Self::Tls(e) => Some(e),
        }
    }
}

/// A socket's place in mio's registry: its token and the interest last
/// given, so that an unchanged interest costs no system call.
#[derive(Debug)]
struct Registration {
    token: Token,
    /// `None` when not registered.
    interest: Option<Interest>,
}

impl Default for Registration {
    fn default() -> Self {
        Self {
            token: Token(usize::MAX),
            interest: None,
        }
    }
}

impl Registration {
    fn register(
        &mut self,
        registry: &Registry,
        socket: &mut TcpStream,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        registry.register(socket, token, interest)?;
        self.token = token;
        self.interest = Some(interest);
        Ok(())
    }

    fn update(
        &mut self,
        registry: &Registry,
        socket: &mut TcpStream,
        interest: Interest,
    ) -> io::Result<()> {
        if self.interest != Some(interest) {
            registry.reregister(socket, self.token, interest)?;
            self.interest = Some(interest);
        }
        Ok(())
    }

    fn deregister(&mut self, registry: &Registry, socket: &mut TcpStream) -> io::Result<()> {
        if self.interest.take().is_some() {
            registry.deregister(socket)?;
        }
        Ok(())
    }
}

/// One TLS connection over a non-blocking mio socket.
///
/// Drive it with [`ready`](Self::ready) for each mio event of its token and
/// with [`drive`](Self::drive) after queueing plaintext in its
/// [`outbox`](Self::outbox); then call [`reregister`](Self::reregister) so
/// the interest follows what is pending.
pub struct TlsConn<C: Side> {
    socket: TcpStream,
    conn: LlConnection<C>,
    incoming_tls: IncomingTls,
    outgoing_tls: OutgoingTls,
    outbox: Outbox,
    registration: Registration,
    /// The non-blocking connect has not been seen to complete yet.
    connecting: bool,
    /// The last read did not return `WouldBlock` (or no read was tried).
    readable: bool,
    /// The last write did not return `WouldBlock`.
    writable: bool,
    /// The application asked to stop reading (its own backpressure).
    read_paused: bool,
    /// Reading pauses while the send backlog is over [`BACKLOG_LIMIT`].
    read_backpressure: bool,
    /// The socket reached end-of-file.
    eof: bool,
    handshake: Option<HandshakeInfo>,
    close_notify_queued: bool,
    /// Both sides sent `close_notify`.
    closed: bool,
    /// The connection failed; nothing more is read or encrypted.
    failed: bool,
    /// Sees every byte written to and read from the socket; this end's role.
    tracer: Option<(Box<Tracer>, Role)>,
}

impl<C: Side> TlsConn<C> {
    /// A connection over an established socket (e.g. one just accepted).
    pub fn new(socket: TcpStream, conn: LlConnection<C>) -> Self {
        Self {
            socket,
            conn,
            incoming_tls: IncomingTls::new(),
            outgoing_tls: OutgoingTls::new(),
            outbox: Outbox::default(),
            registration: Registration::default(),
            connecting: false,
            // Unknown until tried: a read or write that would block says so.
            readable: true,
            writable: true,
            read_paused: false,
            read_backpressure: true,
            eof: false,
            handshake: None,
            close_notify_queued: false,
            closed: false,
            failed: false,
            tracer: None,
        }
    }

    /// A connection over a socket whose non-blocking connect is in progress
    /// (`mio::net::TcpStream::connect`). Nothing is read or written until a
    /// writable event shows the connect completed.
    pub fn connecting(socket: TcpStream, conn: LlConnection<C>) -> Self {
        Self {
            connecting: true,
            readable: false,
            writable: false,
            ..Self::new(socket, conn)
        }
    }

    /// Registers the socket with `registry` under `token`.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let interest = self.interest();
        self.registration
            .register(registry, &mut self.socket, token, interest)
    }

    /// Updates the registration to [`interest`](Self::interest), if it
    /// changed.
    pub fn reregister(&mut self, registry: &Registry) -> io::Result<()> {
        let interest = self.interest();
        self.registration
            .update(registry, &mut self.socket, interest)
    }

    /// Removes the socket from `registry`.
    pub fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.registration.deregister(registry, &mut self.socket)
    }

    /// The events worth waiting for, from what is pending: WRITABLE while TLS
    /// bytes wait (or the connect is in progress), READABLE while the
    /// connection wants input and reading is not paused (see
    /// [`set_read_backpressure`](Self::set_read_backpressure) and
    /// [`set_read_paused`](Self::set_read_paused)).
    ///
    /// mio needs at least one interest; when neither applies this returns
    /// READABLE, and the event, if any, is only remembered.
    #[must_use]
    pub fn interest(&self) -> Interest {
        if self.connecting {
            return Interest::WRITABLE;
        }
        let write = !self.outgoing_tls.is_empty() && !self.failed;
        match (self.wants_read(), write) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (false, true) => Interest::WRITABLE,
            _ => Interest::READABLE,
        }
    }

    /// Handles one mio event for this connection's token, then does all the
    /// work that became possible (see [`drive`](Self::drive)).
    pub fn ready<H: Handler>(&mut self, event: &Event, handler: &mut H) -> Result<(), NetError> {
        // Errors and hang-ups are delivered by the next read or write.
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.readable = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.writable = true;
        }
        if self.connecting && !self.finish_connect()? {
            return Ok(());
        }
        self.drive(handler)
    }

    /// Does all the work possible now, without waiting: processes received
    /// records (handing plaintext to `handler`), encrypts queued plaintext,
    /// queues `close_notify` when asked, transmits, and reads the socket
    /// until it would block or [`BACKLOG_LIMIT`] is reached.
    ///
    /// On error the connection is finished: the caller drops it. A TLS
    /// error's fatal alert has been offered to the socket already.
    pub fn drive<H: Handler>(&mut self, handler: &mut H) -> Result<(), NetError> {
        if self.connecting || self.failed {
            return Ok(());
        }
        let mut reads = 0;
        loop {
            self.process(handler)?;
            self.encrypt_outbox()?;
            // Batch: one write for several records read in this turn, rather
            // than a system call per record.
            if self.writable && self.outgoing_tls.len() >= TRANSMIT_BATCH {
                self.transmit()?;
            }
            if !self.wants_read() || !self.readable || reads == READS_PER_TURN {
                break;
            }
            reads += 1;
            if !self.receive()? {
                break;
            }
        }
        if self.writable {
            self.transmit()?;
        }
        self.release_if_idle();
        Ok(())
    }

    /// Whether [`drive`](Self::drive) stopped with work left (its read
    /// budget ran out while the socket still had data): call it again soon,
    /// without waiting for an event, which will not come.
    #[must_use]
    pub fn needs_drive(&self) -> bool {
        !self.connecting && self.readable && self.wants_read()
    }

    /// The plaintext queue: push data to send, or ask for `close_notify`.
    /// Call [`drive`](Self::drive) afterwards.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    /// Sends plaintext that `fill` writes straight into the body of the next
    /// record, inside the outgoing TLS buffer: with a `read(2)` from a file
    /// or socket as `fill`, no byte of plaintext is copied in user space
    /// (see [`LlConnection::record_room`]). `fill` gets room for one record
    /// and returns how many bytes it wrote; `Ok(0)` sends nothing.
    ///
    /// Returns `Ok(None)`, without calling `fill`, while nothing may be sent:
    /// during the handshake, while queued [`Outbox`] plaintext must go
    /// first, after `close_notify` was queued, or after a failure. Call
    /// [`drive`](Self::drive) afterwards to transmit.
    pub fn send_with<E>(
        &mut self,
        fill: impl FnOnce(&mut [u8]) -> Result<usize, E>,
    ) -> Result<Option<Result<usize, E>>, NetError> {
        if self.connecting || self.failed || self.close_notify_queued || !self.outbox.is_empty() {
            return Ok(None);
        }
        let room = self
            .conn
            .record_room(&mut self.incoming_tls, &mut self.outgoing_tls);
        let mut room = match room {
            Ok(Some(room)) => room,
            Ok(None) => return Ok(None),
            Err(error) => return Err(self.fail(error)),
        };
        let num_bytes = match fill(room.buf()) {
            Ok(num_bytes) => num_bytes,
            Err(error) => return Ok(Some(Err(error))),
        };
        match room.seal(num_bytes) {
            Ok(sealed) => Ok(Some(Ok(sealed))),
            Err(error) => Err(self.fail(error)),
        }
    }

    /// Replaces the socket while the connect is still in progress, e.g. to
    /// try the next address after the first one refused. Nothing was sent
    /// yet, so the TLS connection simply starts over on the new socket.
    pub fn retry_connect(&mut self, registry: &Registry, socket: TcpStream) -> io::Result<()> {
        self.deregister(registry)?;
        self.socket = socket;
        self.connecting = true;
        self.readable = false;
        self.writable = false;
        self.register(registry, self.registration.token)
    }

    /// Has `tracer` observe every byte this connection (at the `role` end)
    /// writes to and reads from its socket. Take its events with
    /// [`tracer`](Self::tracer) after each [`drive`](Self::drive) or
    /// [`ready`](Self::ready).
    pub fn set_tracer(&mut self, tracer: Tracer, role: Role) {
        self.tracer = Some((Box::new(tracer), role));
    }

    /// The tracer given to [`set_tracer`](Self::set_tracer).
    pub fn tracer(&mut self) -> Option<&mut Tracer> {
        self.tracer.as_mut().map(|(tracer, _)| &mut **tracer)
    }

    /// Stops (or resumes) reading the socket, for backpressure the
    /// application applies (e.g. a slow destination for the plaintext).
    pub fn set_read_paused(&mut self, paused: bool) {
        self.read_paused = paused;
    }

    /// Whether reading pauses while the send backlog is over
    /// [`BACKLOG_LIMIT`] (the default).
    ///
    /// That is right where reading produces sending (an echo server): memory
    /// stays bounded however slowly the peer reads. It is wrong where it does
    /// not: a client whose own sends are stuck must keep reading, or both
    /// ends wait for each other to read for ever. Such a caller applies
    /// backpressure on its own input instead.
    pub fn set_read_backpressure(&mut self, enabled: bool) {
        self.read_backpressure = enabled;
    }

    /// Bytes waiting to leave: queued plaintext plus TLS bytes.
    #[must_use]
    pub fn backlog(&self) -> usize {
        self.outbox.len() + self.outgoing_tls.len()
    }

    /// Whether the handshake is still in progress.
    #[must_use]
    pub fn is_handshaking(&self) -> bool {
        self.connecting || self.conn.is_handshaking()
    }

    /// What the handshake negotiated, once it completed.
    #[must_use]
    pub fn handshake_info(&self) -> Option<&HandshakeInfo> {
        self.handshake.as_ref()
    }

    /// Whether the peer's `close_notify` arrived.
    #[must_use]
    pub fn peer_closed(&self) -> bool {
        self.conn.peer_closed()
    }

    /// Whether our `close_notify` was queued.
    #[must_use]
    pub fn close_notify_queued(&self) -> bool {
        self.close_notify_queued
    }

    /// Whether the socket reached end-of-file.
    #[must_use]
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// Whether every TLS byte was handed to the socket.
    #[must_use]
    pub fn is_flushed(&self) -> bool {
        self.outgoing_tls.is_empty()
    }

    /// Whether nothing more can happen on this connection: both sides closed
    /// (or the transport ended after the peer's `close_notify` and nothing is
    /// left to send), and every byte was transmitted; or it failed.
    #[must_use]
    pub fn is_done(&self) -> bool {
        if self.failed {
            return true;
        }
        if !self.outgoing_tls.is_empty() {
            return false;
        }
        self.closed
            || (self.eof
                && (self.close_notify_queued
                    || (self.outbox.is_empty() && !self.outbox.is_closing())))
    }

    /// The connection inside.
    #[must_use]
    pub fn connection(&self) -> &LlConnection<C> {
        &self.conn
    }

    /// The socket.
    #[must_use]
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// Bytes of buffer memory the connection holds (incoming, outgoing and
    /// queued plaintext), for tests and diagnostics.
    #[must_use]
    pub fn buffer_capacity(&self) -> usize {
        self.incoming_tls.capacity() + self.outgoing_tls.capacity() + self.outbox.data.capacity()
    }

    /// Shuts down the socket's write half (TCP FIN), once everything was
    /// transmitted.
    pub fn shutdown_write(&self) {
        // The peer may have gone already; nothing to do about it then.
        let _ = self.socket.shutdown(Shutdown::Write);
    }

    fn wants_read(&self) -> bool {
        if self.failed || self.eof || self.read_paused || !self.conn.wants_read() {
            return false;
        }
        !self.read_backpressure || self.send_backlog() < BACKLOG_LIMIT
    }

    /// The backlog that pauses reading. Plaintext queued during the
    /// handshake cannot leave before the handshake completes, which needs
    /// reading: counting it would stall the connection for good.
    fn send_backlog(&self) -> usize {
        if self.conn.is_handshaking() {
            self.outgoing_tls.len()
        } else {
            self.backlog()
        }
    }

    fn finish_connect(&mut self) -> Result<bool, NetError> {
        if !finish_connect(&self.socket)? {
            self.writable = false;
            return Ok(false);
        }
        self.connecting = false;
        self.readable = true;
        self.writable = true;
        Ok(true)
    }

    /// Calls `process` until it wants the socket, acting on each status;
    /// logs how much of `IncomingTls` it consumed.
    fn process<H: Handler>(&mut self, handler: &mut H) -> Result<(), NetError> {
        let before = self.incoming_tls.filled().len();
        let result = self.process_statuses(handler);
        let left = self.incoming_tls.filled().len();
        if before > left {
            debug!("discarded {}B of IncomingTls, {left}B left", before - left);
        }
        result
    }

    fn process_statuses<H: Handler>(&mut self, handler: &mut H) -> Result<(), NetError> {
        loop {
            let mut failure = None;
            let status = self
                .conn
                .process(&mut self.incoming_tls, &mut self.outgoing_tls);
            match status {
                Ok(Status::AppDataAvailable(mut app_data))
                | Ok(Status::EarlyDataAvailable(mut app_data)) => {
                    while let Some(record) = app_data.next_record() {
                        match record {
                            Ok(plaintext) => {
                                trace!("plaintext {}B", plaintext.len());
                                handler
                                    .plaintext(plaintext, &mut self.outbox)
                                    .map_err(|e| {
                                        self.failed = true;
                                        NetError::Sink(e)
                                    })?;
                            }
                            Err(error) => {
                                failure = Some(error);
                                break;
                            }
                        }
                    }
                }
                Ok(Status::HandshakeComplete(info)) => {
                    handler.handshake_complete(&info, &mut self.outbox);
                    self.handshake = Some(info);
                }
                Ok(Status::PeerClosed) => handler.peer_closed(&mut self.outbox),
                Ok(Status::Closed) => {
                    self.closed = true;
                    return Ok(());
                }
                Ok(Status::NeedsMoreTlsData) | Ok(Status::MustTransmitTlsData) => return Ok(()),
                Err(error) => failure = Some(error),
            }
            if let Some(error) = failure {
                return Err(self.fail(error));
            }
        }
    }

    /// Offers queued plaintext to `encrypt`, then `close_notify` if asked.
    fn encrypt_outbox(&mut self) -> Result<(), NetError> {
        if self.close_notify_queued {
            if !self.outbox.is_empty() {
                debug!("dropping {}B queued after close_notify", self.outbox.len());
                self.outbox.consume(self.outbox.len());
            }
            return Ok(());
        }
        while !self.outbox.is_empty() {
            let taken = self
                .conn
                .encrypt(
                    self.outbox.pending(),
                    &mut self.incoming_tls,
                    &mut self.outgoing_tls,
                )
                .map_err(|e| self.fail(e))?;
            if taken == 0 {
                // Not yet possible (handshake): keep it for the next round.
                return Ok(());
            }
            self.outbox.consume(taken);
        }
        if self.outbox.is_closing() {
            let queued = self
                .conn
                .queue_close_notify(&mut self.incoming_tls, &mut self.outgoing_tls)
                .map_err(|e| self.fail(e))?;
            if queued {
                debug!("queued close_notify");
                self.close_notify_queued = true;
            }
        }
        Ok(())
    }

    /// Writes `outgoing_tls` until it is empty or the socket would block.
    fn transmit(&mut self) -> Result<(), NetError> {
        while !self.outgoing_tls.is_empty() {
            match self.socket.write(self.outgoing_tls.filled()) {
                Ok(0) => {
                    self.failed = true;
                    return Err(NetError::Io(io::ErrorKind::WriteZero.into()));
                }
                Ok(num_bytes) => {
                    debug!("transmitted {num_bytes}B");
                    if let Some((tracer, role)) = &mut self.tracer {
                        let sent = &self.outgoing_tls.filled()[..num_bytes];
                        tracer.observe(role.sending(), sent);
                    }
                    self.outgoing_tls.discard(num_bytes);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    trace!("socket full, {}B wait", self.outgoing_tls.len());
                    self.writable = false;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.failed = true;
                    return Err(NetError::Io(e));
                }
            }
        }
        Ok(())
    }

    /// One socket read into `incoming_tls`. Returns whether to go on reading.
    fn receive(&mut self) -> Result<bool, NetError> {
        loop {
            let unfilled = self.incoming_tls.unfilled();
            if unfilled.is_empty() {
                // `process` makes room before it asks for more; without room
                // there is nothing to read into until it runs again.
                return Ok(false);
            }
            match self.socket.read(unfilled) {
                Ok(0) => {
                    debug!("socket eof");
                    self.eof = true;
                    self.readable = false;
                    if let Err(error) = self.conn.handle_eof() {
                        self.failed = true;
                        return Err(NetError::Tls(error));
                    }
                    // The peer closed cleanly earlier: what we still have to
                    // send goes out on the next rounds.
                    return Ok(false);
                }
                Ok(num_bytes) => {
                    debug!("read {num_bytes}B into IncomingTls");
                    self.incoming_tls.advance(num_bytes);
                    if let Some((tracer, role)) = &mut self.tracer {
                        let filled = self.incoming_tls.filled();
                        tracer.observe(role.receiving(), &filled[filled.len() - num_bytes..]);
                    }
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.failed = true;
                    return Err(NetError::Io(e));
                }
            }
        }
    }

    /// Marks the connection failed and offers the fatal alert (already in
    /// `outgoing_tls`) to the socket once, without waiting: the socket is
    /// closed right after.
    fn fail(&mut self, error: Error) -> NetError {
        self.failed = true;
        if !self.connecting && !self.outgoing_tls.is_empty() {
            // Best effort: a peer that does not read does not get it.
            let _ = self.transmit();
        }
        NetError::Tls(error)
    }

    /// Gives back buffer memory once there is nothing to do until the next
    /// event, so idle connections hold none.
    fn release_if_idle(&mut self) {
        if self.readable && self.wants_read() {
            // More input is waiting; the buffers will be needed right away.
            return;
        }
        let incoming = self.incoming_tls.release();
        let outgoing = self.outgoing_tls.release();
        self.outbox.release();
        if incoming && outgoing {
            trace!("idle: buffers released");
        }
    }
}

impl<C: Side> fmt::Debug for TlsConn<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConn")
            .field("token", &self.registration.token)
            .field("connecting", &self.connecting)
            .field("incoming_tls", &self.incoming_tls.filled().len())
            .field("outgoing_tls", &self.outgoing_tls.len())
            .field("outbox", &self.outbox.len())
            .field("eof", &self.eof)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// Checks whether a non-blocking connect completed, as mio documents it:
/// after a writable event, `take_error` must report nothing and `peer_addr`
/// must succeed; `NotConnected` means the connect is still in progress.
fn finish_connect(socket: &TcpStream) -> Result<bool, NetError> {
    match socket.take_error() {
        Ok(None) => {}
        Ok(Some(error)) | Err(error) => return Err(NetError::Connect(error)),
    }
    match socket.peer_addr() {
        Ok(addr) => {
            debug!("connected to {addr}");
            Ok(true)
        }
        Err(error) if error.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(error) => Err(NetError::Connect(error)),
    }
}

/// A plain TCP connection relaying bytes, for `llserver forward`: the
/// plaintext side of the relay.
///
/// Bytes to send wait in its own [`Outbox`]; received bytes go straight into
/// the TLS connection's outbox ([`read_into`](Self::read_into)), up to a
/// limit the caller sets for backpressure.
pub struct PlainConn {
    socket: TcpStream,
    registration: Registration,
    connecting: bool,
    readable: bool,
    writable: bool,
    /// Bytes to write; `close` asks for a write shutdown once they are out.
    outbox: Outbox,
    eof: bool,
    write_shut: bool,
    /// Whether the caller wants input now (its backpressure).
    want_read: bool,
}

/// Size of one read from a [`PlainConn`].
const PLAIN_READ_SIZE: usize = 16 * 1024;

impl PlainConn {
    /// A connection whose non-blocking connect is in progress.
    pub fn connecting(socket: TcpStream) -> Self {
        Self {
            socket,
            registration: Registration::default(),
            connecting: true,
            readable: false,
            writable: false,
            outbox: Outbox::default(),
            eof: false,
            write_shut: false,
            want_read: true,
        }
    }

    /// Registers the socket with `registry` under `token`.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let interest = self.interest();
        self.registration
            .register(registry, &mut self.socket, token, interest)
    }

    /// Updates the registration to [`interest`](Self::interest), if it
    /// changed.
    pub fn reregister(&mut self, registry: &Registry) -> io::Result<()> {
        let interest = self.interest();
        self.registration
            .update(registry, &mut self.socket, interest)
    }

    /// Removes the socket from `registry`.
    pub fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.registration.deregister(registry, &mut self.socket)
    }

    /// WRITABLE while bytes wait (or the connect is in progress), READABLE
    /// while input is wanted; READABLE alone when neither, as mio needs one.
    #[must_use]
    pub fn interest(&self) -> Interest {
        if self.connecting {
            return Interest::WRITABLE;
        }
        let read = !self.eof && self.want_read;
        match (read, !self.outbox.is_empty()) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (false, true) => Interest::WRITABLE,
            _ => Interest::READABLE,
        }
    }

    /// Takes note of one mio event for this socket; completes the connect.
    pub fn ready(&mut self, event: &Event) -> Result<(), NetError> {
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.readable = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.writable = true;
        }
        if self.connecting {
            if finish_connect(&self.socket)? {
                self.connecting = false;
                self.readable = true;
                self.writable = true;
            } else {
                self.writable = false;
            }
        }
        Ok(())
    }

    /// Bytes to send: push data, or `close` for a write shutdown after it.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    /// Bytes waiting to be written.
    #[must_use]
    pub fn backlog(&self) -> usize {
        self.outbox.len()
    }

    /// Whether the peer closed its sending side.
    #[must_use]
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// Whether a read might return data the caller wants now.
    #[must_use]
    pub fn needs_drive(&self) -> bool {
        !self.connecting && self.readable && self.want_read && !self.eof
    }

    /// Writes what waits until done or the socket would block; then shuts
    /// down the write half if that was asked for.
    pub fn flush(&mut self) -> Result<(), NetError> {
        if self.connecting || !self.writable {
            return Ok(());
        }
        while !self.outbox.is_empty() {
            match self.socket.write(self.outbox.pending()) {
                Ok(0) => return Err(NetError::Io(io::ErrorKind::WriteZero.into())),
                Ok(num_bytes) => {
                    trace!("wrote {num_bytes}B of plaintext");
                    self.outbox.consume(num_bytes);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(NetError::Io(e)),
            }
        }
        if self.outbox.is_closing() && !self.write_shut {
            debug!("half-close: shutting down the write side");
            self.write_shut = true;
            // The peer may have gone already; then there is nothing to shut.
            let _ = self.socket.shutdown(Shutdown::Write);
        }
        self.outbox.release();
        Ok(())
    }

    /// Reads straight into the TLS records of `tls` (see
    /// [`TlsConn::send_with`]) while its backlog is under `limit`: no copy
    /// of the plaintext in user space. Before `tls` may send (handshake,
    /// queued plaintext) it reads into `tls`'s outbox as
    /// [`read_into`](Self::read_into) does. Returns how many bytes were read.
    pub fn read_into_records<C: Side>(
        &mut self,
        tls: &mut TlsConn<C>,
        limit: usize,
    ) -> Result<usize, NetError> {
        let mut total = 0;
        while !self.connecting && self.readable && !self.eof && tls.backlog() < limit {
            let socket = &mut self.socket;
            let read = tls.send_with(|buf| loop {
                match socket.read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other,
                }
            })?;
            match read {
                None => {
                    let room = limit.saturating_sub(tls.backlog() - tls.outbox().len());
                    return Ok(total + self.read_into(tls.outbox(), room)?);
                }
                Some(Ok(0)) => {
                    debug!("plaintext peer eof");
                    self.eof = true;
                }
                Some(Ok(num_bytes)) => {
                    trace!("read {num_bytes}B of plaintext into a record");
                    total += num_bytes;
                }
                Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Some(Err(e)) => return Err(NetError::Io(e)),
            }
        }
        self.want_read = tls.backlog() < limit;
        Ok(total)
    }

    /// Reads into `outbox` until the socket would block, reaches EOF, or
    /// `outbox` holds `limit` bytes. Returns how many bytes were read.
    pub fn read_into(&mut self, outbox: &mut Outbox, limit: usize) -> Result<usize, NetError> {
        let mut total = 0;
        let mut buf = [0u8; PLAIN_READ_SIZE];
        self.want_read = outbox.len() < limit;
        while !self.connecting && self.readable && !self.eof && outbox.len() < limit {
            match self.socket.read(&mut buf) {
                Ok(0) => {
                    debug!("plaintext peer eof");
                    self.eof = true;
                }
                Ok(num_bytes) => {
                    trace!("read {num_bytes}B of plaintext");
                    outbox.push(&buf[..num_bytes]);
                    total += num_bytes;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(NetError::Io(e)),
            }
        }
        self.want_read = outbox.len() < limit;
        Ok(total)
    }
}

impl fmt::Debug for PlainConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainConn")
            .field("token", &self.registration.token)
            .field("connecting", &self.connecting)
            .field("outbox", &self.outbox.len())
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;
    use mio::net::TcpListener;
    use mio::{Events, Poll};
    use rustls::server::UnbufferedServerConnection;

    use super::*;
    use crate::programs::cli::{ClientArgs, ServerArgs};
    use crate::{LlClientConnection, LlServerConnection};

    struct Echo;

    impl Handler for Echo {
        fn plaintext(&mut self, plaintext: &[u8], outbox: &mut Outbox) -> io::Result<()> {
            outbox.push(plaintext);
            Ok(())
        }
    }

    struct Collect(Vec<u8>);

    impl Handler for Collect {
        fn plaintext(&mut self, plaintext: &[u8], _: &mut Outbox) -> io::Result<()> {
            self.0.extend_from_slice(plaintext);
            Ok(())
        }
    }

    const LISTENER: Token = Token(0);
    const CLIENT: Token = Token(1);
    const SERVER: Token = Token(2);

    /// An echo over loopback through two `TlsConn`s in one event loop: the
    /// payload comes back whole, and once nothing is in flight neither
    /// connection holds buffer memory.
    #[test]
    fn echo_round_trip_then_idle_connections_hold_no_buffers() {
        let certs = concat!(env!("CARGO_MANIFEST_DIR"), "/certs");
        let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/certs/ca.pem");
        let server_args = ServerArgs::parse_from(["llserver", "--certs", certs, "echo"]);
        let client_args = ClientArgs::parse_from(["llclient", "--cafile", ca, "localhost"]);
        let server_config = crate::programs::config::server_config(&server_args).unwrap();
        let client_config = crate::programs::config::client_config(&client_args).unwrap();

        let mut poll = Poll::new().unwrap();
        let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .unwrap();
        let name = "localhost".try_into().unwrap();
        let conn = LlClientConnection::new(client_config, name).unwrap();
        let mut client = TlsConn::connecting(TcpStream::connect(addr).unwrap(), conn);
        client.set_read_backpressure(false);
        client.register(poll.registry(), CLIENT).unwrap();
        // More than the backlog bound and than one `encrypt` call takes;
        // queued before the handshake.
        let payload: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
        client.outbox().push(&payload);
        client.outbox().close();

        let mut server: Option<TlsConn<UnbufferedServerConnection>> = None;
        let (mut echo, mut received) = (Echo, Collect(Vec::new()));
        let mut events = Events::with_capacity(16);
        for _ in 0..100_000 {
            if received.0.len() == payload.len() {
                break;
            }
            poll.poll(&mut events, Some(Duration::from_secs(10)))
                .unwrap();
            assert!(!events.is_empty() || client.needs_drive(), "stalled");
            for event in events.iter() {
                match event.token() {
                    LISTENER => {
                        let (socket, _) = listener.accept().unwrap();
                        let conn = LlServerConnection::new(server_config.clone()).unwrap();
                        let mut accepted = TlsConn::new(socket, conn);
                        accepted.register(poll.registry(), SERVER).unwrap();
                        server = Some(accepted);
                    }
                    CLIENT => client.ready(event, &mut received).unwrap(),
                    _ => server.as_mut().unwrap().ready(event, &mut echo).unwrap(),
                }
            }
            if client.needs_drive() {
                client.drive(&mut received).unwrap();
            }
            client.reregister(poll.registry()).unwrap();
            if let Some(server) = &mut server {
                if server.needs_drive() {
                    server.drive(&mut echo).unwrap();
                }
                server.reregister(poll.registry()).unwrap();
            }
        }
        assert!(received.0 == payload, "echo differs");
        assert_eq!(client.buffer_capacity(), 0, "client {client:?}");
        let server = server.unwrap();
        assert_eq!(server.buffer_capacity(), 0, "server {server:?}");
    }

    #[test]
    fn outbox_keeps_order_across_partial_takes() {
        let mut outbox = Outbox::default();
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let mut taken = Vec::new();
        for chunk in data.chunks(30_000) {
            outbox.push(chunk);
            let n = outbox.len().min(17_000);
            taken.extend_from_slice(&outbox.pending()[..n]);
            outbox.consume(n);
        }
        taken.extend_from_slice(outbox.pending());
        outbox.consume(outbox.len());
        assert!(taken == data);
        outbox.release();
        assert_eq!(outbox.data.capacity(), 0);
    }
}
