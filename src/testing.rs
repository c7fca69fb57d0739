//! What the crate's own unit tests share: configs over the repository's
//! test PKI, restricted to one cipher suite.

use std::sync::Arc;

use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite};

fn path(rel: &str) -> String {
    format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// A client and a server config offering only `suite` (and its version),
/// with secret extraction on, over the ECDSA test PKI in `certs/`.
pub(crate) fn configs(suite: SupportedCipherSuite) -> (ClientConfig, ServerConfig) {
    let provider = Arc::new(CryptoProvider {
        cipher_suites: vec![suite],
        ..aws_lc_rs::default_provider()
    });
    let versions: &[&rustls::SupportedProtocolVersion] = match suite {
        SupportedCipherSuite::Tls13(_) => &[&rustls::version::TLS13],
        SupportedCipherSuite::Tls12(_) => &[&rustls::version::TLS12],
    };
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(
        CertificateDer::pem_file_iter(path("certs/ca.pem"))
            .unwrap()
            .map(Result::unwrap),
    );
    let mut client = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.enable_secret_extraction = true;
    let chain: Vec<_> = CertificateDer::pem_file_iter(path("certs/fullchain.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(path("certs/server.key")).unwrap();
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    server.enable_secret_extraction = true;
    (client, server)
}
