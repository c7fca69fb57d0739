//! The configurations under test: the ECDSA P-256 test PKI in `certs/`, the
//! aws-lc-rs provider with its default key exchange groups (X25519MLKEM768
//! first for TLS 1.3, as llclient/llserver and upstream use), and one cipher
//! suite at a time, chosen by the client.

use std::path::Path;
use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::aws_lc_rs::{self, cipher_suite};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite};

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
