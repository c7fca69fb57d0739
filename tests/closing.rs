//! Closing done right, with the real programs over loopback.
//!
//! A program that ends a connection with its close_notify or a fatal alert lingers: it sends
//! that last record, then its FIN, and reads and drops what the peer still sends until the peer
//! closes too, so that the peer reads the record rather than a reset. The tests decide by what
//! the peer sees, not by timing: the peer sends a burst right behind what makes the program
//! close (unread when it closes, unless it lingers), must then read the last record and a FIN
//! (a reset shows as ECONNRESET, on the write or the read), then sends more after that FIN, which
//! only a lingering program reads: the program's log line says how many bytes it dropped until
//! the peer's FIN. Lingering is bounded by a byte count (a peer that never stops sending: it
//! gets the reset once that many were read) and by a time (a peer that neither sends nor
//! closes). A connection that ends without a last record of ours (the peer's own fatal alert)
//! closes at once. And llclient reports a server that stops the transfer early, whichever way
//! it stops.

mod harness;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use harness::configs::{client_config, server_config, Pki};
use harness::process::{llclient, Input, LlServer, Proc, Spawn, LLCLIENT, LLSERVER};
use harness::{repo, scratch, TIMEOUT};
use lltls::programs::net::LINGER_LIMIT;
use rustls::pki_types::ServerName;
use rustls::AlertDescription;

/// What the peer sends right behind what makes the program close, without reading first:
/// unread when the program closes, unless it lingers, so the kernel would reset the connection.
const JUNK: usize = 1 << 20;
/// What the peer sends after it read the program's FIN: only a lingering program reads it.
const AFTER_FIN: usize = 256 << 10;
/// `--linger-ms` for the tests decided by events alone: longer than any test may take, so only
/// the peer's FIN or the byte limit ends lingering there.
const LONG_LINGER: &str = "600000";
/// How long a program may take to end a connection at its time limit (2 s by default) on a
/// loaded machine: only a program that never ends it misses this bound.
const TIME_LIMIT_BOUND: Duration = Duration::from_secs(30);

/// The test's end of one connection: a blocking socket, with rustls's buffered API for the TLS.
struct Peer {
    socket: TcpStream,
    tls: rustls::Connection,
}

impl Peer {
    fn new(socket: TcpStream, tls: impl Into<rustls::Connection>) -> Self {
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        socket.set_write_timeout(Some(TIMEOUT)).unwrap();
        Self {
            socket,
            tls: tls.into(),
        }
    }

    /// A TLS client of `127.0.0.1:port`, trusting `pki`.
    fn client(port: u16, pki: Pki) -> Self {
        let socket = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let config = Arc::new(client_config(pki, false));
        let name = ServerName::try_from("localhost").unwrap();
        Self::new(socket, rustls::ClientConnection::new(config, name).unwrap())
    }

    /// The port of our end: the program's log lines name the connection by it.
    fn port(&self) -> u16 {
        self.socket.local_addr().unwrap().port()
    }

    fn handshake(&mut self) {
        while self.tls.is_handshaking() {
            self.tls.complete_io(&mut self.socket).expect("handshake");
        }
    }

    /// What rustls has to send, taken instead of sent.
    fn take_records(&mut self) -> Vec<u8> {
        let mut records = Vec::new();
        while self.tls.wants_write() {
            self.tls.write_tls(&mut records).unwrap();
        }
        records
    }

    /// An application-data record whose last byte (of its tag) is flipped: the program
    /// answers with an encrypted bad_record_mac alert. Anything rustls had queued before
    /// comes first, intact.
    fn corrupt_record(&mut self) -> Vec<u8> {
        self.tls
            .writer()
            .write_all(b"this record arrives corrupted")
            .unwrap();
        let mut records = self.take_records();
        *records.last_mut().unwrap() ^= 1;
        records
    }

    /// Reads until the program's close_notify arrived.
    fn await_close_notify(&mut self) {
        while !self
            .open(&[])
            .expect("the program's records")
            .peer_has_closed()
        {
            let num_bytes = self.tls.read_tls(&mut self.socket).expect("read");
            assert!(num_bytes > 0, "end of stream before close_notify");
        }
    }

    fn close_notify_record(&mut self) -> Vec<u8> {
        self.tls.send_close_notify();
        self.take_records()
    }

    /// Sends `trigger` (what makes the program close) with [`JUNK`] right behind it, without
    /// reading, then reads to the end of the stream. Panics on a reset, which only a program
    /// that closes with that junk unread sends.
    fn close_with_junk(&mut self, trigger: &[u8]) -> Vec<u8> {
        let mut burst = trigger.to_vec();
        burst.resize(trigger.len() + JUNK, 0x17);
        if let Err(error) = self.socket.write_all(&burst) {
            panic!("the program stopped reading while it closed: {error}");
        }
        self.read_to_fin()
    }

    /// Reads to the end of the stream (the program's FIN). Panics on a reset.
    fn read_to_fin(&mut self) -> Vec<u8> {
        let mut answer = Vec::new();
        if let Err(error) = self.socket.read_to_end(&mut answer) {
            panic!("no FIN: {error} after {}B", answer.len());
        }
        answer
    }

    /// The program's records in `bytes`, opened: the state after them or the error they end in
    /// (the program's fatal alert).
    fn open(&mut self, mut bytes: &[u8]) -> Result<rustls::IoState, rustls::Error> {
        let mut state = self.tls.process_new_packets()?;
        while !bytes.is_empty() {
            self.tls.read_tls(&mut bytes).unwrap();
            state = self.tls.process_new_packets()?;
            // Plaintext would fill rustls's buffer: drop it.
            let mut sink = vec![0; state.plaintext_bytes_to_read()];
            let _ = self.tls.reader().read_exact(&mut sink);
        }
        Ok(state)
    }

    /// Sends [`AFTER_FIN`] bytes after the program's FIN, then our FIN.
    fn send_after_fin_then_close(&mut self) {
        if let Err(error) = self.socket.write_all(&vec![0x17; AFTER_FIN]) {
            panic!("the program did not read after its FIN: {error}");
        }
        self.socket.shutdown(Shutdown::Write).unwrap();
    }
}

/// `llserver --certs certs ARGS…` with its debug log lines on stderr.
fn llserver(args: &[&str]) -> LlServer {
    let certs = repo("certs");
    let mut all = vec!["--certs", &certs];
    all.extend_from_slice(args);
    LlServer::start_with(Spawn::new(LLSERVER, &all).env("RUST_LOG", "llserver=debug"))
}

/// The whole line of `log` that contains `needle`, once it is complete.
fn line_with<'a>(log: &'a str, needle: &str) -> Option<&'a str> {
    let start = log.find(needle)?;
    let start = log[..start].rfind('\n').map_or(0, |i| i + 1);
    let end = start + log[start..].find('\n')?;
    Some(&log[start..end])
}

/// Waits (at most `bound`) for llserver's line saying how it closed the connection from our
/// port `port`, and returns it.
fn server_closing_line(server: &LlServer, port: u16, bound: Duration) -> String {
    let needle = format!(":{port}: closed ");
    server
        .proc
        .wait_stderr(&needle, bound, |log| line_with(log, &needle).is_some());
    line_with(&server.proc.stderr(), &needle)
        .unwrap()
        .to_owned()
}

/// llclient's line saying how it closed its connection.
fn client_closing_line(stderr: &str) -> String {
    match line_with(stderr, "llclient] closed ") {
        Some(line) => line.to_owned(),
        None => panic!("no line on how llclient closed:\n{stderr}"),
    }
}

/// The bytes a closing line says were read and dropped.
fn dropped(line: &str) -> usize {
    let rest = line
        .split("read and dropped ")
        .nth(1)
        .unwrap_or_else(|| panic!("no count of dropped bytes: {line}"));
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("bad count: {line}"))
}

/// Asserts a closing line says the connection lingered after sending `last` and its FIN, until
/// the peer's FIN, having read at least what the peer sent after ours (and no more than it
/// sent in all).
fn assert_lingered_until_peer_fin(line: &str, last: &str) {
    let expected = format!("closed after lingering: our {last} sent, then FIN; read and dropped ");
    assert!(line.contains(&expected), "{line}");
    assert!(
        line.contains("until the peer closed its side (FIN)"),
        "{line}"
    );
    let dropped = dropped(line);
    assert!(
        (AFTER_FIN..=JUNK + AFTER_FIN).contains(&dropped),
        "dropped {dropped}B, not what came after the program's FIN ({AFTER_FIN}B) and at most \
         all the peer sent: {line}"
    );
}

fn assert_bad_record_mac(result: Result<rustls::IoState, rustls::Error>) {
    assert!(
        matches!(
            result,
            Err(rustls::Error::AlertReceived(AlertDescription::BadRecordMac))
        ),
        "expected the program's encrypted bad_record_mac alert: {result:?}"
    );
}

/// `--record-layer`'s values: the alert is sealed by lltls's record layer or by rustls's.
const RECORD_LAYERS: [&str; 2] = ["in-place", "rustls"];

/// A peer sends a corrupted record after the handshake and a burst right behind it: it
/// reads llserver's encrypted fatal alert and a FIN, and llserver reads what it sends after.
#[test]
fn llserver_fatal_alert_reaches_a_peer_that_keeps_sending() {
    for layer in RECORD_LAYERS {
        let args = ["--linger-ms", LONG_LINGER, "--record-layer", layer, "echo"];
        let mut server = llserver(&args);
        let mut peer = Peer::client(server.port, Pki::Ecdsa);
        peer.handshake();
        let trigger = peer.corrupt_record();
        let answer = peer.close_with_junk(&trigger);
        assert_bad_record_mac(peer.open(&answer));
        peer.send_after_fin_then_close();
        let line = server_closing_line(&server, peer.port(), TIMEOUT);
        assert_lingered_until_peer_fin(&line, "fatal alert");
        server.assert_healthy();
    }
}

/// The same with plaintext alerts of the handshake, answering the first bytes: a record no
/// TLS peer sends, and an alert of an unknown level, which rustls answers (the peer's alert,
/// but not its last word: ours is the last record).
#[test]
fn llserver_plaintext_fatal_alert_reaches_a_peer_that_keeps_sending() {
    let mut server = llserver(&["--linger-ms", LONG_LINGER, "echo"]);
    for (trigger, answer) in [
        // An unknown content type: unexpected_message (RFC 8446 §5).
        ([0x80, 3, 3, 0, 1, 0].as_slice(), [21, 3, 3, 0, 2, 2, 10]),
        // Level 3, handshake_failure: illegal_parameter.
        (&[21, 3, 3, 0, 2, 3, 40], [21, 3, 3, 0, 2, 2, 47]),
    ] {
        let mut peer = Peer::client(server.port, Pki::Ecdsa);
        assert_eq!(
            peer.close_with_junk(trigger),
            answer,
            "the plaintext fatal alert"
        );
        peer.send_after_fin_then_close();
        let line = server_closing_line(&server, peer.port(), TIMEOUT);
        assert_lingered_until_peer_fin(&line, "fatal alert");
    }
    server.assert_healthy();
}

/// A peer sends close_notify and a burst right behind it: it reads llserver's close_notify
/// and a FIN, and llserver reads what it sends after.
#[test]
fn llserver_close_notify_reaches_a_peer_that_keeps_sending() {
    let mut server = llserver(&["--linger-ms", LONG_LINGER, "echo"]);
    let mut peer = Peer::client(server.port, Pki::Ecdsa);
    peer.handshake();
    let trigger = peer.close_notify_record();
    let answer = peer.close_with_junk(&trigger);
    let state = peer.open(&answer).expect("llserver's records");
    assert!(state.peer_has_closed(), "llserver sent close_notify");
    peer.send_after_fin_then_close();
    let line = server_closing_line(&server, peer.port(), TIMEOUT);
    assert_lingered_until_peer_fin(&line, "close_notify");
    server.assert_healthy();
}

/// llclient started against a listener of the test: `llclient --port PORT --cafile … ARGS…
/// localhost`, with its debug log lines on stderr, and the connection it made.
fn llclient_and_peer(args: &[&str], input: Input) -> (Proc, Peer) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port().to_string();
    let ca = repo("certs/ca.pem");
    let mut all = vec!["--port", &port, "--cafile", &ca];
    all.extend_from_slice(args);
    all.push("localhost");
    let client = Spawn::new(LLCLIENT, &all)
        .input(input)
        .env("RUST_LOG", "llclient=debug")
        .start();
    // `accept` has no timeout of its own: a thread waits for it.
    let (accepted, socket) = mpsc::channel();
    thread::spawn(move || {
        let _ = accepted.send(listener.accept());
    });
    let socket = match socket.recv_timeout(TIMEOUT) {
        Ok(Ok((socket, _))) => socket,
        Ok(Err(error)) => panic!("accept: {error}"),
        Err(_) => panic!("{}", client.frame("llclient did not connect")),
    };
    let config = Arc::new(server_config(Pki::Ecdsa, false));
    let peer = Peer::new(socket, rustls::ServerConnection::new(config).unwrap());
    (client, peer)
}

/// A server sends a corrupted record and a burst right behind it: it reads llclient's
/// encrypted fatal alert and a FIN, and llclient reads what it sends after.
#[test]
fn llclient_fatal_alert_reaches_a_server_that_keeps_sending() {
    for layer in RECORD_LAYERS {
        let args = ["--linger-ms", LONG_LINGER, "--record-layer", layer];
        // Stdin stays open: llclient sends nothing of its own.
        let (client, mut peer) = llclient_and_peer(&args, Input::Piped);
        peer.handshake();
        let trigger = peer.corrupt_record();
        let answer = peer.close_with_junk(&trigger);
        assert_bad_record_mac(peer.open(&answer));
        peer.send_after_fin_then_close();
        let out = client.finish(TIMEOUT);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            out.frame("expected a failure")
        );
        assert_lingered_until_peer_fin(&client_closing_line(&out.stderr), "fatal alert");
        let last = out.stderr.lines().last().unwrap_or_default();
        assert!(
            last.contains("(sent fatal alert bad_record_mac)"),
            "{layer}: {last}"
        );
    }
}

/// llclient sends close_notify at the end of its input; the server answers with its own and
/// a burst right behind it: it reads a FIN after llclient's close_notify, and llclient reads
/// what it sends after.
#[test]
fn llclient_close_notify_reaches_a_server_that_keeps_sending() {
    // Empty stdin: llclient sends its close_notify once the handshake allows it.
    let (client, mut peer) = llclient_and_peer(&["--linger-ms", LONG_LINGER], Input::Null);
    peer.handshake();
    // Answered before it arrives, llclient's close_notify would leave its input unsent as far
    // as it knows (an error): wait for it.
    peer.await_close_notify();
    let trigger = peer.close_notify_record();
    let answer = peer.close_with_junk(&trigger);
    assert!(
        answer.is_empty(),
        "nothing after llclient's close_notify: {answer:?}"
    );
    peer.send_after_fin_then_close();
    let out = client.finish(TIMEOUT);
    assert!(
        out.success().is_empty(),
        "{}",
        out.frame("no data was sent")
    );
    out.assert_connection_closed();
    assert_lingered_until_peer_fin(&client_closing_line(&out.stderr), "close_notify");
}

/// A peer that never stops sending after llserver's fatal alert gets the reset once llserver
/// has read and dropped [`LINGER_LIMIT`] bytes: it has written at least that many by then.
#[test]
fn llserver_lingers_for_at_most_the_byte_limit() {
    let mut server = llserver(&["--linger-ms", LONG_LINGER, "echo"]);
    let mut peer = Peer::client(server.port, Pki::Ecdsa);
    peer.handshake();
    let trigger = peer.corrupt_record();
    peer.socket.write_all(&trigger).unwrap();
    let answer = peer.read_to_fin();
    assert_bad_record_mac(peer.open(&answer));
    let chunk = vec![0x17; 64 << 10];
    let mut written = 0;
    let error = loop {
        match peer.socket.write(&chunk) {
            Ok(num_bytes) => written += num_bytes,
            Err(error) => break error,
        }
        assert!(
            written <= 8 * LINGER_LIMIT,
            "llserver still reads after {written}B"
        );
    };
    assert!(
        matches!(
            error.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
        ),
        "expected a reset: {error}"
    );
    assert!(
        written >= LINGER_LIMIT,
        "reset after {written}B, before llserver read {LINGER_LIMIT}B"
    );
    let line = server_closing_line(&server, peer.port(), TIMEOUT);
    let expected = format!("until the limit ({LINGER_LIMIT}B)");
    assert!(line.contains(&expected), "{line}");
    assert!(dropped(&line) >= LINGER_LIMIT, "{line}");
    server.assert_healthy();
}

/// A peer that reads llserver's fatal alert and FIN, then neither sends nor closes: llserver
/// ends the connection anyway (after 2 s; the bound only catches one that never does).
#[test]
fn llserver_lingers_for_at_most_the_time_limit() {
    let mut server = llserver(&["echo"]);
    let mut peer = Peer::client(server.port, Pki::Ecdsa);
    peer.handshake();
    let trigger = peer.corrupt_record();
    peer.socket.write_all(&trigger).unwrap();
    let answer = peer.read_to_fin();
    assert_bad_record_mac(peer.open(&answer));
    let line = server_closing_line(&server, peer.port(), TIME_LIMIT_BOUND);
    assert!(
        line.contains(
            "closed after lingering: our fatal alert sent, then FIN; read and dropped 0B of the \
             peer's, until the time limit"
        ),
        "{line}"
    );
    server.assert_healthy();
    // Held open until now.
    drop(peer);
}

/// The same for llclient: it exits although the server neither sends nor closes.
#[test]
fn llclient_lingers_for_at_most_the_time_limit() {
    let (client, mut peer) = llclient_and_peer(&[], Input::Piped);
    peer.handshake();
    let trigger = peer.corrupt_record();
    peer.socket.write_all(&trigger).unwrap();
    let answer = peer.read_to_fin();
    assert_bad_record_mac(peer.open(&answer));
    let out = client.finish(TIME_LIMIT_BOUND);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        out.frame("expected a failure")
    );
    let line = client_closing_line(&out.stderr);
    assert!(
        line.contains(
            "closed after lingering: our fatal alert sent, then FIN; read and dropped 0B of the \
             peer's, until the time limit"
        ),
        "{line}"
    );
    drop(peer);
}

/// A client that rejects llserver's certificate sends its fatal alert and goes on sending:
/// llserver has no last record for it to read and closes at once, without draining it.
#[test]
fn llserver_does_not_linger_after_the_peers_fatal_alert() {
    let mut server = llserver(&["--linger-ms", LONG_LINGER, "echo"]);
    // The RSA test PKI's CA did not issue llserver's certificate: unknown_ca.
    let mut peer = Peer::client(server.port, Pki::Rsa);
    // rustls sends its alert with a last-gasp write before it returns the error.
    while peer.tls.is_handshaking() {
        if peer.tls.complete_io(&mut peer.socket).is_err() {
            break;
        }
    }
    assert!(peer.tls.is_handshaking(), "the handshake fails at the peer");
    // More than llserver reads at once; the peer's FIN would end lingering, had it started.
    let _ = peer.socket.write_all(&vec![0x17; JUNK]);
    let _ = peer.socket.shutdown(Shutdown::Write);
    let line = server_closing_line(&server, peer.port(), TIMEOUT);
    assert!(
        line.contains("closed without lingering: the peer sent a fatal alert"),
        "{line}"
    );
    let log = server.proc.stderr();
    assert!(log.contains("peer sent fatal alert unknown_ca"), "{log}");
    server.assert_healthy();
}

/// A server that answers llclient's ClientHello with a fatal alert and holds the connection
/// open: llclient closes at once, without lingering (for which it would wait its 2 s).
#[test]
fn llclient_does_not_linger_after_the_peers_fatal_alert() {
    let (client, mut peer) = llclient_and_peer(&[], Input::Null);
    let mut hello = [0; 5];
    peer.socket.read_exact(&mut hello).expect("the ClientHello");
    // handshake_failure, in the clear.
    let mut alert = vec![21, 3, 3, 0, 2, 2, 40];
    alert.resize(alert.len() + (64 << 10), 0x17);
    let _ = peer.socket.write_all(&alert);
    let out = client.finish(TIMEOUT);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        out.frame("expected a failure")
    );
    let line = client_closing_line(&out.stderr);
    assert!(
        line.contains("closed without lingering: the peer sent a fatal alert"),
        "{line}"
    );
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("peer sent fatal alert handshake_failure"),
        "{last}"
    );
    drop(peer);
}

/// How the test server stops the transfer.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// Sends close_notify, then closes.
    CloseNotify,
    /// Closes the TCP connection without close_notify.
    Eof,
    /// Closes with unread data, so the kernel sends a reset.
    Reset,
    /// Sends a fatal alert (bad_record_mac: the test server corrupts a
    /// record it reads from the client), then closes.
    Alert,
}

/// A TLS server (rustls's buffered API) that reads about `after` bytes of
/// application data and then stops as `stop` says.
fn stopping_server(stop: Stop, after: usize) -> (u16, JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let config = Arc::new(server_config(Pki::Ecdsa, false));
    let handle = thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("accept");
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut conn = rustls::ServerConnection::new(config).unwrap();
        let mut received = 0;
        let mut buf = vec![0; 64 * 1024];
        while received < after {
            conn.complete_io(&mut socket).expect("TLS with llclient");
            loop {
                match conn.reader().read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => received += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        if let Stop::CloseNotify = stop {
            conn.send_close_notify();
            while conn.wants_write() {
                conn.write_tls(&mut socket).unwrap();
            }
        }
        if let Stop::Alert = stop {
            // Corrupt the next byte from the client: whatever record it
            // falls in fails (its tag, or its header), and rustls answers
            // with a fatal alert.
            let mut raw = vec![0; 16 * 1024];
            let mut flipped = false;
            'records: loop {
                let n = socket.read(&mut raw).expect("more records");
                assert!(n > 0, "the client stopped sending");
                if !flipped {
                    raw[0] ^= 0xff;
                    flipped = true;
                }
                let mut bytes = &raw[..n];
                while !bytes.is_empty() {
                    // A full buffer takes nothing this round; processing
                    // and draining below makes room.
                    let _ = conn.read_tls(&mut bytes);
                    if conn.process_new_packets().is_err() {
                        break 'records;
                    }
                    let _ = conn.reader().read(&mut buf);
                }
            }
            while conn.wants_write() {
                conn.write_tls(&mut socket).unwrap();
            }
        }
        match stop {
            // Closing a socket with unread data makes the kernel send a
            // reset.
            Stop::Reset => return received,
            // Shut down our side, and read until the client closes its
            // own, so that it reads what we sent rather than a reset.
            Stop::CloseNotify | Stop::Eof | Stop::Alert => {
                socket.shutdown(std::net::Shutdown::Write).unwrap();
                let mut rest = Vec::new();
                let _ = socket.read_to_end(&mut rest);
            }
        }
        received
    });
    (port, handle)
}

#[test]
fn llclient_reports_a_server_that_stops_early() {
    // More than the server reads, and more than socket buffers hold.
    let data = vec![0x42; 16 << 20];
    let path = scratch("closing-input");
    std::fs::write(&path, &data).unwrap();
    let ca = repo("certs/ca.pem");
    for (stop, expected) in [
        (
            Stop::CloseNotify,
            "the server closed the connection (close_notify) after",
        ),
        (
            Stop::Eof,
            "peer closed the connection without sending close_notify (after",
        ),
        (Stop::Reset, "socket error"),
        (Stop::Alert, "peer sent fatal alert"),
    ] {
        let (port, server) = stopping_server(stop, 100_000);
        let out = llclient(
            port,
            &["--cafile", &ca, "localhost"],
            Input::File(path.clone()),
        );
        let line = out.failure_line();
        assert!(line.contains(expected), "{stop:?}: {line}");
        assert!(
            line.contains("with more to send"),
            "{stop:?}: the line says input was left: {line}"
        );
        let received = server.join().expect("server");
        assert!(received >= 100_000, "{stop:?}: server read {received}B");
    }
    let _ = std::fs::remove_file(&path);
}

/// A client that sends close_notify before any request gets llserver's
/// close_notify and then the end of the TCP stream, in every mode: the close
/// finishes without the client having to give up.
#[test]
fn close_notify_before_any_request_closes_the_connection() {
    let certs = repo("certs");
    for mode in ["echo", "http"] {
        let mut server = LlServer::start(&["--certs", &certs, mode]);
        let config = Arc::new(harness::configs::client_config(Pki::Ecdsa, false));
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(config, name).unwrap();
        let mut socket = TcpStream::connect(server.addr()).expect("connect");
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut socket).expect("handshake");
        }
        conn.send_close_notify();
        while conn.wants_write() {
            conn.write_tls(&mut socket).unwrap();
        }
        // Read until the server closes the stream; a timeout fails.
        let mut bytes = Vec::new();
        let result = socket.read_to_end(&mut bytes);
        assert!(result.is_ok(), "{mode}: {result:?}");
        let mut wire = &bytes[..];
        while !wire.is_empty() {
            conn.read_tls(&mut wire).unwrap();
        }
        let state = conn.process_new_packets().expect("the server's records");
        assert!(
            state.peer_has_closed(),
            "{mode}: llserver answered with close_notify"
        );
        server.assert_healthy();
    }
}

/// llclient with its stdin a pipe the test holds and no data on it, against a server that
/// sends close_notify right after the handshake: the test reads llclient's answering
/// close_notify, closes its side so llclient stops lingering, waits until llclient says it is
/// waiting for stdin to end (it has heard nothing of stdin so far), then does `then` to
/// llclient's stdin; llclient's result.
fn server_closes_first(then: impl FnOnce(&mut Proc)) -> harness::process::Finished {
    let (mut client, mut peer) = llclient_and_peer(&["--linger-ms", LONG_LINGER], Input::Piped);
    peer.handshake();
    let close_notify = peer.close_notify_record();
    peer.socket
        .write_all(&close_notify)
        .expect("send close_notify");
    peer.await_close_notify();
    peer.socket.shutdown(Shutdown::Write).unwrap();
    peer.read_to_fin();
    let waiting = client.stderr_shows("for stdin to end", TIMEOUT);
    then(&mut client);
    let out = client.finish(TIMEOUT);
    assert!(
        waiting,
        "{}",
        out.frame("llclient did not wait for stdin to end")
    );
    out
}

/// The line a failed llclient ended its stderr with (after its debug log lines).
fn last_failure_line(out: &harness::process::Finished) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        out.frame("expected exit code 1")
    );
    assert!(
        !out.stderr.contains("panicked"),
        "{}",
        out.frame("panicked")
    );
    let line = out.stderr.lines().last().unwrap_or_default();
    assert!(
        line.starts_with("llclient: "),
        "{}",
        out.frame("expected a failure line")
    );
    line.to_owned()
}

/// Stdin that ends with no data only after the server's close_notify reached llclient (as
/// `/dev/null` may, from llclient's stdin thread, when the server closes right after the
/// handshake): all of llclient's input (none) was sent, so it exits 0.
#[test]
fn llclient_empty_stdin_ending_after_the_servers_close_notify_is_a_clean_close() {
    let out = server_closes_first(Proc::close_stdin);
    assert!(
        out.success().is_empty(),
        "{}",
        out.frame("the server sent no data")
    );
    out.assert_connection_closed();
}

/// Data on stdin after the server's close_notify was never sent: llclient exits 1 and says so.
#[test]
fn llclient_stdin_data_after_the_servers_close_notify_is_unsent() {
    let out = server_closes_first(|client| {
        client.write(b"too late");
        client.close_stdin();
    });
    let line = last_failure_line(&out);
    assert!(
        line.contains(
            "the server closed the connection (close_notify) after 0B sent, with more to send"
        ),
        "{line}"
    );
}

/// Stdin that stays open, with no data, after the server's close_notify: llclient waits for
/// it only so long, then exits 1 saying its input had not ended.
#[test]
fn llclient_stdin_still_open_after_the_servers_close_notify_is_unsent() {
    let mut stdin = None;
    let out = server_closes_first(|client| stdin = Some(client.take_stdin()));
    let line = last_failure_line(&out);
    assert!(
        line.contains("the server closed the connection (close_notify) after 0B sent, before the end of stdin"),
        "{line}"
    );
    drop(stdin);
}
