//! scripts/compare-logs.sh: our `--verbose` logs against the upstream
//! programs' (tests/data/reference/tls13-rsa-http/), and what it reports
//! when they differ.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Every child gets this long; `timeout` kills it after.
const RUN_TIMEOUT_SECS: &str = "120";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn reference(file: &str) -> PathBuf {
    root()
        .join("tests/data/reference/tls13-rsa-http")
        .join(file)
}

/// A fresh scratch directory for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("compare_logs-{test}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the script (bounded by `timeout`) with `args`.
fn compare_logs(args: &[&str]) -> Output {
    Command::new("timeout")
        .arg(RUN_TIMEOUT_SECS)
        .arg("bash")
        .arg(root().join("scripts/compare-logs.sh"))
        .args(args)
        .env("LLSERVER", env!("CARGO_BIN_EXE_llserver"))
        .env("LLCLIENT", env!("CARGO_BIN_EXE_llclient"))
        .current_dir(root())
        .output()
        .unwrap()
}

fn framed(what: &str, output: &Output) -> String {
    format!(
        "==== {what}: {}\n---- stdout\n{}\n---- stderr\n{}\n====",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs llserver and llclient with the reference recording's options
/// (commands.txt) and `--verbose`; returns the paths of their stderr logs.
fn run_pair(dir: &Path) -> (PathBuf, PathBuf) {
    let pki = root().join("tests/data/reference/pki");
    let server_log = dir.join("server.stderr");
    let client_log = dir.join("client.stderr");
    let mut server = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_llserver"))
            .args([
                "--verbose",
                "--record-layer",
                "rustls",
                "--port",
                "0",
                "--certs",
            ])
            .arg(pki.join("rsa-server-fullchain.pem"))
            .arg("--key")
            .arg(pki.join("rsa-server.key"))
            .arg("http")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&server_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let stdout = server.0.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                let _ = sender.send(addr.to_owned());
                return;
            }
        }
    });
    let addr = receiver
        .recv_timeout(STARTUP_TIMEOUT)
        .expect("llserver did not say where it listens");
    let port = addr.rsplit(':').next().unwrap().to_owned();
    let client = Command::new("timeout")
        .arg(RUN_TIMEOUT_SECS)
        .arg(env!("CARGO_BIN_EXE_llclient"))
        .args(["--verbose", "--record-layer", "rustls", "--port", &port])
        .args(["--http", "--cafile"])
        .arg(pki.join("rsa-ca.pem"))
        .arg("localhost")
        .stdin(Stdio::null())
        .stderr(File::create(&client_log).unwrap())
        .output()
        .unwrap();
    assert!(client.status.success(), "{}", framed("llclient", &client));
    assert!(String::from_utf8_lossy(&client.stdout).contains("Hello world from rustls tlsserver"));
    // Every rustls event of the server precedes its close_notify, which the
    // client waited for: the server log is complete for the comparison.
    drop(server);
    (client_log, server_log)
}

#[test]
fn our_run_matches_the_upstream_logs() {
    let dir = scratch("match");
    let (client_log, server_log) = run_pair(&dir);
    for (ours, upstream) in [
        (&client_log, reference("client.stderr")),
        (&server_log, reference("server.stderr")),
    ] {
        let output = compare_logs(&[ours.to_str().unwrap(), upstream.to_str().unwrap()]);
        assert!(output.status.success(), "{}", framed("compare", &output));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("rustls events match: 12 events"),
            "{stdout}"
        );
    }
}

#[test]
fn run_mode_runs_the_pair_itself() {
    let output = compare_logs(&["--run"]);
    assert!(
        output.status.success(),
        "{}",
        framed("compare --run", &output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.matches("rustls events match").count(), 2, "{stdout}");
}

#[test]
fn altered_log_is_reported() {
    let dir = scratch("altered");
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
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        framed("compare", &output)
    );
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
    let dir = scratch("normalise");
    let a = dir.join("a.log");
    let b = dir.join("b.log");
    fs::write(&a, LOG_A).unwrap();
    fs::write(&b, LOG_B).unwrap();
    let output = compare_logs(&["-v", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(output.status.success(), "{}", framed("compare", &output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Program lines are listed apart, mio's dropped.
    assert!(
        stdout.contains(
            "  DEBUG tlsserver_mio Accepting new connection from [::ffff:127.0.0.1]:<port>"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("  DEBUG llclient connecting to 127.0.0.1:<port>"),
        "{stdout}"
    );
    assert!(!stdout.contains("mio::poll"), "{stdout}");

    // A different level is a different event.
    let c = dir.join("c.log");
    fs::write(&c, LOG_B.replacen("DEBUG rustls", "TRACE rustls", 1)).unwrap();
    let output = compare_logs(&[a.to_str().unwrap(), c.to_str().unwrap()]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        framed("compare", &output)
    );
    assert!(String::from_utf8_lossy(&output.stdout)
        .contains("+TRACE rustls::client::hs No cached session for DnsName(\"localhost\")"));
}

#[test]
fn missing_file_is_a_usage_error() {
    let output = compare_logs(&["/nonexistent/ours.log", "/nonexistent/upstream.log"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{}",
        framed("compare", &output)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read /nonexistent/ours.log"));
}
