//! The test PKIs (`certs/`, `certs/rsa/`, `tests/data/bigchain/`) and rustls configurations
//! for them, set up for lltls's in-place record layer.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::repo;

/// The certificates of a PEM file in the repository.
pub fn load_certs(rel: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(repo(rel))
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .unwrap_or_else(|err| panic!("certificates in {rel}: {err}"))
}

/// The private key of a PEM file in the repository.
pub fn load_key(rel: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(repo(rel)).unwrap_or_else(|err| panic!("key in {rel}: {err}"))
}

/// Which test PKI: `certs/` (ECDSA P-256), `certs/rsa/`, or a chain longer than one record.
#[derive(Clone, Copy)]
pub enum Pki {
    Ecdsa,
    Rsa,
    BigChain,
}

impl Pki {
    pub fn dir(self) -> &'static str {
        match self {
            Pki::Ecdsa => "certs",
            Pki::Rsa => "certs/rsa",
            Pki::BigChain => "tests/data/bigchain",
        }
    }
}

pub fn roots(pki: Pki) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(&format!("{}/ca.pem", pki.dir())) {
        roots.add(cert).unwrap();
    }
    roots
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

pub fn versions(tls12: bool) -> &'static [&'static rustls::SupportedProtocolVersion] {
    static TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
    static TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    if tls12 {
        TLS12
    } else {
        TLS13
    }
}

pub fn client_config(pki: Pki, tls12: bool) -> ClientConfig {
    in_place_client(
        ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions(tls12))
            .unwrap()
            .with_root_certificates(roots(pki))
            .with_no_client_auth(),
    )
}

pub fn client_config_with_auth(pki: Pki, tls12: bool) -> ClientConfig {
    in_place_client(
        ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions(tls12))
            .unwrap()
            .with_root_certificates(roots(pki))
            .with_client_auth_cert(
                load_certs(&format!("{}/client-fullchain.pem", pki.dir())),
                load_key(&format!("{}/client.key", pki.dir())),
            )
            .unwrap(),
    )
}

pub fn server_config(pki: Pki, tls12: bool) -> ServerConfig {
    in_place_server(
        ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions(tls12))
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                load_certs(&format!("{}/fullchain.pem", pki.dir())),
                load_key(&format!("{}/server.key", pki.dir())),
            )
            .unwrap(),
    )
}

pub fn server_config_requiring_auth(pki: Pki, tls12: bool) -> ServerConfig {
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(pki)),
        provider(),
    )
    .build()
    .unwrap();
    server_config_with_verifier(pki, tls12, verifier)
}

/// A server config that checks client certificates with `verifier`.
pub fn server_config_with_verifier(
    pki: Pki,
    tls12: bool,
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
) -> ServerConfig {
    in_place_server(
        ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions(tls12))
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                load_certs(&format!("{}/fullchain.pem", pki.dir())),
                load_key(&format!("{}/server.key", pki.dir())),
            )
            .unwrap(),
    )
}

/// Lets the in-place record layer (lltls's default) take the traffic
/// secrets after the handshake.
pub fn in_place_client(mut config: ClientConfig) -> ClientConfig {
    config.enable_secret_extraction = true;
    config
}

/// See [`in_place_client`].
pub fn in_place_server(mut config: ServerConfig) -> ServerConfig {
    config.enable_secret_extraction = true;
    config
}
