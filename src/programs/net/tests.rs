//! The mio driver end to end over loopback.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::time::Duration;

use std::io;

use clap::Parser;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use rustls::server::UnbufferedServerConnection;

use super::*;
use crate::conn::{LlClientConnection, LlServerConnection};
use crate::programs::cli::{ClientArgs, ServerArgs};

struct Echo;

impl Handler for Echo {
    fn plaintext(&mut self, plaintext: &[u8], outbox: &mut Outbox) -> io::Result<()> {
        outbox.push(plaintext);
        Ok(())
    }
}

struct Collect(Vec<u8>);

impl Handler for Collect {
    fn plaintext(&mut self, plaintext: &[u8], _: &mut Outbox) -> io::Result<()> {
        self.0.extend_from_slice(plaintext);
        Ok(())
    }
}

/// llserver's config for `echo` with the repository's certificates.
fn echo_server_config() -> std::sync::Arc<rustls::ServerConfig> {
    let certs = concat!(env!("CARGO_MANIFEST_DIR"), "/certs");
    let server_args = ServerArgs::parse_from(["llserver", "--certs", certs, "echo"]);
    crate::programs::config::server_config(&server_args).unwrap()
}

/// A listener on an ephemeral loopback port, registered as `LISTENER`.
fn listen(poll: &Poll) -> (TcpListener, std::net::SocketAddr) {
    let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .unwrap();
    (listener, addr)
}

const LISTENER: Token = Token(0);
const CLIENT: Token = Token(1);
const SERVER: Token = Token(2);

/// An echo over loopback through two `TlsConn`s in one event loop: the
/// payload comes back whole, and once nothing is in flight neither
/// connection holds buffer memory.
#[test]
fn echo_round_trip_then_idle_connections_hold_no_buffers() {
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/certs/ca.pem");
    let client_args = ClientArgs::parse_from(["llclient", "--cafile", ca, "localhost"]);
    let server_config = echo_server_config();
    let client_config = crate::programs::config::client_config(&client_args).unwrap();

    let mut poll = Poll::new().unwrap();
    let (listener, addr) = listen(&poll);
    let name = "localhost".try_into().unwrap();
    let conn = LlClientConnection::new(client_config, name).unwrap();
    let mut client = TlsConn::connecting(TcpStream::connect(addr).unwrap(), conn);
    client.set_read_backpressure(false);
    client.register(poll.registry(), CLIENT).unwrap();
    // More than the backlog bound and than one `encrypt` call takes;
    // queued before the handshake.
    let payload: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    client.outbox().push(&payload);
    client.outbox().close();

    let mut server: Option<TlsConn<UnbufferedServerConnection>> = None;
    let (mut echo, mut received) = (Echo, Collect(Vec::new()));
    let mut events = Events::with_capacity(16);
    for _ in 0..100_000 {
        if received.0.len() == payload.len() {
            break;
        }
        poll.poll(&mut events, Some(Duration::from_secs(10)))
            .unwrap();
        assert!(!events.is_empty() || client.needs_drive(), "stalled");
        for event in events.iter() {
            match event.token() {
                LISTENER => {
                    let (socket, _) = listener.accept().unwrap();
                    let conn = LlServerConnection::new(server_config.clone()).unwrap();
                    let mut accepted = TlsConn::new(socket, conn);
                    accepted.register(poll.registry(), SERVER).unwrap();
                    server = Some(accepted);
                }
                CLIENT => client.ready(event, &mut received).unwrap(),
                _ => server.as_mut().unwrap().ready(event, &mut echo).unwrap(),
            }
        }
        if client.needs_drive() {
            client.drive(&mut received).unwrap();
        }
        client.reregister(poll.registry()).unwrap();
        if let Some(server) = &mut server {
            if server.needs_drive() {
                server.drive(&mut echo).unwrap();
            }
            server.reregister(poll.registry()).unwrap();
        }
    }
    assert!(received.0 == payload, "echo differs");
    assert_eq!(client.buffer_capacity(), 0, "client {client:?}");
    let server = server.unwrap();
    assert_eq!(server.buffer_capacity(), 0, "server {server:?}");
}

#[test]
fn outbox_keeps_order_across_partial_takes() {
    let mut outbox = Outbox::default();
    let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let mut taken = Vec::new();
    for chunk in data.chunks(30_000) {
        outbox.push(chunk);
        let n = outbox.len().min(17_000);
        taken.extend_from_slice(&outbox.pending()[..n]);
        outbox.consume(n);
    }
    taken.extend_from_slice(outbox.pending());
    outbox.consume(outbox.len());
    assert!(taken == data);
    outbox.release();
    assert_eq!(outbox.capacity(), 0);
}

/// The line that reports a close claims no FIN where none goes out (the socket failed) and
/// says what of ours never left.
#[test]
fn closing_lines_claim_no_fin_after_a_socket_error() {
    let at_once = Closed::AtOnce {
        reason: NoLinger::SocketFailed,
        unread: false,
    };
    assert_eq!(
        at_once.to_string(),
        "closed without lingering: the socket failed; socket closed"
    );
    let lingered = Closed::Lingered {
        last: LastRecord::FatalAlert,
        end: LingerEnd::Socket(io::ErrorKind::ConnectionReset.into()),
        unsent: 7,
        fin: false,
        dropped: 0,
        unread: false,
    };
    assert_eq!(
        lingered.to_string(),
        "closed after lingering: our fatal alert not all sent (7B left); read and dropped 0B of \
         the peer's, until a socket error: connection reset; socket closed"
    );
}

/// A client that announces a 16 KiB ClientHello record, sends 12 KiB of it
/// and stalls costs the server's connection exactly the bytes it sent: the
/// handshake is read through the event loop's scratch buffer, so no room is
/// held for the rest of the record.
#[test]
fn a_stalled_client_hello_holds_what_arrived() {
    use std::io::Write;
    let server_config = echo_server_config();

    let mut poll = Poll::new().unwrap();
    let (listener, addr) = listen(&poll);
    let mut stalled = std::net::TcpStream::connect(addr).unwrap();
    let mut hello = vec![22, 3, 1, 0x40, 0x00, 1, 0, 0x3f, 0xfc];
    hello.resize(5 + 12 * 1024, 0);
    stalled.write_all(&hello).unwrap();

    let mut server: Option<TlsConn<UnbufferedServerConnection>> = None;
    let mut echo = Echo;
    let mut events = Events::with_capacity(16);
    while server
        .as_ref()
        .map_or(true, |server| server.buffer_capacity() < hello.len())
    {
        poll.poll(&mut events, Some(Duration::from_secs(10)))
            .unwrap();
        assert!(!events.is_empty(), "stalled before reading what was sent");
        for event in events.iter() {
            if event.token() == LISTENER {
                let (socket, _) = listener.accept().unwrap();
                let conn = LlServerConnection::new(server_config.clone()).unwrap();
                let mut accepted = TlsConn::new(socket, conn);
                accepted.register(poll.registry(), SERVER).unwrap();
                server = Some(accepted);
            } else {
                server.as_mut().unwrap().ready(event, &mut echo).unwrap();
            }
        }
        if let Some(server) = &mut server {
            if server.needs_drive() {
                server.drive(&mut echo).unwrap();
            }
            server.reregister(poll.registry()).unwrap();
        }
    }
    let server = server.unwrap();
    assert_eq!(server.buffer_capacity(), hello.len(), "server {server:?}");
    drop(stalled);
}
