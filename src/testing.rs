//! What the crate's own unit tests share: configs over the repository's
//! test PKI, restricted to one cipher suite. They build without rustls's
//! std feature too (the no_std core's tests): files are read with std's
//! `fs`, PEM is parsed from memory and the clock is given to rustls here.

use alloc::format;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite};

fn read(rel: &str) -> Vec<u8> {
    let path = format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn certs(rel: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(&read(rel))
        .map(|cert| cert.unwrap().into_owned())
        .collect()
}

/// The system clock, which rustls takes from std only when built with it.
#[derive(Debug)]
struct SystemClock;

impl TimeProvider for SystemClock {
    fn current_time(&self) -> Option<UnixTime> {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(UnixTime::since_unix_epoch(since_epoch))
    }
}

/// A client and a server config offering only `suite` (and its version),
/// with secret extraction on, over the ECDSA test PKI in `certs/`.
pub(crate) fn configs(suite: SupportedCipherSuite) -> (ClientConfig, ServerConfig) {
    let provider = Arc::new(CryptoProvider {
        cipher_suites: vec![suite],
        ..crate::backend::provider::default_provider()
    });
    let versions: &[&rustls::SupportedProtocolVersion] = match suite {
        SupportedCipherSuite::Tls13(_) => &[&rustls::version::TLS13],
        SupportedCipherSuite::Tls12(_) => &[&rustls::version::TLS12],
    };
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(certs("certs/ca.pem"));
    let mut client = ClientConfig::builder_with_details(provider.clone(), Arc::new(SystemClock))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.enable_secret_extraction = true;
    let key = PrivateKeyDer::from_pem_slice(&read("certs/server.key")).unwrap();
    let mut server = ServerConfig::builder_with_details(provider, Arc::new(SystemClock))
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs("certs/fullchain.pem"), key)
        .unwrap();
    server.enable_secret_extraction = true;
    (client, server)
}
