//! A blocking HTTPS GET over `std::net::TcpStream` with lltls's low-level
//! API: the whole run loop of the crate docs, and nothing else.
//!
//! ```sh
//! cargo run --example https_client -- 127.0.0.1:8443 localhost certs/ca.pem
//! ```
//!
//! It needs the `std` feature and either backend: CI also builds it with
//! `--no-default-features --features std,ring` and runs it against
//! `llserver`, so a ring client talks to an aws-lc-rs server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use lltls::{IncomingTls, LlClientConnection, OutgoingTls, Status};
use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: https_client ADDR NAME CA_FILE";
    let (addr, name, ca) = (
        args.next().ok_or(usage)?,
        args.next().ok_or(usage)?,
        args.next().ok_or(usage)?,
    );

    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(CertificateDer::pem_file_iter(ca)?.flatten());
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.enable_secret_extraction = true; // for the in-place record layer
    let mut conn = LlClientConnection::new(Arc::new(config), ServerName::try_from(name.clone())?)?;
    let (mut incoming, mut outgoing) = (IncomingTls::new(), OutgoingTls::new());

    let mut socket = TcpStream::connect(&addr)?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    let request = format!("GET / HTTP/1.0\r\nHost: {name}\r\nConnection: close\r\n\r\n");
    let mut to_send = request.as_bytes();
    let mut response = Vec::new();
    loop {
        // 2. Process until the connection waits for the peer.
        let mut closed = false;
        loop {
            match conn.process(&mut incoming, &mut outgoing)? {
                Status::AppDataAvailable(mut records) => {
                    while let Some(record) = records.next_record() {
                        response.extend_from_slice(record?);
                    }
                }
                Status::PeerClosed => {
                    conn.queue_close_notify(&mut incoming, &mut outgoing)?;
                }
                Status::Closed => closed = true,
                Status::NeedsMoreTlsData | Status::MustTransmitTlsData => break,
                _ => {}
            }
            if closed {
                break;
            }
        }
        // 3. Offer the request: nothing is taken until the handshake allows.
        let taken = conn.encrypt(to_send, &mut incoming, &mut outgoing)?;
        to_send = &to_send[taken..];
        // 4. Transmit everything, then 1. read.
        socket.write_all(outgoing.filled())?;
        outgoing.discard(outgoing.len());
        if closed {
            break;
        }
        let num_bytes = socket.read(incoming.unfilled())?;
        if num_bytes == 0 {
            conn.handle_eof()?; // an error unless the peer sent close_notify
            break;
        }
        incoming.advance(num_bytes);
    }
    std::io::stdout().write_all(&response)?;
    Ok(())
}
