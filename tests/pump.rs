//! `Pump`, the run loop written once in the core: what its instructions
//! promise, driven in memory with both record layers.

mod harness;

use std::sync::Arc;

use harness::configs::{client_config, server_config, Pki};
use lltls::{
    Error, LlClientConnection, LlConnection, LlServerConnection, Next, Pump, RecordLayer, Side,
};
use rustls::pki_types::ServerName;

type ClientPump = Pump<rustls::client::UnbufferedClientConnection>;
type ServerPump = Pump<rustls::server::UnbufferedServerConnection>;

fn pumps(tls12: bool, record_layer: RecordLayer) -> (ClientPump, ServerPump) {
    let mut client = client_config(Pki::Ecdsa, tls12);
    client.enable_secret_extraction = true;
    let mut server = server_config(Pki::Ecdsa, tls12);
    server.enable_secret_extraction = true;
    let name = ServerName::try_from("localhost").unwrap();
    (
        Pump::new(
            LlClientConnection::with_record_layer(Arc::new(client), name, record_layer).unwrap(),
        ),
        Pump::new(LlServerConnection::with_record_layer(Arc::new(server), record_layer).unwrap()),
    )
}

/// One side's application: data to send, then close; what it read.
struct App {
    to_send: Vec<u8>,
    sent: usize,
    received: Vec<u8>,
    read_size: usize,
    /// Queue close_notify once everything was sent.
    close: bool,
    /// Events in order, consecutive repeats folded (`Closed` is
    /// level-triggered).
    events: Vec<&'static str>,
    wire: Vec<u8>,
}

impl App {
    fn new(to_send: Vec<u8>, read_size: usize) -> Self {
        Self {
            to_send,
            sent: 0,
            received: Vec::new(),
            read_size,
            close: true,
            events: Vec::new(),
            wire: Vec::new(),
        }
    }

    fn note(&mut self, event: &'static str) {
        if self.events.last() != Some(&event) {
            self.events.push(event);
        }
    }

    /// Does what the pump says until it waits for the peer; whether both
    /// sides closed.
    fn run<C: Side>(&mut self, pump: &mut Pump<C>) -> Result<bool, Error> {
        let mut buf = vec![0u8; self.read_size];
        for _ in 0..100_000 {
            self.sent += pump.send(&self.to_send[self.sent..])?;
            if self.close && self.sent == self.to_send.len() && !pump.conn().is_handshaking() {
                pump.close()?;
            }
            match pump.poll()? {
                Next::Transmit => {
                    let bytes = pump.to_transmit();
                    assert!(!bytes.is_empty(), "Transmit with nothing to transmit");
                    self.wire.extend_from_slice(bytes);
                    let num_bytes = bytes.len();
                    pump.transmitted(num_bytes);
                }
                Next::Receive | Next::Idle => {
                    assert!(pump.to_transmit().is_empty(), "waits while our bytes wait");
                    return Ok(false);
                }
                Next::Plaintext => {
                    let num_bytes = pump.read(&mut buf)?;
                    assert!(num_bytes > 0, "Plaintext with none to read");
                    self.received.extend_from_slice(&buf[..num_bytes]);
                }
                Next::Closed => {
                    self.note("Closed");
                    return Ok(true);
                }
                Next::HandshakeComplete(_) => self.note("HandshakeComplete"),
                Next::PeerClosed => self.note("PeerClosed"),
                other => panic!("unexpected {other:?}"),
            }
        }
        panic!("the pump never waits")
    }
}

/// Moves what `from` transmitted into `to`'s receive buffer, as far as it
/// has room.
fn deliver<C: Side>(from: &mut App, to: &mut Pump<C>, chunk: usize) -> Result<usize, Error> {
    let room = to.receive_buffer();
    let num_bytes = room.len().min(from.wire.len()).min(chunk);
    room[..num_bytes].copy_from_slice(&from.wire[..num_bytes]);
    from.wire.drain(..num_bytes);
    if num_bytes > 0 {
        to.received(num_bytes)?;
    }
    Ok(num_bytes)
}

fn exchange(tls12: bool, record_layer: RecordLayer, read_size: usize, chunk: usize) -> (App, App) {
    let (mut client, mut server) = pumps(tls12, record_layer);
    let mut c = App::new((0..50_000u32).map(|i| (i % 251) as u8).collect(), read_size);
    let mut s = App::new((0..70_000u32).map(|i| (i % 241) as u8).collect(), read_size);
    for _ in 0..1_000_000 {
        let closed = c.run(&mut client).unwrap() & s.run(&mut server).unwrap();
        let moved = deliver(&mut c, &mut server, chunk).unwrap()
            + deliver(&mut s, &mut client, chunk).unwrap();
        if closed && moved == 0 {
            return (c, s);
        }
    }
    panic!("the exchange never closed")
}

/// Data both ways, byte-exact, through reads of any size (records split
/// across reads when they do not fit) and deliveries in small chunks; each
/// event once; both close.
#[test]
fn pumps_exchange_data_through_small_reads_and_close() {
    for record_layer in [RecordLayer::InPlace, RecordLayer::Rustls] {
        for tls12 in [false, true] {
            for (read_size, chunk) in [(7, 1000), (16_384, 100_000), (20_000, 3)] {
                let what =
                    format!("{record_layer:?} TLS1.2={tls12} read {read_size} chunk {chunk}");
                let (c, s) = exchange(tls12, record_layer, read_size, chunk);
                assert_eq!(s.received, c.to_send, "{what}: client to server");
                assert_eq!(c.received, s.to_send, "{what}: server to client");
                for app in [&c, &s] {
                    assert_eq!(
                        app.events,
                        ["HandshakeComplete", "PeerClosed", "Closed"],
                        "{what}"
                    );
                }
            }
        }
    }
}

/// An event `read` comes upon is not lost: data and close_notify in one
/// delivery, read with a buffer that takes the data in one call; the
/// next `poll` says PeerClosed.
#[test]
fn an_event_found_while_reading_comes_at_the_next_poll() {
    let (mut client, mut server) = connected(RecordLayer::InPlace);
    // The server replies and closes in one flight.
    assert_eq!(server.send(b"last words").unwrap(), 10);
    assert!(server.close().unwrap());
    flight(&mut server, &mut client);

    assert!(matches!(client.poll().unwrap(), Next::Plaintext));
    let mut buf = [0u8; 64];
    assert_eq!(client.read(&mut buf).unwrap(), 10);
    assert_eq!(&buf[..10], b"last words");
    // Nothing more to read; the close_notify behind the data is seen here
    // and kept for `poll`.
    assert_eq!(client.read(&mut buf).unwrap(), 0);
    assert!(matches!(client.poll().unwrap(), Next::PeerClosed));
    // End-of-file after close_notify is the clean end.
    client.received(0).unwrap();
}

/// The records themselves, lent without a copy, and end-of-file before
/// close_notify is an error.
#[test]
fn plaintext_records_are_lent_and_truncation_is_an_error() {
    let (mut client, mut server) = pumps(false, RecordLayer::InPlace);
    let mut c = App::new(b"hello".to_vec(), 1);
    let mut s = App::new(Vec::new(), 1);
    c.close = false;
    // Drive the handshake; the server keeps what it receives unread.
    let mut got = Vec::new();
    for _ in 0..10 {
        c.run(&mut client).unwrap();
        deliver(&mut c, &mut server, usize::MAX).unwrap();
        loop {
            match server.poll().unwrap() {
                Next::Plaintext => {
                    let mut records = server.plaintext().unwrap().expect("records wait");
                    while let Some(record) = records.next_record() {
                        got.extend_from_slice(record.unwrap());
                    }
                }
                Next::Transmit => {
                    s.wire.extend_from_slice(server.to_transmit());
                    let n = server.to_transmit().len();
                    server.transmitted(n);
                }
                _ => break,
            }
        }
        deliver(&mut s, &mut client, usize::MAX).unwrap();
    }
    assert_eq!(got, b"hello");
    let error = server
        .received(0)
        .expect_err("end-of-file before close_notify");
    assert!(matches!(error, Error::UnexpectedEof { .. }), "{error:?}");
}

/// A pump over a connection the caller set up keeps its settings.
#[test]
fn into_parts_gives_the_connection_back() {
    let (client, _) = pumps(false, RecordLayer::Rustls);
    let (conn, incoming, outgoing): (LlConnection<_>, _, _) = client.into_parts();
    assert_eq!(conn.record_layer(), RecordLayer::Rustls);
    assert!(incoming.is_empty() && outgoing.is_empty());
}

/// A wait `read` came upon is forgotten once bytes arrive: the next `poll`
/// processes them instead of asking for a read again (which could block
/// while the peer waits for an answer to what arrived).
#[test]
fn bytes_received_after_a_held_wait_are_processed() {
    let (mut client, mut server) = connected(RecordLayer::InPlace);
    assert_eq!(server.send(b"first").unwrap(), 5);
    flight(&mut server, &mut client);
    assert!(matches!(client.poll().unwrap(), Next::Plaintext));
    let mut buf = [0u8; 64];
    assert_eq!(client.read(&mut buf).unwrap(), 5);
    // Nothing more: the connection waits for bytes, and `read` keeps that.
    assert_eq!(client.read(&mut buf).unwrap(), 0);
    assert_eq!(server.send(b"second").unwrap(), 6);
    flight(&mut server, &mut client);
    assert!(
        matches!(client.poll().unwrap(), Next::Plaintext),
        "asked to read while the bytes that came wait"
    );
    assert_eq!(client.read(&mut buf).unwrap(), 6);
    assert_eq!(&buf[..6], b"second");
}

/// Both pumps through their handshakes, nobody closing.
fn connected(record_layer: RecordLayer) -> (ClientPump, ServerPump) {
    let (mut client, mut server) = pumps(false, record_layer);
    let mut c = App::new(Vec::new(), 1 << 16);
    let mut s = App::new(Vec::new(), 1 << 16);
    (c.close, s.close) = (false, false);
    for _ in 0..10 {
        c.run(&mut client).unwrap();
        deliver(&mut c, &mut server, usize::MAX).unwrap();
        s.run(&mut server).unwrap();
        deliver(&mut s, &mut client, usize::MAX).unwrap();
    }
    assert!(!client.conn().is_handshaking() && !server.conn().is_handshaking());
    (client, server)
}

/// Moves the server's pending bytes into the client's receive buffer.
fn flight(server: &mut ServerPump, client: &mut ClientPump) {
    let bytes = server.to_transmit().to_vec();
    server.transmitted(bytes.len());
    client.receive_buffer()[..bytes.len()].copy_from_slice(&bytes);
    client.received(bytes.len()).unwrap();
}

/// A driver that reads until end-of-file before it polls: the close_notify
/// among the bytes it read makes the end clean, and the data before it is
/// delivered.
#[test]
fn end_of_file_read_before_processing_is_clean_after_close_notify() {
    for record_layer in [RecordLayer::InPlace, RecordLayer::Rustls] {
        let (mut client, mut server) = connected(record_layer);
        assert_eq!(server.send(b"bye").unwrap(), 3);
        assert!(server.close().unwrap());
        flight(&mut server, &mut client);
        client
            .received(0)
            .expect("the close_notify is not processed yet");
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        let mut events = Vec::new();
        for _ in 0..100 {
            match client.poll().unwrap() {
                Next::Plaintext => {
                    let n = client.read(&mut buf).unwrap();
                    got.extend_from_slice(&buf[..n]);
                }
                Next::Idle => break,
                Next::Receive => panic!("{record_layer:?}: asked to read after end-of-file"),
                other => events.push(format!("{other:?}")),
            }
        }
        assert_eq!(got, b"bye", "{record_layer:?}");
        assert_eq!(events, ["PeerClosed"], "{record_layer:?}");
    }
    // Without close_notify, the same end is a truncation, reported once the
    // bytes before it are processed.
    let (mut client, mut server) = connected(RecordLayer::InPlace);
    assert_eq!(server.send(b"cut").unwrap(), 3);
    flight(&mut server, &mut client);
    client.received(0).unwrap();
    assert!(matches!(client.poll().unwrap(), Next::Plaintext));
    let mut buf = [0u8; 64];
    assert_eq!(client.read(&mut buf).unwrap(), 3);
    let error = client.poll().expect_err("end-of-file without close_notify");
    assert!(matches!(error, Error::UnexpectedEof { .. }), "{error:?}");
}

/// Once the peer closed, the pump never asks for a read: `Idle` says the
/// next move is ours (a driver following `Receive` would block or spin).
#[test]
fn no_read_is_asked_for_after_the_peer_closed() {
    for record_layer in [RecordLayer::InPlace, RecordLayer::Rustls] {
        let (mut client, mut server) = connected(record_layer);
        assert!(server.close().unwrap());
        flight(&mut server, &mut client);
        assert!(matches!(client.poll().unwrap(), Next::PeerClosed));
        for _ in 0..3 {
            assert!(
                matches!(client.poll().unwrap(), Next::Idle),
                "{record_layer:?}: not Idle after the peer closed"
            );
        }
        // Our move: data, then the close, then Closed.
        assert_eq!(client.send(b"late").unwrap(), 4);
        assert!(matches!(client.poll().unwrap(), Next::Transmit));
        let n = client.to_transmit().len();
        client.transmitted(n);
        assert!(client.close().unwrap());
        assert!(matches!(client.poll().unwrap(), Next::Transmit));
        let n = client.to_transmit().len();
        client.transmitted(n);
        assert!(matches!(client.poll().unwrap(), Next::Closed));
    }
}
