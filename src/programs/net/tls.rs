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
use crate::buffer::MAX_RECORD_SIZE;
use crate::conn::{LlConnection, Next, Pump, Rooms, Side};
use crate::error::Error;
use crate::status::HandshakeInfo;
use crate::trace::{Role, Tracer};
use crate::verify::PeerCertificates;

/// Why a socket read into the connection failed.
enum ReadError {
    Io(io::Error),
    Tls(Error),
}

std::thread_local! {
    /// What handshake reads go into before their bytes are copied into the
    /// connection's buffer (see `TlsConn::receive`): one per event-loop
    /// thread, shared by its connections.
    static HANDSHAKE_SCRATCH: core::cell::RefCell<Vec<u8>> =
        core::cell::RefCell::new(vec![0; MAX_RECORD_SIZE]);
}

/// One TLS connection over a non-blocking mio socket.
///
/// Drive it with [`ready`](Self::ready) for each mio event of its token and
/// with [`drive`](Self::drive) after queueing plaintext in its
/// [`outbox`](Self::outbox); then call [`reregister`](Self::reregister) so
/// the interest follows what is pending.
pub struct TlsConn<C: Side> {
    socket: Socket,
    /// The connection with its TLS buffers; it says what to do next.
    pump: Pump<C>,
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
    /// Boxed: rare, and every connection would carry its size.
    presented: Option<Box<PeerCertificates>>,
    /// Our last record, once queued: what the peer must be able to read
    /// before the socket closes, and the reason to linger.
    last_record: Option<LastRecord>,
    /// The connection ended with the peer's fatal alert: it reads nothing
    /// more of ours.
    peer_alert: bool,
}

/// Where a [`TlsConn`] is in its life. It only moves down this list:
/// `Open` until `process` reports `Closed` (both sides sent close_notify),
/// or until anything fails, from either state; then, if the caller asks
/// for it ([`TlsConn::start_linger`]) and we queued a last record,
/// `Lingering` until the peer has had the chance to read it, then `Over`.
/// Whether our own close_notify went out is the core's to say
/// (`close_notify_sent`).
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
    Lingering(Linger),
    /// Lingering ended: the caller drops the connection.
    Over,
}

/// What lingering has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Linger {
    /// The record the peer must be able to read.
    last: LastRecord,
    /// Bytes of the peer's read and dropped.
    discarded: usize,
    /// Our write side is shut down: the FIN went after everything else.
    write_shut: bool,
}

/// The last record a connection sends, which its peer must be able to read
/// before the socket closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastRecord {
    /// Our close_notify.
    CloseNotify,
    /// Our fatal alert.
    FatalAlert,
}

impl fmt::Display for LastRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CloseNotify => "close_notify",
            Self::FatalAlert => "fatal alert",
        })
    }
}

/// Why a connection closed without lingering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoLinger {
    /// We queued neither close_notify nor a fatal alert: there is no last
    /// record of ours for the peer to read (e.g. lltls's own buffer limit,
    /// for which no alert exists, or a peer that left before any).
    NothingToDeliver,
    /// The peer ended the connection with its own fatal alert: it reads
    /// nothing more.
    PeerAlert,
    /// The socket failed (or never connected): nothing more can go out.
    SocketFailed,
}

/// Why lingering ended.
#[derive(Debug)]
pub enum LingerEnd {
    /// The peer closed its side (FIN): it has read what it wanted.
    PeerClosed,
    /// [`LINGER_LIMIT`] bytes were dropped and the peer still sends.
    Limit,
    /// The caller's time limit passed ([`TlsConn::stop_linger`]).
    TimeLimit,
    /// The caller's event loop failed ([`TlsConn::stop_linger`]).
    EventLoop(io::Error),
    /// Writing or reading the socket failed (e.g. the peer reset it).
    Socket(io::Error),
}

/// What closing a connection did on the wire: the log line saying so.
#[derive(Debug)]
pub enum Closed {
    /// Closed without lingering.
    AtOnce {
        /// Why not.
        reason: NoLinger,
        /// Data from the peer was left unread, so the kernel answers the
        /// close with a reset (RST) instead of a FIN.
        unread: bool,
    },
    /// Closed after lingering.
    Lingered {
        /// What the peer was to read.
        last: LastRecord,
        /// Why lingering stopped.
        end: LingerEnd,
        /// Bytes of ours that never left (the peer stopped reading).
        unsent: usize,
        /// Our FIN went after our last record.
        fin: bool,
        /// Bytes of the peer's read and dropped while lingering.
        dropped: usize,
        /// As in `AtOnce`.
        unread: bool,
    },
}

impl Closed {
    /// Whether the connection lingered.
    #[must_use]
    pub fn lingered(&self) -> bool {
        matches!(self, Self::Lingered { .. })
    }
}

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // What close(2) does now: a reset when the peer's data is unread;
        // otherwise a FIN, unless ours went already or the socket failed.
        let close = |f: &mut fmt::Formatter<'_>, unread: bool, silent: bool| match (unread, silent)
        {
            (true, _) => {
                f.write_str("; data from the peer unread: the kernel resets the connection (RST)")
            }
            (false, true) => f.write_str("; socket closed"),
            (false, false) => f.write_str("; socket closed: the kernel sends FIN"),
        };
        match self {
            Self::AtOnce { reason, unread } => {
                f.write_str("closed without lingering: ")?;
                f.write_str(match reason {
                    NoLinger::NothingToDeliver => "we sent no close_notify or fatal alert",
                    NoLinger::PeerAlert => "the peer sent a fatal alert",
                    NoLinger::SocketFailed => "the socket failed",
                })?;
                close(f, *unread, *reason == NoLinger::SocketFailed)
            }
            Self::Lingered {
                last,
                end,
                unsent,
                fin,
                dropped,
                unread,
            } => {
                f.write_str("closed after lingering: ")?;
                match unsent {
                    0 => write!(f, "our {last} sent")?,
                    n => write!(f, "our {last} not all sent ({n}B left)")?,
                }
                if *fin {
                    f.write_str(", then FIN")?;
                }
                write!(f, "; read and dropped {dropped}B of the peer's, until ")?;
                match end {
                    LingerEnd::PeerClosed => f.write_str("the peer closed its side (FIN)")?,
                    LingerEnd::Limit => write!(f, "the limit ({LINGER_LIMIT}B)")?,
                    LingerEnd::TimeLimit => f.write_str("the time limit")?,
                    LingerEnd::Socket(error) => write!(f, "a socket error: {error}")?,
                    LingerEnd::EventLoop(error) => write!(f, "the event loop failed: {error}")?,
                }
                let failed = matches!(end, LingerEnd::Socket(_));
                close(f, *unread, *fin || failed)
            }
        }
    }
}

/// A closing connection reads and drops at most this much of what the peer
/// still sends: closing a socket with unread data makes the kernel answer
/// with a reset, which can destroy our close_notify or fatal alert before
/// the peer reads it (nginx and haproxy linger the same way).
pub const LINGER_LIMIT: usize = 4 << 20;

/// How long the caller SHOULD let a connection linger at most (the
/// programs' default; see [`TlsConn::stop_linger`]).
pub const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(2);

impl<C: Side> TlsConn<C> {
    /// A connection over an established socket (e.g. one just accepted).
    pub fn new(socket: TcpStream, conn: LlConnection<C>) -> Self {
        Self::with_socket(Socket::established(socket), conn)
    }

    fn with_socket(socket: Socket, conn: LlConnection<C>) -> Self {
        Self {
            socket,
            pump: Pump::new(conn),
            outbox: Outbox::default(),
            phase: Phase::Open,
            read_paused: false,
            read_backpressure: true,
            handshake: None,
            plaintext_sent: 0,
            tracer: None,
            presented: None,
            last_record: None,
            peer_alert: false,
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
        if let Phase::Lingering(linger) = self.phase {
            return self
                .socket
                .interest(linger.write_shut, self.pending_tls() > 0);
        }
        let write = self.pending_tls() > 0 && !matches!(self.phase, Phase::Broken | Phase::Over);
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
            if self.socket.writable && self.pending_tls() >= TRANSMIT_BATCH {
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

    /// TLS bytes waiting to be transmitted.
    fn pending_tls(&self) -> usize {
        self.pump.to_transmit().len()
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
        self.send_into_rooms(1, |mut rooms| match rooms.next() {
            Some(room) => fill(room),
            // `record_rooms` always makes at least one room.
            None => Ok(0),
        })
    }

    /// As [`send_with`](Self::send_with), with room for up to `records`
    /// consecutive records ([`LlConnection::record_rooms`]): `fill` gets the
    /// rooms, fills them in order (e.g. with one `readv(2)`) and returns how
    /// many bytes it wrote in all. The records are the ones `send_with`
    /// would make of the same plaintext.
    pub fn send_into_rooms<E>(
        &mut self,
        records: usize,
        fill: impl FnOnce(Rooms<'_>) -> Result<usize, E>,
    ) -> Result<Option<Result<usize, E>>, NetError> {
        if self.socket.connecting
            || !matches!(self.phase, Phase::Open | Phase::Closed)
            || self.pump.conn().close_notify_sent()
            || !self.outbox.is_empty()
        {
            return Ok(None);
        }
        let before = self.pending_tls();
        let (conn, incoming_tls, outgoing_tls) = self.pump.parts();
        let room = conn.record_rooms(incoming_tls, outgoing_tls, records);
        let mut room = match room {
            Ok(Some(room)) => room,
            Ok(None) => return Ok(None),
            Err(error) => return Err(self.fail(error, before)),
        };
        let capacity = room.capacity();
        let num_bytes = match fill(room.rooms()) {
            // More than the rooms hold cannot have been written into them.
            Ok(num_bytes) => num_bytes.min(capacity),
            Err(error) => return Ok(Some(Err(error))),
        };
        match room.seal(num_bytes) {
            Ok(sealed) => {
                self.plaintext_sent += sealed as u64;
                Ok(Some(Ok(sealed)))
            }
            Err(error) => Err(self.fail(error, before)),
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
        self.outbox.len() + self.pending_tls()
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
        if !self.pump.conn().peer_closed()
            || self.pump.conn().close_notify_sent()
            || !matches!(self.phase, Phase::Open | Phase::Closed)
        {
            return Ok(());
        }
        if !self.outbox.is_empty() {
            debug!("the peer closed: dropping {}B not sent", self.outbox.len());
            self.outbox.consume(self.outbox.len());
        }
        let before = self.pending_tls();
        let queued = self.pump.close().map_err(|e| self.fail(e, before))?;
        if queued {
            debug!("queued close_notify, answering the peer's");
            self.last_record.get_or_insert(LastRecord::CloseNotify);
        }
        Ok(())
    }

    /// Deferred mode: the chain the peer presented, once; verify it and
    /// give the verdict with [`peer_verified`](Self::peer_verified).
    pub fn take_presented(&mut self) -> Option<PeerCertificates> {
        self.presented.take().map(|certificates| *certificates)
    }

    /// Deferred mode: the verdict on the chain
    /// [`take_presented`](Self::take_presented) gave. Call
    /// [`drive`](Self::drive) afterwards: it releases what was held, or
    /// sends the rejection's alert and fails.
    pub fn peer_verified(&mut self, verdict: Result<(), rustls::Error>) -> Result<(), NetError> {
        // Only records the verdict: the alert, if any, comes with `drive`.
        let before = self.pending_tls();
        self.pump
            .peer_verified(verdict)
            .map_err(|e| self.fail(e, before))
    }

    /// Whether the handshake is still in progress, for the application: in
    /// deferred mode that includes the wait for the verdict on the peer's
    /// certificate, as nothing can be sent before it either.
    #[must_use]
    pub fn is_handshaking(&self) -> bool {
        self.socket.connecting
            || self.pump.conn().is_handshaking()
            || self.pump.conn().awaiting_verdict()
    }

    /// Whether the socket's connect is still in progress (see
    /// [`connecting`](Self::connecting)).
    #[must_use]
    pub fn is_connecting(&self) -> bool {
        self.socket.connecting
    }

    /// What the handshake negotiated, once it completed.
    #[must_use]
    pub fn handshake_info(&self) -> Option<&HandshakeInfo> {
        self.handshake.as_ref()
    }

    /// Whether the peer's `close_notify` arrived.
    #[must_use]
    pub fn peer_closed(&self) -> bool {
        self.pump.conn().peer_closed()
    }

    /// Whether our `close_notify` was queued.
    #[must_use]
    pub fn close_notify_queued(&self) -> bool {
        self.pump.conn().close_notify_sent()
    }

    /// Whether the socket reached end-of-file.
    #[must_use]
    pub fn is_eof(&self) -> bool {
        self.socket.eof
    }

    /// Whether every TLS byte was handed to the socket.
    #[must_use]
    pub fn is_flushed(&self) -> bool {
        self.pending_tls() == 0
    }

    /// Whether nothing more can happen on this connection: both sides closed
    /// (or the transport ended after the peer's `close_notify` and nothing is
    /// left to send), and every byte was transmitted; or it failed.
    #[must_use]
    pub fn is_done(&self) -> bool {
        match self.phase {
            Phase::Failed | Phase::Broken | Phase::Lingering(_) | Phase::Over => return true,
            _ if self.pending_tls() > 0 => return false,
            Phase::Closed => return true,
            Phase::Open => {}
        }
        // Both close_notify went (a peer that closes first need not close
        // its TCP side before we answer), or the transport ended.
        (self.pump.conn().peer_closed() && self.pump.conn().close_notify_sent())
            || self.socket.eof
                && (self.pump.conn().close_notify_sent()
                    || (self.outbox.is_empty() && !self.outbox.is_closing()))
    }

    /// The connection inside.
    #[must_use]
    pub fn connection(&self) -> &LlConnection<C> {
        self.pump.conn()
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
        let (incoming_tls, outgoing_tls) = self.pump.buffers();
        incoming_tls.capacity() + outgoing_tls.capacity() + self.outbox.capacity()
    }

    /// Shuts down the socket's write half (TCP FIN), once everything was
    /// transmitted.
    pub fn shutdown_write(&self) {
        self.socket.shutdown_write();
    }

    /// Starts closing the connection, once it is done or has failed.
    ///
    /// When we queued a last record the peer must be able to read (our
    /// close_notify or fatal alert), the connection lingers: what is left
    /// in the outgoing buffer goes out, then the write side is shut down
    /// (FIN), and what the peer still sends is read and dropped until it
    /// closes its side or [`LINGER_LIMIT`] bytes came. Closing a socket
    /// with unread data makes the kernel answer with a reset, which can
    /// destroy that record before the peer reads it (nginx and haproxy
    /// linger the same way). The caller keeps the connection registered,
    /// calls [`linger`](Self::linger) on each event, and
    /// [`stop_linger`](Self::stop_linger) at its time limit (at most
    /// [`LINGER_TIME`] is the programs' default).
    ///
    /// Returns `None` while lingering, or how the connection closed: at
    /// once when there is no such record (no alert is due for every error,
    /// e.g. lltls's own buffer limit), after the peer's fatal alert, or
    /// after a socket error. The caller then drops it.
    pub fn start_linger(&mut self) -> Option<Closed> {
        let reason = if self.socket.connecting || matches!(self.phase, Phase::Broken | Phase::Over)
        {
            Some(NoLinger::SocketFailed)
        } else if self.peer_alert {
            Some(NoLinger::PeerAlert)
        } else {
            None
        };
        let last = match (reason, self.last_record) {
            (None, Some(last)) => last,
            (reason, _) => {
                return Some(Closed::AtOnce {
                    reason: reason.unwrap_or(NoLinger::NothingToDeliver),
                    unread: self.unread(),
                })
            }
        };
        debug!(
            "lingering: our {last} queued, {}B left to send",
            self.pending_tls()
        );
        self.phase = Phase::Lingering(Linger {
            last,
            discarded: 0,
            write_shut: false,
        });
        // What is received from now on is dropped, unread.
        self.pump.parts().1.release();
        self.outbox.release();
        self.linger(None)
    }

    /// Does what lingering can do now, after `event` if one came. Returns
    /// `None` while lingering goes on, or how the connection closed.
    pub fn linger(&mut self, event: Option<&Event>) -> Option<Closed> {
        let Phase::Lingering(mut linger) = self.phase else {
            return None;
        };
        if let Some(event) = event {
            // Only notes readiness: the connect completed before lingering
            // started (`start_linger` checked), so nothing can fail here.
            let _ = self.socket.ready(event);
        }
        if !linger.write_shut {
            if self.socket.writable {
                if let Err(error) = self.write_out() {
                    return Some(self.lingered(linger, LingerEnd::Socket(error)));
                }
            }
            if self.pending_tls() > 0 {
                self.phase = Phase::Lingering(linger);
                return None;
            }
            self.socket.shutdown_write();
            linger.write_shut = true;
            debug!("lingering: our {} sent, then FIN", linger.last);
        }
        let mut buf = [0; 16 * 1024];
        let end = loop {
            match self.socket.read(&mut buf) {
                Ok(Input::Data(num_bytes)) => {
                    linger.discarded += num_bytes;
                    if linger.discarded >= LINGER_LIMIT {
                        break LingerEnd::Limit;
                    }
                }
                Ok(Input::WouldBlock) => {
                    self.phase = Phase::Lingering(linger);
                    return None;
                }
                Ok(Input::Eof) => break LingerEnd::PeerClosed,
                Err(error) => break LingerEnd::Socket(error),
            }
        };
        Some(self.lingered(linger, end))
    }

    /// The caller stops lingering (`end` says why: its time limit,
    /// usually): how the connection closes now. The caller drops it.
    pub fn stop_linger(&mut self, end: LingerEnd) -> Closed {
        match self.phase {
            Phase::Lingering(linger) => self.lingered(linger, end),
            // Not lingering: nothing was waited for.
            _ => Closed::AtOnce {
                reason: NoLinger::NothingToDeliver,
                unread: self.unread(),
            },
        }
    }

    /// Lingering is over: what it achieved.
    fn lingered(&mut self, linger: Linger, end: LingerEnd) -> Closed {
        self.phase = Phase::Over;
        Closed::Lingered {
            last: linger.last,
            end,
            unsent: self.pending_tls(),
            fin: linger.write_shut,
            dropped: linger.discarded,
            unread: self.unread(),
        }
    }

    /// Whether data from the peer waits unread in the socket: closing it
    /// now makes the kernel send a reset.
    fn unread(&self) -> bool {
        matches!(self.socket.stream().peek(&mut [0]), Ok(1..))
    }

    fn wants_read(&self) -> bool {
        if self.phase != Phase::Open && self.phase != Phase::Closed
            || self.socket.eof
            || self.read_paused
            || !self.pump.conn().wants_read()
        {
            return false;
        }
        !self.read_backpressure || self.send_backlog() < BACKLOG_LIMIT
    }

    /// The backlog that pauses reading. Plaintext queued during the
    /// handshake cannot leave before the handshake completes, which needs
    /// reading: counting it would stall the connection for good.
    fn send_backlog(&self) -> usize {
        if self.pump.conn().is_handshaking() {
            self.pending_tls()
        } else {
            self.backlog()
        }
    }

    /// Calls `process` until it wants the socket, acting on each status;
    /// logs how much of `IncomingTls` it consumed.
    fn process<H: Handler>(&mut self, handler: &mut H) -> Result<(), NetError> {
        let before = self.pump.buffers().0.filled().len();
        let result = self.process_statuses(handler);
        let left = self.pump.buffers().0.filled().len();
        if before > left {
            debug!("discarded {}B of IncomingTls, {left}B left", before - left);
        }
        result
    }

    fn process_statuses<H: Handler>(&mut self, handler: &mut H) -> Result<(), NetError> {
        loop {
            // Queued plaintext goes first, to keep the order.
            if handler.echoes() && self.outbox.is_empty() {
                let before = self.pending_tls();
                let (conn, incoming_tls, outgoing_tls) = self.pump.parts();
                let echoed = conn
                    .echo_app_data(incoming_tls, outgoing_tls)
                    .map_err(|e| self.fail(e, before))?;
                self.plaintext_sent += echoed as u64;
            }
            let before = self.pending_tls();
            let next = self.pump.poll().map_err(|e| self.fail(e, before))?;
            match next {
                Next::Plaintext => {
                    let mut failure = None;
                    let records = match self.pump.plaintext() {
                        Ok(records) => records,
                        Err(error) => return Err(self.fail(error, before)),
                    };
                    if let Some(mut records) = records {
                        while let Some(record) = records.next_record() {
                            match record {
                                Ok(plaintext) => {
                                    trace!("plaintext {}B", plaintext.len());
                                    if let Err(e) = handler.plaintext(plaintext, &mut self.outbox) {
                                        self.phase = Phase::Failed;
                                        return Err(NetError::Sink(e));
                                    }
                                }
                                Err(error) => {
                                    failure = Some(error);
                                    break;
                                }
                            }
                        }
                    }
                    if let Some(error) = failure {
                        return Err(self.fail(error, before));
                    }
                }
                Next::HandshakeComplete(info) => {
                    handler.handshake_complete(&info, &mut self.outbox);
                    self.handshake = Some(info);
                }
                Next::PeerClosed => handler.peer_closed(&mut self.outbox),
                Next::Closed => {
                    self.phase = Phase::Closed;
                    return Ok(());
                }
                // `drive` transmits in batches and reads when the socket
                // has data.
                Next::Transmit | Next::Receive | Next::Idle => return Ok(()),
                Next::VerifyPeer(certificates) => {
                    self.presented = Some(Box::new(certificates));
                }
                // Nothing to do until `peer_verified`, which drives again.
                Next::AwaitingVerdict => return Ok(()),
            }
        }
    }

    /// Offers queued plaintext to `encrypt`, then `close_notify` if asked.
    fn encrypt_outbox(&mut self) -> Result<(), NetError> {
        if self.pump.conn().close_notify_sent() {
            if !self.outbox.is_empty() {
                debug!("dropping {}B queued after close_notify", self.outbox.len());
                self.outbox.consume(self.outbox.len());
            }
            return Ok(());
        }
        while !self.outbox.is_empty() {
            let before = self.pending_tls();
            let taken = self
                .pump
                .send(self.outbox.pending())
                .map_err(|e| self.fail(e, before))?;
            if taken == 0 {
                // Not yet possible (handshake): keep it for the next round.
                return Ok(());
            }
            self.outbox.consume(taken);
            self.plaintext_sent += taken as u64;
        }
        if self.outbox.is_closing() {
            let before = self.pending_tls();
            let queued = self.pump.close().map_err(|e| self.fail(e, before))?;
            if queued {
                debug!("queued close_notify");
                self.last_record.get_or_insert(LastRecord::CloseNotify);
            }
        }
        Ok(())
    }

    /// Writes `outgoing_tls` until it is empty or the socket would block.
    fn transmit(&mut self) -> Result<(), NetError> {
        self.write_out().map_err(|e| {
            self.phase = Phase::Broken;
            NetError::Io(e)
        })
    }

    /// [`transmit`](Self::transmit) without the change of phase.
    fn write_out(&mut self) -> io::Result<()> {
        while !self.pump.to_transmit().is_empty() {
            let written = self.socket.write(self.pump.to_transmit());
            match written {
                Ok(Some(num_bytes)) => {
                    debug!("transmitted {num_bytes}B");
                    if let Some((tracer, role)) = &mut self.tracer {
                        let sent = &self.pump.to_transmit()[..num_bytes];
                        tracer.observe(role.sending(), sent);
                    }
                    self.pump.transmitted(num_bytes);
                }
                Ok(None) => {
                    trace!("socket full, {}B wait", self.pending_tls());
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One socket read into `incoming_tls`. Returns whether to go on reading.
    fn receive(&mut self) -> Result<bool, NetError> {
        let read = if self.pump.conn().is_handshaking() {
            self.read_through_scratch()
        } else {
            self.read_in_place()
        };
        match read {
            // `process` makes room before it asks for more; without room
            // there is nothing to read into until it runs again.
            Ok(None) | Ok(Some(Input::WouldBlock)) => Ok(false),
            Ok(Some(Input::Eof)) => {
                debug!("socket eof");
                if let Err(error) = self.pump.received(0) {
                    self.phase = Phase::Failed;
                    return Err(NetError::Tls(error));
                }
                // The peer closed cleanly earlier: what we still have to
                // send goes out on the next rounds.
                Ok(false)
            }
            Ok(Some(Input::Data(num_bytes))) => {
                debug!("read {num_bytes}B into IncomingTls");
                if let Some((tracer, role)) = &mut self.tracer {
                    let filled = self.pump.buffers().0.filled();
                    tracer.observe(role.receiving(), &filled[filled.len() - num_bytes..]);
                }
                Ok(true)
            }
            Err(ReadError::Tls(error)) => {
                self.phase = Phase::Failed;
                Err(NetError::Tls(error))
            }
            Err(ReadError::Io(e)) => {
                self.phase = Phase::Broken;
                Err(NetError::Io(e))
            }
        }
    }

    /// A read straight into the incoming buffer's room; `None` without room.
    fn read_in_place(&mut self) -> Result<Option<Input>, ReadError> {
        let unfilled = self.pump.receive_buffer();
        if unfilled.is_empty() {
            return Ok(None);
        }
        let input = self.socket.read(unfilled).map_err(ReadError::Io)?;
        if let Input::Data(num_bytes) = input {
            self.pump.received(num_bytes).map_err(ReadError::Tls)?;
        }
        Ok(Some(input))
    }

    /// A handshake read: into this thread's scratch buffer, and only what
    /// arrived is copied in. The incoming buffer then holds exactly the bytes
    /// the peer sent, and one that announces a large record and stalls costs
    /// no room for the rest of it.
    fn read_through_scratch(&mut self) -> Result<Option<Input>, ReadError> {
        HANDSHAKE_SCRATCH.with_borrow_mut(|scratch| {
            let room = self.pump.copy_room().min(scratch.len());
            if room == 0 {
                return Ok(None);
            }
            let input = self
                .socket
                .read(&mut scratch[..room])
                .map_err(ReadError::Io)?;
            if let Input::Data(num_bytes) = input {
                self.pump
                    .copy_in(&scratch[..num_bytes])
                    .map_err(ReadError::Tls)?;
            }
            Ok(Some(input))
        })
    }

    /// Marks the connection failed and offers the fatal alert (already in
    /// `outgoing_tls`) to the socket once, without waiting; lingering
    /// ([`start_linger`](Self::start_linger)) sends the rest.
    ///
    /// `before` is the length of `outgoing_tls` before the call that failed:
    /// the core appends the fatal alert due, if any, in that call (and
    /// empties the buffer when the peer's own fatal alert ended it), so
    /// growth means an alert of ours is on its way.
    fn fail(&mut self, error: Error, before: usize) -> NetError {
        self.phase = Phase::Failed;
        if self.pending_tls() > before {
            self.last_record = Some(match error {
                // The TLS 1.2 key limit: a close_notify went instead.
                Error::EncryptExhausted => LastRecord::CloseNotify,
                // Also rustls's answer to a peer's alert it does not take
                // as the last word (TLS 1.2, an unknown level).
                _ => LastRecord::FatalAlert,
            });
        } else if error.alert_received().is_some() {
            self.peer_alert = true;
        }
        if !self.socket.connecting && self.pending_tls() > 0 {
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
        let (_, incoming_tls, outgoing_tls) = self.pump.parts();
        let incoming = incoming_tls.release();
        let outgoing = outgoing_tls.release();
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
            .field("incoming_tls", &self.pump.buffers().0.filled().len())
            .field("outgoing_tls", &self.pending_tls())
            .field("outbox", &self.outbox.len())
            .field("eof", &self.socket.eof)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}
