//! Loopback helpers for the tests that run the programs: a TCP relay that records the TLS
//! records crossing it, a plain TCP echo server (a target for llserver's forward mode), and a
//! blocking client on the library for what one llclient process cannot do (0-RTT).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;

use lltls::{HandshakeInfo, IncomingTls, LlClientConnection, OutgoingTls, Status};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use super::TIMEOUT;

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

/// A TCP relay for one connection that records every TLS record crossing it, in the order
/// they arrived, and each direction's bytes: the independent witness of what was on the wire.
pub struct Relay {
    pub port: u16,
    seen: Arc<Mutex<Seen>>,
    done: Receiver<()>,
}

/// What the relay saw.
#[derive(Default)]
struct Seen {
    records: Vec<Record>,
    client_to_server: Vec<u8>,
    server_to_client: Vec<u8>,
}

impl Relay {
    /// Listens on a free loopback port; relays the first connection to
    /// `127.0.0.1:target`.
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (done_tx, done) = mpsc::channel();
        let shared = seen.clone();
        thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let server = TcpStream::connect(("127.0.0.1", target)).expect("connect to the target");
            for socket in [&client, &server] {
                // A relay that waits for ever would hang the test.
                socket
                    .set_read_timeout(Some(TIMEOUT))
                    .expect("read timeout");
                // Passed on as they come, so the endpoints read what they would without us.
                socket.set_nodelay(true).expect("TCP_NODELAY");
            }
            let up = pipe(
                client.try_clone().expect("clone socket"),
                server.try_clone().expect("clone socket"),
                Dir::ClientToServer,
                shared.clone(),
            );
            let down = pipe(server, client, Dir::ServerToClient, shared);
            let _ = up.join();
            let _ = down.join();
            let _ = done_tx.send(());
        });
        Self { port, seen, done }
    }

    /// Waits (bounded) until both directions ended.
    fn wait(&self) {
        match self.done.recv_timeout(TIMEOUT) {
            // Disconnected: the relay thread had ended before (or never got a connection).
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("the relayed connection did not end within {TIMEOUT:?}")
            }
        }
    }

    /// The records, once both directions ended.
    pub fn records(&self) -> Vec<Record> {
        self.wait();
        self.seen.lock().unwrap().records.clone()
    }

    /// Every byte that went `dir`, once both directions ended.
    pub fn bytes(&self, dir: Dir) -> Vec<u8> {
        self.wait();
        let seen = self.seen.lock().unwrap();
        match dir {
            Dir::ClientToServer => seen.client_to_server.clone(),
            Dir::ServerToClient => seen.server_to_client.clone(),
        }
    }
}

/// Copies until EOF (or an error: a reset ends the recording too), recording the bytes and
/// each whole record, then passes the EOF on.
fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    dir: Dir,
    seen: Arc<Mutex<Seen>>,
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
            {
                let mut seen = seen.lock().unwrap();
                match dir {
                    Dir::ClientToServer => seen.client_to_server.extend_from_slice(&chunk[..n]),
                    Dir::ServerToClient => seen.server_to_client.extend_from_slice(&chunk[..n]),
                }
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
                    seen.records.push(Record {
                        dir,
                        content_type,
                        len,
                        payload,
                    });
                    pending.drain(..len);
                }
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
