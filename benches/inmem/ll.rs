//! The lltls side: `LlConnection` with its own `IncomingTls`/`OutgoingTls`,
//! driven the way a socket driver does.
//!
//! [`Ll`] gives each connection new `Vec` buffers, as `IncomingTls::new()`
//! does. [`LlPooled`] backs them with [`PooledBuf`], storage that goes back to
//! a per-thread pool when the connection ends: what a server can do because
//! it owns the buffers, and the buffered API cannot.

use std::cell::RefCell;
use std::sync::Arc;

use lltls::{
    IncomingTls, LlClientConnection, LlConnection, LlServerConnection, OutgoingTls, Side, Status,
    Storage,
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

/// lltls with buffers reused from connection to connection.
pub struct LlPooled;

impl Api for LlPooled {
    const NAME: &'static str = "lltls (pooled buffers)";
    type Client = LlEndpoint<UnbufferedClientConnection, PooledBuf>;
    type Server = LlEndpoint<UnbufferedServerConnection, PooledBuf>;

    fn client(config: &Arc<rustls::ClientConfig>) -> Self::Client {
        let name = ServerName::try_from("localhost").expect("valid name");
        LlEndpoint::with_storage(
            LlClientConnection::new(config.clone(), name).expect("client"),
            PooledBuf::take(),
            PooledBuf::take(),
        )
    }

    fn server(config: &Arc<rustls::ServerConfig>) -> Self::Server {
        LlEndpoint::with_storage(
            LlServerConnection::new(config.clone()).expect("server"),
            PooledBuf::take(),
            PooledBuf::take(),
        )
    }
}

thread_local! {
    /// Buffers of connections that ended, ready for the next ones.
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A growable byte buffer that returns to the thread's pool when dropped,
/// keeping its size (and its stale contents: the connection only reads what
/// it was given, so nothing needs zeroing again).
pub struct PooledBuf(Vec<u8>);

impl PooledBuf {
    fn take() -> Self {
        Self(
            POOL.with(|pool| pool.borrow_mut().pop())
                .unwrap_or_default(),
        )
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        if !buf.is_empty() {
            POOL.with(|pool| pool.borrow_mut().push(buf));
        }
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl AsMut<[u8]> for PooledBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl Storage for PooledBuf {
    fn grow_to(&mut self, len: usize) -> bool {
        self.0.grow_to(len)
    }

    fn release(&mut self) {
        // An idle connection hands its buffer to the next connection.
        let buf = std::mem::take(&mut self.0);
        if !buf.is_empty() {
            POOL.with(|pool| pool.borrow_mut().push(buf));
        }
    }
}

pub struct LlEndpoint<C: Side, S: Storage = Vec<u8>> {
    conn: LlConnection<C>,
    incoming_tls: IncomingTls<S>,
    outgoing_tls: OutgoingTls<S>,
    /// Only what the benchmark needs of `HandshakeInfo`: keeping all of it
    /// (the peer's certificates) would count against lltls's memory.
    handshake_done: bool,
    resumed: bool,
}

impl<C: Side> LlEndpoint<C> {
    fn new(conn: LlConnection<C>) -> Self {
        Self::with_storage(conn, Vec::new(), Vec::new())
    }
}

impl<C: Side, S: Storage> LlEndpoint<C, S> {
    fn with_storage(conn: LlConnection<C>, incoming: S, outgoing: S) -> Self {
        Self {
            conn,
            incoming_tls: IncomingTls::with_storage(incoming),
            outgoing_tls: OutgoingTls::with_storage(outgoing),
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

impl<C: Side, S: Storage> Endpoint for LlEndpoint<C, S> {
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
