//! The reference: rustls's buffered `ClientConnection`/`ServerConnection`,
//! used as well as that API allows (one reused read buffer, vectored writes,
//! reads until the wire is empty).

use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, Connection, HandshakeKind, ServerConnection};

use crate::configs::Rustls023;
use crate::harness::{Api, Endpoint, Sink, Wire};

pub struct Buffered;

impl Api for Buffered {
    const NAME: &'static str = "buffered";
    const RECORD_LAYER: Option<lltls::RecordLayer> = None;
    type Configs = Rustls023;
    type Client = BufferedEndpoint;
    type Server = BufferedEndpoint;

    fn client(config: &Arc<rustls::ClientConfig>) -> Self::Client {
        let name = ServerName::try_from("localhost").expect("valid name");
        BufferedEndpoint::new(
            ClientConnection::new(config.clone(), name)
                .expect("client")
                .into(),
        )
    }

    fn server(config: &Arc<rustls::ServerConfig>) -> Self::Server {
        BufferedEndpoint::new(
            ServerConnection::new(config.clone())
                .expect("server")
                .into(),
        )
    }
}

pub struct BufferedEndpoint {
    conn: Connection,
}

impl BufferedEndpoint {
    fn new(conn: Connection) -> Self {
        Self { conn }
    }

    /// The buffered API copies plaintext out of rustls into the
    /// application's buffer.
    fn drain_plaintext(&mut self, sink: &mut Sink) {
        let mut read_buf = std::mem::take(&mut sink.read_buf);
        loop {
            match self.conn.reader().read(&mut read_buf) {
                Ok(0) => break,
                Ok(num_bytes) => sink.consume(&read_buf[..num_bytes]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("buffered read: {e}"),
            }
        }
        sink.read_buf = read_buf;
    }
}

impl Endpoint for BufferedEndpoint {
    fn write_app(&mut self, app_data: &[u8]) -> usize {
        // Before the handshake the buffered API queues plaintext (up to its
        // limit); the benchmark only writes after it.
        self.conn.writer().write(app_data).expect("buffered write")
    }

    fn flush(&mut self, wire: &mut Wire) -> usize {
        let mut total = 0;
        while self.conn.wants_write() {
            match self.conn.write_tls(wire) {
                Ok(num_bytes) => total += num_bytes,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("write_tls: {e}"),
            }
        }
        total
    }

    fn receive(&mut self, wire: &mut Wire, sink: &mut Sink) -> usize {
        let mut taken = 0;
        // Like a socket driver: read until the wire is empty, processing
        // after each read as rustls asks.
        while !wire.is_empty() {
            match self.conn.read_tls(wire) {
                Ok(0) => break,
                Ok(num_bytes) => taken += num_bytes,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("read_tls: {e}"),
            }
            self.conn
                .process_new_packets()
                .expect("process_new_packets");
            self.drain_plaintext(sink);
        }
        taken
    }

    fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    fn resumed(&self) -> bool {
        self.conn.handshake_kind() == Some(HandshakeKind::Resumed)
    }

    fn release_buffers(&mut self) -> Option<usize> {
        // The buffered API has no way to give its buffers back.
        None
    }
}
