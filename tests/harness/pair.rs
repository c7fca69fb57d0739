//! A client and a server wired buffer to buffer, no sockets: each step runs both
//! connections, then moves bytes from one side's `OutgoingTls` into the other's `IncomingTls`
//! as a transport would, all at once or in fixed or seeded chunks.

use std::sync::Arc;

use lltls::{
    Error, HandshakeInfo, IncomingTls, LlClientConnection, LlConnection, LlServerConnection,
    OutgoingTls, PeerCertificates, RecordLayer, Side, Status,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};

use super::data::Rng;

/// Upper bound on `drive` steps: a healthy exchange needs a few dozen, a
/// one-byte-at-a-time megabyte a few million.
pub const MAX_ITERATIONS: usize = 20_000_000;

/// How the wire delivers bytes from one side's outgoing buffer to the other
/// side's incoming buffer on each step.
#[derive(Clone, Copy, Debug)]
pub enum Delivery {
    /// Everything pending, as far as the receiver has room.
    All,
    /// At most this many bytes per step.
    Chunks(usize),
    /// Seeded pseudo-random sizes between 1 and the bound.
    Random { seed: u64, max: usize },
}

/// One side of the pair with its own buffers and what it has seen.
pub struct Endpoint<C: Side> {
    pub conn: LlConnection<C>,
    pub incoming: IncomingTls,
    pub outgoing: OutgoingTls,
    /// Plaintext to send, and how much `encrypt` has taken.
    pub to_send: Vec<u8>,
    pub sent: usize,
    /// Queue close_notify once everything in `to_send` was taken.
    pub close_after_send: bool,
    /// Send through `record_room` (plaintext written into `OutgoingTls`)
    /// instead of `encrypt`.
    pub use_room: bool,
    /// With `use_room`: rooms asked for at once (`record_rooms`); 1 (the
    /// default) uses `record_room`.
    pub room_records: usize,
    pub close_queued: bool,
    pub received: Vec<u8>,
    pub early_received: Vec<u8>,
    pub handshake: Option<HandshakeInfo>,
    pub peer_closed: bool,
    pub closed: bool,
    pub error: Option<Error>,
    /// Status names in order, consecutive repeats folded.
    pub transcript: Vec<&'static str>,
    /// Every byte this side transmitted.
    pub wire: Vec<u8>,
    /// Deferred mode: the chains handed out with `VerifyPeer`.
    pub presented: Vec<PeerCertificates>,
    /// Deferred mode: gives the verdict as soon as a chain is handed out;
    /// without it the verdict waits for the test.
    pub verdict: Option<Verdict>,
}

/// A test's verifier for deferred mode.
pub type Verdict = Box<dyn FnMut(&PeerCertificates) -> Result<(), rustls::Error>>;

impl<C: Side> Endpoint<C> {
    pub fn new(conn: LlConnection<C>) -> Self {
        Self {
            conn,
            incoming: IncomingTls::new(),
            outgoing: OutgoingTls::new(),
            to_send: Vec::new(),
            sent: 0,
            close_after_send: false,
            use_room: false,
            room_records: 1,
            close_queued: false,
            received: Vec::new(),
            early_received: Vec::new(),
            handshake: None,
            peer_closed: false,
            closed: false,
            error: None,
            transcript: Vec::new(),
            wire: Vec::new(),
            presented: Vec::new(),
            verdict: None,
        }
    }

    fn note(&mut self, name: &'static str) {
        if self.transcript.last() != Some(&name) {
            self.transcript.push(name);
        }
    }

    /// Runs `process` until it blocks, then offers plaintext and close_notify.
    /// Returns whether anything happened.
    pub fn pump(&mut self) -> bool {
        if self.error.is_some() {
            return false;
        }
        let mut progress = false;
        loop {
            let name = match self.conn.process(&mut self.incoming, &mut self.outgoing) {
                Ok(Status::AppDataAvailable(mut records)) => {
                    while let Some(record) = records.next_record() {
                        self.received.extend_from_slice(record.unwrap());
                    }
                    "AppDataAvailable"
                }
                Ok(Status::EarlyDataAvailable(mut records)) => {
                    while let Some(record) = records.next_record() {
                        self.early_received.extend_from_slice(record.unwrap());
                    }
                    "EarlyDataAvailable"
                }
                Ok(Status::HandshakeComplete(info)) => {
                    self.handshake = Some(info);
                    "HandshakeComplete"
                }
                Ok(Status::PeerClosed) => {
                    self.peer_closed = true;
                    "PeerClosed"
                }
                Ok(Status::Closed) => {
                    self.closed = true;
                    self.note("Closed");
                    break;
                }
                Ok(Status::MustTransmitTlsData) => {
                    self.note("MustTransmitTlsData");
                    break;
                }
                Ok(Status::NeedsMoreTlsData) => {
                    self.note("NeedsMoreTlsData");
                    break;
                }
                Ok(Status::VerifyPeer(certificates)) => {
                    if let Some(verdict) = &mut self.verdict {
                        let verdict = verdict(&certificates);
                        self.conn.peer_verified(verdict).unwrap();
                    }
                    self.presented.push(certificates);
                    "VerifyPeer"
                }
                Ok(Status::AwaitingVerdict) => {
                    self.note("AwaitingVerdict");
                    break;
                }
                Ok(other) => panic!("unexpected status {other:?}"),
                Err(error) => {
                    self.error = Some(error);
                    self.note("Error");
                    return true;
                }
            };
            self.note(name);
            progress = true;
        }
        while self.sent < self.to_send.len() {
            let result = if self.use_room {
                self.send_through_room()
            } else {
                self.conn.encrypt(
                    &self.to_send[self.sent..],
                    &mut self.incoming,
                    &mut self.outgoing,
                )
            };
            match result {
                Ok(0) => break,
                Ok(n) => {
                    self.sent += n;
                    progress = true;
                }
                Err(error) => {
                    self.error = Some(error);
                    return true;
                }
            }
        }
        if self.close_after_send && !self.close_queued && self.sent == self.to_send.len() {
            match self
                .conn
                .queue_close_notify(&mut self.incoming, &mut self.outgoing)
            {
                Ok(queued) => {
                    self.close_queued = queued;
                    progress |= queued;
                }
                Err(error) => self.error = Some(error),
            }
        }
        progress
    }
}

impl<C: Side> Endpoint<C> {
    /// Writes the next plaintext straight into the record room and seals it.
    fn send_through_room(&mut self) -> Result<usize, Error> {
        let room = match self.room_records {
            1 => self
                .conn
                .record_room(&mut self.incoming, &mut self.outgoing)?,
            records => self
                .conn
                .record_rooms(&mut self.incoming, &mut self.outgoing, records)?,
        };
        let Some(mut room) = room else {
            return Ok(0);
        };
        let mut rest = &self.to_send[self.sent..];
        let mut n = 0;
        // In order, as one vectored read would fill them.
        for buf in room.rooms() {
            let part = rest.len().min(buf.len());
            buf[..part].copy_from_slice(&rest[..part]);
            rest = &rest[part..];
            n += part;
        }
        room.seal(n)
    }
}

/// Driving one side by hand, one step at a time, for tests that script an
/// exchange record by record.
impl<C: Side> Endpoint<C> {
    /// Seals all of `plaintext` now, with `encrypt` or (`use_room`) through
    /// the record room, one record per fragment.
    pub fn send_now(&mut self, plaintext: &[u8]) {
        let mut at = 0;
        while at < plaintext.len() {
            let taken = if self.use_room {
                let mut room = self
                    .conn
                    .record_room(&mut self.incoming, &mut self.outgoing)
                    .unwrap()
                    .expect("room for a record");
                let n = room.buf().len().min(plaintext.len() - at);
                room.buf()[..n].copy_from_slice(&plaintext[at..at + n]);
                room.seal(n).unwrap()
            } else {
                self.conn
                    .encrypt(&plaintext[at..], &mut self.incoming, &mut self.outgoing)
                    .unwrap()
            };
            assert!(taken > 0, "the connection takes plaintext");
            at += taken;
        }
    }

    /// Runs `process` until it needs more bytes (or the connection closed)
    /// and returns the plaintext of each application-data record it lent.
    pub fn read_records(&mut self) -> Vec<Vec<u8>> {
        let mut records = Vec::new();
        loop {
            match self.conn.process(&mut self.incoming, &mut self.outgoing) {
                Ok(Status::AppDataAvailable(mut data)) => {
                    while let Some(record) = data.next_record() {
                        records.push(record.unwrap().to_vec());
                    }
                }
                Ok(Status::PeerClosed) => self.peer_closed = true,
                Ok(Status::Closed) => {
                    self.closed = true;
                    break;
                }
                Ok(Status::NeedsMoreTlsData | Status::MustTransmitTlsData) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        for record in &records {
            self.received.extend_from_slice(record);
        }
        records
    }

    /// Sends the application data received straight back: with
    /// `echo_app_data` where the record layer can, else (rustls's layer)
    /// `process` then `encrypt`, record by record. Returns the bytes echoed.
    pub fn echo_now(&mut self) -> usize {
        let echoed = self
            .conn
            .echo_app_data(&mut self.incoming, &mut self.outgoing)
            .unwrap();
        if echoed > 0 {
            return echoed;
        }
        let records = self.read_records();
        let use_room = std::mem::replace(&mut self.use_room, false);
        for record in &records {
            self.send_now(record);
        }
        self.use_room = use_room;
        records.iter().map(Vec::len).sum()
    }
}

/// Moves everything `from` has to send into `to`'s incoming buffer (as much
/// as fits; returns how much), noting it on `from`'s wire.
pub fn transfer<A: Side, B: Side>(from: &mut Endpoint<A>, to: &mut Endpoint<B>) -> usize {
    Pair::deliver(usize::MAX, from, to)
}

/// Called with the bytes of each delivery and their direction, e.g. to feed
/// a tracer.
pub type Tap = Box<dyn FnMut(lltls::trace::Direction, &[u8])>;

/// A client and a server connected buffer to buffer.
pub struct Pair {
    pub client: Endpoint<rustls::client::UnbufferedClientConnection>,
    pub server: Endpoint<rustls::server::UnbufferedServerConnection>,
    pub delivery: Delivery,
    /// Sees every delivery, after the sender processed and before the
    /// receiver does (a socket write and read at once).
    pub tap: Option<Tap>,
    /// Chunk sizes for `Delivery::Random`, seeded at its first use.
    rng: Option<Rng>,
}

impl Pair {
    pub fn new(client_config: ClientConfig, server_config: ServerConfig) -> Self {
        Self::from_arcs(Arc::new(client_config), Arc::new(server_config))
    }

    pub fn from_arcs(client_config: Arc<ClientConfig>, server_config: Arc<ServerConfig>) -> Self {
        Self::with_record_layer(client_config, server_config, RecordLayer::InPlace)
    }

    /// Both sides with `record_layer` after the handshake.
    pub fn with_record_layer(
        client_config: Arc<ClientConfig>,
        server_config: Arc<ServerConfig>,
        record_layer: RecordLayer,
    ) -> Self {
        Self::with_record_layers(client_config, server_config, [record_layer; 2])
    }

    /// The client with `layers[0]`, the server with `layers[1]`.
    pub fn with_record_layers(
        client_config: Arc<ClientConfig>,
        server_config: Arc<ServerConfig>,
        layers: [RecordLayer; 2],
    ) -> Self {
        let name = ServerName::try_from("localhost").unwrap();
        let client = LlClientConnection::with_record_layer(client_config, name, layers[0]);
        let server = LlServerConnection::with_record_layer(server_config, layers[1]);
        Self::from_conns(client.unwrap(), server.unwrap())
    }

    /// A pair over connections made elsewhere (e.g. in deferred mode).
    pub fn from_conns(client: LlClientConnection, server: LlServerConnection) -> Self {
        Self {
            client: Endpoint::new(client),
            server: Endpoint::new(server),
            delivery: Delivery::All,
            tap: None,
            rng: None,
        }
    }

    fn chunk(&mut self) -> usize {
        match self.delivery {
            Delivery::All => usize::MAX,
            Delivery::Chunks(n) => n,
            Delivery::Random { seed, max } => {
                1 + self.rng.get_or_insert_with(|| Rng::new(seed)).below(max)
            }
        }
    }

    /// Moves bytes from `from`'s outgoing buffer into `to`'s incoming buffer,
    /// as a transport would: as many as the receiver has room for.
    fn deliver<A: Side, B: Side>(
        chunk: usize,
        from: &mut Endpoint<A>,
        to: &mut Endpoint<B>,
    ) -> usize {
        let pending = from.outgoing.filled();
        let room = to.incoming.unfilled();
        let n = pending.len().min(room.len()).min(chunk);
        room[..n].copy_from_slice(&pending[..n]);
        to.incoming.advance(n);
        from.wire.extend_from_slice(&pending[..n]);
        from.outgoing.discard(n);
        n
    }

    /// Asserts that both sides sent everything, received exactly what the
    /// other sent, hit no error and reached `Closed`.
    pub fn assert_clean_exchange(&self, what: &str) {
        for (side, end, peer) in [
            ("client", &self.client.error, &self.server.error),
            ("server", &self.server.error, &self.client.error),
        ] {
            assert!(
                end.is_none(),
                "{what}: {side} failed: {end:?} (peer: {peer:?})"
            );
        }
        assert_eq!(
            self.client.sent,
            self.client.to_send.len(),
            "{what}: client did not send everything"
        );
        assert_eq!(
            self.server.sent,
            self.server.to_send.len(),
            "{what}: server did not send everything"
        );
        assert!(
            self.server.received == self.client.to_send,
            "{what}: server received different bytes"
        );
        assert!(
            self.client.received == self.server.to_send,
            "{what}: client received different bytes"
        );
        assert!(
            self.client.closed && self.server.closed,
            "{what}: both sides must reach Closed"
        );
    }

    /// Advances each side once and moves bytes across. Returns whether
    /// anything happened.
    pub fn step(&mut self) -> bool {
        let mut progress = self.client.pump();
        progress |= self.server.pump();
        let chunk = self.chunk();
        let before = self.client.wire.len();
        progress |= Self::deliver(chunk, &mut self.client, &mut self.server) > 0;
        if let Some(tap) = &mut self.tap {
            let bytes = &self.client.wire[before..];
            if !bytes.is_empty() {
                tap(lltls::trace::Direction::ClientToServer, bytes);
            }
        }
        let chunk = self.chunk();
        let before = self.server.wire.len();
        progress |= Self::deliver(chunk, &mut self.server, &mut self.client) > 0;
        if let Some(tap) = &mut self.tap {
            let bytes = &self.server.wire[before..];
            if !bytes.is_empty() {
                tap(lltls::trace::Direction::ServerToClient, bytes);
            }
        }
        progress
    }

    /// Steps until neither side makes progress.
    pub fn drive(&mut self) {
        for _ in 0..MAX_ITERATIONS {
            if !self.step() {
                return;
            }
        }
        panic!("pair did not settle within {MAX_ITERATIONS} steps");
    }

    /// Drives the handshake and asserts both sides completed it.
    pub fn connect(&mut self) -> (HandshakeInfo, HandshakeInfo) {
        self.drive();
        assert!(
            self.client.error.is_none(),
            "client error: {:?}",
            self.client.error
        );
        assert!(
            self.server.error.is_none(),
            "server error: {:?}",
            self.server.error
        );
        (
            self.client
                .handshake
                .clone()
                .expect("client handshake incomplete"),
            self.server
                .handshake
                .clone()
                .expect("server handshake incomplete"),
        )
    }
}

/// (content type, record length including the header) of each record.
pub fn records(wire: &[u8]) -> Vec<(u8, usize)> {
    let mut out = Vec::new();
    let mut rest = wire;
    while rest.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]])) + 5;
        out.push((rest[0], len));
        rest = &rest[len.min(rest.len())..];
    }
    assert!(
        rest.is_empty(),
        "trailing partial record of {}B",
        rest.len()
    );
    out
}
