//! The key log a [`Tracer`](super::Tracer) decrypts TLS 1.3 records with:
//! every connection's traffic secrets, keyed by client random.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use core::fmt;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use rustls::{ClientConfig, KeyLog, ServerConfig};

use super::Direction;

/// Largest number of connections whose secrets [`TraceKeyLog`] keeps before
/// it forgets the oldest: connections whose tracer never claims them (no
/// tracer, or a ClientHello it could not read) must not grow it for ever.
const MAX_CONNECTIONS_KEPT: usize = 1024;

/// A [`KeyLog`] that keeps each connection's TLS 1.3 traffic secrets for
/// [`Tracer`]s, keyed by client random, and forwards everything to an inner
/// `KeyLog` (e.g. `rustls::KeyLogFile`, so `SSLKEYLOGFILE` keeps working).
///
/// One is shared by every connection of a config: a server's tracers each
/// find their own connection's secrets by its client random. A tracer
/// removes its connection's secrets when it is dropped; at most
/// 1024 connections are kept otherwise.
///
/// The secrets are key material: install this only when tracing.
///
/// [`Tracer`]: super::Tracer
pub struct TraceKeyLog {
    inner: Arc<dyn KeyLog>,
    store: Mutex<SecretStore>,
}

#[derive(Default)]
struct SecretStore {
    by_random: HashMap<[u8; 32], Secrets>,
    /// Insertion order, for forgetting the oldest.
    order: VecDeque<[u8; 32]>,
}

/// The TLS 1.3 traffic secrets of one connection, as far as derived.
#[derive(Clone, Default)]
pub(super) struct Secrets {
    pub(super) client_early: Option<Vec<u8>>,
    client_handshake: Option<Vec<u8>>,
    server_handshake: Option<Vec<u8>>,
    client_application: Option<Vec<u8>>,
    server_application: Option<Vec<u8>>,
}

impl Secrets {
    pub(super) fn handshake(&self, direction: Direction) -> Option<&[u8]> {
        match direction {
            Direction::ClientToServer => self.client_handshake.as_deref(),
            Direction::ServerToClient => self.server_handshake.as_deref(),
        }
    }

    pub(super) fn application(&self, direction: Direction) -> Option<&[u8]> {
        match direction {
            Direction::ClientToServer => self.client_application.as_deref(),
            Direction::ServerToClient => self.server_application.as_deref(),
        }
    }

    pub(super) fn complete(&self) -> bool {
        self.client_application.is_some() && self.server_application.is_some()
    }
}

impl TraceKeyLog {
    /// A key log that forwards to `inner`.
    pub fn new(inner: Arc<dyn KeyLog>) -> Self {
        Self {
            inner,
            store: Mutex::new(SecretStore::default()),
        }
    }

    /// Installs a `TraceKeyLog` in `config`, forwarding to the key log it
    /// had, and returns it for [`Tracer::with_keys`].
    ///
    /// [`Tracer::with_keys`]: super::Tracer::with_keys
    pub fn install_client(config: &mut ClientConfig) -> Arc<Self> {
        let keys = Arc::new(Self::new(config.key_log.clone()));
        config.key_log = keys.clone();
        keys
    }

    /// Installs a `TraceKeyLog` in `config`, forwarding to the key log it
    /// had, and returns it for [`Tracer::with_keys`].
    ///
    /// [`Tracer::with_keys`]: super::Tracer::with_keys
    pub fn install_server(config: &mut ServerConfig) -> Arc<Self> {
        let keys = Arc::new(Self::new(config.key_log.clone()));
        config.key_log = keys.clone();
        keys
    }

    /// Connections whose secrets are held.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.lock().by_random.len()
    }

    fn lock(&self) -> MutexGuard<'_, SecretStore> {
        // The store stays consistent whatever panicked while holding it
        // (each update is one insertion): carry on.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn secrets(&self, client_random: &[u8; 32]) -> Option<Secrets> {
        self.lock().by_random.get(client_random).cloned()
    }

    pub(super) fn forget(&self, client_random: &[u8; 32]) {
        let mut store = self.lock();
        if store.by_random.remove(client_random).is_some() {
            store.order.retain(|random| random != client_random);
        }
    }
}

impl fmt::Debug for TraceKeyLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceKeyLog")
            .field("inner", &self.inner)
            .field("connections", &self.connections())
            .finish()
    }
}

impl KeyLog for TraceKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        if self.inner.will_log(label) {
            self.inner.log(label, client_random, secret);
        }
        let Ok(random) = <[u8; 32]>::try_from(client_random) else {
            return;
        };
        let mut store = self.lock();
        if !store.by_random.contains_key(&random) {
            if store.order.len() >= MAX_CONNECTIONS_KEPT {
                if let Some(oldest) = store.order.pop_front() {
                    store.by_random.remove(&oldest);
                }
            }
            store.order.push_back(random);
        }
        let secrets = store.by_random.entry(random).or_default();
        let slot = match label {
            "CLIENT_EARLY_TRAFFIC_SECRET" => &mut secrets.client_early,
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => &mut secrets.client_handshake,
            "SERVER_HANDSHAKE_TRAFFIC_SECRET" => &mut secrets.server_handshake,
            "CLIENT_TRAFFIC_SECRET_0" => &mut secrets.client_application,
            "SERVER_TRAFFIC_SECRET_0" => &mut secrets.server_application,
            // TLS 1.2's master secret, the exporter secret: not needed.
            _ => return,
        };
        *slot = Some(secret.to_vec());
    }

    fn will_log(&self, _label: &str) -> bool {
        // The tracer needs every traffic secret, whatever the inner log
        // wants; `log` asks the inner log itself.
        true
    }
}
