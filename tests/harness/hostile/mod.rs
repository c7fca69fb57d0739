//! Hostile-peer harness: feeds one lltls connection whatever bytes a peer might send, in
//! whatever chunks, and records how it ended.
//!
//! Shared by the property tests (`tests/mutations.rs`, which also replays the fuzz regressions
//! in `tests/data/fuzz-regressions/`, and `tests/post_handshake.rs`), the fuzz targets
//! (`fuzz/fuzz_targets/*.rs`) and the fuzz helper programs (`fuzz/examples/*.rs`), which
//! include this file with `#[path]`; so a crash found by the fuzzer replays in the normal test
//! suite through exactly the same code. It therefore depends only on lltls, rustls and
//! aws-lc-rs, not on the rest of `tests/harness/`.
//!
//! Connections use [`deterministic`] crypto and Ed25519 certificates: a fresh connection given
//! the same seed and input repeats a recorded handshake exactly, so mutated recordings reach
//! deep states (encrypted handshake messages, application data, key updates, close_notify).
#![allow(dead_code)] // each user takes a different part

pub mod deterministic;
pub mod hello;
pub mod records;

use std::sync::Arc;

use lltls::{
    Error, HandshakeInfo, IncomingTls, LlClientConnection, LlConnection, LlServerConnection,
    OutgoingTls, Side, Status, MAX_ENCRYPT_CHUNK, MAX_HANDSHAKE_BUFFER, MAX_RECORD_SIZE,
};
use rustls::client::UnbufferedClientConnection;
use rustls::crypto::{aws_lc_rs::cipher_suite, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{UnbufferedServerConnection, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};

// The files are embedded so the fuzz targets, built from another directory, find them too.
pub const CA: &[u8] = include_bytes!("../../data/ed25519/ca.pem");
pub const SERVER_CHAIN: &[u8] = include_bytes!("../../data/ed25519/server-fullchain.pem");
pub const SERVER_KEY: &[u8] = include_bytes!("../../data/ed25519/server.key");
pub const CLIENT_CHAIN: &[u8] = include_bytes!("../../data/ed25519/client-fullchain.pem");
pub const CLIENT_KEY: &[u8] = include_bytes!("../../data/ed25519/client.key");

/// The seed fuzz inputs run with; seed-corpus transcripts are recorded with it.
pub const FUZZ_SEED: u64 = 1;

/// Most bytes the incoming buffer may hold: the driver caps it at the largest handshake
/// message rustls reassembles plus the record completing it, whatever the peer sends.
pub const INCOMING_BOUND: usize = MAX_HANDSHAKE_BUFFER;

/// Most bytes one `pump` may leave in the outgoing buffer: one `encrypt` call's worth of
/// records (each plaintext record of 16 KiB grows by its header and AEAD overhead), or one
/// handshake flight, plus alerts and key updates the peer's records provoked. A hostile peer
/// must not be able to make a connection produce more per round than it fed in.
pub const OUTGOING_BOUND: usize = MAX_ENCRYPT_CHUNK + 4 * (MAX_RECORD_SIZE - 16_384) + 2 * 16_384;

/// The shape of one test connection, packed into a byte so fuzz inputs can choose it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    /// `Some(true)`: TLS 1.2 only; `Some(false)`: TLS 1.3 only; `None`: both.
    pub tls12: Option<bool>,
    /// ChaCha20-Poly1305 suites only (else the provider's defaults, AES-GCM first).
    pub chacha: bool,
    /// The server requires a client certificate; the client has one.
    pub client_auth: bool,
    /// Both sides offer ALPN.
    pub alpn: bool,
    /// Largest delivery chunk, as an index into [`CHUNK_SIZES`].
    pub chunk_class: u8,
}

/// Delivery chunk limits a profile can pick, down to one byte at a time.
pub const CHUNK_SIZES: [usize; 8] = [1, 3, 17, 100, 1000, 5000, 20_000, usize::MAX];

impl Profile {
    pub fn from_byte(byte: u8) -> Self {
        Self {
            tls12: match byte & 3 {
                1 => Some(true),
                2 => Some(false),
                _ => None,
            },
            chacha: byte & 4 != 0,
            client_auth: byte & 8 != 0,
            alpn: byte & 16 != 0,
            chunk_class: byte >> 5,
        }
    }

    pub fn to_byte(self) -> u8 {
        let version = match self.tls12 {
            None => 0,
            Some(true) => 1,
            Some(false) => 2,
        };
        version
            | u8::from(self.chacha) << 2
            | u8::from(self.client_auth) << 3
            | u8::from(self.alpn) << 4
            | self.chunk_class << 5
    }

    fn versions(self) -> &'static [&'static SupportedProtocolVersion] {
        static TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
        static TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
        match self.tls12 {
            Some(true) => TLS12,
            Some(false) => TLS13,
            None => rustls::ALL_VERSIONS,
        }
    }

    fn provider(self, mut provider: CryptoProvider) -> Arc<CryptoProvider> {
        if self.chacha {
            provider.cipher_suites = vec![
                cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
                cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            ];
        }
        Arc::new(provider)
    }

    fn alpn(self) -> Vec<Vec<u8>> {
        match self.alpn {
            true => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            false => Vec::new(),
        }
    }
}

pub fn certs(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .expect("embedded test certificates parse")
}

pub fn key(pem: &[u8]) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem).expect("embedded test key parses")
}

pub fn roots() -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in certs(CA) {
        roots
            .add(cert)
            .expect("embedded CA is a valid trust anchor");
    }
    Arc::new(roots)
}

/// A fresh server configuration (fresh session cache: nothing carries over between cases).
pub fn server_config(profile: Profile) -> ServerConfig {
    let provider = profile.provider(deterministic::server_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(profile.versions())
        .expect("profile versions suit the provider");
    let builder = match profile.client_auth {
        true => builder.with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(roots(), provider)
                .build()
                .expect("verifier with one root"),
        ),
        false => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs(SERVER_CHAIN), key(SERVER_KEY))
        .expect("embedded server key matches its certificate");
    config.alpn_protocols = profile.alpn();
    config.enable_secret_extraction = true;
    config
}

/// A fresh client configuration (fresh session store: every handshake is a full one).
pub fn client_config(profile: Profile) -> ClientConfig {
    let provider = profile.provider(deterministic::client_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(profile.versions())
        .expect("profile versions suit the provider")
        .with_root_certificates(roots());
    let mut config = match profile.client_auth {
        true => builder
            .with_client_auth_cert(certs(CLIENT_CHAIN), key(CLIENT_KEY))
            .expect("embedded client key matches its certificate"),
        false => builder.with_no_client_auth(),
    };
    config.alpn_protocols = profile.alpn();
    config.enable_secret_extraction = true;
    config
}

pub fn new_server(profile: Profile) -> Peer<UnbufferedServerConnection> {
    let conn = LlServerConnection::new(Arc::new(server_config(profile)))
        .expect("server connection from a valid config");
    Peer::new(conn)
}

pub fn new_client(profile: Profile) -> Peer<UnbufferedClientConnection> {
    let name = ServerName::try_from("localhost").expect("valid name");
    let conn = LlClientConnection::new(Arc::new(client_config(profile)), name)
        .expect("client connection from a valid config");
    Peer::new(conn)
}

/// Seeded delivery sizes between 1 and `max`.
pub struct Chunker {
    state: u64,
    max: usize,
}

impl Chunker {
    pub fn new(seed: u64, max: usize) -> Self {
        Self {
            state: seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            max: max.max(1),
        }
    }

    pub fn next_size(&mut self) -> usize {
        if self.max == usize::MAX {
            return usize::MAX;
        }
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        1 + (self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) % self.max as u64) as usize
    }
}

/// What the application on top of a connection does.
#[derive(Clone, Debug, Default)]
pub struct App {
    /// Plaintext to send as soon as the connection takes it.
    pub send: Vec<u8>,
    /// Send back every byte received (llserver's echo mode).
    pub echo: bool,
    /// Queue close_notify once everything was sent.
    pub close_after_send: bool,
    /// Queue close_notify once the peer closed and everything was sent.
    pub close_after_peer_closed: bool,
    /// Refresh the traffic keys (TLS 1.3 KeyUpdate) once this many bytes were sent.
    pub key_update_after: Option<usize>,
}

/// How a connection's run ended.
#[derive(Debug)]
pub enum End {
    /// A method returned this error; the connection is dead.
    Failed(Error),
    /// `Closed`: both sides sent close_notify.
    Closed,
    /// The input ran out and `handle_eof` was called: `None` when that was clean (after the
    /// peer's close_notify), else its error.
    Eof(Option<Error>),
}

/// One connection with its own buffers, its application, and what it saw.
pub struct Peer<C: Side> {
    pub conn: LlConnection<C>,
    pub incoming: IncomingTls,
    pub outgoing: OutgoingTls,
    pub app: App,
    sent: usize,
    close_queued: bool,
    /// Reads so far: every other one copies the bytes in
    /// (`extend_from_slice`) instead of reading into `unfilled`.
    receives: usize,
    key_updated: bool,
    /// Plaintext received (early data first, if any).
    pub received: Vec<u8>,
    pub handshake: Option<HandshakeInfo>,
    pub peer_closed: bool,
    pub end: Option<End>,
    /// Every byte this connection handed to its transport.
    pub transmitted: Vec<u8>,
    /// Largest incoming capacity and outgoing backlog seen after any call.
    pub peak_incoming: usize,
    pub peak_outgoing: usize,
    /// `process` calls made so far.
    pub calls: usize,
}

impl<C: Side> Peer<C> {
    pub fn new(conn: LlConnection<C>) -> Self {
        Self {
            conn,
            incoming: IncomingTls::new(),
            outgoing: OutgoingTls::new(),
            app: App::default(),
            sent: 0,
            close_queued: false,
            receives: 0,
            key_updated: false,
            received: Vec::new(),
            handshake: None,
            peer_closed: false,
            end: None,
            transmitted: Vec::new(),
            peak_incoming: 0,
            peak_outgoing: 0,
            calls: 0,
        }
    }

    fn observe(&mut self) {
        self.peak_incoming = self.peak_incoming.max(self.incoming.capacity());
        self.peak_outgoing = self.peak_outgoing.max(self.outgoing.len());
    }

    fn fail(&mut self, error: Error) {
        self.end = Some(End::Failed(error));
    }

    /// Runs `process` until the connection waits for the transport, then lets the application
    /// act. Returns whether anything happened.
    pub fn pump(&mut self) -> bool {
        if self.end.is_some() {
            return false;
        }
        let mut progress = false;
        loop {
            self.calls += 1;
            let status = self.conn.process(&mut self.incoming, &mut self.outgoing);
            let stop = match status {
                Ok(Status::AppDataAvailable(mut records))
                | Ok(Status::EarlyDataAvailable(mut records)) => {
                    while let Some(record) = records.next_record() {
                        match record {
                            Ok(plaintext) => {
                                self.received.extend_from_slice(plaintext);
                                if self.app.echo {
                                    self.app.send.extend_from_slice(plaintext);
                                }
                            }
                            Err(error) => {
                                self.end = Some(End::Failed(error));
                                break;
                            }
                        }
                    }
                    self.end.is_some()
                }
                Ok(Status::HandshakeComplete(info)) => {
                    self.handshake = Some(info);
                    false
                }
                Ok(Status::PeerClosed) => {
                    self.peer_closed = true;
                    false
                }
                Ok(Status::Closed) => {
                    self.end = Some(End::Closed);
                    true
                }
                Ok(Status::MustTransmitTlsData) | Ok(Status::NeedsMoreTlsData) => true,
                Ok(other) => panic!("status unknown to this harness: {other:?}"),
                Err(error) => {
                    self.fail(error);
                    true
                }
            };
            self.observe();
            if stop {
                break;
            }
            progress = true;
        }
        if self.end.is_none() {
            progress |= self.act();
            self.observe();
        }
        progress
    }

    /// The application's turn: encrypt what it has, update keys, close.
    fn act(&mut self) -> bool {
        let mut progress = false;
        while self.sent < self.app.send.len() {
            if let Some(after) = self.app.key_update_after {
                if !self.key_updated && self.sent >= after {
                    match self
                        .conn
                        .refresh_traffic_keys(&mut self.incoming, &mut self.outgoing)
                    {
                        Ok(done) => self.key_updated = done,
                        Err(error) => {
                            self.fail(error);
                            return true;
                        }
                    }
                }
            }
            // Stop at the key update point so it falls between two records.
            let until = match self.app.key_update_after {
                Some(after) if !self.key_updated && self.sent < after => after,
                _ => self.app.send.len(),
            };
            match self.conn.encrypt(
                &self.app.send[self.sent..until],
                &mut self.incoming,
                &mut self.outgoing,
            ) {
                Ok(0) => break,
                Ok(num_bytes) => {
                    self.sent += num_bytes;
                    progress = true;
                }
                Err(error) => {
                    self.fail(error);
                    return true;
                }
            }
        }
        let all_sent = self.sent == self.app.send.len();
        let wants_close = all_sent
            && (self.app.close_after_send
                || (self.app.close_after_peer_closed && self.peer_closed));
        if wants_close && !self.close_queued {
            match self
                .conn
                .queue_close_notify(&mut self.incoming, &mut self.outgoing)
            {
                Ok(queued) => {
                    self.close_queued = queued;
                    progress |= queued;
                }
                Err(error) => {
                    self.fail(error);
                    return true;
                }
            }
        }
        progress
    }

    /// Hands everything in the outgoing buffer to the (perfect) transport.
    pub fn transmit(&mut self) -> usize {
        let num_bytes = self.outgoing.len();
        self.transmitted.extend_from_slice(self.outgoing.filled());
        self.outgoing.discard(num_bytes);
        num_bytes
    }

    /// Copies up to `max` bytes of `bytes` into the incoming buffer; returns how many fit.
    pub fn receive(&mut self, bytes: &[u8], max: usize) -> usize {
        self.receives += 1;
        if self.receives % 2 == 0 {
            let num_bytes = bytes.len().min(self.incoming.copy_room()).min(max);
            self.incoming.extend_from_slice(&bytes[..num_bytes]);
            return num_bytes;
        }
        let room = self.incoming.unfilled();
        let num_bytes = bytes.len().min(room.len()).min(max);
        room[..num_bytes].copy_from_slice(&bytes[..num_bytes]);
        self.incoming.advance(num_bytes);
        num_bytes
    }

    /// Asserts the resource bounds a hostile peer must not be able to break.
    pub fn assert_bounded(&self, what: &str) {
        assert!(
            self.peak_incoming <= INCOMING_BOUND,
            "{what}: incoming buffer grew to {}B (bound {INCOMING_BOUND}B)",
            self.peak_incoming
        );
        assert!(
            self.peak_outgoing <= OUTGOING_BOUND,
            "{what}: outgoing backlog grew to {}B in one round (bound {OUTGOING_BOUND}B)",
            self.peak_outgoing
        );
    }
}

/// `process` calls a connection may need for `num_bytes` of input: each byte delivered alone
/// costs a couple of calls, each record a few more. Exceeding it means the driver spins.
fn call_budget(num_bytes: usize) -> usize {
    1_000 + 8 * num_bytes
}

/// Feeds `input` to `peer` as its peer's bytes, in chunks from `chunker`, acting as a real
/// IO loop would: process, transmit, read. Ends at an error, at `Closed`, or at EOF once the
/// input is used up (or the connection stops reading).
pub fn feed<C: Side>(peer: &mut Peer<C>, input: &[u8], chunker: &mut Chunker) {
    let budget = call_budget(input.len());
    let mut offset = 0;
    loop {
        peer.pump();
        peer.transmit();
        if peer.end.is_some() {
            return;
        }
        assert!(
            peer.calls <= budget,
            "driver made {} process calls on {}B of input: it does not settle",
            peer.calls,
            input.len()
        );
        if offset == input.len() || !peer.conn.wants_read() {
            // Nothing more to read: let the connection finish what it can without input (a
            // close_notify queued in answer to the peer's ends it `Closed`).
            while peer.pump() {
                peer.transmit();
                assert!(
                    peer.calls <= budget,
                    "driver does not settle after its input"
                );
            }
            peer.transmit();
            if peer.end.is_some() {
                return;
            }
            let error = peer.conn.handle_eof().err();
            peer.end = Some(End::Eof(error));
            // What a transport would still send after EOF (nothing, or an alert) is flushed.
            peer.transmit();
            return;
        }
        assert!(
            !peer.incoming.unfilled().is_empty(),
            "the connection wants to read but left no room in IncomingTls"
        );
        let size = chunker.next_size();
        offset += peer.receive(&input[offset..], size);
    }
}

/// A full exchange between two fresh connections, as recorded on the wire.
pub struct Transcript {
    pub profile: Profile,
    pub seed: u64,
    pub client_app: App,
    pub server_app: App,
    /// Everything the client sent, and everything the server sent.
    pub client_to_server: Vec<u8>,
    pub server_to_client: Vec<u8>,
}

/// Runs a client and a server against each other in memory until both are done, delivering in
/// chunks of `max_chunk`. Panics unless both end `Closed` with the other's plaintext.
pub fn record(
    profile: Profile,
    seed: u64,
    client_app: App,
    server_app: App,
    max_chunk: usize,
) -> Transcript {
    deterministic::reseed(seed);
    let mut client = new_client(profile);
    let mut server = new_server(profile);
    client.app = client_app.clone();
    server.app = server_app.clone();
    let mut chunker = Chunker::new(seed, max_chunk);
    let budget = call_budget(8 * (client_app.send.len() + server_app.send.len()) + 100_000);
    let (mut to_server, mut to_client) = (0, 0);
    loop {
        let mut progress = client.pump();
        progress |= server.pump();
        client.transmit();
        server.transmit();
        let size = chunker.next_size();
        let n = server.receive(&client.transmitted[to_server..], size);
        to_server += n;
        let size = chunker.next_size();
        let m = client.receive(&server.transmitted[to_client..], size);
        to_client += m;
        if !progress && n == 0 && m == 0 {
            break;
        }
        assert!(
            client.calls + server.calls <= budget,
            "recording does not settle"
        );
    }
    assert!(
        matches!(client.end, Some(End::Closed)) && matches!(server.end, Some(End::Closed)),
        "recording {profile:?} did not close cleanly: client {:?}, server {:?}",
        client.end,
        server.end
    );
    assert!(client.received == server_app.send || server_app.echo);
    assert!(server.received == client_app.send);
    Transcript {
        profile,
        seed,
        client_app,
        server_app,
        client_to_server: client.transmitted,
        server_to_client: server.transmitted,
    }
}

/// Splits a byte stream into whole records, as (start, end) ranges; a trailing partial record
/// is returned as its own range.
pub fn record_spans(wire: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    while start < wire.len() {
        let end = if wire.len() - start >= 5 {
            let len = usize::from(u16::from_be_bytes([wire[start + 3], wire[start + 4]]));
            (start + 5 + len).min(wire.len())
        } else {
            wire.len()
        };
        spans.push((start, end));
        start = end;
    }
    spans
}

/// Splits a fuzz input into its profile, chunker and peer bytes: `[profile][chunk seed]..`.
pub fn parse_fuzz_input(data: &[u8]) -> Option<(Profile, Chunker, &[u8])> {
    let (&profile, rest) = data.split_first()?;
    let (&seed, peer_bytes) = rest.split_first()?;
    let profile = Profile::from_byte(profile);
    let chunker = Chunker::new(
        u64::from(seed),
        CHUNK_SIZES[usize::from(profile.chunk_class)],
    );
    Some((profile, chunker, peer_bytes))
}

/// Builds a fuzz input from its parts (the inverse of [`parse_fuzz_input`]).
pub fn fuzz_input(profile: Profile, chunk_seed: u8, peer_bytes: &[u8]) -> Vec<u8> {
    let mut input = vec![profile.to_byte(), chunk_seed];
    input.extend_from_slice(peer_bytes);
    input
}

/// A fresh echo server (llserver's echo mode) with the fuzz targets' seed.
pub fn echo_server(profile: Profile) -> Peer<UnbufferedServerConnection> {
    deterministic::reseed(FUZZ_SEED);
    let mut server = new_server(profile);
    server.app = App {
        echo: true,
        close_after_peer_closed: true,
        ..App::default()
    };
    server
}

/// The `server` fuzz target: a fresh echo server fed arbitrary client bytes.
pub fn fuzz_server(data: &[u8]) -> Option<Peer<UnbufferedServerConnection>> {
    let (profile, mut chunker, peer_bytes) = parse_fuzz_input(data)?;
    let mut server = echo_server(profile);
    feed(&mut server, peer_bytes, &mut chunker);
    server.assert_bounded("server");
    Some(server)
}

/// The `client` fuzz target: a fresh client that sent its real ClientHello and a request, fed
/// arbitrary server bytes.
pub fn fuzz_client(data: &[u8]) -> Option<Peer<UnbufferedClientConnection>> {
    let (profile, mut chunker, peer_bytes) = parse_fuzz_input(data)?;
    deterministic::reseed(FUZZ_SEED);
    let mut client = new_client(profile);
    client.app = fuzz_client_app();
    feed(&mut client, peer_bytes, &mut chunker);
    client.assert_bounded("client");
    Some(client)
}

/// What the fuzzed client sends; seed transcripts record the same.
pub fn fuzz_client_app() -> App {
    App {
        send: b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n".to_vec(),
        close_after_peer_closed: true,
        ..App::default()
    }
}

/// Which connection a recorded stream or fuzz input is meant for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Client-to-server bytes, fed to a fresh server.
    Server,
    /// Server-to-client bytes, fed to a fresh client.
    Client,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Server => "server",
            Target::Client => "client",
        }
    }
}

/// Plaintext of a given length that is easy to recognise in a hex dump.
pub fn pattern(len: usize, tag: u8) -> Vec<u8> {
    (0..len)
        .map(|i| tag.wrapping_add((i % 251) as u8))
        .collect()
}

/// The exchanges the property test mutates and the fuzzer starts from, all recorded with
/// [`FUZZ_SEED`] and the applications the fuzz targets run: the server echoes, the client
/// sends [`fuzz_client_app`]'s request (or more data). Each is `(name, transcript)`.
pub fn seed_transcripts() -> Vec<(String, Transcript)> {
    let tls13 = Profile::from_byte(2);
    let tls12 = Profile::from_byte(1);
    let profiles = [
        ("tls13", tls13),
        ("tls12", tls12),
        (
            "tls13-auth-alpn",
            Profile {
                client_auth: true,
                alpn: true,
                ..tls13
            },
        ),
        (
            "tls12-auth-alpn",
            Profile {
                client_auth: true,
                alpn: true,
                ..tls12
            },
        ),
        (
            "tls13-chacha",
            Profile {
                chacha: true,
                ..tls13
            },
        ),
        (
            "tls12-chacha",
            Profile {
                chacha: true,
                ..tls12
            },
        ),
    ];
    let echo = App {
        echo: true,
        close_after_peer_closed: true,
        ..App::default()
    };
    let mut out = Vec::new();
    for (name, profile) in profiles {
        // Client-to-server streams for the server: data, a key update in TLS 1.3 (rustls
        // refuses to send one in TLS 1.2), close_notify.
        let client_app = App {
            send: pattern(20_000, 0x10),
            close_after_send: true,
            key_update_after: (profile.tls12 != Some(true)).then_some(7_000),
            ..App::default()
        };
        out.push((
            format!("{name}-data"),
            record(profile, FUZZ_SEED, client_app, echo.clone(), usize::MAX),
        ));
        // Server-to-client streams for the client: the fuzzed client's request answered with
        // a response, then close_notify.
        let server_app = App {
            send: pattern(3_000, 0x80),
            close_after_send: true,
            ..App::default()
        };
        out.push((
            format!("{name}-request"),
            record(
                profile,
                FUZZ_SEED,
                fuzz_client_app(),
                server_app,
                usize::MAX,
            ),
        ));
    }
    out
}
