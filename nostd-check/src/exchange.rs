//! An in-memory exchange through lltls with nothing but `core` and `alloc`,
//! each side driven by a `Pump` (the driver loop of the core): handshake,
//! 100,000 bytes each way, close_notify both ways; or, split, each side's
//! data through its split halves (their shared state behind the spin lock
//! of no_std builds), with KeyUpdates in TLS 1.3. Shared by the
//! no_std program and a normal test of the main crate (which includes this
//! file), so the driver that proves the no_std build is the one tested.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use lltls::{
    IncomingTls, LlClientConnection, LlConnection, LlServerConnection, Next, OutgoingTls, Pump,
    ReceiveHalf, ReceiveStatus, RecordLayer, SendHalf, Side,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

const CA: &[u8] = include_bytes!("../../certs/ca.pem");
const CHAIN: &[u8] = include_bytes!("../../certs/fullchain.pem");
const KEY: &[u8] = include_bytes!("../../certs/server.key");
const EACH_WAY: usize = 100_000;

/// A fixed clock (no_std has none): 2030-01-01, inside the test PKI's
/// validity.
#[derive(Debug)]
struct FixedTime;

impl TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(core::time::Duration::from_secs(
            1_893_456_000,
        )))
    }
}

/// One side: its pump, the data it sends, what it received.
struct End<C: Side> {
    pump: Pump<C>,
    to_send: Vec<u8>,
    sent: usize,
    received: Vec<u8>,
    closed: bool,
    /// The transport: bytes on their way to the peer.
    wire: Vec<u8>,
    /// Only the handshake: stop once the in-place record layer runs, to
    /// split.
    handshake_only: bool,
    complete: bool,
}

impl<C: Side> End<C> {
    fn new(conn: LlConnection<C>, to_send: Vec<u8>) -> Self {
        Self {
            pump: Pump::new(conn),
            to_send,
            sent: 0,
            received: Vec::new(),
            closed: false,
            wire: Vec::new(),
            handshake_only: false,
            complete: false,
        }
    }

    /// Whether the handshake is over and the in-place record layer runs.
    fn ready_to_split(&self) -> bool {
        self.complete && self.pump.conn().record_layer() == RecordLayer::InPlace
    }

    /// Does what the pump says until it waits for the peer; sends data,
    /// then closes.
    fn step(&mut self) -> Result<(), String> {
        let mut buf = [0u8; 4096];
        loop {
            if !self.handshake_only {
                let taken = self
                    .pump
                    .send(&self.to_send[self.sent..])
                    .map_err(|e| format!("{e}"))?;
                self.sent += taken;
                if self.sent == self.to_send.len() && !self.pump.conn().is_handshaking() {
                    self.pump.close().map_err(|e| format!("{e}"))?;
                }
            }
            match self.pump.poll().map_err(|e| format!("{e}"))? {
                Next::Transmit => {
                    let bytes = self.pump.to_transmit();
                    self.wire.extend_from_slice(bytes);
                    let num_bytes = bytes.len();
                    self.pump.transmitted(num_bytes);
                }
                Next::HandshakeComplete(_) => self.complete = true,
                // Plaintext that came with the last handshake bytes stays
                // in the connection, for the receive half.
                Next::Plaintext if self.handshake_only && self.ready_to_split() => return Ok(()),
                Next::Plaintext => {
                    let num_bytes = self.pump.read(&mut buf).map_err(|e| format!("{e}"))?;
                    self.received.extend_from_slice(&buf[..num_bytes]);
                }
                Next::Receive | Next::Idle | Next::AwaitingVerdict => return Ok(()),
                Next::Closed => {
                    self.closed = true;
                    return Ok(());
                }
                _ => {}
            }
        }
    }

    /// Delivers what the peer transmitted, as far as there is room.
    fn receive_from<P: Side>(&mut self, from: &mut End<P>) -> Result<usize, String> {
        let room = self.pump.receive_buffer();
        let num_bytes = room.len().min(from.wire.len());
        room[..num_bytes].copy_from_slice(&from.wire[..num_bytes]);
        from.wire.drain(..num_bytes);
        if num_bytes > 0 {
            self.pump.received(num_bytes).map_err(|e| format!("{e}"))?;
        }
        Ok(num_bytes)
    }
}

/// One side after the split: its two halves and their buffers.
struct Halves<C: Side> {
    send: SendHalf<C>,
    receive: ReceiveHalf<C>,
    incoming: IncomingTls,
    outgoing: OutgoingTls,
    to_send: Vec<u8>,
    sent: usize,
    calls: usize,
    received: Vec<u8>,
    peer_closed: bool,
    wire: Vec<u8>,
    tls13: bool,
}

impl<C: Side> Halves<C> {
    fn split(end: End<C>, tls13: bool) -> Result<Self, String> {
        let (conn, incoming, outgoing) = end.pump.into_parts();
        let (send, receive) = conn.into_split().map_err(|(_, e)| format!("split: {e}"))?;
        Ok(Self {
            send,
            receive,
            incoming,
            outgoing,
            to_send: end.to_send,
            sent: 0,
            calls: 0,
            received: Vec::new(),
            peer_closed: false,
            wire: end.wire,
            tls13,
        })
    }

    /// One turn: the send half offers a chunk (a KeyUpdate every few in
    /// TLS 1.3; close_notify at the end), the receive half takes what came.
    fn step(&mut self) -> Result<(), String> {
        let e = |e: lltls::Error| format!("{e}");
        if self.sent < self.to_send.len() {
            let end = (self.sent + 7_000).min(self.to_send.len());
            self.sent += self
                .send
                .encrypt(&self.to_send[self.sent..end], &mut self.outgoing)
                .map_err(e)?;
            self.calls += 1;
            if self.tls13
                && self.calls & 3 == 0
                && !self
                    .send
                    .refresh_traffic_keys(&mut self.outgoing)
                    .map_err(e)?
            {
                return Err("no KeyUpdate".into());
            }
        } else if !self.send.close_notify_sent() {
            self.send
                .queue_close_notify(&mut self.outgoing)
                .map_err(e)?;
        }
        self.wire.extend_from_slice(self.outgoing.filled());
        let len = self.outgoing.len();
        self.outgoing.discard(len);
        loop {
            match self.receive.process(&mut self.incoming).map_err(e)? {
                ReceiveStatus::AppDataAvailable(mut records) => {
                    while let Some(record) = records.next_record() {
                        self.received.extend_from_slice(record.map_err(e)?);
                    }
                }
                ReceiveStatus::FlushSender => self.send.flush(&mut self.outgoing).map_err(e)?,
                ReceiveStatus::PeerClosed => {
                    self.peer_closed = true;
                    return Ok(());
                }
                _ => return Ok(()),
            }
        }
    }

    /// Delivers what the peer sent, as far as there is room.
    fn receive_from<P: Side>(&mut self, from: &mut Halves<P>) -> usize {
        let room = self.incoming.unfilled();
        let num_bytes = room.len().min(from.wire.len());
        room[..num_bytes].copy_from_slice(&from.wire[..num_bytes]);
        from.wire.drain(..num_bytes);
        self.incoming.advance(num_bytes);
        num_bytes
    }

    fn done(&self) -> bool {
        self.send.close_notify_sent() && self.peer_closed && self.wire.is_empty()
    }
}

/// After the handshake, the exchange through each side's split halves.
/// The handshake, then each side split into its halves.
#[allow(clippy::type_complexity)] // the two sides, once
fn handshake_and_split(
    mut client: End<rustls::client::UnbufferedClientConnection>,
    mut server: End<rustls::server::UnbufferedServerConnection>,
    tls13: bool,
) -> Result<
    (
        Halves<rustls::client::UnbufferedClientConnection>,
        Halves<rustls::server::UnbufferedServerConnection>,
        lltls::HandshakeInfo,
    ),
    String,
> {
    client.handshake_only = true;
    server.handshake_only = true;
    for _ in 0..100 {
        client.step()?;
        server.step()?;
        if client.ready_to_split() && server.ready_to_split() {
            break;
        }
        server.receive_from(&mut client)?;
        client.receive_from(&mut server)?;
    }
    let info = client.pump.conn().handshake_info();
    Ok((
        Halves::split(client, tls13)?,
        Halves::split(server, tls13)?,
        info,
    ))
}

fn exchange_split(
    client: End<rustls::client::UnbufferedClientConnection>,
    server: End<rustls::server::UnbufferedServerConnection>,
    tls13: bool,
) -> Result<lltls::HandshakeInfo, String> {
    let (mut client, mut server, info) = handshake_and_split(client, server, tls13)?;
    for _ in 0..10_000 {
        client.step()?;
        server.step()?;
        let moved = server.receive_from(&mut client) + client.receive_from(&mut server);
        if client.done() && server.done() && moved == 0 {
            if server.received != pattern(1) || client.received != pattern(2) {
                return Err(format!(
                    "split: data differs: {}B and {}B received of {EACH_WAY}B",
                    server.received.len(),
                    client.received.len()
                ));
            }
            return Ok(info);
        }
    }
    Err("the split exchange did not close".into())
}

fn pattern(seed: u8) -> Vec<u8> {
    (0..EACH_WAY)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A client and a server over `provider` (TLS 1.2 or 1.3), each with the
/// data it sends.
#[allow(clippy::type_complexity)] // the two ends, once
fn ends(
    provider: Arc<CryptoProvider>,
    tls12: bool,
) -> Result<
    (
        End<rustls::client::UnbufferedClientConnection>,
        End<rustls::server::UnbufferedServerConnection>,
    ),
    String,
> {
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(CA) {
        roots
            .add(cert.map_err(|e| format!("{e:?}"))?)
            .map_err(|e| format!("{e}"))?;
    }
    let mut client_config =
        ClientConfig::builder_with_details(provider.clone(), Arc::new(FixedTime))
            .with_protocol_versions(versions)
            .map_err(|e| format!("{e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    client_config.enable_secret_extraction = true;
    let chain = CertificateDer::pem_slice_iter(CHAIN)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{e:?}"))?;
    let key = PrivateKeyDer::from_pem_slice(KEY).map_err(|e| format!("{e:?}"))?;
    let mut server_config = ServerConfig::builder_with_details(provider, Arc::new(FixedTime))
        .with_protocol_versions(versions)
        .map_err(|e| format!("{e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("{e}"))?;
    server_config.enable_secret_extraction = true;

    let name = ServerName::try_from("localhost").map_err(|e| format!("{e}"))?;
    let client =
        LlClientConnection::new(Arc::new(client_config), name).map_err(|e| format!("{e}"))?;
    let server = LlServerConnection::new(Arc::new(server_config)).map_err(|e| format!("{e}"))?;
    Ok((End::new(client, pattern(1)), End::new(server, pattern(2))))
}

/// Runs the exchange over `provider` (TLS 1.2 or 1.3), through pumps or
/// (`split`) split halves; what it negotiated.
pub fn run(provider: Arc<CryptoProvider>, tls12: bool, split: bool) -> Result<String, String> {
    let (mut client, mut server) = ends(provider, tls12)?;
    if split {
        let info = exchange_split(client, server, !tls12)?;
        return Ok(format!(
            "{:?} {:?} through split halves: {EACH_WAY}B each way{}, closed both ways",
            info.protocol_version.ok_or("no version")?,
            info.cipher_suite.ok_or("no suite")?.suite(),
            if tls12 { "" } else { " with KeyUpdates" },
        ));
    }
    for _ in 0..10_000 {
        client.step()?;
        server.step()?;
        let moved = server.receive_from(&mut client)? + client.receive_from(&mut server)?;
        if client.closed && server.closed && moved == 0 {
            break;
        }
    }
    if !(client.closed && server.closed) {
        return Err("the exchange did not close".into());
    }
    if server.received != pattern(1) || client.received != pattern(2) {
        return Err(format!(
            "data differs: {}B and {}B received of {EACH_WAY}B",
            server.received.len(),
            client.received.len()
        ));
    }
    let info = client.pump.conn().handshake_info();
    Ok(format!(
        "{:?} {:?} over the {:?} record layer: {EACH_WAY}B each way, closed both ways",
        info.protocol_version.ok_or("no version")?,
        info.cipher_suite.ok_or("no suite")?.suite(),
        client.pump.conn().record_layer(),
    ))
}

/// Test builds only: the split exchange with each half on a thread of its
/// own (four threads), the bytes between the sides over channels, so that
/// the halves' shared state is contended by real threads (a spin lock in
/// no_std builds of the library).
#[cfg(test)]
pub fn run_threaded(provider: Arc<CryptoProvider>, tls12: bool) -> Result<(), String> {
    use std::sync::mpsc;
    use std::thread;

    let (client, server) = ends(provider, tls12)?;
    let (client, server, _) = handshake_and_split(client, server, !tls12)?;
    let (to_server, from_client) = mpsc::channel();
    let (to_client, from_server) = mpsc::channel();
    let (client_send, client_receive) = client.into_threads(to_server, from_server);
    let (server_send, server_receive) = server.into_threads(to_client, from_client);
    let threads = [thread::spawn(client_send), thread::spawn(server_send)];
    let received = [thread::spawn(client_receive), thread::spawn(server_receive)];
    for sender in threads {
        sender.join().map_err(|_| "a send thread panicked")??;
    }
    let mut got = Vec::new();
    for receiver in received {
        got.push(receiver.join().map_err(|_| "a receive thread panicked")??);
    }
    if got[0] != pattern(2) || got[1] != pattern(1) {
        return Err(format!(
            "threaded: data differs: {}B and {}B received of {EACH_WAY}B",
            got[0].len(),
            got[1].len()
        ));
    }
    Ok(())
}

#[cfg(test)]
impl<C: Side> Halves<C>
where
    lltls::SendHalf<C>: Send + 'static,
    lltls::ReceiveHalf<C>: Send + 'static,
{
    /// The sending thread's and the receiving thread's work: the first
    /// sends this side's data (KeyUpdates in TLS 1.3) then close_notify to
    /// `to_peer`; the second reads `from_peer` until the peer's
    /// close_notify and returns what arrived.
    #[allow(clippy::type_complexity)] // two closures, once
    fn into_threads(
        self,
        to_peer: std::sync::mpsc::Sender<Vec<u8>>,
        from_peer: std::sync::mpsc::Receiver<Vec<u8>>,
    ) -> (
        impl FnOnce() -> Result<(), String> + Send + 'static,
        impl FnOnce() -> Result<Vec<u8>, String> + Send + 'static,
    ) {
        let Halves {
            mut send,
            mut receive,
            mut incoming,
            mut outgoing,
            to_send,
            wire,
            tls13,
            ..
        } = self;
        let sending = move || {
            let e = |e: lltls::Error| format!("{e}");
            // What the handshake left for the peer goes first.
            let _ = to_peer.send(wire);
            for (calls, chunk) in to_send.chunks(7_000).enumerate() {
                let mut rest = chunk;
                while !rest.is_empty() {
                    rest = &rest[send.encrypt(rest, &mut outgoing).map_err(e)?..];
                }
                if tls13 && calls & 3 == 3 {
                    send.refresh_traffic_keys(&mut outgoing).map_err(e)?;
                }
                let _ = to_peer.send(outgoing.filled().to_vec());
                let len = outgoing.len();
                outgoing.discard(len);
            }
            send.queue_close_notify(&mut outgoing).map_err(e)?;
            let _ = to_peer.send(outgoing.filled().to_vec());
            Ok(())
        };
        let receiving = move || {
            let e = |e: lltls::Error| format!("{e}");
            let mut received = Vec::new();
            let mut pending: Vec<u8> = Vec::new();
            loop {
                match receive.process(&mut incoming).map_err(e)? {
                    ReceiveStatus::AppDataAvailable(mut records) => {
                        while let Some(record) = records.next_record() {
                            received.extend_from_slice(record.map_err(e)?);
                        }
                    }
                    ReceiveStatus::PeerClosed => return Ok(received),
                    ReceiveStatus::NeedsMoreTlsData => {
                        if pending.is_empty() {
                            pending = from_peer
                                .recv_timeout(std::time::Duration::from_secs(20))
                                .map_err(|error| format!("nothing from the peer: {error}"))?;
                        }
                        let room = incoming.unfilled();
                        let num_bytes = room.len().min(pending.len());
                        room[..num_bytes].copy_from_slice(&pending[..num_bytes]);
                        pending.drain(..num_bytes);
                        incoming.advance(num_bytes);
                    }
                    other => return Err(format!("unexpected {other:?}")),
                }
            }
        };
        (sending, receiving)
    }
}
