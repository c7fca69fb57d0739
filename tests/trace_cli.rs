//! `--trace` and `--sequence-diagram` on llclient and llserver: what they
//! print equals what an independent TCP relay between them sees, and
//! tracing changes nothing on the wire.

mod harness;

use std::fs;
use std::io;
use std::path::Path;

use harness::net::{Dir, Relay};
use harness::pair::records;
use harness::process::{llclient_with, Finished, LlServer, Spawn, LLCLIENT, LLSERVER};
use harness::{repo, scratch_dir, TIMEOUT};

/// (content type, size) of each record going one way.
type Records = Vec<(u8, usize)>;
/// The client-to-server records, then the server-to-client ones.
type Wire = (Records, Records);

/// llserver with `args`, run from the repository (the tests pass relative paths).
fn start_server(args: &[&str]) -> LlServer {
    LlServer::start_with(Spawn::new(LLSERVER, args).current_dir(repo("")))
}

/// The first `count` trace lines llserver prints on stderr (it prints the last ones when the
/// connection ends), waiting for them (bounded).
fn server_trace_lines(server: &LlServer, count: usize) -> Vec<String> {
    server
        .proc
        .wait_stderr(&format!("{count} trace lines"), TIMEOUT, |stderr| {
            trace_lines(stderr).len() >= count
        });
    let mut lines = trace_lines(&server.proc.stderr());
    lines.truncate(count);
    lines
}

/// What an independent TCP relay between the client and the server saw: the (C>S, S>C)
/// records, once the connection ended.
fn relayed(relay: &Relay) -> Wire {
    (
        records(&relay.bytes(Dir::ClientToServer)),
        records(&relay.bytes(Dir::ServerToClient)),
    )
}

/// `llclient --port PORT --http ARGS… localhost`, run from the repository; asserts success.
fn run_client(port: u16, args: &[&str]) -> Finished {
    let mut all = vec!["--http"];
    all.extend_from_slice(args);
    all.push("localhost");
    let output = llclient_with(port, Spawn::new(LLCLIENT, &all).current_dir(repo("")));
    output.success();
    output
}

/// `C>S  Handshake  1460B  ClientHello` -> (direction, content type, size).
fn parse_trace_line(line: &str) -> Option<(String, u8, usize)> {
    let mut fields = line.splitn(4, "  ");
    let direction = fields.next()?;
    if direction != "C>S" && direction != "S>C" {
        return None;
    }
    let content_type = match fields.next()? {
        "ChangeCipherSpec" => 20,
        "Alert" => 21,
        "Handshake" => 22,
        "ApplicationData" => 23,
        _ => return None,
    };
    let size = fields.next()?.strip_suffix('B')?.parse().ok()?;
    fields.next()?;
    Some((direction.to_owned(), content_type, size))
}

fn trace_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|line| parse_trace_line(line).is_some())
        .map(str::to_owned)
        .collect()
}

/// The (direction, type, size) of each traced record, per direction.
fn split(lines: &[String]) -> Wire {
    let mut c2s = Vec::new();
    let mut s2c = Vec::new();
    for line in lines {
        let (direction, content_type, size) = parse_trace_line(line).unwrap();
        if direction == "C>S" {
            c2s.push((content_type, size));
        } else {
            s2c.push((content_type, size));
        }
    }
    (c2s, s2c)
}

const RSA_SERVER: &[&str] = &["--certs", "certs/rsa"];
const RSA_CLIENT: &[&str] = &["--cafile", "certs/rsa/ca.pem"];

struct Run {
    client_lines: Vec<String>,
    server_lines: Vec<String>,
    wire: Wire,
    client_stdout: String,
}

/// One http exchange llclient -> relay -> llserver with the given extra
/// options on each side.
fn run(server_args: &[&str], client_args: &[&str], traced: bool) -> Run {
    let mut args = RSA_SERVER.to_vec();
    args.extend_from_slice(server_args);
    args.push("http");
    let server = start_server(&args);
    let relay = Relay::start(server.port);
    let mut args = RSA_CLIENT.to_vec();
    args.extend_from_slice(client_args);
    let client = run_client(relay.port, &args);
    let wire = relayed(&relay);
    let client_lines = trace_lines(&client.stderr);
    let server_lines = if traced {
        server_trace_lines(&server, wire.0.len() + wire.1.len())
    } else {
        Vec::new()
    };
    drop(server);
    Run {
        client_lines,
        server_lines,
        wire,
        client_stdout: String::from_utf8_lossy(&client.stdout).into_owned(),
    }
}

#[test]
fn trace_equals_the_records_a_relay_sees() {
    let run = run(&["--trace"], &["--trace"], true);
    assert!(run
        .client_stdout
        .contains("Hello world from rustls tlsserver"));
    assert_eq!(split(&run.client_lines), run.wire, "client trace vs relay");
    assert_eq!(split(&run.server_lines), run.wire, "server trace vs relay");
    assert_eq!(
        run.client_lines, run.server_lines,
        "client and server views"
    );
    let expected_start = [
        "C>S  Handshake  1460B  ClientHello",
        "S>C  Handshake  1215B  ServerHello",
        "S>C  ChangeCipherSpec  6B  ChangeCipherSpec",
    ];
    assert_eq!(run.client_lines[..3], expected_start);
    for inner in [
        "[enc] EncryptedExtensions,Certificate,CertificateVerify,Finished",
        "  74B  [enc] Finished",
        "  103B  [enc] ApplicationData 81B",
        "[enc] NewSessionTicket,NewSessionTicket",
        "  95B  [enc] ApplicationData 73B",
        "  24B  [enc] Alert warning close_notify",
    ] {
        assert!(
            run.client_lines.iter().any(|line| line.contains(inner)),
            "{inner:?} missing from\n{}",
            run.client_lines.join("\n")
        );
    }
}

#[test]
fn tracing_changes_nothing_on_the_wire() {
    let plain = run(&[], &[], false);
    let traced = run(&["--trace"], &["--trace"], true);
    assert!(plain.client_lines.is_empty());
    assert_eq!(traced.wire, plain.wire, "records with and without --trace");
    assert_eq!(traced.client_stdout, plain.client_stdout);
}

#[test]
fn trace_shows_client_auth() {
    let run = run(
        &["--trace", "--auth", "certs/rsa/ca.pem", "--require-auth"],
        &[
            "--trace",
            "--auth-certs",
            "certs/rsa/client-fullchain.pem",
            "--auth-key",
            "certs/rsa/client.key",
        ],
        true,
    );
    assert_eq!(split(&run.client_lines), run.wire);
    assert_eq!(run.client_lines, run.server_lines);
    assert!(run.client_lines.iter().any(|line| line.starts_with("C>S")
        && line.ends_with("[enc] Certificate,CertificateVerify,Finished")));
    assert!(run.client_lines.iter().any(|line| line.ends_with(
        "[enc] EncryptedExtensions,CertificateRequest,Certificate,CertificateVerify,Finished"
    )));
}

#[test]
fn trace_shows_hello_retry_request() {
    // The client's first share is for X25519; the server takes only P-256.
    let run = run(
        &["--trace", "--key-exchange", "secp256r1"],
        &[
            "--trace",
            "--key-exchange",
            "X25519",
            "--key-exchange",
            "secp256r1",
        ],
        true,
    );
    assert_eq!(split(&run.client_lines), run.wire);
    assert_eq!(run.client_lines, run.server_lines);
    let contents: Vec<&str> = run
        .client_lines
        .iter()
        .map(|line| line.rsplit("  ").next().unwrap())
        .collect();
    assert_eq!(
        contents[..5],
        [
            "ClientHello",
            "HelloRetryRequest",
            "ChangeCipherSpec",
            "ChangeCipherSpec",
            "ClientHello"
        ],
        "{contents:?}"
    );
    assert!(contents.contains(&"[enc] ApplicationData 73B"));
}

#[test]
fn trace_of_tls12() {
    let run = run(
        &["--trace", "--protover", "1.2"],
        &["--trace", "--protover", "1.2"],
        true,
    );
    assert_eq!(split(&run.client_lines), run.wire);
    assert_eq!(run.client_lines, run.server_lines);
    assert!(run
        .client_lines
        .iter()
        .any(|line| line.starts_with("C>S  Handshake") && line.ends_with("[enc] Finished")));
}

#[test]
fn sequence_diagrams_from_both_ends() {
    let dir = scratch_dir("diagram");
    let client_file = dir.join("client.mmd");
    let server_file = dir.join("server.mmd");
    let run = run(
        &["--sequence-diagram", server_file.to_str().unwrap()],
        &["--sequence-diagram", client_file.to_str().unwrap()],
        false,
    );
    assert!(run.client_lines.is_empty(), "no --trace, no trace lines");
    let (c2s, s2c) = &run.wire;
    // The server writes its diagram when the connection ends, which the
    // relay saw before it returned; give the file system no excuse.
    let client = read_when_present(&client_file);
    let server = read_when_present(&server_file);
    for (diagram, role) in [(&client, "client"), (&server, "server")] {
        assert!(
            diagram.starts_with("sequenceDiagram\n"),
            "{role}:\n{diagram}"
        );
        assert!(diagram.contains(&format!("socket IO as seen by the {role}")));
        // One arrow per record, from its sender's connection to its buffers.
        let client_records = diagram
            .matches("  ClientConnection ->> ClientBuffers: ")
            .count();
        let server_records = diagram
            .matches("  ServerConnection ->> ServerBuffers: ")
            .count();
        assert_eq!(client_records, c2s.len(), "{role}:\n{diagram}");
        assert_eq!(server_records, s2c.len(), "{role}:\n{diagram}");
        assert!(diagram.contains("ClientConnection ->> ClientBuffers: HS::ClientHello (1460B)"));
        assert!(diagram.contains("HTTPClient ->> ClientConnection: ApplicationData (81B)"));
        assert!(diagram.contains("ClientConnection ->> HTTPClient: ApplicationData (73B)"));
    }
    assert!(client.contains("ClientBuffers ->> ServerBuffers: socket write (1460B)"));
    assert!(server.contains("ClientBuffers ->> ServerBuffers: socket read (1460B)"));
}

/// The file's contents; the server writes it before closing the socket,
/// so it is there once the relay saw the end.
fn read_when_present(path: &Path) -> String {
    match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            panic!("{} was not written", path.display())
        }
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// The arrows of a diagram that do not depend on how the kernel split the
/// socket reads: records and plaintext.
fn record_arrows(diagram: &str) -> Vec<&str> {
    diagram
        .lines()
        .filter(|line| line.contains(" ->> ") && !line.contains("socket "))
        .collect()
}

#[test]
fn readme_diagram_matches_a_fresh_run() {
    let dir = scratch_dir("readme");
    let file = dir.join("client.mmd");
    let pki = "tests/data/reference/pki";
    let server = start_server(&[
        "--certs",
        &format!("{pki}/rsa-server-fullchain.pem"),
        "--key",
        &format!("{pki}/rsa-server.key"),
        "http",
    ]);
    run_client(
        server.port,
        &[
            "--cafile",
            &format!("{pki}/rsa-ca.pem"),
            "--sequence-diagram",
            file.to_str().unwrap(),
        ],
    );
    let generated = read_when_present(&file);
    let readme = fs::read_to_string(repo("README.md")).unwrap();
    let section = readme
        .split("## Sequence diagram")
        .nth(1)
        .expect("README has a Sequence diagram section");
    let block = section
        .split("```mermaid\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section has a mermaid block");
    assert_eq!(
        record_arrows(block),
        record_arrows(&generated),
        "README's diagram is out of date; a fresh one:\n{generated}"
    );
}
