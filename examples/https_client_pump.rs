//! The HTTPS GET of `https_client.rs`, over a `Pump`: the pump says what to
//! do next and this program only moves bytes.
//!
//! ```sh
//! cargo run --example https_client_pump -- 127.0.0.1:8443 localhost certs/ca.pem
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use lltls::{LlClientConnection, Next, Pump};
use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: https_client_pump ADDR NAME CA_FILE";
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
    let conn = LlClientConnection::new(Arc::new(config), ServerName::try_from(name.clone())?)?;
    let mut pump = Pump::new(conn);

    let mut socket = TcpStream::connect(&addr)?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    let request = format!("GET / HTTP/1.0\r\nHost: {name}\r\nConnection: close\r\n\r\n");
    let mut to_send = request.as_bytes();
    let mut buf = [0u8; 16_384];
    loop {
        // Nothing is taken until the handshake allows it.
        to_send = &to_send[pump.send(to_send)?..];
        match pump.poll()? {
            Next::Transmit => {
                let num_bytes = socket.write(pump.to_transmit())?;
                pump.transmitted(num_bytes);
            }
            Next::Receive => {
                let num_bytes = socket.read(pump.receive_buffer())?;
                pump.received(num_bytes)?; // 0: end-of-file, an error before close_notify
                if num_bytes == 0 {
                    break;
                }
            }
            Next::Plaintext => {
                let num_bytes = pump.read(&mut buf)?;
                std::io::stdout().write_all(&buf[..num_bytes])?;
            }
            Next::PeerClosed => {
                pump.close()?;
            }
            Next::Closed => break,
            _ => {}
        }
    }
    Ok(())
}
