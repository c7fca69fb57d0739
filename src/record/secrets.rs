//! TLS 1.3 traffic keys from a traffic secret (RFC 8446 §7.1, §7.3), for
//! the code that works from secrets rustls logged rather than handed over:
//! the alerts `checked` seals during the handshake, and the tracer.

use rustls::crypto::tls13::OkmBlock;
use rustls::{CipherSuite, Tls13CipherSuite};

use crate::backend::aead::{Algorithm, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305, NONCE_LEN};

/// The AEAD of a TLS 1.3 suite; `None` for one lltls does not protect.
fn aead_algorithm(suite: CipherSuite) -> Option<&'static Algorithm> {
    match suite {
        CipherSuite::TLS13_AES_128_GCM_SHA256 => Some(&AES_128_GCM),
        CipherSuite::TLS13_AES_256_GCM_SHA384 => Some(&AES_256_GCM),
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => Some(&CHACHA20_POLY1305),
        _ => None,
    }
}

/// HKDF-Expand-Label(secret, label, "", out.len()) with the suite's hash.
pub(crate) fn expand_label(
    suite: &Tls13CipherSuite,
    secret: &[u8],
    label: &[u8],
    out: &mut [u8],
) -> Option<()> {
    // The provider's HKDF takes a PRK of the hash's length (OkmBlock holds
    // at most 64 bytes); anything else is not this suite's secret.
    if secret.len() != suite.common.hash_provider.output_len() {
        return None;
    }
    let out_len = u16::try_from(out.len()).ok()?.to_be_bytes();
    let label_len = [u8::try_from(b"tls13 ".len() + label.len()).ok()?];
    suite
        .hkdf_provider
        .expander_for_okm(&OkmBlock::new(secret))
        .expand_slice(&[&out_len, &label_len, b"tls13 ", label, &[0]], out)
        .ok()
}

/// The write key and IV of a traffic secret.
pub(crate) struct TrafficKeys {
    pub(crate) algorithm: &'static Algorithm,
    key: [u8; 32],
    pub(crate) iv: [u8; NONCE_LEN],
}

impl TrafficKeys {
    /// `key` and `iv` of `secret` (RFC 8446 §7.3); `None` for a suite lltls
    /// does not protect or a secret of the wrong length.
    pub(crate) fn derive(suite: &Tls13CipherSuite, secret: &[u8]) -> Option<Self> {
        let algorithm = aead_algorithm(suite.common.suite)?;
        let mut keys = Self {
            algorithm,
            key: [0; 32],
            iv: [0; NONCE_LEN],
        };
        expand_label(suite, secret, b"key", &mut keys.key[..algorithm.key_len()])?;
        expand_label(suite, secret, b"iv", &mut keys.iv)?;
        Some(keys)
    }

    pub(crate) fn key(&self) -> &[u8] {
        &self.key[..self.algorithm.key_len()]
    }
}
