//! The record tracer on in-memory connections (`Pair`, tests/harness/pair.rs): inner
//! types of encrypted TLS 1.3 records, TLS 1.2, fragmented and one-byte
//! delivery, hostile input, and the upstream reference exchange.

mod harness;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use harness::configs::*;
use harness::data::Rng;
use harness::pair::*;
use harness::{repo, HTTP_REQUEST as REQUEST, HTTP_RESPONSE as RESPONSE};
use lltls::trace::{
    Contents, Direction, Event, Malformed, NotDecrypted, Record, Role, SequenceDiagram,
    TraceKeyLog, Tracer,
};
use rustls::{ClientConfig, ContentType, HandshakeType, KeyLog, ServerConfig};

/// One tracer and the events it returned so far.
struct Trace {
    tracer: Tracer,
    events: Vec<Event>,
}

type SharedTrace = Rc<RefCell<Trace>>;

impl Trace {
    fn drain(&mut self) {
        while let Some(event) = self.tracer.poll_event() {
            self.events.push(event);
        }
    }
}

/// A client-side and a server-side tracer, fed every delivery of `pair` and
/// polled right after it, as the binaries do after each socket call: the
/// receiving side has not processed what it was just given.
fn attach(pair: &mut Pair, client_keys: Arc<TraceKeyLog>, server_keys: Arc<TraceKeyLog>) -> Views {
    let client = Rc::new(RefCell::new(Trace {
        tracer: Tracer::with_keys(client_keys),
        events: Vec::new(),
    }));
    let server = Rc::new(RefCell::new(Trace {
        tracer: Tracer::with_keys(server_keys),
        events: Vec::new(),
    }));
    let (c, s) = (client.clone(), server.clone());
    pair.tap = Some(Box::new(move |direction, bytes| {
        for trace in [&c, &s] {
            let mut trace = trace.borrow_mut();
            trace.tracer.observe(direction, bytes);
            trace.drain();
        }
    }));
    Views { client, server }
}

struct Views {
    client: SharedTrace,
    server: SharedTrace,
}

impl Views {
    /// Finishes both tracers; returns (client view, server view) records.
    fn finish(&self) -> (Vec<Record>, Vec<Record>) {
        let records = |trace: &SharedTrace| {
            let mut trace = trace.borrow_mut();
            trace.tracer.finish();
            trace.drain();
            records_of(&trace.events)
        };
        (records(&self.client), records(&self.server))
    }

    /// Both views, asserted equal and fully decoded.
    fn records(&self) -> Vec<Record> {
        let (client, server) = self.finish();
        assert_eq!(
            lines(&client),
            lines(&server),
            "client and server tracers disagree"
        );
        for record in &client {
            assert!(
                !matches!(
                    record.contents,
                    Contents::NotDecrypted(_) | Contents::Malformed(_)
                ),
                "not decoded: {record}"
            );
        }
        client
    }
}

fn records_of(events: &[Event]) -> Vec<Record> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Record(record) => Some(record.clone()),
            _ => None,
        })
        .collect()
}

fn lines(records: &[Record]) -> Vec<String> {
    records.iter().map(ToString::to_string).collect()
}

/// Configs with a tracing key log in each.
fn traced_configs(
    mut client: ClientConfig,
    mut server: ServerConfig,
) -> (
    Arc<ClientConfig>,
    Arc<ServerConfig>,
    Arc<TraceKeyLog>,
    Arc<TraceKeyLog>,
) {
    let client_keys = TraceKeyLog::install_client(&mut client);
    let server_keys = TraceKeyLog::install_server(&mut server);
    (Arc::new(client), Arc::new(server), client_keys, server_keys)
}

/// The upstream http exchange: request queued before the handshake,
/// response then close_notify from the server (the client sends none).
fn http_exchange(pair: &mut Pair) {
    pair.client.to_send = REQUEST.to_vec();
    pair.drive();
    pair.server.to_send = RESPONSE.to_vec();
    pair.server.close_after_send = true;
    pair.drive();
    assert!(pair.client.error.is_none(), "{:?}", pair.client.error);
    assert!(pair.server.error.is_none(), "{:?}", pair.server.error);
    assert_eq!(pair.client.received, RESPONSE);
}

/// Traces the http exchange with the given configs; returns the records.
fn trace_http(client: ClientConfig, server: ServerConfig, delivery: Delivery) -> Vec<Record> {
    let (client, server, client_keys, server_keys) = traced_configs(client, server);
    let mut pair = Pair::from_arcs(client, server);
    pair.delivery = delivery;
    let views = attach(&mut pair, client_keys, server_keys);
    http_exchange(&mut pair);
    let records = views.records();
    assert_wire_matches(&records, &pair);
    records
}

/// The tracer saw exactly the records on the wire, with their sizes.
fn assert_wire_matches(traced: &[Record], pair: &Pair) {
    for (direction, wire) in [
        (Direction::ClientToServer, &pair.client.wire),
        (Direction::ServerToClient, &pair.server.wire),
    ] {
        let traced: Vec<(u8, usize)> = traced
            .iter()
            .filter(|r| r.direction == direction)
            .map(|r| (u8::from(r.content_type), r.size))
            .collect();
        assert_eq!(traced, records(wire), "{direction} records differ");
    }
}

/// Handshake message types of the records going `direction`, one list per
/// record.
fn types(records: &[Record], direction: Direction) -> Vec<Vec<HandshakeType>> {
    records
        .iter()
        .filter(|r| r.direction == direction && r.inner_type() == ContentType::Handshake)
        .map(Record::handshake_types)
        .collect()
}

use HandshakeType as Hs;

#[test]
fn reference_exchange_matches_the_upstream_decoded_records() {
    // tests/data/reference/tls13-rsa-http/decoded-1.tsv: the upstream pair's
    // records, decrypted with its key log.
    let expected: Vec<String> =
        std::fs::read_to_string(repo("tests/data/reference/tls13-rsa-http/decoded-1.tsv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|line| line.split('\t').skip(1).collect::<Vec<_>>().join("\t"))
            .collect();
    let (client, server) = reference_configs();
    let traced = trace_http(client, server, Delivery::All);
    let rows: Vec<String> = traced.iter().map(decoded_row).collect();
    assert_eq!(rows, expected, "tracer differs from decoded-1.tsv");
    assert_eq!(
        traced[3].to_string(),
        "S>C  ApplicationData  2014B  [enc] EncryptedExtensions,Certificate,CertificateVerify,Finished"
    );
    assert_eq!(traced[0].to_string(), "C>S  Handshake  1460B  ClientHello");
}

/// The configs of the upstream recording: default options, the reference
/// RSA PKI.
fn reference_configs() -> (ClientConfig, ServerConfig) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(load_certs("tests/data/reference/pki/rsa-ca.pem"));
    let mut client = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            load_certs("tests/data/reference/pki/rsa-server-fullchain.pem"),
            load_key("tests/data/reference/pki/rsa-server.key"),
        )
        .unwrap();
    client.enable_secret_extraction = true;
    server.enable_secret_extraction = true;
    (client, server)
}

/// A record as a decoded-1.tsv row (without its sequence number).
fn decoded_row(record: &Record) -> String {
    let (inner, details) = match &record.contents {
        Contents::Handshake(parts) if !record.encrypted => (
            "plaintext".to_owned(),
            parts
                .iter()
                .map(|p| format!("{:?}", p.typ))
                .collect::<Vec<_>>()
                .join("+"),
        ),
        Contents::Handshake(parts) => (
            "Handshake".to_owned(),
            parts
                .iter()
                .map(|p| format!("{:?}", p.typ))
                .collect::<Vec<_>>()
                .join("+"),
        ),
        Contents::ChangeCipherSpec => ("ccs".to_owned(), String::new()),
        Contents::ApplicationData { len } => {
            ("ApplicationData".to_owned(), format!("appdata {len}B"))
        }
        Contents::Alert { level, description } => (
            "Alert".to_owned(),
            format!(
                "alert({},{})",
                if level.to_string() == "warning" { 1 } else { 2 },
                lltls_alert_name(*description)
            ),
        ),
        other => panic!("unexpected contents {other:?}"),
    };
    format!(
        "{}\t{:?}\t{}\t{inner}\t{details}",
        record.direction, record.content_type, record.size
    )
}

fn lltls_alert_name(description: rustls::AlertDescription) -> String {
    // "Alert warning close_notify" -> "close_notify"
    let contents = Contents::Alert {
        level: lltls::trace::AlertLevel::Warning,
        description,
    }
    .to_string();
    contents.rsplit(' ').next().unwrap().to_owned()
}

#[test]
fn tls13_inner_types_without_client_auth() {
    let traced = trace_http(
        client_config(Pki::Ecdsa, false),
        server_config(Pki::Ecdsa, false),
        Delivery::All,
    );
    assert_eq!(
        types(&traced, Direction::ClientToServer),
        [vec![Hs::ClientHello], vec![Hs::Finished]]
    );
    assert_eq!(
        types(&traced, Direction::ServerToClient),
        [
            vec![Hs::ServerHello],
            vec![
                Hs::EncryptedExtensions,
                Hs::Certificate,
                Hs::CertificateVerify,
                Hs::Finished
            ],
            vec![Hs::NewSessionTicket, Hs::NewSessionTicket],
        ]
    );
    let data: Vec<String> = traced
        .iter()
        .filter(|r| matches!(r.contents, Contents::ApplicationData { .. }))
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        data,
        [
            "C>S  ApplicationData  103B  [enc] ApplicationData 81B",
            "S>C  ApplicationData  95B  [enc] ApplicationData 73B",
        ]
    );
    assert_eq!(
        traced.last().unwrap().to_string(),
        "S>C  ApplicationData  24B  [enc] Alert warning close_notify"
    );
}

#[test]
fn tls13_inner_types_with_client_auth() {
    let traced = trace_http(
        client_config_with_auth(Pki::Ecdsa, false),
        server_config_requiring_auth(Pki::Ecdsa, false),
        Delivery::All,
    );
    assert_eq!(
        types(&traced, Direction::ClientToServer),
        [
            vec![Hs::ClientHello],
            vec![Hs::Certificate, Hs::CertificateVerify, Hs::Finished]
        ]
    );
    assert_eq!(
        types(&traced, Direction::ServerToClient)[1],
        [
            Hs::EncryptedExtensions,
            Hs::CertificateRequest,
            Hs::Certificate,
            Hs::CertificateVerify,
            Hs::Finished
        ]
    );
}

#[test]
fn hello_retry_request_when_the_client_guessed_the_wrong_group() {
    // The client offers X25519 and secp256r1 but sends a share for X25519
    // only; the server accepts only secp256r1 and asks again.
    let mut client_provider = rustls::crypto::aws_lc_rs::default_provider();
    client_provider.kx_groups = vec![
        rustls::crypto::aws_lc_rs::kx_group::X25519,
        rustls::crypto::aws_lc_rs::kx_group::SECP256R1,
    ];
    let mut server_provider = rustls::crypto::aws_lc_rs::default_provider();
    server_provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::SECP256R1];
    let mut client = ClientConfig::builder_with_provider(Arc::new(client_provider))
        .with_protocol_versions(versions(false))
        .unwrap()
        .with_root_certificates(roots(Pki::Ecdsa))
        .with_no_client_auth();
    let mut server = ServerConfig::builder_with_provider(Arc::new(server_provider))
        .with_protocol_versions(versions(false))
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            load_certs("certs/fullchain.pem"),
            load_key("certs/server.key"),
        )
        .unwrap();
    client.enable_secret_extraction = true;
    server.enable_secret_extraction = true;
    let traced = trace_http(client, server, Delivery::All);
    let summary: Vec<String> = traced.iter().take(6).map(summary).collect();
    assert_eq!(
        summary,
        [
            "C>S ClientHello",
            "S>C HelloRetryRequest",
            "S>C ChangeCipherSpec",
            "C>S ChangeCipherSpec",
            "C>S ClientHello",
            "S>C ServerHello",
        ]
    );
    assert_eq!(
        types(&traced, Direction::ServerToClient)[2],
        [
            Hs::EncryptedExtensions,
            Hs::Certificate,
            Hs::CertificateVerify,
            Hs::Finished
        ]
    );
}

/// "DIR Contents" without sizes (they vary with ECDSA signatures).
fn summary(record: &Record) -> String {
    format!("{} {}", record.direction, record.contents)
}

#[test]
fn resumption_shows_no_certificate() {
    let (client, server, client_keys, server_keys) = traced_configs(
        client_config(Pki::Ecdsa, false),
        server_config(Pki::Ecdsa, false),
    );
    let mut first = Pair::from_arcs(client.clone(), server.clone());
    let first_views = attach(&mut first, client_keys.clone(), server_keys.clone());
    http_exchange(&mut first);
    first_views.records();
    drop(first_views);
    drop(first);

    let mut second = Pair::from_arcs(client, server);
    let views = attach(&mut second, client_keys.clone(), server_keys.clone());
    http_exchange(&mut second);
    assert!(second.client.handshake.as_ref().unwrap().resumed);
    let traced = views.records();
    assert_eq!(
        types(&traced, Direction::ServerToClient)[1],
        [Hs::EncryptedExtensions, Hs::Finished]
    );
    assert_wire_matches(&traced, &second);
    // Each tracer forgets its connection's secrets when dropped.
    drop(views);
    drop(second);
    assert_eq!(client_keys.connections(), 0);
    assert_eq!(server_keys.connections(), 0);
}

#[test]
fn early_data_is_decrypted_with_the_early_secret() {
    let mut client = client_config(Pki::Ecdsa, false);
    client.enable_early_data = true;
    let mut server = server_config(Pki::Ecdsa, false);
    server.max_early_data_size = 1024;
    let (client, server, client_keys, server_keys) = traced_configs(client, server);
    let mut first = Pair::from_arcs(client.clone(), server.clone());
    http_exchange(&mut first);

    let mut second = Pair::from_arcs(client, server);
    let views = attach(&mut second, client_keys, server_keys);
    let taken = second
        .client
        .conn
        .encrypt_early_data(
            REQUEST,
            &mut second.client.incoming,
            &mut second.client.outgoing,
        )
        .unwrap();
    assert_eq!(taken, REQUEST.len());
    second.server.to_send = RESPONSE.to_vec();
    second.server.close_after_send = true;
    second.drive();
    assert_eq!(second.server.early_received, REQUEST);
    let traced = views.records();
    let client_side: Vec<String> = traced
        .iter()
        .filter(|r| r.direction == Direction::ClientToServer)
        .map(summary)
        .collect();
    assert_eq!(
        client_side,
        [
            "C>S ClientHello",
            // rustls sends its middlebox-compatibility CCS before 0-RTT data.
            "C>S ChangeCipherSpec",
            "C>S ApplicationData 81B", // 0-RTT, under the early secret
            "C>S EndOfEarlyData",
            "C>S Finished",
        ]
    );
}

#[test]
fn key_update_is_followed() {
    let (client, server, client_keys, server_keys) = traced_configs(
        client_config(Pki::Ecdsa, false),
        server_config(Pki::Ecdsa, false),
    );
    let mut pair = Pair::from_arcs(client, server);
    let views = attach(&mut pair, client_keys, server_keys);
    pair.connect();
    pair.client.to_send = b"before".to_vec();
    pair.drive();
    assert!(pair
        .client
        .conn
        .refresh_traffic_keys(&mut pair.client.incoming, &mut pair.client.outgoing)
        .unwrap());
    pair.client.to_send.extend_from_slice(b"after the update");
    pair.server.to_send = b"answer under new keys".to_vec();
    pair.drive();
    // Twice, to see the tracer chain updates.
    assert!(pair
        .client
        .conn
        .refresh_traffic_keys(&mut pair.client.incoming, &mut pair.client.outgoing)
        .unwrap());
    pair.client.to_send.extend_from_slice(b"after the second");
    pair.client.close_after_send = true;
    pair.server.close_after_send = true;
    pair.drive();
    let traced = views.records();
    let tail: Vec<String> = traced.iter().skip(6).map(summary).collect();
    assert_eq!(
        tail,
        [
            "S>C NewSessionTicket,NewSessionTicket",
            "C>S ApplicationData 6B",
            "C>S KeyUpdate",
            "C>S ApplicationData 16B",
            // The server had encrypted its answer before it read the
            // client's KeyUpdate; its own KeyUpdate (the answer to
            // update_requested) follows, and switches keys after it.
            "S>C ApplicationData 21B",
            "C>S KeyUpdate",
            "C>S ApplicationData 16B",
            "C>S Alert warning close_notify",
            "S>C KeyUpdate",
            "S>C Alert warning close_notify",
        ]
    );
}

#[test]
fn tls12_shows_outer_types() {
    let traced = trace_http(
        client_config(Pki::Rsa, true),
        server_config(Pki::Rsa, true),
        Delivery::All,
    );
    let lines: Vec<String> = traced.iter().map(summary).collect();
    assert_eq!(
        lines,
        [
            "C>S ClientHello",
            "S>C ServerHello,Certificate,ServerKeyExchange,ServerHelloDone",
            "C>S ClientKeyExchange",
            "C>S ChangeCipherSpec",
            "C>S Finished",
            // No ticket: the default TLS 1.2 server resumes by session id.
            "S>C ChangeCipherSpec",
            "S>C Finished",
            // No false start: the request waits for the server's Finished.
            "C>S ApplicationData 81B",
            "S>C ApplicationData 73B",
            "S>C Alert",
        ]
    );
    assert!(traced[4].encrypted && traced[4].to_string().ends_with("[enc] Finished"));
}

/// The handshake messages of one direction in order, reassembled from the
/// pieces the records carry; asserts the pieces are contiguous.
fn messages(records: &[Record], direction: Direction) -> Vec<(HandshakeType, usize)> {
    let mut out = Vec::new();
    let mut next_offset = 0;
    for record in records.iter().filter(|r| r.direction == direction) {
        let Contents::Handshake(parts) = &record.contents else {
            continue;
        };
        for part in parts {
            assert_eq!(part.offset, next_offset, "gap in {part:?} ({record})");
            next_offset = part.offset + part.len;
            if part.total == Some(next_offset) {
                out.push((part.typ, next_offset));
                next_offset = 0;
            }
        }
    }
    out
}

#[test]
fn fragmented_records_are_reassembled() {
    let plain = trace_http(
        client_config(Pki::Rsa, false),
        server_config(Pki::Rsa, false),
        Delivery::All,
    );
    let mut client = client_config(Pki::Rsa, false);
    client.max_fragment_size = Some(512);
    let mut server = server_config(Pki::Rsa, false);
    server.max_fragment_size = Some(512);
    let fragmented = trace_http(client, server, Delivery::All);
    assert!(fragmented.len() > plain.len() + 5, "expected many records");
    assert!(fragmented.iter().all(|r| r.size <= 512 + 5 + 17));
    // Some record carries a piece of a message whose header starts in the
    // previous record, and some carries the end of one and the start of
    // the next.
    assert!(fragmented.iter().any(|r| matches!(&r.contents,
        Contents::Handshake(parts) if parts.iter().any(|p| !p.is_whole()))));
    assert!(fragmented.iter().any(|r| matches!(&r.contents,
        Contents::Handshake(parts) if parts.len() > 1 && !parts[0].is_whole())));
    for direction in [Direction::ClientToServer, Direction::ServerToClient] {
        let mut expected = messages(&plain, direction);
        let mut got = messages(&fragmented, direction);
        // The ClientHello is the same length whatever its fragment size;
        // ECDSA is not used, so every message's size matches.
        expected.sort_unstable_by_key(|m| u8::from(m.0));
        got.sort_unstable_by_key(|m| u8::from(m.0));
        assert_eq!(got, expected, "{direction}");
    }
    let data: Vec<&Record> = fragmented
        .iter()
        .filter(|r| matches!(r.contents, Contents::ApplicationData { .. }))
        .collect();
    let total: usize = data
        .iter()
        .map(|r| match r.contents {
            Contents::ApplicationData { len } => len,
            _ => 0,
        })
        .sum();
    assert_eq!(total, REQUEST.len() + RESPONSE.len());
}

#[test]
fn one_byte_delivery_gives_the_same_records() {
    let whole = trace_http(
        client_config(Pki::Rsa, false),
        server_config(Pki::Rsa, false),
        Delivery::All,
    );
    let bytewise = trace_http(
        client_config(Pki::Rsa, false),
        server_config(Pki::Rsa, false),
        Delivery::Chunks(1),
    );
    for direction in [Direction::ClientToServer, Direction::ServerToClient] {
        let pick = |records: &[Record]| -> Vec<String> {
            records
                .iter()
                .filter(|r| r.direction == direction)
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(pick(&bytewise), pick(&whole), "{direction}");
    }
}

#[test]
fn io_events_report_each_delivery() {
    let (client, server, client_keys, server_keys) = traced_configs(
        client_config(Pki::Rsa, false),
        server_config(Pki::Rsa, false),
    );
    let mut pair = Pair::from_arcs(client, server);
    pair.delivery = Delivery::Chunks(1000);
    let views = attach(&mut pair, client_keys, server_keys);
    http_exchange(&mut pair);
    views.finish();
    let events = views.client.borrow().events.clone();
    let io: usize = events
        .iter()
        .map(|e| match e {
            Event::Io { len, .. } => *len,
            _ => 0,
        })
        .sum();
    assert_eq!(io, pair.client.wire.len() + pair.server.wire.len());
    assert!(events
        .iter()
        .all(|e| !matches!(e, Event::Io { len, .. } if *len > 1000)));
}

#[test]
fn without_keys_encrypted_records_are_reported_as_such() {
    let (client, server) = reference_configs();
    let mut pair = Pair::new(client, server);
    let tracer = Rc::new(RefCell::new(Tracer::new()));
    let t = tracer.clone();
    pair.tap = Some(Box::new(move |direction, bytes| {
        t.borrow_mut().observe(direction, bytes)
    }));
    http_exchange(&mut pair);
    let mut tracer = tracer.borrow_mut();
    let mut records = Vec::new();
    while let Some(record) = tracer.poll_record() {
        records.push(record);
    }
    assert_eq!(records.len(), 10, "the reference exchange has 10 records");
    assert_eq!(
        records[3].to_string(),
        "S>C  ApplicationData  2014B  [enc] ? (no keys)"
    );
    assert_eq!(records[0].handshake_types(), [Hs::ClientHello]);
}

#[test]
fn tampered_record_is_reported_not_decrypted() {
    let (client, server, client_keys, _) = traced_configs(
        client_config(Pki::Rsa, false),
        server_config(Pki::Rsa, false),
    );
    let mut pair = Pair::from_arcs(client, server);
    let mut tracer = Tracer::with_keys(client_keys);
    pair.connect();
    tracer.observe(Direction::ClientToServer, &pair.client.wire);
    let mut server_wire = pair.server.wire.clone();
    // Flip a bit in the last byte of the encrypted flight (record 3).
    let flight_end = records(&server_wire)[..3]
        .iter()
        .map(|r| r.1)
        .sum::<usize>();
    server_wire[flight_end - 1] ^= 1;
    tracer.observe(Direction::ServerToClient, &server_wire);
    tracer.finish();
    let mut out = Vec::new();
    while let Some(record) = tracer.poll_record() {
        if record.direction == Direction::ServerToClient {
            out.push(record);
        }
    }
    assert_eq!(out[1].contents, Contents::ChangeCipherSpec);
    assert_eq!(
        out[2].contents,
        Contents::NotDecrypted(NotDecrypted::Failed)
    );
    // The next record (tickets) still decrypts: sequence numbers go on.
    assert_eq!(
        out[3].handshake_types(),
        [Hs::NewSessionTicket, Hs::NewSessionTicket]
    );
}

#[test]
fn garbage_never_panics_and_is_reported() {
    let mut rng = Rng::new(99);
    for round in 0..300 {
        let mut tracer = Tracer::with_keys(Arc::new(TraceKeyLog::new(Arc::new(
            rustls::KeyLogFile::new(),
        ))));
        let len = rng.below(3000);
        let mut bytes = rng.bytes(len);
        if round % 3 == 0 && bytes.len() > 5 {
            // Plausible headers with garbage inside.
            bytes[0] = 20 + (rng.below(5) as u8);
            bytes[1] = 3;
            bytes[2] = 3;
        }
        let direction = if round % 2 == 0 {
            Direction::ClientToServer
        } else {
            Direction::ServerToClient
        };
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len().min(700));
            tracer.observe(direction, &rest[..n]);
            rest = &rest[n..];
            while tracer.poll_event().is_some() {}
        }
        tracer.finish();
        while tracer.poll_event().is_some() {}
        assert_eq!(tracer.pending(), 0);
    }
}

#[test]
fn malformed_input_yields_one_entry_then_stops() {
    let mut tracer = Tracer::new();
    tracer.observe(Direction::ClientToServer, b"GET / HTTP/1.1\r\n\r\n");
    tracer.observe(Direction::ClientToServer, &[0u8; 100_000]);
    // A header announcing 65535 bytes.
    tracer.observe(Direction::ServerToClient, &[23, 3, 3, 0xff, 0xff, 1, 2, 3]);
    tracer.finish();
    let mut records = Vec::new();
    while let Some(record) = tracer.poll_record() {
        records.push(record);
    }
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        records[0].contents,
        Contents::Malformed(Malformed::UnknownContentType(b'G'))
    );
    assert_eq!(
        records[1].contents,
        Contents::Malformed(Malformed::Oversized(0xffff))
    );
    assert_eq!(
        records[1].to_string(),
        "S>C  ApplicationData  8B  malformed: record too large (65535B payload)"
    );

    let mut tracer = Tracer::new();
    tracer.observe(Direction::ServerToClient, &[22, 3, 3, 0, 10, 2, 0]);
    tracer.finish();
    let record = tracer.poll_record().unwrap();
    assert_eq!(
        record.contents,
        Contents::Malformed(Malformed::Truncated { expected: Some(15) })
    );
    assert_eq!(record.size, 7);
}

#[test]
fn keys_that_never_come_do_not_hold_the_trace_for_ever() {
    // A key log that never sees this connection: the tracer waits, but only
    // up to its bound, then reports the records it could not decrypt.
    let keys = Arc::new(TraceKeyLog::new(Arc::new(rustls::KeyLogFile::new())));
    let mut pair = Pair::new(
        client_config(Pki::Rsa, false),
        server_config(Pki::Rsa, false),
    );
    pair.client.to_send = vec![7; 600 * 1024];
    pair.client.close_after_send = true;
    pair.drive();
    let mut tracer = Tracer::with_keys(keys);
    tracer.observe(Direction::ClientToServer, &pair.client.wire);
    let mut out = 0;
    while tracer.poll_record().is_some() {
        out += 1;
    }
    assert!(out > 1, "the bound releases records before finish");
    assert!(tracer.pending() < 300);
}

#[derive(Debug, Default)]
struct Collect(Mutex<Vec<String>>);

impl KeyLog for Collect {
    fn log(&self, label: &str, _: &[u8], _: &[u8]) {
        self.0.lock().unwrap().push(label.to_owned());
    }
}

#[test]
fn key_log_forwards_to_the_inner_log() {
    let inner = Arc::new(Collect::default());
    let mut client = client_config(Pki::Rsa, false);
    client.key_log = inner.clone();
    let keys = TraceKeyLog::install_client(&mut client);
    let mut pair = Pair::new(client, server_config(Pki::Rsa, false));
    pair.connect();
    let labels = inner.0.lock().unwrap().clone();
    for label in [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    ] {
        assert!(labels.iter().any(|l| l == label), "{label} not forwarded");
    }
    assert_eq!(keys.connections(), 1);
}

#[test]
fn sequence_diagram_of_the_reference_exchange() {
    let (client, server) = reference_configs();
    let (client, server, client_keys, server_keys) = traced_configs(client, server);
    let mut pair = Pair::from_arcs(client, server);
    let views = attach(&mut pair, client_keys, server_keys);
    http_exchange(&mut pair);
    views.finish();
    let mut diagram = SequenceDiagram::new(Role::Client);
    for event in &views.client.borrow().events {
        diagram.push(event);
    }
    let text = diagram.render();
    assert!(text.starts_with("sequenceDiagram\n"), "{text}");
    for participant in [
        "HTTPClient",
        "ClientConnection",
        "ClientBuffers",
        "ServerBuffers",
        "ServerConnection",
        "HTTPServer",
    ] {
        assert!(text.contains(&format!("  participant {participant}\n")));
    }
    for line in [
        "  ClientConnection ->> ClientBuffers: HS::ClientHello (1460B)\n  ClientBuffers ->> ServerBuffers: socket write (1460B)\n",
        "  ServerConnection ->> ServerBuffers: [enc] HS::EncryptedExtensions, HS::Certificate, HS::CertificateVerify, HS::Finished (2014B)\n  ServerBuffers ->> ClientBuffers: socket read (3235B)\n",
        "  HTTPClient ->> ClientConnection: ApplicationData (81B)\n  ClientConnection ->> ClientBuffers: [enc] ApplicationData (103B)\n  ClientBuffers ->> ServerBuffers: socket write (183B)\n  ServerConnection ->> HTTPServer: ApplicationData (81B)\n",
        // The pair delivers the tickets before the response is written.
        "  ServerConnection ->> ServerBuffers: [enc] Alert close_notify (24B)\n  ServerBuffers ->> ClientBuffers: socket read (184B)\n  ServerBuffers ->> ClientBuffers: socket read (119B)\n  ClientConnection ->> HTTPClient: ApplicationData (73B)\n",
    ] {
        assert!(text.contains(line), "missing\n{line}in\n{text}");
    }
    // One arrow per record (10), one per delivery (5), two per plaintext.
    assert_eq!(text.matches("B)\n").count(), 10 + 5 + 2 * 2);
}

#[test]
fn mutated_recordings_never_panic_the_tracer() {
    // A real exchange, with its secrets, mutated byte by byte: every path of
    // the decoder (framing, hello parsing, decryption, inner types) sees
    // garbage.
    let secrets = Arc::new(Secrets::default());
    let mut client = client_config(Pki::Rsa, false);
    client.key_log = secrets.clone();
    let mut pair = Pair::new(client, server_config(Pki::Rsa, false));
    http_exchange(&mut pair);
    let (c2s, s2c) = (pair.client.wire.clone(), pair.server.wire.clone());
    let mut rng = Rng::new(4242);
    let mut decrypted = 0;
    for _ in 0..400 {
        // A tracer forgets its connection's secrets when dropped: give each
        // its own copy.
        let keys = Arc::new(TraceKeyLog::new(Arc::new(rustls::KeyLogFile::new())));
        for (label, random, secret) in secrets.0.lock().unwrap().iter() {
            keys.log(label, random, secret);
        }
        let mut tracer = Tracer::with_keys(keys);
        let (mut c2s, mut s2c) = (c2s.clone(), s2c.clone());
        for wire in [&mut c2s, &mut s2c] {
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(wire.len());
                wire[at] = rng.next_u64() as u8;
            }
        }
        tracer.observe(Direction::ClientToServer, &c2s);
        tracer.observe(Direction::ServerToClient, &s2c);
        tracer.finish();
        let mut size = 0;
        while let Some(event) = tracer.poll_event() {
            if let Event::Record(record) = event {
                size += record.size;
                if record.encrypted && matches!(record.contents, Contents::ApplicationData { .. }) {
                    decrypted += 1;
                }
            }
        }
        assert!(size <= c2s.len() + s2c.len());
        assert_eq!(tracer.pending(), 0);
    }
    assert!(
        decrypted > 100,
        "the mutations must leave records to decrypt"
    );
}

/// (label, client random, secret)
type Logged = (String, Vec<u8>, Vec<u8>);

/// Every secret logged, whole.
#[derive(Debug, Default)]
struct Secrets(Mutex<Vec<Logged>>);

impl KeyLog for Secrets {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .push((label.to_owned(), client_random.to_vec(), secret.to_vec()));
    }
}
