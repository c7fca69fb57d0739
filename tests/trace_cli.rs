//! `--trace` and `--sequence-diagram` on llclient and llserver: what they
//! print equals what an independent TCP relay between them sees, and
//! tracing changes nothing on the wire.

mod util;

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use util::{data_path, records};

/// (content type, size) of each record going one way.
type Records = Vec<(u8, usize)>;
/// The client-to-server records, then the server-to-client ones.
type Wire = (Records, Records);

const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// llclient runs under `timeout` with this many seconds.
const CLIENT_TIMEOUT_SECS: &str = "60";

/// Kills and reaps a child when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running llserver and the stderr it has written so far.
struct Server {
    /// Held for its `Drop`: the server dies with the test.
    _child: ChildGuard,
    addr: SocketAddr,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    fn start(args: &[&str]) -> Self {
        let mut child = ChildGuard(
            Command::new(env!("CARGO_BIN_EXE_llserver"))
                .args(["--port", "0"])
                .args(args)
                .current_dir(data_path(""))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stdout = child.0.stdout.take().unwrap();
        let (addr_sender, addr_receiver) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = addr_sender.send(addr.to_owned());
                }
            }
        });
        let stderr = child.0.stderr.take().unwrap();
        let (line_sender, stderr_receiver) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line_sender.send(line).is_err() {
                    return;
                }
            }
        });
        let listening: SocketAddr = addr_receiver
            .recv_timeout(STARTUP_TIMEOUT)
            .expect("llserver did not say where it listens")
            .parse()
            .unwrap();
        Self {
            _child: child,
            addr: SocketAddr::from(([127, 0, 0, 1], listening.port())),
            stderr: stderr_receiver,
        }
    }

    /// Collects stderr lines until `count` trace lines arrived (the server
    /// prints the last ones when the connection ends), or panics after the
    /// timeout with what it got.
    fn trace_lines(&self, count: usize) -> Vec<String> {
        let mut all = Vec::new();
        let mut traced = Vec::new();
        while traced.len() < count {
            match self.stderr.recv_timeout(STARTUP_TIMEOUT) {
                Ok(line) => {
                    if parse_trace_line(&line).is_some() {
                        traced.push(line.clone());
                    }
                    all.push(line);
                }
                Err(_) => panic!(
                    "llserver printed {} of {count} trace lines; stderr:\n{}",
                    traced.len(),
                    all.join("\n")
                ),
            }
        }
        traced
    }
}

/// A TCP relay between the client and the server that records each
/// direction's bytes: the independent witness of what crossed the wire.
struct Relay {
    addr: SocketAddr,
    client_to_server: Arc<Mutex<Vec<u8>>>,
    server_to_client: Arc<Mutex<Vec<u8>>>,
    done: thread::JoinHandle<()>,
}

impl Relay {
    fn start(server: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client_to_server = Arc::new(Mutex::new(Vec::new()));
        let server_to_client = Arc::new(Mutex::new(Vec::new()));
        let (c2s, s2c) = (client_to_server.clone(), server_to_client.clone());
        let done = thread::spawn(move || {
            let (client, _) = listener.accept().unwrap();
            let upstream = TcpStream::connect_timeout(&server, IO_TIMEOUT).unwrap();
            for socket in [&client, &upstream] {
                socket.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                socket.set_nodelay(true).unwrap();
            }
            let forward = {
                let (from, to) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                thread::spawn(move || copy(from, to, &c2s))
            };
            copy(upstream, client, &s2c);
            forward.join().unwrap();
        });
        Self {
            addr,
            client_to_server,
            server_to_client,
            done,
        }
    }

    /// Waits for both directions to end; returns the (C>S, S>C) records.
    fn finish(self) -> Wire {
        self.done.join().unwrap();
        let c2s = records(&self.client_to_server.lock().unwrap());
        let s2c = records(&self.server_to_client.lock().unwrap());
        (c2s, s2c)
    }
}

/// Copies until EOF (or an error: a reset ends the recording too), then
/// passes the EOF on.
fn copy(mut from: TcpStream, mut to: TcpStream, log: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                log.lock().unwrap().extend_from_slice(&buf[..n]);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn run_client(addr: SocketAddr, args: &[&str]) -> Output {
    let output = Command::new("timeout")
        .arg(CLIENT_TIMEOUT_SECS)
        .arg(env!("CARGO_BIN_EXE_llclient"))
        .args(["--port", &addr.port().to_string(), "--http"])
        .args(args)
        .arg("localhost")
        .current_dir(data_path(""))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "llclient failed\n---- stdout\n{}\n---- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
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

fn trace_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
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
    let server = Server::start(&args);
    let relay = Relay::start(server.addr);
    let mut args = RSA_CLIENT.to_vec();
    args.extend_from_slice(client_args);
    let client = run_client(relay.addr, &args);
    let wire = relay.finish();
    let client_lines = trace_lines(&client.stderr);
    let server_lines = if traced {
        server.trace_lines(wire.0.len() + wire.1.len())
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

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("trace_cli-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn sequence_diagrams_from_both_ends() {
    let dir = scratch("diagram");
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
    let dir = scratch("readme");
    let file = dir.join("client.mmd");
    let pki = "tests/data/reference/pki";
    let server = Server::start(&[
        "--certs",
        &format!("{pki}/rsa-server-fullchain.pem"),
        "--key",
        &format!("{pki}/rsa-server.key"),
        "http",
    ]);
    run_client(
        server.addr,
        &[
            "--cafile",
            &format!("{pki}/rsa-ca.pem"),
            "--sequence-diagram",
            file.to_str().unwrap(),
        ],
    );
    let generated = read_when_present(&file);
    let readme = fs::read_to_string(data_path("README.md")).unwrap();
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
