//! The configurations under test: the ECDSA P-256 test PKI in `certs/`, the
//! aws-lc-rs provider with its default key exchange groups (X25519MLKEM768
//! first for TLS 1.3, as llclient/llserver and upstream use), and one cipher
//! suite at a time, chosen by the client.
//!
//! The same configurations exist twice: for rustls 0.23 (lltls and the
//! buffered API) and for rustls 0.24 (the peer on rustls's newest API, with
//! its aws-lc-rs provider crate, whose default groups put X25519MLKEM768
//! first too). [`Configs`] lets the trials make either.

use std::path::Path;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::aws_lc_rs::{self, cipher_suite};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls024_aws_lc_rs as aws_lc_rs024;

/// How an API under test gets its configurations.
pub trait Configs {
    type Client;
    type Server;
    /// See [`client`].
    fn client(suite: Suite, resumption: bool, secret_extraction: bool) -> Self::Client;
    /// See [`server`].
    fn server(secret_extraction: bool) -> Self::Server;
}

/// rustls 0.23's configurations ([`client`], [`server`]).
pub struct Rustls023;

impl Configs for Rustls023 {
    type Client = Arc<ClientConfig>;
    type Server = Arc<ServerConfig>;

    fn client(suite: Suite, resumption: bool, secret_extraction: bool) -> Self::Client {
        client(suite, resumption, secret_extraction)
    }

    fn server(secret_extraction: bool) -> Self::Server {
        server(secret_extraction)
    }
}

/// rustls 0.24's configurations, alike in every knob: same certificates,
/// one suite on the client (0.24 derives the versions from the suites), the
/// provider's default groups, the server's defaults (stateful session
/// cache of 256, two TLS 1.3 tickets), resumption as asked.
pub struct Rustls024;

impl Configs for Rustls024 {
    type Client = Arc<rustls024::ClientConfig>;
    type Server = Arc<rustls024::ServerConfig>;

    fn client(suite: Suite, resumption: bool, secret_extraction: bool) -> Self::Client {
        let provider = suite.rustls024_provider();
        let mut roots = rustls024::RootCertStore::empty();
        for cert in load_certs("ca.pem") {
            roots.add(cert).expect("root");
        }
        let mut config = rustls024::ClientConfig::builder(Arc::new(provider))
            .with_root_certificates(roots)
            .with_no_client_auth()
            .expect("client config");
        if !resumption {
            config.resumption = rustls024::client::Resumption::disabled();
        }
        config.enable_secret_extraction = secret_extraction;
        Arc::new(config)
    }

    fn server(secret_extraction: bool) -> Self::Server {
        let key = PrivateKeyDer::from_pem_file(certs_path("server.key")).expect("key");
        let identity = rustls024::crypto::Identity::from_cert_chain(load_certs("fullchain.pem"))
            .expect("server certificate chain");
        let mut config = rustls024::ServerConfig::builder(Arc::new(aws_lc_rs024::DEFAULT_PROVIDER))
            .with_no_client_auth()
            .with_single_cert(Arc::new(identity), key)
            .expect("server certificate");
        config.enable_secret_extraction = secret_extraction;
        Arc::new(config)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    Tls13Aes128,
    Tls13Aes256,
    Tls13Chacha,
    Tls12EcdheEcdsaAes128,
    Tls12EcdheEcdsaAes256,
    Tls12EcdheEcdsaChacha,
}

impl Suite {
    pub const ALL: [Suite; 6] = [
        Suite::Tls13Aes128,
        Suite::Tls13Aes256,
        Suite::Tls13Chacha,
        Suite::Tls12EcdheEcdsaAes128,
        Suite::Tls12EcdheEcdsaAes256,
        Suite::Tls12EcdheEcdsaChacha,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Suite::Tls13Aes128 => "TLS1.3 AES-128-GCM",
            Suite::Tls13Aes256 => "TLS1.3 AES-256-GCM",
            Suite::Tls13Chacha => "TLS1.3 CHACHA20",
            Suite::Tls12EcdheEcdsaAes128 => "TLS1.2 ECDHE-ECDSA-AES128-GCM",
            Suite::Tls12EcdheEcdsaAes256 => "TLS1.2 ECDHE-ECDSA-AES256-GCM",
            Suite::Tls12EcdheEcdsaChacha => "TLS1.2 ECDHE-ECDSA-CHACHA20",
        }
    }

    fn rustls(self) -> SupportedCipherSuite {
        match self {
            Suite::Tls13Aes128 => cipher_suite::TLS13_AES_128_GCM_SHA256,
            Suite::Tls13Aes256 => cipher_suite::TLS13_AES_256_GCM_SHA384,
            Suite::Tls13Chacha => cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            Suite::Tls12EcdheEcdsaAes128 => cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            Suite::Tls12EcdheEcdsaAes256 => cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            Suite::Tls12EcdheEcdsaChacha => {
                cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            }
        }
    }

    /// rustls 0.24's aws-lc-rs provider with only this suite.
    fn rustls024_provider(self) -> rustls024::crypto::CryptoProvider {
        use aws_lc_rs024::cipher_suite as cs;
        let (tls12, tls13) = match self {
            Suite::Tls13Aes128 => (None, Some(cs::TLS13_AES_128_GCM_SHA256)),
            Suite::Tls13Aes256 => (None, Some(cs::TLS13_AES_256_GCM_SHA384)),
            Suite::Tls13Chacha => (None, Some(cs::TLS13_CHACHA20_POLY1305_SHA256)),
            Suite::Tls12EcdheEcdsaAes128 => {
                (Some(cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), None)
            }
            Suite::Tls12EcdheEcdsaAes256 => {
                (Some(cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384), None)
            }
            Suite::Tls12EcdheEcdsaChacha => (
                Some(cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
                None,
            ),
        };
        rustls024::crypto::CryptoProvider {
            tls12_cipher_suites: tls12.into_iter().collect::<Vec<_>>().into(),
            tls13_cipher_suites: tls13.into_iter().collect::<Vec<_>>().into(),
            ..aws_lc_rs024::DEFAULT_PROVIDER
        }
    }

    pub fn is_tls12(self) -> bool {
        matches!(
            self,
            Suite::Tls12EcdheEcdsaAes128
                | Suite::Tls12EcdheEcdsaAes256
                | Suite::Tls12EcdheEcdsaChacha
        )
    }

    /// The suite's AEAD, for the bare-AEAD limit.
    pub fn aead(self) -> &'static ::aws_lc_rs::aead::Algorithm {
        use ::aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305};
        match self {
            Suite::Tls13Aes128 | Suite::Tls12EcdheEcdsaAes128 => &AES_128_GCM,
            Suite::Tls13Aes256 | Suite::Tls12EcdheEcdsaAes256 => &AES_256_GCM,
            Suite::Tls13Chacha | Suite::Tls12EcdheEcdsaChacha => &CHACHA20_POLY1305,
        }
    }

    fn versions(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
        static TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
        if self.is_tls12() {
            TLS12
        } else {
            TLS13
        }
    }
}

fn certs_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("certs")
        .join(name)
}

fn load_certs(name: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(certs_path(name))
        .expect("certificate file")
        .collect::<Result<_, _>>()
        .expect("certificates")
}

/// The client: only `suite`, resuming sessions or not; `secret_extraction`
/// for lltls's in-place record layer, which takes the traffic secrets from
/// rustls (the other stacks run without it, as their users would).
pub fn client(suite: Suite, resumption: bool, secret_extraction: bool) -> Arc<ClientConfig> {
    let provider = CryptoProvider {
        cipher_suites: vec![suite.rustls()],
        ..aws_lc_rs::default_provider()
    };
    let mut roots = RootCertStore::empty();
    for cert in load_certs("ca.pem") {
        roots.add(cert).expect("root");
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(suite.versions())
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    if !resumption {
        config.resumption = Resumption::disabled();
    }
    config.enable_secret_extraction = secret_extraction;
    Arc::new(config)
}

/// The server: every suite and version, rustls's defaults (stateful
/// session cache, two TLS 1.3 tickets per handshake), as llserver; with
/// `secret_extraction` as for [`client`].
pub fn server(secret_extraction: bool) -> Arc<ServerConfig> {
    let key = PrivateKeyDer::from_pem_file(certs_path("server.key")).expect("key");
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(load_certs("fullchain.pem"), key)
        .expect("server certificate");
    config.enable_secret_extraction = secret_extraction;
    Arc::new(config)
}
