//! The client certificate verifier wrapper: an empty certificate entry is a
//! decode error, and a TLS 1.3 ECDSA signature whose scheme does not fit
//! the certificate's key is an illegal parameter.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::sync::Arc;

use log::debug;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, PeerMisbehaved,
    SignatureScheme,
};

use super::{leave, Note};

/// Wraps a server's client certificate verifier, whose verdicts it keeps,
/// with two answers rustls 0.23 gets wrong:
///
/// - a client Certificate with an empty certificate entry (the syntax is
///   `opaque ASN.1Cert<1..2^24-1>`) is refused with decode_error, not
///   bad_certificate. The alert is corrected when it goes out in the clear,
///   which a server's does in TLS 1.2; in TLS 1.3 rustls seals it and it
///   stays bad_certificate.
/// - a TLS 1.3 CertificateVerify signed with an ECDSA scheme that does not
///   fit the certificate's key (`ecdsa_secp384r1_sha384` with a P-256 key:
///   in TLS 1.3 the scheme names the curve) is refused with
///   illegal_parameter (the error is
///   `PeerMisbehaved::SignedKxWithWrongAlgorithm`), not decrypt_error: the
///   signature is not wrong, its scheme is.
#[derive(Debug)]
pub struct CheckedClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl CheckedClientVerifier {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ClientCertVerifier>) -> Self {
        Self { inner }
    }
}

impl ClientCertVerifier for CheckedClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        if end_entity.is_empty() || intermediates.iter().any(|cert| cert.is_empty()) {
            debug!("client certificate list holds an empty entry");
            leave(Note::EmptyCertificateEntry);
            // What rustls's own verifiers say of bytes that are no
            // certificate; the alert is corrected in the clear.
            return Err(CertificateError::BadEncoding.into());
        }
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let verified = self.inner.verify_tls13_signature(message, cert, dss);
        match verified {
            Err(Error::InvalidCertificate(
                CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. },
            )) if is_tls13_ecdsa(dss.scheme) => {
                debug!(
                    "client signed with {:?}, which does not fit its certificate's key",
                    dss.scheme
                );
                Err(PeerMisbehaved::SignedKxWithWrongAlgorithm.into())
            }
            other => other,
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }
}

/// The TLS 1.3 ECDSA schemes, each bound to one curve (RFC 8446 §4.2.3,
/// RFC 8734 for the Brainpool ones).
fn is_tls13_ecdsa(scheme: SignatureScheme) -> bool {
    matches!(
        u16::from(scheme),
        0x0403 | 0x0503 | 0x0603 | 0x081a | 0x081b | 0x081c
    )
}
