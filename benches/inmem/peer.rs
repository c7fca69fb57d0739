//! The peer: rustls 0.24's own caller-managed-buffer API (`Connection`
//! with `read_tls` over a `TlsInputBuffer`, `write` appending records to a
//! `Vec<u8>`), on its aws-lc-rs provider crate, driven as well as that API
//! allows.
//!
//! Its input buffer is our own `TlsInputBuffer`: one 64 KiB buffer the wire
//! is read straight into, moved down only when the free tail could no longer
//! take a whole record. (rustls's `VecInput` reads through `io::Read`, 4 KiB
//! more at a time while it grows, shrinks when it runs empty and moves what
//! is left after each `read_tls`.) Received plaintext is lent from that
//! buffer, decrypted in place; sent records are appended to one reused `Vec`.

use std::sync::Arc;

use rustls024::crypto::cipher::OutboundPlain;
use rustls024::pki_types::ServerName;
use rustls024::split::{ReceiveTraffic, ReceiveTrafficState, SendTraffic, SplitConnection};
use rustls024::{ClientSide, Connection, HandshakeKind, ServerSide, SideData, Tcp, TlsInputBuffer};

use crate::configs::Rustls024;
use crate::harness::{Api, Endpoint, Sink, Wire};

/// rustls 0.24's `Connection`, unsplit.
pub struct Peer;

impl Api for Peer {
    const NAME: &'static str = "rustls 0.24";
    const RECORD_LAYER: Option<lltls::RecordLayer> = None;
    type Configs = Rustls024;
    type Client = PeerEndpoint<ClientSide>;
    type Server = PeerEndpoint<ServerSide>;

    fn client(config: &Arc<rustls024::ClientConfig>) -> Self::Client {
        let name = ServerName::try_from("localhost").expect("valid name");
        let mut output = Vec::new();
        // The ClientHello goes into `output` at once.
        let conn = config.connect(name).build(&mut output).expect("client");
        PeerEndpoint::new(conn, output)
    }

    fn server(config: &Arc<rustls024::ServerConfig>) -> Self::Server {
        PeerEndpoint::new(Connection::new(config.clone()).expect("server"), Vec::new())
    }
}

/// rustls 0.24's `Connection` split into `SplitConnection { send, receive }`
/// once the handshake is done: the sender writes through `SendTraffic`, the
/// receiver reads through `ReceiveTraffic`, with the same buffers as
/// [`Peer`]. Both halves stay in the bench's one thread, as lltls's.
pub struct PeerSplit;

impl Api for PeerSplit {
    const NAME: &'static str = "rustls 0.24 split";
    const RECORD_LAYER: Option<lltls::RecordLayer> = None;
    type Configs = Rustls024;
    type Client = PeerSplitEndpoint<ClientSide>;
    type Server = PeerSplitEndpoint<ServerSide>;

    fn client(config: &Arc<rustls024::ClientConfig>) -> Self::Client {
        PeerSplitEndpoint::Whole(Peer::client(config))
    }

    fn server(config: &Arc<rustls024::ServerConfig>) -> Self::Server {
        PeerSplitEndpoint::Whole(Peer::server(config))
    }
}

/// Plaintext offered to `write` per call: as much as the other stacks take
/// per offer (see `harness::transfer`).
const WRITE_CHUNK: usize = 64 * 1024;

pub struct PeerEndpoint<S: SideData> {
    conn: Connection<S, Tcp>,
    input: Input,
    /// TLS bytes rustls appended; `output[sent..]` is not on the wire yet.
    output: Vec<u8>,
    sent: usize,
}

impl<S: SideData> PeerEndpoint<S> {
    fn new(conn: Connection<S, Tcp>, output: Vec<u8>) -> Self {
        Self {
            conn,
            input: Input::default(),
            output,
            sent: 0,
        }
    }

    /// Processes every complete record in `input`.
    fn process(&mut self, sink: &mut Sink) {
        let mut handler = self.conn.read_tls(&mut self.input, &mut self.output);
        while let Some(payload) = handler.next_payload() {
            sink.consume(payload.expect("rustls 0.24 read_tls").bytes());
        }
        // Dropping the handler discards what it consumed from `input`.
    }
}

impl<S: SideData> Endpoint for PeerEndpoint<S> {
    fn write_app(&mut self, app_data: &[u8]) -> usize {
        let chunk = &app_data[..app_data.len().min(WRITE_CHUNK)];
        self.conn
            .write(chunk.into(), &mut self.output)
            .expect("rustls 0.24 write");
        chunk.len()
    }

    fn flush(&mut self, wire: &mut Wire) -> usize {
        let num_bytes = wire.push(&self.output[self.sent..]);
        self.sent += num_bytes;
        if self.sent == self.output.len() {
            // Everything went: reuse the Vec from its start.
            self.output.clear();
            self.sent = 0;
        }
        num_bytes
    }

    fn receive(&mut self, wire: &mut Wire, sink: &mut Sink) -> usize {
        let mut taken = 0;
        loop {
            self.process(sink);
            let num_bytes = self.input.fill_from(wire);
            if num_bytes == 0 {
                return taken;
            }
            taken += num_bytes;
        }
    }

    fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    fn resumed(&self) -> bool {
        matches!(
            self.conn.handshake_kind(),
            Some(HandshakeKind::Resumed | HandshakeKind::ResumedWithHelloRetryRequest)
        )
    }

    fn release_buffers(&mut self) -> Option<usize> {
        // Both buffers are the caller's: an idle connection can drop them
        // once they hold nothing.
        if self.input.is_empty() {
            self.input.buf = Vec::new();
        }
        if self.sent == self.output.len() {
            self.output = Vec::new();
        }
        Some(self.input.buf.capacity() + self.output.capacity())
    }
}

/// A rustls 0.24 endpoint whole during the handshake, then split.
// Both variants are large (0.24's state lives inline); boxing either would
// add an indirection the unsplit peer does not have.
#[allow(clippy::large_enum_variant)]
pub enum PeerSplitEndpoint<S: SideData> {
    Whole(PeerEndpoint<S>),
    Split(PeerHalves<S>),
    /// Only while `connected` moves the connection from one to the other.
    Splitting,
}

pub struct PeerHalves<S: SideData> {
    send: SendTraffic,
    /// `read` takes the `ReceiveTraffic` and `ReadMore` gives it back;
    /// `None` once the peer's close_notify came.
    receive: Option<ReceiveTraffic<S>>,
    input: Input,
    output: Vec<u8>,
    sent: usize,
    /// `FlushSender` came: the next flush writes an empty plaintext first.
    flush_due: bool,
    resumed: bool,
}

impl<S: SideData> PeerHalves<S> {
    /// Reads every complete record in `input`.
    fn process(&mut self, sink: &mut Sink) {
        let Some(mut receive) = self.receive.take() else {
            return;
        };
        loop {
            // After a record, more may be in `input`: read again. `read`
            // without a record has taken every complete record there.
            let (mut next, after_record) =
                match receive.read(&mut self.input).expect("rustls 0.24 read") {
                    ReceiveTrafficState::Available(mut data) => {
                        sink.consume(data.data());
                        (data.into_next(), true)
                    }
                    ReceiveTrafficState::FlushSender(flush) => {
                        self.flush_due = true;
                        (flush.into_next(), false)
                    }
                    ReceiveTrafficState::ReadMore(next) => {
                        self.receive = Some(next);
                        return;
                    }
                    ReceiveTrafficState::CloseNotify => return,
                };
            receive = loop {
                next = match next {
                    ReceiveTrafficState::FlushSender(flush) => {
                        self.flush_due = true;
                        flush.into_next()
                    }
                    ReceiveTrafficState::ReadMore(receive) => break receive,
                    ReceiveTrafficState::CloseNotify => return,
                    ReceiveTrafficState::Available(_) => {
                        unreachable!("into_next lends no data")
                    }
                };
            };
            if !after_record {
                self.receive = Some(receive);
                return;
            }
        }
    }
}

impl<S: SideData> PeerSplitEndpoint<S> {
    fn halves(&mut self) -> &mut PeerHalves<S> {
        match self {
            PeerSplitEndpoint::Split(halves) => halves,
            _ => panic!("split endpoint used for data before the split"),
        }
    }
}

impl<S: SideData> Endpoint for PeerSplitEndpoint<S> {
    fn write_app(&mut self, app_data: &[u8]) -> usize {
        let halves = self.halves();
        let chunk = &app_data[..app_data.len().min(WRITE_CHUNK)];
        halves
            .send
            .write(chunk.into(), &mut halves.output)
            .expect("rustls 0.24 SendTraffic::write");
        chunk.len()
    }

    fn flush(&mut self, wire: &mut Wire) -> usize {
        let halves = match self {
            PeerSplitEndpoint::Whole(whole) => return whole.flush(wire),
            PeerSplitEndpoint::Split(halves) => halves,
            PeerSplitEndpoint::Splitting => unreachable!("only inside connected"),
        };
        if std::mem::take(&mut halves.flush_due) {
            halves
                .send
                .write(OutboundPlain::new_empty(), &mut halves.output)
                .expect("rustls 0.24 SendTraffic::write (flush)");
        }
        let num_bytes = wire.push(&halves.output[halves.sent..]);
        halves.sent += num_bytes;
        if halves.sent == halves.output.len() {
            halves.output.clear();
            halves.sent = 0;
        }
        num_bytes
    }

    fn receive(&mut self, wire: &mut Wire, sink: &mut Sink) -> usize {
        let halves = match self {
            PeerSplitEndpoint::Whole(whole) => return whole.receive(wire, sink),
            PeerSplitEndpoint::Split(halves) => halves,
            PeerSplitEndpoint::Splitting => unreachable!("only inside connected"),
        };
        let mut taken = 0;
        loop {
            halves.process(sink);
            let num_bytes = halves.input.fill_from(wire);
            if num_bytes == 0 {
                return taken;
            }
            taken += num_bytes;
        }
    }

    fn is_handshaking(&self) -> bool {
        match self {
            PeerSplitEndpoint::Whole(whole) => whole.is_handshaking(),
            _ => false,
        }
    }

    fn resumed(&self) -> bool {
        match self {
            PeerSplitEndpoint::Whole(whole) => whole.resumed(),
            PeerSplitEndpoint::Split(halves) => halves.resumed,
            PeerSplitEndpoint::Splitting => false,
        }
    }

    fn release_buffers(&mut self) -> Option<usize> {
        match self {
            PeerSplitEndpoint::Whole(whole) => whole.release_buffers(),
            PeerSplitEndpoint::Split(halves) => {
                if halves.input.is_empty() {
                    halves.input.buf = Vec::new();
                }
                if halves.sent == halves.output.len() {
                    halves.output = Vec::new();
                }
                Some(halves.input.buf.capacity() + halves.output.capacity())
            }
            PeerSplitEndpoint::Splitting => None,
        }
    }

    fn connected(&mut self) {
        let PeerSplitEndpoint::Whole(whole) = std::mem::replace(self, PeerSplitEndpoint::Splitting)
        else {
            panic!("split twice");
        };
        let resumed = whole.resumed();
        let PeerEndpoint {
            conn,
            input,
            output,
            sent,
        } = whole;
        // Its output is our Vec, so nothing is pending inside it.
        let SplitConnection { send, receive, .. } = conn.split().expect("rustls 0.24 split");
        *self = PeerSplitEndpoint::Split(PeerHalves {
            send,
            receive: Some(receive),
            input,
            output,
            sent,
            flush_due: false,
            resumed,
        });
    }
}

/// Room for received TLS: several full records (a record is at most
/// 16,384 + 256 bytes of ciphertext and a 5-byte header).
const INPUT_CAPACITY: usize = 64 * 1024;
const MAX_RECORD: usize = 5 + 16_384 + 256;

/// The caller's buffer of received TLS bytes: `buf[start..end]` is what
/// rustls has not consumed yet.
#[derive(Default)]
struct Input {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Input {
    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Reads from `wire` into the free tail; returns how many bytes came.
    fn fill_from(&mut self, wire: &mut Wire) -> usize {
        if self.buf.is_empty() {
            self.buf = vec![0; INPUT_CAPACITY];
        }
        if self.buf.len() - self.end < MAX_RECORD && self.start > 0 {
            // Unconsumed bytes keep their order and only move as a whole,
            // which `TlsInputBuffer` allows (offsets are from the start of
            // `slice_mut`).
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let num_bytes = wire.pull(&mut self.buf[self.end..]);
        self.end += num_bytes;
        num_bytes
    }
}

impl TlsInputBuffer for Input {
    fn slice_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }

    fn discard(&mut self, num_bytes: usize) {
        self.start += num_bytes;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    fn received_close_notify(&mut self) {}

    fn has_seen_eof(&self) -> bool {
        false
    }
}
