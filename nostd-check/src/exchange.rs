//! An in-memory exchange through lltls with nothing but `core` and `alloc`:
//! handshake, 100,000 bytes each way, close_notify both ways. Shared by the
//! no_std program and a normal test of the main crate (which includes this
//! file), so the driver that proves the no_std build is the one tested.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use lltls::{
    IncomingTls, LlClientConnection, LlConnection, LlServerConnection, OutgoingTls, Side, Status,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

const CA: &[u8] = include_bytes!("../../certs/ca.pem");
const CHAIN: &[u8] = include_bytes!("../../certs/fullchain.pem");
const KEY: &[u8] = include_bytes!("../../certs/server.key");
const EACH_WAY: usize = 100_000;

/// A fixed clock (no_std has none): 2030-01-01, inside the test PKI's
/// validity.
#[derive(Debug)]
struct FixedTime;

impl TimeProvider for FixedTime {
    fn current_time(&self) -> Option<UnixTime> {
        Some(UnixTime::since_unix_epoch(core::time::Duration::from_secs(
            1_893_456_000,
        )))
    }
}

struct End<C: Side> {
    conn: LlConnection<C>,
    incoming: IncomingTls,
    outgoing: OutgoingTls,
    to_send: Vec<u8>,
    sent: usize,
    received: Vec<u8>,
    closed: bool,
}

impl<C: Side> End<C> {
    fn new(conn: LlConnection<C>, to_send: Vec<u8>) -> Self {
        Self {
            conn,
            incoming: IncomingTls::new(),
            outgoing: OutgoingTls::new(),
            to_send,
            sent: 0,
            received: Vec::new(),
            closed: false,
        }
    }

    /// `process` until the connection waits, then offer data or the close.
    fn step(&mut self) -> Result<(), String> {
        loop {
            match self.conn.process(&mut self.incoming, &mut self.outgoing) {
                Ok(Status::AppDataAvailable(mut records)) => {
                    while let Some(record) = records.next_record() {
                        self.received
                            .extend_from_slice(record.map_err(|e| format!("{e}"))?);
                    }
                }
                Ok(Status::NeedsMoreTlsData | Status::MustTransmitTlsData) => break,
                Ok(Status::Closed) => {
                    self.closed = true;
                    break;
                }
                Ok(_) => {}
                Err(error) => return Err(format!("{error}")),
            }
        }
        if self.sent < self.to_send.len() {
            let taken = self
                .conn
                .encrypt(
                    &self.to_send[self.sent..],
                    &mut self.incoming,
                    &mut self.outgoing,
                )
                .map_err(|e| format!("{e}"))?;
            self.sent += taken;
        } else if !self.conn.close_notify_sent() && !self.conn.is_handshaking() {
            self.conn
                .queue_close_notify(&mut self.incoming, &mut self.outgoing)
                .map_err(|e| format!("{e}"))?;
        }
        Ok(())
    }

    /// Moves what this side wrote into the peer's incoming buffer, as far as
    /// it has room (its last `process` made some).
    fn send_to<P: Side>(&mut self, to: &mut End<P>) -> usize {
        let num_bytes = self.outgoing.len().min(to.incoming.unfilled().len());
        to.incoming.unfilled()[..num_bytes].copy_from_slice(&self.outgoing.filled()[..num_bytes]);
        to.incoming.advance(num_bytes);
        self.outgoing.discard(num_bytes);
        num_bytes
    }
}

fn pattern(seed: u8) -> Vec<u8> {
    (0..EACH_WAY)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// Runs the exchange over `provider` (TLS 1.2 or 1.3); what it negotiated.
pub fn run(provider: Arc<CryptoProvider>, tls12: bool) -> Result<String, String> {
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12 {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(CA) {
        roots
            .add(cert.map_err(|e| format!("{e:?}"))?)
            .map_err(|e| format!("{e}"))?;
    }
    let mut client_config =
        ClientConfig::builder_with_details(provider.clone(), Arc::new(FixedTime))
            .with_protocol_versions(versions)
            .map_err(|e| format!("{e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    client_config.enable_secret_extraction = true;
    let chain = CertificateDer::pem_slice_iter(CHAIN)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{e:?}"))?;
    let key = PrivateKeyDer::from_pem_slice(KEY).map_err(|e| format!("{e:?}"))?;
    let mut server_config = ServerConfig::builder_with_details(provider, Arc::new(FixedTime))
        .with_protocol_versions(versions)
        .map_err(|e| format!("{e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("{e}"))?;
    server_config.enable_secret_extraction = true;

    let name = ServerName::try_from("localhost").map_err(|e| format!("{e}"))?;
    let client =
        LlClientConnection::new(Arc::new(client_config), name).map_err(|e| format!("{e}"))?;
    let server = LlServerConnection::new(Arc::new(server_config)).map_err(|e| format!("{e}"))?;
    let mut client = End::new(client, pattern(1));
    let mut server = End::new(server, pattern(2));
    for _ in 0..10_000 {
        client.step()?;
        server.step()?;
        let moved = client.send_to(&mut server) + server.send_to(&mut client);
        if client.closed && server.closed && moved == 0 {
            break;
        }
    }
    if !(client.closed && server.closed) {
        return Err("the exchange did not close".into());
    }
    if server.received != pattern(1) || client.received != pattern(2) {
        return Err(format!(
            "data differs: {}B and {}B received of {EACH_WAY}B",
            server.received.len(),
            client.received.len()
        ));
    }
    let info = client.conn.handshake_info();
    Ok(format!(
        "{:?} {:?} over the {:?} record layer: {EACH_WAY}B each way, closed both ways",
        info.protocol_version.ok_or("no version")?,
        info.cipher_suite.ok_or("no suite")?.suite(),
        client.conn.record_layer(),
    ))
}
