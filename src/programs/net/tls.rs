//! [`TlsConn`]: one TLS connection over a non-blocking mio socket.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use core::fmt;
use std::io;

use log::{debug, trace};
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::socket::{Input, Socket};
use super::{Handler, NetError, Outbox, BACKLOG_LIMIT, READS_PER_TURN, TRANSMIT_BATCH};
use crate::trace::{Role, Tracer};
use crate::{
    Error, HandshakeInfo, IncomingTls, LlConnection, OutgoingTls, PeerCertificates, Side, Status,
};

/// One TLS connection over a non-blocking mio socket.
///
/// Drive it with [`ready`](Self::ready) for each mio event of its token and
/// with [`drive`](Self::drive) after queueing plaintext in its
/// [`outbox`](Self::outbox); then call [`reregister`](Self::reregister) so
/// the interest follows what is pending.
pub struct TlsConn<C: Side> {
    socket: Socket,
    conn: LlConnection<C>,
    incoming_tls: IncomingTls,
    outgoing_tls: OutgoingTls,
    outbox: Outbox,
    phase: Phase,
    /// The application asked to stop reading (its own backpressure).
    read_paused: bool,
    /// Reading pauses while the send backlog is over [`BACKLOG_LIMIT`].
    read_backpressure: bool,
    handshake: Option<HandshakeInfo>,
    /// Plaintext bytes the connection has taken to send (encrypted).
    plaintext_sent: u64,
    /// Sees every byte written to and read from the socket; this end's role.
    tracer: Option<(Box<Tracer>, Role)>,
    /// Deferred mode: the chain the peer presented, not yet taken to verify.
    presented: Option<PeerCertificates>,
}

/// Where a [`TlsConn`] is in its life. It only moves down this list:
/// `Open` until `process` reports `Closed` (both sides sent close_notify),
/// or until anything fails, from either state; then, if the caller asks
/// for it ([`TlsConn::start_linger`]), `Lingering` until the peer has had
/// the chance to read our last bytes. Whether our own close_notify went out
/// is the core's to say (`close_notify_sent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Handshaking or exchanging data.
    Open,
    /// Both sides sent close_notify.
    Closed,
    /// TLS (or the application) failed: nothing more is read or encrypted.
    /// The socket still works: the fatal alert can go out.
    Failed,
    /// Reading or writing the socket failed: nothing more can be done.
    Broken,
    /// Closing: what is left to send goes out, then the write side is shut
    /// down and what the peer still sends is read and dropped.
    Lingering { discarded: usize, write_shut: bool },
}

/// A closing connection reads and drops at most this much of what the peer
/// still sends: closing a socket with unread data makes the kernel answer
/// with a reset, which can destroy our close_notify or fatal alert before
/// the peer reads it (nginx and haproxy linger the same way).
pub const LINGER_LIMIT: usize = 4 << 20;

/// How long the caller SHOULD let a connection linger at most.
pub const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(2);

impl<C: Side> TlsConn<C> {
    /// A connection over an established socket (e.g. one just accepted).
    pub fn new(socket: TcpStream, conn: LlConnection<C>) -> Self {
        Self::with_socket(Socket::established(socket), conn)
    }

    fn with_socket(socket: Socket, conn: LlConnection<C>) -> Self {
        Self {
            socket,
            conn,
            incoming_tls: IncomingTls::new(),
            outgoing_tls: OutgoingTls::new(),
            outbox: Outbox::default(),
            phase: Phase::Open,
            read_paused: false,
            read_backpressure: true,
            handshake: None,
            plaintext_sent: 0,
            tracer: None,
            presented: None,
        }
    }

    /// A connection over a socket whose non-blocking connect is in progress
    /// (`mio::net::TcpStream::connect`). Nothing is read or written until a
    /// writable event shows the connect completed.
    pub fn connecting(socket: TcpStream, conn: LlConnection<C>) -> Self {
        Self::with_socket(Socket::connecting(socket), conn)
    }

    registration_methods!();

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
        if let Phase::Lingering { write_shut, .. } = self.phase {
            return self
                .socket
                .interest(write_shut, !self.outgoing_tls.is_empty());
        }
        let write = !self.outgoing_tls.is_empty() && self.phase != Phase::Broken;
        self.socket.interest(self.wants_read(), write)
    }

    /// Handles one mio event for this connection's token, then does all the
    /// work that became possible (see [`drive`](Self::drive)).
    pub fn ready<H: Handler>(&mut self, event: &Event, handler: &mut H) -> Result<(), NetError> {
        if !self.socket.ready(event)? {
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
        if self.socket.connecting || !matches!(self.phase, Phase::Open | Phase::Closed) {
            return Ok(());
        }
        let mut reads = 0;
        loop {
            self.process(handler)?;
            self.encrypt_outbox()?;
            // Batch: one write for several records read in this turn, rather
            // than a system call per record.
            if self.socket.writable && self.outgoing_tls.len() >= TRANSMIT_BATCH {
                self.transmit()?;
            }
            if !self.wants_read() || !self.socket.readable || reads == READS_PER_TURN {
                break;
            }
            reads += 1;
            if !self.receive()? {
                break;
            }
        }
        if self.socket.writable {
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
        !self.socket.connecting && self.socket.readable && self.wants_read()
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
        if self.socket.connecting
            || !matches!(self.phase, Phase::Open | Phase::Closed)
            || self.conn.close_notify_sent()
            || !self.outbox.is_empty()
        {
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
            Ok(sealed) => {
                self.plaintext_sent += sealed as u64;
                Ok(Some(Ok(sealed)))
            }
            Err(error) => Err(self.fail(error)),
        }
    }

    /// Replaces the socket while the connect is still in progress, e.g. to
    /// try the next address after the first one refused. Nothing was sent
    /// yet, so the TLS connection simply starts over on the new socket.
    pub fn retry_connect(&mut self, registry: &Registry, socket: TcpStream) -> io::Result<()> {
        self.socket.replace(registry, socket, Interest::WRITABLE)
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

    /// Plaintext bytes taken to be sent so far (queued ones not included).
    #[must_use]
    pub fn plaintext_sent(&self) -> u64 {
        self.plaintext_sent
    }

    /// After the peer's close_notify, queues ours (RFC 8446 §6.1: each side
    /// sends one before it closes its write side; RFC 5246 §7.2.1: the
    /// receiver answers at once), dropping plaintext not encrypted yet.
    /// Nothing if ours went already, or after a failure (a fatal alert, if
    /// one was due, went instead). The caller transmits it, e.g. with
    /// [`start_linger`](Self::start_linger).
    pub fn answer_close_notify(&mut self) -> Result<(), NetError> {
        if !self.conn.peer_closed()
            || self.conn.close_notify_sent()
            || !matches!(self.phase, Phase::Open | Phase::Closed)
        {
            return Ok(());
        }
        if !self.outbox.is_empty() {
            debug!("the peer closed: dropping {}B not sent", self.outbox.len());
            self.outbox.consume(self.outbox.len());
        }
        let queued = self
            .conn
            .queue_close_notify(&mut self.incoming_tls, &mut self.outgoing_tls)
            .map_err(|e| self.fail(e))?;
        if queued {
            debug!("answered the peer's close_notify");
        }
        Ok(())
    }

    /// Deferred mode: the chain the peer presented, once; verify it and
    /// give the verdict with [`peer_verified`](Self::peer_verified).
    pub fn take_presented(&mut self) -> Option<PeerCertificates> {
        self.presented.take()
    }

    /// Deferred mode: the verdict on the chain
    /// [`take_presented`](Self::take_presented) gave. Call
    /// [`drive`](Self::drive) afterwards: it releases what was held, or
    /// sends the rejection's alert and fails.
    pub fn peer_verified(&mut self, verdict: Result<(), rustls::Error>) -> Result<(), NetError> {
        self.conn.peer_verified(verdict).map_err(|e| self.fail(e))
    }

    /// Whether the handshake is still in progress, for the application: in
    /// deferred mode that includes the wait for the verdict on the peer's
    /// certificate, as nothing can be sent before it either.
    #[must_use]
    pub fn is_handshaking(&self) -> bool {
        self.socket.connecting || self.conn.is_handshaking() || self.conn.awaiting_verdict()
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
        self.conn.close_notify_sent()
    }

    /// Whether the socket reached end-of-file.
    #[must_use]
    pub fn is_eof(&self) -> bool {
        self.socket.eof
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
        match self.phase {
            Phase::Failed | Phase::Broken | Phase::Lingering { .. } => return true,
            _ if !self.outgoing_tls.is_empty() => return false,
            Phase::Closed => return true,
            Phase::Open => {}
        }
        // Both close_notify went (a peer that closes first need not close
        // its TCP side before we answer), or the transport ended.
        (self.conn.peer_closed() && self.conn.close_notify_sent())
            || self.socket.eof
                && (self.conn.close_notify_sent()
                    || (self.outbox.is_empty() && !self.outbox.is_closing()))
    }

    /// The connection inside.
    #[must_use]
    pub fn connection(&self) -> &LlConnection<C> {
        &self.conn
    }

    /// The socket.
    #[must_use]
    pub fn socket(&self) -> &TcpStream {
        self.socket.stream()
    }

    /// Bytes of buffer memory the connection holds (incoming, outgoing and
    /// queued plaintext), for tests and diagnostics.
    #[must_use]
    pub fn buffer_capacity(&self) -> usize {
        self.incoming_tls.capacity() + self.outgoing_tls.capacity() + self.outbox.capacity()
    }

    /// Shuts down the socket's write half (TCP FIN), once everything was
    /// transmitted.
    pub fn shutdown_write(&self) {
        self.socket.shutdown_write();
    }

    /// Starts closing the connection gracefully, once it is done or has
    /// failed (not after a socket error): what is left in the outgoing
    /// buffer (our close_notify or fatal alert) goes out, then the write
    /// side is shut down, and what the peer still sends is read and dropped
    /// until it closes its side or [`LINGER_LIMIT`] bytes came. The caller
    /// keeps the connection registered, calls [`linger`](Self::linger) on
    /// each event, and drops it at the latest after [`LINGER_TIME`].
    ///
    /// Returns whether to keep it for that: `false` when there is nothing to
    /// wait for (the peer closed its side already, or the socket failed).
    pub fn start_linger(&mut self) -> bool {
        if self.socket.eof || self.phase == Phase::Broken || self.socket.connecting {
            return false;
        }
        debug!("lingering: {}B left to send", self.outgoing_tls.len());
        self.phase = Phase::Lingering {
            discarded: 0,
            write_shut: false,
        };
        // What is received from now on is dropped, unread.
        self.incoming_tls.release();
        self.outbox.release();
        self.linger(None)
    }

    /// Does what lingering can do now, after `event` if one came. Returns
    /// whether to keep lingering.
    pub fn linger(&mut self, event: Option<&Event>) -> bool {
        if let Some(event) = event {
            if !matches!(self.socket.ready(event), Ok(true)) {
                return false;
            }
        }
        let Phase::Lingering {
            mut discarded,
            mut write_shut,
        } = self.phase
        else {
            return false;
        };
        if !write_shut {
            if self.socket.writable && self.transmit().is_err() {
                return false;
            }
            if !self.outgoing_tls.is_empty() {
                return true;
            }
            self.socket.shutdown_write();
            write_shut = true;
        }
        let mut buf = [0; 16 * 1024];
        let keep = loop {
            match self.socket.read(&mut buf) {
                Ok(Input::Data(num_bytes)) => {
                    discarded += num_bytes;
                    if discarded >= LINGER_LIMIT {
                        debug!("lingering: dropped {discarded}B, closing");
                        break false;
                    }
                }
                Ok(Input::WouldBlock) => break true,
                Ok(Input::Eof) | Err(_) => break false,
            }
        };
        self.phase = Phase::Lingering {
            discarded,
            write_shut,
        };
        keep
    }

    fn wants_read(&self) -> bool {
        if self.phase != Phase::Open && self.phase != Phase::Closed
            || self.socket.eof
            || self.read_paused
            || !self.conn.wants_read()
        {
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
            // Queued plaintext goes first, to keep the order.
            if handler.echoes() && self.outbox.is_empty() {
                let echoed = self
                    .conn
                    .echo_app_data(&mut self.incoming_tls, &mut self.outgoing_tls)
                    .map_err(|e| self.fail(e))?;
                self.plaintext_sent += echoed as u64;
            }
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
                                        self.phase = Phase::Failed;
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
                    self.phase = Phase::Closed;
                    return Ok(());
                }
                Ok(Status::NeedsMoreTlsData) | Ok(Status::MustTransmitTlsData) => return Ok(()),
                Ok(Status::VerifyPeer(certificates)) => self.presented = Some(certificates),
                // Nothing to do until `peer_verified`, which drives again.
                Ok(Status::AwaitingVerdict) => return Ok(()),
                Err(error) => failure = Some(error),
            }
            if let Some(error) = failure {
                return Err(self.fail(error));
            }
        }
    }

    /// Offers queued plaintext to `encrypt`, then `close_notify` if asked.
    fn encrypt_outbox(&mut self) -> Result<(), NetError> {
        if self.conn.close_notify_sent() {
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
            self.plaintext_sent += taken as u64;
        }
        if self.outbox.is_closing() {
            let queued = self
                .conn
                .queue_close_notify(&mut self.incoming_tls, &mut self.outgoing_tls)
                .map_err(|e| self.fail(e))?;
            if queued {
                debug!("queued close_notify");
            }
        }
        Ok(())
    }

    /// Writes `outgoing_tls` until it is empty or the socket would block.
    fn transmit(&mut self) -> Result<(), NetError> {
        while !self.outgoing_tls.is_empty() {
            let written = self.socket.write(self.outgoing_tls.filled());
            match written {
                Ok(Some(num_bytes)) => {
                    debug!("transmitted {num_bytes}B");
                    if let Some((tracer, role)) = &mut self.tracer {
                        let sent = &self.outgoing_tls.filled()[..num_bytes];
                        tracer.observe(role.sending(), sent);
                    }
                    self.outgoing_tls.discard(num_bytes);
                }
                Ok(None) => {
                    trace!("socket full, {}B wait", self.outgoing_tls.len());
                    return Ok(());
                }
                Err(e) => {
                    self.phase = Phase::Broken;
                    return Err(NetError::Io(e));
                }
            }
        }
        Ok(())
    }

    /// One socket read into `incoming_tls`. Returns whether to go on reading.
    fn receive(&mut self) -> Result<bool, NetError> {
        let unfilled = self.incoming_tls.unfilled();
        if unfilled.is_empty() {
            // `process` makes room before it asks for more; without room
            // there is nothing to read into until it runs again.
            return Ok(false);
        }
        match self.socket.read(unfilled) {
            Ok(Input::Eof) => {
                debug!("socket eof");
                if let Err(error) = self.conn.handle_eof() {
                    self.phase = Phase::Failed;
                    return Err(NetError::Tls(error));
                }
                // The peer closed cleanly earlier: what we still have to
                // send goes out on the next rounds.
                Ok(false)
            }
            Ok(Input::Data(num_bytes)) => {
                debug!("read {num_bytes}B into IncomingTls");
                self.incoming_tls.advance(num_bytes);
                if let Some((tracer, role)) = &mut self.tracer {
                    let filled = self.incoming_tls.filled();
                    tracer.observe(role.receiving(), &filled[filled.len() - num_bytes..]);
                }
                Ok(true)
            }
            Ok(Input::WouldBlock) => Ok(false),
            Err(e) => {
                self.phase = Phase::Broken;
                Err(NetError::Io(e))
            }
        }
    }

    /// Marks the connection failed and offers the fatal alert (already in
    /// `outgoing_tls`) to the socket once, without waiting: the socket is
    /// closed right after.
    fn fail(&mut self, error: Error) -> NetError {
        self.phase = Phase::Failed;
        if !self.socket.connecting && !self.outgoing_tls.is_empty() {
            // Best effort: a peer that does not read does not get it.
            let _ = self.transmit();
        }
        NetError::Tls(error)
    }

    /// Gives back buffer memory once there is nothing to do until the next
    /// event, so idle connections hold none.
    fn release_if_idle(&mut self) {
        if self.socket.readable && self.wants_read() {
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
            .field("token", &self.socket.token())
            .field("connecting", &self.socket.connecting)
            .field("incoming_tls", &self.incoming_tls.filled().len())
            .field("outgoing_tls", &self.outgoing_tls.len())
            .field("outbox", &self.outbox.len())
            .field("eof", &self.socket.eof)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}
