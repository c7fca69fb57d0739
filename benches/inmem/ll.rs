//! The lltls side: `LlConnection` with its own `IncomingTls`/`OutgoingTls`,
//! driven the way a socket driver does.
//!
//! [`Ll`] is lltls as it ships (its in-place record layer after the
//! handshake), [`LlRoom`] the same sending through `record_room`, [`LlRustls`]
//! lltls with rustls's record layer throughout. They give each connection new
//! `Vec` buffers, as `IncomingTls::new()` does. [`LlPooled`] backs them with
//! [`PooledBuf`], storage that goes back to a per-thread pool when the
//! connection ends: what a server can do because it owns the buffers, and
//! the buffered API cannot.

use std::cell::RefCell;
use std::sync::Arc;

use lltls::{
    IncomingTls, LlClientConnection, LlConnection, LlServerConnection, OutgoingTls, ReceiveHalf,
    ReceiveStatus, RecordLayer, SendHalf, Side, Status, Storage, MAX_ENCRYPT_CHUNK,
};
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::server::UnbufferedServerConnection;

use crate::configs::Rustls023;
use crate::harness::{copy_bytes, Api, Endpoint, Sink, Wire};

fn client_conn(
    config: &Arc<rustls::ClientConfig>,
    record_layer: RecordLayer,
) -> LlConnection<UnbufferedClientConnection> {
    let name = ServerName::try_from("localhost").expect("valid name");
    LlClientConnection::with_record_layer(config.clone(), name, record_layer).expect("client")
}

fn server_conn(
    config: &Arc<rustls::ServerConfig>,
    record_layer: RecordLayer,
) -> LlConnection<UnbufferedServerConnection> {
    LlServerConnection::with_record_layer(config.clone(), record_layer).expect("server")
}

/// lltls as it ships: its in-place record layer after the handshake,
/// sending with `encrypt` (one copy of the plaintext, into `OutgoingTls`).
pub struct Ll;

impl Api for Ll {
    const NAME: &'static str = "lltls in-place";
    const RECORD_LAYER: Option<RecordLayer> = Some(RecordLayer::InPlace);
    type Configs = Rustls023;
    type Client = LlEndpoint<UnbufferedClientConnection>;
    type Server = LlEndpoint<UnbufferedServerConnection>;

    fn client(config: &Arc<rustls::ClientConfig>) -> Self::Client {
        LlEndpoint::new(client_conn(config, RecordLayer::InPlace), Send::Encrypt)
    }

    fn server(config: &Arc<rustls::ServerConfig>) -> Self::Server {
        LlEndpoint::new(server_conn(config, RecordLayer::InPlace), Send::Encrypt)
    }
}

/// [`Ll`] sending through `record_room`: the application writes its
/// plaintext straight into the record's place in `OutgoingTls`, where it is
/// sealed.
pub struct LlRoom;

impl Api for LlRoom {
    const NAME: &'static str = "lltls in-place, record_room";
    const RECORD_LAYER: Option<RecordLayer> = Some(RecordLayer::InPlace);
    type Configs = Rustls023;
    type Client = LlEndpoint<UnbufferedClientConnection>;
    type Server = LlEndpoint<UnbufferedServerConnection>;

    fn client(config: &Arc<rustls::ClientConfig>) -> Self::Client {
        LlEndpoint::new(client_conn(config, RecordLayer::InPlace), Send::Room)
    }

    fn server(config: &Arc<rustls::ServerConfig>) -> Self::Server {
        LlEndpoint::new(server_conn(config, RecordLayer::InPlace), Send::Room)
    }
}

/// lltls with rustls's record layer throughout (`RecordLayer::Rustls`).
pub struct LlRustls;

impl Api for LlRustls {
    const NAME: &'static str = "lltls rustls-mode";
    const RECORD_LAYER: Option<RecordLayer> = Some(RecordLayer::Rustls);
    type Configs = Rustls023;
    type Client = LlEndpoint<UnbufferedClientConnection>;
    type Server = LlEndpoint<UnbufferedServerConnection>;

    fn client(config: &Arc<rustls::ClientConfig>) -> Self::Client {
        LlEndpoint::new(client_conn(config, RecordLayer::Rustls), Send::Encrypt)
    }

    fn server(config: &Arc<rustls::ServerConfig>) -> Self::Server {
        LlEndpoint::new(server_conn(config, RecordLayer::Rustls), Send::Encrypt)
    }
}

/// [`Ll`] split into its `SendHalf` and `ReceiveHalf` once the handshake is
/// done: the sender seals through its send half, the receiver opens through
/// its receive half, each with the buffer the whole connection used. Both
/// halves of an endpoint stay in the one thread the bench runs in, so the
/// figures are CPU time, as the other rows'.
pub struct LlSplit;

impl Api for LlSplit {
    const NAME: &'static str = "lltls split halves";
    const RECORD_LAYER: Option<RecordLayer> = Some(RecordLayer::InPlace);
    type Configs = Rustls023;
    type Client = LlSplitEndpoint<UnbufferedClientConnection>;
    type Server = LlSplitEndpoint<UnbufferedServerConnection>;

    fn client(config: &Arc<rustls::ClientConfig>) -> Self::Client {
        LlSplitEndpoint::Whole(Ll::client(config))
    }

    fn server(config: &Arc<rustls::ServerConfig>) -> Self::Server {
        LlSplitEndpoint::Whole(Ll::server(config))
    }
}

/// [`Ll`] with buffers reused from connection to connection.
pub struct LlPooled;

impl Api for LlPooled {
    const NAME: &'static str = "lltls in-place (pooled buffers)";
    const RECORD_LAYER: Option<RecordLayer> = Some(RecordLayer::InPlace);
    type Configs = Rustls023;
    type Client = LlEndpoint<UnbufferedClientConnection, PooledBuf>;
    type Server = LlEndpoint<UnbufferedServerConnection, PooledBuf>;

    fn client(config: &Arc<rustls::ClientConfig>) -> Self::Client {
        LlEndpoint::with_storage(
            client_conn(config, RecordLayer::InPlace),
            Send::Encrypt,
            PooledBuf::take(),
            PooledBuf::take(),
        )
    }

    fn server(config: &Arc<rustls::ServerConfig>) -> Self::Server {
        LlEndpoint::with_storage(
            server_conn(config, RecordLayer::InPlace),
            Send::Encrypt,
            PooledBuf::take(),
            PooledBuf::take(),
        )
    }
}

thread_local! {
    /// Buffers of connections that ended, ready for the next ones.
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A growable byte buffer that returns to the thread's pool when dropped,
/// keeping its size (and its stale contents: the connection only reads what
/// it was given, so nothing needs zeroing again).
pub struct PooledBuf(Vec<u8>);

impl PooledBuf {
    fn take() -> Self {
        Self(
            POOL.with(|pool| pool.borrow_mut().pop())
                .unwrap_or_default(),
        )
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        if !buf.is_empty() {
            POOL.with(|pool| pool.borrow_mut().push(buf));
        }
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl AsMut<[u8]> for PooledBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl Storage for PooledBuf {
    fn grow_to(&mut self, len: usize) -> bool {
        self.0.grow_to(len)
    }

    fn release(&mut self) {
        // An idle connection hands its buffer to the next connection.
        let buf = std::mem::take(&mut self.0);
        if !buf.is_empty() {
            POOL.with(|pool| pool.borrow_mut().push(buf));
        }
    }
}

/// How an endpoint hands its plaintext to lltls.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Send {
    /// `LlConnection::encrypt`, which copies it into `OutgoingTls`.
    Encrypt,
    /// `LlConnection::record_room`: written into `RecordRoom::buf()` (here
    /// copied from the application's block, as a `read(2)` would put it
    /// there), then sealed in place.
    Room,
}

pub struct LlEndpoint<C: Side, S: Storage = Vec<u8>> {
    conn: LlConnection<C>,
    send: Send,
    incoming_tls: IncomingTls<S>,
    outgoing_tls: OutgoingTls<S>,
    /// Only what the benchmark needs of `HandshakeInfo`: keeping all of it
    /// (the peer's certificates) would count against lltls's memory.
    handshake_done: bool,
    resumed: bool,
}

impl<C: Side> LlEndpoint<C> {
    fn new(conn: LlConnection<C>, send: Send) -> Self {
        Self::with_storage(conn, send, Vec::new(), Vec::new())
    }
}

impl<C: Side, S: Storage> LlEndpoint<C, S> {
    fn with_storage(conn: LlConnection<C>, send: Send, incoming: S, outgoing: S) -> Self {
        Self {
            conn,
            send,
            incoming_tls: IncomingTls::with_storage(incoming),
            outgoing_tls: OutgoingTls::with_storage(outgoing),
            handshake_done: false,
            resumed: false,
        }
    }

    /// Runs `process` until the connection waits for the peer.
    fn pump(&mut self, sink: &mut Sink) {
        loop {
            match self
                .conn
                .process(&mut self.incoming_tls, &mut self.outgoing_tls)
            {
                Ok(Status::AppDataAvailable(mut records)) => {
                    while let Some(record) = records.next_record() {
                        sink.consume(record.expect("record"));
                    }
                }
                Ok(Status::HandshakeComplete(info)) => {
                    self.handshake_done = true;
                    self.resumed = info.resumed;
                }
                Ok(Status::PeerClosed) => {}
                Ok(Status::MustTransmitTlsData | Status::NeedsMoreTlsData | Status::Closed) => {
                    return
                }
                Ok(other) => panic!("unexpected status {other:?}"),
                Err(error) => panic!("lltls: {error}"),
            }
        }
    }
}

impl<C: Side, S: Storage> Endpoint for LlEndpoint<C, S> {
    fn write_app(&mut self, app_data: &[u8]) -> usize {
        if self.send == Send::Encrypt {
            return self
                .conn
                .encrypt(app_data, &mut self.incoming_tls, &mut self.outgoing_tls)
                .expect("encrypt");
        }
        // As much per call as `encrypt` takes, one record at a time.
        let chunk = &app_data[..app_data.len().min(MAX_ENCRYPT_CHUNK)];
        let mut taken = 0;
        while taken < chunk.len() {
            let Some(mut room) = self
                .conn
                .record_room(&mut self.incoming_tls, &mut self.outgoing_tls)
                .expect("record_room")
            else {
                break;
            };
            let buf = room.buf();
            let num_bytes = buf.len().min(chunk.len() - taken);
            copy_bytes(&mut buf[..num_bytes], &chunk[taken..taken + num_bytes]);
            let sealed = room.seal(num_bytes).expect("seal");
            taken += sealed;
            if sealed < num_bytes {
                break;
            }
        }
        taken
    }

    fn flush(&mut self, wire: &mut Wire) -> usize {
        let num_bytes = wire.push(self.outgoing_tls.filled());
        self.outgoing_tls.discard(num_bytes);
        num_bytes
    }

    fn receive(&mut self, wire: &mut Wire, sink: &mut Sink) -> usize {
        let mut taken = 0;
        loop {
            // `process` makes room in `incoming_tls` before it asks for more.
            self.pump(sink);
            let num_bytes = wire.pull(self.incoming_tls.unfilled());
            if num_bytes == 0 {
                return taken;
            }
            self.incoming_tls.advance(num_bytes);
            taken += num_bytes;
        }
    }

    fn is_handshaking(&self) -> bool {
        !self.handshake_done
    }

    fn resumed(&self) -> bool {
        self.resumed
    }

    fn release_buffers(&mut self) -> Option<usize> {
        self.incoming_tls.release();
        self.outgoing_tls.release();
        Some(self.incoming_tls.capacity() + self.outgoing_tls.capacity())
    }

    fn record_layer(&self) -> Option<RecordLayer> {
        Some(self.conn.record_layer())
    }
}

/// An lltls endpoint whole during the handshake, then split.
pub enum LlSplitEndpoint<C: Side> {
    Whole(LlEndpoint<C>),
    Split(Halves<C>),
    /// Only while `connected` moves the connection from one to the other.
    Splitting,
}

/// Both halves of one endpoint and the buffers they were given.
pub struct Halves<C: Side> {
    send: SendHalf<C>,
    receive: ReceiveHalf<C>,
    incoming_tls: IncomingTls,
    outgoing_tls: OutgoingTls,
    /// The receive half asked the send half to flush (`FlushSender`).
    flush_due: bool,
    resumed: bool,
}

impl<C: Side> LlSplitEndpoint<C> {
    fn halves(&mut self) -> &mut Halves<C> {
        match self {
            LlSplitEndpoint::Split(halves) => halves,
            _ => panic!("split endpoint used for data before the split"),
        }
    }
}

impl<C: Side> Endpoint for LlSplitEndpoint<C> {
    fn write_app(&mut self, app_data: &[u8]) -> usize {
        let halves = self.halves();
        halves
            .send
            .encrypt(app_data, &mut halves.outgoing_tls)
            .expect("SendHalf::encrypt")
    }

    fn flush(&mut self, wire: &mut Wire) -> usize {
        let halves = match self {
            LlSplitEndpoint::Whole(whole) => return whole.flush(wire),
            LlSplitEndpoint::Split(halves) => halves,
            LlSplitEndpoint::Splitting => unreachable!("only inside connected"),
        };
        if std::mem::take(&mut halves.flush_due) {
            halves
                .send
                .flush(&mut halves.outgoing_tls)
                .expect("SendHalf::flush");
        }
        let num_bytes = wire.push(halves.outgoing_tls.filled());
        halves.outgoing_tls.discard(num_bytes);
        num_bytes
    }

    fn receive(&mut self, wire: &mut Wire, sink: &mut Sink) -> usize {
        let halves = match self {
            LlSplitEndpoint::Whole(whole) => return whole.receive(wire, sink),
            LlSplitEndpoint::Split(halves) => halves,
            LlSplitEndpoint::Splitting => unreachable!("only inside connected"),
        };
        let mut taken = 0;
        loop {
            match halves
                .receive
                .process(&mut halves.incoming_tls)
                .expect("ReceiveHalf::process")
            {
                ReceiveStatus::AppDataAvailable(mut records) => {
                    while let Some(record) = records.next_record() {
                        sink.consume(record.expect("record"));
                    }
                }
                ReceiveStatus::FlushSender => halves.flush_due = true,
                // `process` reserved room for a record before asking.
                ReceiveStatus::NeedsMoreTlsData | ReceiveStatus::PeerClosed => {
                    let num_bytes = wire.pull(halves.incoming_tls.unfilled());
                    if num_bytes == 0 {
                        return taken;
                    }
                    halves.incoming_tls.advance(num_bytes);
                    taken += num_bytes;
                }
                other => panic!("unexpected receive status {other:?}"),
            }
        }
    }

    fn is_handshaking(&self) -> bool {
        match self {
            LlSplitEndpoint::Whole(whole) => whole.is_handshaking(),
            _ => false,
        }
    }

    fn resumed(&self) -> bool {
        match self {
            LlSplitEndpoint::Whole(whole) => whole.resumed(),
            LlSplitEndpoint::Split(halves) => halves.resumed,
            LlSplitEndpoint::Splitting => false,
        }
    }

    fn release_buffers(&mut self) -> Option<usize> {
        match self {
            LlSplitEndpoint::Whole(whole) => whole.release_buffers(),
            LlSplitEndpoint::Split(halves) => {
                halves.incoming_tls.release();
                halves.outgoing_tls.release();
                Some(halves.incoming_tls.capacity() + halves.outgoing_tls.capacity())
            }
            LlSplitEndpoint::Splitting => None,
        }
    }

    fn record_layer(&self) -> Option<RecordLayer> {
        match self {
            LlSplitEndpoint::Whole(whole) => whole.record_layer(),
            // Only the in-place record layer splits.
            LlSplitEndpoint::Split(_) => Some(RecordLayer::InPlace),
            LlSplitEndpoint::Splitting => None,
        }
    }

    fn connected(&mut self) {
        let LlSplitEndpoint::Whole(whole) = std::mem::replace(self, LlSplitEndpoint::Splitting)
        else {
            panic!("split twice");
        };
        let LlEndpoint {
            conn,
            incoming_tls,
            outgoing_tls,
            resumed,
            ..
        } = whole;
        let (send, receive) = conn
            .into_split()
            .unwrap_or_else(|(_, error)| panic!("into_split: {error}"));
        *self = LlSplitEndpoint::Split(Halves {
            send,
            receive,
            incoming_tls,
            outgoing_tls,
            flush_due: false,
            resumed,
        });
    }
}
