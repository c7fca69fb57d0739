//! A passive record tracer: what crosses the wire, record by record.
//!
//! A [`Tracer`] is fed the bytes of both directions of one connection as they
//! are written and read ([`Tracer::observe`]); it cuts them into TLS records
//! (reassembling records split across calls, splitting coalesced ones) and
//! yields one [`Record`] per record: direction, outer content type, size on
//! the wire, and what it carries — handshake message types (whole, or the
//! pieces of fragmented and coalesced messages), ChangeCipherSpec, alert
//! level and description, application data length.
//!
//! Encrypted TLS 1.3 records are decrypted on a copy, as `openssl s_client
//! -trace` shows its own handshake: [`TraceKeyLog`], installed as the
//! config's `key_log`, receives every secret rustls derives for the
//! connection, keyed by client random. The tracer finds its connection's
//! secrets by the random in the ClientHello it observed, the suite in the
//! ServerHello, and derives key and IV with HKDF-Expand-Label (RFC 8446
//! §7.1–7.3) using the suite's hash. It follows the switches from early to
//! handshake to application traffic secrets by trial decryption (a record
//! opens under exactly one key), and KeyUpdate by deriving the next secret
//! itself ("traffic upd"). TLS 1.2 records are shown by their outer type:
//! after ChangeCipherSpec, a handshake record is the encrypted Finished.
//!
//! The tracer never changes what the connection does: it only reads copies
//! of bytes that were sent or received. It never panics on what it is fed:
//! garbage shows up as a [`Contents::Malformed`] entry, after which that
//! direction is no longer parsed (its framing is lost). Its memory is
//! bounded: at most one partial record per direction, the records waiting
//! for keys (capped), and the bodies of the two hello messages.
//!
//! # When entries come out
//!
//! Received bytes are observed as they are read, before the connection has
//! processed them — and before rustls has derived the keys that decrypt
//! them. [`Tracer::poll_event`] therefore returns events in the order
//! observed, holding back an encrypted record (and everything after it)
//! until its keys are known. Poll after each round of processing; call
//! [`Tracer::finish`] when the connection ends to release what is left.
//!
//! [`SequenceDiagram`] turns the events into a mermaid `sequenceDiagram` in
//! the style of the caller-managed-buffers RFC's diagram.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use core::fmt;
use std::collections::VecDeque;
use std::sync::Arc;

use rustls::CipherSuite;

mod decode;
mod decrypt;
mod diagram;
mod framing;
mod handshake;
mod keylog;
mod record;
mod report;

pub use self::diagram::SequenceDiagram;
pub use self::keylog::TraceKeyLog;
pub use self::record::{
    AlertLevel, Contents, Event, HandshakePart, Malformed, NotDecrypted, Record,
};
pub use self::report::TraceReport;

use self::decrypt::TrafficKey;
use self::framing::{Framer, Item};
use self::handshake::HandshakeStream;
use self::keylog::Secrets;

/// Which way a record travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the server.
    ClientToServer,
    /// From the server to the client.
    ServerToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Self::ClientToServer => 0,
            Self::ServerToClient => 1,
        }
    }

    const BOTH: [Self; 2] = [Self::ClientToServer, Self::ServerToClient];
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ClientToServer => "C>S",
            Self::ServerToClient => "S>C",
        })
    }
}

/// Which end of the connection the tracer sits at: its writes go one way,
/// its reads come the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client: it writes [`Direction::ClientToServer`].
    Client,
    /// The server: it writes [`Direction::ServerToClient`].
    Server,
}

impl Role {
    /// The direction of the bytes this end writes.
    #[must_use]
    pub fn sending(self) -> Direction {
        match self {
            Self::Client => Direction::ClientToServer,
            Self::Server => Direction::ServerToClient,
        }
    }

    /// The direction of the bytes this end reads.
    #[must_use]
    pub fn receiving(self) -> Direction {
        match self {
            Self::Client => Direction::ServerToClient,
            Self::Server => Direction::ClientToServer,
        }
    }
}

// ---------------------------------------------------------------------------
// The tracer

/// Records waiting for keys, at most (count and bytes), before the oldest is
/// reported without them: keys that never come must not hold the trace.
const MAX_WAITING_RECORDS: usize = 256;
const MAX_WAITING_BYTES: usize = 4 << 20;

/// Per-direction state of the decoder (applied in record order).
#[derive(Default)]
struct Decoder {
    handshake: HandshakeStream,
    /// TLS 1.2: this direction sent ChangeCipherSpec, so it encrypts.
    ccs_seen: bool,
    /// TLS 1.3: the key the last record opened under.
    key: Option<TrafficKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Unknown,
    Tls12,
    Tls13,
}

/// Why a record cannot be decoded yet.
struct Wait;

/// A passive observer of one connection's records. See the
/// [module documentation](self).
pub struct Tracer {
    keys: Option<Arc<TraceKeyLog>>,
    framers: [Framer; 2],
    decoders: [Decoder; 2],
    queue: VecDeque<Item>,
    /// Record bytes in `queue`.
    queued_bytes: usize,
    client_random: Option<[u8; 32]>,
    /// This connection's secrets, as far as known.
    secrets: Secrets,
    version: Version,
    suite: Option<CipherSuite>,
    finished: bool,
}

impl Default for Tracer {
    fn default() -> Self {
        Self::new()
    }
}

impl Tracer {
    /// A tracer that decrypts nothing: encrypted TLS 1.3 records show as
    /// [`NotDecrypted::NoKeys`].
    pub fn new() -> Self {
        Self {
            keys: None,
            framers: Default::default(),
            decoders: Default::default(),
            queue: VecDeque::new(),
            queued_bytes: 0,
            client_random: None,
            secrets: Secrets::default(),
            version: Version::Unknown,
            suite: None,
            finished: false,
        }
    }

    /// A tracer that decrypts TLS 1.3 records with the secrets `keys`
    /// receives (it must be the connection's config's `key_log`).
    pub fn with_keys(keys: Arc<TraceKeyLog>) -> Self {
        let mut tracer = Self::new();
        tracer.keys = Some(keys);
        tracer
    }

    /// Takes bytes that went `direction`: everything written to or read
    /// from the transport, in order, each byte once. One call is reported
    /// as one [`Event::Io`].
    pub fn observe(&mut self, direction: Direction, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.queue.push_back(Item::Ready(Event::Io {
            direction,
            len: bytes.len(),
        }));
        let before = self.queue.len();
        self.framers[direction.index()].push(direction, bytes, &mut self.queue);
        for item in self.queue.range(before..) {
            if let Item::Record(_, record) = item {
                self.queued_bytes += record.len();
            }
        }
    }

    /// The next event, in the order observed; `None` when there is none yet
    /// (or the next record waits for keys: poll again after the connection
    /// processed more).
    pub fn poll_event(&mut self) -> Option<Event> {
        let item = self.queue.pop_front()?;
        let (direction, record) = match item {
            Item::Ready(event) => return Some(event),
            Item::Record(direction, record) => (direction, record),
        };
        let give_up = self.finished
            || self.queue.len() >= MAX_WAITING_RECORDS
            || self.queued_bytes >= MAX_WAITING_BYTES;
        match self.decode(direction, &record, give_up) {
            Ok(decoded) => {
                self.queued_bytes -= record.len();
                Some(Event::Record(decoded))
            }
            Err(Wait) => {
                self.queue.push_front(Item::Record(direction, record));
                None
            }
        }
    }

    /// The next record, skipping [`Event::Io`] events.
    pub fn poll_record(&mut self) -> Option<Record> {
        loop {
            match self.poll_event()? {
                Event::Record(record) => return Some(record),
                Event::Io { .. } => {}
            }
        }
    }

    /// The connection ended: nothing more will be observed and no more keys
    /// will come. Partial records are reported as truncated, and
    /// [`poll_event`](Self::poll_event) returns everything left.
    pub fn finish(&mut self) {
        self.finished = true;
        for direction in Direction::BOTH {
            self.framers[direction.index()].finish(direction, &mut self.queue);
        }
    }

    /// Events observed and not yet returned.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.queue.len()
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        if let (Some(keys), Some(random)) = (&self.keys, &self.client_random) {
            keys.forget(random);
        }
    }
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracer")
            .field("decrypts", &self.keys.is_some())
            .field("version", &self.version)
            .field("suite", &self.suite)
            .field("pending", &self.queue.len())
            .finish_non_exhaustive()
    }
}
