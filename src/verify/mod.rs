//! Certificate verification by the caller, possibly asynchronous (deferred
//! mode).
//!
//! rustls 0.23 verifies the peer's certificate chain by calling a verifier
//! synchronously inside `process_tls_records`. In deferred mode lltls
//! installs its own verifiers ([`DeferredServerVerifier`],
//! [`DeferredClientVerifier`]): they keep the handshake-signature checks of
//! the verifier they wrap, but only record the chain, name, OCSP response
//! and time, and let the handshake go on. The connection then returns
//! [`Status::VerifyPeer`](crate::Status::VerifyPeer) and holds everything
//! that depends on trust (application data both ways, the
//! `HandshakeComplete` status, resumable sessions) until the caller calls
//! [`peer_verified`](crate::LlConnection::peer_verified).
//!
//! **Correlation.** A rustls config is shared by many connections, so the
//! verifier in it cannot know which connection it works for. A connection
//! in deferred mode names itself in a per-thread slot for the duration of
//! each synchronous call into rustls, and the verifiers and
//! session stores record into whatever the slot names. rustls calls them
//! only from inside those calls, on the caller's thread, so connections
//! interleaved on one thread never see each other's slot. Called with no
//! connection named (the config used outside a deferred lltls connection),
//! the verifiers refuse the certificate and the stores keep nothing: the
//! mode fails closed.
//!
//! **What the mode cannot hide.** rustls finishes its handshake before the
//! caller decides: a TLS 1.3 client has sent its Finished (and, only with
//! [`DeferredClientConfig::with_client_auth`], its certificate), a server
//! its Finished and tickets naming sessions not stored yet. A rejection's
//! alert is sealed with the traffic keys, after the handshake.
//!
//! **Sessions.** Resumption skips certificate verification, so no session
//! may outlive a rejection: the stores lltls wraps around the caller's hold
//! every session stored while a verdict is pending and commit them only on
//! acceptance. A server in this mode issues stateful tickets only (a
//! stateless ticket, sealed before the verdict, could not be taken back).

mod sessions;
mod verifiers;

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use log::debug;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::{ClientSessionStore, Resumption, Tls12Resumption};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::{AlertDescription, ClientConfig, ServerConfig};

pub use verifiers::{DeferredClientVerifier, DeferredServerVerifier};

use crate::Error;

/// The certificate chain the peer presented, with what a verifier needs to
/// check it, as rustls handed it to the deferred verifier.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PeerCertificates {
    /// The peer's end-entity certificate.
    pub end_entity: CertificateDer<'static>,
    /// The rest of the chain, as presented.
    pub intermediates: Vec<CertificateDer<'static>>,
    /// The name the client asked for (client side; `None` on a server).
    pub server_name: Option<ServerName<'static>>,
    /// The stapled OCSP response (empty when there is none; client side).
    pub ocsp_response: Vec<u8>,
    /// rustls's idea of the current time during the handshake.
    pub now: UnixTime,
}

impl PeerCertificates {
    /// Runs a server-certificate verifier (for instance rustls's
    /// `WebPkiServerVerifier`, the one the config would otherwise call)
    /// on the recorded chain: the check rustls would have made.
    pub fn verify_server(&self, verifier: &dyn ServerCertVerifier) -> Result<(), rustls::Error> {
        let name = self.server_name.as_ref().ok_or_else(|| {
            rustls::Error::General("a server certificate is checked by a client".into())
        })?;
        verifier
            .verify_server_cert(
                &self.end_entity,
                &self.intermediates,
                name,
                &self.ocsp_response,
                self.now,
            )
            .map(|_| ())
    }

    /// Runs a client-certificate verifier (for instance rustls's
    /// `WebPkiClientVerifier`) on the recorded chain.
    pub fn verify_client(&self, verifier: &dyn ClientCertVerifier) -> Result<(), rustls::Error> {
        verifier
            .verify_client_cert(&self.end_entity, &self.intermediates, self.now)
            .map(|_| ())
    }
}

/// The fatal alert for a rejected certificate: the one rustls sends when its
/// own verifier returns `error`.
pub(crate) fn rejection_alert(error: &rustls::Error) -> AlertDescription {
    match error {
        rustls::Error::InvalidCertificate(e) => AlertDescription::from(e.clone()),
        rustls::Error::PeerMisbehaved(_) => AlertDescription::IllegalParameter,
        _ => AlertDescription::HandshakeFailure,
    }
}

/// A client config whose connections leave the check of the server's
/// certificate to the caller. Build connections with
/// [`LlClientConnection::deferred`](crate::LlClientConnection::deferred).
#[derive(Debug, Clone)]
pub struct DeferredClientConfig(pub(crate) Arc<ClientConfig>);

impl DeferredClientConfig {
    /// Makes `config` defer verification: `verifier` keeps checking the
    /// handshake signatures (rustls calls it for them), and its
    /// `verify_server_cert` is the caller's to run, through
    /// [`PeerCertificates::verify_server`] or otherwise. Sessions go to
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
    /// been built with a [`DeferredClientVerifier`]
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

/// Where one connection's verification stands.
#[derive(Debug, Default)]
enum Stage {
    /// No certificate presented yet (or none at all: resumption, or a client
    /// that sent none).
    #[default]
    NotAsked,
    /// Recorded by the verifier, not handed to the caller yet.
    Presented(PeerCertificates),
    /// Handed to the caller; no verdict yet.
    Pending,
    Accepted,
    /// Rejected; the alert is sent at the next `process`.
    Rejected(rustls::Error),
    /// The rejection's alert was sent.
    Done,
}

/// Sessions stored while a verdict is pending, each committing itself to
/// the caller's store when run.
type Held = Box<dyn FnOnce() + Send>;

/// One connection's verification, shared with the verifiers and stores
/// while the connection calls into rustls.
#[derive(Default)]
pub(crate) struct Verification {
    stage: Stage,
    held: Vec<Held>,
}

impl Verification {
    /// The verifier saw a chain. `false` if one was seen before (rustls
    /// verifies once per handshake).
    fn present(&mut self, certificates: PeerCertificates) -> bool {
        if !matches!(self.stage, Stage::NotAsked) {
            return false;
        }
        self.stage = Stage::Presented(certificates);
        true
    }

    /// Keeps `commit` until the verdict if one is due; runs it now if the
    /// peer is trusted (or nothing was asked: a resumed session, verified
    /// when it was made); drops it after a rejection.
    fn store(&mut self, commit: Held) {
        match self.stage {
            Stage::Presented(_) | Stage::Pending => self.held.push(commit),
            Stage::NotAsked | Stage::Accepted => commit(),
            Stage::Rejected(_) | Stage::Done => debug!("peer rejected: session not stored"),
        }
    }
}

/// A connection's handle on its [`Verification`].
#[derive(Clone, Default)]
pub(crate) struct Deferred(Arc<Mutex<Verification>>);

thread_local! {
    /// The verification of the connection calling into rustls on this
    /// thread, if it is in deferred mode.
    static ARMED: RefCell<Option<Deferred>> = const { RefCell::new(None) };
}

/// Names a connection in this thread's slot until dropped, then restores
/// what the slot held before.
pub(crate) struct Armed(Option<Deferred>);

impl Drop for Armed {
    fn drop(&mut self) {
        let previous = self.0.take();
        ARMED.with(|slot| *slot.borrow_mut() = previous);
    }
}

/// Runs `f` on the verification of the connection calling into rustls, if
/// any is named in this thread's slot.
fn with_armed<R>(f: impl FnOnce(&mut Verification) -> R) -> Option<R> {
    ARMED.with(|slot| {
        slot.borrow()
            .as_ref()
            .map(|deferred| f(&mut deferred.lock()))
    })
}

impl Deferred {
    fn lock(&self) -> MutexGuard<'_, Verification> {
        // A panic elsewhere cannot leave a stage half-written.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The chain just presented, once: it becomes pending.
    pub(crate) fn take_presented(&self) -> Option<PeerCertificates> {
        let mut verification = self.lock();
        match core::mem::replace(&mut verification.stage, Stage::Pending) {
            Stage::Presented(certificates) => Some(certificates),
            other => {
                verification.stage = other;
                None
            }
        }
    }

    /// Whether a chain was presented and not handed out yet.
    pub(crate) fn presented(&self) -> bool {
        matches!(self.lock().stage, Stage::Presented(_))
    }

    /// Whether trust-dependent work must wait: a chain was presented and the
    /// caller has not accepted it.
    pub(crate) fn withholds(&self) -> bool {
        !matches!(self.lock().stage, Stage::NotAsked | Stage::Accepted)
    }

    /// The rejection whose alert is due, once.
    pub(crate) fn take_rejection(&self) -> Option<rustls::Error> {
        let mut verification = self.lock();
        match core::mem::replace(&mut verification.stage, Stage::Done) {
            Stage::Rejected(error) => Some(error),
            other => {
                verification.stage = other;
                None
            }
        }
    }

    /// Records the caller's verdict. `false` if none was asked for (no
    /// chain handed out, or a verdict given already).
    pub(crate) fn settle(&self, verdict: Result<(), rustls::Error>) -> bool {
        let held = {
            let mut verification = self.lock();
            // Only a chain handed out with `VerifyPeer` gets a verdict.
            if !matches!(verification.stage, Stage::Pending) {
                return false;
            }
            let held = core::mem::take(&mut verification.held);
            match verdict {
                Ok(()) => {
                    verification.stage = Stage::Accepted;
                    held
                }
                Err(error) => {
                    debug!("peer rejected: {error}; {} session(s) dropped", held.len());
                    verification.stage = Stage::Rejected(error);
                    Vec::new()
                }
            }
        };
        // Outside the lock: the caller's store may take its own locks.
        for commit in held {
            commit();
        }
        true
    }
}

/// Names the connection calling into rustls in this thread's slot until the
/// guard is dropped (also when unwinding): its verification in deferred
/// mode, and no verification otherwise, so that a connection driven from
/// inside another's callback never records into the outer one.
pub(crate) fn arm(deferred: &Option<Deferred>) -> Armed {
    let previous = ARMED.with(|slot| slot.replace(deferred.clone()));
    Armed(previous)
}
