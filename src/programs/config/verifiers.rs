//! Certificate verifiers: the client certificate verifier for `--auth`, the server certificate
//! verifier that explains its rejections, and the `--insecure` one.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use log::debug;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::der::issuer_name;
use super::files::{load_certs, load_crl_file};
use super::ConfigError;

/// The client certificate verifier for `--auth`, `--crl` and `--require-auth`.
pub(super) fn client_verifier(
    provider: &Arc<CryptoProvider>,
    auth: &Path,
    crl_paths: &[PathBuf],
    require_auth: bool,
) -> Result<Arc<dyn ClientCertVerifier>, ConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(auth)? {
        roots
            .add(cert)
            .map_err(|source| ConfigError::InvalidCertificate {
                path: auth.to_owned(),
                source,
            })?;
    }
    let roots = Arc::new(roots);

    let mut crls = Vec::new();
    for path in crl_paths {
        let file_crls = load_crl_file(path)?;
        // rustls parses CRLs only when the verifier is built, and its error does not say which
        // CRL failed; building one verifier per file does.
        build_client_verifier(provider, &roots, file_crls.clone(), require_auth).map_err(
            |err| match err {
                VerifierBuilderError::InvalidCrl(crl_error) => ConfigError::InvalidCrl {
                    path: path.clone(),
                    source: crl_error.into(),
                },
                err => client_verifier_error(err),
            },
        )?;
        crls.extend(file_crls);
    }
    debug!(
        "client authentication: {} roots, {} CRLs, required: {require_auth}",
        roots.len(),
        crls.len()
    );
    build_client_verifier(provider, &roots, crls, require_auth).map_err(client_verifier_error)
}

fn build_client_verifier(
    provider: &Arc<CryptoProvider>,
    roots: &Arc<RootCertStore>,
    crls: Vec<CertificateRevocationListDer<'static>>,
    require_auth: bool,
) -> Result<Arc<dyn ClientCertVerifier>, VerifierBuilderError> {
    let builder = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
        .with_crls(crls);
    match require_auth {
        true => builder.build(),
        false => builder.allow_unauthenticated().build(),
    }
}

fn client_verifier_error(err: VerifierBuilderError) -> ConfigError {
    ConfigError::Tls {
        what: "cannot build client certificate verifier",
        source: rustls::Error::General(err.to_string()),
    }
}

/// Why the server certificate verifier last rejected a certificate, in words
/// a user can act on. Filled in by the verifier
/// [`client_config_with_diagnostics`](super::client_config_with_diagnostics)
/// installs.
#[derive(Debug, Default)]
pub struct CertificateDiagnostics {
    last_rejection: Mutex<Option<String>>,
}

impl CertificateDiagnostics {
    /// E.g. `certificate issued by "CN=lltls test other CA" is not trusted`.
    pub fn last_rejection(&self) -> Option<String> {
        self.last_rejection
            .lock()
            .map(|last| last.clone())
            .unwrap_or_default()
    }
}

/// rustls's WebPKI verifier, noting the issuer of an end-entity certificate it
/// rejects as `UnknownIssuer`. The error itself passes through unchanged, so
/// the alert on the wire stays `unknown_ca`.
#[derive(Debug)]
pub(super) struct DiagnosingVerifier {
    pub(super) inner: Arc<dyn ServerCertVerifier>,
    pub(super) diagnostics: Arc<CertificateDiagnostics>,
}

impl ServerCertVerifier for DiagnosingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if let Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) =
            &verified
        {
            // The chain's last certificate names the issuer nobody trusts.
            let top = intermediates.last().unwrap_or(end_entity);
            let issuer = issuer_name(top).unwrap_or_else(|| "an unreadable issuer".into());
            if let Ok(mut last) = self.diagnostics.last_rejection.lock() {
                *last = Some(format!("certificate issued by \"{issuer}\" is not trusted"));
            }
        }
        verified
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// The `--insecure` verifier: accepts any server certificate, for any name.
///
/// It still checks the handshake signatures with the provider's algorithms, as upstream's does,
/// so the handshake proves the server holds the key of the certificate it sent.
#[derive(Debug)]
pub(super) struct InsecureServerVerifier {
    pub(super) algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for InsecureServerVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
