//! Helpers for tests that run `llclient` and `llserver` as real processes on
//! loopback: spawning with bounded waits, a recording TCP relay, a blocking
//! library client (for 0-RTT), and the log normaliser.
//!
//! Every wait has a timeout; children are killed when their guard drops; a
//! failure prints the command, exit status, stdout and stderr in a frame.
// Each test binary that includes this module uses a different subset.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use lltls::{HandshakeInfo, IncomingTls, LlClientConnection, OutgoingTls, Status};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;

pub const LLSERVER: &str = env!("CARGO_BIN_EXE_llserver");
pub const LLCLIENT: &str = env!("CARGO_BIN_EXE_llclient");

/// Upper bound for any one process or exchange in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(60);
/// Upper bound for a server to print its `listening on` line.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The http-mode response, byte for byte.
pub const HTTP_RESPONSE: &[u8] =
    b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nHello world from rustls tlsserver\r\n";
/// What llclient prints on stdout after a clean close, as upstream.
pub const CONNECTION_CLOSED: &str = "Connection closed";

/// A path inside the repository.
pub fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// A fresh path for a scratch file.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-tests");
    fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{}-{name}", std::process::id()))
}

/// What a child reads on stdin.
pub enum Input {
    Null,
    Bytes(Vec<u8>),
    File(PathBuf),
}

/// A child's output stream, read on a thread so the child never blocks on a
/// full pipe. Reading may be held back until `gate` fires (slow reader).
struct Collector {
    buf: Arc<Mutex<Vec<u8>>>,
    done: Receiver<()>,
}

impl Collector {
    fn start(
        mut stream: impl Read + Send + 'static,
        lines: Option<Sender<String>>,
        gate: Option<Receiver<()>>,
        throttle: Option<Duration>,
        close_after: Option<usize>,
    ) -> Self {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, done) = mpsc::channel();
        let shared = buf.clone();
        thread::spawn(move || {
            if let Some(gate) = gate {
                // A dropped sender also opens the gate.
                let _ = gate.recv();
            }
            // A throttled reader takes small bites with pauses in between.
            let mut chunk = vec![
                0;
                if throttle.is_some() {
                    16 * 1024
                } else {
                    64 * 1024
                }
            ];
            let mut line = Vec::new();
            loop {
                if let Some(pause) = throttle {
                    thread::sleep(pause);
                }
                let n = match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let total = {
                    let mut shared = shared.lock().unwrap();
                    shared.extend_from_slice(&chunk[..n]);
                    shared.len()
                };
                if close_after.is_some_and(|limit| total >= limit) {
                    // Dropping the stream closes the pipe: the child's next
                    // write fails with EPIPE, as under `| head`.
                    break;
                }
                if let Some(lines) = &lines {
                    for &b in &chunk[..n] {
                        if b == b'\n' {
                            let _ = lines.send(String::from_utf8_lossy(&line).into_owned());
                            line.clear();
                        } else {
                            line.push(b);
                        }
                    }
                }
            }
            let _ = done_tx.send(());
        });
        Self { buf, done }
    }

    fn contents(&self) -> Vec<u8> {
        self.buf.lock().unwrap().clone()
    }

    /// Waits (bounded) until the stream reached EOF.
    fn finish(&self, timeout: Duration) -> bool {
        !matches!(
            self.done.recv_timeout(timeout),
            Err(mpsc::RecvTimeoutError::Timeout)
        )
    }
}

/// A running child process, killed when dropped.
pub struct Proc {
    pub cmd: String,
    child: Child,
    stdout: Collector,
    stderr: Collector,
    lines: Option<Receiver<String>>,
    started: Instant,
    /// Highest VmHWM seen so far, in KiB.
    peak_kib: Option<u64>,
}

/// How to start a child.
pub struct Spawn<'a> {
    pub program: &'a str,
    pub args: Vec<String>,
    pub input: Input,
    pub env: Vec<(&'a str, &'a str)>,
    /// Hold back reading stdout until this fires.
    pub stdout_gate: Option<Receiver<()>>,
    /// Pause this long before each read of stdout (a slow reader).
    pub stdout_throttle: Option<Duration>,
    /// Close stdout after reading this many bytes (like `| head -c N`).
    pub stdout_close_after: Option<usize>,
}

impl<'a> Spawn<'a> {
    pub fn new(program: &'a str, args: &[&str]) -> Self {
        Self {
            program,
            args: args.iter().map(|s| s.to_string()).collect(),
            input: Input::Null,
            env: Vec::new(),
            stdout_gate: None,
            stdout_throttle: None,
            stdout_close_after: None,
        }
    }

    pub fn input(mut self, input: Input) -> Self {
        self.input = input;
        self
    }

    pub fn env(mut self, key: &'a str, value: &'a str) -> Self {
        self.env.push((key, value));
        self
    }

    pub fn stdout_gate(mut self, gate: Receiver<()>) -> Self {
        self.stdout_gate = Some(gate);
        self
    }

    pub fn stdout_throttle(mut self, pause: Duration) -> Self {
        self.stdout_throttle = Some(pause);
        self
    }

    pub fn stdout_close_after(mut self, num_bytes: usize) -> Self {
        self.stdout_close_after = Some(num_bytes);
        self
    }

    pub fn start(self) -> Proc {
        let name = self.program.rsplit('/').next().unwrap_or(self.program);
        let cmd = format!("{name} {}", self.args.join(" "));
        let mut command = Command::new(self.program);
        command
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Tests decide about logging; an inherited RUST_LOG would change
            // the output they check.
            .env_remove("RUST_LOG")
            .env_remove("RUST_BACKTRACE");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let mut bytes = None;
        match self.input {
            Input::Null => {
                command.stdin(Stdio::null());
            }
            Input::Bytes(b) => {
                command.stdin(Stdio::piped());
                bytes = Some(b);
            }
            Input::File(path) => {
                command.stdin(fs::File::open(&path).unwrap());
            }
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd}: {e}"));
        if let Some(bytes) = bytes {
            let mut stdin = child.stdin.take().unwrap();
            // The child may exit without reading it all (e.g. on error).
            thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            });
        }
        let (lines_tx, lines) = mpsc::channel();
        let stdout = Collector::start(
            child.stdout.take().unwrap(),
            Some(lines_tx),
            self.stdout_gate,
            self.stdout_throttle,
            self.stdout_close_after,
        );
        let stderr = Collector::start(child.stderr.take().unwrap(), None, None, None, None);
        Proc {
            cmd,
            child,
            stdout,
            stderr,
            lines: Some(lines),
            started: Instant::now(),
            peak_kib: None,
        }
    }
}

/// A finished child.
pub struct Finished {
    pub cmd: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
    /// Peak resident memory (VmHWM), sampled while it ran, in KiB.
    pub peak_kib: Option<u64>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next stdout line, waiting at most `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        self.lines.as_ref()?.recv_timeout(timeout).ok()
    }

    pub fn stdout(&self) -> Vec<u8> {
        self.stdout.contents()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }

    /// Peak resident memory so far (VmHWM), in KiB, while it runs.
    pub fn peak_rss_kib(&mut self) -> Option<u64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        self.peak_kib = self.peak_kib.max(Some(kib));
        self.peak_kib
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for exit, at most `timeout`; on timeout kills it and panics with
    /// the framed output. Polling `try_wait` is the only portable bounded
    /// wait for a child; the short sleeps pace that poll and sample memory.
    pub fn wait(mut self, timeout: Duration) -> Finished {
        let deadline = Instant::now() + timeout;
        let status = loop {
            self.peak_rss_kib();
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                self.stdout.finish(Duration::from_secs(5));
                self.stderr.finish(Duration::from_secs(5));
                panic!(
                    "timed out after {timeout:?}\n{}",
                    frame(&self.cmd, "killed", &self.stdout(), &self.stderr())
                );
            }
            thread::sleep(Duration::from_millis(2));
        };
        let elapsed = self.started.elapsed();
        assert!(
            self.stdout.finish(Duration::from_secs(10))
                && self.stderr.finish(Duration::from_secs(10)),
            "output streams not closed\n{}",
            frame(
                &self.cmd,
                &status.to_string(),
                &self.stdout(),
                &self.stderr()
            )
        );
        Finished {
            cmd: self.cmd.clone(),
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
            elapsed,
            peak_kib: self.peak_kib,
        }
    }

    /// Kills it (a server runs until killed) and returns all its output.
    pub fn stop(mut self) -> Finished {
        self.peak_rss_kib();
        let _ = self.child.kill();
        let status = self.child.wait().unwrap();
        self.stdout.finish(Duration::from_secs(10));
        self.stderr.finish(Duration::from_secs(10));
        Finished {
            cmd: self.cmd.clone(),
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
            elapsed: self.started.elapsed(),
            peak_kib: self.peak_kib,
        }
    }

    /// The command, stdout and stderr so far, framed.
    pub fn describe(&self) -> String {
        frame(&self.cmd, "running", &self.stdout(), &self.stderr())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Finished {
    pub fn describe(&self) -> String {
        frame(
            &self.cmd,
            &self.status.to_string(),
            &self.stdout,
            &self.stderr,
        )
    }

    /// Asserts exit 0 and returns stdout.
    pub fn success(&self) -> &[u8] {
        assert!(
            self.status.success(),
            "expected success\n{}",
            self.describe()
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.describe());
        &self.stdout
    }

    /// Asserts a failure reported as one clear line (no panic, no
    /// backtrace) and returns that line.
    pub fn failure_line(&self) -> String {
        assert!(
            !self.status.success(),
            "expected failure\n{}",
            self.describe()
        );
        assert_ne!(
            self.status.code(),
            Some(101),
            "panic exit code\n{}",
            self.describe()
        );
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("backtrace"),
            "panic\n{}",
            self.describe()
        );
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one line on stderr\n{}",
            self.describe()
        );
        lines[0].to_string()
    }

    /// Asserts stdout is exactly `expected` (the peer's data alone) and the
    /// client reported `Connection closed` on stderr.
    pub fn assert_received(&self, expected: &[u8]) {
        let stdout = self.success();
        assert!(stdout == expected, "unexpected stdout\n{}", self.describe());
        self.assert_connection_closed();
    }

    /// Asserts the client's last stderr line is upstream's `Connection closed`.
    pub fn assert_connection_closed(&self) {
        assert_eq!(
            self.stderr.lines().last(),
            Some(CONNECTION_CLOSED),
            "expected `{CONNECTION_CLOSED}` on stderr\n{}",
            self.describe()
        );
    }
}

/// A framed report of one process, printed when a test fails.
pub fn frame(cmd: &str, status: &str, stdout: &[u8], stderr: &str) -> String {
    const MAX: usize = 8 * 1024;
    let mut out = String::new();
    let _ = writeln!(out, "┌─── command\n│ {cmd}\n├─── exit: {status}");
    let _ = writeln!(out, "├─── stdout ({}B)", stdout.len());
    match std::str::from_utf8(stdout) {
        Ok(text) if stdout.len() <= MAX => {
            for line in text.lines() {
                let _ = writeln!(out, "│ {line}");
            }
        }
        // Bulk or binary data: its ends say enough.
        _ => {
            let head = &stdout[..stdout.len().min(64)];
            let tail = &stdout[stdout.len().saturating_sub(64)..];
            let _ = writeln!(out, "│ starts: {}", head.escape_ascii());
            let _ = writeln!(out, "│ ends:   {}", tail.escape_ascii());
        }
    }
    let _ = writeln!(out, "├─── stderr ({}B)", stderr.len());
    let skip = stderr.len().saturating_sub(4 * MAX);
    let start = (skip..=stderr.len())
        .find(|&i| stderr.is_char_boundary(i))
        .unwrap_or(stderr.len());
    if skip > 0 {
        let _ = writeln!(out, "│ … ({skip}B before)");
    }
    for line in stderr[start..].lines() {
        let _ = writeln!(out, "│ {line}");
    }
    out.push_str("└───");
    out
}

/// A running `llserver`, with the port it printed.
pub struct Server {
    pub proc: Proc,
    pub port: u16,
}

impl Server {
    /// Starts `llserver ARGS --port 0` and reads its `listening on` line.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with(Spawn::new(LLSERVER, args))
    }

    pub fn start_with(mut spawn: Spawn<'_>) -> Self {
        spawn
            .args
            .splice(0..0, ["--port".to_string(), "0".to_string()]);
        let mut proc = spawn.start();
        let line = proc.next_line(STARTUP_TIMEOUT).unwrap_or_else(|| {
            panic!("no `listening on` line\n{}", proc.describe());
        });
        let port = line
            .strip_prefix("listening on ")
            .and_then(|addr| addr.rsplit(':').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("bad first line {line:?}\n{}", proc.describe()));
        Self { proc, port }
    }

    /// Asserts the server is still running (it must survive bad clients).
    pub fn assert_running(&mut self) {
        assert!(
            self.proc.is_running(),
            "server exited\n{}",
            self.proc.describe()
        );
    }
}

/// Runs `llclient ARGS --port PORT` to completion.
pub fn client(port: u16, args: &[&str], input: Input) -> Finished {
    client_with(port, Spawn::new(LLCLIENT, args).input(input))
}

pub fn client_with(port: u16, mut spawn: Spawn<'_>) -> Finished {
    spawn
        .args
        .splice(0..0, ["--port".to_string(), port.to_string()]);
    spawn.start().wait(TIMEOUT)
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    bytes
}

pub fn sha256(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Direction of a relayed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ClientToServer,
    ServerToClient,
}

/// One TLS record seen by the relay.
#[derive(Debug, Clone)]
pub struct Record {
    pub dir: Dir,
    pub content_type: u8,
    /// Size on the wire, header included.
    pub len: usize,
    /// The payload of handshake (22) and alert (21) records; empty otherwise.
    pub payload: Vec<u8>,
}

pub const ALERT: u8 = 21;
pub const HANDSHAKE: u8 = 22;
pub const APPLICATION_DATA: u8 = 23;
pub const CHANGE_CIPHER_SPEC: u8 = 20;

/// A TCP relay for one connection that records every TLS record's header.
pub struct Relay {
    pub port: u16,
    records: Arc<Mutex<Vec<Record>>>,
    done: Receiver<()>,
}

impl Relay {
    /// Listens on a free loopback port; relays the first connection to
    /// `127.0.0.1:target`.
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let records = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, done) = mpsc::channel();
        let shared = records.clone();
        thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let server = TcpStream::connect(("127.0.0.1", target)).unwrap();
            let up = pipe(
                client.try_clone().unwrap(),
                server.try_clone().unwrap(),
                Dir::ClientToServer,
                shared.clone(),
            );
            let down = pipe(server, client, Dir::ServerToClient, shared);
            let _ = up.join();
            let _ = down.join();
            let _ = done_tx.send(());
        });
        Self {
            port,
            records,
            done,
        }
    }

    /// The records, once both directions ended (bounded wait).
    pub fn records(&self) -> Vec<Record> {
        let _ = self.done.recv_timeout(TIMEOUT);
        self.records.lock().unwrap().clone()
    }
}

fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    dir: Dir,
    records: Arc<Mutex<Vec<Record>>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut pending = Vec::new();
        let mut chunk = vec![0; 64 * 1024];
        loop {
            let n = match from.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&chunk[..n]);
            while pending.len() >= 5 {
                let len = 5 + usize::from(u16::from_be_bytes([pending[3], pending[4]]));
                if pending.len() < len {
                    break;
                }
                let content_type = pending[0];
                let payload = if content_type == HANDSHAKE || content_type == ALERT {
                    pending[5..len].to_vec()
                } else {
                    Vec::new()
                };
                records.lock().unwrap().push(Record {
                    dir,
                    content_type,
                    len,
                    payload,
                });
                pending.drain(..len);
            }
            if to.write_all(&chunk[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    })
}

/// Handshake message types in a run of plaintext handshake records
/// (messages may span records).
pub fn handshake_types(records: &[Record], dir: Dir) -> Vec<u8> {
    let mut stream = Vec::new();
    for r in records
        .iter()
        .filter(|r| r.dir == dir && r.content_type == HANDSHAKE)
    {
        stream.extend_from_slice(&r.payload);
    }
    let mut types = Vec::new();
    let mut rest = &stream[..];
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([0, rest[1], rest[2], rest[3]]) as usize;
        if rest.len() < 4 + len {
            // The rest is encrypted (TLS 1.2 Finished) or cut: stop.
            break;
        }
        types.push(rest[0]);
        rest = &rest[4 + len..];
    }
    types
}

/// The extensions (type, data) of the first handshake message of `dir`
/// (ClientHello or ServerHello).
pub fn hello_extensions(records: &[Record], dir: Dir) -> Vec<(u16, Vec<u8>)> {
    let mut stream = Vec::new();
    for r in records
        .iter()
        .filter(|r| r.dir == dir && r.content_type == HANDSHAKE)
    {
        stream.extend_from_slice(&r.payload);
    }
    let body = &stream[4..4 + u32::from_be_bytes([0, stream[1], stream[2], stream[3]]) as usize];
    // version, random, session id
    let mut at = 2 + 32;
    at += 1 + usize::from(body[at]);
    if stream[0] == 1 {
        // ClientHello: cipher suites, compression methods
        at += 2 + usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
        at += 1 + usize::from(body[at]);
    } else {
        // ServerHello: cipher suite, compression method
        at += 3;
    }
    let end = at + 2 + usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
    at += 2;
    let mut extensions = Vec::new();
    while at + 4 <= end {
        let ext = u16::from_be_bytes([body[at], body[at + 1]]);
        let len = usize::from(u16::from_be_bytes([body[at + 2], body[at + 3]]));
        extensions.push((ext, body[at + 4..at + 4 + len].to_vec()));
        at += 4 + len;
    }
    extensions
}

/// A plain TCP echo server thread for forward mode: echoes each connection
/// until EOF, then closes its side.
pub fn tcp_echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            thread::spawn(move || {
                let mut reader = stream.try_clone().unwrap();
                let _ = io::copy(&mut reader, &mut stream);
                let _ = stream.shutdown(Shutdown::Write);
            });
        }
    });
    port
}

/// A blocking TLS client over the library, for what one llclient process
/// cannot do (0-RTT needs a ticket from an earlier connection).
pub struct BlockingClient {
    conn: LlClientConnection,
    socket: TcpStream,
    incoming_tls: IncomingTls,
    outgoing_tls: OutgoingTls,
    pub received: Vec<u8>,
    pub handshake: Option<HandshakeInfo>,
    pub peer_closed: bool,
}

impl BlockingClient {
    pub fn connect(config: Arc<ClientConfig>, port: u16) -> Self {
        let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        Self {
            conn: LlClientConnection::new(config, name).unwrap(),
            socket,
            incoming_tls: IncomingTls::new(),
            outgoing_tls: OutgoingTls::new(),
            received: Vec::new(),
            handshake: None,
            peer_closed: false,
        }
    }

    /// 0-RTT data; must come before anything else. Returns bytes taken.
    pub fn early_data(&mut self, data: &[u8]) -> usize {
        self.conn
            .encrypt_early_data(data, &mut self.incoming_tls, &mut self.outgoing_tls)
            .unwrap()
    }

    fn transmit(&mut self) {
        self.socket.write_all(self.outgoing_tls.filled()).unwrap();
        let n = self.outgoing_tls.len();
        self.outgoing_tls.discard(n);
    }

    /// Processes what arrived and transmits what the connection produced.
    fn process(&mut self) {
        loop {
            match self
                .conn
                .process(&mut self.incoming_tls, &mut self.outgoing_tls)
                .unwrap()
            {
                Status::AppDataAvailable(mut app_data) => {
                    while let Some(record) = app_data.next_record() {
                        self.received.extend_from_slice(record.unwrap());
                    }
                }
                Status::HandshakeComplete(info) => self.handshake = Some(info),
                Status::PeerClosed => self.peer_closed = true,
                Status::Closed | Status::NeedsMoreTlsData | Status::MustTransmitTlsData => break,
                other => panic!("unexpected status {other:?}"),
            }
        }
        self.transmit();
    }

    /// One read from the socket; false at EOF.
    fn read(&mut self) -> bool {
        let n = self.socket.read(self.incoming_tls.unfilled()).unwrap();
        self.incoming_tls.advance(n);
        n > 0
    }

    pub fn handshake(&mut self) {
        self.process();
        while self.handshake.is_none() {
            assert!(self.read(), "EOF during the handshake");
            self.process();
        }
    }

    pub fn send(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let n = self
                .conn
                .encrypt(data, &mut self.incoming_tls, &mut self.outgoing_tls)
                .unwrap();
            assert!(n > 0, "cannot encrypt after the handshake");
            data = &data[n..];
        }
        self.transmit();
    }

    /// Reads until `n` plaintext bytes arrived in all.
    pub fn receive(&mut self, n: usize) {
        self.process();
        while self.received.len() < n {
            assert!(self.read(), "EOF after {}B", self.received.len());
            self.process();
        }
    }

    /// Sends close_notify and reads until the server's.
    pub fn close(&mut self) {
        assert!(self
            .conn
            .queue_close_notify(&mut self.incoming_tls, &mut self.outgoing_tls)
            .unwrap());
        self.transmit();
        while !self.peer_closed && self.read() {
            self.process();
        }
    }
}

/// One log record: level, target and message, normalised for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub level: String,
    pub target: String,
    pub message: String,
}

impl std::fmt::Display for LogEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.level, self.target, self.message)
    }
}

/// Parses env_logger's default format (`[TIMESTAMP LEVEL TARGET] message`),
/// folding the continuation lines of multi-line Debug dumps into their
/// record, and keeps the records whose target starts with `target_prefix`.
/// Messages are normalised: whitespace runs become one space, hex runs of 8
/// or more digits become `<hex>`, and per-connection random numbers
/// (`order_seed`, `age_add`) become `<n>`.
pub fn log_events(log: &str, target_prefix: &str) -> Vec<LogEvent> {
    let mut records: Vec<(String, String, String)> = Vec::new();
    for line in log.lines() {
        let header = line
            .strip_prefix('[')
            .and_then(|rest| rest.split_once("] "))
            .and_then(|(head, message)| {
                let mut parts = head.split_whitespace();
                let (_timestamp, level, target) = (parts.next()?, parts.next()?, parts.next()?);
                Some((level.to_string(), target.to_string(), message.to_string()))
            });
        match (header, records.last_mut()) {
            (Some(record), _) => records.push(record),
            (None, Some(last)) => {
                last.2.push(' ');
                last.2.push_str(line);
            }
            (None, None) => {}
        }
    }
    records
        .into_iter()
        .filter(|(_, target, _)| target.starts_with(target_prefix))
        .map(|(level, target, message)| LogEvent {
            level,
            target,
            message: normalise(&message),
        })
        .collect()
}

fn normalise(message: &str) -> String {
    let mut text = message.split_whitespace().collect::<Vec<_>>().join(" ");
    for field in ["order_seed: ", "age_add: "] {
        text = replace_number_after(&text, field);
    }
    let chars: Vec<char> = text.chars().collect();
    let mut result = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        if run >= 8 {
            result.push_str("<hex>");
        } else if run > 0 {
            result.extend(&chars[i..i + run]);
        } else {
            result.push(chars[i]);
        }
        i += run.max(1);
    }
    result
}

/// Replaces the decimal number after each `field` with `<n>`.
fn replace_number_after(text: &str, field: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(field) {
        out.push_str(&rest[..at + field.len()]);
        rest = &rest[at + field.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str("<n>");
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// A line-by-line comparison of two event sequences, for failure messages.
pub fn event_diff(expected: &[LogEvent], actual: &[LogEvent]) -> String {
    let mut out = String::new();
    for i in 0..expected.len().max(actual.len()) {
        let e = expected.get(i).map(ToString::to_string).unwrap_or_default();
        let a = actual.get(i).map(ToString::to_string).unwrap_or_default();
        let mark = if e == a { ' ' } else { '!' };
        let _ = writeln!(
            out,
            "{mark} {i:3} expected: {}\n        actual:   {}",
            clip(&e),
            clip(&a)
        );
    }
    out
}

fn clip(s: &str) -> &str {
    let end = (0..=s.len().min(160))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    &s[..end]
}
