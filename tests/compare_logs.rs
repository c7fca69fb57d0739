//! scripts/compare-logs.sh: our `--verbose` logs against the upstream
//! programs' (tests/data/reference/tls13-rsa-http/), and what it reports
//! when they differ.

mod harness;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::process::{llclient, Finished, Input, LlServer, Spawn, LLCLIENT, LLSERVER};
use harness::{repo, scratch_dir, HTTP_RESPONSE};

/// Upper bound for one run of the script (`--run` starts both programs itself).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

fn reference(file: &str) -> PathBuf {
    Path::new(&repo("tests/data/reference/tls13-rsa-http")).join(file)
}

/// Runs the script with `args` (bounded by [`SCRIPT_TIMEOUT`]; on timeout it is killed with
/// everything it started).
fn compare_logs(args: &[&str]) -> Finished {
    let mut all = vec![repo("scripts/compare-logs.sh")];
    all.extend(args.iter().map(|arg| arg.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    Spawn::new("bash", &all)
        .env("LLSERVER", LLSERVER)
        .env("LLCLIENT", LLCLIENT)
        .current_dir(repo(""))
        .own_process_group()
        .start()
        .finish(SCRIPT_TIMEOUT)
}

/// Runs llserver and llclient with the reference recording's options
/// (commands.txt) and `--verbose`; writes their stderr logs to `dir` and
/// returns the paths (client's, server's).
fn run_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let pki = repo("tests/data/reference/pki");
    let server = LlServer::start(&[
        "--verbose",
        "--record-layer",
        "rustls",
        "--certs",
        &format!("{pki}/rsa-server-fullchain.pem"),
        "--key",
        &format!("{pki}/rsa-server.key"),
        "http",
    ]);
    let client = llclient(
        server.port,
        &[
            "--verbose",
            "--record-layer",
            "rustls",
            "--http",
            "--cafile",
            &format!("{pki}/rsa-ca.pem"),
            "localhost",
        ],
        Input::Null,
    );
    assert!(
        harness::data::contains(client.success(), HTTP_RESPONSE),
        "{}",
        client.frame("no response")
    );
    // Every rustls event of the server precedes its close_notify, which the
    // client waited for: the server log is complete for the comparison.
    let server = server.proc.stop();
    let server_log = dir.join("server.stderr");
    let client_log = dir.join("client.stderr");
    fs::write(&server_log, &server.stderr).unwrap();
    fs::write(&client_log, &client.stderr).unwrap();
    (client_log, server_log)
}

#[test]
fn our_run_matches_the_upstream_logs() {
    let dir = scratch_dir("compare_logs-match");
    let (client_log, server_log) = run_pair(&dir);
    for (ours, upstream, answers) in [
        (&client_log, reference("client.stderr"), true),
        (&server_log, reference("server.stderr"), false),
    ] {
        let output = compare_logs(&[ours.to_str().unwrap(), upstream.to_str().unwrap()]);
        output.success();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("rustls events match: 12 events"),
            "{stdout}"
        );
        // llclient answers the server's close_notify; upstream's client
        // does not: reported apart, not hidden.
        assert_eq!(
            stdout.contains("known difference: ") && stdout.contains("close_notify"),
            answers,
            "{stdout}"
        );
    }
    // The other way round it is no known difference: the answer is missing.
    let output = compare_logs(&[
        reference("client.stderr").to_str().unwrap(),
        client_log.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", output.frame("compare"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("+DEBUG rustls::common_state Sending warning alert CloseNotify"),
        "{stdout}"
    );
}

#[test]
fn run_mode_runs_the_pair_itself() {
    let output = compare_logs(&["--run"]);
    output.success();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.matches("rustls events match").count(), 2, "{stdout}");
}

#[test]
fn altered_log_is_reported() {
    let dir = scratch_dir("compare_logs-altered");
    let (client_log, _) = run_pair(&dir);
    let upstream = fs::read_to_string(reference("client.stderr")).unwrap();
    let altered: String = upstream
        .lines()
        .filter(|line| !line.contains("Dropping CCS"))
        .map(|line| {
            line.replace(
                "Using ciphersuite TLS13_AES_256",
                "Using ciphersuite TLS13_AES_128",
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(altered, upstream);
    let altered_path = dir.join("altered.stderr");
    fs::write(&altered_path, altered).unwrap();
    let output = compare_logs(&[client_log.to_str().unwrap(), altered_path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", output.frame("compare"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in [
        "rustls events differ: 12 in",
        "-DEBUG rustls::client::hs Using ciphersuite TLS13_AES_256_GCM_SHA384",
        "+DEBUG rustls::client::hs Using ciphersuite TLS13_AES_128_GCM_SHA384",
        "-TRACE rustls::conn Dropping CCS",
    ] {
        assert!(stdout.contains(line), "{line:?} not reported:\n{stdout}");
    }
}

/// Two logs of the same events, differing only where runs always differ.
const LOG_A: &str = "\
[2026-11-28T16:11:07Z DEBUG rustls::client::hs] No cached session for DnsName(\"localhost\")
[2026-11-28T16:11:07Z TRACE mio::poll] registering event source with poller: token=Token(0), interests=WRITABLE
[2026-11-28T16:11:07Z TRACE rustls::client::hs] We got ServerHello ServerHelloPayload {
        random: c4e95592e5656a5192bd56064653dacb9f2443eb3b79c71608f9f5b870c731b9,
        cipher_suite: TLS13_AES_256_GCM_SHA384,
    }
[2026-11-28T16:11:07Z DEBUG tlsserver_mio] Accepting new connection from [::ffff:127.0.0.1]:51406
[2026-11-28T16:11:07Z TRACE rustls::server::tls13] sending new ticket NewSessionTicketPayloadTls13 { lifetime: 86400, age_add: 3734367949, nonce: 8877eb7f5a9f121024cacd388fe7e837 }
";

const LOG_B: &str = "\
[2027-01-01T00:00:00Z DEBUG rustls::client::hs] No cached session for DnsName(\"localhost\")
[2027-01-01T00:00:00Z DEBUG llclient] connecting to 127.0.0.1:40000
[2027-01-01T00:00:00Z TRACE rustls::client::hs] We got ServerHello ServerHelloPayload {
    random: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef,
    cipher_suite: TLS13_AES_256_GCM_SHA384,
}
[2027-01-01T00:00:00Z TRACE lltls::net] idle: buffers released
[2027-01-01T00:00:00Z TRACE rustls::server::tls13] sending new ticket NewSessionTicketPayloadTls13 { lifetime: 86400, age_add: 17, nonce: 00000000000000000000000000000000 }
";

#[test]
fn normalisation_ignores_what_differs_between_runs() {
    let dir = scratch_dir("compare_logs-normalise");
    let a = dir.join("a.log");
    let b = dir.join("b.log");
    fs::write(&a, LOG_A).unwrap();
    fs::write(&b, LOG_B).unwrap();
    let output = compare_logs(&["-v", a.to_str().unwrap(), b.to_str().unwrap()]);
    output.success();
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Program lines are compared and listed apart from the verdict, mio's
    // dropped.
    assert!(
        stdout.contains("program log lines: differ")
            && stdout.contains("[not part of the verdict]"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "DEBUG tlsserver_mio Accepting new connection from [::ffff:127.0.0.1]:<port>"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("DEBUG llclient connecting to 127.0.0.1:<port>"),
        "{stdout}"
    );
    assert!(!stdout.contains("mio::poll"), "{stdout}");

    // A different level is a different event.
    let c = dir.join("c.log");
    fs::write(&c, LOG_B.replacen("DEBUG rustls", "TRACE rustls", 1)).unwrap();
    let output = compare_logs(&[a.to_str().unwrap(), c.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", output.frame("compare"));
    assert!(String::from_utf8_lossy(&output.stdout)
        .contains("+TRACE rustls::client::hs No cached session for DnsName(\"localhost\")"));
}

/// A line that is not a log record (a program's error on stderr) is other
/// output, not a continuation of the rustls event before it: it cannot make
/// rustls's events differ, and it is reported on its own.
#[test]
fn non_log_lines_are_other_output() {
    let dir = scratch_dir("compare_logs-other");
    let a = dir.join("a.log");
    let b = dir.join("b.log");
    fs::write(
        &a,
        format!("{LOG_A}llclient: TLS error: something went wrong\n"),
    )
    .unwrap();
    fs::write(&b, LOG_A).unwrap();
    let output = compare_logs(&["-v", a.to_str().unwrap(), b.to_str().unwrap()]);
    output.success();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("rustls events match"), "{stdout}");
    assert!(
        stdout.contains("other output (not log lines): differ, 1 in"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-llclient: TLS error: something went wrong"),
        "{stdout}"
    );
}

#[test]
fn missing_file_is_a_usage_error() {
    let output = compare_logs(&["/nonexistent/ours.log", "/nonexistent/upstream.log"]);
    assert_eq!(output.status.code(), Some(2), "{}", output.frame("compare"));
    assert!(output.stderr.contains("cannot read /nonexistent/ours.log"));
}
