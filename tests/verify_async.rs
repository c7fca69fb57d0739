//! `--verify-async` (deferred certificate verification on a worker thread)
//! in `llclient` and `llserver` as real processes: the same records as
//! normal mode, rejections exactly as in normal mode (exit code, line,
//! alert read by the peer), a server that keeps serving while a
//! verification waits, and interop with `openssl s_client` / `s_server`.

#![cfg(feature = "programs")]

mod harness;

use harness::net::{Dir, Relay};
use harness::process::*;
use harness::{repo, HTTP_RESPONSE, TIMEOUT};

/// Both modes of each program: verification in the handshake, and on a
/// worker thread.
const MODES: [&[&str]; 2] = [&[], &["--verify-async"]];

fn ca() -> String {
    repo("certs/ca.pem")
}

/// `llserver ARGS… http` with error logging on, so that the alert a client
/// sends shows on its stderr.
fn llserver(args: &[&str]) -> LlServer {
    let mut all = args.to_vec();
    all.push("http");
    LlServer::start_with(Spawn::new(LLSERVER, &all).env("RUST_LOG", "error"))
}

/// `llclient --http ARGS… HOST` against `port`.
fn http_client(port: u16, args: &[&str], host: &str) -> Finished {
    let mut all = vec!["--http"];
    all.extend_from_slice(args);
    all.push(host);
    llclient(port, &all, Input::Null)
}

#[test]
fn accepted_servers_see_the_same_records_as_in_normal_mode() {
    // RSA signatures have one length: record sizes repeat exactly.
    let certs = repo("certs/rsa");
    let ca = repo("certs/rsa/ca.pem");
    let mut wires = Vec::new();
    for mode in MODES {
        let mut server = llserver(&["--certs", &certs]);
        let relay = Relay::start(server.port);
        let mut args = vec!["--cafile", ca.as_str()];
        args.extend_from_slice(mode);
        http_client(relay.port, &args, "localhost").assert_received(HTTP_RESPONSE);
        // Each direction's records; how the two interleave differs: the
        // request waits for the verdict instead of leaving with the
        // client's Finished.
        let records = relay.records();
        let sizes = |dir: Dir| -> Vec<_> {
            records
                .iter()
                .filter(|r| r.dir == dir)
                .map(|r| (r.content_type, r.len))
                .collect()
        };
        wires.push([sizes(Dir::ClientToServer), sizes(Dir::ServerToClient)]);
        server.assert_healthy();
    }
    assert_eq!(
        wires[0], wires[1],
        "records in normal mode, then with --verify-async"
    );
}

#[test]
fn llclient_rejects_exactly_as_in_normal_mode() {
    let cases: [(&str, Vec<&str>, &str, &str, &str); 3] = [
        (
            "wrong CA",
            vec!["--certs", "certs"],
            "certs/other-ca.pem",
            "localhost",
            "unknown_ca",
        ),
        (
            "name mismatch",
            vec!["--certs", "certs"],
            "certs/ca.pem",
            "127.0.0.2",
            "bad_certificate",
        ),
        (
            "expired",
            vec![
                "--certs",
                "certs/expired-fullchain.pem",
                "--key",
                "certs/expired.key",
            ],
            "certs/ca.pem",
            "localhost",
            "certificate_expired",
        ),
    ];
    for (what, server_args, cafile, host, alert) in cases {
        let server_args: Vec<String> = server_args
            .iter()
            .map(|a| {
                if *a == "certs" {
                    repo("certs")
                } else {
                    a.to_string()
                }
            })
            .collect();
        let server_args: Vec<&str> = server_args.iter().map(String::as_str).collect();
        let cafile = repo(cafile);
        let mut lines = Vec::new();
        for mode in MODES {
            let mut server = llserver(&server_args);
            let mut args = vec!["--cafile", cafile.as_str()];
            args.extend_from_slice(mode);
            let line = http_client(server.port, &args, host).failure_line();
            assert!(
                line.contains(&format!("(sent fatal alert {alert})")),
                "{what} {mode:?}: {line}"
            );
            // The server read the alert (sealed with the handshake keys in
            // normal mode, with the traffic keys after the handshake in
            // deferred mode).
            server
                .proc
                .wait_stderr_contains(&format!("peer sent fatal alert {alert}"), TIMEOUT);
            server.assert_healthy();
            lines.push(without_clock(&line));
        }
        assert_eq!(lines[0], lines[1], "{what}: the same line in both modes");
    }
}

/// `line` with the time an expired certificate was checked at (`now
/// 2026-12-02 05:03:46 UTC`) blotted out: the runs of the two modes need not
/// fall in the same second.
fn without_clock(line: &str) -> String {
    match line.split_once(", now ") {
        Some((before, after)) => {
            let (_, rest) = after.split_once(" UTC").expect("now DATE UTC");
            format!("{before}, now T{rest}")
        }
        None => line.to_owned(),
    }
}

#[test]
fn llserver_rejects_exactly_as_in_normal_mode() {
    let crl = repo("certs/crl.pem");
    let good = [
        "--auth-certs",
        "certs/client-fullchain.pem",
        "--auth-key",
        "certs/client.key",
    ];
    let revoked = [
        "--auth-certs",
        "certs/revoked-client.pem",
        "--auth-key",
        "certs/revoked-client.key",
    ];
    let stranger = [
        "--auth-certs",
        "certs/rsa/client-fullchain.pem",
        "--auth-key",
        "certs/rsa/client.key",
    ];
    let mut lines: Vec<Vec<String>> = Vec::new();
    for mode in MODES {
        let mut args = vec!["--certs".to_string(), repo("certs"), "--auth".into(), ca()];
        args.extend(["--require-auth".into(), "--crl".into(), crl.clone()]);
        args.extend(mode.iter().map(|a| a.to_string()));
        if !mode.is_empty() {
            // The verdict arrives after the handshake, through the waker.
            args.extend(["--verify-delay-ms".into(), "50".into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut server = llserver(&args);
        let client = |auth: &[&str]| {
            let mut all: Vec<String> = vec!["--cafile".into(), ca()];
            all.extend(auth.iter().map(|a| {
                if a.starts_with("certs/") {
                    repo(a)
                } else {
                    a.to_string()
                }
            }));
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            http_client(server.port, &all, "localhost")
        };
        client(&good).assert_received(HTTP_RESPONSE);
        let mut mode_lines = Vec::new();
        for (auth, alert) in [
            (&revoked[..], "certificate_revoked"),
            (&stranger[..], "unknown_ca"),
            (&[][..], "certificate_required"),
        ] {
            let line = client(auth).failure_line();
            assert!(
                line.contains(&format!("peer sent fatal alert {alert}")),
                "{mode:?}: {line}"
            );
            mode_lines.push(line);
        }
        server.assert_healthy();
        lines.push(mode_lines);
    }
    assert_eq!(lines[0], lines[1], "the same lines in both modes");
}

/// `llserver --verify-async … http` whose verifications take ten minutes,
/// with `--handshake-timeout SECS`; it logs when a chain goes to the workers.
fn slow_verifier(handshake_timeout: &str) -> LlServer {
    let args = [
        "--certs",
        &repo("certs"),
        "--auth",
        &ca(),
        "--verify-async",
        "--verify-delay-ms",
        "600000",
        "--handshake-timeout",
        handshake_timeout,
        "http",
    ];
    LlServer::start_with(Spawn::new(LLSERVER, &args).env("RUST_LOG", "llserver=debug"))
}

#[test]
fn llserver_serves_others_while_a_verification_waits() {
    // No handshake timeout: one verification pending for the whole test.
    let mut server = slow_verifier("0");
    let port = server.port.to_string();
    let (chain, key) = (repo("certs/client-fullchain.pem"), repo("certs/client.key"));
    let ca = ca();
    let mut waiting = Spawn::new(
        LLCLIENT,
        &[
            "--port",
            &port,
            "--http",
            "--cafile",
            &ca,
            "--auth-certs",
            &chain,
            "--auth-key",
            &key,
            "localhost",
        ],
    )
    .start();
    server
        .proc
        .wait_stderr_contains("client certificate to the verification workers", TIMEOUT);
    // Clients without a certificate (nothing to verify) are served meanwhile.
    for _ in 0..3 {
        http_client(server.port, &["--cafile", &ca], "localhost").assert_received(HTTP_RESPONSE);
    }
    assert!(
        waiting.is_running(),
        "{}",
        waiting.frame("the client whose certificate is being verified finished")
    );
    assert!(
        waiting.stdout().is_empty(),
        "no response before the verdict"
    );
    waiting.kill();
    server.assert_healthy();
}

/// `openssl s_client ARGS…` to `port`, trusting certs/ca.pem; stdin is data.
fn s_client(port: u16, args: &[&str]) -> Proc {
    let mut all = vec!["-nocommands"];
    all.extend_from_slice(args);
    openssl_s_client(port, &ca(), &all)
}

#[test]
fn openssl_s_client_against_llserver_verifying_asynchronously() {
    let mut server = LlServer::start(&[
        "--certs",
        &repo("certs"),
        "--auth",
        &ca(),
        "--require-auth",
        "--crl",
        &repo("certs/crl.pem"),
        "--verify-async",
        "echo",
    ]);
    for version in ["-tls1_3", "-tls1_2"] {
        let (cert, key) = (repo("certs/client.pem"), repo("certs/client.key"));
        let mut client = s_client(
            server.port,
            &["-brief", "-cert", &cert, "-key", &key, version],
        );
        client.write(b"verified later\n");
        client.wait_stdout_contains("verified later\n", TIMEOUT);
        client.close_stdin();
        client.wait_success(TIMEOUT);

        let (cert, key) = (
            repo("certs/revoked-client.pem"),
            repo("certs/revoked-client.key"),
        );
        let mut refused = s_client(
            server.port,
            &["-brief", "-cert", &cert, "-key", &key, version],
        );
        refused.write(b"never echoed\n");
        // certificate_revoked (44), sealed after the handshake.
        refused.wait_stderr_contains("SSL alert number 44", TIMEOUT);
        refused.wait(TIMEOUT);
        assert!(!refused.stdout().windows(12).any(|w| w == b"never echoed"));
    }
    server.assert_healthy();
}

#[test]
fn llclient_verifying_asynchronously_against_openssl_s_server() {
    for version in ["-tls1_3", "-tls1_2"] {
        let (mut server, port) = openssl_s_server_for_one("certs", &[version]);
        let port_arg = port.to_string();
        let ca = ca();
        let mut client = Spawn::new(
            LLCLIENT,
            &[
                "--port",
                &port_arg,
                "--cafile",
                &ca,
                "--verify-async",
                "localhost",
            ],
        )
        .input(Input::Piped)
        .start();
        client.write(b"hello from llclient\n");
        server.wait_stdout_contains("hello from llclient\n", TIMEOUT);
        server.write(b"hello from openssl\n");
        client.wait_stdout_contains("hello from openssl\n", TIMEOUT);
        client.close_stdin();
        client.wait_success(TIMEOUT);
        server.wait_success(TIMEOUT);

        // Rejected (another CA): s_server reads unknown_ca (48).
        let (mut server, port) = openssl_s_server_for_one("certs", &[version]);
        let other = repo("certs/other-ca.pem");
        let out = llclient(
            port,
            &["--cafile", &other, "--verify-async", "localhost"],
            Input::Bytes(b"never sent\n".to_vec()),
        );
        assert!(out.failure_line().contains("(sent fatal alert unknown_ca)"));
        server.wait(TIMEOUT);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&server.stdout()),
            server.stderr()
        );
        assert!(
            all.contains("alert unknown ca") || all.contains("SSL alert number 48"),
            "{}",
            server.frame("s_server")
        );
        assert!(!all.contains("never sent"));
    }
}

#[test]
fn verify_async_refuses_what_it_cannot_honour() {
    let cases: [(&str, Vec<String>, &str); 4] = [
        (
            LLCLIENT,
            vec![
                "--verify-async".into(),
                "--auth-certs".into(),
                repo("certs/client-fullchain.pem"),
                "--auth-key".into(),
                repo("certs/client.key"),
                "localhost".into(),
            ],
            "add --verify-async-with-auth to allow it, or drop --verify-async",
        ),
        (
            LLCLIENT,
            vec!["--verify-async-with-auth".into(), "localhost".into()],
            "--verify-async-with-auth needs --verify-async and --auth-certs",
        ),
        (
            LLSERVER,
            vec![
                "--verify-async".into(),
                "--certs".into(),
                repo("certs"),
                "echo".into(),
            ],
            "--verify-async needs --auth",
        ),
        (
            LLSERVER,
            vec![
                "--verify-async".into(),
                "--tickets".into(),
                "--auth".into(),
                ca(),
                "--certs".into(),
                repo("certs"),
                "echo".into(),
            ],
            "--verify-async cannot use --tickets",
        ),
    ];
    for (program, args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let line = Spawn::new(program, &args)
            .start()
            .finish(TIMEOUT)
            .failure_line();
        assert!(line.contains(expected), "{line}");
    }
}

/// A client certificate with `--verify-async` is an explicit opt-in
/// (`--verify-async-with-auth`): the certificate goes with the handshake, and
/// a server that requires it serves the client, whether it verifies in the
/// handshake or on a worker thread itself.
#[test]
fn llclient_sends_its_certificate_with_verify_async_when_allowed() {
    let (chain, key) = (repo("certs/client-fullchain.pem"), repo("certs/client.key"));
    let ca = ca();
    for server_mode in MODES {
        let mut args = vec![
            "--certs".to_string(),
            repo("certs"),
            "--auth".into(),
            ca.clone(),
        ];
        args.push("--require-auth".into());
        args.extend(server_mode.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut server = llserver(&args);
        let client_args = [
            "--cafile",
            &ca,
            "--auth-certs",
            &chain,
            "--auth-key",
            &key,
            "--verify-async",
            "--verify-async-with-auth",
        ];
        http_client(server.port, &client_args, "localhost").assert_received(HTTP_RESPONSE);
        server.assert_healthy();
    }
}

/// CPU seconds (user + system) of the children of a `sh -c '…; times'`,
/// from the second line `times` prints (e.g. `0m0.030000s 0m0.000000s`).
fn children_cpu_seconds(times: &str) -> f64 {
    let line = times
        .lines()
        .nth(1)
        .expect("the children's line of `times`");
    line.split_whitespace()
        .map(|field| {
            let (minutes, seconds) = field.trim_end_matches('s').split_once('m').unwrap();
            minutes.parse::<f64>().unwrap() * 60.0 + seconds.parse::<f64>().unwrap()
        })
        .sum()
}

#[test]
fn llclient_sleeps_while_the_verdict_waits() {
    // A regular file on stdin is read straight into records, as soon as
    // records may be sent: not before the verdict, and without polling.
    let input = harness::scratch("verify-async-input");
    std::fs::write(&input, vec![b'x'; 100_000]).unwrap();
    let mut server = LlServer::start(&["--certs", &repo("certs"), "echo"]);
    let (port, ca) = (server.port.to_string(), ca());
    let delay_ms = 2000;
    let delay = delay_ms.to_string();
    let args = [
        "-c",
        r#""$@" > /dev/null; status=$?; times; exit $status"#,
        "sh",
        LLCLIENT,
        "--port",
        &port,
        "--cafile",
        &ca,
        "--verify-async",
        "--verify-delay-ms",
        &delay,
        "localhost",
    ];
    let out = Spawn::new("sh", &args)
        .input(Input::File(input))
        .start()
        .finish(TIMEOUT);
    let times = String::from_utf8_lossy(out.success()).into_owned();
    let cpu = children_cpu_seconds(&times);
    // Waiting is sleeping: a loop polling for the verdict would burn about
    // the whole delay.
    assert!(
        cpu < 0.5 * delay_ms as f64 / 1000.0,
        "llclient used {cpu}s of CPU while a {delay_ms}ms verification ran\n{}",
        out.frame("llclient under sh")
    );
    server.assert_healthy();
}

#[test]
fn a_verdict_that_never_comes_counts_as_a_slow_handshake() {
    let mut server = slow_verifier("1");
    let (chain, key) = (repo("certs/client-fullchain.pem"), repo("certs/client.key"));
    // Dropped by the server's handshake timeout rather than held for the
    // ten minutes the verification would take (TIMEOUT bounds the wait).
    let line = http_client(
        server.port,
        &[
            "--cafile",
            &ca(),
            "--auth-certs",
            &chain,
            "--auth-key",
            &key,
        ],
        "localhost",
    )
    .failure_line();
    assert!(line.contains("peer closed the connection"), "{line}");
    server.assert_healthy();
}
