//! `llclient` and `llserver` as real processes on loopback.
//!
//! Servers start with `--port 0` and the tests read the port from their
//! `listening on` line; every wait is bounded; children die with their
//! guards. What happens on the wire is observed through a recording relay
//! (`harness::net::Relay`) rather than through log text.

mod harness;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use harness::data::{random_bytes, sha256};
use harness::logs::*;
use harness::net::*;
use harness::process::*;
use harness::{repo, scratch, HTTP_RESPONSE, TIMEOUT};
use rustls::crypto::aws_lc_rs::{ALL_CIPHER_SUITES, ALL_KX_GROUPS};

fn certs() -> String {
    repo("certs")
}

fn rsa_certs() -> String {
    repo("certs/rsa")
}

fn ca() -> String {
    repo("certs/ca.pem")
}

fn http_client(port: u16, extra: &[&str]) -> Finished {
    let ca = ca();
    let mut args = vec!["--http", "--cafile", ca.as_str()];
    args.extend_from_slice(extra);
    args.push("localhost");
    llclient(port, &args, Input::Null)
}

fn sizes(records: &[Record], dir: Dir, content_type: u8) -> Vec<usize> {
    records
        .iter()
        .filter(|r| r.dir == dir && r.content_type == content_type)
        .map(|r| r.len)
        .collect()
}

#[test]
fn http_exchange_prints_response_and_exits_0() {
    let mut server = LlServer::start(&["--certs", &certs(), "http"]);
    http_client(server.port, &[]).assert_received(HTTP_RESPONSE);
    server.assert_healthy();
}

#[test]
fn stdin_request_to_http_server_gets_response() {
    let mut server = LlServer::start(&["--certs", &certs(), "http"]);
    let out = llclient(
        server.port,
        &["--cafile", &ca(), "localhost"],
        Input::Bytes(b"GET / HTTP/1.0\r\n\r\n".to_vec()),
    );
    out.assert_received(HTTP_RESPONSE);
    server.assert_healthy();
}

/// Same certificates and options as the upstream reference run: the same
/// records, with the same sizes, in the same order.
#[test]
fn reference_exchange_has_the_same_records() {
    let pki = repo("tests/data/reference/pki");
    let mut server = LlServer::start(&[
        "--certs",
        &format!("{pki}/rsa-server-fullchain.pem"),
        "--key",
        &format!("{pki}/rsa-server.key"),
        "http",
    ]);
    let relay = Relay::start(server.port);
    let out = llclient(
        relay.port,
        &[
            "--http",
            "--cafile",
            &format!("{pki}/rsa-ca.pem"),
            "localhost",
        ],
        Input::Null,
    );
    out.assert_received(HTTP_RESPONSE);
    let actual: Vec<(Dir, u8, usize)> = relay
        .records()
        .iter()
        .map(|r| (r.dir, r.content_type, r.len))
        .collect();
    let table =
        std::fs::read_to_string(repo("tests/data/reference/tls13-rsa-http/records-1.tsv")).unwrap();
    let expected: Vec<(Dir, u8, usize)> = table
        .lines()
        .skip(1)
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let dir = match cols[2] {
                "C>S" => Dir::ClientToServer,
                _ => Dir::ServerToClient,
            };
            (dir, cols[3].parse().unwrap(), cols[6].parse().unwrap())
        })
        .collect();
    // Upstream's records, then the one record by design: llclient answers
    // the server's close_notify (RFC 8446 §6.1: each side sends one before
    // closing), sealed like any TLS 1.3 alert (2 bytes, content type, tag).
    let answer = (Dir::ClientToServer, 23, 5 + 2 + 1 + 16);
    assert_eq!(
        actual.split_last(),
        Some((&answer, &expected[..])),
        "records differ from the reference run"
    );
    server.assert_healthy();
}

/// With `--verbose` and rustls's record layer, rustls logs the same events
/// in the same order as in the upstream run, once random values are
/// normalised.
#[test]
fn verbose_logs_match_upstream_rustls_events() {
    let (client, server) = verbose_exchange("rustls");
    for (side, log) in [("client", &client), ("server", &server)] {
        let expected = upstream_events(side);
        let mut actual = log_events(log, "rustls");
        if side == "client" {
            // The one event by design: llclient answers the server's
            // close_notify (RFC 8446 §6.1); upstream's client sends none.
            let answer = actual.pop().map(|event| event.to_string());
            assert_eq!(
                answer.as_deref(),
                Some("DEBUG rustls::common_state: Sending warning alert CloseNotify"),
                "client: the last event answers the server's close_notify"
            );
        }
        assert!(!expected.is_empty());
        assert!(
            expected == actual,
            "{side}: rustls log events differ from upstream's\n{}",
            event_diff(&expected, &actual)
        );
    }
}

/// With the in-place record layer, rustls logs the handshake exactly as
/// upstream; what happens after it (here the server's close_notify) is
/// logged by lltls's record layer under its own target instead.
#[test]
fn verbose_logs_in_place_match_upstream_until_the_switch() {
    let (client, server) = verbose_exchange("in-place");
    for (side, log) in [("client", &client), ("server", &server)] {
        let post_handshake =
            |event: &LogEvent| event.message.contains("Sending warning alert CloseNotify");
        let upstream = upstream_events(side);
        if side == "server" {
            assert!(
                upstream.iter().any(post_handshake),
                "server: reference changed"
            );
        }
        let expected: Vec<LogEvent> = upstream
            .into_iter()
            .filter(|e| !post_handshake(e))
            .collect();
        let actual = log_events(log, "rustls");
        assert!(
            expected == actual,
            "{side}: rustls log events differ from upstream's\n{}",
            event_diff(&expected, &actual)
        );
        assert!(
            log.contains("in-place record layer takes over"),
            "{side}: no switch logged:\n{log}"
        );
    }
    assert!(
        server.contains("lltls::record::send] sending warning alert CloseNotify"),
        "server: close_notify not logged by lltls:\n{server}"
    );
}

/// One http exchange with the reference certificates and `--verbose` on
/// both sides; returns the client's and the server's stderr.
fn verbose_exchange(record_layer: &str) -> (String, String) {
    let pki = repo("tests/data/reference/pki");
    let server = LlServer::start(&[
        "--verbose",
        "--record-layer",
        record_layer,
        "--certs",
        &format!("{pki}/rsa-server-fullchain.pem"),
        "--key",
        &format!("{pki}/rsa-server.key"),
        "http",
    ]);
    let out = llclient(
        server.port,
        &[
            "--verbose",
            "--record-layer",
            record_layer,
            "--http",
            "--cafile",
            &format!("{pki}/rsa-ca.pem"),
            "localhost",
        ],
        Input::Null,
    );
    out.success();
    let server = server.proc.stop();
    (out.stderr, server.stderr)
}

/// The rustls events of the upstream run, for `side`.
fn upstream_events(side: &str) -> Vec<LogEvent> {
    let reference = std::fs::read_to_string(repo(&format!(
        "tests/data/reference/tls13-rsa-http/{side}.stderr"
    )))
    .unwrap();
    log_events(&reference, "rustls")
}

#[test]
fn tls12_and_tls13_are_negotiated_as_asked() {
    let mut server = LlServer::start(&["--certs", &certs(), "http"]);
    for (version, server_messages) in [
        // ServerHello, Certificate, CertificateStatus?, ServerKeyExchange,
        // ServerHelloDone in the clear; Finished is encrypted.
        ("1.2", vec![2, 11, 12, 14]),
        // Only ServerHello in the clear.
        ("1.3", vec![2]),
    ] {
        let relay = Relay::start(server.port);
        http_client(relay.port, &["--protover", version]).assert_received(HTTP_RESPONSE);
        let mut types = handshake_types(&relay.records(), Dir::ServerToClient);
        types.retain(|t| *t != 22); // CertificateStatus, only with OCSP
        assert_eq!(
            types, server_messages,
            "TLS {version}: server handshake messages"
        );
    }
    server.assert_healthy();

    let mut only13 = LlServer::start(&["--certs", &certs(), "--protover", "1.3", "http"]);
    let line = http_client(only13.port, &["--protover", "1.2"]).failure_line();
    assert!(line.contains("protocol_version"), "{line}");
    only13.assert_healthy();
}

#[test]
fn every_cipher_suite_negotiates() {
    let mut ecdsa = LlServer::start(&["--certs", &certs(), "http"]);
    let mut rsa = LlServer::start(&["--certs", &rsa_certs(), "http"]);
    let rsa_ca = repo("certs/rsa/ca.pem");
    for suite in ALL_CIPHER_SUITES {
        let name = format!("{:?}", suite.suite());
        let (port, ca) = if name.contains("_RSA_") {
            (rsa.port, rsa_ca.clone())
        } else {
            (ecdsa.port, ca())
        };
        let out = llclient(
            port,
            &["--http", "--suite", &name, "--cafile", &ca, "localhost"],
            Input::Null,
        );
        assert!(
            out.status.success(),
            "{}",
            out.frame(&format!("suite {name}"))
        );
        out.assert_received(HTTP_RESPONSE);
    }
    ecdsa.assert_healthy();
    rsa.assert_healthy();
}

#[test]
fn every_key_exchange_group_negotiates() {
    let names: Vec<String> = ALL_KX_GROUPS
        .iter()
        .map(|g| format!("{:?}", g.name()))
        .collect();
    let mut args = vec!["--certs".to_string(), certs()];
    for name in &names {
        args.extend(["--key-exchange".to_string(), name.clone()]);
    }
    args.push("http".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = LlServer::start(&args);
    for name in &names {
        let out = http_client(server.port, &["--key-exchange", name]);
        assert!(
            out.status.success(),
            "{}",
            out.frame(&format!("group {name}"))
        );
        out.assert_received(HTTP_RESPONSE);
    }
    server.assert_healthy();
}

#[test]
fn alpn_agree_and_disagree() {
    let mut server = LlServer::start(&[
        "--certs",
        &certs(),
        "--proto",
        "h2",
        "--proto",
        "http/1.1",
        "http",
    ]);
    // TLS 1.2 shows the server's choice in the clear, in its ServerHello.
    let relay = Relay::start(server.port);
    http_client(
        relay.port,
        &[
            "--protover",
            "1.2",
            "--proto",
            "spdy/1",
            "--proto",
            "http/1.1",
        ],
    )
    .assert_received(HTTP_RESPONSE);
    let extensions = hello_extensions(&relay.records(), Dir::ServerToClient);
    let alpn = extensions
        .iter()
        .find(|(ext, _)| *ext == 16)
        .map(|(_, data)| data.clone());
    assert_eq!(
        alpn.as_deref(),
        Some(&b"\x00\x09\x08http/1.1"[..]),
        "ALPN in ServerHello"
    );

    http_client(server.port, &["--proto", "http/1.1"]).assert_received(HTTP_RESPONSE);
    // RFC 8446 §6.2: after the server's fatal alert the client sends
    // nothing, not even the change_cipher_spec it had encoded.
    let relay = Relay::start(server.port);
    let line = http_client(relay.port, &["--proto", "spdy/1"]).failure_line();
    assert!(line.contains("no_application_protocol"), "{line}");
    // The server's alert is encrypted, after its ServerHello.
    let records = relay.records();
    let from_client: Vec<u8> = records
        .iter()
        .filter(|r| r.dir == Dir::ClientToServer)
        .map(|r| r.content_type)
        .collect();
    assert_eq!(
        from_client,
        [22],
        "the client sent more than its ClientHello"
    );
    server.assert_healthy();
}

#[test]
fn client_auth_required() {
    let mut server = LlServer::start(&[
        "--certs",
        &certs(),
        "--auth",
        &ca(),
        "--require-auth",
        "http",
    ]);
    let (chain, key) = (repo("certs/client-fullchain.pem"), repo("certs/client.key"));
    http_client(server.port, &["--auth-certs", &chain, "--auth-key", &key])
        .assert_received(HTTP_RESPONSE);
    let line = http_client(server.port, &[]).failure_line();
    assert!(line.contains("certificate_required"), "{line}");
    server.assert_healthy();
}

#[test]
fn client_auth_optional() {
    let mut server = LlServer::start(&["--certs", &certs(), "--auth", &ca(), "http"]);
    let (chain, key) = (repo("certs/client-fullchain.pem"), repo("certs/client.key"));
    http_client(server.port, &["--auth-certs", &chain, "--auth-key", &key])
        .assert_received(HTTP_RESPONSE);
    http_client(server.port, &[]).assert_received(HTTP_RESPONSE);
    server.assert_healthy();
}

#[test]
fn revoked_client_cert_is_rejected_with_crl() {
    let mut server = LlServer::start(&[
        "--certs",
        &certs(),
        "--auth",
        &ca(),
        "--require-auth",
        "--crl",
        &repo("certs/crl.pem"),
        "http",
    ]);
    let (chain, key) = (repo("certs/client-fullchain.pem"), repo("certs/client.key"));
    http_client(server.port, &["--auth-certs", &chain, "--auth-key", &key])
        .assert_received(HTTP_RESPONSE);
    let (chain, key) = (
        repo("certs/revoked-client.pem"),
        repo("certs/revoked-client.key"),
    );
    let line =
        http_client(server.port, &["--auth-certs", &chain, "--auth-key", &key]).failure_line();
    assert!(line.contains("certificate_revoked"), "{line}");
    server.assert_healthy();
}

#[test]
fn wrong_ca_name_mismatch_and_insecure() {
    let mut server = LlServer::start(&["--certs", &certs(), "http"]);
    let other = repo("certs/other-ca.pem");
    let wrong_ca = llclient(
        server.port,
        &["--http", "--cafile", &other, "localhost"],
        Input::Null,
    );
    let line = wrong_ca.failure_line();
    assert!(line.contains("unknown certificate authority"), "{line}");
    // Which issuer was not trusted: the root of certs/, not the one given.
    assert!(
        line.contains(
            r#"certificate issued by "O=lltls test, CN=lltls test ECDSA root CA" is not trusted"#
        ),
        "{line}"
    );

    // 127.0.0.2 reaches the same server, but the certificate does not name it.
    let mismatch = llclient(
        server.port,
        &["--http", "--cafile", &ca(), "127.0.0.2"],
        Input::Null,
    );
    let line = mismatch.failure_line();
    assert!(
        line.contains("not valid for 127.0.0.2 (valid for "),
        "{line}"
    );

    llclient(
        server.port,
        &["--http", "--insecure", "--cafile", &other, "127.0.0.2"],
        Input::Null,
    )
    .assert_received(HTTP_RESPONSE);
    server.assert_healthy();
}

/// Unlike upstream's client, llclient sends the alert for the certificate
/// it rejects before it exits (in the clear with TLS 1.2).
#[test]
fn client_sends_its_fatal_alert() {
    let mut server = LlServer::start(&["--certs", &certs(), "http"]);
    let relay = Relay::start(server.port);
    let other = repo("certs/other-ca.pem");
    let out = llclient(
        relay.port,
        &[
            "--http",
            "--protover",
            "1.2",
            "--cafile",
            &other,
            "localhost",
        ],
        Input::Null,
    );
    let line = out.failure_line();
    assert!(line.contains("unknown_ca"), "{line}");
    let alerts: Vec<Vec<u8>> = relay
        .records()
        .into_iter()
        .filter(|r| r.dir == Dir::ClientToServer && r.content_type == ALERT)
        .map(|r| r.payload)
        .collect();
    // fatal (2), unknown_ca (48)
    assert_eq!(alerts, [vec![2, 48]], "client alerts on the wire");
    server.assert_healthy();
}

#[test]
fn no_sni_omits_server_name() {
    let mut server = LlServer::start(&["--certs", &certs(), "http"]);
    for (flag, expect_sni) in [(None, true), (Some("--no-sni"), false)] {
        let relay = Relay::start(server.port);
        let extra: Vec<&str> = flag.into_iter().collect();
        http_client(relay.port, &extra).assert_received(HTTP_RESPONSE);
        let extensions = hello_extensions(&relay.records(), Dir::ClientToServer);
        let sni = extensions.iter().any(|(ext, _)| *ext == 0);
        assert_eq!(sni, expect_sni, "server_name extension with {flag:?}");
    }
    server.assert_healthy();
}

#[test]
fn max_frag_size_limits_client_records() {
    let mut server = LlServer::start(&["--certs", &certs(), "echo"]);
    let relay = Relay::start(server.port);
    let data = random_bytes(100_000);
    let out = llclient(
        relay.port,
        &["--max-frag-size", "512", "--cafile", &ca(), "localhost"],
        Input::Bytes(data.clone()),
    );
    out.assert_received(&data);
    let records = relay.records();
    let client_records: Vec<&Record> = records
        .iter()
        .filter(|r| r.dir == Dir::ClientToServer)
        .collect();
    // 512 bytes per record including the 5-byte header, plus TLS 1.3's
    // content-type byte and 16-byte AEAD tag.
    let limit = 512 + 1 + 16;
    assert!(
        client_records.iter().all(|r| r.len <= limit),
        "client record over {limit}B: {:?}",
        client_records.iter().map(|r| r.len).max()
    );
    assert!(client_records.len() > data.len() / 512, "too few records");
    // The server was not asked to limit its records.
    assert!(records
        .iter()
        .any(|r| r.dir == Dir::ServerToClient && r.len > limit));
    server.assert_healthy();
}

#[test]
fn session_tickets_default_stateless_and_none() {
    // Server records after the handshake flight: tickets (if any), the
    // response, close_notify.
    for (flag, tickets) in [
        (None, Some(184)),
        (Some("--tickets"), None),
        (Some("--no-resumption"), Some(0)),
    ] {
        let mut args = vec!["--certs".to_string(), certs()];
        args.extend(flag.map(String::from));
        args.push("http".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut server = LlServer::start(&args);
        let relay = Relay::start(server.port);
        http_client(relay.port, &[]).assert_received(HTTP_RESPONSE);
        let after_flight = &sizes(&relay.records(), Dir::ServerToClient, APPLICATION_DATA)[1..];
        match tickets {
            Some(0) => assert_eq!(after_flight, [95, 24], "{flag:?}"),
            Some(n) => assert_eq!(after_flight, [n, 95, 24], "{flag:?}"),
            // Stateless tickets carry the encrypted session: larger.
            None => {
                assert_eq!(after_flight.len(), 3, "{flag:?}: {after_flight:?}");
                assert!(after_flight[0] > 184, "{flag:?}: {after_flight:?}");
            }
        }
        server.assert_healthy();
    }
}

/// One llclient process makes one connection, so 0-RTT (which needs a
/// ticket from an earlier connection) is driven by the library here.
#[test]
fn max_early_data_accepts_0rtt() {
    let args = lltls::programs::cli::ClientArgs {
        cafile: Some(ca().into()),
        ..clap::Parser::parse_from(["llclient", "localhost"])
    };
    for (max_early_data, accepted) in [("1024", true), ("0", false)] {
        let mut server = LlServer::start(&[
            "--certs",
            &certs(),
            "--max-early-data",
            max_early_data,
            "echo",
        ]);
        let mut config = (*lltls::programs::config::client_config(&args).unwrap()).clone();
        config.enable_early_data = true;
        let config = std::sync::Arc::new(config);

        let mut first = BlockingClient::connect(config.clone(), server.port);
        first.handshake();
        first.send(b"x");
        // The tickets precede the echo: once it is here, so are they.
        first.receive(1);
        first.close();

        let mut second = BlockingClient::connect(config, server.port);
        let early = b"early data for the echo server";
        let taken = second.early_data(early);
        second.handshake();
        assert!(second.handshake.as_ref().unwrap().resumed, "not resumed");
        if accepted {
            assert_eq!(taken, early.len(), "early data not taken");
            // Nothing else was sent: the echo proves the server took it.
            second.receive(early.len());
            assert_eq!(second.received, early);
        } else {
            assert_eq!(taken, 0, "ticket allowed early data");
        }
        second.close();
        server.assert_healthy();
    }
}

#[test]
fn ocsp_staple_is_delivered() {
    let ocsp = std::fs::read(repo("certs/ocsp.der")).unwrap();
    let mut flights = Vec::new();
    for with_ocsp in [false, true] {
        let mut args = vec!["--certs".to_string(), certs()];
        if with_ocsp {
            args.extend(["--ocsp".to_string(), repo("certs/ocsp.der")]);
        }
        args.push("http".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut server = LlServer::start(&args);
        let relay = Relay::start(server.port);
        http_client(relay.port, &[]).assert_received(HTTP_RESPONSE);
        // The encrypted record with EncryptedExtensions … Finished.
        flights.push(sizes(&relay.records(), Dir::ServerToClient, APPLICATION_DATA)[0]);
        server.assert_healthy();
    }
    assert!(
        flights[1] >= flights[0] + ocsp.len(),
        "server flight {}B with OCSP, {}B without; response is {}B",
        flights[1],
        flights[0],
        ocsp.len()
    );
}

#[test]
fn echo_64_mib_is_byte_exact_with_bounded_memory() {
    const SIZE: usize = 64 << 20;
    let mut server = LlServer::start(&["--certs", &certs(), "echo"]);
    let data = random_bytes(SIZE);
    let path = scratch("echo-64mib");
    std::fs::write(&path, &data).unwrap();
    let out = llclient(
        server.port,
        &["--cafile", &ca(), "localhost"],
        Input::File(path.clone()),
    );
    let _ = std::fs::remove_file(&path);
    let stdout = out.success();
    out.assert_connection_closed();
    let echoed = stdout;
    assert_eq!(echoed.len(), SIZE, "echoed length");
    assert_eq!(sha256(echoed), sha256(&data), "echoed bytes differ");

    // Read from /proc/PID/status (VmHWM); a reading that cannot be taken fails the test.
    let client_kib = out.peak_rss_kib();
    let server_kib = server.proc.peak_rss_kib();
    let secs = out.elapsed.as_secs_f64();
    println!(
        "64 MiB echo: {secs:.2}s ({:.0} MiB/s each way); peak RSS client {client_kib} KiB, server {server_kib} KiB",
        64.0 / secs
    );
    // Memory must not follow the payload: a few buffers of 256 KiB each.
    assert!(client_kib < 32 * 1024, "client peak RSS {client_kib} KiB");
    assert!(server_kib < 32 * 1024, "server peak RSS {server_kib} KiB");
    server.assert_healthy();
}

/// Every pairing of the two record layers, with stdin from a file (read
/// straight into records) and from a pipe: the echo is byte-exact.
#[test]
fn record_layers_interoperate_with_file_and_pipe_stdin() {
    const SIZE: usize = 3 << 20;
    let data = random_bytes(SIZE);
    let path = scratch("record-layers");
    std::fs::write(&path, &data).unwrap();
    for server_layer in ["in-place", "rustls"] {
        let mut server =
            LlServer::start(&["--certs", &certs(), "--record-layer", server_layer, "echo"]);
        for client_layer in ["in-place", "rustls"] {
            for input in [Input::File(path.clone()), Input::Bytes(data.clone())] {
                let what = format!(
                    "server {server_layer}, client {client_layer}, stdin {}",
                    match input {
                        Input::File(_) => "file",
                        _ => "pipe",
                    }
                );
                let out = llclient(
                    server.port,
                    &[
                        "--record-layer",
                        client_layer,
                        "--cafile",
                        &ca(),
                        "localhost",
                    ],
                    input,
                );
                let echoed = out.success();
                assert!(
                    echoed.len() == SIZE && sha256(echoed) == sha256(&data),
                    "{what}: echo differs ({}B)",
                    echoed.len()
                );
            }
        }
        server.assert_healthy();
    }
    let _ = std::fs::remove_file(&path);
}

/// A regular-file stdin is read into several records at once (one readv)
/// and still goes out as full records, then the rest in one shorter record:
/// the records rustls-mode makes of it, reading one record at a time. Also
/// with `--max-frag-size`, whose records are smaller than the file reads
/// are sized for.
#[test]
fn file_stdin_goes_out_in_full_records() {
    // 64 full records and 1,000 bytes more.
    const SIZE: usize = (1 << 20) + 1000;
    // TLS 1.3 AES-GCM: header, inner content type, tag.
    const OVERHEAD: usize = 5 + 1 + 16;
    let data = random_bytes(SIZE);
    let path = scratch("full-records");
    std::fs::write(&path, &data).unwrap();
    for frag in [None, Some("512")] {
        let mut by_layer = Vec::new();
        for layer in ["in-place", "rustls"] {
            let what = format!("{layer}, --max-frag-size {frag:?}");
            let mut server = LlServer::start(&["--certs", &certs(), "echo"]);
            let relay = Relay::start(server.port);
            let mut args = vec!["--record-layer", layer, "--cafile"];
            let ca = ca();
            args.extend([ca.as_str(), "localhost"]);
            if let Some(frag) = frag {
                args.extend(["--max-frag-size", frag]);
            }
            let out = llclient(relay.port, &args, Input::File(path.clone()));
            let echoed = out.success();
            assert!(
                echoed.len() == SIZE && sha256(echoed) == sha256(&data),
                "{what}: echo differs ({}B)",
                echoed.len()
            );
            let sizes = sizes(&relay.records(), Dir::ClientToServer, APPLICATION_DATA);
            // Finished first, close_notify last (2 bytes of alert).
            assert!(sizes.len() > 3, "{what}: records {sizes:?}");
            assert_eq!(sizes[sizes.len() - 1], 2 + OVERHEAD, "{what}: close_notify");
            let data_records = &sizes[1..sizes.len() - 1];
            let (last, full) = data_records.split_last().unwrap();
            let plaintext: usize = data_records.iter().map(|len| len - OVERHEAD).sum();
            assert_eq!(plaintext, SIZE, "{what}: plaintext in {data_records:?}");
            assert!(
                full.iter().all(|len| *len == full[0]) && last < &full[0],
                "{what}: not full records then one shorter: {data_records:?}"
            );
            let expected_full = match frag {
                None => 16_384 + OVERHEAD,
                // The limit counts the 5-byte header (see max_frag_size_limits_client_records).
                Some(frag) => frag.parse::<usize>().unwrap() + 1 + 16,
            };
            assert_eq!(full[0], expected_full, "{what}: full record");
            by_layer.push(data_records.to_vec());
            server.assert_healthy();
        }
        assert_eq!(
            by_layer[0], by_layer[1],
            "--max-frag-size {frag:?}: the modes' records"
        );
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn slow_reader_loses_nothing_and_does_not_stall_others() {
    const SIZE: usize = 16 << 20;
    let mut server = LlServer::start(&["--certs", &certs(), "echo"]);
    let data = random_bytes(SIZE);
    let (open, gate) = mpsc::channel();
    let ca = ca();
    let mut slow = Spawn::new(
        LLCLIENT,
        &[
            "--port",
            &server.port.to_string(),
            "--cafile",
            &ca,
            "localhost",
        ],
    )
    .input(Input::Bytes(data.clone()))
    .stdout_gate(gate)
    // Then slow: 16 KiB per millisecond at most.
    .stdout_throttle(Duration::from_millis(1))
    .start();

    // While that client's stdout is not read (its pipe, socket and the
    // server's backlog fill up), other clients are served.
    let started = Instant::now();
    for _ in 0..3 {
        let small = random_bytes(10_000);
        llclient(
            server.port,
            &["--cafile", &ca, "localhost"],
            Input::Bytes(small.clone()),
        )
        .assert_received(&small);
    }
    // Keep the reader paused a little longer if the others were quick, so
    // backpressure is exercised for certain.
    if let Some(rest) = Duration::from_millis(500).checked_sub(started.elapsed()) {
        thread::sleep(rest);
    }
    let server_kib = server.proc.peak_rss_kib();
    // The others were served while it was stuck: with its stdout held back it cannot have
    // taken back 16 MiB.
    assert!(
        slow.is_running(),
        "{}",
        slow.frame("the slow client finished with its stdout held back")
    );
    open.send(()).unwrap();
    let out = slow.finish(TIMEOUT);
    let stdout = out.success();
    let echoed = stdout;
    assert_eq!(echoed.len(), SIZE, "echoed length");
    assert_eq!(sha256(echoed), sha256(&data), "echoed bytes differ");
    assert!(
        server_kib < 32 * 1024,
        "server peak RSS {server_kib} KiB while stalled"
    );
    server.assert_healthy();
}

/// A closed stdout (`llclient … | head`) ends the client quietly, exit 0.
#[test]
fn closed_stdout_exits_quietly() {
    let mut server = LlServer::start(&["--certs", &certs(), "echo"]);
    let ca = ca();
    let out = llclient_with(
        server.port,
        Spawn::new(LLCLIENT, &["--cafile", &ca, "localhost"])
            .input(Input::Bytes(random_bytes(8 << 20)))
            .stdout_close_after(1),
    );
    assert!(out.status.success(), "{}", out.frame("expected success"));
    assert!(
        out.stderr.is_empty(),
        "{}",
        out.frame("expected nothing on stderr")
    );
    server.assert_healthy();
}

#[test]
fn forward_mode_relays_to_plain_tcp_echo() {
    let target = tcp_echo_server();
    let mut server = LlServer::start(&[
        "--certs",
        &certs(),
        "forward",
        "--port",
        &target.to_string(),
    ]);
    let data = random_bytes(1 << 20);
    llclient(
        server.port,
        &["--cafile", &ca(), "localhost"],
        Input::Bytes(data.clone()),
    )
    .assert_received(&data);
    // Upstream's spelling of the mode: `forward PORT`.
    let mut upstream_form = LlServer::start(&["--certs", &certs(), "forward", &target.to_string()]);
    llclient(
        upstream_form.port,
        &["--cafile", &ca(), "localhost"],
        Input::Bytes(b"hi\n".to_vec()),
    )
    .assert_received(b"hi\n");
    server.assert_healthy();
    upstream_form.assert_healthy();
}

#[test]
fn forward_target_refusing_drops_only_that_connection() {
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = LlServer::start(&[
        "--certs",
        &certs(),
        "forward",
        "--port",
        &refused.to_string(),
    ]);
    let out = llclient(
        server.port,
        &["--cafile", &ca(), "localhost"],
        Input::Bytes(b"hello\n".to_vec()),
    );
    // The server drops the connection (EOF or reset, depending on timing).
    let line = out.failure_line();
    assert!(line.starts_with("llclient: "), "{line}");
    server.assert_healthy();
}

#[test]
fn handshake_timeout_closes_silent_connections() {
    let mut server = LlServer::start(&["--certs", &certs(), "--handshake-timeout", "1", "http"]);
    // Before connecting, so before the server starts the connection's clock.
    let connecting = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    // Bounds the wait only: the server must close it on its own.
    silent.set_read_timeout(Some(TIMEOUT)).unwrap();
    // Others are served meanwhile (robustness.rs checks they do not wait for it).
    http_client(server.port, &[]).assert_received(HTTP_RESPONSE);
    let mut buf = [0; 16];
    let n = silent
        .read(&mut buf)
        .expect("server did not close the silent connection");
    assert_eq!(n, 0, "expected EOF");
    // Closed by the timeout, not before it: a bound no delay on a busy machine can break.
    let closed_after = connecting.elapsed();
    assert!(
        closed_after >= Duration::from_secs(1),
        "closed after {closed_after:?}, before the 1 s handshake timeout"
    );
    server.assert_healthy();
}

#[test]
fn garbage_from_one_client_does_not_affect_others() {
    let mut server = LlServer::start(&["--certs", &certs(), "http"]);
    let mut garbage = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    garbage.set_read_timeout(Some(TIMEOUT)).unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    // The server answers with a fatal alert (a record of type 21) and closes.
    let _ = garbage.read_to_end(&mut reply);
    assert_eq!(reply.first(), Some(&21), "expected an alert, got {reply:?}");
    http_client(server.port, &[]).assert_received(HTTP_RESPONSE);
    let _ = garbage.shutdown(Shutdown::Both);
    server.assert_healthy();
}

// ---- failures: non-zero exit, one clear line, no panic ----

#[test]
fn client_eof_during_handshake_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        // Take the ClientHello, then end the stream (FIN, not a reset).
        let (mut stream, _) = listener.accept().unwrap();
        let mut hello = [0; 4096];
        let _ = stream.read(&mut hello);
        let _ = stream.shutdown(Shutdown::Write);
        let _ = std::io::copy(&mut stream, &mut std::io::sink());
    });
    let line = llclient(
        port,
        &["--http", "--cafile", &ca(), "127.0.0.1"],
        Input::Null,
    )
    .failure_line();
    assert!(line.contains("during the handshake"), "{line}");
}

#[test]
fn client_failures_are_one_line() {
    // A port nobody listens on: bind, note it, close.
    let refused_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ca = ca();
    let missing = repo("certs/no-such-file.pem");
    let unwritable = repo("no-such-dir/diagram.md");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--http", "--cafile", &ca, "127.0.0.1"],
            "Connection refused",
        ),
        (
            vec!["--http", "--cafile", &ca, "no-such-host.invalid"],
            "cannot resolve no-such-host.invalid",
        ),
        (
            vec!["--http", "--cafile", &missing, "localhost"],
            "no-such-file.pem",
        ),
        (
            vec!["--http", "--cafile", &ca, "--protover", "1.4", "localhost"],
            "1.4",
        ),
        (
            vec!["--http", "--cafile", &ca, "--suite", "NOPE", "localhost"],
            "NOPE",
        ),
        (
            vec![
                "--http",
                "--cafile",
                &ca,
                "--sequence-diagram",
                &unwritable,
                "localhost",
            ],
            "cannot write",
        ),
        (
            vec!["--http", "--cafile", &ca, "--auth-key", &ca, "localhost"],
            "--auth-certs",
        ),
    ];
    for (args, expected) in cases {
        let line = llclient(refused_port, &args, Input::Null).failure_line();
        assert!(line.starts_with("llclient: "), "{line}");
        assert!(line.contains(expected), "{args:?}: {line}");
    }
}

/// `--handshake-timeout` bounds connecting and the handshake: against a
/// listener whose accept queue is full the connect never completes, and
/// against one that accepts and never answers the handshake never starts.
/// Either way one line names what timed out, after about the timeout rather
/// than never (the bound of `llclient` below is the harness's `TIMEOUT`).
#[test]
fn llclient_handshake_timeout_names_what_timed_out() {
    use std::os::fd::AsRawFd;
    let ca = ca();
    let args = ["--handshake-timeout", "1", "--cafile", &ca, "127.0.0.1"];

    // Accepts (the kernel completes the TCP handshake) and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let line = llclient(silent.local_addr().unwrap().port(), &args, Input::Null).failure_line();
    assert!(
        line.contains("timed out after 1s waiting for the TLS handshake with 127.0.0.1:"),
        "{line}"
    );

    // A backlog of 0 holds one connection, which takes it: the kernel drops
    // the next SYNs, so the next connect waits. (Calling listen again on a
    // listening socket changes its backlog.)
    let full = TcpListener::bind("127.0.0.1:0").unwrap();
    // SAFETY: listen on a socket this test owns, with a valid backlog.
    assert_eq!(unsafe { libc::listen(full.as_raw_fd(), 0) }, 0);
    let port = full.local_addr().unwrap().port();
    let _taker = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let line = llclient(port, &args, Input::Null).failure_line();
    assert!(
        line.contains(&format!(
            "timed out after 1s connecting to 127.0.0.1:{port}"
        )),
        "{line}"
    );
}

#[test]
fn server_failures_are_one_line() {
    let certs = certs();
    let chain = repo("certs/fullchain.pem");
    let wrong_key = repo("certs/client.key");
    let missing = repo("certs/no-such-file.pem");
    let missing_dir = repo("no-such-dir/");
    let unwritable = repo("no-such-dir/diagram.md");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--certs", &missing, "--key", &wrong_key, "http"],
            "no-such-file.pem",
        ),
        (
            vec!["--certs", &chain, "--key", &missing, "http"],
            "no-such-file.pem",
        ),
        (
            vec!["--certs", &chain, "--key", &wrong_key, "http"],
            "does not match",
        ),
        (vec!["--certs", &certs, "--protover", "1.4", "http"], "1.4"),
        (
            vec!["--certs", &certs, "--key-exchange", "nope", "http"],
            "nope",
        ),
        (vec!["--certs", &certs, "--crl", &chain, "http"], "--crl"),
        // A directory that is not there is named, not taken for a chain
        // file without --key.
        (vec!["--certs", &missing_dir, "http"], "cannot read"),
        // Output files are checked at start, not when the first
        // connection ends.
        (
            vec!["--certs", &certs, "--sequence-diagram", &unwritable, "http"],
            "cannot write",
        ),
    ];
    for (args, expected) in cases {
        let mut args = args;
        args.splice(0..0, ["--port", "0"]);
        let out = Spawn::new(LLSERVER, &args).start().finish(TIMEOUT);
        let line = out.failure_line();
        assert!(line.starts_with("llserver: "), "{line}");
        assert!(line.contains(expected), "{args:?}: {line}");
    }
}

#[test]
fn server_port_in_use_is_one_line() {
    let taken = TcpListener::bind("[::]:0")
        .or_else(|_| TcpListener::bind("0.0.0.0:0"))
        .unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Spawn::new(LLSERVER, &["--port", &port, "--certs", &certs(), "http"])
        .start()
        .finish(TIMEOUT);
    let line = out.failure_line();
    assert!(
        line.contains("cannot listen on") && line.contains("in use"),
        "{line}"
    );
}

#[test]
fn bad_option_values_fail_without_panic() {
    for (program, args) in [
        (LLCLIENT, vec!["--port", "notanumber", "localhost"]),
        (LLSERVER, vec!["--certs", "certs", "nosuchmode"]),
        (
            LLSERVER,
            vec!["--certs", "certs", "--max-early-data", "-1", "echo"],
        ),
    ] {
        let out = Spawn::new(program, &args).start().finish(TIMEOUT);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            out.frame("expected clap's usage error")
        );
        assert!(out.stderr.starts_with("error: "), "{}", out.frame("usage"));
        assert!(
            !out.stderr.contains("panicked"),
            "{}",
            out.frame("panicked")
        );
    }
}
