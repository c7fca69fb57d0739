//! The lltls side: `LlConnection` with its own `IncomingTls`/`OutgoingTls`,
//! driven the way a socket driver does.

use std::sync::Arc;

use lltls::{
    IncomingTls, LlClientConnection, LlConnection, LlServerConnection, OutgoingTls, Side, Status,
};
use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::server::UnbufferedServerConnection;

use crate::harness::{Api, Endpoint, Sink, Wire};

pub struct Ll;

impl Api for Ll {
    const NAME: &'static str = "lltls";
    type Client = LlEndpoint<UnbufferedClientConnection>;
    type Server = LlEndpoint<UnbufferedServerConnection>;

    fn client(config: &Arc<rustls::ClientConfig>) -> Self::Client {
        let name = ServerName::try_from("localhost").expect("valid name");
        LlEndpoint::new(LlClientConnection::new(config.clone(), name).expect("client"))
    }

    fn server(config: &Arc<rustls::ServerConfig>) -> Self::Server {
        LlEndpoint::new(LlServerConnection::new(config.clone()).expect("server"))
    }
}

pub struct LlEndpoint<C: Side> {
    conn: LlConnection<C>,
    incoming_tls: IncomingTls,
    outgoing_tls: OutgoingTls,
    /// Only what the benchmark needs of `HandshakeInfo`: keeping all of it
    /// (the peer's certificates) would count against lltls's memory.
    handshake_done: bool,
    resumed: bool,
}

impl<C: Side> LlEndpoint<C> {
    fn new(conn: LlConnection<C>) -> Self {
        Self {
            conn,
            incoming_tls: IncomingTls::new(),
            outgoing_tls: OutgoingTls::new(),
            handshake_done: false,
            resumed: false,
        }
    }

    /// Runs `process` until the connection waits for the peer.
    fn pump(&mut self, sink: &mut Sink) {
        loop {
            match self
                .conn
                .process(&mut self.incoming_tls, &mut self.outgoing_tls)
            {
                Ok(Status::AppDataAvailable(mut records)) => {
                    while let Some(record) = records.next_record() {
                        sink.consume(record.expect("record"));
                    }
                }
                Ok(Status::HandshakeComplete(info)) => {
                    self.handshake_done = true;
                    self.resumed = info.resumed;
                }
                Ok(Status::PeerClosed) => {}
                Ok(Status::MustTransmitTlsData | Status::NeedsMoreTlsData | Status::Closed) => {
                    return
                }
                Ok(other) => panic!("unexpected status {other:?}"),
                Err(error) => panic!("lltls: {error}"),
            }
        }
    }
}

impl<C: Side> Endpoint for LlEndpoint<C> {
    fn write_app(&mut self, app_data: &[u8]) -> usize {
        self.conn
            .encrypt(app_data, &mut self.incoming_tls, &mut self.outgoing_tls)
            .expect("encrypt")
    }

    fn flush(&mut self, wire: &mut Wire) -> usize {
        let num_bytes = wire.push(self.outgoing_tls.filled());
        self.outgoing_tls.discard(num_bytes);
        num_bytes
    }

    fn receive(&mut self, wire: &mut Wire, sink: &mut Sink) -> usize {
        let mut taken = 0;
        loop {
            // `process` makes room in `incoming_tls` before it asks for more.
            self.pump(sink);
            let num_bytes = wire.pull(self.incoming_tls.unfilled());
            if num_bytes == 0 {
                return taken;
            }
            self.incoming_tls.advance(num_bytes);
            taken += num_bytes;
        }
    }

    fn is_handshaking(&self) -> bool {
        !self.handshake_done
    }

    fn resumed(&self) -> bool {
        self.resumed
    }

    fn release_buffers(&mut self) -> Option<usize> {
        self.incoming_tls.release();
        self.outgoing_tls.release();
        Some(self.incoming_tls.capacity() + self.outgoing_tls.capacity())
    }
}
