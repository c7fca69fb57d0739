//! The in-place record layer against rustls's, through the public API: the
//! two interoperate both ways, put the same records on the wire, and agree on
//! key updates, key limits, tickets and closes.

mod harness;

use std::sync::Arc;

use harness::configs::*;
use harness::data::Rng;
use harness::pair::*;
use lltls::{Error, RecordLayer};
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::{ClientConfig, ServerConfig, SupportedCipherSuite};

const IN_PLACE: RecordLayer = RecordLayer::InPlace;
const RUSTLS: RecordLayer = RecordLayer::Rustls;

const SUITES: &[SupportedCipherSuite] = &[
    aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
    aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384,
    aws_lc_rs::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
];

fn is_tls12(suite: SupportedCipherSuite) -> bool {
    matches!(suite, SupportedCipherSuite::Tls12(_))
}

/// Fresh configs (nothing to resume) offering only `suite`.
fn configs(pki: Pki, suite: SupportedCipherSuite) -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let provider = Arc::new(CryptoProvider {
        cipher_suites: vec![suite],
        ..aws_lc_rs::default_provider()
    });
    let versions = versions(is_tls12(suite));
    let client = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots(pki))
        .with_no_client_auth();
    let server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            load_certs(&format!("{}/fullchain.pem", pki.dir())),
            load_key(&format!("{}/server.key", pki.dir())),
        )
        .unwrap();
    (
        Arc::new(in_place_client(client)),
        Arc::new(in_place_server(server)),
    )
}

fn layer_name(layers: [RecordLayer; 2]) -> String {
    format!("client {:?}, server {:?}", layers[0], layers[1])
}

/// Data both ways in random chunks, a key update from each side (TLS 1.3),
/// more data, and a close from each side.
fn busy_exchange(pair: &mut Pair, tls12: bool, seed: u64) {
    let mut rng = Rng::new(seed);
    pair.delivery = Delivery::Random { seed, max: 40_000 };
    pair.client.to_send = rng.bytes(300_000);
    pair.server.to_send = rng.bytes(200_000);
    pair.drive();
    if !tls12 {
        for client_first in [true, false] {
            let refreshed = if client_first {
                let c = &mut pair.client;
                c.conn
                    .refresh_traffic_keys(&mut c.incoming, &mut c.outgoing)
            } else {
                let s = &mut pair.server;
                s.conn
                    .refresh_traffic_keys(&mut s.incoming, &mut s.outgoing)
            };
            assert!(refreshed.unwrap());
            let more = rng.bytes(50_000);
            pair.client.to_send.extend_from_slice(&more);
            pair.server.to_send.extend_from_slice(&more);
            pair.drive();
        }
    }
    pair.client.close_after_send = true;
    pair.server.close_after_send = true;
    pair.drive();
}

#[test]
fn in_place_and_rustls_peers_interoperate_every_suite() {
    for &suite in SUITES {
        for layers in [[IN_PLACE, RUSTLS], [RUSTLS, IN_PLACE], [IN_PLACE, IN_PLACE]] {
            let what = format!("{:?}, {}", suite.suite(), layer_name(layers));
            let (client, server) = configs(Pki::Ecdsa, suite);
            let mut pair = Pair::with_record_layers(client, server, layers);
            busy_exchange(&mut pair, is_tls12(suite), 11);
            pair.assert_clean_exchange(&what);
            assert_eq!(pair.client.conn.record_layer(), layers[0], "{what}");
            assert_eq!(pair.server.conn.record_layer(), layers[1], "{what}");
        }
    }
}

/// The same work in either mode gives the same records, type and size,
/// in the same order, both ways (RSA keys: ECDSA signatures vary in length).
#[test]
fn both_modes_put_the_same_records_on_the_wire() {
    for &suite in &[
        aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384,
        aws_lc_rs::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        aws_lc_rs::cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ] {
        let run = |layer| {
            let (client, server) = configs(Pki::Rsa, suite);
            let mut pair = Pair::with_record_layer(client, server, layer);
            busy_exchange(&mut pair, is_tls12(suite), 5);
            pair.assert_clean_exchange(&format!("{:?} {layer:?}", suite.suite()));
            (records(&pair.client.wire), records(&pair.server.wire))
        };
        let in_place = run(IN_PLACE);
        let rustls = run(RUSTLS);
        assert_eq!(in_place.0, rustls.0, "{:?}: client records", suite.suite());
        assert_eq!(in_place.1, rustls.1, "{:?}: server records", suite.suite());
    }
}

/// The hostile harness's deterministic profiles (see [`scripted`]): TLS 1.3
/// and 1.2, AES-GCM and ChaCha20-Poly1305.
fn deterministic_profiles() -> [harness::hostile::Profile; 4] {
    use harness::hostile::Profile;
    let tls13 = Profile::from_byte(2);
    let tls12 = Profile::from_byte(1);
    [
        tls13,
        Profile {
            chacha: true,
            ..tls13
        },
        tls12,
        Profile {
            chacha: true,
            ..tls12
        },
    ]
}

/// Sending through `record_room` puts the same bytes on the wire as
/// `encrypt`, in either mode: [`busy_exchange`] between deterministic peers
/// (fixed keys), compared byte for byte with rustls's layer and `encrypt`.
#[test]
fn record_room_sends_the_same_bytes_in_both_modes() {
    use harness::hostile::{self, deterministic};
    for profile in deterministic_profiles() {
        let tls12 = profile.tls12 == Some(true);
        let run = |layer, use_room| {
            let what = format!("{profile:?} {layer:?} room: {use_room}");
            deterministic::reseed(7);
            let mut pair = Pair::with_record_layer(
                Arc::new(hostile::client_config(profile)),
                Arc::new(hostile::server_config(profile)),
                layer,
            );
            pair.client.use_room = use_room;
            pair.server.use_room = use_room;
            busy_exchange(&mut pair, tls12, 3);
            pair.assert_clean_exchange(&what);
            (what, pair.client.wire, pair.server.wire)
        };
        let (_, client, server) = run(RUSTLS, false);
        for (layer, use_room) in [(RUSTLS, true), (IN_PLACE, true), (IN_PLACE, false)] {
            let (what, client_wire, server_wire) = run(layer, use_room);
            assert_eq!(
                first_difference(&client_wire, &client),
                None,
                "{what}: client"
            );
            assert_eq!(
                first_difference(&server_wire, &server),
                None,
                "{what}: server"
            );
        }
    }
}

/// Rooms for several records at once (`record_rooms`, filled in order as
/// one `readv` would) put the same bytes on the wire as one room at a time,
/// in either mode and for any count: full records, then the rest in a
/// shorter one. With TLS 1.3 also at a key limit lower than the count: no
/// run of rooms crosses it, so every KeyUpdate falls where it would.
#[test]
fn record_rooms_send_the_same_bytes_as_one_room_at_a_time() {
    use harness::hostile::{self, deterministic};
    for profile in deterministic_profiles() {
        let tls12 = profile.tls12 == Some(true);
        // TLS 1.2 closes at its key limit instead: not a busy exchange.
        let limits: &[Option<u64>] = if tls12 { &[None] } else { &[None, Some(6)] };
        for &key_limit in limits {
            let run = |layer, room_records| {
                let what =
                    format!("{profile:?} {layer:?} key limit {key_limit:?} rooms: {room_records}");
                deterministic::reseed(7);
                let mut pair = Pair::with_record_layer(
                    Arc::new(hostile::client_config(profile)),
                    Arc::new(hostile::server_config(profile)),
                    layer,
                );
                for end in [
                    &mut pair.client.conn as &mut dyn KeyLimit,
                    &mut pair.server.conn,
                ] {
                    if let Some(limit) = key_limit {
                        end.key_limit(limit);
                    }
                }
                pair.client.use_room = true;
                pair.server.use_room = true;
                pair.client.room_records = room_records;
                pair.server.room_records = room_records;
                busy_exchange(&mut pair, tls12, 3);
                pair.assert_clean_exchange(&what);
                (what, pair.client.wire, pair.server.wire)
            };
            for layer in [RUSTLS, IN_PLACE] {
                let (_, client, server) = run(layer, 1);
                if key_limit.is_some() && layer == IN_PLACE {
                    // The limit is the in-place layer's: it must have acted.
                    let key_updates = |wire: &[u8]| {
                        records(wire)
                            .iter()
                            .filter(|(typ, len)| *typ == 23 && *len == 5 + 5 + 1 + 16)
                            .count()
                    };
                    assert!(key_updates(&client) >= 5, "{profile:?}: KeyUpdates");
                }
                for room_records in [2, 5, 16] {
                    let (what, client_wire, server_wire) = run(layer, room_records);
                    assert_eq!(
                        first_difference(&client_wire, &client),
                        None,
                        "{what}: client"
                    );
                    assert_eq!(
                        first_difference(&server_wire, &server),
                        None,
                        "{what}: server"
                    );
                }
            }
        }
    }
}

/// Lowers the key limit of either end of a pair.
trait KeyLimit {
    fn key_limit(&mut self, records: u64);
}

impl<C: lltls::Side> KeyLimit for lltls::LlConnection<C> {
    fn key_limit(&mut self, records: u64) {
        self.set_key_limit(records);
    }
}

/// The client takes over before the server's TLS 1.3 tickets arrive; they
/// go to rustls through the kernel connection, and the next connection
/// resumes with them.
#[test]
fn tickets_received_after_the_switch_resume() {
    let (client, server) = configs(
        Pki::Ecdsa,
        aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
    );
    let mut first = Pair::with_record_layer(client.clone(), server.clone(), IN_PLACE);
    for _ in 0..20 {
        if first.client.conn.record_layer() == IN_PLACE {
            break;
        }
        first.step();
    }
    // The client switched right after its Finished, before the server even
    // read it, so before any ticket was sent.
    assert_eq!(first.client.conn.sequence_numbers(), Some((0, 0)));
    assert!(first.server.handshake.is_none());
    first.client.to_send = b"hello".to_vec();
    first.server.to_send = b"world".to_vec();
    first.client.close_after_send = true;
    first.server.close_after_send = true;
    first.drive();
    assert_eq!(first.client.received, b"world");
    let (_, rx) = first.client.conn.sequence_numbers().unwrap();
    assert_eq!(rx, 3, "tickets, data and close_notify read by lltls");
    assert!(!first.client.handshake.as_ref().unwrap().resumed);

    let mut second = Pair::with_record_layer(client, server, IN_PLACE);
    second.connect();
    assert!(
        second.client.handshake.as_ref().unwrap().resumed,
        "client resumed"
    );
    assert!(
        second.server.handshake.as_ref().unwrap().resumed,
        "server resumed"
    );
}

/// At a lowered key limit the in-place sender of TLS 1.3 updates its keys
/// (asking the peer to follow), and a rustls peer reads on.
#[test]
fn key_limit_updates_keys_with_a_rustls_peer() {
    let (client, server) = configs(
        Pki::Ecdsa,
        aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384,
    );
    let mut pair = Pair::with_record_layers(client, server, [IN_PLACE, RUSTLS]);
    pair.connect();
    pair.client.conn.set_key_limit(4);
    let mut rng = Rng::new(2);
    pair.client.to_send = rng.bytes(20 * 16_384);
    pair.server.to_send = rng.bytes(5 * 16_384);
    pair.client.close_after_send = true;
    pair.server.close_after_send = true;
    pair.drive();
    pair.assert_clean_exchange("key limit 4");
    let handshakes = records(&pair.client.wire)
        .iter()
        .filter(|(typ, len)| *typ == 23 && *len == 5 + 5 + 1 + 16)
        .count();
    // 20 data records and a close under keys of 3 records each, the 4th
    // being the KeyUpdate; the server's requested answers add none here.
    assert!(handshakes >= 6, "KeyUpdates sent: {handshakes}");
}

/// TLS 1.2 has no key update: at the limit the in-place sender closes with
/// close_notify and reports the keys exhausted; the peer gets everything
/// sent before it.
#[test]
fn key_limit_closes_tls12_with_a_rustls_peer() {
    let (client, server) = configs(
        Pki::Ecdsa,
        aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    );
    let mut pair = Pair::with_record_layers(client, server, [IN_PLACE, RUSTLS]);
    pair.connect();
    let (tx, _) = pair.client.conn.sequence_numbers().unwrap();
    pair.client.conn.set_key_limit(tx + 4);
    pair.client.to_send = vec![9; 10 * 16_384];
    pair.drive();
    assert!(matches!(pair.client.error, Some(Error::EncryptExhausted)));
    assert!(
        pair.server.peer_closed,
        "close_notify reached the rustls peer"
    );
    assert_eq!(pair.server.received, vec![9; 3 * 16_384]);
}

/// A rustls peer asks for a key update; the in-place side answers before its
/// next record and both go on.
#[test]
fn key_update_requested_by_rustls_is_answered() {
    let (client, server) = configs(
        Pki::Ecdsa,
        aws_lc_rs::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    );
    let mut pair = Pair::with_record_layers(client, server, [IN_PLACE, RUSTLS]);
    pair.connect();
    for _ in 0..3 {
        let s = &mut pair.server;
        assert!(s
            .conn
            .refresh_traffic_keys(&mut s.incoming, &mut s.outgoing)
            .unwrap());
        pair.drive();
        pair.client.to_send.extend_from_slice(b"answer");
        pair.server.to_send.extend_from_slice(b"question");
        pair.drive();
    }
    pair.client.close_after_send = true;
    pair.server.close_after_send = true;
    pair.drive();
    pair.assert_clean_exchange("three requested updates");
}

/// The default needs secret extraction; without it the error says so.
#[test]
fn in_place_without_secret_extraction_is_refused() {
    let mut client = client_config(Pki::Ecdsa, false);
    client.enable_secret_extraction = false;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let error = lltls::LlClientConnection::new(Arc::new(client.clone()), name.clone())
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("enable_secret_extraction"),
        "{error}"
    );
    assert!(lltls::LlClientConnection::with_record_layer(Arc::new(client), name, RUSTLS).is_ok());
}

/// The peer's chain goes out with `HandshakeComplete`; after the switch the
/// connection keeps no second copy beside rustls's own.
#[test]
fn peer_certificates_are_handed_out_once_after_the_switch() {
    let (client, server) = configs(
        Pki::Ecdsa,
        aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
    );
    let mut pair = Pair::with_record_layer(client, server, IN_PLACE);
    pair.connect();
    let reported = pair.client.handshake.as_ref().unwrap();
    assert!(reported
        .peer_certificates
        .as_ref()
        .is_some_and(|chain| !chain.is_empty()));
    let later = pair.client.conn.handshake_info();
    assert!(later.peer_certificates.is_none());
    assert_eq!(later.cipher_suite, reported.cipher_suite);
    assert_eq!(later.protocol_version, reported.protocol_version);
}

/// Sizes of the records with content type 23: application data in TLS 1.2,
/// every encrypted record in TLS 1.3.
fn app_record_sizes(wire: &[u8]) -> Vec<usize> {
    records(wire)
        .into_iter()
        .filter(|&(content_type, _)| content_type == 23)
        .map(|(_, len)| len)
        .collect()
}

#[test]
fn echo_app_data_seals_each_record_back_as_it_came() {
    for &suite in &[SUITES[0], SUITES[2], SUITES[3]] {
        let what = suite.suite().as_str().unwrap_or("?");
        let (client, server) = configs(Pki::Ecdsa, suite);
        for layer in [IN_PLACE, RUSTLS] {
            let mut pair = Pair::with_record_layer(client.clone(), server.clone(), layer);
            let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
            pair.client.to_send = data.clone();
            pair.client.close_after_send = true;
            let (mut echoed, mut fallback) = (0, 0);
            let mut key_update_sent = is_tls12(suite);
            for _ in 0..10_000 {
                let server = &mut pair.server;
                // Plaintext waiting to be encrypted goes first.
                let took = match server.sent == server.to_send.len() {
                    true => server
                        .conn
                        .echo_app_data(&mut server.incoming, &mut server.outgoing)
                        .unwrap(),
                    false => 0,
                };
                echoed += took;
                // What `echo_app_data` cannot take comes out of `process`:
                // echo it the usual way, after what went before.
                let received = server.received.len();
                let progress = pair.step() | (took > 0);
                let server = &mut pair.server;
                let new = &server.received[received..];
                fallback += new.len();
                server.to_send.extend_from_slice(new);
                // Encrypted at once, as llserver does, so the echo can go
                // on with the next records.
                while server.sent < server.to_send.len() {
                    let taken = server
                        .conn
                        .encrypt(
                            &server.to_send[server.sent..],
                            &mut server.incoming,
                            &mut server.outgoing,
                        )
                        .unwrap();
                    if taken == 0 {
                        break;
                    }
                    server.sent += taken;
                }
                server.close_after_send = server.peer_closed;
                // A KeyUpdate mid-stream: the echo stops at it and goes on.
                if !key_update_sent && pair.client.sent > data.len() / 2 {
                    let client = &mut pair.client;
                    key_update_sent = client
                        .conn
                        .refresh_traffic_keys(&mut client.incoming, &mut client.outgoing)
                        .unwrap();
                }
                if !progress {
                    break;
                }
            }
            let what = format!("{what}, {layer:?}");
            assert!(
                pair.client.error.is_none() && pair.server.error.is_none(),
                "{what}"
            );
            assert!(
                pair.client.received == data,
                "{what}: the echo differs ({}B back, {echoed}B in place, {fallback}B copied)",
                pair.client.received.len()
            );
            assert!(pair.client.closed && pair.server.closed, "{what}");
            match layer {
                // Every record but none: rustls lends no plaintext while it
                // may encrypt.
                RUSTLS => assert_eq!(echoed, 0, "{what}"),
                _ => {
                    assert!(echoed > data.len() / 2, "{what}: {echoed}B echoed in place");
                    assert_eq!(echoed + fallback, data.len(), "{what}");
                    // Record by record: the server's data records are the
                    // client's, sizes and order (the small ones, KeyUpdate,
                    // tickets and alerts, left out; a TLS 1.3 server's
                    // encrypted handshake flight comes before them).
                    let sizes = |wire: &[u8]| -> Vec<usize> {
                        app_record_sizes(wire)
                            .into_iter()
                            .filter(|&len| len > 1000)
                            .collect()
                    };
                    let (server_sizes, client_sizes) =
                        (sizes(&pair.server.wire), sizes(&pair.client.wire));
                    assert!(
                        server_sizes.ends_with(&client_sizes) && client_sizes.len() > 10,
                        "{what}: record sizes {server_sizes:?} vs {client_sizes:?}"
                    );
                }
            }
        }
    }
}

/// One scripted connection between the hostile harness's deterministic
/// peers (seeded random source and X25519, Ed25519 signatures): the same
/// seed gives the same handshake, keys and records, whatever the record
/// layers. Randomness cannot be fixed for the other tests' PKIs (aws-lc
/// draws ECDSA nonces and RSA-PSS salts itself), for X25519MLKEM768 key
/// shares, nor for stateless tickets (aws-lc-rs's ticketer draws its own
/// nonces); those compare record sizes only (above).
///
/// The script, record by record: the client seals with `encrypt`, the
/// server with `record_room`, the server echoes (`echo_app_data`), and in
/// TLS 1.3 both update their keys midway; thousands of records each way,
/// then close_notify both ways. Returns every byte each side sent.
fn scripted(
    profile: harness::hostile::Profile,
    layers: [RecordLayer; 2],
    seed: u64,
) -> (Vec<u8>, Vec<u8>) {
    use harness::hostile::{self, deterministic};
    const ROUNDS: usize = 2000;
    deterministic::reseed(seed);
    let mut pair = Pair::with_record_layers(
        Arc::new(hostile::client_config(profile)),
        Arc::new(hostile::server_config(profile)),
        layers,
    );
    pair.connect();
    let what = format!("{profile:?} {}", layer_name(layers));
    let tls13 = pair.client.handshake.as_ref().unwrap().protocol_version
        == Some(rustls::ProtocolVersion::TLSv1_3);
    let mut rng = Rng::new(seed);
    let Pair { client, server, .. } = &mut pair;
    server.use_room = true;
    for round in 0..ROUNDS {
        // Mostly short records, now and then more than a full one.
        let max = if round % 50 == 0 { 20_000 } else { 200 };
        let len = 1 + rng.below(max);
        let data = rng.bytes(len);
        client.send_now(&data);
        let got = deliver_and_read(client, server);
        assert!(got == data, "{what}: round {round}: server read");

        let len = 1 + rng.below(max);
        let data = rng.bytes(len);
        server.send_now(&data);
        let got = deliver_and_read(server, client);
        assert!(got == data, "{what}: round {round}: client read");

        let len = 1 + rng.below(max);
        let data = rng.bytes(len);
        client.send_now(&data);
        let (mut echoed, mut got) = (0, Vec::new());
        while transfer(client, server) > 0 || echoed < data.len() {
            let n = server.echo_now();
            assert!(n > 0 || !server.incoming.is_empty(), "{what}: echo stalls");
            echoed += n;
            got.extend(deliver_and_read(server, client));
        }
        assert!(got == data, "{what}: round {round}: echo");

        if tls13 && round == ROUNDS / 2 {
            for end in [0, 1] {
                let refreshed = match end {
                    0 => client
                        .conn
                        .refresh_traffic_keys(&mut client.incoming, &mut client.outgoing),
                    _ => server
                        .conn
                        .refresh_traffic_keys(&mut server.incoming, &mut server.outgoing),
                };
                assert!(refreshed.unwrap(), "{what}");
            }
        }
    }
    assert!(client
        .conn
        .queue_close_notify(&mut client.incoming, &mut client.outgoing)
        .unwrap());
    transfer(client, server);
    server.read_records();
    assert!(server.peer_closed, "{what}");
    assert!(server
        .conn
        .queue_close_notify(&mut server.incoming, &mut server.outgoing)
        .unwrap());
    transfer(server, client);
    client.read_records();
    assert!(client.closed && client.peer_closed, "{what}");
    transfer(client, server);
    server.read_records();
    assert!(server.closed, "{what}");
    if layers == [IN_PLACE; 2] {
        // Both sides really ran the in-place layer, late into its sequence.
        let (tx, rx) = client.conn.sequence_numbers().unwrap();
        // TLS 1.3 started again at 0 with the update halfway.
        let least = if tls13 { ROUNDS / 2 } else { 2 * ROUNDS };
        assert!(
            tx as usize > least && rx as usize > least,
            "{what}: {tx} {rx}"
        );
    }
    (
        std::mem::take(&mut client.wire),
        std::mem::take(&mut server.wire),
    )
}

/// Moves what `from` sent to `to` and reads it there, as many times as the
/// room in `to`'s buffer needs; returns the plaintext read.
fn deliver_and_read<A: lltls::Side, B: lltls::Side>(
    from: &mut Endpoint<A>,
    to: &mut Endpoint<B>,
) -> Vec<u8> {
    let mut read = Vec::new();
    loop {
        let moved = transfer(from, to);
        read.extend(to.read_records().concat());
        if moved == 0 {
            assert!(from.outgoing.is_empty(), "the receiver has no room");
            return read;
        }
    }
}

/// The first offset where two byte strings differ, and the record there.
fn first_difference(a: &[u8], b: &[u8]) -> Option<String> {
    let at = a.iter().zip(b).position(|(x, y)| x != y);
    let at = at.or((a.len() != b.len()).then(|| a.len().min(b.len())))?;
    let record = harness::hostile::record_spans(a)
        .iter()
        .position(|&(start, end)| (start..end).contains(&at));
    Some(format!(
        "first difference at byte {at} of {}/{} (record {record:?})",
        a.len(),
        b.len()
    ))
}

/// Whole connections, byte for byte: the in-place layer seals exactly the
/// records rustls seals (late sequence numbers, key updates, the room, the
/// echo, alerts included) and opens what either sealed.
#[test]
fn whole_connections_are_byte_identical_in_both_modes() {
    for profile in deterministic_profiles() {
        let seed = 41;
        let reference = scripted(profile, [RUSTLS, RUSTLS], seed);
        for layers in [[IN_PLACE, IN_PLACE], [IN_PLACE, RUSTLS], [RUSTLS, IN_PLACE]] {
            let what = format!("{profile:?} {}", layer_name(layers));
            let (client, server) = scripted(profile, layers, seed);
            assert_eq!(
                first_difference(&client, &reference.0),
                None,
                "{what}: client bytes"
            );
            assert_eq!(
                first_difference(&server, &reference.1),
                None,
                "{what}: server bytes"
            );
        }
    }
}

/// Both sides update their keys at the same moment, again and again, while
/// records sealed with their old keys are in flight both ways, delivered in
/// seeded random chunks: each side reads the peer's old-key records, then
/// its KeyUpdate, answers it, and every byte arrives, in either record
/// layer and across them. Between deterministic peers (see [`scripted`])
/// the bytes on the wire are the same in every combination: the in-place
/// layer answers each update where rustls does.
#[test]
fn crossing_key_updates_with_records_in_flight_both_ways() {
    let profiles = deterministic_profiles();
    for profile in profiles.into_iter().filter(|p| p.tls12 == Some(false)) {
        for seed in [1, 2, 3] {
            let reference = crossing_updates(profile, [RUSTLS, RUSTLS], seed);
            for layers in [[IN_PLACE, IN_PLACE], [IN_PLACE, RUSTLS], [RUSTLS, IN_PLACE]] {
                let what = format!("{profile:?}, {}, seed {seed}", layer_name(layers));
                let (client, server) = crossing_updates(profile, layers, seed);
                assert_eq!(
                    first_difference(&client, &reference.0),
                    None,
                    "{what}: client"
                );
                assert_eq!(
                    first_difference(&server, &reference.1),
                    None,
                    "{what}: server"
                );
            }
        }
    }
}

/// One connection of [`crossing_key_updates_with_records_in_flight_both_ways`];
/// returns what each side sent.
fn crossing_updates(
    profile: harness::hostile::Profile,
    layers: [RecordLayer; 2],
    seed: u64,
) -> (Vec<u8>, Vec<u8>) {
    use harness::hostile::{self, deterministic};
    let what = format!("{profile:?}, {}, seed {seed}", layer_name(layers));
    deterministic::reseed(seed);
    let mut pair = Pair::with_record_layers(
        Arc::new(hostile::client_config(profile)),
        Arc::new(hostile::server_config(profile)),
        layers,
    );
    pair.connect();
    pair.delivery = Delivery::Random { seed, max: 5000 };
    let mut rng = Rng::new(seed);
    let client_data = rng.bytes(300_000);
    let server_data = rng.bytes(300_000);
    let (mut crossings, mut steps) = (0, 0);
    loop {
        // Plaintext offered a little at a time, so records under every key
        // mix on the wire.
        for (data, to_send) in [
            (&client_data, &mut pair.client.to_send),
            (&server_data, &mut pair.server.to_send),
        ] {
            let next = (to_send.len() + 1 + rng.below(6000)).min(data.len());
            to_send.extend_from_slice(&data[to_send.len()..next]);
        }
        let progress = pair.step();
        steps += 1;
        if steps % 5 == 0 {
            // What arrived is read first (rustls's layer refuses to update
            // while received plaintext waits), then both update, each with
            // its old-key records still on their way and the other's
            // KeyUpdate not yet seen.
            pair.client.pump();
            pair.server.pump();
            if !pair.client.outgoing.is_empty() && !pair.server.outgoing.is_empty() {
                for refreshed in [
                    pair.client
                        .conn
                        .refresh_traffic_keys(&mut pair.client.incoming, &mut pair.client.outgoing),
                    pair.server
                        .conn
                        .refresh_traffic_keys(&mut pair.server.incoming, &mut pair.server.outgoing),
                ] {
                    assert!(refreshed.unwrap(), "{what}");
                }
                // The in-place sender starts its new keys at 0.
                for (layer, numbers) in [
                    (layers[0], pair.client.conn.sequence_numbers()),
                    (layers[1], pair.server.conn.sequence_numbers()),
                ] {
                    if layer == IN_PLACE {
                        assert_eq!(numbers.unwrap().0, 0, "{what}");
                    }
                }
                crossings += 1;
            }
        }
        let all_offered = pair.client.to_send.len() == client_data.len()
            && pair.server.to_send.len() == server_data.len();
        if all_offered && !progress {
            break;
        }
        assert!(steps < 100_000, "{what}: does not settle");
    }
    assert!(crossings >= 10, "{what}: {crossings} crossings");
    pair.client.close_after_send = true;
    pair.server.close_after_send = true;
    pair.drive();
    pair.assert_clean_exchange(&what);
    // An in-place receiver took the peer's new keys: it counts records from
    // the last update only.
    for (layer, numbers, peer_wire) in [
        (
            layers[0],
            pair.client.conn.sequence_numbers(),
            &pair.server.wire,
        ),
        (
            layers[1],
            pair.server.conn.sequence_numbers(),
            &pair.client.wire,
        ),
    ] {
        if layer == IN_PLACE {
            let (_, rx) = numbers.unwrap();
            let peer_records = records(peer_wire).len() as u64;
            assert!(rx < peer_records / 4, "{what}: {rx} of {peer_records}");
        }
    }
    (pair.client.wire, pair.server.wire)
}
