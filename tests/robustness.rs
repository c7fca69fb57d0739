//! `llserver` and `llclient` against hostile peers on real loopback sockets, and against bad
//! local input.
//!
//! - Under attack: while llclient echoes 64 MiB through llserver, 1,000 other connections send
//!   garbage, plain HTTP, truncated ClientHellos, oversized record headers, junk after a real
//!   ClientHello, or nothing. The transfer stays byte-exact, each attacker gets the right
//!   alert or a close, and afterwards the server's descriptors and memory are back where they
//!   were.
//! - Slowloris: connections dribbling a byte a second or stalling mid-handshake are closed
//!   after `--handshake-timeout`; idle established connections stay; nobody waits for them.
//! - Resets (RST) mid-handshake and mid-transfer, on both programs.
//! - Bad local input: one clear line, a non-zero exit, no panic.
//!
//! Waits are bounded socket reads (the attackers' own timeouts) and output watches. Where no
//! event exists to wait on — the server's descriptor count in /proc going back down — the test
//! polls the condition with a deadline.

mod harness;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Barrier, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use harness::configs::{load_certs, load_key};
use harness::data::Rng;
use harness::process::{free_port, openssl, LlServer, Proc, Spawn, LLCLIENT, LLSERVER};
use harness::{repo, STARTUP, TIMEOUT};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

/// Alert bytes as they appear on the wire in a plaintext record: level fatal (2), description.
const UNEXPECTED_MESSAGE: u8 = 10;
const RECORD_OVERFLOW: u8 = 22;

fn client_config() -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs("certs/ca.pem") {
        roots.add(cert).expect("valid root");
    }
    Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A real ClientHello (rustls's, as llclient would send), for attackers to start with.
fn client_hello() -> Vec<u8> {
    let name = ServerName::try_from("localhost").expect("valid name");
    let mut conn = ClientConnection::new(client_config(), name).expect("client connection");
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).expect("write ClientHello");
    hello
}

fn llserver_echo(extra: &[&str]) -> LlServer {
    let (chain, key) = (repo("certs/fullchain.pem"), repo("certs/server.key"));
    let mut args = vec!["--certs", &chain, "--key", &key];
    args.extend_from_slice(extra);
    args.push("echo");
    LlServer::start(&args)
}

/// Waits until the server holds `expected` descriptors again. The kernel offers no event for
/// this, so the count is polled; the deadline only bounds the wait.
fn wait_for_fds(server: &LlServer, expected: usize, what: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let now = server.proc.open_fds();
        if now <= expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: llserver holds {now} descriptors, {expected} before\n{}",
            server.proc.frame("descriptor leak")
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// What a hostile connection does.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Attack {
    /// Random bytes whose first byte is no TLS content type, a record header's worth (5 bytes)
    /// or more: the server judges the first record by its whole header (fewer bytes are a
    /// stall, which the handshake timeout ends without a word).
    Garbage,
    /// A plain-HTTP request to the TLS port.
    PlainHttp,
    /// Part of a real ClientHello, then end of stream.
    TruncatedHello,
    /// A record header announcing 65,535 bytes (more than TLS allows), and some of them.
    OversizedRecord,
    /// A whole ClientHello followed by random bytes.
    JunkAfterHello,
    /// Connects and sends nothing: the handshake timeout must close it.
    Silent,
}

const ATTACKS: [Attack; 6] = [
    Attack::Garbage,
    Attack::PlainHttp,
    Attack::TruncatedHello,
    Attack::OversizedRecord,
    Attack::JunkAfterHello,
    Attack::Silent,
];

/// How the server answered one attack.
#[derive(Debug)]
struct Answer {
    /// Everything the server sent before closing.
    bytes: Vec<u8>,
    /// The close: `Ok(())` for EOF, else the error (reset, timeout).
    closed: Result<(), ErrorKind>,
}

fn payload(attack: Attack, hello: &[u8], rng: &mut Rng) -> Vec<u8> {
    match attack {
        Attack::Garbage => {
            let len = 5 + rng.below(1996);
            let mut bytes = rng.bytes(len);
            bytes[0] = [0u8, 1, 19, 25, 0x80, 0xff][rng.below(6)];
            bytes
        }
        Attack::PlainHttp => b"GET / HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n".to_vec(),
        Attack::TruncatedHello => hello[..1 + rng.below(hello.len() - 1)].to_vec(),
        Attack::OversizedRecord => {
            let mut bytes = vec![22, 3, 1, 0xff, 0xff];
            let len = rng.below(1000);
            bytes.extend(rng.bytes(len));
            bytes
        }
        Attack::JunkAfterHello => {
            let mut bytes = hello.to_vec();
            let len = 1 + rng.below(2000);
            bytes.extend(rng.bytes(len));
            bytes
        }
        Attack::Silent => Vec::new(),
    }
}

fn read_until_closed(stream: &mut TcpStream) -> Answer {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Answer {
                    bytes,
                    closed: Ok(()),
                }
            }
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                return Answer {
                    bytes,
                    closed: Err(e.kind()),
                }
            }
        }
    }
}

/// Checks the server's answer to one attack; returns a complaint if it is wrong.
fn judge(attack: Attack, answer: &Answer) -> Result<(), String> {
    let alert = |description| [21, 3, 3, 0, 2, 2, description];
    let ok = match attack {
        // lltls checks the first record's header before rustls sees it: an
        // unknown content type is unexpected_message, more than 2^14 bytes of
        // plaintext record_overflow (RFC 8446 §5), as a plaintext alert; then
        // the server closes.
        Attack::Garbage | Attack::PlainHttp => {
            answer.bytes == alert(UNEXPECTED_MESSAGE) && answer.closed.is_ok()
        }
        Attack::OversizedRecord => answer.bytes == alert(RECORD_OVERFLOW) && answer.closed.is_ok(),
        // Nothing to answer: the stream ended mid-message; the server just closes.
        Attack::TruncatedHello => answer.bytes.is_empty() && answer.closed.is_ok(),
        // The server's first flight (a handshake record), then a close once the junk is
        // rejected or the stream ends.
        Attack::JunkAfterHello => answer.bytes.first() == Some(&22) && answer.closed.is_ok(),
        // Closed by the handshake timeout without a word.
        Attack::Silent => answer.bytes.is_empty() && answer.closed.is_ok(),
    };
    match ok {
        true => Ok(()),
        false => Err(format!(
            "{attack:?}: got {}B {:02x?}…, closed {:?}",
            answer.bytes.len(),
            &answer.bytes[..answer.bytes.len().min(12)],
            answer.closed
        )),
    }
}

/// Opens `count` connections to `port` one after the other, each sending its attack at once;
/// waits at `ready` (with the other attackers and the caller) after the first fifth, so the
/// caller acts while the rest arrive. Then reads each answer until the server closes (bounded
/// by `read_timeout`). Returns the complaints.
///
/// Each attacker sends right after connecting: an attacker idling first would (rightly) be
/// closed by the handshake timeout. Connecting may itself take a second or more when the burst
/// overflows the listen backlog (mio's 128) and the kernel drops SYNs until it is retried.
fn attack_wave(
    port: u16,
    count: usize,
    seed: u64,
    read_timeout: Duration,
    ready: &Barrier,
) -> Vec<String> {
    let hello = client_hello();
    let mut rng = Rng::new(seed);
    let mut open = Vec::with_capacity(count);
    for i in 0..count {
        if i == count / 5 {
            ready.wait();
        }
        let attack = ATTACKS[i % ATTACKS.len()];
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to llserver");
        stream
            .set_read_timeout(Some(read_timeout))
            .expect("read timeout");
        stream
            .set_write_timeout(Some(read_timeout))
            .expect("write timeout");
        let bytes = payload(attack, &hello, &mut rng);
        // The server may close as soon as it saw enough: a failed write is its answer.
        let _ = stream.write_all(&bytes);
        if attack == Attack::TruncatedHello {
            let _ = stream.shutdown(Shutdown::Write);
        }
        open.push((attack, stream));
    }
    let mut complaints = Vec::new();
    for (attack, mut stream) in open {
        if let Err(complaint) = judge(attack, &read_until_closed(&mut stream)) {
            complaints.push(complaint);
        }
    }
    complaints
}

/// Attackers per thread (four threads): 250, 1,000 in all, or fewer when the
/// open-file limit leaves less room, which the test then says. Each attacker
/// holds a descriptor here and one in llserver (same limit: it inherits it);
/// `FD_RESERVE` stay for the test binary's other tests, running meanwhile.
fn attackers_per_thread(open_file_limit: u64) -> usize {
    const FD_RESERVE: u64 = 256;
    let room = open_file_limit.saturating_sub(FD_RESERVE) / 4;
    let per_thread = usize::try_from(room).unwrap_or(usize::MAX).min(250);
    assert!(
        per_thread >= 25,
        "an open-file limit of {open_file_limit} leaves no room for the attack: raise the hard \
         limit (ulimit -Hn) above {}",
        FD_RESERVE + 100
    );
    if per_thread < 250 {
        eprintln!(
            "open-file limit {open_file_limit}: {} attackers per round instead of 1,000",
            per_thread * 4
        );
    }
    per_thread
}

#[test]
fn open_file_limit_is_raised_to_the_hard_limit() {
    let soft = harness::raise_open_file_limit();
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given, which we own.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    assert_eq!(
        limit.rlim_cur, limit.rlim_max,
        "soft limit below the hard one"
    );
    // rlim_t is u64 here, but not on every target.
    #[allow(clippy::useless_conversion)]
    let rlim_cur = u64::try_from(limit.rlim_cur).unwrap();
    assert_eq!(rlim_cur, soft);
}

/// `per_thread` attackers in each of four threads. Returns once the first of them are
/// connected (the caller's turn to act while the rest attack); the handle yields the
/// complaints.
fn attack(
    port: u16,
    seed: u64,
    per_thread: usize,
    handshake_timeout: Duration,
) -> JoinHandle<Vec<String>> {
    let ready = Arc::new(Barrier::new(5));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            // Silent attackers wait out the handshake timeout; the rest are answered at once.
            // Bounds the wait only: a server that never answers fails instead of hanging.
            let read_timeout = handshake_timeout + TIMEOUT;
            let ready = ready.clone();
            thread::spawn(move || attack_wave(port, per_thread, seed + t, read_timeout, &ready))
        })
        .collect();
    ready.wait();
    thread::spawn(move || {
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("attacker thread"))
            .collect()
    })
}

/// llserver installs lltls's checked resolver and verifier and gets the
/// core's corrections: hand-built hostile ClientHellos get the RFC's alert
/// in the clear and nothing else, and the server goes on serving.
#[test]
fn llserver_answers_hostile_client_hellos_as_the_rfcs_say() {
    use harness::hostile::hello::{
        handshake, plaintext_record, Hello, ECDSA_SECP256R1_SHA256, RSA_PKCS1_SHA256,
        RSA_PSS_RSAE_SHA256,
    };
    let server = llserver_echo(&[]);
    let cases = [
        // The server's key is ECDSA P-256.
        (
            "TLS 1.3 with only RSA schemes",
            Hello::tls13(&[RSA_PKCS1_SHA256, RSA_PSS_RSAE_SHA256]).record(),
            40, // handshake_failure
        ),
        (
            "TLS 1.3 without key_share",
            Hello {
                key_share: None,
                ..Hello::tls13(&[ECDSA_SECP256R1_SHA256])
            }
            .record(),
            109, // missing_extension
        ),
        (
            "a Certificate first",
            plaintext_record(22, &handshake(11, &[0; 7])),
            UNEXPECTED_MESSAGE,
        ),
    ];
    for (what, hello, alert) in cases {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("read timeout");
        stream.write_all(&hello).expect("send hello");
        let answer = read_until_closed(&mut stream);
        assert_eq!(
            answer.bytes,
            [21, 3, 3, 0, 2, 2, alert],
            "{what}: the alert alone, then a close ({:?})",
            answer.closed
        );
    }
    echo_through(server.port, vec![7; 100_000]);
}

/// A TLS 1.3 client that sends a handshake record in the clear after
/// llserver's flight gets unexpected_message, sealed with the server's
/// traffic key: the client's rustls opens it.
#[test]
fn llserver_seals_unexpected_message_for_a_cleartext_handshake_record() {
    use harness::hostile::hello::{handshake, plaintext_record};
    let server = llserver_echo(&[]);
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    let name = ServerName::try_from("localhost").expect("valid name");
    let mut conn = ClientConnection::new(client_config(), name).expect("client connection");
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).expect("ClientHello");
    stream.write_all(&hello).expect("send ClientHello");
    // Read the server's flight until the client has its Finished to send.
    while !conn.wants_write() {
        conn.read_tls(&mut stream).expect("server flight");
        conn.process_new_packets().expect("server flight is valid");
    }
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    // Its Finished is dropped; a Finished in the clear goes instead.
    stream
        .write_all(&plaintext_record(22, &handshake(20, &[0; 32])))
        .expect("send record");
    let answer = read_until_closed(&mut stream);
    assert_eq!(
        answer.bytes.len(),
        24,
        "one sealed alert: {:?}",
        answer.bytes
    );
    conn.read_tls(&mut &answer.bytes[..]).expect("alert");
    let error = conn.process_new_packets().expect_err("the alert ends it");
    assert_eq!(
        error,
        rustls::Error::AlertReceived(rustls::AlertDescription::UnexpectedMessage)
    );
    echo_through(server.port, vec![9; 10_000]);
}

/// llclient echoing `data` through the server at `port`; asserts it comes back byte-exact.
fn echo_through(port: u16, data: Vec<u8>) {
    let port = port.to_string();
    let ca = repo("certs/ca.pem");
    let mut client = Proc::spawn(LLCLIENT, &["--port", &port, "--cafile", &ca, "localhost"]);
    let mut stdin = client.take_stdin();
    let len = data.len();
    let writer = thread::spawn(move || {
        let written = stdin.write_all(&data);
        drop(stdin); // EOF: llclient sends close_notify after the data
        written.map(|()| data)
    });
    client.wait_stdout("the echo", TIMEOUT * 2, |out| out.len() >= len);
    let data = writer.join().expect("writer").expect("write to llclient");
    client.wait_success(TIMEOUT);
    let stdout = client.stdout();
    assert!(
        stdout.len() == len && stdout[..] == data[..],
        "{}",
        client.frame("echo not byte-exact")
    );
    client.assert_no_panic();
}

#[test]
fn server_under_attack_keeps_serving_and_returns_to_baseline() {
    // Before llserver starts, so that it inherits the limit.
    let per_thread = attackers_per_thread(harness::raise_open_file_limit());
    let handshake_timeout = Duration::from_secs(3);
    let mut server = llserver_echo(&["--handshake-timeout", "3"]);
    // Warm up (first connection, allocator arenas), then take the baseline.
    echo_through(server.port, Rng::new(7).bytes(1 << 20));
    let baseline_fds = server.proc.open_fds();
    let baseline_rss = server.proc.rss_kib();

    // Round 1: the 64 MiB transfer runs while the attackers are connected.
    let attackers = attack(server.port, 1, per_thread, handshake_timeout);
    let started = Instant::now();
    echo_through(server.port, Rng::new(64).bytes(64 << 20));
    let transfer_time = started.elapsed();
    let complaints = attackers.join().expect("attackers");
    assert!(
        complaints.is_empty(),
        "{} wrong answers, e.g. {:?}",
        complaints.len(),
        &complaints[..complaints.len().min(5)]
    );
    server.assert_healthy();
    wait_for_fds(&server, baseline_fds, "after round 1");
    let round1_rss = server.proc.rss_kib();

    // Round 2: the same attack again. Anything a connection leaked would now show twice.
    let complaints = attack(server.port, 2, per_thread, handshake_timeout)
        .join()
        .expect("attackers");
    assert!(
        complaints.is_empty(),
        "{} wrong answers, e.g. {:?}",
        complaints.len(),
        &complaints[..complaints.len().min(5)]
    );
    server.assert_healthy();
    wait_for_fds(&server, baseline_fds, "after round 2");
    let round2_rss = server.proc.rss_kib();
    eprintln!(
        "64 MiB echo under attack in {transfer_time:?}; llserver fds {baseline_fds}; \
         VmRSS {baseline_rss} KiB at baseline, {round1_rss} KiB after round 1, {round2_rss} KiB after round 2"
    );
    // Memory freed by closed connections may stay with the allocator, but a second round of
    // the same attack must not need more, and what stays is bounded.
    assert!(
        round2_rss <= round1_rss + 8 * 1024,
        "VmRSS grew from {round1_rss} to {round2_rss} KiB over a second identical attack"
    );
    assert!(
        round1_rss <= baseline_rss + 64 * 1024,
        "VmRSS {round1_rss} KiB after the attack, {baseline_rss} KiB before"
    );
    // Still serving, after all that.
    echo_through(server.port, Rng::new(9).bytes(100_000));
    server.assert_healthy();
}

/// Sends `bytes` one per `interval` until the server closes; returns when it did, counted from
/// before connecting (so from before the server's clock for the connection started), or
/// `None` if it outlasted `limit`.
fn dribble(port: u16, bytes: &[u8], interval: Duration, limit: Duration) -> Option<Duration> {
    let connecting = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // Each read waits one interval for the server's close; that is the dribbler's own pace.
    stream
        .set_read_timeout(Some(interval))
        .expect("read timeout");
    let mut buf = [0u8; 4096];
    for byte in bytes.iter().cycle() {
        if stream.write_all(&[*byte]).is_err() {
            return Some(connecting.elapsed());
        }
        match stream.read(&mut buf) {
            Ok(0) => return Some(connecting.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(connecting.elapsed()),
        }
        if connecting.elapsed() > limit {
            return None;
        }
    }
    None
}

/// Sends `bytes` at once, then waits (bounded by `limit`) for the server to close; returns
/// when it did, counted from before connecting.
fn stall(port: u16, bytes: &[u8], limit: Duration) -> Option<Duration> {
    let connecting = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(limit)).expect("read timeout");
    stream.write_all(bytes).expect("send");
    let answer = read_until_closed(&mut stream);
    answer.closed.ok().map(|()| connecting.elapsed())
}

/// What the slowloris test saw, in the order it happened.
#[derive(Debug, PartialEq)]
enum Seen {
    /// The normal client got its echo back.
    Served,
    /// The server closed a slow connection.
    Closed(&'static str),
}

#[test]
fn slowloris_connections_are_closed_after_the_handshake_timeout() {
    // Long enough that a normal exchange beside the slow clients, on a busy machine, is over
    // long before the server would close them.
    let timeout = Duration::from_secs(4);
    // Bounds the waits only: a slow connection the server never closes fails the test.
    let limit = TIMEOUT;
    let mut server = llserver_echo(&["--handshake-timeout", "4"]);
    let port = server.port;
    let hello = client_hello();

    // An established connection that then idles longer than the handshake timeout.
    let ca = repo("certs/ca.pem");
    let port_arg = port.to_string();
    let mut idle = Proc::spawn(
        LLCLIENT,
        &["--port", &port_arg, "--cafile", &ca, "localhost"],
    );
    idle.write(b"established\n");
    idle.wait_stdout_contains("established\n", TIMEOUT);

    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut slow = Vec::new();
    let mut slow_client =
        |what: &'static str, run: Box<dyn FnOnce() -> Option<Duration> + Send>| {
            let seen = seen.clone();
            slow.push(thread::spawn(move || {
                let closed = run();
                if closed.is_some() {
                    seen.lock().unwrap().push(Seen::Closed(what));
                }
                (what, closed)
            }));
        };
    for _ in 0..10 {
        // Half a ClientHello, then silence.
        let half = hello[..hello.len() / 2].to_vec();
        let hello = hello.clone();
        // A byte a second, forever (a ClientHello never completes at that pace in time).
        slow_client(
            "dribble",
            Box::new(move || dribble(port, &hello, Duration::from_secs(1), limit)),
        );
        slow_client("half hello", Box::new(move || stall(port, &half, limit)));
    }
    // A whole ClientHello, then silence after the server's flight (mid-handshake stall).
    let whole = hello.clone();
    slow_client("whole hello", Box::new(move || stall(port, &whole, limit)));

    // Meanwhile other clients are served at once: nobody waits for the slow ones.
    echo_through(port, b"served while others dribble\n".to_vec());
    seen.lock().unwrap().push(Seen::Served);

    let events = slow.len() + 1;
    for handle in slow {
        let (what, closed) = handle.join().expect("slow client");
        let closed = closed.unwrap_or_else(|| panic!("{what}: not closed within {limit:?}"));
        // Closed by the timeout, not before it. Counted from before connecting, so no delay
        // on a busy machine can make this fail; how long after the timeout the close came
        // is not checked (that depends on the machine's load).
        assert!(
            closed >= timeout,
            "{what}: closed after {closed:?}, before the handshake timeout {timeout:?}"
        );
    }
    // The normal exchange was over before the server closed any slow connection: it did not
    // wait for them. (All were closed before anything else happened on the server: by its
    // timer alone.)
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.first(),
        Some(&Seen::Served),
        "order of events: {seen:?}"
    );
    assert_eq!(seen.len(), events, "order of events: {seen:?}");

    // The established connection outlived the timeout and still works.
    idle.write(b"still here\n");
    idle.wait_stdout_contains("still here\n", TIMEOUT);
    idle.close_stdin();
    idle.wait_success(TIMEOUT);
    server.assert_healthy();
}

/// Closes `stream` with unread data in its receive buffer: the kernel then sends RST, not FIN
/// (the portable way to reset without SO_LINGER).
fn reset(stream: TcpStream) {
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    let mut byte = [0u8; 1];
    // Wait (bounded) until something unread is there.
    let _ = stream.peek(&mut byte);
    drop(stream);
}

#[test]
fn resets_mid_handshake_and_mid_transfer_are_dropped_cleanly_by_llserver() {
    let mut server = llserver_echo(&[]);
    echo_through(server.port, b"warm up\n".to_vec());
    let baseline_fds = server.proc.open_fds();

    // Mid-handshake: the ClientHello is answered, and the client resets instead of finishing.
    for _ in 0..20 {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        stream.write_all(&client_hello()).expect("send ClientHello");
        reset(stream);
    }

    // Mid-transfer: a real TLS client streams data to the echo server, stops reading, and
    // resets while echoed data is waiting for it (and more is in flight).
    for _ in 0..5 {
        let name = ServerName::try_from("localhost").expect("valid name");
        let conn = ClientConnection::new(client_config(), name).expect("client");
        let sock = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        sock.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
        let mut tls = rustls::StreamOwned::new(conn, sock);
        tls.write_all(&vec![0x42; 1 << 20]).expect("send 1 MiB");
        tls.flush().expect("flush");
        let sock = tls.sock;
        reset(sock);
    }

    // The server dropped them all and goes on.
    wait_for_fds(&server, baseline_fds, "after resets");
    echo_through(server.port, b"after resets\n".to_vec());
    server.assert_healthy();
}

fn server_config() -> Arc<ServerConfig> {
    let key = load_key("certs/server.key");
    Arc::new(
        ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(load_certs("certs/fullchain.pem"), key)
            .expect("server config"),
    )
}

/// The one line llclient printed on stderr, asserting a failed exit (code 1) without panic.
fn failure_line(client: Proc) -> String {
    client.finish(TIMEOUT).failure_line()
}

#[test]
fn resets_mid_handshake_and_mid_transfer_end_llclient_cleanly() {
    let ca = repo("certs/ca.pem");

    // Mid-handshake: the server takes the connection and resets it unanswered.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port().to_string();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        reset(stream); // the ClientHello is the unread data
    });
    let client = Proc::spawn(LLCLIENT, &["--port", &port, "--cafile", &ca, "localhost"]);
    server.join().expect("reset server");
    let line = failure_line(client);
    assert!(
        line.starts_with("llclient: ") && line.contains("reset"),
        "{line}"
    );

    // Mid-transfer: a real TLS server takes part of a large upload, then resets.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port().to_string();
    let server = thread::spawn(move || {
        let (sock, _) = listener.accept().expect("accept");
        sock.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
        let conn = ServerConnection::new(server_config()).expect("server connection");
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut taken = vec![0u8; 256 * 1024];
        tls.read_exact(&mut taken)
            .expect("read the start of the upload");
        reset(tls.sock);
    });
    let mut client = Proc::spawn(LLCLIENT, &["--port", &port, "--cafile", &ca, "localhost"]);
    let mut stdin = client.take_stdin();
    // 16 MiB: far more than the server takes; the write fails once llclient is gone.
    let writer = thread::spawn(move || {
        let chunk = vec![0x17u8; 1 << 20];
        for _ in 0..16 {
            if stdin.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    server.join().expect("reset server");
    let line = failure_line(client);
    writer.join().expect("writer");
    assert!(
        line.starts_with("llclient: ") && (line.contains("reset") || line.contains("Broken pipe")),
        "{line}"
    );
}

// ---- bad local input: one clear line, a non-zero exit, no panic ----

fn llserver_fails(args: &[&str]) -> String {
    let mut all = vec!["--port", "0"];
    all.extend_from_slice(args);
    let server = Spawn::new(LLSERVER, &all).start().finish(STARTUP);
    let line = server.failure_line();
    assert!(
        server.stdout.is_empty(),
        "{}",
        server.frame("nothing on stdout")
    );
    line
}

#[test]
fn llserver_rejects_bad_files_with_one_line() {
    let dir = repo("certs");
    let chain = repo("certs/fullchain.pem");
    let key = repo("certs/server.key");
    let garbage = repo("tests/data/bad/garbage.pem");
    let text = repo("tests/data/bad/text.pem");
    let unterminated = repo("tests/data/bad/unterminated.pem");
    let empty = repo("tests/data/bad/empty.pem");
    let der = repo("certs/crl.der");
    let cert_not_key = repo("certs/server.pem");
    let rsa_key = repo("certs/rsa/server.key");
    let encrypted = repo("tests/data/bad/encrypted.key");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        // A directory where a file belongs cannot be read.
        (vec!["--certs", &chain, "--key", &dir], "cannot read"),
        (vec!["--certs", &garbage, "--key", &key], "invalid PEM in"),
        (
            vec!["--certs", &unterminated, "--key", &key],
            "invalid PEM in",
        ),
        (
            vec!["--certs", &text, "--key", &key],
            "no certificates found in",
        ),
        (
            vec!["--certs", &empty, "--key", &key],
            "no certificates found in",
        ),
        // DER where PEM is expected.
        (vec!["--certs", &der, "--key", &key], "crl.der"),
        // A certificate where the key belongs.
        (
            vec!["--certs", &chain, "--key", &cert_not_key],
            "no private key found in",
        ),
        (vec!["--certs", &chain, "--key", &garbage], "garbage.pem"),
        // A password-protected key: rustls cannot use it, and the message says why.
        (vec!["--certs", &chain, "--key", &encrypted], "is encrypted"),
        // DER where a PEM key is expected.
        (
            vec!["--certs", &chain, "--key", &der],
            "no private key found in",
        ),
        // The RSA key with the ECDSA chain.
        (vec!["--certs", &chain, "--key", &rsa_key], "does not match"),
        (
            vec!["--certs", &chain, "--key", &key, "--auth", &empty],
            "no certificates found in",
        ),
        (
            vec!["--certs", &chain, "--key", &key, "--ocsp", &chain],
            "invalid OCSP response",
        ),
    ];
    for (mut args, expected) in cases {
        args.push("echo");
        let line = llserver_fails(&args);
        assert!(
            line.starts_with("llserver: ") && line.contains(expected),
            "{args:?}: {line}"
        );
    }
}

fn llclient_fails(port: u16, args: &[&str]) -> String {
    let port = port.to_string();
    let mut all = vec!["--port", &port];
    all.extend_from_slice(args);
    all.push("localhost");
    // Stdin empty: EOF at once.
    failure_line(Spawn::new(LLCLIENT, &all).start())
}

#[test]
fn llclient_rejects_bad_files_with_one_line() {
    // Nothing is listening: file errors must come before any connection attempt.
    let port = free_port();
    let empty = repo("tests/data/bad/empty.pem");
    let text = repo("tests/data/bad/text.pem");
    let garbage = repo("tests/data/bad/garbage.pem");
    let key_not_cert = repo("certs/client.key");
    let dir = repo("certs");
    let (ca, client_chain, server_key) = (
        repo("certs/ca.pem"),
        repo("certs/client-fullchain.pem"),
        repo("certs/server.key"),
    );
    let encrypted = repo("tests/data/bad/encrypted.key");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        // Upstream silently accepts an empty CA file (and then trusts nothing).
        (vec!["--cafile", &empty], "no certificates found in"),
        (vec!["--cafile", &text], "no certificates found in"),
        (vec!["--cafile", &garbage], "invalid PEM in"),
        (vec!["--cafile", &key_not_cert], "no certificates found in"),
        (vec!["--cafile", &dir], "cannot read"),
        (
            vec![
                "--cafile",
                &ca,
                "--auth-certs",
                &client_chain,
                "--auth-key",
                &server_key,
            ],
            "does not match",
        ),
        (
            vec![
                "--cafile",
                &ca,
                "--auth-certs",
                &client_chain,
                "--auth-key",
                &encrypted,
            ],
            "is encrypted",
        ),
    ];
    for (args, expected) in cases {
        let line = llclient_fails(port, &args);
        assert!(
            line.starts_with("llclient: ") && line.contains(expected),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn llclient_rejects_expired_and_not_yet_valid_server_certificates() {
    let ca = repo("certs/ca.pem");
    for (name, field, expected) in [
        (
            "expired",
            "enddate",
            "invalid peer certificate: expired: not valid after",
        ),
        (
            "notyet",
            "startdate",
            "invalid peer certificate: not valid yet: not valid before",
        ),
    ] {
        let chain = repo(&format!("certs/{name}-fullchain.pem"));
        let key = repo(&format!("certs/{name}.key"));
        let mut server = LlServer::start(&["--certs", &chain, "--key", &key, "echo"]);
        let line = llclient_fails(server.port, &["--cafile", &ca]);
        // The dates in UTC, as openssl reads them from the certificate.
        let date = openssl_date(&repo(&format!("certs/{name}.pem")), field);
        let expected = format!("{expected} {date} UTC, now ");
        assert!(
            line.starts_with("llclient: ") && line.contains(&expected),
            "{line}\nexpected: {expected}"
        );
        let now = line.split_once(", now ").unwrap().1;
        assert!(is_utc_date(now), "not a date: {now}");
        // The server saw the client's alert and goes on.
        server.assert_healthy();
    }
    // And a chain from a CA the client does not trust.
    let mut server = llserver_echo(&[]);
    let line = llclient_fails(server.port, &["--cafile", &repo("certs/other-ca.pem")]);
    assert!(
        line.contains("issued by an unknown certificate authority"),
        "{line}"
    );
    server.assert_healthy();
}

/// `openssl x509 -FIELD` (`enddate`, `startdate`) of `cert` as
/// `2025-11-28 17:52:35`.
fn openssl_date(cert: &str, field: &str) -> String {
    let option = format!("-{field}");
    let args = [
        "x509", "-in", cert, "-noout", &option, "-dateopt", "iso_8601",
    ];
    let out = Spawn::new(openssl(), &args).start().finish(TIMEOUT);
    let text = String::from_utf8_lossy(out.success()).into_owned();
    let (_, date) = text.trim_end().split_once('=').expect("FIELD=DATE");
    date.trim_end_matches('Z').to_owned()
}

/// Whether `text` starts with `YYYY-MM-DD HH:MM:SS UTC`.
fn is_utc_date(text: &str) -> bool {
    let pattern = "dddd-dd-dd dd:dd:dd UTC";
    text.len() >= pattern.len()
        && pattern.chars().zip(text.chars()).all(|(p, c)| match p {
            'd' => c.is_ascii_digit(),
            p => p == c,
        })
}

/// Regression: when `accept` failed for want of descriptors, llserver waited for the next
/// listener event, which only a new connection brings: clients already queued in the
/// backlog were never served, even after descriptors were free again.
#[test]
fn accepting_resumes_after_descriptors_run_out() {
    let (chain, key) = (repo("certs/fullchain.pem"), repo("certs/server.key"));
    // 32 descriptors: a few for the program, the rest for connections.
    let script = "ulimit -n 32 && exec \"$0\" \"$@\"";
    let args = [
        "-c",
        script,
        LLSERVER,
        "--port",
        "0",
        "--certs",
        &chain,
        "--key",
        &key,
        "--handshake-timeout",
        "2",
        "echo",
    ];
    let mut server = LlServer::listening(Proc::spawn("sh", &args));
    let port = server.port;

    // Silent connections take every descriptor; the rest wait in the backlog.
    let silent: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    // This client is queued behind them. Once the handshake timeout closed the silent ones,
    // it must be served without any further connection arriving.
    // (Without that, it is never served: the echo's wait is bounded only so a hang fails.)
    echo_through(port, b"queued while descriptors ran out\n".to_vec());
    for mut stream in silent {
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("read timeout");
        let answer = read_until_closed(&mut stream);
        assert!(
            answer.bytes.is_empty() && answer.closed.is_ok(),
            "{answer:?}"
        );
    }
    server.assert_healthy();
}

/// A fake server that reads the ClientHello, answers `reply`, and returns everything the
/// client sent afterwards (until it closed).
fn hostile_server(reply: Vec<u8>) -> (u16, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let handle = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("read timeout");
        let mut hello = [0u8; 4096];
        let _ = stream.read(&mut hello);
        let _ = stream.write_all(&reply);
        read_until_closed(&mut stream).bytes
    });
    (port, handle)
}

#[test]
fn llclient_rejects_a_hostile_server_with_an_alert_and_one_line() {
    let ca = repo("certs/ca.pem");
    let mut rng = Rng::new(77);
    let mut garbage = rng.bytes(500);
    garbage[0] = 0x80;
    // The first record's header decides (RFC 8446 §5): an unknown content
    // type is unexpected_message, a record over 2^14 bytes record_overflow.
    let cases = [
        (
            "plain HTTP",
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec(),
            ("unexpected_message", UNEXPECTED_MESSAGE),
        ),
        (
            "garbage",
            garbage,
            ("unexpected_message", UNEXPECTED_MESSAGE),
        ),
        (
            "oversized record",
            vec![22, 3, 3, 0xff, 0xff, 2, 0, 0],
            ("record_overflow", RECORD_OVERFLOW),
        ),
    ];
    for (what, reply, (alert_name, alert)) in cases {
        let (port, server) = hostile_server(reply);
        let port = port.to_string();
        let client = Proc::spawn(LLCLIENT, &["--port", &port, "--cafile", &ca, "localhost"]);
        let line = failure_line(client);
        assert!(
            line.starts_with("llclient: TLS error: ") && line.contains(alert_name),
            "{what}: {line}"
        );
        // llclient told the server why before closing: a plaintext alert.
        let sent = server.join().expect("hostile server");
        assert_eq!(
            sent,
            [21, 3, 3, 0, 2, 2, alert],
            "{what}: llclient sent {sent:02x?}"
        );
    }
}
