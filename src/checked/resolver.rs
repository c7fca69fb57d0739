//! The certificate resolver that refuses a ClientHello before the
//! ServerHello when the key cannot sign with any scheme it offers.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::sync::Arc;

use log::debug;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::SupportedProtocolVersion;
use rustls::{CipherSuite, ProtocolVersion, SignatureScheme, SupportedCipherSuite};

use super::{leave, Note};

/// Wraps a server's certificate resolver: when the client offers no
/// signature scheme the resolved key can sign with, it refuses the
/// ClientHello, and the connection answers with a plaintext
/// handshake_failure before any ServerHello (RFC 8446 §4.2.3, §4.4.2.2;
/// RFC 5246 §7.4.1.4.1).
///
/// - TLS 1.3, where only some schemes are allowed (no `rsa_pkcs1_*`, no
///   SHA-1 or SHA-224; `rsa_pss_pss_*` does not fit an `rsa_pss_rsae` key,
///   and each ECDSA scheme names its curve): rustls alone sends its
///   ServerHello and fails at its CertificateVerify.
/// - TLS 1.2 (a P-256 key offered only `ecdsa_secp384r1_sha384`, say):
///   rustls alone fails building its ServerKeyExchange and sends nothing.
///
/// rustls does not tell a resolver which version it chose: the client is
/// taken to negotiate TLS 1.3 when the server enables it and the client
/// offers one of the server's TLS 1.3 cipher suites (clients offer them
/// only with TLS 1.3 in `supported_versions`). Nor whether the client
/// resumes a session (which signs nothing): a client resuming while
/// offering no scheme the current key signs with is refused too.
#[derive(Debug)]
pub struct CheckedCertResolver {
    inner: Arc<dyn ResolvesServerCert>,
    /// The server's TLS 1.3 suites; empty when it does not enable TLS 1.3.
    tls13_suites: Vec<CipherSuite>,
}

impl CheckedCertResolver {
    /// Wraps `inner` for a server with `provider`'s cipher suites and the
    /// protocol `versions` of its config.
    pub fn new(
        inner: Arc<dyn ResolvesServerCert>,
        provider: &CryptoProvider,
        versions: &[&'static SupportedProtocolVersion],
    ) -> Self {
        let tls13 = versions
            .iter()
            .any(|version| version.version == ProtocolVersion::TLSv1_3);
        let tls13_suites = provider
            .cipher_suites
            .iter()
            .filter(|suite| tls13 && matches!(suite, SupportedCipherSuite::Tls13(_)))
            .map(|suite| suite.suite())
            .collect();
        Self {
            inner,
            tls13_suites,
        }
    }
}

impl ResolvesServerCert for CheckedCertResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let tls13 = client_hello
            .cipher_suites()
            .iter()
            .any(|suite| self.tls13_suites.contains(suite));
        let schemes: Vec<SignatureScheme> = client_hello
            .signature_schemes()
            .iter()
            .copied()
            .filter(|&scheme| !tls13 || usable_in_tls13(scheme))
            .collect();
        let key = self.inner.resolve(client_hello)?;
        if key.key.choose_scheme(&schemes).is_none() {
            debug!(
                "refusing the ClientHello: the {:?} key signs with none of the schemes offered \
                 for TLS {} ({schemes:?})",
                key.key.algorithm(),
                if tls13 { "1.3" } else { "1.2" }
            );
            leave(Note::NoUsableScheme);
            return None;
        }
        Some(key)
    }

    fn only_raw_public_keys(&self) -> bool {
        self.inner.only_raw_public_keys()
    }
}

/// Whether TLS 1.3 allows `scheme` for handshake signatures (RFC 8446
/// §4.2.3): not RSASSA-PKCS1-v1_5, DSA or anonymous, nor with no hash, MD5,
/// SHA-1 or SHA-224. The TLS 1.2 codepoints name the hash in their first
/// byte and the algorithm in their second (0 anonymous, 1 RSA PKCS#1, 2
/// DSA); TLS 1.3's own codepoints (`0x08..`) use neither range.
fn usable_in_tls13(scheme: SignatureScheme) -> bool {
    let [hash, algorithm] = u16::from(scheme).to_be_bytes();
    hash > 3 && algorithm > 2
}
