//! Split halves: a connection taken apart after the handshake and driven
//! from two threads per side over loopback TCP, both ways at once, with
//! KeyUpdates requested by both peers. Every byte each side wrote is
//! checked afterwards by an observer that derives the keys itself from the
//! KeyLog and decrypts both directions: each record opens under its
//! direction's current key and next sequence number (no nonce is used
//! twice), nothing follows a close_notify, and the plaintext is exactly
//! what was sent.

mod harness;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use harness::api_model::wire::{Dir, Seen, Suite, Wire};
use harness::api_model::{Configs, Setup};
use lltls::{
    ClientReceiveHalf, ClientSendHalf, Error, IncomingTls, LlClientConnection, LlConnection,
    LlServerConnection, Next, OutgoingTls, Pump, ReceiveHalf, ReceiveStatus, RecordLayer, SendHalf,
    Side,
};
use rustls::pki_types::ServerName;

/// Every socket operation gives up after this: a stuck test fails instead
/// of hanging.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// What one side does once split.
#[derive(Clone, Copy)]
struct Plan {
    /// Plaintext bytes to send.
    len: usize,
    /// Bytes per send call; not a multiple of the record size on purpose.
    chunk: usize,
    /// Ask for a KeyUpdate after this many send calls.
    refresh_every: usize,
    /// Queue close_notify only once the peer's close_notify arrived, so
    /// every KeyUpdate request of the peer was processed before ours.
    close_after_peer: bool,
    /// A lower limit of records per sending key (automatic KeyUpdates).
    key_limit: Option<u64>,
    /// Seed of the plaintext pattern.
    seed: u8,
}

/// What one side did.
struct Outcome {
    /// Every byte it wrote to the socket, handshake included, in order.
    wrote: Vec<u8>,
    /// How many of them it wrote before the split.
    before_split: usize,
    received: Vec<u8>,
    refreshes: usize,
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

fn setup(tls13: bool, suite: Suite) -> Setup {
    Setup {
        tls13,
        suite,
        client_auth: false,
        resumption: false,
        early_data: false,
        deferred_client: false,
        deferred_server: false,
        small_records: false,
        layer: RecordLayer::InPlace,
    }
}

/// Runs the handshake on `sock` with a pump until the in-place record
/// layer took over and nothing waits to be sent; returns the connection
/// and its buffers.
fn handshake<C: Side>(
    conn: LlConnection<C>,
    sock: &mut TcpStream,
    wrote: &mut Vec<u8>,
) -> (LlConnection<C>, IncomingTls, OutgoingTls) {
    let mut pump = Pump::new(conn);
    let mut complete = false;
    loop {
        match pump.poll().expect("handshake") {
            Next::Transmit => {
                let bytes = pump.to_transmit();
                sock.write_all(bytes).expect("write");
                wrote.extend_from_slice(bytes);
                let n = bytes.len();
                pump.transmitted(n);
            }
            Next::HandshakeComplete(_) => complete = true,
            // Plaintext the peer sent right after its last handshake
            // message stays in the connection: the receive half hands it
            // out.
            Next::Receive | Next::Plaintext
                if complete && pump.conn().record_layer() == RecordLayer::InPlace =>
            {
                // What the handshake left to send (tickets, when the
                // peer's data came first) goes before the split, so that
                // what follows it is the halves' own.
                let bytes = pump.to_transmit();
                sock.write_all(bytes).expect("write");
                wrote.extend_from_slice(bytes);
                let n = bytes.len();
                pump.transmitted(n);
                return pump.into_parts();
            }
            Next::Receive => {
                let n = sock.read(pump.receive_buffer()).expect("read");
                pump.received(n).expect("received");
            }
            other => panic!("unexpected during the handshake: {other:?}"),
        }
    }
}

/// Reads until the peer's close_notify, through the receive half.
fn receive<C: Side>(
    mut half: ReceiveHalf<C>,
    mut incoming: IncomingTls,
    mut sock: TcpStream,
    peer_closed: mpsc::Sender<()>,
) -> Result<Vec<u8>, Error> {
    let mut received = Vec::new();
    loop {
        match half.process(&mut incoming)? {
            ReceiveStatus::AppDataAvailable(mut records) => {
                while let Some(record) = records.next_record() {
                    received.extend_from_slice(record?);
                }
            }
            ReceiveStatus::NeedsMoreTlsData => {
                let n = sock.read(incoming.unfilled()).expect("read");
                if n == 0 {
                    half.handle_eof()?;
                }
                incoming.advance(n);
            }
            ReceiveStatus::PeerClosed => {
                let _ = peer_closed.send(());
                return Ok(received);
            }
            ReceiveStatus::FlushSender => panic!("nothing in this exchange is refused"),
            _ => panic!("a status this test does not know"),
        }
    }
}

/// Sends the plan's data through the send half, half of it by `encrypt`
/// and half written straight into record rooms, then close_notify.
fn send<C: Side>(
    half: &mut SendHalf<C>,
    outgoing: &mut OutgoingTls,
    sock: &mut TcpStream,
    wrote: &mut Vec<u8>,
    plan: Plan,
    peer_closed: &mpsc::Receiver<()>,
) -> Result<usize, Error> {
    let data = pattern(plan.len, plan.seed);
    let mut flush = |outgoing: &mut OutgoingTls| {
        sock.write_all(outgoing.filled()).expect("write");
        wrote.extend_from_slice(outgoing.filled());
        outgoing.discard(outgoing.len());
    };
    let (mut sent, mut calls, mut refreshes) = (0, 0, 0);
    while sent < data.len() {
        let end = (sent + plan.chunk).min(data.len());
        if calls % 2 == 0 {
            sent += half.encrypt(&data[sent..end], outgoing)?;
        } else {
            let mut room = half.record_room(outgoing)?.expect("room before close");
            let n = room.buf().len().min(end - sent);
            room.buf()[..n].copy_from_slice(&data[sent..sent + n]);
            sent += room.seal(n)?;
        }
        calls += 1;
        if calls % plan.refresh_every == 0 && half.refresh_traffic_keys(outgoing)? {
            refreshes += 1;
        }
        flush(outgoing);
    }
    if plan.close_after_peer {
        peer_closed
            .recv_timeout(IO_TIMEOUT)
            .expect("the peer's close_notify");
    }
    half.queue_close_notify(outgoing)?;
    flush(outgoing);
    assert!(half.close_notify_sent());
    assert_eq!(
        half.encrypt(b"after close", outgoing)?,
        0,
        "nothing is taken after close_notify"
    );
    Ok(refreshes)
}

/// One side: handshake, split, a receiving thread and this one sending.
fn side<C: Side>(mut conn: LlConnection<C>, mut sock: TcpStream, plan: Plan) -> Outcome
where
    SendHalf<C>: Send,
    ReceiveHalf<C>: Send + 'static,
{
    sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    sock.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut wrote = Vec::new();
    if let Some(limit) = plan.key_limit {
        conn.set_key_limit(limit);
    }
    let (conn, incoming, mut outgoing) = handshake(conn, &mut sock, &mut wrote);
    let before_split = wrote.len();
    let (mut send_half, receive_half) = conn.into_split().map_err(|(_, e)| e).expect("split");
    let (closed_tx, closed_rx) = mpsc::channel();
    let reader = sock.try_clone().unwrap();
    let receiving = thread::spawn(move || receive(receive_half, incoming, reader, closed_tx));
    let refreshes = send(
        &mut send_half,
        &mut outgoing,
        &mut sock,
        &mut wrote,
        plan,
        &closed_rx,
    )
    .expect("send half");
    let received = receiving
        .join()
        .expect("receiving thread")
        .expect("receive half");
    Outcome {
        wrote,
        before_split,
        received,
        refreshes,
    }
}

/// The length of the first record in `wire`.
fn first_record_len(wire: &[u8]) -> usize {
    5 + usize::from(u16::from_be_bytes([wire[3], wire[4]]))
}

/// KeyUpdates: the handshake records that went `dir` after the split (the
/// server's tickets went before it), from the `from`th record seen on.
fn key_updates(wire: &Wire, dir: Dir, from: usize) -> usize {
    wire.seen(dir)[from..]
        .iter()
        .filter(|s| **s == Seen::Handshake)
        .count()
}

fn full_duplex(tls13: bool, suite: Suite, client_plan: Plan, server_plan: Plan) {
    let setup = setup(tls13, suite);
    let configs = Configs::new(setup);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server_config = configs.server.clone();
    let server = thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        let conn = LlServerConnection::new(server_config).unwrap();
        side(conn, sock, server_plan)
    });
    let sock = TcpStream::connect(addr).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = LlClientConnection::new(configs.client.clone(), name).unwrap();
    let client = side(conn, sock, client_plan);
    let server = server.join().expect("server thread");

    let client_data = pattern(client_plan.len, client_plan.seed);
    let server_data = pattern(server_plan.len, server_plan.seed);
    assert!(
        client.received == server_data,
        "client received {}B, not the server's {}B",
        client.received.len(),
        server_data.len()
    );
    assert!(
        server.received == client_data,
        "server received {}B, not the client's {}B",
        server.received.len(),
        client_data.len()
    );

    // The observer needs the ClientHello's random before anything the
    // server protects; each direction is otherwise independent.
    let mut wire = Wire::new(tls13, suite, configs.keylog.clone());
    let hello = first_record_len(&client.wrote);
    wire.observe(Dir::ClientToServer, &client.wrote[..hello]);
    wire.observe(Dir::ServerToClient, &server.wrote[..server.before_split]);
    wire.observe(
        Dir::ClientToServer,
        &client.wrote[hello..client.before_split],
    );
    let split_at = [
        wire.seen(Dir::ClientToServer).len(),
        wire.seen(Dir::ServerToClient).len(),
    ];
    wire.observe(Dir::ServerToClient, &server.wrote[server.before_split..]);
    wire.observe(Dir::ClientToServer, &client.wrote[client.before_split..]);
    assert_eq!(wire.violation, None, "the wire observer");
    assert!(wire.plaintext(Dir::ClientToServer) == client_data.as_slice());
    assert!(wire.plaintext(Dir::ServerToClient) == server_data.as_slice());
    for dir in [Dir::ClientToServer, Dir::ServerToClient] {
        assert!(wire.close_notified(dir), "{dir:?} ends with close_notify");
        assert!(wire.at_record_boundary(dir));
    }

    let (from_client, from_server) = (
        key_updates(&wire, Dir::ClientToServer, split_at[0]),
        key_updates(&wire, Dir::ServerToClient, split_at[1]),
    );
    if !tls13 {
        assert_eq!(
            (from_client, from_server),
            (0, 0),
            "TLS 1.2 has no KeyUpdate"
        );
        assert_eq!((client.refreshes, server.refreshes), (0, 0));
        return;
    }
    assert!(client.refreshes > 0 && server.refreshes > 0);
    assert!(
        from_client >= client.refreshes,
        "{from_client} KeyUpdates from the client, {} asked for",
        client.refreshes
    );
    // The server closed only after the client's close_notify, so it saw
    // every request the client made: at least one answer went out, from
    // its receiving thread to its sending one, besides its own requests.
    assert!(
        from_server > server.refreshes,
        "{from_server} KeyUpdates from the server, {} of them its own requests: no answer",
        server.refreshes
    );
}

const MIB: usize = 1 << 20;

fn plans(len: usize) -> (Plan, Plan) {
    let client = Plan {
        len,
        chunk: 10_000,
        refresh_every: 40,
        close_after_peer: false,
        key_limit: None,
        seed: 3,
    };
    let server = Plan {
        len: len + 12_345,
        chunk: 23_456,
        refresh_every: 25,
        close_after_peer: true,
        key_limit: None,
        seed: 99,
    };
    (client, server)
}

#[test]
fn halves_on_two_threads_full_duplex_tls13_aes128_with_key_updates_both_ways() {
    let (client, server) = plans(3 * MIB);
    full_duplex(true, Suite::Aes128Gcm, client, server);
}

#[test]
fn halves_on_two_threads_full_duplex_tls13_aes256_at_a_low_key_limit() {
    let (mut client, mut server) = plans(2 * MIB);
    client.key_limit = Some(50);
    server.key_limit = Some(70);
    full_duplex(true, Suite::Aes256Gcm, client, server);
}

#[test]
fn halves_on_two_threads_full_duplex_tls13_chacha20() {
    let (client, server) = plans(2 * MIB);
    full_duplex(true, Suite::Chacha20, client, server);
}

#[test]
fn halves_on_two_threads_full_duplex_tls12() {
    let (client, server) = plans(2 * MIB);
    full_duplex(false, Suite::Aes128Gcm, client, server);
}

#[test]
fn halves_are_send() {
    fn send<T: Send>() {}
    send::<SendHalf<rustls::client::UnbufferedClientConnection>>();
    send::<ReceiveHalf<rustls::client::UnbufferedClientConnection>>();
    send::<SendHalf<rustls::server::UnbufferedServerConnection>>();
    send::<ReceiveHalf<rustls::server::UnbufferedServerConnection>>();
}

// In memory: what crosses between the halves, step by step.

type ClientConn = LlConnection<rustls::client::UnbufferedClientConnection>;
type ServerConn = LlConnection<rustls::server::UnbufferedServerConnection>;

/// A connected pair in memory, every byte seen by the observer.
struct Connected {
    client: (ClientConn, IncomingTls, OutgoingTls),
    server: (ServerConn, IncomingTls, OutgoingTls),
    wire: Wire,
}

/// Drives `pump` until it waits for the peer; moves what it transmits to
/// `to_peer` (and the observer). Whether its handshake is over and the
/// in-place record layer took over.
fn settle<C: Side>(
    pump: &mut Pump<C>,
    complete: &mut bool,
    to_peer: &mut Vec<u8>,
    wire: &mut Wire,
    dir: Dir,
) -> bool {
    loop {
        match pump.poll().expect("handshake") {
            Next::Transmit => {
                let bytes = pump.to_transmit();
                wire.observe(dir, bytes);
                to_peer.extend_from_slice(bytes);
                let n = bytes.len();
                pump.transmitted(n);
            }
            Next::HandshakeComplete(_) => *complete = true,
            Next::Receive | Next::Plaintext => {
                return *complete && pump.conn().record_layer() == RecordLayer::InPlace
            }
            other => panic!("unexpected during the handshake: {other:?}"),
        }
    }
}

fn deliver<C: Side>(bytes: &mut Vec<u8>, pump: &mut Pump<C>) {
    while !bytes.is_empty() {
        let room = pump.receive_buffer();
        let n = room.len().min(bytes.len());
        assert!(n > 0, "no room to receive");
        room[..n].copy_from_slice(&bytes[..n]);
        bytes.drain(..n);
        pump.received(n).unwrap();
    }
}

fn connected(tls13: bool) -> Connected {
    connected_with_limit(tls13, None)
}

/// As [`connected`], with `key_limit` set on both before the handshake.
fn connected_with_limit(tls13: bool, key_limit: Option<u64>) -> Connected {
    connected_with(tls13, key_limit, |config| config)
}

/// As [`connected_with_limit`], with the client's config changed by
/// `client_config`.
fn connected_with(
    tls13: bool,
    key_limit: Option<u64>,
    client_config: impl FnOnce(rustls::ClientConfig) -> rustls::ClientConfig,
) -> Connected {
    let configs = Configs::new(setup(tls13, Suite::Aes128Gcm));
    let name = ServerName::try_from("localhost").unwrap();
    let config = Arc::new(client_config((*configs.client).clone()));
    let mut client = LlClientConnection::new(config, name).unwrap();
    let mut server = LlServerConnection::new(configs.server.clone()).unwrap();
    if let Some(limit) = key_limit {
        client.set_key_limit(limit);
        server.set_key_limit(limit);
    }
    let mut client = Pump::new(client);
    let mut server = Pump::new(server);
    let mut wire = Wire::new(tls13, Suite::Aes128Gcm, configs.keylog.clone());
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    let (mut client_complete, mut server_complete) = (false, false);
    for _ in 0..20 {
        let client_done = settle(
            &mut client,
            &mut client_complete,
            &mut to_server,
            &mut wire,
            Dir::ClientToServer,
        );
        let server_done = settle(
            &mut server,
            &mut server_complete,
            &mut to_client,
            &mut wire,
            Dir::ServerToClient,
        );
        if client_done && server_done && to_server.is_empty() && to_client.is_empty() {
            return Connected {
                client: client.into_parts(),
                server: server.into_parts(),
                wire,
            };
        }
        deliver(&mut to_server, &mut server);
        deliver(&mut to_client, &mut client);
    }
    panic!("the handshake never settled")
}

/// Appends `bytes` to `incoming`, which has room for a record since the
/// last `process`.
fn put(incoming: &mut IncomingTls, bytes: &[u8]) {
    let room = incoming.unfilled();
    assert!(room.len() >= bytes.len(), "room for {}B", bytes.len());
    room[..bytes.len()].copy_from_slice(bytes);
    incoming.advance(bytes.len());
}

/// A connected client, split; its buffers; the observer.
fn split_client(
    tls13: bool,
) -> (
    ClientSendHalf,
    ClientReceiveHalf,
    IncomingTls,
    OutgoingTls,
    Wire,
) {
    let Connected {
        client: (client, client_in, client_out),
        wire,
        ..
    } = connected(tls13);
    let (send, receive) = client.into_split().map_err(|(_, e)| e).unwrap();
    (send, receive, client_in, client_out, wire)
}

/// Moves `outgoing` into `incoming`, through the observer.
fn carry(outgoing: &mut OutgoingTls, incoming: &mut IncomingTls, wire: &mut Wire, dir: Dir) {
    wire.observe(dir, outgoing.filled());
    put(incoming, outgoing.filled());
    outgoing.discard(outgoing.len());
}

/// Sends `outgoing` to the observer only.
fn sent(outgoing: &mut OutgoingTls, wire: &mut Wire, dir: Dir) {
    wire.observe(dir, outgoing.filled());
    outgoing.discard(outgoing.len());
}

/// Puts a record `wire` forged as `dir`'s sender's next one into
/// `incoming` (the observer takes it as sent).
fn inject(wire: &mut Wire, dir: Dir, content_type: u8, body: &[u8], incoming: &mut IncomingTls) {
    let record = wire
        .forge(dir, content_type, body)
        .expect("at a record boundary");
    wire.observe(dir, &record);
    put(incoming, &record);
}

/// The server's fatal handshake_failure reaches the receive half, which
/// fails with it; the alert.
fn peers_fatal_alert(
    wire: &mut Wire,
    incoming: &mut IncomingTls,
    receive: &mut ClientReceiveHalf,
) -> rustls::AlertDescription {
    inject(wire, Dir::ServerToClient, ALERT, &[2, 40], incoming);
    let error = receive.process(incoming).expect_err("alert");
    let alert = rustls::AlertDescription::HandshakeFailure;
    assert_eq!(error.alert_received(), Some(alert));
    alert
}

/// A record that opens under no key.
fn put_forged_record(incoming: &mut IncomingTls) {
    let mut garbage = vec![23, 3, 3, 0, 40];
    garbage.extend([0x5a; 40]);
    put(incoming, &garbage);
}

/// `error` is rustls's `want`, with `alert_sent`.
fn expect_tls(error: &Error, want: rustls::Error, alert: Option<rustls::AlertDescription>) {
    assert!(
        matches!(error, Error::Tls { error, alert_sent } if *error == want && *alert_sent == alert),
        "{error:?}: expected {want:?} with {alert:?} sent"
    );
}

const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;

/// The peer's KeyUpdate request, processed by the receive half, is
/// answered by the send half right before its next record, with no call in
/// between: the queue carries it. A whole connection talks to the halves.
#[test]
fn key_update_request_is_answered_by_the_send_half_before_its_next_record() {
    let Connected {
        client: (client, mut client_in, mut client_out),
        server: (mut server, mut server_in, mut server_out),
        mut wire,
    } = connected(true);
    let (mut send, mut receive) = client.into_split().map_err(|(_, e)| e).unwrap();
    assert!(server
        .refresh_traffic_keys(&mut server_in, &mut server_out)
        .unwrap());
    carry(
        &mut server_out,
        &mut client_in,
        &mut wire,
        Dir::ServerToClient,
    );
    assert!(matches!(
        receive.process(&mut client_in).unwrap(),
        ReceiveStatus::NeedsMoreTlsData
    ));
    let before = wire.seen(Dir::ClientToServer).len();
    assert_eq!(send.encrypt(b"hello", &mut client_out).unwrap(), 5);
    carry(
        &mut client_out,
        &mut server_in,
        &mut wire,
        Dir::ClientToServer,
    );
    assert_eq!(
        wire.seen(Dir::ClientToServer)[before..],
        [Seen::Handshake, Seen::AppData(5)],
        "the answer, then the data under the new keys"
    );
    assert_eq!(wire.violation, None);
    match server.process(&mut server_in, &mut server_out).unwrap() {
        lltls::Status::AppDataAvailable(mut records) => {
            assert_eq!(records.next_record().unwrap().unwrap(), b"hello")
        }
        other => panic!("server: {other:?}"),
    }
}

/// TLS 1.2: a renegotiation request gets FlushSender, and the send half's
/// flush seals the refusal; a second request ends the connection, and the
/// send half seals that fatal alert and reports the same error; nothing
/// after it.
#[test]
fn renegotiation_refusal_and_its_fatal_alert_go_through_the_send_half() {
    let (mut send, mut receive, mut client_in, mut client_out, mut wire) = split_client(false);
    let hello_request = [0, 0, 0, 0];
    inject(
        &mut wire,
        Dir::ServerToClient,
        HANDSHAKE,
        &hello_request,
        &mut client_in,
    );
    assert!(matches!(
        receive.process(&mut client_in).unwrap(),
        ReceiveStatus::FlushSender
    ));
    assert!(matches!(
        receive.process(&mut client_in).unwrap(),
        ReceiveStatus::NeedsMoreTlsData
    ));
    send.flush(&mut client_out).unwrap();
    let before = wire.seen(Dir::ClientToServer).len();
    sent(&mut client_out, &mut wire, Dir::ClientToServer);
    assert_eq!(
        wire.seen(Dir::ClientToServer)[before..],
        [Seen::Alert {
            level: 1,
            description: 100
        }]
    );

    inject(
        &mut wire,
        Dir::ServerToClient,
        HANDSHAKE,
        &hello_request,
        &mut client_in,
    );
    let error = receive.process(&mut client_in).expect_err("second request");
    expect_tls(
        &error,
        rustls::Error::PeerMisbehaved(rustls::PeerMisbehaved::TooManyRenegotiationRequests),
        None,
    );
    let error = send.encrypt(b"late", &mut client_out).expect_err("ended");
    expect_tls(
        &error,
        rustls::Error::PeerMisbehaved(rustls::PeerMisbehaved::TooManyRenegotiationRequests),
        Some(rustls::AlertDescription::NoRenegotiation),
    );
    sent(&mut client_out, &mut wire, Dir::ClientToServer);
    assert_eq!(
        wire.seen(Dir::ClientToServer).last(),
        Some(&Seen::Alert {
            level: 2,
            description: 100
        })
    );
    assert!(wire.ended(Dir::ClientToServer));
    assert!(send.flush(&mut client_out).is_err());
    assert!(send.queue_close_notify(&mut client_out).is_err());
    assert!(client_out.is_empty(), "nothing after the fatal alert");
    assert!(send.close_notify_sent());
    assert_eq!(wire.violation, None);
}

/// A record that does not open: the receive half fails, and the send
/// half's next call seals bad_record_mac with the current keys.
#[test]
fn a_forged_record_makes_the_send_half_seal_bad_record_mac() {
    let (mut send, mut receive, mut client_in, mut client_out, mut wire) = split_client(true);
    put_forged_record(&mut client_in);
    let error = receive.process(&mut client_in).expect_err("forged");
    expect_tls(&error, rustls::Error::DecryptError, None);
    let error = send.flush(&mut client_out).expect_err("ended");
    expect_tls(
        &error,
        rustls::Error::DecryptError,
        Some(rustls::AlertDescription::BadRecordMac),
    );
    sent(&mut client_out, &mut wire, Dir::ClientToServer);
    assert_eq!(
        wire.seen(Dir::ClientToServer).last(),
        Some(&Seen::Alert {
            level: 2,
            description: 20
        })
    );
    assert_eq!(wire.violation, None);
}

/// The peer's fatal alert: the send half drops what it sealed but was not
/// transmitted yet, and sends nothing more (RFC 8446 §6.2).
#[test]
fn peer_fatal_alert_stops_the_send_half_and_drops_what_waits() {
    let (mut send, mut receive, mut client_in, mut client_out, mut wire) = split_client(true);
    assert_eq!(send.encrypt(b"not sent yet", &mut client_out).unwrap(), 12);
    let alert = peers_fatal_alert(&mut wire, &mut client_in, &mut receive);
    let error = send.flush(&mut client_out).expect_err("ended");
    assert_eq!(error.alert_received(), Some(alert));
    assert!(client_out.is_empty(), "dropped, not sent");
    assert!(send.close_notify_sent());
    assert!(send.encrypt(b"more", &mut client_out).is_err());
    assert!(client_out.is_empty());
}

/// Data, close_notify and end-of-file across halves and a whole
/// connection; the receive half reports PeerClosed from then on, and an
/// end-of-file before it is a truncation that stops the send half too.
#[test]
fn close_notify_and_end_of_file_on_the_receive_half() {
    let Connected {
        client: (client, mut client_in, mut client_out),
        server: (mut server, mut server_in, mut server_out),
        mut wire,
    } = connected(true);
    let (mut send, mut receive) = client.into_split().map_err(|(_, e)| e).unwrap();
    assert_eq!(
        server
            .encrypt(b"bye", &mut server_in, &mut server_out)
            .unwrap(),
        3
    );
    assert!(server
        .queue_close_notify(&mut server_in, &mut server_out)
        .unwrap());
    carry(
        &mut server_out,
        &mut client_in,
        &mut wire,
        Dir::ServerToClient,
    );
    match receive.process(&mut client_in).unwrap() {
        ReceiveStatus::AppDataAvailable(mut records) => {
            assert_eq!(records.next_record().unwrap().unwrap(), b"bye");
            assert!(records.next_record().is_none());
        }
        _ => panic!("the data first"),
    }
    assert!(!receive.peer_closed());
    for _ in 0..2 {
        assert!(matches!(
            receive.process(&mut client_in).unwrap(),
            ReceiveStatus::PeerClosed
        ));
    }
    receive.handle_eof().unwrap();
    assert_eq!(send.encrypt(b"still", &mut client_out).unwrap(), 5);
    send.queue_close_notify(&mut client_out).unwrap();
    carry(
        &mut client_out,
        &mut server_in,
        &mut wire,
        Dir::ClientToServer,
    );
    assert_eq!(wire.violation, None);
    assert!(wire.close_notified(Dir::ClientToServer));

    // Another connection: end-of-file with no close_notify.
    let other = connected(true);
    let (mut other_send, mut other_receive) =
        other.server.0.into_split().map_err(|(_, e)| e).unwrap();
    let error = other_receive.handle_eof().expect_err("truncated");
    assert!(matches!(error, Error::UnexpectedEof { handshaking: false }));
    let mut out = OutgoingTls::new();
    let error = other_send.encrypt(b"x", &mut out).expect_err("stopped");
    assert!(matches!(error, Error::UnexpectedEof { handshaking: false }));
    assert!(out.is_empty());
}

/// The connection is given back, unchanged, when it cannot be split: during
/// the handshake (which then completes), and with rustls's record layer.
#[test]
fn into_split_gives_the_connection_back_when_it_cannot_split() {
    let configs = Configs::new(setup(true, Suite::Aes128Gcm));
    let name = ServerName::try_from("localhost").unwrap();
    let client = LlClientConnection::new(configs.client.clone(), name.clone()).unwrap();
    let (mut client, error) = client.into_split().expect_err("during the handshake");
    assert!(matches!(error, Error::CannotSplit(_)), "{error:?}");
    let mut out = OutgoingTls::new();
    let mut incoming = IncomingTls::new();
    let status = client.process(&mut incoming, &mut out).unwrap();
    assert!(matches!(status, lltls::Status::MustTransmitTlsData));
    assert!(!out.is_empty(), "the ClientHello: the connection goes on");

    let client =
        LlClientConnection::with_record_layer(configs.client.clone(), name, RecordLayer::Rustls)
            .unwrap();
    let server =
        LlServerConnection::with_record_layer(configs.server.clone(), RecordLayer::Rustls).unwrap();
    let mut pair = harness::pair::Pair::from_conns(client, server);
    pair.connect();
    let (_, error) = pair.client.conn.into_split().expect_err("rustls's layer");
    assert!(matches!(error, Error::CannotSplit(_)), "{error:?}");
}

/// Two threads: a room taken before the receive half saw the peer's fatal
/// alert is not sealed; its `seal` reports the error, and nothing waits
/// to be transmitted.
#[test]
fn a_room_taken_before_the_peers_fatal_alert_is_not_sealed() {
    let (mut send, mut receive, mut client_in, mut client_out, mut wire) = split_client(true);
    let mut room = send.record_room(&mut client_out).unwrap().expect("room");
    room.buf()[..4].copy_from_slice(b"late");
    let alert = peers_fatal_alert(&mut wire, &mut client_in, &mut receive);
    let error = room.seal(4).expect_err("the connection ended");
    assert_eq!(error.alert_received(), Some(alert));
    assert!(
        client_out.is_empty(),
        "nothing sealed after the peer's alert"
    );
    assert!(send.close_notify_sent());
}

/// A record that does not open while a room is taken: the room is not
/// sealed, bad_record_mac goes out in its place, under the keys the room
/// would have used.
#[test]
fn a_room_taken_before_a_forged_record_gives_way_to_the_alert() {
    let (mut send, mut receive, mut client_in, mut client_out, mut wire) = split_client(true);
    let mut room = send.record_room(&mut client_out).unwrap().expect("room");
    room.buf()[..4].copy_from_slice(b"late");
    put_forged_record(&mut client_in);
    receive.process(&mut client_in).expect_err("forged");
    let error = room.seal(4).expect_err("the connection ended");
    expect_tls(
        &error,
        rustls::Error::DecryptError,
        Some(rustls::AlertDescription::BadRecordMac),
    );
    let before = wire.seen(Dir::ClientToServer).len();
    sent(&mut client_out, &mut wire, Dir::ClientToServer);
    assert_eq!(
        wire.seen(Dir::ClientToServer)[before..],
        [Seen::Alert {
            level: 2,
            description: 20
        }]
    );
    assert_eq!(wire.violation, None);
}

/// TLS 1.2 at its key limit: a renegotiation refusal queued when the next
/// record is the last the keys allow is not sent; that record is the
/// close_notify, and nothing is sealed past the limit.
#[test]
fn tls12_refusal_at_the_key_limit_leaves_the_last_record_to_close_notify() {
    const LIMIT: u64 = 6;
    let Connected {
        client: (client, mut client_in, mut client_out),
        mut wire,
        ..
    } = connected_with_limit(false, Some(LIMIT));
    let (mut send, mut receive) = client.into_split().map_err(|(_, e)| e).unwrap();
    while send.sequence_number() < LIMIT - 1 {
        assert_eq!(send.encrypt(b"d", &mut client_out).unwrap(), 1);
    }
    sent(&mut client_out, &mut wire, Dir::ClientToServer);
    inject(
        &mut wire,
        Dir::ServerToClient,
        HANDSHAKE,
        &[0, 0, 0, 0],
        &mut client_in,
    );
    assert!(matches!(
        receive.process(&mut client_in).unwrap(),
        ReceiveStatus::FlushSender
    ));
    send.flush(&mut client_out).unwrap();
    assert!(client_out.is_empty(), "no refusal on the last record");
    let error = send
        .encrypt(b"more", &mut client_out)
        .expect_err("worn out");
    assert!(matches!(error, Error::EncryptExhausted), "{error:?}");
    sent(&mut client_out, &mut wire, Dir::ClientToServer);
    assert!(wire.close_notified(Dir::ClientToServer));
    assert_eq!(
        send.sequence_number(),
        LIMIT,
        "the close_notify was the last record"
    );
    assert_eq!(wire.violation, None);
}

/// Deferred mode: after the caller rejected the peer, and before `process`
/// sealed the alert, the connection cannot split, and says why (not that
/// a verdict is pending).
#[test]
fn into_split_after_a_rejection_names_the_rejection() {
    let mut setup = setup(true, Suite::Aes128Gcm);
    setup.deferred_client = true;
    let configs = Configs::new(setup);
    let name = ServerName::try_from("localhost").unwrap();
    let deferred = configs.deferred_client.as_ref().expect("deferred config");
    let mut client = Pump::new(LlClientConnection::deferred(deferred, name).unwrap());
    let mut server = Pump::new(LlServerConnection::new(configs.server.clone()).unwrap());
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        loop {
            match client.poll().expect("client") {
                Next::Transmit => {
                    to_server.extend_from_slice(client.to_transmit());
                    let n = client.to_transmit().len();
                    client.transmitted(n);
                }
                Next::VerifyPeer(_) => {
                    let (conn, _, _) = client.into_parts();
                    let (mut conn, error) = conn.into_split().expect_err("pending");
                    assert!(matches!(error, Error::AwaitingVerdict), "{error:?}");
                    conn.peer_verified(Err(rustls::Error::General("rejected".into())))
                        .unwrap();
                    let (_, error) = conn.into_split().expect_err("rejected");
                    assert!(
                        matches!(error, Error::CannotSplit(reason) if reason.contains("rejected")),
                        "{error:?}"
                    );
                    return;
                }
                _ => break,
            }
        }
        while let Next::Transmit = server.poll().expect("server") {
            to_client.extend_from_slice(server.to_transmit());
            let n = server.to_transmit().len();
            server.transmitted(n);
        }
        deliver(&mut to_server, &mut server);
        deliver(&mut to_client, &mut client);
    }
    panic!("no VerifyPeer");
}

/// A TLS 1.3 NewSessionTicket message rustls's client accepts.
fn new_session_ticket() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(3600u32.to_be_bytes()); // lifetime
    body.extend(7u32.to_be_bytes()); // age_add
    body.extend([1, 0x42]); // nonce
    body.extend([0, 4, 1, 2, 3, 4]); // ticket
    body.extend([0, 0]); // extensions
    let mut message = vec![4, 0, 0, body.len() as u8];
    message.extend(body);
    message
}

/// A client session store that, once armed, panics when a TLS 1.3 ticket
/// is stored (caller code, run while the halves' shared state is locked).
#[derive(Debug)]
struct PanickingStore {
    inner: rustls::client::ClientSessionMemoryCache,
    armed: std::sync::atomic::AtomicBool,
}

impl rustls::client::ClientSessionStore for PanickingStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: rustls::NamedGroup) {
        self.inner.set_kx_hint(name, group)
    }
    fn kx_hint(&self, name: &ServerName<'_>) -> Option<rustls::NamedGroup> {
        self.inner.kx_hint(name)
    }
    fn set_tls12_session(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls12ClientSessionValue,
    ) {
        self.inner.set_tls12_session(name, value)
    }
    fn tls12_session(
        &self,
        name: &ServerName<'_>,
    ) -> Option<rustls::client::Tls12ClientSessionValue> {
        self.inner.tls12_session(name)
    }
    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.inner.remove_tls12_session(name)
    }
    fn insert_tls13_ticket(
        &self,
        name: ServerName<'static>,
        value: rustls::client::Tls13ClientSessionValue,
    ) {
        if self.armed.load(std::sync::atomic::Ordering::SeqCst) {
            panic!("the session store failed");
        }
        self.inner.insert_tls13_ticket(name, value)
    }
    fn take_tls13_ticket(
        &self,
        name: &ServerName<'static>,
    ) -> Option<rustls::client::Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(name)
    }
}

/// The receive half panics while it holds the shared state (the caller's
/// session store panicked while a ticket was stored): the send half seals
/// nothing more and reports `OtherHalfPanicked`, since a key update may be
/// half done.
#[test]
fn a_panic_under_the_lock_stops_the_other_half() {
    let store = Arc::new(PanickingStore {
        inner: rustls::client::ClientSessionMemoryCache::new(4),
        armed: std::sync::atomic::AtomicBool::new(false),
    });
    let resumption = rustls::client::Resumption::store(store.clone());
    let Connected {
        client: (client, mut client_in, mut client_out),
        mut wire,
        ..
    } = connected_with(true, None, |mut config| {
        config.resumption = resumption;
        config
    });
    let (mut send, mut receive) = client.into_split().map_err(|(_, e)| e).unwrap();
    store.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    inject(
        &mut wire,
        Dir::ServerToClient,
        HANDSHAKE,
        &new_session_ticket(),
        &mut client_in,
    );
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = receive.process(&mut client_in);
    }));
    assert!(panicked.is_err(), "the store's panic went through");
    let error = send
        .encrypt(b"after", &mut client_out)
        .expect_err("stopped");
    assert!(matches!(error, Error::OtherHalfPanicked), "{error:?}");
    assert!(client_out.is_empty());
    assert!(matches!(
        send.flush(&mut client_out),
        Err(Error::OtherHalfPanicked)
    ));
}
