//! The caller-managed API changes who owns the buffers, not the protocol:
//! for the same configuration and input, lltls puts the same records on the
//! wire as rustls's buffered `ClientConnection` / `ServerConnection`, with
//! either record layer after the handshake.

mod harness;

use std::io::{Read, Write};
use std::sync::Arc;

use harness::configs::*;
use harness::pair::*;
use harness::{repo, HTTP_REQUEST as REQUEST, HTTP_RESPONSE as RESPONSE};
use lltls::RecordLayer;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, Connection, ServerConnection};

struct Wire {
    client_to_server: Vec<u8>,
    server_to_client: Vec<u8>,
    client_received: Vec<u8>,
    server_received: Vec<u8>,
}

/// Moves everything pending from `from` to `to`; returns the bytes moved.
fn transfer(from: &mut Connection, to: &mut Connection, log: &mut Vec<u8>) -> usize {
    let mut bytes = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut bytes).unwrap();
    }
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest).unwrap();
        to.process_new_packets().unwrap();
    }
    log.extend_from_slice(&bytes);
    bytes.len()
}

fn settle(client: &mut Connection, server: &mut Connection, wire: &mut Wire) {
    for _ in 0..100 {
        let moved = transfer(client, server, &mut wire.client_to_server)
            + transfer(server, client, &mut wire.server_to_client);
        if moved == 0 {
            return;
        }
    }
    panic!("buffered pair did not settle");
}

fn drain(conn: &mut Connection, into: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    loop {
        match conn.reader().read(&mut buf) {
            Ok(0) => return,
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) => panic!("{e}"),
        }
    }
}

/// The http exchange of the upstream programs, with rustls's buffered API:
/// request queued before the handshake, response after it arrives, then
/// close_notify from both sides.
fn buffered(client_config: rustls::ClientConfig, server_config: rustls::ServerConfig) -> Wire {
    let name = ServerName::try_from("localhost").unwrap();
    let mut client: Connection = ClientConnection::new(Arc::new(client_config), name)
        .unwrap()
        .into();
    let mut server: Connection = ServerConnection::new(Arc::new(server_config))
        .unwrap()
        .into();
    let mut wire = Wire {
        client_to_server: Vec::new(),
        server_to_client: Vec::new(),
        client_received: Vec::new(),
        server_received: Vec::new(),
    };
    client.writer().write_all(REQUEST).unwrap();
    settle(&mut client, &mut server, &mut wire);
    drain(&mut server, &mut wire.server_received);
    server.writer().write_all(RESPONSE).unwrap();
    server.send_close_notify();
    settle(&mut client, &mut server, &mut wire);
    drain(&mut client, &mut wire.client_received);
    client.send_close_notify();
    settle(&mut client, &mut server, &mut wire);
    wire
}

/// The same exchange through lltls, with each record layer. Each run gets
/// fresh configs from `configs`: a shared one would resume the session of
/// the run before.
fn caller_managed(
    configs: impl Fn() -> (rustls::ClientConfig, rustls::ServerConfig),
) -> [(RecordLayer, Wire); 2] {
    [RecordLayer::InPlace, RecordLayer::Rustls].map(|layer| {
        let (client_config, server_config) = configs();
        (
            layer,
            caller_managed_with(client_config, server_config, layer),
        )
    })
}

fn caller_managed_with(
    client_config: rustls::ClientConfig,
    server_config: rustls::ServerConfig,
    layer: RecordLayer,
) -> Wire {
    let mut pair = Pair::with_record_layer(Arc::new(client_config), Arc::new(server_config), layer);
    pair.client.to_send = REQUEST.to_vec();
    pair.drive();
    pair.server.to_send = RESPONSE.to_vec();
    pair.server.close_after_send = true;
    pair.drive();
    pair.client.close_after_send = true;
    pair.drive();
    assert!(pair.client.error.is_none() && pair.server.error.is_none());
    Wire {
        client_to_server: pair.client.wire,
        server_to_client: pair.server.wire,
        client_received: pair.client.received,
        server_received: pair.server.received,
    }
}

fn assert_same_records(ours: &[(RecordLayer, Wire); 2], theirs: &Wire, what: &str) {
    for (layer, ours) in ours {
        assert_same_records_as(ours, theirs, &format!("{what}, {layer:?}"));
    }
}

fn assert_same_records_as(ours: &Wire, theirs: &Wire, what: &str) {
    assert_eq!(ours.server_received, REQUEST, "{what}: request");
    assert_eq!(ours.client_received, RESPONSE, "{what}: response");
    assert_eq!(
        theirs.client_received, RESPONSE,
        "{what}: buffered response"
    );
    assert_eq!(
        records(&ours.client_to_server),
        records(&theirs.client_to_server),
        "{what}: client records differ (lltls left, buffered right)"
    );
    assert_eq!(
        records(&ours.server_to_client),
        records(&theirs.server_to_client),
        "{what}: server records differ (lltls left, buffered right)"
    );
}

#[test]
fn same_records_as_buffered_api_tls13() {
    let ours = caller_managed(|| {
        (
            client_config(Pki::Rsa, false),
            server_config(Pki::Rsa, false),
        )
    });
    let theirs = buffered(
        client_config(Pki::Rsa, false),
        server_config(Pki::Rsa, false),
    );
    assert_same_records(&ours, &theirs, "TLS 1.3");
    // The reference exchange: ServerHello, CCS, one encrypted flight, then
    // tickets, response and close_notify.
    let server_types: Vec<u8> = records(&ours[0].1.server_to_client)
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(server_types, [22, 20, 23, 23, 23, 23]);
}

#[test]
fn same_records_as_buffered_api_tls12() {
    let ours = caller_managed(|| (client_config(Pki::Rsa, true), server_config(Pki::Rsa, true)));
    let theirs = buffered(client_config(Pki::Rsa, true), server_config(Pki::Rsa, true));
    assert_same_records(&ours, &theirs, "TLS 1.2");
}

#[test]
fn same_records_as_buffered_api_with_client_auth() {
    for tls12 in [false, true] {
        let ours = caller_managed(|| {
            (
                client_config_with_auth(Pki::Rsa, tls12),
                server_config_requiring_auth(Pki::Rsa, tls12),
            )
        });
        let theirs = buffered(
            client_config_with_auth(Pki::Rsa, tls12),
            server_config_requiring_auth(Pki::Rsa, tls12),
        );
        assert_same_records(
            &ours,
            &theirs,
            if tls12 {
                "TLS 1.2 auth"
            } else {
                "TLS 1.3 auth"
            },
        );
    }
}

#[test]
fn same_records_as_buffered_api_with_small_fragments() {
    let configs = || {
        let mut client = client_config(Pki::Rsa, false);
        client.max_fragment_size = Some(512);
        let mut server = server_config(Pki::Rsa, false);
        server.max_fragment_size = Some(512);
        (client, server)
    };
    let ours = caller_managed(configs);
    let (client, server) = configs();
    let theirs = buffered(client, server);
    assert_same_records(&ours, &theirs, "max_fragment_size 512");
    for (_, ours) in &ours {
        assert!(records(&ours.server_to_client)
            .iter()
            .all(|r| r.1 <= 512 + 5 + 17));
    }
}

/// The upstream pair's recorded exchange (tests/data/reference/tls13-rsa-http/
/// records-1.tsv): with the same certificates and default options, lltls
/// produces the same records with the same sizes.
#[test]
fn same_records_as_the_upstream_recording() {
    let recorded =
        std::fs::read_to_string(repo("tests/data/reference/tls13-rsa-http/records-1.tsv")).unwrap();
    let mut expected_c2s = Vec::new();
    let mut expected_s2c = Vec::new();
    for line in recorded.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let record = (
            fields[3].parse::<u8>().unwrap(),
            fields[6].parse::<usize>().unwrap(),
        );
        match fields[2] {
            "C>S" => expected_c2s.push(record),
            "S>C" => expected_s2c.push(record),
            other => panic!("bad direction {other}"),
        }
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(load_certs("tests/data/reference/pki/rsa-ca.pem"));
    let mut client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut server = rustls::ServerConfig::builder_with_provider(provider())
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
    let mut pair = Pair::new(client, server);
    pair.client.to_send = REQUEST.to_vec();
    pair.drive();
    pair.server.to_send = RESPONSE.to_vec();
    pair.server.close_after_send = true;
    pair.drive();
    assert_eq!(
        records(&pair.client.wire),
        expected_c2s,
        "client records differ from upstream"
    );
    assert_eq!(
        records(&pair.server.wire),
        expected_s2c,
        "server records differ from upstream"
    );
}
