//! The rustls configs of deferred mode: lltls's verifiers and session
//! stores installed around the caller's.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::sync::Arc;

use log::debug;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::{ClientSessionStore, Resumption, Tls12Resumption};
use rustls::{ClientConfig, ServerConfig};

use super::sessions;
use super::verifiers::DeferredServerVerifier;
use crate::error::Error;

/// A client config whose connections leave the check of the server's
/// certificate to the caller. Build connections with
/// [`LlClientConnection::deferred`](crate::LlClientConnection::deferred).
#[derive(Debug, Clone)]
pub struct DeferredClientConfig(pub(crate) Arc<ClientConfig>);

impl DeferredClientConfig {
    /// Makes `config` defer verification: `verifier` keeps checking the
    /// handshake signatures (rustls calls it for them), and its
    /// `verify_server_cert` is the caller's to run, through
    /// [`PeerCertificates::verify_server`](super::PeerCertificates::verify_server) or otherwise. Sessions go to
    /// `sessions` (e.g. `ClientSessionMemoryCache`), once the server is
    /// accepted; this replaces `config.resumption` (TLS 1.2 resumption
    /// takes rustls's default, session IDs or tickets).
    ///
    /// Refuses a config with a client certificate: it would be sent before
    /// the server is verified (see
    /// [`with_client_auth`](Self::with_client_auth)). Needs
    /// `enable_secret_extraction`: a rejection is sealed by lltls's record
    /// layer, which takes the keys from rustls.
    pub fn new(
        config: ClientConfig,
        verifier: Arc<dyn ServerCertVerifier>,
        sessions: Arc<dyn ClientSessionStore>,
    ) -> Result<Self, Error> {
        if config.client_auth_cert_resolver.has_certs() {
            return Err(Error::Config(
                "deferred verification would send the client certificate to a server not yet \
                 verified; use DeferredClientConfig::with_client_auth to allow it",
            ));
        }
        Self::with_client_auth(config, verifier, sessions)
    }

    /// As [`new`](Self::new), accepting a config with a client certificate.
    /// In TLS 1.3 the client sends its certificate with its Finished, before
    /// the caller's verdict on the server: an unverified server learns the
    /// client's identity.
    pub fn with_client_auth(
        mut config: ClientConfig,
        verifier: Arc<dyn ServerCertVerifier>,
        sessions: Arc<dyn ClientSessionStore>,
    ) -> Result<Self, Error> {
        if !config.enable_secret_extraction {
            return Err(Error::SecretExtractionDisabled);
        }
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(DeferredServerVerifier::new(verifier)));
        config.resumption =
            Resumption::store(Arc::new(sessions::HeldClientSessions::new(sessions)));
        Ok(Self(Arc::new(config)))
    }

    /// Sets how TLS 1.2 sessions resume (`new` leaves rustls's default,
    /// session IDs or tickets).
    #[must_use]
    pub fn tls12_resumption(mut self, mode: Tls12Resumption) -> Self {
        let config = Arc::make_mut(&mut self.0);
        config.resumption = config.resumption.clone().tls12_resumption(mode);
        self
    }

    /// The rustls config inside, as lltls changed it.
    #[must_use]
    pub fn rustls(&self) -> &Arc<ClientConfig> {
        &self.0
    }
}

/// A server config whose connections leave the check of client certificates
/// to the caller. Build connections with
/// [`LlServerConnection::deferred`](crate::LlServerConnection::deferred).
#[derive(Debug, Clone)]
pub struct DeferredServerConfig(pub(crate) Arc<ServerConfig>);

impl DeferredServerConfig {
    /// Makes `config` hold sessions until the verdict. `config` MUST have
    /// been built with a [`DeferredClientVerifier`](super::DeferredClientVerifier)
    /// (`.with_client_cert_verifier(Arc::new(DeferredClientVerifier::new(..)))`);
    /// with any other verifier, client certificates are verified by it,
    /// synchronously, as usual.
    ///
    /// Stateless tickets are turned off (`config.ticketer`): one is sealed
    /// before the verdict and could not be withdrawn. Sessions and TLS 1.3
    /// tickets go through `config.session_storage`, held until the client is
    /// accepted. Needs `enable_secret_extraction` (see
    /// [`DeferredClientConfig::new`]).
    pub fn new(mut config: ServerConfig) -> Result<Self, Error> {
        if !config.enable_secret_extraction {
            return Err(Error::SecretExtractionDisabled);
        }
        if config.ticketer.enabled() {
            debug!("deferred verification: stateless tickets turned off");
        }
        config.ticketer = Arc::new(sessions::NoTickets);
        config.session_storage = Arc::new(sessions::HeldServerSessions::new(
            config.session_storage.clone(),
        ));
        Ok(Self(Arc::new(config)))
    }

    /// The rustls config inside, as lltls changed it.
    #[must_use]
    pub fn rustls(&self) -> &Arc<ServerConfig> {
        &self.0
    }
}
