//! A blocking HTTPS server over a `Pump` that answers one request per
//! connection, for `--connections N` connections (default 1), with the
//! given cipher suite (rustls's name, e.g. `TLS13_AES_128_GCM_SHA256`).
//! It prints `listening on ADDR` first, as `llserver` does, then `served
//! Some(SUITE)` after each connection.
//!
//! ```sh
//! cargo run --example https_server_pump -- certs/fullchain.pem certs/server.key TLS13_AES_128_GCM_SHA256
//! ```
//!
//! CI builds it on the ring backend and fetches from it with `llclient`
//! (aws-lc-rs), every suite (`scripts/interop.sh`).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use lltls::{LlServerConnection, Next, Pump};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

const RESPONSE: &[u8] = b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nHello world from a pump\r\n";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [chain, key, suite, ..] = &args[..] else {
        return Err("usage: https_server_pump CHAIN KEY SUITE [CONNECTIONS]".into());
    };
    let connections: usize = args.get(3).map_or(Ok(1), |n| n.parse())?;

    // Only the named suite, from whichever provider this build has.
    let mut provider = rustls::crypto::CryptoProvider::get_default()
        .map(|p| (**p).clone())
        .unwrap_or_else(default_provider);
    provider
        .cipher_suites
        .retain(|s| format!("{:?}", s.suite()) == *suite);
    if provider.cipher_suites.is_empty() {
        return Err(format!("unknown suite {suite}").into());
    }
    let chain = CertificateDer::pem_file_iter(chain)?.collect::<Result<Vec<_>, _>>()?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(rustls::ALL_VERSIONS)?
        .with_no_client_auth()
        .with_single_cert(chain, PrivateKeyDer::from_pem_file(key)?)?;
    config.enable_secret_extraction = true; // for the in-place record layer
    let config = Arc::new(config);

    let listener = TcpListener::bind("127.0.0.1:0")?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    for _ in 0..connections {
        let (mut socket, _) = listener.accept()?;
        socket.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut pump = Pump::new(LlServerConnection::new(config.clone())?);
        let mut request = Vec::new();
        let mut response: &[u8] = RESPONSE;
        let mut buf = [0u8; 4096];
        loop {
            if !response.is_empty() && request.windows(4).any(|w| w == b"\r\n\r\n") {
                // What `send` takes now goes; the rest waits for the next turn.
                response = &response[pump.send(response)?..];
                if response.is_empty() {
                    pump.close()?;
                }
            }
            match pump.poll()? {
                Next::Transmit => {
                    let num_bytes = socket.write(pump.to_transmit())?;
                    pump.transmitted(num_bytes);
                }
                Next::Receive => {
                    let num_bytes = socket.read(pump.receive_buffer())?;
                    pump.received(num_bytes)?;
                    if num_bytes == 0 {
                        break;
                    }
                }
                Next::Plaintext => {
                    let num_bytes = pump.read(&mut buf)?;
                    request.extend_from_slice(&buf[..num_bytes]);
                }
                // The client closed before its request was whole.
                Next::Closed | Next::Idle => break,
                _ => {}
            }
        }
        let info = pump.conn().handshake_info();
        println!("served {:?}", info.cipher_suite.map(|s| s.suite()));
        std::io::stdout().flush()?;
    }
    Ok(())
}

#[cfg(feature = "aws-lc-rs")]
fn default_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

#[cfg(not(feature = "aws-lc-rs"))]
fn default_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}
