//! Interoperability with OpenSSL: `openssl s_client` against `llserver`, and `llclient`
//! against `openssl s_server`, over real loopback sockets.
//!
//! Covers TLS 1.3 and TLS 1.2, ECDSA and RSA certificates, client authentication, ALPN,
//! AES-GCM and ChaCha20 suites, 8 MiB byte-exact each way, session resumption (tickets and
//! the stateful cache), 0-RTT accepted and rejected, key updates from either side, and peers
//! limited to one version. Needs the `openssl` command line (written against OpenSSL 3.0).
//!
//! s_client's `-brief` keeps stdout for application data and prints the connection summary
//! on stderr; without it, stdout also carries the session summary (`New,`/`Reused,`), which
//! the resumption tests read. s_server prints `ACCEPT` once it listens, and before the
//! client's data a header ending with the `Secure Renegotiation` line.

mod harness;

use std::io::Write;
use std::thread;

use harness::data::{contains, find, rfind, Rng};
use harness::process::{
    openssl_s_client, openssl_s_server_for_one, Input, LlServer, Proc, Spawn, LLCLIENT,
};
use harness::{repo, scratch, HTTP_RESPONSE, TIMEOUT};

#[derive(Clone, Copy, Debug)]
enum Pki {
    Ecdsa,
    Rsa,
}

impl Pki {
    fn dir(self) -> &'static str {
        match self {
            Pki::Ecdsa => "certs",
            Pki::Rsa => "certs/rsa",
        }
    }

    fn path(self, file: &str) -> String {
        repo(&format!("{}/{file}", self.dir()))
    }

    /// The TLS 1.2 suite both sides prefer with this key type.
    fn tls12_suite(self) -> &'static str {
        match self {
            Pki::Ecdsa => "ECDHE-ECDSA-AES256-GCM-SHA384",
            Pki::Rsa => "ECDHE-RSA-AES256-GCM-SHA384",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Version {
    Tls12,
    Tls13,
}

impl Version {
    fn openssl_flag(self) -> &'static str {
        match self {
            Version::Tls12 => "-tls1_2",
            Version::Tls13 => "-tls1_3",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Version::Tls12 => "TLSv1.2",
            Version::Tls13 => "TLSv1.3",
        }
    }

    fn protover(self) -> &'static str {
        match self {
            Version::Tls12 => "1.2",
            Version::Tls13 => "1.3",
        }
    }
}

/// Both record layers after the handshake: lltls's in-place one (the
/// default) and rustls's.
const RECORD_LAYERS: [&str; 2] = ["in-place", "rustls"];

fn llserver(pki: Pki, extra: &[&str]) -> LlServer {
    let certs = pki.path("fullchain.pem");
    let key = pki.path("server.key");
    let mut args = vec!["--certs", &certs, "--key", &key];
    args.extend_from_slice(extra);
    LlServer::start(&args)
}

/// `openssl s_client` to `port`, verifying the server against `pki`'s root. Its stdin is
/// data only (`-nocommands`): s_client otherwise takes a read of stdin starting with `Q`, `R`,
/// `K` or `k` as a command.
fn s_client(port: u16, pki: Pki, extra: &[&str]) -> Proc {
    let mut args = vec!["-nocommands"];
    args.extend_from_slice(extra);
    s_client_with_commands(port, pki, &args)
}

/// `openssl s_client` reading command letters from stdin (e.g. `K` for a key update).
fn s_client_with_commands(port: u16, pki: Pki, extra: &[&str]) -> Proc {
    openssl_s_client(port, &pki.path("ca.pem"), extra)
}

/// Sends `line` through an echo connection, waits for it to come back, then closes stdin
/// (s_client then sends close_notify and exits). Returns the client's stdout.
fn echo_line(client: &mut Proc, line: &str) -> Vec<u8> {
    client.write(line.as_bytes());
    client.wait_stdout_contains(line, TIMEOUT);
    client.close_stdin();
    client.wait_success(TIMEOUT);
    client.stdout()
}

/// The connection summary s_client's `-brief` prints on stderr.
fn assert_summary(client: &Proc, version: Version, suite: &str) {
    let stderr = client.stderr();
    for expected in [
        format!("Protocol version: {}", version.name()),
        format!("Ciphersuite: {suite}"),
        "Verification: OK".to_owned(),
    ] {
        assert!(
            stderr.contains(&expected),
            "{}",
            client.frame(&format!("no {expected:?}"))
        );
    }
}

#[test]
fn s_client_echo_over_tls13_and_tls12_with_ecdsa_and_rsa() {
    for pki in [Pki::Ecdsa, Pki::Rsa] {
        let mut server = llserver(pki, &["echo"]);
        for version in [Version::Tls13, Version::Tls12] {
            let mut client = s_client(server.port, pki, &["-brief", version.openssl_flag()]);
            let line = format!("echo {pki:?} {version:?}\n");
            let stdout = echo_line(&mut client, &line);
            assert_eq!(stdout, line.as_bytes(), "{}", client.frame("echo differs"));
            let suite = match version {
                Version::Tls13 => "TLS_AES_256_GCM_SHA384",
                Version::Tls12 => pki.tls12_suite(),
            };
            assert_summary(&client, version, suite);
        }
        server.assert_healthy();
    }
}

#[test]
fn s_client_gets_the_http_response_and_the_servers_close() {
    let mut server = llserver(Pki::Ecdsa, &["http"]);
    for version in [Version::Tls13, Version::Tls12] {
        let mut client = s_client(server.port, Pki::Ecdsa, &["-brief", version.openssl_flag()]);
        client.write(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
        // The server answers once and sends close_notify: s_client exits with stdin still open.
        client.wait_success(TIMEOUT);
        assert_eq!(
            client.stdout(),
            HTTP_RESPONSE,
            "{}",
            client.frame("wrong response")
        );
        assert_summary(&client, version, "");
    }
    server.assert_healthy();
}

#[test]
fn s_client_with_client_certificate_and_alpn() {
    for pki in [Pki::Ecdsa, Pki::Rsa] {
        let auth = pki.path("ca.pem");
        let mut server = llserver(
            pki,
            &[
                "--auth",
                &auth,
                "--require-auth",
                "--proto",
                "http/1.1",
                "echo",
            ],
        );
        let (cert, key) = (pki.path("client.pem"), pki.path("client.key"));
        for version in [Version::Tls13, Version::Tls12] {
            // Without -brief, stdout has the session summary, with the ALPN result.
            let mut client = s_client(
                server.port,
                pki,
                &[
                    "-cert",
                    &cert,
                    "-key",
                    &key,
                    "-alpn",
                    "h2,http/1.1",
                    version.openssl_flag(),
                ],
            );
            let stdout = echo_line(&mut client, "authenticated\n");
            for expected in [
                &b"ALPN protocol: http/1.1"[..],
                format!("New, {}", version.name()).as_bytes(),
            ] {
                assert!(contains(&stdout, expected), "{}", client.frame("summary"));
            }

            // Without a certificate the server refuses with certificate_required (116); rustls
            // sends that alert in TLS 1.2 too.
            let mut refused = s_client(server.port, pki, &["-brief", version.openssl_flag()]);
            refused.write(b"never echoed\n");
            refused.wait_stderr_contains("SSL alert number 116", TIMEOUT);
            refused.wait(TIMEOUT);
            assert!(!contains(&refused.stdout(), b"never echoed"));
        }
        server.assert_healthy();
    }
}

#[test]
fn s_client_aes_gcm_and_chacha20_suites() {
    let mut server = llserver(Pki::Ecdsa, &["echo"]);
    let cases = [
        (
            Version::Tls13,
            "-ciphersuites",
            "TLS_CHACHA20_POLY1305_SHA256",
        ),
        (Version::Tls13, "-ciphersuites", "TLS_AES_128_GCM_SHA256"),
        (Version::Tls13, "-ciphersuites", "TLS_AES_256_GCM_SHA384"),
        (Version::Tls12, "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"),
        (Version::Tls12, "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"),
    ];
    for (version, option, suite) in cases {
        let mut client = s_client(
            server.port,
            Pki::Ecdsa,
            &["-brief", version.openssl_flag(), option, suite],
        );
        echo_line(&mut client, &format!("{suite}\n"));
        assert_summary(&client, version, suite);
    }
    server.assert_healthy();
}

const EIGHT_MIB: usize = 8 << 20;

#[test]
fn eight_mib_through_llserver_echo_byte_exact() {
    for mode in RECORD_LAYERS {
        let mut server = llserver(Pki::Rsa, &["--record-layer", mode, "echo"]);
        for version in [Version::Tls13, Version::Tls12] {
            let data = Rng::new(8).bytes(EIGHT_MIB);
            let mut client = s_client(server.port, Pki::Rsa, &["-brief", version.openssl_flag()]);
            let mut stdin = client.take_stdin();
            let to_send = data.clone();
            // A thread writes while the test reads: s_client echoes as it goes, and neither pipe
            // may fill up while the other waits.
            let writer = thread::spawn(move || stdin.write_all(&to_send).map(|()| stdin));
            client.wait_stdout("8 MiB of echo", TIMEOUT, |out| out.len() >= EIGHT_MIB);
            let stdin = writer
                .join()
                .expect("writer thread")
                .expect("write 8 MiB to s_client");
            drop(stdin);
            client.wait_success(TIMEOUT);
            let echoed = client.stdout();
            assert!(
                echoed == data,
                "{}",
                client.frame(&format!("{mode}: echo differs from what was sent"))
            );
        }
        server.assert_healthy();
    }
}

/// `openssl s_server` for one connection on a free port, once it listens.
fn s_server(pki: Pki, extra: &[&str]) -> (Proc, u16) {
    openssl_s_server_for_one(pki.dir(), extra)
}

/// llclient to `port` trusting `pki`'s root, with `extra` options before the hostname.
fn llclient(port: u16, pki: Pki, extra: &[&str], envs: &[(&str, &str)]) -> Proc {
    let port = port.to_string();
    let ca = pki.path("ca.pem");
    let mut args = vec!["--port", &port, "--cafile", &ca];
    args.extend_from_slice(extra);
    args.push("localhost");
    envs.iter()
        .fold(Spawn::new(LLCLIENT, &args), |spawn, (key, value)| {
            spawn.env(key, value)
        })
        .input(Input::Piped)
        .start()
}

/// Runs llclient against s_server both ways with small messages and a clean close; returns
/// s_server's stdout.
fn llclient_exchange(server: &mut Proc, client: &mut Proc) -> Vec<u8> {
    client.write(b"hello from llclient\n");
    server.wait_stdout_contains("hello from llclient\n", TIMEOUT);
    // Only now: s_server reads stdin as soon as it accepted, and a write there would complete
    // the handshake without printing the header the tests read.
    server.write(b"hello from openssl\n");
    client.wait_stdout_contains("hello from openssl\n", TIMEOUT);
    // llclient sends close_notify at stdin EOF; s_server answers with its own and exits.
    client.close_stdin();
    client.wait_success(TIMEOUT);
    assert_eq!(
        client.stdout(),
        b"hello from openssl\n",
        "{}",
        client.frame("llclient output")
    );
    server.wait_success(TIMEOUT);
    client.assert_no_panic();
    server.stdout()
}

#[test]
fn llclient_to_s_server_over_tls13_and_tls12_with_ecdsa_and_rsa() {
    for pki in [Pki::Ecdsa, Pki::Rsa] {
        for version in [Version::Tls13, Version::Tls12] {
            let (mut server, port) = s_server(pki, &[version.openssl_flag()]);
            let mut client = llclient(port, pki, &[], &[]);
            let header = llclient_exchange(&mut server, &mut client);
            let suite = match version {
                Version::Tls13 => "TLS_AES_256_GCM_SHA384",
                Version::Tls12 => pki.tls12_suite(),
            };
            assert!(
                contains(&header, format!("CIPHER is {suite}\n").as_bytes()),
                "{}",
                server.frame("negotiated suite")
            );
        }
    }
}

#[test]
fn llclient_to_s_server_with_client_certificate_and_alpn() {
    for pki in [Pki::Ecdsa, Pki::Rsa] {
        for version in [Version::Tls13, Version::Tls12] {
            let ca = pki.path("ca.pem");
            let (mut server, port) = s_server(
                pki,
                &[
                    "-Verify",
                    "1",
                    "-verify_return_error",
                    "-CAfile",
                    &ca,
                    "-alpn",
                    "http/1.1",
                    version.openssl_flag(),
                ],
            );
            let (certs, key) = (pki.path("client-fullchain.pem"), pki.path("client.key"));
            let mut client = llclient(
                port,
                pki,
                &[
                    "--auth-certs",
                    &certs,
                    "--auth-key",
                    &key,
                    "--proto",
                    "h2",
                    "--proto",
                    "http/1.1",
                ],
                // llclient reports the ALPN result in its debug log only.
                &[("RUST_LOG", "llclient=debug")],
            );
            let stdout = llclient_exchange(&mut server, &mut client);
            assert!(
                contains(&stdout, b"Client certificate"),
                "{}",
                server.frame("no client certificate")
            );
            assert!(
                client.stderr().contains("ALPN protocol: http/1.1"),
                "{}",
                client.frame("ALPN not negotiated")
            );
        }
    }
    // s_server requiring a certificate refuses llclient without one.
    let ca = Pki::Ecdsa.path("ca.pem");
    let (_server, port) = s_server(
        Pki::Ecdsa,
        &["-Verify", "1", "-verify_return_error", "-CAfile", &ca],
    );
    let mut client = llclient(port, Pki::Ecdsa, &[], &[]);
    client.write(b"hello\n");
    let status = client.wait(TIMEOUT);
    assert!(!status.success());
    assert!(
        client
            .stderr()
            .contains("peer sent fatal alert certificate_required"),
        "{}",
        client.frame("expected certificate_required")
    );
    client.assert_no_panic();
}

#[test]
fn llclient_aes_gcm_and_chacha20_suites() {
    let cases = [
        (
            "TLS13_CHACHA20_POLY1305_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
        ),
        ("TLS13_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
        ),
    ];
    for (ours, theirs) in cases {
        let (mut server, port) = s_server(Pki::Ecdsa, &[]);
        let mut client = llclient(port, Pki::Ecdsa, &["--suite", ours], &[]);
        let header = llclient_exchange(&mut server, &mut client);
        assert!(
            contains(&header, format!("CIPHER is {theirs}\n").as_bytes()),
            "{}",
            server.frame("negotiated suite")
        );
    }
}

/// The client's data in s_server's stdout: after the connection header, before the closing
/// lines. (The data is random, so the markers are searched from the outside in.)
fn s_server_data(stdout: &[u8]) -> &[u8] {
    let header_end = find(stdout, b"Secure Renegotiation IS")
        .and_then(|at| {
            stdout[at..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|nl| at + nl + 1)
        })
        .expect("s_server header");
    let trailer = rfind(stdout, b"DONE\nshutting down SSL\n").expect("s_server closing lines");
    &stdout[header_end..trailer]
}

#[test]
fn eight_mib_each_way_between_llclient_and_s_server() {
    for (mode, version) in RECORD_LAYERS
        .into_iter()
        .flat_map(|mode| [(mode, Version::Tls13), (mode, Version::Tls12)])
    {
        let (mut server, port) = s_server(Pki::Rsa, &[version.openssl_flag()]);
        let mut client = llclient(port, Pki::Rsa, &["--record-layer", mode], &[]);
        let up = Rng::new(1).bytes(EIGHT_MIB);
        // s_server has no -nocommands: a read of its stdin starting with one of these letters
        // is a command (quit, print cleartext, renegotiate, key update…). Leave them out.
        let down: Vec<u8> = Rng::new(2)
            .bytes(EIGHT_MIB + EIGHT_MIB / 8)
            .into_iter()
            .filter(|byte| !b"QqPSrRkKc".contains(byte))
            .take(EIGHT_MIB)
            .collect();
        assert_eq!(down.len(), EIGHT_MIB);
        let mut client_in = client.take_stdin();
        let up_copy = up.clone();
        let up_writer = thread::spawn(move || client_in.write_all(&up_copy).map(|()| client_in));
        let mut server_in = server.take_stdin();
        // s_server's stdin only once its header is out (see `llclient_exchange`).
        server.wait_stdout_contains("Secure Renegotiation IS", TIMEOUT);
        let down_copy = down.clone();
        let down_writer =
            thread::spawn(move || server_in.write_all(&down_copy).map(|()| server_in));
        client.wait_stdout("8 MiB from s_server", TIMEOUT, |out| out.len() >= EIGHT_MIB);
        // s_server prints the client's data as it arrives, after its header.
        server.wait_stdout("8 MiB from llclient", TIMEOUT, |out| out.len() >= EIGHT_MIB);
        let server_in = down_writer
            .join()
            .expect("writer")
            .expect("write to s_server");
        // llclient's stdin EOF: it sends close_notify after the data, s_server answers and exits.
        drop(
            up_writer
                .join()
                .expect("writer")
                .expect("write to llclient"),
        );
        client.wait_success(TIMEOUT);
        server.wait_success(TIMEOUT);
        drop(server_in);
        let client_out = client.stdout();
        assert!(
            client_out.len() == EIGHT_MIB && client_out[..] == down[..],
            "{}",
            client.frame("llclient did not receive the 8 MiB byte-exact")
        );
        let server_out = server.stdout();
        assert!(
            s_server_data(&server_out) == up,
            "{}",
            server.frame("s_server did not receive the 8 MiB byte-exact")
        );
    }
}

/// Connects once to save a session, then again to resume it; returns the second stdout.
fn resume(port: u16, version: Version, extra_second: &[&str], line: &str) -> (Proc, Proc) {
    let session = scratch(&format!("session-{port}-{version:?}.pem"));
    let session = session.to_str().expect("utf-8 path");
    // TLS 1.3 tickets arrive after the handshake; the echo proves they were read before exit.
    let mut first = s_client(
        port,
        Pki::Ecdsa,
        &[version.openssl_flag(), "-sess_out", session],
    );
    echo_line(&mut first, "first\n");
    let mut args = vec![version.openssl_flag(), "-sess_in", session];
    args.extend_from_slice(extra_second);
    let mut second = s_client(port, Pki::Ecdsa, &args);
    echo_line(&mut second, line);
    (first, second)
}

#[test]
fn s_client_resumes_with_tickets_and_with_the_stateful_cache() {
    for (mode, server_args) in RECORD_LAYERS
        .into_iter()
        .flat_map(|mode| [(mode, &["--tickets", "echo"][..]), (mode, &["echo"][..])])
    {
        let mut args = vec!["--record-layer", mode];
        args.extend_from_slice(server_args);
        let mut server = llserver(Pki::Ecdsa, &args);
        for version in [Version::Tls13, Version::Tls12] {
            let (first, second) = resume(server.port, version, &[], "second\n");
            let new = format!("New, {}", version.name());
            let reused = format!("Reused, {}", version.name());
            assert!(
                contains(&first.stdout(), new.as_bytes()),
                "{}",
                first.frame(&new)
            );
            assert!(
                contains(&second.stdout(), reused.as_bytes()),
                "{}",
                second.frame(&format!("{reused} with llserver {server_args:?}"))
            );
        }
        server.assert_healthy();
    }
}

#[test]
fn s_client_early_data_is_accepted_and_echoed() {
    let mut server = llserver(Pki::Ecdsa, &["--max-early-data", "1024", "echo"]);
    let early = scratch("early-data.txt");
    std::fs::write(&early, b"early data line\n").expect("write early data file");
    let early = early.to_str().expect("utf-8 path");
    let (_, second) = resume(
        server.port,
        Version::Tls13,
        &["-early_data", early],
        "after the handshake\n",
    );
    let stdout = second.stdout();
    for expected in [
        &b"Reused, TLSv1.3"[..],
        b"Early data was accepted",
        b"early data line\n",
    ] {
        assert!(
            contains(&stdout, expected),
            "{}",
            second.frame(&String::from_utf8_lossy(expected))
        );
    }
    server.assert_healthy();
}

#[test]
fn early_data_is_rejected_cleanly_by_a_server_that_does_not_allow_it() {
    // A ticket that allows 0-RTT, from a server that accepted early data (rustls offers 0-RTT
    // on stateful tickets only: not with --tickets) …
    let allowing = llserver(Pki::Ecdsa, &["--max-early-data", "1024", "echo"]);
    let session = scratch("reject-session.pem");
    let session = session.to_str().expect("utf-8 path");
    let mut first = s_client(
        allowing.port,
        Pki::Ecdsa,
        &["-tls1_3", "-sess_out", session],
    );
    echo_line(&mut first, "first\n");
    drop(allowing);
    // … offered to one that does not (e.g. restarted without it): s_client sends the early
    // data, the server skips it, completes a full handshake, and the connection works.
    let mut refusing = llserver(Pki::Ecdsa, &["echo"]);
    let early = scratch("rejected-early-data.txt");
    std::fs::write(&early, b"early data line\n").expect("write early data file");
    let early = early.to_str().expect("utf-8 path");
    let mut second = s_client(
        refusing.port,
        Pki::Ecdsa,
        &["-tls1_3", "-sess_in", session, "-early_data", early],
    );
    let stdout = echo_line(&mut second, "after the handshake\n");
    assert!(
        contains(&stdout, b"Early data was rejected"),
        "{}",
        second.frame("rejection")
    );
    assert!(
        !contains(&stdout, b"early data line"),
        "{}",
        second.frame("rejected data was echoed")
    );
    refusing.assert_healthy();
}

/// Where a KeyUpdate received by an OpenSSL peer shows in its `-msg` output.
const KEY_UPDATE_RECEIVED: &[u8] = b"<<< TLS 1.3, Handshake [length 0005], KeyUpdate";
/// … and one it sent.
const KEY_UPDATE_SENT: &[u8] = b">>> TLS 1.3, Handshake [length 0005], KeyUpdate";

/// Position of `line` in `out` (a line of its own), or panics with the frame.
fn line_at(peer: &Proc, out: &[u8], line: &str) -> usize {
    find(out, format!("\n{line}").as_bytes())
        .unwrap_or_else(|| panic!("{}", peer.frame(&format!("no line {line:?}"))))
}

#[test]
fn key_updates_from_s_client_mid_echo_keep_data_flowing() {
    for mode in RECORD_LAYERS {
        let mut server = llserver(Pki::Ecdsa, &["--record-layer", mode, "echo"]);
        // -msg prints each TLS message (">>>" sent, "<<<" received) on stdout.
        let mut client = s_client_with_commands(server.port, Pki::Ecdsa, &["-tls1_3", "-msg"]);
        client.write(b"before\n");
        client.wait_stdout_contains("before\n", TIMEOUT);
        // `K`: update and request the server's update. RFC 8446 §4.6.3: the server MUST send its
        // own KeyUpdate before its next application data (rustls sends it right then), so it
        // precedes the echo of the next line.
        client.write(b"K\n");
        // s_client takes a command from one read of stdin, whatever follows it in that read: the
        // next line may only be written once the command was carried out.
        client.wait_stdout("our KeyUpdate", TIMEOUT, |out| {
            contains(out, KEY_UPDATE_SENT)
        });
        client.write(b"after requested update\n");
        client.wait_stdout_contains("after requested update\n", TIMEOUT);
        // `k`: update without request: the server only switches its receiving keys.
        client.write(b"k\n");
        client.wait_stdout("our second KeyUpdate", TIMEOUT, |out| {
            out.windows(KEY_UPDATE_SENT.len())
                .filter(|w| *w == KEY_UPDATE_SENT)
                .count()
                == 2
        });
        client.write(b"after plain update\n");
        client.wait_stdout_contains("after plain update\n", TIMEOUT);
        client.close_stdin();
        client.wait_success(TIMEOUT);
        let stdout = client.stdout();
        let updates: Vec<usize> = (0..stdout.len())
            .filter(|&at| stdout[at..].starts_with(KEY_UPDATE_RECEIVED))
            .collect();
        assert_eq!(
            updates.len(),
            1,
            "{}",
            client.frame("exactly one KeyUpdate from the server")
        );
        let (before, after) = (
            line_at(&client, &stdout, "before"),
            line_at(&client, &stdout, "after requested update"),
        );
        assert!(
            before < updates[0] && updates[0] < after,
            "{}",
            client.frame("the server's KeyUpdate must come right before its next data")
        );
        assert_eq!(
            client.stderr().matches("KEYUPDATE").count(),
            2,
            "{}",
            client.frame("two updates sent")
        );
        server.assert_healthy();
    }
}

#[test]
fn key_updates_from_s_server_reach_llclient() {
    for mode in RECORD_LAYERS {
        let (mut server, port) = s_server(Pki::Ecdsa, &["-tls1_3", "-msg"]);
        let mut client = llclient(port, Pki::Ecdsa, &["--record-layer", mode], &[]);
        client.write(b"ping\n");
        server.wait_stdout_contains("ping\n", TIMEOUT);
        // s_server's `K` command: update and request llclient's update.
        server.write(b"K\n");
        // As s_client, s_server takes a command from one whole read of stdin.
        server.wait_stdout("s_server's KeyUpdate", TIMEOUT, |out| {
            contains(out, KEY_UPDATE_SENT)
        });
        server.write(b"data after the update\n");
        client.wait_stdout_contains("data after the update\n", TIMEOUT);
        // llclient answers with its own KeyUpdate before its next data.
        client.write(b"pong\n");
        server.wait_stdout_contains("pong\n", TIMEOUT);
        client.close_stdin();
        client.wait_success(TIMEOUT);
        server.wait_success(TIMEOUT);
        let stdout = server.stdout();
        let update = find(&stdout, KEY_UPDATE_RECEIVED)
            .unwrap_or_else(|| panic!("{}", server.frame("no KeyUpdate from llclient")));
        assert!(
            line_at(&server, &stdout, "ping") < update
                && update < line_at(&server, &stdout, "pong"),
            "{}",
            server.frame(&format!(
                "{mode}: llclient's KeyUpdate must come right before its next data"
            ))
        );
        client.assert_no_panic();
    }
}

#[test]
fn single_version_openssl_clients_against_llserver() {
    // llserver offering both versions negotiates whichever the client has.
    let mut both = llserver(Pki::Ecdsa, &["echo"]);
    for version in [Version::Tls12, Version::Tls13] {
        let mut client = s_client(both.port, Pki::Ecdsa, &["-brief", version.openssl_flag()]);
        echo_line(&mut client, "versions\n");
        let expected = format!("Protocol version: {}", version.name());
        assert!(
            client.stderr().contains(&expected),
            "{}",
            client.frame(&expected)
        );
    }
    both.assert_healthy();
    // No version in common: llserver sends protocol_version (70).
    for (server_version, client_version) in [
        (Version::Tls13, Version::Tls12),
        (Version::Tls12, Version::Tls13),
    ] {
        let mut server = llserver(
            Pki::Ecdsa,
            &["--protover", server_version.protover(), "echo"],
        );
        let mut client = s_client(
            server.port,
            Pki::Ecdsa,
            &["-brief", client_version.openssl_flag()],
        );
        client.write(b"x\n");
        client.wait_stderr_contains("SSL alert number 70", TIMEOUT);
        assert!(
            !client.wait(TIMEOUT).success(),
            "{}",
            client.frame("must fail")
        );
        // The server goes on serving clients it can talk to.
        let mut ok = s_client(
            server.port,
            Pki::Ecdsa,
            &["-brief", server_version.openssl_flag()],
        );
        echo_line(&mut ok, "still serving\n");
        server.assert_healthy();
    }
}

#[test]
fn single_version_openssl_servers_against_llclient() {
    for version in [Version::Tls12, Version::Tls13] {
        let (mut server, port) = s_server(Pki::Ecdsa, &[version.openssl_flag()]);
        let mut client = llclient(port, Pki::Ecdsa, &[], &[]);
        let header = llclient_exchange(&mut server, &mut client);
        let suite = match version {
            Version::Tls13 => "TLS_AES_256_GCM_SHA384",
            Version::Tls12 => Pki::Ecdsa.tls12_suite(),
        };
        assert!(
            contains(&header, format!("CIPHER is {suite}\n").as_bytes()),
            "{}",
            server.frame("suite")
        );
    }
    // No version in common: OpenSSL sends protocol_version, llclient reports it and fails.
    for (server_version, client_version) in [
        (Version::Tls13, Version::Tls12),
        (Version::Tls12, Version::Tls13),
    ] {
        let (_server, port) = s_server(Pki::Ecdsa, &[server_version.openssl_flag()]);
        let mut client = llclient(
            port,
            Pki::Ecdsa,
            &["--protover", client_version.protover()],
            &[],
        );
        client.close_stdin();
        let status = client.wait(TIMEOUT);
        assert_eq!(status.code(), Some(1), "{}", client.frame("exit code"));
        assert!(
            client
                .stderr()
                .contains("peer sent fatal alert protocol_version"),
            "{}",
            client.frame("expected protocol_version")
        );
        client.assert_no_panic();
    }
}

#[test]
fn tls12_renegotiation_from_s_client_is_refused_with_a_warning() {
    for mode in RECORD_LAYERS {
        let mut server = llserver(Pki::Ecdsa, &["--record-layer", mode, "echo"]);
        let mut client = s_client_with_commands(server.port, Pki::Ecdsa, &["-tls1_2", "-msg"]);
        client.write(b"before\n");
        client.wait_stdout_contains("before\n", TIMEOUT);
        // `R`: a renegotiating ClientHello. rustls does not renegotiate: it answers with a
        // no_renegotiation warning (RFC 5746); OpenSSL then gives up with its own fatal alert.
        client.write(b"R\n");
        client.wait_stdout_contains(
            "<<< TLS 1.2, Alert [length 0002], warning no_renegotiation",
            TIMEOUT,
        );
        client.close_stdin();
        client.wait(TIMEOUT);
        // The refusal cost only that connection.
        let mut next = s_client(server.port, Pki::Ecdsa, &["-brief", "-tls1_2"]);
        echo_line(&mut next, "after the refusal\n");
        server.assert_healthy();
    }
}
