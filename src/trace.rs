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

use core::fmt;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use rustls::crypto::tls13::OkmBlock;
use rustls::{
    AlertDescription, CipherSuite, ClientConfig, ContentType, HandshakeType, KeyLog, ServerConfig,
    Tls13CipherSuite,
};

use crate::error::alert_name;

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
// Secrets

/// Largest number of connections whose secrets [`TraceKeyLog`] keeps before
/// it forgets the oldest: connections whose tracer never claims them (no
/// tracer, or a ClientHello it could not read) must not grow it for ever.
const MAX_CONNECTIONS_KEPT: usize = 1024;

/// A [`KeyLog`] that keeps each connection's TLS 1.3 traffic secrets for
/// [`Tracer`]s, keyed by client random, and forwards everything to an inner
/// `KeyLog` (e.g. `rustls::KeyLogFile`, so `SSLKEYLOGFILE` keeps working).
///
/// One is shared by every connection of a config: a server's tracers each
/// find their own connection's secrets by its client random. A tracer
/// removes its connection's secrets when it is dropped; at most
/// 1024 connections are kept otherwise.
///
/// The secrets are key material: install this only when tracing.
pub struct TraceKeyLog {
    inner: Arc<dyn KeyLog>,
    store: Mutex<SecretStore>,
}

#[derive(Default)]
struct SecretStore {
    by_random: HashMap<[u8; 32], Secrets>,
    /// Insertion order, for forgetting the oldest.
    order: VecDeque<[u8; 32]>,
}

/// The TLS 1.3 traffic secrets of one connection, as far as derived.
#[derive(Clone, Default)]
struct Secrets {
    client_early: Option<Vec<u8>>,
    client_handshake: Option<Vec<u8>>,
    server_handshake: Option<Vec<u8>>,
    client_application: Option<Vec<u8>>,
    server_application: Option<Vec<u8>>,
}

impl Secrets {
    fn handshake(&self, direction: Direction) -> Option<&[u8]> {
        match direction {
            Direction::ClientToServer => self.client_handshake.as_deref(),
            Direction::ServerToClient => self.server_handshake.as_deref(),
        }
    }

    fn application(&self, direction: Direction) -> Option<&[u8]> {
        match direction {
            Direction::ClientToServer => self.client_application.as_deref(),
            Direction::ServerToClient => self.server_application.as_deref(),
        }
    }

    fn complete(&self) -> bool {
        self.client_application.is_some() && self.server_application.is_some()
    }
}

impl TraceKeyLog {
    /// A key log that forwards to `inner`.
    pub fn new(inner: Arc<dyn KeyLog>) -> Self {
        Self {
            inner,
            store: Mutex::new(SecretStore::default()),
        }
    }

    /// Installs a `TraceKeyLog` in `config`, forwarding to the key log it
    /// had, and returns it for [`Tracer::with_keys`].
    pub fn install_client(config: &mut ClientConfig) -> Arc<Self> {
        let keys = Arc::new(Self::new(config.key_log.clone()));
        config.key_log = keys.clone();
        keys
    }

    /// Installs a `TraceKeyLog` in `config`, forwarding to the key log it
    /// had, and returns it for [`Tracer::with_keys`].
    pub fn install_server(config: &mut ServerConfig) -> Arc<Self> {
        let keys = Arc::new(Self::new(config.key_log.clone()));
        config.key_log = keys.clone();
        keys
    }

    /// Connections whose secrets are held.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.lock().by_random.len()
    }

    fn lock(&self) -> MutexGuard<'_, SecretStore> {
        // The store stays consistent whatever panicked while holding it
        // (each update is one insertion): carry on.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn secrets(&self, client_random: &[u8; 32]) -> Option<Secrets> {
        self.lock().by_random.get(client_random).cloned()
    }

    fn forget(&self, client_random: &[u8; 32]) {
        let mut store = self.lock();
        if store.by_random.remove(client_random).is_some() {
            store.order.retain(|random| random != client_random);
        }
    }
}

impl fmt::Debug for TraceKeyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceKeyLog")
            .field("inner", &self.inner)
            .field("connections", &self.connections())
            .finish()
    }
}

impl KeyLog for TraceKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        if self.inner.will_log(label) {
            self.inner.log(label, client_random, secret);
        }
        let Ok(random) = <[u8; 32]>::try_from(client_random) else {
            return;
        };
        let mut store = self.lock();
        if !store.by_random.contains_key(&random) {
            if store.order.len() >= MAX_CONNECTIONS_KEPT {
                if let Some(oldest) = store.order.pop_front() {
                    store.by_random.remove(&oldest);
                }
            }
            store.order.push_back(random);
        }
        let secrets = store.by_random.entry(random).or_default();
        let slot = match label {
            "CLIENT_EARLY_TRAFFIC_SECRET" => &mut secrets.client_early,
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut secrets.client_handshake,
            "SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut secrets.server_handshake,
            "CLIENT_TRAFFIC_SECRET_0" => &mut secrets.client_application,
            "SERVER_TRAFFIC_SECRET_0" => &mut secrets.server_application,
            // TLS 1.2's master secret, the exporter secret: not needed.
            _ => return,
        };
        *slot = Some(secret.to_vec());
    }

    fn will_log(&self, _label: &str) -> bool {
        // The tracer needs every traffic secret, whatever the inner log
        // wants; `log` asks the inner log itself.
        true
    }
}

// ---------------------------------------------------------------------------
// What the tracer reports

/// One event of the connection, in the order observed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// One [`Tracer::observe`] call: a socket write (the tracer's own
    /// direction) or read (the other), of `len` bytes.
    Io {
        /// The direction of the bytes.
        direction: Direction,
        /// How many bytes.
        len: usize,
    },
    /// A whole record (or what is left of a broken one).
    Record(Record),
}

/// One TLS record as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// Which way it went.
    pub direction: Direction,
    /// The content type in its header (`ApplicationData` for every
    /// encrypted TLS 1.3 record).
    pub content_type: ContentType,
    /// Bytes on the wire, 5-byte header included.
    pub size: usize,
    /// Whether its contents were encrypted on the wire.
    pub encrypted: bool,
    /// What it carries (decrypted, for TLS 1.3).
    pub contents: Contents,
}

/// What a record carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Contents {
    /// Handshake messages, or pieces of them.
    Handshake(Vec<HandshakePart>),
    /// A ChangeCipherSpec message.
    ChangeCipherSpec,
    /// An alert.
    Alert {
        /// Its level.
        level: AlertLevel,
        /// Its description.
        description: AlertDescription,
    },
    /// Application data, `len` bytes of plaintext.
    ApplicationData {
        /// Bytes of plaintext.
        len: usize,
    },
    /// A TLS 1.2 record encrypted under keys the tracer does not derive.
    /// The outer type says what it carries; after ChangeCipherSpec a
    /// handshake record is the Finished message (rustls never renegotiates).
    Tls12Encrypted {
        /// The outer content type.
        content_type: ContentType,
        /// Plaintext bytes, from the negotiated suite's overhead, when known.
        plaintext_len: Option<usize>,
    },
    /// An encrypted TLS 1.3 record the tracer could not decrypt.
    NotDecrypted(NotDecrypted),
    /// A heartbeat message (rustls neither sends nor accepts them).
    Heartbeat,
    /// Not a well-formed record or message.
    Malformed(Malformed),
}

/// Why an encrypted TLS 1.3 record was not decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotDecrypted {
    /// The tracer has no key log, or the connection's secrets never arrived
    /// (e.g. rejected 0-RTT data, which the server never derives keys for).
    NoKeys,
    /// No known key opens it: corrupt, forged, or under a key the tracer
    /// could not follow.
    Failed,
}

/// How a record or message is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The header's content type is not a TLS one; the direction is no
    /// longer parsed.
    UnknownContentType(u8),
    /// The header's version is not 3.x; the direction is no longer parsed.
    BadVersion(u16),
    /// The header announces more than a record may hold (2^14 + 2048 bytes
    /// of payload); the direction is no longer parsed.
    Oversized(usize),
    /// The bytes ended in the middle of a record (`size` has what there was).
    Truncated {
        /// The record's full size per its header, when the header was whole.
        expected: Option<usize>,
    },
    /// A payload whose length does not fit its content type.
    BadLength,
    /// A decrypted TLS 1.3 record with no content type (all padding).
    NoInnerType,
    /// A decrypted TLS 1.3 record with this inner content type.
    BadInnerType(u8),
}

/// An alert's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertLevel {
    /// `warning` (1).
    Warning,
    /// `fatal` (2).
    Fatal,
    /// Any other value.
    Unknown(u8),
}

/// A handshake message, or the piece of it one record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakePart {
    /// The message type. A ServerHello with the HelloRetryRequest random is
    /// reported as [`HandshakeType::HelloRetryRequest`].
    pub typ: HandshakeType,
    /// Where this piece starts in the message (4-byte header included).
    pub offset: usize,
    /// Bytes of the message in this record.
    pub len: usize,
    /// The message's size (header included); `None` while this record holds
    /// only part of its 4-byte header.
    pub total: Option<usize>,
}

impl HandshakePart {
    /// Whether the record holds the whole message.
    #[must_use]
    pub fn is_whole(&self) -> bool {
        self.offset == 0 && self.total == Some(self.len)
    }
}

impl Record {
    /// The content type of what the record carries: the inner type of a
    /// decrypted TLS 1.3 record, the outer type otherwise.
    #[must_use]
    pub fn inner_type(&self) -> ContentType {
        match &self.contents {
            Contents::Handshake(_) => ContentType::Handshake,
            Contents::ChangeCipherSpec => ContentType::ChangeCipherSpec,
            Contents::Alert { .. } => ContentType::Alert,
            Contents::ApplicationData { .. } => ContentType::ApplicationData,
            Contents::Heartbeat => ContentType::Heartbeat,
            _ => self.content_type,
        }
    }

    /// The handshake message types that start or end in this record, in
    /// order (each once, however it is split).
    #[must_use]
    pub fn handshake_types(&self) -> Vec<HandshakeType> {
        match &self.contents {
            Contents::Handshake(parts) => parts.iter().map(|p| p.typ).collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for AlertLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Warning => f.write_str("warning"),
            Self::Fatal => f.write_str("fatal"),
            Self::Unknown(level) => write!(f, "level({level})"),
        }
    }
}

impl fmt::Display for HandshakePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.typ)?;
        if !self.is_whole() {
            let end = self.offset + self.len;
            match self.total {
                Some(total) => write!(f, "[{}..{end}/{total}B]", self.offset)?,
                None => write!(f, "[{}..{end}/?B]", self.offset)?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownContentType(t) => write!(f, "not a TLS record (content type {t})"),
            Self::BadVersion(v) => write!(f, "not a TLS record (version {v:#06x})"),
            Self::Oversized(len) => write!(f, "record too large ({len}B payload)"),
            Self::Truncated {
                expected: Some(expected),
            } => write!(f, "truncated record (of {expected}B)"),
            Self::Truncated { expected: None } => f.write_str("truncated record header"),
            Self::BadLength => f.write_str("bad payload length"),
            Self::NoInnerType => f.write_str("no inner content type"),
            Self::BadInnerType(t) => write!(f, "inner content type {t}"),
        }
    }
}

impl fmt::Display for Contents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Handshake(parts) => {
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{part}")?;
                }
                Ok(())
            }
            Self::ChangeCipherSpec => f.write_str("ChangeCipherSpec"),
            Self::Alert { level, description } => {
                write!(f, "Alert {level} {}", alert_name(*description))
            }
            Self::ApplicationData { len } => write!(f, "ApplicationData {len}B"),
            Self::Tls12Encrypted {
                content_type,
                plaintext_len,
            } => match (content_type, plaintext_len) {
                (ContentType::Handshake, _) => f.write_str("Finished"),
                (ContentType::ApplicationData, Some(len)) => write!(f, "ApplicationData {len}B"),
                (other, _) => write!(f, "{other:?}"),
            },
            Self::NotDecrypted(NotDecrypted::NoKeys) => f.write_str("? (no keys)"),
            Self::NotDecrypted(NotDecrypted::Failed) => f.write_str("? (cannot decrypt)"),
            Self::Heartbeat => f.write_str("Heartbeat"),
            Self::Malformed(m) => write!(f, "malformed: {m}"),
        }
    }
}

impl fmt::Display for Record {
    /// One line, e.g. `C>S  Handshake  1460B  ClientHello`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}  {:?}  {}B  {}{}",
            self.direction,
            self.content_type,
            self.size,
            if self.encrypted { "[enc] " } else { "" },
            self.contents
        )
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { direction, len } => write!(f, "{direction}  io  {len}B"),
            Self::Record(record) => write!(f, "{record}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Framing

const HEADER_LEN: usize = 5;
/// rustls's limit on a record's payload: 2^14 plus 2048 bytes of expansion.
const MAX_PAYLOAD: usize = 16_384 + 2_048;
/// Records waiting for keys, at most (count and bytes), before the oldest is
/// reported without them: keys that never come must not hold the trace.
const MAX_WAITING_RECORDS: usize = 256;
const MAX_WAITING_BYTES: usize = 4 << 20;

/// Cuts one direction's bytes into records.
#[derive(Default)]
struct Framer {
    /// A record not complete yet (at most one record).
    partial: Vec<u8>,
    /// The framing was lost to garbage: nothing more is parsed.
    broken: bool,
}

impl Framer {
    fn push(&mut self, direction: Direction, mut bytes: &[u8], out: &mut VecDeque<Item>) {
        while !bytes.is_empty() && !self.broken {
            if self.partial.len() < HEADER_LEN {
                let take = (HEADER_LEN - self.partial.len()).min(bytes.len());
                self.partial.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if self.partial.len() < HEADER_LEN {
                    return;
                }
                if let Some(malformed) = check_header(&self.partial) {
                    self.broken = true;
                    let size = self.partial.len() + bytes.len();
                    out.push_back(Item::Ready(broken_record(
                        direction,
                        self.partial[0],
                        size,
                        malformed,
                    )));
                    self.partial = Vec::new();
                    return;
                }
            }
            let total = HEADER_LEN + payload_len(&self.partial);
            let take = (total - self.partial.len()).min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.partial.len() == total {
                out.push_back(Item::Record(direction, std::mem::take(&mut self.partial)));
            }
        }
    }

    /// The bytes ended: reports a partial record.
    fn finish(&mut self, direction: Direction, out: &mut VecDeque<Item>) {
        if self.partial.is_empty() || self.broken {
            return;
        }
        let expected =
            (self.partial.len() >= HEADER_LEN).then(|| HEADER_LEN + payload_len(&self.partial));
        out.push_back(Item::Ready(broken_record(
            direction,
            self.partial[0],
            self.partial.len(),
            Malformed::Truncated { expected },
        )));
        self.partial = Vec::new();
    }
}

fn payload_len(header: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([header[3], header[4]]))
}

fn check_header(header: &[u8]) -> Option<Malformed> {
    if !(20..=24).contains(&header[0]) {
        return Some(Malformed::UnknownContentType(header[0]));
    }
    if header[1] != 3 {
        return Some(Malformed::BadVersion(u16::from_be_bytes([
            header[1], header[2],
        ])));
    }
    let len = payload_len(header);
    (len > MAX_PAYLOAD).then_some(Malformed::Oversized(len))
}

fn broken_record(
    direction: Direction,
    content_type: u8,
    size: usize,
    malformed: Malformed,
) -> Event {
    Event::Record(Record {
        direction,
        content_type: ContentType::from(content_type),
        size,
        encrypted: false,
        contents: Contents::Malformed(malformed),
    })
}

/// What waits in the tracer's queue, in the order observed.
enum Item {
    /// Decided already.
    Ready(Event),
    /// A whole record, to decode in turn.
    Record(Direction, Vec<u8>),
}

// ---------------------------------------------------------------------------
// Handshake messages

/// ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest")
/// (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// The hello messages are kept whole to read them; nothing else is kept.
const MAX_CAPTURED_MESSAGE: usize = 1 << 16;

/// One direction's handshake byte stream, cut into messages.
#[derive(Default)]
struct HandshakeStream {
    header: [u8; 4],
    /// Bytes of the current message seen so far, header included.
    seen: usize,
    body_len: usize,
    /// The body of a hello message being received.
    capture: Option<Vec<u8>>,
    /// The current ServerHello is a HelloRetryRequest.
    retry: bool,
}

/// A handshake message the tracer acts on.
enum Message {
    ClientHello(Vec<u8>),
    ServerHello(Vec<u8>),
    KeyUpdate,
}

impl HandshakeStream {
    fn feed(&mut self, mut data: &[u8], parts: &mut Vec<HandshakePart>, done: &mut Vec<Message>) {
        while !data.is_empty() {
            let start = self.seen;
            if self.seen < 4 {
                let take = (4 - self.seen).min(data.len());
                self.header[self.seen..self.seen + take].copy_from_slice(&data[..take]);
                self.seen += take;
                data = &data[take..];
                if self.seen == 4 {
                    self.body_len = usize::from(self.header[1]) << 16
                        | usize::from(self.header[2]) << 8
                        | usize::from(self.header[3]);
                    let typ = HandshakeType::from(self.header[0]);
                    self.retry = false;
                    self.capture =
                        (matches!(typ, HandshakeType::ClientHello | HandshakeType::ServerHello)
                            && self.body_len <= MAX_CAPTURED_MESSAGE)
                            .then(Vec::new);
                }
            }
            if self.seen >= 4 {
                let take = (4 + self.body_len - self.seen).min(data.len());
                if let Some(capture) = &mut self.capture {
                    capture.extend_from_slice(&data[..take]);
                    if self.header[0] == u8::from(HandshakeType::ServerHello)
                        && capture.len() >= 34
                        && capture[2..34] == HRR_RANDOM
                    {
                        self.retry = true;
                    }
                }
                self.seen += take;
                data = &data[take..];
            }
            let typ = match HandshakeType::from(self.header[0]) {
                HandshakeType::ServerHello if self.retry => HandshakeType::HelloRetryRequest,
                typ => typ,
            };
            let total = (self.seen >= 4).then_some(4 + self.body_len);
            parts.push(HandshakePart {
                typ,
                offset: start,
                len: self.seen - start,
                total,
            });
            if total == Some(self.seen) {
                self.seen = 0;
                let body = self.capture.take();
                match (HandshakeType::from(self.header[0]), body) {
                    (HandshakeType::ClientHello, Some(body)) => {
                        done.push(Message::ClientHello(body))
                    }
                    (HandshakeType::ServerHello, Some(body)) => {
                        done.push(Message::ServerHello(body))
                    }
                    (HandshakeType::KeyUpdate, _) => done.push(Message::KeyUpdate),
                    _ => {}
                }
            }
        }
    }
}

/// A bounds-checked reader over a message body: `None` when it runs out.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

/// What a ServerHello says.
struct ServerHello {
    suite: CipherSuite,
    tls13: bool,
}

fn parse_server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut r = Reader(body);
    r.take(2 + 32)?; // legacy_version, random
    let session_id_len = r.u8()?;
    r.take(usize::from(session_id_len))?;
    let suite = CipherSuite::from(r.u16()?);
    r.u8()?; // compression
    let mut tls13 = false;
    if let Some(len) = r.u16() {
        let mut extensions = Reader(r.take(usize::from(len))?);
        while let (Some(typ), Some(len)) = (extensions.u16(), extensions.u16()) {
            let data = extensions.take(usize::from(len))?;
            // supported_versions selecting TLS 1.3
            if typ == 0x002b && data == [0x03, 0x04] {
                tls13 = true;
            }
        }
    }
    Some(ServerHello { suite, tls13 })
}

// ---------------------------------------------------------------------------
// TLS 1.3 record protection

/// Key phases of one direction, in the order a connection moves through
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Early,
    Handshake,
    /// Application traffic secret N (N > 0 after KeyUpdates).
    Application(u32),
}

struct TrafficKey {
    phase: Phase,
    suite: &'static Tls13CipherSuite,
    secret: Vec<u8>,
    key: LessSafeKey,
    iv: [u8; aead::NONCE_LEN],
    /// Sequence number of the next record.
    seq: u64,
}

/// The TLS 1.3 suites the tracer can decrypt: aws-lc-rs's (all three RFC
/// 8446 AEAD suites rustls implements).
fn tls13_suites() -> impl Iterator<Item = &'static Tls13CipherSuite> {
    rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES
        .iter()
        .filter_map(|suite| suite.tls13())
}

fn aead_algorithm(suite: CipherSuite) -> Option<&'static aead::Algorithm> {
    match suite {
        CipherSuite::TLS13_AES_128_GCM_SHA256 => Some(&aead::AES_128_GCM),
        CipherSuite::TLS13_AES_256_GCM_SHA384 => Some(&aead::AES_256_GCM),
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => Some(&aead::CHACHA20_POLY1305),
        _ => None,
    }
}

/// HKDF-Expand-Label(secret, label, context, out.len()) with the suite's
/// hash (RFC 8446 §7.1).
fn hkdf_expand_label(
    suite: &Tls13CipherSuite,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Option<()> {
    // The provider's HKDF expects a PRK of the hash's length (OkmBlock
    // holds at most 64 bytes); anything else is not this suite's secret.
    if secret.len() != suite.common.hash_provider.output_len() {
        return None;
    }
    let out_len = u16::try_from(out.len()).ok()?.to_be_bytes();
    let label_len = [u8::try_from(6 + label.len()).ok()?];
    let context_len = [u8::try_from(context.len()).ok()?];
    suite
        .hkdf_provider
        .expander_for_okm(&OkmBlock::new(secret))
        .expand_slice(
            &[
                &out_len,
                &label_len,
                b"tls13 ",
                label,
                &context_len,
                context,
            ],
            out,
        )
        .ok()
}

impl TrafficKey {
    fn derive(phase: Phase, suite: &'static Tls13CipherSuite, secret: &[u8]) -> Option<Self> {
        let algorithm = aead_algorithm(suite.common.suite)?;
        let mut key = [0u8; 32];
        let key = &mut key[..algorithm.key_len()];
        hkdf_expand_label(suite, secret, b"key", &[], key)?;
        let mut iv = [0u8; aead::NONCE_LEN];
        hkdf_expand_label(suite, secret, b"iv", &[], &mut iv)?;
        Some(Self {
            phase,
            suite,
            secret: secret.to_vec(),
            key: LessSafeKey::new(UnboundKey::new(algorithm, key).ok()?),
            iv,
            seq: 0,
        })
    }

    /// The key after a KeyUpdate: application_traffic_secret_N+1 =
    /// HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length).
    fn next(&self) -> Option<Self> {
        let Phase::Application(n) = self.phase else {
            return None;
        };
        let mut secret = vec![0u8; self.secret.len()];
        hkdf_expand_label(self.suite, &self.secret, b"traffic upd", &[], &mut secret)?;
        Self::derive(Phase::Application(n.checked_add(1)?), self.suite, &secret)
    }

    /// Decrypts a copy of `record` (header included) under this key and the
    /// sequence number `seq`, without touching the key's own state.
    fn open(&self, record: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        let mut payload = record.get(HEADER_LEN..)?.to_vec();
        let plaintext_len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(record.get(..HEADER_LEN)?),
                &mut payload,
            )
            .ok()?
            .len();
        payload.truncate(plaintext_len);
        Some(payload)
    }
}

// ---------------------------------------------------------------------------
// The tracer

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

    fn decode(
        &mut self,
        direction: Direction,
        record: &[u8],
        give_up: bool,
    ) -> Result<Record, Wait> {
        let content_type = ContentType::from(record[0]);
        let payload = &record[HEADER_LEN..];
        let tls12_encrypted =
            self.version == Version::Tls12 && self.decoders[direction.index()].ccs_seen;
        let (encrypted, contents) = match content_type {
            ContentType::ApplicationData if self.version != Version::Tls12 => {
                (true, self.decrypt(direction, record, give_up)?)
            }
            ContentType::ApplicationData | ContentType::Handshake | ContentType::Alert
                if tls12_encrypted =>
            {
                let contents = Contents::Tls12Encrypted {
                    content_type,
                    plaintext_len: self.tls12_plaintext_len(payload.len()),
                };
                (true, contents)
            }
            ContentType::ApplicationData => {
                (false, Contents::ApplicationData { len: payload.len() })
            }
            ContentType::ChangeCipherSpec => {
                self.decoders[direction.index()].ccs_seen = true;
                if payload == [1] {
                    (false, Contents::ChangeCipherSpec)
                } else {
                    (false, Contents::Malformed(Malformed::BadLength))
                }
            }
            ContentType::Alert => (false, alert(payload)),
            ContentType::Handshake => (false, self.handshake(direction, payload)),
            // The framer lets only 20..=24 through: this is a heartbeat.
            _ => (false, Contents::Heartbeat),
        };
        Ok(Record {
            direction,
            content_type,
            size: record.len(),
            encrypted,
            contents,
        })
    }

    fn tls12_plaintext_len(&self, payload_len: usize) -> Option<usize> {
        let name = self.suite?.as_str()?;
        // AES-GCM sends an 8-byte explicit nonce and a 16-byte tag;
        // ChaCha20-Poly1305 only the tag (RFC 5288, RFC 7905).
        let overhead = if name.contains("CHACHA20_POLY1305") {
            16
        } else if name.contains("_GCM_") {
            24
        } else {
            return None;
        };
        payload_len.checked_sub(overhead)
    }

    /// Feeds handshake bytes to the direction's stream and acts on the
    /// messages that completed.
    fn handshake(&mut self, direction: Direction, data: &[u8]) -> Contents {
        let mut parts = Vec::new();
        let mut done = Vec::new();
        self.decoders[direction.index()]
            .handshake
            .feed(data, &mut parts, &mut done);
        for message in done {
            match message {
                Message::ClientHello(body) => {
                    // The second ClientHello after a HelloRetryRequest has
                    // the same random.
                    if self.client_random.is_none() {
                        self.client_random = body
                            .get(2..34)
                            .and_then(|random| <[u8; 32]>::try_from(random).ok());
                    }
                }
                Message::ServerHello(body) => {
                    if let Some(hello) = parse_server_hello(&body) {
                        self.suite = Some(hello.suite);
                        self.version = if hello.tls13 {
                            Version::Tls13
                        } else {
                            Version::Tls12
                        };
                    }
                }
                Message::KeyUpdate => {
                    // The sender switches keys right after this record.
                    let decoder = &mut self.decoders[direction.index()];
                    decoder.key = decoder.key.as_ref().and_then(TrafficKey::next);
                }
            }
        }
        Contents::Handshake(parts)
    }

    /// Decrypts a TLS 1.3 record under the direction's current key, or the
    /// first later key that opens it.
    fn decrypt(
        &mut self,
        direction: Direction,
        record: &[u8],
        give_up: bool,
    ) -> Result<Contents, Wait> {
        if self.keys.is_none() || self.client_random.is_none() {
            return Ok(Contents::NotDecrypted(NotDecrypted::NoKeys));
        }
        self.refresh_secrets();
        let index = direction.index();
        if let Some(key) = &mut self.decoders[index].key {
            if let Some(plaintext) = key.open(record) {
                key.seq += 1;
                return Ok(self.inner(direction, plaintext));
            }
        }
        if let Some((key, plaintext)) = self.open_with_later_key(direction, record) {
            self.decoders[index].key = Some(key);
            return Ok(self.inner(direction, plaintext));
        }
        // rustls derives each secret before it uses it, and logs the
        // application secrets last: until they are known, the key that opens
        // this record may still come.
        if self.secrets.application(direction).is_none() && !give_up {
            return Err(Wait);
        }
        Ok(Contents::NotDecrypted(
            if self.secrets.application(direction).is_none() {
                NotDecrypted::NoKeys
            } else {
                NotDecrypted::Failed
            },
        ))
    }

    /// Tries the direction's secrets for the phases after its current one,
    /// in order: the first key that opens `record` is the one the sender
    /// switched to.
    fn open_with_later_key(
        &self,
        direction: Direction,
        record: &[u8],
    ) -> Option<(TrafficKey, Vec<u8>)> {
        let current = self.decoders[direction.index()]
            .key
            .as_ref()
            .map(|key| key.phase);
        let candidates = [
            (Phase::Early, self.early_secret(direction)),
            (Phase::Handshake, self.secrets.handshake(direction)),
            (Phase::Application(0), self.secrets.application(direction)),
        ];
        for (phase, secret) in candidates {
            let Some(secret) = secret else { continue };
            if current.is_some_and(|current| current >= phase) {
                continue;
            }
            for suite in self.candidate_suites(secret.len()) {
                let Some(mut key) = TrafficKey::derive(phase, suite, secret) else {
                    continue;
                };
                if let Some(plaintext) = key.open(record) {
                    key.seq = 1;
                    return Some((key, plaintext));
                }
            }
        }
        None
    }

    fn early_secret(&self, direction: Direction) -> Option<&[u8]> {
        match direction {
            Direction::ClientToServer => self.secrets.client_early.as_deref(),
            Direction::ServerToClient => None,
        }
    }

    /// The negotiated suite once the ServerHello said; before it (0-RTT
    /// data precedes it), every TLS 1.3 suite whose hash fits the secret.
    fn candidate_suites(
        &self,
        secret_len: usize,
    ) -> impl Iterator<Item = &'static Tls13CipherSuite> + '_ {
        tls13_suites().filter(move |suite| match self.suite {
            Some(negotiated) => suite.common.suite == negotiated,
            None => suite.common.hash_provider.output_len() == secret_len,
        })
    }

    fn refresh_secrets(&mut self) {
        if self.secrets.complete() {
            return;
        }
        if let (Some(keys), Some(random)) = (&self.keys, &self.client_random) {
            if let Some(secrets) = keys.secrets(random) {
                self.secrets = secrets;
            }
        }
    }

    /// Reads a decrypted TLS 1.3 record: content, zero padding, type byte.
    fn inner(&mut self, direction: Direction, mut plaintext: Vec<u8>) -> Contents {
        while plaintext.last() == Some(&0) {
            plaintext.pop();
        }
        let Some(inner_type) = plaintext.pop() else {
            return Contents::Malformed(Malformed::NoInnerType);
        };
        match ContentType::from(inner_type) {
            ContentType::Handshake => self.handshake(direction, &plaintext),
            ContentType::Alert => alert(&plaintext),
            ContentType::ApplicationData => Contents::ApplicationData {
                len: plaintext.len(),
            },
            _ => Contents::Malformed(Malformed::BadInnerType(inner_type)),
        }
    }
}

fn alert(payload: &[u8]) -> Contents {
    match payload {
        [level, description] => Contents::Alert {
            level: match level {
                1 => AlertLevel::Warning,
                2 => AlertLevel::Fatal,
                other => AlertLevel::Unknown(*other),
            },
            description: AlertDescription::from(*description),
        },
        _ => Contents::Malformed(Malformed::BadLength),
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

// ---------------------------------------------------------------------------
// Sequence diagrams

/// A mermaid `sequenceDiagram` of one connection, in the style of the
/// caller-managed-buffers RFC's diagram.
///
/// Participants: `HTTPClient`, `ClientConnection`, `ClientBuffers`,
/// `ServerBuffers`, `ServerConnection`, `HTTPServer`. Each record is one
/// arrow from the connection that sent it to its buffers, with its size;
/// the socket writes (or reads, on the tracer's side) that carried a flight
/// are arrows between the two buffers, with their sizes; plaintext goes from
/// the application to its connection before the record that carries it, and
/// from the other connection to its application after. The view is the
/// tracer's end (its own socket reads and writes), but the records are the
/// same at both ends.
#[derive(Debug)]
pub struct SequenceDiagram {
    role: Role,
    lines: Vec<String>,
    /// The flight being collected: its direction, its sender-side lines, its
    /// socket lines and its receiver-side lines.
    flight: Option<Flight>,
}

#[derive(Debug)]
struct Flight {
    direction: Direction,
    sender: Vec<String>,
    io: Vec<String>,
    receiver: Vec<String>,
}

struct Names {
    app: &'static str,
    conn: &'static str,
    buffers: &'static str,
}

fn names(direction: Direction) -> (Names, Names) {
    let client = Names {
        app: "HTTPClient",
        conn: "ClientConnection",
        buffers: "ClientBuffers",
    };
    let server = Names {
        app: "HTTPServer",
        conn: "ServerConnection",
        buffers: "ServerBuffers",
    };
    match direction {
        Direction::ClientToServer => (client, server),
        Direction::ServerToClient => (server, client),
    }
}

impl SequenceDiagram {
    /// An empty diagram, drawn from `role`'s end.
    #[must_use]
    pub fn new(role: Role) -> Self {
        Self {
            role,
            lines: Vec::new(),
            flight: None,
        }
    }

    /// Adds one event.
    pub fn push(&mut self, event: &Event) {
        let direction = match event {
            Event::Io { direction, .. } => *direction,
            Event::Record(record) => record.direction,
        };
        if self.flight.as_ref().map(|f| f.direction) != Some(direction) {
            self.end_flight();
            self.flight = Some(Flight {
                direction,
                sender: Vec::new(),
                io: Vec::new(),
                receiver: Vec::new(),
            });
        }
        let role = self.role;
        let Some(flight) = self.flight.as_mut() else {
            return;
        };
        let (sender, receiver) = names(direction);
        match event {
            Event::Io { len, .. } => {
                // The tracing end's own socket call: a write of what it
                // sends, a read of what it receives.
                let call = if direction == role.sending() {
                    "write"
                } else {
                    "read"
                };
                flight.io.push(format!(
                    "  {} ->> {}: socket {call} ({len}B)",
                    sender.buffers, receiver.buffers
                ));
            }
            Event::Record(record) => {
                if let Some(len) = plaintext_len(record) {
                    flight.sender.push(format!(
                        "  {} ->> {}: ApplicationData ({len}B)",
                        sender.app, sender.conn
                    ));
                    flight.receiver.push(format!(
                        "  {} ->> {}: ApplicationData ({len}B)",
                        receiver.conn, receiver.app
                    ));
                }
                flight.sender.push(format!(
                    "  {} ->> {}: {} ({}B)",
                    sender.conn,
                    sender.buffers,
                    arrow_label(record),
                    record.size
                ));
            }
        }
    }

    fn end_flight(&mut self) {
        if let Some(flight) = self.flight.take() {
            if !self.lines.is_empty() {
                self.lines.push(String::new());
            }
            self.lines.extend(flight.sender);
            self.lines.extend(flight.io);
            self.lines.extend(flight.receiver);
        }
    }

    /// The diagram so far, as mermaid source.
    #[must_use]
    pub fn render(&mut self) -> String {
        self.end_flight();
        let mut out = String::from("sequenceDiagram\n");
        out.push_str(match self.role {
            Role::Client => "  %% lltls record trace, socket IO as seen by the client\n",
            Role::Server => "  %% lltls record trace, socket IO as seen by the server\n",
        });
        for participant in [
            "HTTPClient",
            "ClientConnection",
            "ClientBuffers",
            "ServerBuffers",
            "ServerConnection",
            "HTTPServer",
        ] {
            out.push_str("  participant ");
            out.push_str(participant);
            out.push('\n');
        }
        out.push('\n');
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// Plaintext application data a record carries, when known.
fn plaintext_len(record: &Record) -> Option<usize> {
    match record.contents {
        Contents::ApplicationData { len } => Some(len),
        Contents::Tls12Encrypted {
            content_type: ContentType::ApplicationData,
            plaintext_len,
        } => plaintext_len,
        _ => None,
    }
}

/// The RFC diagram's labels: `HS::ClientHello`, `[enc] HS::Finished`,
/// `ChangeCipherSpec`, `[enc] ApplicationData`, `[enc] Alert close_notify`.
fn arrow_label(record: &Record) -> String {
    let prefix = if record.encrypted { "[enc] " } else { "" };
    let what = match &record.contents {
        Contents::Handshake(parts) => parts
            .iter()
            .map(|part| format!("HS::{part}"))
            .collect::<Vec<_>>()
            .join(", "),
        Contents::ApplicationData { .. } => "ApplicationData".to_owned(),
        Contents::Alert { description, .. } => format!("Alert {}", alert_name(*description)),
        Contents::Tls12Encrypted {
            content_type: ContentType::Handshake,
            ..
        } => "HS::Finished".to_owned(),
        Contents::Tls12Encrypted { content_type, .. } => format!("{content_type:?}"),
        other => other.to_string(),
    };
    // Mermaid ends a message at `;` and reads `#` as an entity.
    format!("{prefix}{what}").replace([';', '#'], " ")
}

// ---------------------------------------------------------------------------
// Reporting

/// What a program does with one connection's trace: one line per record
/// (`--trace`), a sequence diagram (`--sequence-diagram`), or both.
///
/// The program decides where lines go (`llclient` and `llserver` use
/// stderr, keeping stdout for application data).
#[derive(Debug)]
pub struct TraceReport {
    lines: bool,
    diagram: Option<SequenceDiagram>,
}

impl TraceReport {
    /// A report that prints record lines if `lines`, and draws a diagram
    /// from `diagram`'s end if given.
    #[must_use]
    pub fn new(lines: bool, diagram: Option<Role>) -> Self {
        Self {
            lines,
            diagram: diagram.map(SequenceDiagram::new),
        }
    }

    /// Takes every event `tracer` has ready: writes each record's line to
    /// `out` and adds the events to the diagram.
    pub fn take(
        &mut self,
        tracer: &mut Tracer,
        out: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        while let Some(event) = tracer.poll_event() {
            if let (true, Event::Record(record)) = (self.lines, &event) {
                writeln!(out, "{record}")?;
            }
            if let Some(diagram) = &mut self.diagram {
                diagram.push(&event);
            }
        }
        Ok(())
    }

    /// The diagram as mermaid source, if one is drawn.
    #[must_use]
    pub fn diagram(&mut self) -> Option<String> {
        self.diagram.as_mut().map(SequenceDiagram::render)
    }
}
