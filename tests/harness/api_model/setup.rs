//! The shape of one model run (version, suite, client authentication, resumption, 0-RTT,
//! deferred verification, record layer) and the rustls configurations for it: deterministic
//! crypto and Ed25519 certificates from `hostile`, one suite, a key log for the wire observer,
//! and session stores that count what they keep.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lltls::verify::DeferredClientVerifier;
use lltls::{DeferredClientConfig, DeferredServerConfig, RecordLayer};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Resumption, Tls12ClientSessionValue,
    Tls13ClientSessionValue, WebPkiServerVerifier,
};
use rustls::crypto::aws_lc_rs::cipher_suite as cs;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions, WebPkiClientVerifier};
use rustls::{ClientConfig, NamedGroup, ServerConfig};

use super::super::hostile::{self, deterministic};
use super::wire::{KeyLogStore, Suite};

/// One run's configuration, from the first two bytes of an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    pub tls13: bool,
    pub suite: Suite,
    pub client_auth: bool,
    /// A first connection stores a session that this one resumes.
    pub resumption: bool,
    /// TLS 1.3 resumption: the client may send 0-RTT data, the server accepts it.
    pub early_data: bool,
    /// The client verifies the server's certificate itself (deferred mode).
    pub deferred_client: bool,
    /// The server verifies client certificates itself (implies client authentication).
    pub deferred_server: bool,
    /// Records of at most 512 bytes of plaintext (`max_fragment_size`).
    pub small_records: bool,
    pub layer: RecordLayer,
}

impl Setup {
    pub fn from_bytes(a: u8, b: u8) -> Self {
        let tls13 = a & 1 == 0;
        let deferred_server = a & 0x80 != 0;
        let resumption = a & 0x10 != 0;
        Self {
            tls13,
            suite: match (a >> 1) & 3 {
                0 | 3 => Suite::Aes128Gcm,
                1 => Suite::Aes256Gcm,
                _ => Suite::Chacha20,
            },
            client_auth: a & 8 != 0 || deferred_server,
            resumption,
            early_data: tls13 && resumption && a & 0x20 != 0,
            deferred_client: a & 0x40 != 0,
            deferred_server,
            small_records: b & 1 != 0,
            layer: RecordLayer::InPlace,
        }
    }

    pub fn to_bytes(self) -> [u8; 2] {
        let suite = match self.suite {
            Suite::Aes128Gcm => 0,
            Suite::Aes256Gcm => 1,
            Suite::Chacha20 => 2,
        };
        [
            u8::from(!self.tls13)
                | suite << 1
                | u8::from(self.client_auth) << 3
                | u8::from(self.resumption) << 4
                | u8::from(self.early_data) << 5
                | u8::from(self.deferred_client) << 6
                | u8::from(self.deferred_server) << 7,
            u8::from(self.small_records),
        ]
    }

    pub fn deferred(self) -> bool {
        self.deferred_client || self.deferred_server
    }

    fn provider(self, mut provider: CryptoProvider) -> Arc<CryptoProvider> {
        provider.cipher_suites = vec![match (self.tls13, self.suite) {
            (true, Suite::Aes128Gcm) => cs::TLS13_AES_128_GCM_SHA256,
            (true, Suite::Aes256Gcm) => cs::TLS13_AES_256_GCM_SHA384,
            (true, Suite::Chacha20) => cs::TLS13_CHACHA20_POLY1305_SHA256,
            (false, Suite::Aes128Gcm) => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            (false, Suite::Aes256Gcm) => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            (false, Suite::Chacha20) => cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        }];
        Arc::new(provider)
    }

    fn versions(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
        static TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
        if self.tls13 {
            TLS13
        } else {
            TLS12
        }
    }
}

/// A client session store that counts the sessions it was given.
#[derive(Debug)]
pub struct CountingClientStore {
    inner: ClientSessionMemoryCache,
    pub stored: AtomicUsize,
}

impl ClientSessionStore for CountingClientStore {
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(name, group)
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.inner.kx_hint(name)
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.stored.fetch_add(1, Ordering::SeqCst);
        self.inner.set_tls12_session(name, value)
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.inner.tls12_session(name)
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.inner.remove_tls12_session(name)
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.stored.fetch_add(1, Ordering::SeqCst);
        self.inner.insert_tls13_ticket(name, value)
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(name)
    }
}

/// A server session store that counts the sessions it was given.
#[derive(Debug)]
pub struct CountingServerStore {
    inner: Arc<ServerSessionMemoryCache>,
    pub stored: AtomicUsize,
}

impl StoresServerSessions for CountingServerStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.stored.fetch_add(1, Ordering::SeqCst);
        self.inner.put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.inner.take(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// Both configurations of a run, shared by the resumption's first connection and the run's.
pub struct Configs {
    pub client: Arc<ClientConfig>,
    pub server: Arc<ServerConfig>,
    pub deferred_client: Option<DeferredClientConfig>,
    pub deferred_server: Option<DeferredServerConfig>,
    pub keylog: Arc<KeyLogStore>,
    pub client_store: Arc<CountingClientStore>,
    pub server_store: Arc<CountingServerStore>,
    pub server_verifier: Arc<dyn ServerCertVerifier>,
    pub client_verifier: Arc<dyn ClientCertVerifier>,
}

impl Configs {
    pub fn new(setup: Setup) -> Self {
        let keylog = Arc::new(KeyLogStore::default());
        let client_store = Arc::new(CountingClientStore {
            inner: ClientSessionMemoryCache::new(16),
            stored: AtomicUsize::new(0),
        });
        let server_store = Arc::new(CountingServerStore {
            inner: ServerSessionMemoryCache::new(16),
            stored: AtomicUsize::new(0),
        });
        let fragment = setup.small_records.then_some(512 + 5);

        let client_provider = setup.provider(deterministic::client_provider());
        let server_verifier: Arc<dyn ServerCertVerifier> =
            WebPkiServerVerifier::builder_with_provider(hostile::roots(), client_provider.clone())
                .build()
                .expect("verifier with one root");
        let builder = ClientConfig::builder_with_provider(client_provider)
            .with_protocol_versions(setup.versions())
            .expect("versions suit the provider")
            .with_root_certificates(hostile::roots());
        let mut client = if setup.client_auth {
            builder
                .with_client_auth_cert(
                    hostile::certs(hostile::CLIENT_CHAIN),
                    hostile::key(hostile::CLIENT_KEY),
                )
                .expect("embedded client key matches its certificate")
        } else {
            builder.with_no_client_auth()
        };
        client.enable_secret_extraction = true;
        client.enable_early_data = setup.early_data;
        client.key_log = keylog.clone();
        client.max_fragment_size = fragment;
        client.resumption = Resumption::store(client_store.clone());

        let server_provider = setup.provider(deterministic::server_provider());
        let client_verifier: Arc<dyn ClientCertVerifier> =
            WebPkiClientVerifier::builder_with_provider(hostile::roots(), server_provider.clone())
                .build()
                .expect("verifier with one root");
        let builder = ServerConfig::builder_with_provider(server_provider)
            .with_protocol_versions(setup.versions())
            .expect("versions suit the provider");
        let builder = match (setup.client_auth, setup.deferred_server) {
            (_, true) => builder.with_client_cert_verifier(Arc::new(DeferredClientVerifier::new(
                client_verifier.clone(),
            ))),
            (true, false) => builder.with_client_cert_verifier(client_verifier.clone()),
            (false, false) => builder.with_no_client_auth(),
        };
        let mut server = builder
            .with_single_cert(
                hostile::certs(hostile::SERVER_CHAIN),
                hostile::key(hostile::SERVER_KEY),
            )
            .expect("embedded server key matches its certificate");
        server.enable_secret_extraction = true;
        server.key_log = keylog.clone();
        server.max_fragment_size = fragment;
        server.session_storage = server_store.clone();
        if setup.early_data {
            server.max_early_data_size = 16_384;
        }

        let deferred_client = setup.deferred_client.then(|| {
            DeferredClientConfig::with_client_auth(
                client.clone(),
                server_verifier.clone(),
                client_store.clone(),
            )
            .expect("deferred client config")
        });
        let deferred_server = setup
            .deferred_server
            .then(|| DeferredServerConfig::new(server.clone()).expect("deferred server config"));
        Self {
            client: Arc::new(client),
            server: Arc::new(server),
            deferred_client,
            deferred_server,
            keylog,
            client_store,
            server_store,
            server_verifier,
            client_verifier,
        }
    }

    pub fn client_stored(&self) -> usize {
        self.client_store.stored.load(Ordering::SeqCst)
    }

    pub fn server_stored(&self) -> usize {
        self.server_store.stored.load(Ordering::SeqCst)
    }
}
