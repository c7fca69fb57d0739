//! `lltls::stream` over real TCP: against itself, llserver, `openssl
//! s_server` and rustls's own `Stream`; bulk transfers, hostile transports
//! and the error semantics of `rustls::Stream`.

mod harness;

use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

use harness::configs::*;
use harness::data::Rng;
use harness::pair::records;
use harness::process::{openssl_s_server_for_one, LlServer, Proc};
use harness::{repo, HTTP_REQUEST as REQUEST, HTTP_RESPONSE, TIMEOUT};
use lltls::stream::{Stream, StreamOwned};
use lltls::Pump;
use lltls::{Error, LlClientConnection, LlServerConnection};
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::server::UnbufferedServerConnection;
use rustls::{ClientConfig, ServerConfig};

type ClientStream<T> = StreamOwned<UnbufferedClientConnection, T>;
type ServerStream<T> = StreamOwned<UnbufferedServerConnection, T>;

fn name() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

/// Every socket read or write gives up after [`TIMEOUT`]: a hang fails the test.
fn with_timeouts(socket: TcpStream) -> TcpStream {
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    socket.set_write_timeout(Some(TIMEOUT)).unwrap();
    socket
}

fn connect(addr: SocketAddr) -> TcpStream {
    with_timeouts(TcpStream::connect_timeout(&addr, TIMEOUT).unwrap())
}

fn client_stream<T: Read + Write>(config: ClientConfig, transport: T) -> ClientStream<T> {
    StreamOwned::new(
        LlClientConnection::new(Arc::new(config), name()).unwrap(),
        transport,
    )
}

/// A server thread on 127.0.0.1:0 that serves one connection with `serve`
/// over a lltls server `Stream`.
fn spawn_server<R: Send + 'static>(
    config: ServerConfig,
    serve: impl FnOnce(&mut ServerStream<TcpStream>) -> R + Send + 'static,
) -> (SocketAddr, thread::JoinHandle<R>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Arc::new(config);
    let handle = thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        let conn = LlServerConnection::new(config).unwrap();
        let mut stream = StreamOwned::new(conn, with_timeouts(socket));
        serve(&mut stream)
    });
    (addr, handle)
}

/// Reads everything until the peer's close_notify, then echoes it back and
/// closes: the server half of the bulk tests.
fn echo_after_close<T: Read + Write>(stream: &mut ServerStream<T>) -> io::Result<usize> {
    let mut received = Vec::new();
    stream.read_to_end(&mut received)?;
    stream.write_all(&received)?;
    stream.send_close_notify()?;
    Ok(received.len())
}

/// The client half: sends `payload`, half-closes with close_notify, reads
/// the echo until the server's close_notify.
fn send_and_read_back<T: Read + Write>(stream: &mut ClientStream<T>, payload: &[u8]) -> Vec<u8> {
    stream.write_all(payload).unwrap();
    stream.send_close_notify().unwrap();
    let mut echoed = Vec::with_capacity(payload.len());
    stream.read_to_end(&mut echoed).unwrap();
    echoed
}

#[test]
fn sixteen_mib_each_way_byte_exact() {
    for tls12 in [false, true] {
        let payload = Rng::new(16).bytes(16 << 20);
        let (addr, server) = spawn_server(server_config(Pki::Ecdsa, tls12), echo_after_close);
        let mut client = client_stream(client_config(Pki::Ecdsa, tls12), connect(addr));
        let echoed = send_and_read_back(&mut client, &payload);
        assert_eq!(server.join().unwrap().unwrap(), payload.len());
        assert!(echoed == payload, "tls12={tls12}: echo differs");
    }
}

#[test]
fn handshake_happens_on_first_use() {
    let (addr, server) = spawn_server(server_config(Pki::Rsa, false), |stream| {
        let mut request = vec![0; REQUEST.len()];
        stream.read_exact(&mut request).unwrap();
        stream.write_all(HTTP_RESPONSE).unwrap();
        stream.send_close_notify().unwrap();
        request
    });
    let mut client = client_stream(client_config(Pki::Rsa, false), connect(addr));
    assert!(client.conn().is_handshaking());
    client.write_all(REQUEST).unwrap();
    assert!(
        !client.conn().is_handshaking(),
        "write completes the handshake"
    );
    let mut response = Vec::new();
    client.read_to_end(&mut response).unwrap();
    assert_eq!(response, HTTP_RESPONSE);
    assert_eq!(server.join().unwrap(), REQUEST);
    // read keeps returning 0 after close_notify.
    assert_eq!(client.read(&mut [0; 10]).unwrap(), 0);
}

#[test]
fn write_returns_once_the_record_is_with_the_transport() {
    let (addr, server) = spawn_server(server_config(Pki::Rsa, false), |stream| {
        let mut request = vec![0; REQUEST.len()];
        stream.read_exact(&mut request).unwrap();
        stream.close().unwrap()
    });
    let (transport, log) = recorder(connect(addr));
    let mut client = client_stream(client_config(Pki::Rsa, false), transport);
    assert_eq!(client.write(REQUEST).unwrap(), REQUEST.len());
    // ClientHello, CCS, Finished, then the request (81 bytes + 22).
    let written = records(&log.lock().unwrap().written);
    assert_eq!(written.last(), Some(&(23, REQUEST.len() + 22)));
    assert!(client.pump.to_transmit().is_empty());
    assert_eq!(client.close().unwrap(), 0);
    assert_eq!(server.join().unwrap(), 0);
}

#[test]
fn eof_without_close_notify_is_unexpected_eof() {
    let (addr, server) = spawn_server(server_config(Pki::Ecdsa, false), |stream| {
        stream.complete_handshake().unwrap();
        stream.write_all(b"partial answer").unwrap();
        // TCP FIN without close_notify: a truncation attack looks like this.
        stream.get_ref().shutdown(std::net::Shutdown::Both).unwrap();
    });
    let mut client = client_stream(client_config(Pki::Ecdsa, false), connect(addr));
    let mut received = Vec::new();
    let error = client.read_to_end(&mut received).unwrap_err();
    server.join().unwrap();
    assert_eq!(received, b"partial answer", "data before the EOF arrives");
    assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    let inner = error.into_inner().unwrap().downcast::<Error>().unwrap();
    assert!(matches!(
        *inner,
        Error::UnexpectedEof { handshaking: false }
    ));
}

#[test]
fn eof_during_handshake_is_unexpected_eof() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut hello = [0u8; 5];
        socket.read_exact(&mut hello).unwrap();
        // Hang up before answering.
    });
    let mut client = client_stream(client_config(Pki::Ecdsa, false), connect(addr));
    let error = client.write(b"hello").unwrap_err();
    server.join().unwrap();
    // Depending on timing the reset may beat the FIN.
    assert!(
        matches!(
            error.kind(),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
        ),
        "{error:?}"
    );
}

#[test]
fn tls_error_is_invalid_data_and_the_alert_reaches_the_peer() {
    // The client trusts another CA: it rejects the server's chain, and the
    // server learns why from the alert the client sent before failing.
    let (addr, server) = spawn_server(server_config(Pki::Rsa, false), |stream| {
        stream.complete_handshake().unwrap_err()
    });
    let mut client = client_stream(client_config(Pki::Ecdsa, false), connect(addr));
    let error = client.write(REQUEST).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    let inner = error.into_inner().unwrap().downcast::<Error>().unwrap();
    assert!(
        matches!(
            inner.rustls_error(),
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{inner:?}"
    );
    let server_error = server.join().unwrap();
    assert_eq!(server_error.kind(), io::ErrorKind::InvalidData);
    let server_inner = server_error
        .into_inner()
        .unwrap()
        .downcast::<Error>()
        .unwrap();
    assert_eq!(
        server_inner.alert_received(),
        Some(rustls::AlertDescription::UnknownCA)
    );
    // Errors are sticky.
    assert_eq!(
        client.read(&mut [0; 4]).unwrap_err().kind(),
        io::ErrorKind::InvalidData
    );
}

#[test]
fn records_larger_than_the_read_buffer_lose_nothing() {
    let payload = Rng::new(5).bytes(100_000);
    let sent = payload.clone();
    let (addr, server) = spawn_server(server_config(Pki::Ecdsa, false), move |stream| {
        stream.write_all(&sent).unwrap();
        stream.send_close_notify().unwrap();
        stream.read_to_end(&mut Vec::new()).unwrap()
    });
    let mut client = client_stream(client_config(Pki::Ecdsa, false), connect(addr));
    let mut received = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        match client.read(&mut buf).unwrap() {
            0 => break,
            n => received.extend_from_slice(&buf[..n]),
        }
    }
    assert!(received == payload);
    client.send_close_notify().unwrap();
    assert_eq!(server.join().unwrap(), 0);
}

#[test]
fn bufread_reads_lines() {
    let (addr, server) = spawn_server(server_config(Pki::Ecdsa, false), |stream| {
        stream
            .write_all(b"first line\nsecond line\nno newline")
            .unwrap();
        stream.send_close_notify().unwrap();
    });
    let client = client_stream(client_config(Pki::Ecdsa, false), connect(addr));
    let lines: Vec<String> = client.lines().map(Result::unwrap).collect();
    server.join().unwrap();
    assert_eq!(lines, ["first line", "second line", "no newline"]);
}

#[test]
fn borrowed_stream_keeps_state_across_instances() {
    // rustls::Stream is made afresh per call; so can lltls's, as long as the
    // same buffers come along.
    let (addr, server) = spawn_server(server_config(Pki::Ecdsa, false), |stream| {
        let mut request = [0u8; 5];
        stream.read_exact(&mut request).unwrap();
        stream.write_all(b"0123456789").unwrap();
        stream.close().unwrap()
    });
    let mut socket = connect(addr);
    let conn = LlClientConnection::new(Arc::new(client_config(Pki::Ecdsa, false)), name()).unwrap();
    let mut pump = Pump::new(conn);
    Stream::new(&mut pump, &mut socket)
        .write_all(b"hello")
        .unwrap();
    let mut received = Vec::new();
    for _ in 0..10 {
        let mut byte = [0u8; 1];
        let n = Stream::new(&mut pump, &mut socket).read(&mut byte).unwrap();
        received.extend_from_slice(&byte[..n]);
    }
    assert_eq!(received, b"0123456789");
    let discarded = Stream::new(&mut pump, &mut socket).close().unwrap();
    assert_eq!(discarded, 0);
    assert_eq!(server.join().unwrap(), 0);
}

#[test]
fn write_after_close_notify_is_broken_pipe() {
    let (addr, server) = spawn_server(server_config(Pki::Ecdsa, false), |stream| {
        stream.read_to_end(&mut Vec::new()).unwrap()
    });
    let mut client = client_stream(client_config(Pki::Ecdsa, false), connect(addr));
    client.write_all(b"data").unwrap();
    client.send_close_notify().unwrap();
    assert_eq!(
        client.write(b"more").unwrap_err().kind(),
        io::ErrorKind::BrokenPipe
    );
    assert_eq!(server.join().unwrap(), 4);
}

/// A transport that moves 1 to 7 bytes per call and fails with
/// `Interrupted` at random, seeded.
struct Choppy<T> {
    inner: T,
    rng: Rng,
}

impl<T> Choppy<T> {
    fn new(inner: T, seed: u64) -> Self {
        Self {
            inner,
            rng: Rng::new(seed),
        }
    }

    fn interrupted(&mut self) -> bool {
        self.rng.below(5) == 0
    }
}

impl<T: Read> Read for Choppy<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.interrupted() {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = (1 + self.rng.below(7)).min(buf.len());
        self.inner.read(&mut buf[..n])
    }
}

impl<T: Write> Write for Choppy<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.interrupted() {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = (1 + self.rng.below(7)).min(buf.len());
        self.inner.write(&buf[..n])
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.interrupted() {
            return Err(io::ErrorKind::Interrupted.into());
        }
        self.inner.flush()
    }
}

#[test]
fn short_reads_writes_and_interrupts_lose_nothing() {
    for (seed, tls12) in [(1, false), (2, true), (3, false)] {
        let payload = Rng::new(seed).bytes(150_000);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let config = Arc::new(server_config(Pki::Rsa, tls12));
        let server = thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            let transport = Choppy::new(with_timeouts(socket), seed + 100);
            let mut stream = StreamOwned::new(LlServerConnection::new(config).unwrap(), transport);
            echo_after_close(&mut stream).unwrap()
        });
        let transport = Choppy::new(connect(addr), seed);
        let mut client = client_stream(client_config(Pki::Rsa, tls12), transport);
        let echoed = send_and_read_back(&mut client, &payload);
        assert_eq!(server.join().unwrap(), payload.len());
        assert!(echoed == payload, "seed {seed}: echo differs");
    }
}

// --- against other implementations ------------------------------------------

/// `llserver --certs certs/rsa MODE…` and the address it listens on.
fn spawn_llserver(mode: &[&str]) -> (LlServer, SocketAddr) {
    let mut args = vec!["--certs".to_owned(), repo("certs/rsa")];
    args.extend(mode.iter().map(|arg| arg.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = LlServer::start(&args);
    let addr = server.addr();
    (server, addr)
}

#[test]
fn against_llserver_http() {
    let (_server, addr) = spawn_llserver(&["http"]);
    let mut client = client_stream(client_config(Pki::Rsa, false), connect(addr));
    client.write_all(REQUEST).unwrap();
    let mut response = Vec::new();
    client.read_to_end(&mut response).unwrap();
    assert_eq!(response, HTTP_RESPONSE);
}

#[test]
fn against_llserver_echo() {
    let (_server, addr) = spawn_llserver(&["echo"]);
    for tls12 in [false, true] {
        let mut client = client_stream(client_config(Pki::Rsa, tls12), connect(addr));
        let mut rng = Rng::new(21);
        // Interleaved, so neither side's buffers fill up.
        for round in 0..40 {
            let len = 1 + rng.below(20_000);
            let chunk = rng.bytes(len);
            client.write_all(&chunk).unwrap();
            let mut echoed = vec![0; chunk.len()];
            client.read_exact(&mut echoed).unwrap();
            assert!(echoed == chunk, "tls12={tls12} round {round}");
        }
        assert_eq!(client.close().unwrap(), 0, "nothing left after close");
    }
}

/// `openssl s_server` with the RSA PKI for one connection in `mode`, once it listens.
fn spawn_openssl(mode: &str) -> (Proc, SocketAddr) {
    let (server, port) = openssl_s_server_for_one("certs/rsa", &["-4", mode]);
    (server, SocketAddr::from(([127, 0, 0, 1], port)))
}

#[test]
fn against_openssl_s_server_www() {
    // -www answers GET / with a status page, then close_notify.
    let (_server, addr) = spawn_openssl("-www");
    let mut client = client_stream(client_config(Pki::Rsa, false), connect(addr));
    client.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut page = Vec::new();
    client.read_to_end(&mut page).unwrap();
    let page = String::from_utf8_lossy(&page);
    assert!(page.starts_with("HTTP/1.0 200 ok"), "{page}");
    assert!(page.contains("TLSv1.3"), "{page}");
}

#[test]
fn against_openssl_s_server_rev() {
    // -rev sends each line back reversed.
    let (_server, addr) = spawn_openssl("-rev");
    let mut client = client_stream(client_config(Pki::Rsa, false), connect(addr));
    for i in 0..20 {
        let text = format!("line {i}: {}", "x".repeat(i * 300));
        client.write_all(format!("{text}\n").as_bytes()).unwrap();
        let mut back = String::new();
        client.read_line(&mut back).unwrap();
        let expected: String = text.chars().rev().collect();
        assert_eq!(back.strip_suffix('\n'), Some(expected.as_str()));
    }
}

// --- differential against rustls::Stream ---------------------------------------

/// A transport that records every byte written and read.
struct Recorder<T> {
    inner: T,
    log: Arc<Mutex<Recorded>>,
}

#[derive(Default)]
struct Recorded {
    written: Vec<u8>,
    read: Vec<u8>,
}

impl<T: Read> Read for Recorder<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.log.lock().unwrap().read.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl<T: Write> Write for Recorder<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.log
            .lock()
            .unwrap()
            .written
            .extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn recorder(socket: TcpStream) -> (Recorder<TcpStream>, Arc<Mutex<Recorded>>) {
    let log = Arc::new(Mutex::new(Recorded::default()));
    (
        Recorder {
            inner: socket,
            log: log.clone(),
        },
        log,
    )
}

/// What one side of the differential saw.
#[derive(Debug, PartialEq)]
struct Outcome {
    plaintext: Vec<u8>,
    records_written: Vec<(u8, usize)>,
    records_read: Vec<(u8, usize)>,
}

fn outcome(plaintext: Vec<u8>, log: &Mutex<Recorded>) -> Outcome {
    let log = log.lock().unwrap();
    Outcome {
        plaintext,
        records_written: records(&log.written),
        records_read: records(&log.read),
    }
}

/// The client's part of the differential exchange: a request, the whole
/// response, close_notify.
fn client_exchange(stream: &mut (impl Read + Write), payload: &[u8]) -> Vec<u8> {
    stream.write_all(payload).unwrap();
    stream.flush().unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    response
}

/// The server's part: reads the request, answers with `response`, closes.
fn server_exchange(
    stream: &mut (impl Read + Write),
    request_len: usize,
    response: &[u8],
) -> Vec<u8> {
    let mut request = vec![0; request_len];
    stream.read_exact(&mut request).unwrap();
    stream.write_all(response).unwrap();
    stream.flush().unwrap();
    request
}

/// A rustls (buffered) server thread running `server_exchange`.
fn spawn_rustls_server(
    config: ServerConfig,
    request_len: usize,
    response: Vec<u8>,
) -> (SocketAddr, thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        let mut conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        let mut socket = with_timeouts(socket);
        let request = {
            let mut stream = rustls::Stream::new(&mut conn, &mut socket);
            server_exchange(&mut stream, request_len, &response)
        };
        conn.send_close_notify();
        conn.complete_io(&mut socket).unwrap();
        request
    });
    (addr, handle)
}

#[test]
fn same_plaintext_and_records_as_rustls_stream_client() {
    let response = Rng::new(8).bytes(200_000);
    let mut outcomes = Vec::new();
    for ours in [true, false] {
        let (addr, server) = spawn_rustls_server(
            server_config(Pki::Rsa, false),
            REQUEST.len(),
            response.clone(),
        );
        let (transport, log) = recorder(connect(addr));
        let plaintext = if ours {
            let mut stream = client_stream(client_config(Pki::Rsa, false), transport);
            client_exchange(&mut stream, REQUEST)
        } else {
            let mut conn =
                rustls::ClientConnection::new(Arc::new(client_config(Pki::Rsa, false)), name())
                    .unwrap();
            let mut transport = transport;
            let mut stream = rustls::Stream::new(&mut conn, &mut transport);
            client_exchange(&mut stream, REQUEST)
        };
        assert_eq!(server.join().unwrap(), REQUEST);
        outcomes.push(outcome(plaintext, &log));
    }
    assert!(outcomes[0].plaintext == response);
    assert_eq!(
        outcomes[0], outcomes[1],
        "lltls Stream (left) and rustls::Stream (right) differ"
    );
}

#[test]
fn same_plaintext_and_records_as_rustls_stream_server() {
    let request = Rng::new(9).bytes(150_000);
    let mut outcomes = Vec::new();
    for ours in [true, false] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = request.clone();
        let client = thread::spawn(move || {
            let mut conn =
                rustls::ClientConnection::new(Arc::new(client_config(Pki::Rsa, false)), name())
                    .unwrap();
            let mut socket = connect(addr);
            let mut stream = rustls::Stream::new(&mut conn, &mut socket);
            client_exchange(&mut stream, &sent)
        });
        let (socket, _) = listener.accept().unwrap();
        let (transport, log) = recorder(with_timeouts(socket));
        let config = Arc::new(server_config(Pki::Rsa, false));
        let received = if ours {
            let mut stream = StreamOwned::new(LlServerConnection::new(config).unwrap(), transport);
            let received = server_exchange(&mut stream, request.len(), HTTP_RESPONSE);
            stream.send_close_notify().unwrap();
            received
        } else {
            let mut conn = rustls::ServerConnection::new(config).unwrap();
            let mut transport = transport;
            let received = {
                let mut stream = rustls::Stream::new(&mut conn, &mut transport);
                server_exchange(&mut stream, request.len(), HTTP_RESPONSE)
            };
            conn.send_close_notify();
            conn.complete_io(&mut transport).unwrap();
            received
        };
        assert_eq!(client.join().unwrap(), HTTP_RESPONSE);
        outcomes.push(outcome(received, &log));
    }
    assert!(outcomes[0].plaintext == request);
    assert_eq!(
        outcomes[0], outcomes[1],
        "lltls Stream (left) and rustls::Stream (right) differ"
    );
}

/// A client stream in deferred mode whose verifier is `verify`, over `pki`'s
/// roots, and the number of times the verifier ran.
fn deferred_client_stream(
    pki: Pki,
    transport: TcpStream,
    verify: impl Fn(
            &lltls::PeerCertificates,
            &dyn rustls::client::danger::ServerCertVerifier,
        ) -> Result<(), rustls::Error>
        + Send
        + 'static,
) -> (ClientStream<TcpStream>, Arc<Mutex<usize>>) {
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots(pki)),
        provider(),
    )
    .build()
    .unwrap();
    let config = lltls::DeferredClientConfig::new(
        client_config(pki, false),
        verifier.clone(),
        Arc::new(rustls::client::ClientSessionMemoryCache::new(8)),
    )
    .unwrap();
    let runs = Arc::new(Mutex::new(0));
    let counted = runs.clone();
    let conn = LlClientConnection::deferred(&config, name()).unwrap();
    let stream = StreamOwned::new(conn, transport).with_verifier(move |certificates| {
        *counted.lock().unwrap() += 1;
        verify(certificates, &*verifier)
    });
    (stream, runs)
}

#[test]
fn deferred_verification_runs_the_streams_verifier() {
    // Accepted: the exchange goes on as in normal mode.
    let (addr, server) = spawn_server(server_config(Pki::Rsa, false), echo_after_close);
    let (mut client, runs) =
        deferred_client_stream(Pki::Rsa, connect(addr), |c, v| c.verify_server(v));
    let payload = vec![7u8; 100_000];
    assert_eq!(send_and_read_back(&mut client, &payload), payload);
    assert_eq!(server.join().unwrap().unwrap(), payload.len());
    assert_eq!(*runs.lock().unwrap(), 1);

    // Rejected by the same check normal mode makes (another CA): the same
    // error, and the server reads the same alert and no plaintext.
    let (addr, server) = spawn_server(server_config(Pki::Rsa, false), |stream| {
        let mut received = Vec::new();
        let result = stream
            .complete_handshake()
            .and_then(|()| stream.read_to_end(&mut received));
        (received, result)
    });
    let (mut client, runs) =
        deferred_client_stream(Pki::Ecdsa, connect(addr), |c, v| c.verify_server(v));
    let written = client.write(REQUEST);
    // The server's read ends with the alert (or, were the request sent,
    // at the end of the transport).
    drop(client);
    let (received, result) = server.join().unwrap();
    assert!(
        received.is_empty(),
        "plaintext reached the server: {:?}",
        String::from_utf8_lossy(&received)
    );
    let server_error = result.unwrap_err();
    let server_inner = server_error
        .into_inner()
        .unwrap()
        .downcast::<Error>()
        .unwrap();
    assert_eq!(
        server_inner.alert_received(),
        Some(rustls::AlertDescription::UnknownCA),
        "{server_inner:?}"
    );
    let error = written.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    let inner = error.into_inner().unwrap().downcast::<Error>().unwrap();
    assert!(
        matches!(
            &*inner,
            Error::Tls {
                error: rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
                alert_sent: Some(rustls::AlertDescription::UnknownCA),
            }
        ),
        "{inner:?}"
    );
    assert_eq!(*runs.lock().unwrap(), 1);
}
