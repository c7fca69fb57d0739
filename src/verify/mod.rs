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

//!
//! **Without std** deferred mode is left out (the configs, verifiers and
//! stores); [`PeerCertificates`] stays, for `Status::VerifyPeer`. The
//! correlation above needs a per-thread slot, and a no_std build has no
//! threads to tell apart.

#[cfg(feature = "std")]
mod config;
#[cfg(feature = "std")]
mod sessions;
#[cfg(feature = "std")]
mod slot;
#[cfg(not(feature = "std"))]
#[path = "no_slot.rs"]
mod slot;
#[cfg(feature = "std")]
mod verifiers;

use alloc::vec::Vec;

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::AlertDescription;

#[cfg(feature = "std")]
pub use config::{DeferredClientConfig, DeferredServerConfig};
#[cfg(feature = "std")]
use slot::with_armed;
pub(crate) use slot::{arm, Deferred};
#[cfg(feature = "std")]
pub use verifiers::{DeferredClientVerifier, DeferredServerVerifier};

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
