//! The connection layer in memory: a client and a server wired buffer to
//! buffer (tests/harness/pair.rs), no sockets.

mod harness;

use std::sync::Arc;

use harness::configs::*;
use harness::data::Rng;
use harness::pair::*;
use lltls::{EarlyDataOutcome, Error, IncomingTls, OutgoingTls, RecordLayer, Status};
use rustls::{AlertDescription, CipherSuite, ProtocolVersion};

fn exchange(pair: &mut Pair, client_data: Vec<u8>, server_data: Vec<u8>) {
    pair.client.to_send = client_data;
    pair.server.to_send = server_data;
    pair.client.close_after_send = true;
    pair.server.close_after_send = true;
    pair.drive();
    assert!(
        pair.client.error.is_none(),
        "client error: {:?}",
        pair.client.error
    );
    assert!(
        pair.server.error.is_none(),
        "server error: {:?}",
        pair.server.error
    );
}

fn assert_exchanged(pair: &Pair) {
    pair.assert_clean_exchange("exchange");
}

#[test]
fn handshake_tls13() {
    let mut pair = Pair::new(
        client_config(Pki::Ecdsa, false),
        server_config(Pki::Ecdsa, false),
    );
    let (client, server) = pair.connect();
    assert_eq!(client.protocol_version, Some(ProtocolVersion::TLSv1_3));
    assert_eq!(server.protocol_version, Some(ProtocolVersion::TLSv1_3));
    assert_eq!(
        client.cipher_suite.map(|s| s.suite()),
        Some(CipherSuite::TLS13_AES_256_GCM_SHA384)
    );
    assert!(client.key_exchange.is_some());
    assert_eq!(client.key_exchange, server.key_exchange);
    let chain = client.peer_certificates.expect("server chain");
    assert_eq!(chain, load_certs("certs/fullchain.pem"));
    assert!(server.peer_certificates.is_none(), "no client auth");
    assert!(!client.resumed);
}

/// The sequence of statuses a client sees in a full TLS 1.3 handshake.
const CLIENT_TLS13_TRANSCRIPT: &[&str] = &[
    "MustTransmitTlsData", // ClientHello
    "NeedsMoreTlsData",    // waiting for the server's flight
    "HandshakeComplete",
    "MustTransmitTlsData", // CCS + Finished
    "NeedsMoreTlsData",
];

const SERVER_TLS13_TRANSCRIPT: &[&str] = &[
    "NeedsMoreTlsData",    // waiting for the ClientHello
    "MustTransmitTlsData", // ServerHello .. Finished
    "NeedsMoreTlsData",
    "HandshakeComplete",
    "MustTransmitTlsData", // session tickets
    "NeedsMoreTlsData",
];

#[test]
fn handshake_tls13_transcript() {
    let mut pair = Pair::new(
        client_config(Pki::Rsa, false),
        server_config(Pki::Rsa, false),
    );
    pair.connect();
    assert_eq!(
        pair.client.transcript, CLIENT_TLS13_TRANSCRIPT,
        "client transcript mismatch"
    );
    assert_eq!(
        pair.server.transcript, SERVER_TLS13_TRANSCRIPT,
        "server transcript mismatch"
    );
}

#[test]
fn handshake_tls12() {
    let mut pair = Pair::new(client_config(Pki::Rsa, true), server_config(Pki::Rsa, true));
    let (client, server) = pair.connect();
    assert_eq!(client.protocol_version, Some(ProtocolVersion::TLSv1_2));
    assert_eq!(server.protocol_version, Some(ProtocolVersion::TLSv1_2));
    exchange(&mut pair, b"ping".to_vec(), b"pong".to_vec());
    assert_exchanged(&pair);
}

#[test]
fn client_auth_tls13_and_tls12() {
    for tls12 in [false, true] {
        let mut pair = Pair::new(
            client_config_with_auth(Pki::Ecdsa, tls12),
            server_config_requiring_auth(Pki::Ecdsa, tls12),
        );
        let (_, server) = pair.connect();
        let chain = server.peer_certificates.expect("client chain");
        assert_eq!(chain[0], load_certs("certs/client.pem")[0], "tls12={tls12}");
        exchange(&mut pair, b"hello".to_vec(), b"world".to_vec());
        assert_exchanged(&pair);
    }
}

#[test]
fn client_auth_required_but_missing() {
    let mut pair = Pair::new(
        client_config(Pki::Ecdsa, false),
        server_config_requiring_auth(Pki::Ecdsa, false),
    );
    pair.drive();
    let server_error = pair.server.error.clone().expect("server must fail");
    assert!(
        matches!(
            server_error.rustls_error(),
            Some(rustls::Error::NoCertificatesPresented)
        ),
        "{server_error}"
    );
    let client_error = pair
        .client
        .error
        .clone()
        .expect("client must see the alert");
    assert_eq!(
        client_error.alert_received(),
        Some(AlertDescription::CertificateRequired)
    );
    assert_eq!(
        client_error.to_string(),
        "peer sent fatal alert certificate_required"
    );
}

#[test]
fn alpn_agreed() {
    let mut client = client_config(Pki::Ecdsa, false);
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut server = server_config(Pki::Ecdsa, false);
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut pair = Pair::new(client, server);
    let (client, server) = pair.connect();
    assert_eq!(client.alpn_protocol.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(server.alpn_protocol.as_deref(), Some(&b"http/1.1"[..]));
}

#[test]
fn one_mib_each_direction_tls13_and_tls12() {
    for tls12 in [false, true] {
        let mut rng = Rng::new(7);
        let mut pair = Pair::new(
            client_config(Pki::Ecdsa, tls12),
            server_config(Pki::Ecdsa, tls12),
        );
        exchange(&mut pair, rng.bytes(1 << 20), rng.bytes(1 << 20));
        assert_exchanged(&pair);
    }
}

#[test]
fn one_byte_at_a_time_gives_the_same_plaintext() {
    let mut rng = Rng::new(3);
    let mut pair = Pair::new(
        client_config(Pki::Ecdsa, false),
        server_config(Pki::Ecdsa, false),
    );
    pair.delivery = Delivery::Chunks(1);
    exchange(&mut pair, rng.bytes(40_000), rng.bytes(40_000));
    assert_exchanged(&pair);
}

#[test]
fn random_chunks_give_the_same_plaintext() {
    for seed in 1..=8u64 {
        for tls12 in [false, true] {
            let mut rng = Rng::new(seed);
            let mut pair = Pair::new(
                client_config(Pki::Rsa, tls12),
                server_config(Pki::Rsa, tls12),
            );
            pair.delivery = Delivery::Random { seed, max: 3000 };
            exchange(&mut pair, rng.bytes(100_000), rng.bytes(70_000));
            assert_exchanged(&pair);
        }
    }
}

#[test]
fn tiny_buffers_grow_and_partial_writes_lose_nothing() {
    let mut rng = Rng::new(11);
    let mut pair = Pair::new(
        client_config(Pki::Rsa, false),
        server_config(Pki::Rsa, false),
    );
    pair.client.incoming = IncomingTls::with_capacity(1);
    pair.client.outgoing = OutgoingTls::with_capacity(1);
    pair.server.incoming = IncomingTls::with_capacity(1);
    pair.server.outgoing = OutgoingTls::with_capacity(1);
    // The transport takes 7 bytes per write: every record leaves in pieces.
    pair.delivery = Delivery::Chunks(7);
    exchange(&mut pair, rng.bytes(50_000), rng.bytes(50_000));
    assert_exchanged(&pair);
    assert!(pair.client.outgoing.capacity() > 1 && pair.server.incoming.capacity() > 1);
}

#[test]
fn outgoing_grows_to_exactly_the_size_rustls_requires() {
    // From an empty buffer, rustls's size probe says how big the ClientHello
    // is; the buffer grows to that and the encode then uses all of it.
    let mut pair = Pair::new(
        client_config(Pki::Rsa, false),
        server_config(Pki::Rsa, false),
    );
    assert_eq!(pair.client.outgoing.capacity(), 0);
    pair.client.pump();
    let encoded = pair.client.outgoing.len();
    assert!(encoded > 200, "ClientHello expected, got {encoded}B");
    assert_eq!(pair.client.outgoing.capacity(), encoded);
    assert_eq!(records(pair.client.outgoing.filled()), vec![(22, encoded)]);
}

#[test]
fn chain_larger_than_16k_completes_a_handshake() {
    let chain_len: usize = load_certs("tests/data/bigchain/fullchain.pem")
        .iter()
        .map(|c| c.len())
        .sum();
    assert!(chain_len > 16 * 1024, "fixture chain is only {chain_len}B");
    for tls12 in [false, true] {
        let mut pair = Pair::new(
            client_config(Pki::BigChain, tls12),
            server_config(Pki::BigChain, tls12),
        );
        pair.delivery = Delivery::Random { seed: 5, max: 5000 };
        let (client, _) = pair.connect();
        assert_eq!(
            client.peer_certificates.unwrap()[0].len(),
            load_certs("tests/data/bigchain/fullchain.pem")[0].len()
        );
        assert!(pair.client.incoming.capacity() > 16 * 1024, "tls12={tls12}");
    }
}

#[test]
fn incoming_buffer_after_handshake_stays_within_one_record() {
    let mut rng = Rng::new(2);
    let mut pair = Pair::new(
        client_config(Pki::Rsa, false),
        server_config(Pki::Rsa, false),
    );
    exchange(&mut pair, rng.bytes(1 << 20), Vec::new());
    assert_exchanged(&pair);
    assert!(
        pair.server.incoming.capacity() <= lltls::MAX_RECORD_SIZE,
        "server incoming grew to {}",
        pair.server.incoming.capacity()
    );
}

#[test]
fn close_notify_client_to_server_then_server_writes() {
    // Half-close: the client is done sending; the server still answers.
    let mut pair = Pair::new(
        client_config(Pki::Ecdsa, false),
        server_config(Pki::Ecdsa, false),
    );
    pair.connect();
    pair.client.to_send = b"request".to_vec();
    pair.client.close_after_send = true;
    pair.drive();
    assert!(
        pair.server.peer_closed,
        "server must see the client's close_notify"
    );
    assert!(!pair.client.peer_closed);
    pair.server.to_send = b"response after the peer closed".to_vec();
    pair.server.close_after_send = true;
    pair.drive();
    assert_exchanged(&pair);
    assert!(pair.client.peer_closed);
    assert!(
        pair.client.conn.handle_eof().is_ok(),
        "EOF after close_notify is clean"
    );
}

#[test]
fn close_notify_server_to_client() {
    let mut pair = Pair::new(
        client_config(Pki::Ecdsa, false),
        server_config(Pki::Ecdsa, false),
    );
    pair.connect();
    pair.server.to_send = b"bye".to_vec();
    pair.server.close_after_send = true;
    pair.drive();
    assert!(pair.client.peer_closed);
    assert_eq!(pair.client.received, b"bye");
    assert!(pair.client.transcript.contains(&"PeerClosed"));
    pair.client.close_after_send = true;
    pair.drive();
    assert!(pair.client.closed && pair.server.closed);
}

#[test]
fn eof_without_close_notify_is_reported() {
    let mut pair = Pair::new(
        client_config(Pki::Ecdsa, false),
        server_config(Pki::Ecdsa, false),
    );
    pair.connect();
    pair.server.to_send = b"partial".to_vec();
    pair.drive();
    let error = pair.client.conn.handle_eof().unwrap_err();
    assert!(
        matches!(error, Error::UnexpectedEof { handshaking: false }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "peer closed the connection without sending close_notify"
    );
    assert_eq!(
        std::io::Error::from(error).kind(),
        std::io::ErrorKind::UnexpectedEof
    );
}

#[test]
fn eof_during_handshake_is_reported() {
    let mut pair = Pair::new(
        client_config(Pki::Ecdsa, false),
        server_config(Pki::Ecdsa, false),
    );
    pair.client.pump();
    let error = pair.client.conn.handle_eof().unwrap_err();
    assert!(
        matches!(error, Error::UnexpectedEof { handshaking: true }),
        "{error:?}"
    );
}

fn resumption_configs(
    max_early_data: u32,
) -> (Arc<rustls::ClientConfig>, Arc<rustls::ServerConfig>) {
    let mut client = client_config(Pki::Ecdsa, false);
    client.enable_early_data = true;
    let mut server = server_config(Pki::Ecdsa, false);
    server.max_early_data_size = max_early_data;
    server.send_half_rtt_data = true;
    (Arc::new(client), Arc::new(server))
}

#[test]
fn resumption_with_tickets() {
    for tls12 in [false, true] {
        let client = Arc::new(client_config(Pki::Ecdsa, tls12));
        let mut server = server_config(Pki::Ecdsa, tls12);
        server.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().unwrap();
        let server = Arc::new(server);
        let mut first = Pair::from_arcs(client.clone(), server.clone());
        exchange(&mut first, b"one".to_vec(), b"1".to_vec());
        assert!(!first.client.handshake.as_ref().unwrap().resumed);
        let mut second = Pair::from_arcs(client, server);
        exchange(&mut second, b"two".to_vec(), b"2".to_vec());
        assert_exchanged(&second);
        assert!(
            second.client.handshake.as_ref().unwrap().resumed,
            "tls12={tls12}: client did not resume"
        );
        assert!(
            second.server.handshake.as_ref().unwrap().resumed,
            "tls12={tls12}: server did not resume"
        );
    }
}

/// A first connection to obtain a ticket from a server allowing
/// `max_early_data` bytes of 0-RTT, then a second, resuming pair whose client
/// offered `early` as early data. Returns the pair and what the client took.
fn resuming_with_early_data(max_early_data: u32, early: &[u8]) -> (Pair, usize) {
    let (client, server) = resumption_configs(max_early_data);
    let mut first = Pair::from_arcs(client.clone(), server.clone());
    exchange(&mut first, Vec::new(), Vec::new());
    let mut second = Pair::from_arcs(client, server);
    let taken = second
        .client
        .conn
        .encrypt_early_data(
            early,
            &mut second.client.incoming,
            &mut second.client.outgoing,
        )
        .unwrap();
    (second, taken)
}

#[test]
fn early_data_accepted() {
    let early = b"GET / HTTP/1.0\r\n\r\n";
    let (mut second, taken) = resuming_with_early_data(1024, early);
    assert_eq!(taken, early.len());
    exchange(&mut second, Vec::new(), b"response".to_vec());
    assert_eq!(second.server.early_received, early);
    let server = second.server.handshake.clone().unwrap();
    assert!(server.resumed);
    assert_eq!(server.early_data, EarlyDataOutcome::Accepted(early.len()));
    assert_eq!(
        second.client.handshake.clone().unwrap().early_data,
        EarlyDataOutcome::Sent(early.len())
    );
    assert_eq!(second.client.received, b"response");
}

#[test]
fn early_data_is_capped_by_the_ticket() {
    let (mut second, taken) = resuming_with_early_data(10, b"0123456789abcdef");
    assert_eq!(taken, 10);
    exchange(&mut second, b"abcdef".to_vec(), Vec::new());
    assert_eq!(second.server.early_received, b"0123456789");
    assert_eq!(second.server.received, b"abcdef");
}

#[test]
fn early_data_refused_when_server_does_not_allow_it() {
    let (mut second, taken) = resuming_with_early_data(0, b"early");
    assert_eq!(taken, 0, "the ticket does not allow early data");
    // The caller sends it as normal data instead.
    exchange(&mut second, b"early".to_vec(), Vec::new());
    assert_exchanged(&second);
    assert!(second.server.early_received.is_empty());
    assert!(second.server.handshake.clone().unwrap().resumed);
    assert_eq!(
        second.server.handshake.clone().unwrap().early_data,
        EarlyDataOutcome::None
    );
}

#[test]
fn key_update_mid_stream() {
    let mut rng = Rng::new(9);
    let mut pair = Pair::new(
        client_config(Pki::Ecdsa, false),
        server_config(Pki::Ecdsa, false),
    );
    pair.connect();
    let first = rng.bytes(100_000);
    pair.client.to_send = first.clone();
    pair.server.to_send = first.clone();
    pair.drive();
    let (client_tx, _) = pair.client.conn.sequence_numbers().unwrap();
    let (_, server_rx) = pair.server.conn.sequence_numbers().unwrap();
    assert!(
        client_tx > 6 && server_rx == client_tx,
        "{client_tx} {server_rx}"
    );
    let before = (pair.client.wire.len(), pair.server.wire.len());
    assert!(pair
        .client
        .conn
        .refresh_traffic_keys(&mut pair.client.incoming, &mut pair.client.outgoing)
        .unwrap());
    // The KeyUpdate is sealed with the old keys; new ones start at 0.
    assert_eq!(pair.client.conn.sequence_numbers().unwrap().0, 0);
    let second = rng.bytes(100_000);
    pair.client.to_send.extend_from_slice(&second);
    pair.drive();
    // The server read the request and answers before its next record.
    pair.server.to_send.extend_from_slice(&second);
    pair.client.close_after_send = true;
    pair.server.close_after_send = true;
    pair.drive();
    assert_exchanged(&pair);
    // On the wire: the client's KeyUpdate (update_requested) before its new
    // data, and the server's answer (update_not_requested) before its own:
    // each a 5-byte message in a TLS 1.3 record of 5 + 5 + 1 + 16 bytes.
    const KEY_UPDATE_RECORD: usize = 27;
    for (side, wire, from) in [
        ("client", &pair.client.wire, before.0),
        ("server", &pair.server.wire, before.1),
    ] {
        let after = records(&wire[from..]);
        assert_eq!(
            after.first(),
            Some(&(23, KEY_UPDATE_RECORD)),
            "{side}: a KeyUpdate first: {after:?}"
        );
        let updates = after
            .iter()
            .filter(|&&(_, len)| len == KEY_UPDATE_RECORD)
            .count();
        assert_eq!(updates, 1, "{side}: {after:?}");
    }
    // Both directions switched keys: the numbers count from the update.
    let data_records = 100_000usize.div_ceil(16_384) as u64;
    let (client_tx, client_rx) = pair.client.conn.sequence_numbers().unwrap();
    let (server_tx, server_rx) = pair.server.conn.sequence_numbers().unwrap();
    // New data and close_notify under the new keys.
    assert_eq!(client_tx, data_records + 1);
    assert_eq!(server_rx, client_tx);
    assert_eq!(server_tx, data_records + 1);
    assert_eq!(client_rx, server_tx);
}

/// Connects, then hands `tamper` the server's next flight of application
/// data before the client sees it. Returns the pair for inspection.
fn tampered(record_layer: RecordLayer, tamper: impl FnOnce(&mut Vec<u8>)) -> Pair {
    let mut pair = Pair::with_record_layer(
        Arc::new(client_config(Pki::Ecdsa, false)),
        Arc::new(server_config(Pki::Ecdsa, false)),
        record_layer,
    );
    pair.connect();
    pair.server.to_send = vec![0x55; 1000];
    pair.server.pump();
    let mut flight = pair.server.outgoing.filled().to_vec();
    let n = flight.len();
    pair.server.outgoing.discard(n);
    tamper(&mut flight);
    let room = pair.client.incoming.unfilled();
    assert!(room.len() >= flight.len());
    room[..flight.len()].copy_from_slice(&flight);
    pair.client.incoming.advance(flight.len());
    pair.client.pump();
    pair
}

/// The alert record the client put on the wire after its error: TLS 1.3
/// encrypts it, so only its presence and type show.
fn assert_alert_sent(pair: &mut Pair) {
    let pending = pair.client.outgoing.filled().to_vec();
    let records = records(&pending);
    assert_eq!(
        records.len(),
        1,
        "one fatal alert record expected: {records:?}"
    );
    assert_eq!(records[0].0, 23, "encrypted alert");
}

#[test]
fn flipped_byte_is_a_decrypt_error_with_alert() {
    for record_layer in [RecordLayer::InPlace, RecordLayer::Rustls] {
        let mut pair = tampered(record_layer, |flight| {
            let last = flight.len() - 1;
            flight[last] ^= 0x01;
        });
        let error = pair.client.error.clone().expect("tampering must fail");
        assert!(
            matches!(error.rustls_error(), Some(rustls::Error::DecryptError)),
            "{record_layer:?}: {error}"
        );
        assert!(error.to_string().contains("bad_record_mac"), "{error}");
        assert_alert_sent(&mut pair);
        assert!(
            pair.client.received.is_empty(),
            "no tampered plaintext delivered"
        );
    }
}

/// A header announcing 65,535 bytes is refused before the record arrives:
/// rustls says the message is too large (decode_error); the in-place layer
/// follows RFC 8446 §5.2 (record_overflow).
#[test]
fn oversized_record_header_is_rejected_with_alert() {
    for record_layer in [RecordLayer::InPlace, RecordLayer::Rustls] {
        let mut pair = tampered(record_layer, |flight| {
            flight[3] = 0xff;
            flight[4] = 0xff;
        });
        let error = pair
            .client
            .error
            .clone()
            .expect("65535-byte record must fail");
        let expected = match record_layer {
            RecordLayer::InPlace => matches!(
                &error,
                lltls::Error::Tls {
                    error: rustls::Error::PeerSentOversizedRecord,
                    alert_sent: Some(rustls::AlertDescription::RecordOverflow),
                }
            ),
            _ => matches!(
                error.rustls_error(),
                Some(rustls::Error::InvalidMessage(
                    rustls::InvalidMessage::MessageTooLarge
                ))
            ),
        };
        assert!(expected, "{record_layer:?}: {error:?}");
        assert_alert_sent(&mut pair);
        assert!(pair.client.incoming.capacity() <= lltls::MAX_RECORD_SIZE);
    }
}

#[test]
fn truncated_stream_is_unexpected_eof() {
    let mut pair = tampered(RecordLayer::InPlace, |flight| {
        flight.truncate(flight.len() - 10)
    });
    assert!(
        pair.client.error.is_none(),
        "a partial record is waited for"
    );
    assert!(pair.client.received.is_empty());
    let error = pair.client.conn.handle_eof().unwrap_err();
    assert!(matches!(error, Error::UnexpectedEof { .. }));
}

#[test]
fn errors_are_sticky() {
    let mut pair = tampered(RecordLayer::InPlace, |flight| flight[10] ^= 0x80);
    assert!(pair.client.error.is_some());
    let again = pair
        .client
        .conn
        .process(&mut pair.client.incoming, &mut pair.client.outgoing);
    assert!(again.is_err());
    assert!(pair
        .client
        .conn
        .encrypt(b"x", &mut pair.client.incoming, &mut pair.client.outgoing)
        .is_err());
}

#[test]
fn corrupt_client_hello_gets_a_plaintext_alert() {
    let mut pair = Pair::new(
        client_config(Pki::Ecdsa, false),
        server_config(Pki::Ecdsa, false),
    );
    pair.client.pump();
    let mut hello = pair.client.outgoing.filled().to_vec();
    // A ServerHello where a ClientHello belongs.
    hello[5] = 2;
    pair.server.pump(); // makes room for the read
    let room = pair.server.incoming.unfilled();
    let n = room.len().min(hello.len());
    room[..n].copy_from_slice(&hello[..n]);
    pair.server.incoming.advance(n);
    pair.server.pump();
    let error = pair.server.error.clone().expect("server must reject");
    let alert = pair.server.outgoing.filled();
    assert_eq!(
        alert.len(),
        7,
        "one plaintext alert record, got {alert:?} after {error}"
    );
    assert_eq!(&alert[..1], &[21]);
    assert_eq!(alert[5], 2, "fatal");
}

#[test]
fn release_when_idle_frees_both_buffers() {
    let mut pair = Pair::new(
        client_config(Pki::Ecdsa, false),
        server_config(Pki::Ecdsa, false),
    );
    pair.connect();
    for endpoint_buffers in [
        (&mut pair.client.incoming, &mut pair.client.outgoing),
        (&mut pair.server.incoming, &mut pair.server.outgoing),
    ] {
        assert!(endpoint_buffers.0.release());
        assert!(endpoint_buffers.1.release());
        assert_eq!(
            endpoint_buffers.0.capacity() + endpoint_buffers.1.capacity(),
            0
        );
    }
    // And they grow again on demand.
    exchange(
        &mut pair,
        b"after release".to_vec(),
        b"still works".to_vec(),
    );
    assert_exchanged(&pair);
}

#[test]
fn plaintext_offered_before_the_handshake_waits_with_the_caller() {
    let mut pair = Pair::new(
        client_config(Pki::Rsa, false),
        server_config(Pki::Rsa, false),
    );
    let taken = pair
        .client
        .conn
        .encrypt(
            b"too early",
            &mut pair.client.incoming,
            &mut pair.client.outgoing,
        )
        .unwrap();
    assert_eq!(taken, 0);
    assert!(!pair
        .client
        .conn
        .queue_close_notify(&mut pair.client.incoming, &mut pair.client.outgoing)
        .unwrap());
    // Queued by the caller: it leaves with the client's Finished.
    exchange(&mut pair, b"too early".to_vec(), Vec::new());
    assert_exchanged(&pair);
}

#[test]
fn status_is_must_transmit_while_outgoing_holds_bytes() {
    let mut pair = Pair::new(
        client_config(Pki::Rsa, false),
        server_config(Pki::Rsa, false),
    );
    let status = pair
        .client
        .conn
        .process(&mut pair.client.incoming, &mut pair.client.outgoing)
        .unwrap();
    assert!(matches!(status, Status::MustTransmitTlsData));
    let n = pair.client.outgoing.len();
    pair.client.outgoing.discard(n);
    let status = pair
        .client
        .conn
        .process(&mut pair.client.incoming, &mut pair.client.outgoing)
        .unwrap();
    assert!(matches!(status, Status::NeedsMoreTlsData));
    assert!(
        !pair.client.incoming.unfilled().is_empty(),
        "room made for the read"
    );
}

/// Fixed storage (an embedded caller's static buffers): a handshake and a
/// transfer fit in 32 KiB each way, and too little room is an error, not a
/// panic.
#[test]
fn fixed_size_storage() {
    use rustls::pki_types::ServerName;
    let name = ServerName::try_from("localhost").unwrap();
    let mut client =
        lltls::LlClientConnection::new(Arc::new(client_config(Pki::Ecdsa, false)), name).unwrap();
    let mut incoming = IncomingTls::with_storage(vec![0u8; 32 * 1024].into_boxed_slice());
    let mut outgoing = OutgoingTls::with_storage([0u8; 32 * 1024]);
    let mut server = Pair::new(
        client_config(Pki::Ecdsa, false),
        server_config(Pki::Ecdsa, false),
    )
    .server;
    let mut received = Vec::new();
    let mut done = false;
    for _ in 0..100 {
        loop {
            match client.process(&mut incoming, &mut outgoing).unwrap() {
                Status::AppDataAvailable(mut records) => {
                    while let Some(record) = records.next_record() {
                        received.extend_from_slice(record.unwrap());
                    }
                }
                Status::HandshakeComplete(_) => {
                    assert_eq!(
                        client
                            .encrypt(b"ping", &mut incoming, &mut outgoing)
                            .unwrap(),
                        4
                    );
                }
                _ => break,
            }
        }
        // client -> server
        let bytes = outgoing.filled().to_vec();
        outgoing.discard(bytes.len());
        server.pump();
        let room = server.incoming.unfilled();
        room[..bytes.len()].copy_from_slice(&bytes);
        server.incoming.advance(bytes.len());
        server.pump();
        if server.received == b"ping" && !done {
            server.to_send = b"pong".to_vec();
            server.pump();
            done = true;
        }
        // server -> client
        let bytes = server.outgoing.filled().to_vec();
        server.outgoing.discard(bytes.len());
        let room = incoming.unfilled();
        room[..bytes.len()].copy_from_slice(&bytes);
        incoming.advance(bytes.len());
        if received == b"pong" {
            break;
        }
    }
    assert_eq!(received, b"pong");
    assert_eq!(incoming.capacity(), 32 * 1024, "fixed storage never grows");

    // Rooms for several records: as many as the storage holds (one full
    // record of 16,406 bytes fits in 32 KiB, two do not), not an error.
    assert!(outgoing.is_empty());
    let mut room = client
        .record_rooms(&mut incoming, &mut outgoing, 16)
        .unwrap()
        .expect("room after the handshake");
    assert_eq!(room.rooms().len(), 1, "rooms in 32 KiB");
    let capacity = room.capacity();
    room.rooms().for_each(|room| room.fill(7));
    assert_eq!(room.seal(capacity).unwrap(), capacity);
    assert_eq!(outgoing.len(), capacity + 5 + 1 + 16, "one full record");

    // Too small to hold the ClientHello: a clear error.
    let name = ServerName::try_from("localhost").unwrap();
    let mut client =
        lltls::LlClientConnection::new(Arc::new(client_config(Pki::Ecdsa, false)), name).unwrap();
    let mut incoming = IncomingTls::with_storage([0u8; 64]);
    let mut outgoing = OutgoingTls::with_storage([0u8; 100]);
    let error = client.process(&mut incoming, &mut outgoing).unwrap_err();
    assert!(
        matches!(error, Error::BufferTooSmall { capacity: 100, .. }),
        "{error:?}"
    );
    assert!(error.to_string().starts_with("cannot fit "), "{error}");
}

/// A first read needs no `process` before it: an empty buffer (new or
/// released) has room for a record, so a transport's `Ok(0)` into it can
/// only mean end-of-file. Fixed storage is never grown.
#[test]
fn empty_incoming_buffer_has_room_for_a_first_read() {
    let mut incoming = IncomingTls::new();
    assert_eq!(incoming.capacity(), 0, "allocates on first use only");
    assert!(incoming.unfilled().len() >= lltls::MAX_RECORD_SIZE);
    assert!(incoming.release());
    assert_eq!(incoming.capacity(), 0);
    assert!(
        incoming.unfilled().len() >= lltls::MAX_RECORD_SIZE,
        "after release"
    );

    // Bytes held and no room: only the connection makes room, within the
    // protocol's limits.
    let mut small = IncomingTls::with_capacity(8);
    let room = small.unfilled().len();
    small.advance(room);
    assert!(small.unfilled().is_empty());

    let mut fixed = IncomingTls::with_storage([0u8; 64]);
    assert_eq!(fixed.unfilled().len(), 64);
    let mut none = IncomingTls::with_storage([0u8; 0]);
    assert!(none.unfilled().is_empty());
}
