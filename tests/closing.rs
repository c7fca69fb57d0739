//! Closing done right, with the real programs over loopback: a peer that
//! keeps sending after provoking a fatal alert still reads the alert (the
//! connection lingers instead of answering with a reset), and llclient
//! reports a server that stops the transfer early, whichever way it stops.

mod harness;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use harness::configs::{server_config, Pki};
use harness::process::{llclient, Input, LlServer};
use harness::{repo, scratch, TIMEOUT};

/// A client that sends nonsense (a record header no TLS peer sends), then
/// 1 MiB more without reading, and only then reads: it gets llserver's
/// fatal alert, not a reset.
#[test]
fn peer_sending_after_a_fatal_alert_still_reads_it() {
    let certs = repo("certs");
    let mut server = LlServer::start(&["--certs", &certs, "echo"]);
    let mut stream = TcpStream::connect(server.addr()).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    // An unknown content type: unexpected_message (RFC 8446 §5).
    stream.write_all(&[0x80, 3, 3, 0, 1, 0]).unwrap();
    let junk = vec![0x17; 1 << 20];
    stream
        .write_all(&junk)
        .expect("llserver reads what comes after its alert");
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    let result = stream.read_to_end(&mut answer);
    assert!(
        result.is_ok(),
        "read failed: {result:?} after {answer:02x?}"
    );
    assert_eq!(answer, [21, 3, 3, 0, 2, 2, 10], "the plaintext fatal alert");
    server.assert_healthy();
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
