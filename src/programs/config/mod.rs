//! rustls configurations for `llclient` and `llserver`, built from their command lines.
//!
//! [`client_config`] and [`server_config`] configure rustls as rustls's `tlsclient-mio` and
//! `tlsserver-mio` do for the same options (aws-lc-rs provider, the same defaults), so both
//! programs put the same records on the wire. Where upstream panics, these functions return a
//! [`ConfigError`] naming the option or file at fault, and they reject inputs upstream silently
//! accepts: a CA file without certificates, a key that does not match its certificate, an
//! unusable `--max-frag-size`.
//!
//! The only IO here is reading the files the arguments name.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

mod der;
mod error;
mod files;
mod paths;
mod verifiers;

use std::sync::Arc;

use log::warn;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::{ClientSessionMemoryCache, Tls12Resumption, WebPkiServerVerifier};
use rustls::crypto::{aws_lc_rs, CryptoProvider, SupportedKxGroup};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::sign::SingleCertAndKey;
use rustls::{
    ClientConfig, KeyLogFile, ProtocolVersion, RootCertStore, ServerConfig,
    SupportedProtocolVersion,
};

use crate::checked::{CheckedCertResolver, CheckedClientVerifier, SealingKeyLog};
use crate::programs::cli::{ClientArgs, RecordLayerArg, ServerArgs};
use crate::verify::DeferredClientConfig;
use crate::verify::DeferredClientVerifier;

pub use der::issuer_name;
pub use error::ConfigError;
pub use files::{load_certified_key, load_certs, load_crls, load_ocsp, load_private_key};
pub use verifiers::CertificateDiagnostics;

use files::load_root_store;
use verifiers::{client_verifier, DiagnosingVerifier, InsecureServerVerifier};

/// Smallest and largest `--max-frag-size` rustls accepts: a record must hold at least 32 bytes,
/// and at most 2^14 bytes of payload plus the 5-byte header. rustls only reports a bad size when
/// the first connection is created, so it is checked here instead.
pub const MAX_FRAGMENT_SIZE_RANGE: std::ops::RangeInclusive<usize> = 32..=16389;

/// Protocol version names `--protover` accepts (besides spellings like `TLSv1.3`).
const VERSION_NAMES: [&str; 2] = ["1.2", "1.3"];

/// The client configuration `tlsclient-mio` would build from the same arguments.
///
/// Options are checked before any file is read, so a bad command line is reported even when
/// files are missing too.
pub fn client_config(args: &ClientArgs) -> Result<Arc<ClientConfig>, ConfigError> {
    client_config_with_diagnostics(args).map(|(config, _)| config)
}

/// [`client_config`], plus a handle that explains the server certificate the
/// verifier last rejected: rustls's `UnknownIssuer` does not say which issuer
/// it did not know.
pub fn client_config_with_diagnostics(
    args: &ClientArgs,
) -> Result<(Arc<ClientConfig>, Arc<CertificateDiagnostics>), ConfigError> {
    client_setup(args).map(|setup| (setup.config, setup.diagnostics))
}

/// What `llclient` builds from its command line.
pub struct ClientSetup {
    /// The rustls config, as `tlsclient-mio` would build it.
    pub config: Arc<ClientConfig>,
    /// The server certificate verifier inside it (`--verify-async` runs it
    /// on a worker thread).
    pub verifier: Arc<dyn ServerCertVerifier>,
    /// Explains the verifier's last rejection.
    pub diagnostics: Arc<CertificateDiagnostics>,
}

/// [`client_config_with_diagnostics`], with the verifier.
pub fn client_setup(args: &ClientArgs) -> Result<ClientSetup, ConfigError> {
    let provider = Arc::new(provider(&args.suite, &args.key_exchange)?);
    let versions = protocol_versions(&args.protover)?;
    let max_fragment_size = args
        .max_frag_size
        .map(check_max_fragment_size)
        .transpose()?;
    let client_auth = args.client_auth_paths()?;

    let roots = match &args.cafile {
        Some(cafile) => load_root_store(cafile)?,
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
    };

    let diagnostics = Arc::new(CertificateDiagnostics::default());
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|source| ConfigError::Tls {
            what: "cannot build server certificate verifier",
            source: rustls::Error::General(source.to_string()),
        })?;
    let mut verifier: Arc<dyn ServerCertVerifier> = Arc::new(DiagnosingVerifier {
        inner: webpki,
        diagnostics: diagnostics.clone(),
    });
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|source| ConfigError::Incompatible { source })?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone());
    let mut config = match client_auth {
        Some((certs, key)) => {
            let certified_key = load_certified_key(&provider, certs, key)?;
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified_key)))
        }
        None => builder.with_no_client_auth(),
    };

    // Writes TLS secrets to $SSLKEYLOGFILE when it is set, as upstream does.
    config.key_log = Arc::new(KeyLogFile::new());
    if args.no_tickets {
        // Upstream's --no-tickets only stops TLS 1.2 ticket resumption; TLS 1.3 tickets are
        // still accepted. Keep that, so records match.
        config.resumption = config
            .resumption
            .tls12_resumption(Tls12Resumption::SessionIdOnly);
    }
    config.enable_sni = !args.no_sni;
    config.alpn_protocols = alpn_protocols(&args.proto);
    config.max_fragment_size = max_fragment_size;
    // The in-place record layer takes the traffic secrets from rustls after
    // the handshake.
    config.enable_secret_extraction = args.record_layer == RecordLayerArg::InPlace;
    if args.insecure {
        warn!("certificate verification disabled (--insecure)");
        verifier = Arc::new(InsecureServerVerifier {
            algorithms: provider.signature_verification_algorithms,
        });
        config
            .dangerous()
            .set_certificate_verifier(verifier.clone());
    }
    if args.verify_async {
        if args.record_layer != RecordLayerArg::InPlace {
            return Err(ConfigError::VerifyAsync {
                reason: "--verify-async needs --record-layer in-place: lltls's record layer \
                         seals the alert of a rejection",
            });
        }
        if args.auth_certs.is_some() && !args.verify_async_with_auth {
            return Err(ConfigError::VerifyAsync {
                reason: "--verify-async would send the client certificate (--auth-certs) to a \
                         server not verified yet: add --verify-async-with-auth to allow it, or \
                         drop --verify-async to verify the server before sending it",
            });
        }
    }
    if args.verify_async_with_auth && (!args.verify_async || args.auth_certs.is_none()) {
        return Err(ConfigError::VerifyAsync {
            reason: "--verify-async-with-auth needs --verify-async and --auth-certs",
        });
    }
    Ok(ClientSetup {
        config: Arc::new(config),
        verifier,
        diagnostics,
    })
}

/// The deferred-verification config `--verify-async` uses, from `config`
/// (as [`client_setup`] built it, possibly traced since) and its verifier,
/// which keeps checking the handshake signatures. Sessions go to an
/// in-memory cache of rustls's default size once the server is accepted.
pub fn deferred_client_config(
    args: &ClientArgs,
    config: Arc<ClientConfig>,
    verifier: Arc<dyn ServerCertVerifier>,
) -> Result<DeferredClientConfig, ConfigError> {
    let sessions = Arc::new(ClientSessionMemoryCache::new(256));
    let config = Arc::unwrap_or_clone(config);
    // `client_setup` refused a client certificate without the opt-in.
    let deferred = match args.verify_async_with_auth {
        true => DeferredClientConfig::with_client_auth(config, verifier, sessions),
        false => DeferredClientConfig::new(config, verifier, sessions),
    }
    .map_err(|error| ConfigError::Tls {
        what: "cannot set up deferred verification",
        source: rustls::Error::General(error.to_string()),
    })?;
    Ok(match args.no_tickets {
        true => deferred.tls12_resumption(Tls12Resumption::SessionIdOnly),
        false => deferred,
    })
}

/// The server configuration `tlsserver-mio` would build from the same arguments.
///
/// Options are checked before any file is read, so a bad command line is reported even when
/// files are missing too.
pub fn server_config(args: &ServerArgs) -> Result<Arc<ServerConfig>, ConfigError> {
    server_setup(args).map(|setup| setup.config)
}

/// [`server_config`], with the client certificate verifier.
pub fn server_setup(args: &ServerArgs) -> Result<ServerSetup, ConfigError> {
    let provider = Arc::new(provider(&args.suite, &args.key_exchange)?);
    let versions = protocol_versions(&args.protover)?;
    if !args.crl.is_empty() && args.auth.is_none() {
        return Err(ConfigError::CrlWithoutAuth);
    }
    if args.max_early_data > 0 {
        if args.no_resumption {
            return Err(ConfigError::EarlyDataWithoutResumption);
        }
        if !versions
            .iter()
            .any(|version| version.version == ProtocolVersion::TLSv1_3)
        {
            return Err(ConfigError::EarlyDataWithoutTls13);
        }
    }
    let (chain, key) = args.chain_and_key_paths()?;

    let mut certified_key = load_certified_key(&provider, &chain, &key)?;
    if let Some(ocsp) = &args.ocsp {
        certified_key.ocsp = Some(load_ocsp(ocsp)?);
    }
    if args.verify_async {
        let reason = if args.auth.is_none() {
            Some("--verify-async needs --auth: without it no client certificate is verified")
        } else if args.tickets {
            Some(
                "--verify-async cannot use --tickets: a stateless ticket sent before the verdict \
                 could not be withdrawn after a rejection (sessions stay in the cache instead)",
            )
        } else if args.record_layer != RecordLayerArg::InPlace {
            Some(
                "--verify-async needs --record-layer in-place: lltls's record layer seals the \
                 alert of a rejection",
            )
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(ConfigError::VerifyAsync { reason });
        }
    }
    let client_verifier = match &args.auth {
        Some(auth) => client_verifier(&provider, auth, &args.crl, args.require_auth)?,
        None => WebPkiClientVerifier::no_client_auth(),
    };
    // Deferred: rustls gets a verifier that records the chain; the real one
    // runs on a worker thread (`ServerSetup::client_verifier`).
    let installed: Arc<dyn ClientCertVerifier> = match args.verify_async {
        true => Arc::new(DeferredClientVerifier::new(client_verifier.clone())),
        false => client_verifier.clone(),
    };
    // The RFCs' answers to hostile clients where rustls gives another
    // (lltls::checked); normal handshakes go through unchanged.
    let installed = Arc::new(CheckedClientVerifier::new(installed));
    let resolver = CheckedCertResolver::new(
        Arc::new(SingleCertAndKey::from(certified_key)),
        &provider,
        &versions,
    );

    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|source| ConfigError::Incompatible { source })?
        .with_client_cert_verifier(installed)
        .with_cert_resolver(Arc::new(resolver));

    // Also passes the server's traffic secret to its connection, to seal
    // the alerts of lltls's checks after rustls changed keys.
    config.key_log = Arc::new(SealingKeyLog::new(Arc::new(KeyLogFile::new())));
    if args.no_resumption {
        config.session_storage = Arc::new(NoServerSessionStorage {});
    }
    if args.tickets {
        config.ticketer = aws_lc_rs::Ticketer::new().map_err(|source| ConfigError::Tls {
            what: "cannot create session ticketer",
            source,
        })?;
    }
    config.max_early_data_size = args.max_early_data;
    config.alpn_protocols = alpn_protocols(&args.proto);
    config.enable_secret_extraction = args.record_layer == RecordLayerArg::InPlace;
    Ok(ServerSetup {
        config: Arc::new(config),
        client_verifier,
    })
}

/// What `llserver` builds from its command line.
pub struct ServerSetup {
    /// The rustls config, as `tlsserver-mio` would build it (with
    /// `--verify-async`, with a [`DeferredClientVerifier`] inside: make it a
    /// [`DeferredServerConfig`](crate::DeferredServerConfig) after tracing).
    pub config: Arc<ServerConfig>,
    /// The client certificate verifier for `--auth` (`--verify-async` runs
    /// it on a worker thread).
    pub client_verifier: Arc<dyn ClientCertVerifier>,
}

/// The aws-lc-rs provider, narrowed to the named cipher suites and key exchange groups.
///
/// Empty lists keep the provider's defaults. Names are matched case-insensitively against
/// rustls's names (`TLS13_AES_128_GCM_SHA256`, `X25519`, `secp256r1`, `X25519MLKEM768`), in the
/// order given, which becomes the order of preference; repeats are ignored.
pub fn provider(suites: &[String], kx_groups: &[String]) -> Result<CryptoProvider, ConfigError> {
    let mut provider = aws_lc_rs::default_provider();
    if !suites.is_empty() {
        provider.cipher_suites = lookup_all(
            suites,
            aws_lc_rs::ALL_CIPHER_SUITES,
            |suite| suite.suite().as_str(),
            |name, valid| ConfigError::UnknownCipherSuite { name, valid },
        )?;
    }
    if !kx_groups.is_empty() {
        provider.kx_groups = lookup_all(
            kx_groups,
            aws_lc_rs::ALL_KX_GROUPS,
            |group: &&dyn SupportedKxGroup| group.name().as_str(),
            |name, valid| ConfigError::UnknownKeyExchange { name, valid },
        )?;
    }
    Ok(provider)
}

/// The protocol versions named by `--protover` values, or all of them if there are none.
///
/// Accepts `1.2` and `1.3`, and spellings such as `TLSv1.3`, `tls1.3` or `TLSv1_3`, in any case.
pub fn protocol_versions(
    names: &[String],
) -> Result<Vec<&'static SupportedProtocolVersion>, ConfigError> {
    if names.is_empty() {
        return Ok(rustls::ALL_VERSIONS.to_vec());
    }
    let mut versions = Vec::new();
    for name in names {
        let lower = name.to_ascii_lowercase().replace('_', ".");
        let number = lower.strip_prefix("tls").unwrap_or(&lower);
        let number = number.strip_prefix('v').unwrap_or(number);
        let version = match number {
            "1.2" => &rustls::version::TLS12,
            "1.3" => &rustls::version::TLS13,
            _ => return Err(ConfigError::UnknownProtocolVersion { name: name.clone() }),
        };
        if !versions.contains(&version) {
            versions.push(version);
        }
    }
    Ok(versions)
}

fn check_max_fragment_size(size: usize) -> Result<usize, ConfigError> {
    match MAX_FRAGMENT_SIZE_RANGE.contains(&size) {
        true => Ok(size),
        false => Err(ConfigError::BadMaxFragmentSize { size }),
    }
}

fn alpn_protocols(protocols: &[String]) -> Vec<Vec<u8>> {
    protocols
        .iter()
        .map(|protocol| protocol.as_bytes().to_vec())
        .collect()
}

/// The items of `all` named in `names`, compared case-insensitively with `name_of`.
fn lookup_all<T: Copy>(
    names: &[String],
    all: &[T],
    name_of: impl Fn(&T) -> Option<&'static str>,
    unknown: impl Fn(String, Vec<String>) -> ConfigError,
) -> Result<Vec<T>, ConfigError> {
    let mut chosen: Vec<(T, &'static str)> = Vec::new();
    for name in names {
        let found = all.iter().find_map(|item| {
            name_of(item)
                .filter(|item_name| item_name.eq_ignore_ascii_case(name))
                .map(|item_name| (*item, item_name))
        });
        let Some((item, item_name)) = found else {
            let valid = all
                .iter()
                .filter_map(|item| name_of(item).map(str::to_owned))
                .collect();
            return Err(unknown(name.clone(), valid));
        };
        if !chosen
            .iter()
            .any(|(_, chosen_name)| *chosen_name == item_name)
        {
            chosen.push((item, item_name));
        }
    }
    Ok(chosen.into_iter().map(|(item, _)| item).collect())
}
