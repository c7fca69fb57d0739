//! The verifiers lltls installs in deferred mode: they record the chain for
//! the connection calling into rustls and let the handshake go on, while
//! the wrapped verifier keeps checking the handshake signatures.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::{with_armed, PeerCertificates};

/// Records `certificates` for the connection calling into rustls.
fn record(certificates: PeerCertificates) -> Result<(), rustls::Error> {
    match with_armed(|verification| verification.present(certificates)) {
        Some(true) => Ok(()),
        Some(false) => Err(rustls::Error::General(
            "deferred verifier: a second certificate chain in one handshake".into(),
        )),
        // Fail closed: nobody would ever check this chain.
        None => Err(rustls::Error::General(
            "deferred verifier used outside a deferred lltls connection".into(),
        )),
    }
}

fn owned(certificates: &[CertificateDer<'_>]) -> Vec<CertificateDer<'static>> {
    certificates
        .iter()
        .map(|c| c.clone().into_owned())
        .collect()
}

/// A client's verifier of the server in deferred mode. Installed by
/// [`DeferredClientConfig`](super::DeferredClientConfig).
#[derive(Debug)]
pub struct DeferredServerVerifier(Arc<dyn ServerCertVerifier>);

impl DeferredServerVerifier {
    /// Defers `inner`'s chain check to the caller; `inner` still checks the
    /// handshake signatures.
    pub fn new(inner: Arc<dyn ServerCertVerifier>) -> Self {
        Self(inner)
    }
}

impl ServerCertVerifier for DeferredServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        record(PeerCertificates {
            end_entity: end_entity.clone().into_owned(),
            intermediates: owned(intermediates),
            server_name: Some(server_name.to_owned()),
            ocsp_response: ocsp_response.to_vec(),
            now,
        })?;
        // Not verified: held until the caller's verdict.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.0.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.0.root_hint_subjects()
    }
}

/// A server's verifier of client certificates in deferred mode: build the
/// server config with it, then [`DeferredServerConfig`](super::DeferredServerConfig).
#[derive(Debug)]
pub struct DeferredClientVerifier(Arc<dyn ClientCertVerifier>);

impl DeferredClientVerifier {
    /// Defers `inner`'s chain check to the caller; `inner` still decides
    /// whether to ask for a certificate, which CAs to hint, and checks the
    /// handshake signatures.
    pub fn new(inner: Arc<dyn ClientCertVerifier>) -> Self {
        Self(inner)
    }
}

impl ClientCertVerifier for DeferredClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.0.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.0.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        record(PeerCertificates {
            end_entity: end_entity.clone().into_owned(),
            intermediates: owned(intermediates),
            server_name: None,
            ocsp_response: Vec::new(),
            now,
        })?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.0.requires_raw_public_keys()
    }
}
