//! Session stores that keep no session from a peer the caller has not
//! accepted (resumption would skip the verification).

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::sync::Arc;

use log::debug;
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use rustls::server::{ProducesTickets, StoresServerSessions};
use rustls::NamedGroup;

use super::with_armed;

/// Hands a new session to the connection calling into rustls, which commits
/// it now, at acceptance, or never. With no connection named (the config
/// used outside deferred lltls), nothing is kept.
fn hold(commit: impl FnOnce() + Send + 'static) {
    if with_armed(|verification| verification.store(Box::new(commit))).is_none() {
        debug!("deferred-mode store used outside a deferred connection: session not stored");
    }
}

/// The client's store, holding sessions until the server is accepted.
#[derive(Debug)]
pub(super) struct HeldClientSessions(Arc<dyn ClientSessionStore>);

impl HeldClientSessions {
    pub(super) fn new(inner: Arc<dyn ClientSessionStore>) -> Self {
        Self(inner)
    }
}

impl ClientSessionStore for HeldClientSessions {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        // Which group the server prefers is no secret and grants nothing.
        self.0.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.0.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        let inner = self.0.clone();
        hold(move || inner.set_tls12_session(server_name, value));
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.0.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.0.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        let inner = self.0.clone();
        hold(move || inner.insert_tls13_ticket(server_name, value));
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        self.0.take_tls13_ticket(server_name)
    }
}

/// The server's store, holding sessions (TLS 1.2 session IDs, TLS 1.3
/// stateful tickets) until the client is accepted. A ticket sent before the
/// verdict names a session the store does not have yet; after a rejection
/// it never will, and resuming with it falls back to a full handshake.
#[derive(Debug)]
pub(super) struct HeldServerSessions(Arc<dyn StoresServerSessions>);

impl HeldServerSessions {
    pub(super) fn new(inner: Arc<dyn StoresServerSessions>) -> Self {
        Self(inner)
    }
}

impl StoresServerSessions for HeldServerSessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        if !self.0.can_cache() {
            return false;
        }
        let inner = self.0.clone();
        hold(move || {
            inner.put(key, value);
        });
        // rustls sends the ticket (or session ID) only if this says stored.
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.take(key)
    }

    fn can_cache(&self) -> bool {
        self.0.can_cache()
    }
}

/// No stateless tickets in deferred mode.
#[derive(Debug)]
pub(super) struct NoTickets;

impl ProducesTickets for NoTickets {
    fn enabled(&self) -> bool {
        false
    }

    fn lifetime(&self) -> u32 {
        0
    }

    fn encrypt(&self, _: &[u8]) -> Option<Vec<u8>> {
        None
    }

    fn decrypt(&self, _: &[u8]) -> Option<Vec<u8>> {
        None
    }
}
