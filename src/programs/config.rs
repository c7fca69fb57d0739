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

use std::error::Error as StdError;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use log::{debug, warn};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Tls12Resumption, WebPkiServerVerifier};
use rustls::crypto::{aws_lc_rs, CryptoProvider, SupportedKxGroup, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{NoServerSessionStorage, VerifierBuilderError, WebPkiClientVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    ClientConfig, DigitallySignedStruct, InconsistentKeys, KeyLogFile, ProtocolVersion,
    RootCertStore, ServerConfig, SignatureScheme, SupportedProtocolVersion,
};

use crate::programs::cli::{ClientArgs, RecordLayerArg, ServerArgs};

/// Smallest and largest `--max-frag-size` rustls accepts: a record must hold at least 32 bytes,
/// and at most 2^14 bytes of payload plus the 5-byte header. rustls only reports a bad size when
/// the first connection is created, so it is checked here instead.
pub const MAX_FRAGMENT_SIZE_RANGE: std::ops::RangeInclusive<usize> = 32..=16389;

/// Protocol version names `--protover` accepts (besides spellings like `TLSv1.3`).
const VERSION_NAMES: [&str; 2] = ["1.2", "1.3"];

/// Why a configuration could not be built.
///
/// Messages are one lowercase line naming the file or option at fault.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
    /// A file has a malformed PEM section.
    InvalidPem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: pem::Error,
    },
    /// A certificate file holds no PEM certificate.
    NoCertificates {
        /// The file.
        path: PathBuf,
    },
    /// A key file holds no (unencrypted) PEM private key.
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// A key file holds only password-protected (encrypted PKCS#8) private keys, which rustls
    /// cannot load.
    EncryptedPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The crypto provider cannot use a private key.
    UnsupportedPrivateKey {
        /// The key file.
        path: PathBuf,
        /// Why rustls refused it.
        source: rustls::Error,
    },
    /// A certificate could not be parsed.
    InvalidCertificate {
        /// The certificate file.
        path: PathBuf,
        /// Why rustls refused it.
        source: rustls::Error,
    },
    /// A CA file holds certificates, but none can be used as a trust anchor.
    NoUsableCaCertificates {
        /// The CA file.
        path: PathBuf,
        /// How many certificates could not be parsed.
        invalid: usize,
    },
    /// A private key does not belong to the end-entity certificate it is paired with.
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate chain file.
        certs: PathBuf,
    },
    /// A CRL file is empty or holds no PEM CRL.
    NoCrl {
        /// The CRL file.
        path: PathBuf,
    },
    /// A CRL could not be parsed.
    InvalidCrl {
        /// The CRL file.
        path: PathBuf,
        /// Why rustls refused it.
        source: rustls::Error,
    },
    /// An OCSP response file is not a successful DER OCSP response.
    InvalidOcsp {
        /// The OCSP file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `--suite` names no cipher suite of the provider.
    UnknownCipherSuite {
        /// The name given.
        name: String,
        /// The names that would have been accepted.
        valid: Vec<String>,
    },
    /// `--protover` names no supported protocol version.
    UnknownProtocolVersion {
        /// The name given.
        name: String,
    },
    /// `--key-exchange` names no key exchange group of the provider.
    UnknownKeyExchange {
        /// The name given.
        name: String,
        /// The names that would have been accepted.
        valid: Vec<String>,
    },
    /// The chosen protocol versions, cipher suites and key exchange groups cannot work together.
    Incompatible {
        /// What rustls said.
        source: rustls::Error,
    },
    /// `--max-frag-size` is outside [`MAX_FRAGMENT_SIZE_RANGE`].
    BadMaxFragmentSize {
        /// The size given.
        size: usize,
    },
    /// `--auth-key` was given without `--auth-certs`.
    AuthKeyWithoutCerts,
    /// `--auth-certs` was given without `--auth-key`.
    AuthCertsWithoutKey,
    /// `--crl` was given without `--auth`.
    CrlWithoutAuth,
    /// `--key` is missing and `--certs` names a file, not a directory.
    MissingKey {
        /// The `--certs` file.
        certs: PathBuf,
    },
    /// `--max-early-data` was combined with `--no-resumption`: 0-RTT needs resumption.
    EarlyDataWithoutResumption,
    /// `--max-early-data` was combined with a TLS 1.2-only `--protover`: 0-RTT is TLS 1.3 only.
    EarlyDataWithoutTls13,
    /// rustls refused part of the configuration for another reason.
    Tls {
        /// What was being configured.
        what: &'static str,
        /// What rustls said.
        source: rustls::Error,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::InvalidPem { path, source } => {
                write!(f, "invalid PEM in {}: {source}", path.display())
            }
            Self::NoCertificates { path } => {
                write!(f, "no certificates found in {}", path.display())
            }
            Self::NoPrivateKey { path } => write!(f, "no private key found in {}", path.display()),
            Self::EncryptedPrivateKey { path } => write!(
                f,
                "the private key in {} is encrypted: decrypt it first (`openssl pkey -in FILE \
                 -out KEY`); only unencrypted PEM keys can be used",
                path.display()
            ),
            Self::UnsupportedPrivateKey { path, source } => {
                write!(f, "unsupported private key in {}: {source}", path.display())
            }
            Self::InvalidCertificate { path, source } => {
                write!(f, "invalid certificate in {}: {source}", path.display())
            }
            Self::NoUsableCaCertificates { path, invalid } => write!(
                f,
                "no usable CA certificates in {}: {invalid} could not be parsed",
                path.display()
            ),
            Self::KeyMismatch { key, certs } => write!(
                f,
                "private key in {} does not match certificate in {}",
                key.display(),
                certs.display()
            ),
            Self::NoCrl { path } => write!(f, "no CRL found in {}", path.display()),
            Self::InvalidCrl { path, source } => {
                write!(f, "invalid CRL in {}: {source}", path.display())
            }
            Self::InvalidOcsp { path, reason } => {
                write!(f, "invalid OCSP response in {}: {reason}", path.display())
            }
            Self::UnknownCipherSuite { name, valid } => write!(
                f,
                "unknown cipher suite {name:?}; valid: {}",
                valid.join(", ")
            ),
            Self::UnknownProtocolVersion { name } => write!(
                f,
                "unknown protocol version {name:?}; valid: {}",
                VERSION_NAMES.join(", ")
            ),
            Self::UnknownKeyExchange { name, valid } => write!(
                f,
                "unknown key exchange group {name:?}; valid: {}",
                valid.join(", ")
            ),
            Self::Incompatible { source } => write!(
                f,
                "the chosen protocol versions, cipher suites and key exchange groups cannot be \
                 used together: {source}"
            ),
            Self::BadMaxFragmentSize { size } => write!(
                f,
                "invalid --max-frag-size {size}: must be between {} and {}",
                MAX_FRAGMENT_SIZE_RANGE.start(),
                MAX_FRAGMENT_SIZE_RANGE.end()
            ),
            Self::AuthKeyWithoutCerts => f.write_str("--auth-key without --auth-certs"),
            Self::AuthCertsWithoutKey => f.write_str("--auth-certs without --auth-key"),
            Self::CrlWithoutAuth => f.write_str("--crl can only be used with --auth"),
            Self::MissingKey { certs } => write!(
                f,
                "--key is required when --certs names a file ({}) rather than a directory",
                certs.display()
            ),
            Self::EarlyDataWithoutResumption => {
                f.write_str("--max-early-data needs resumption, but --no-resumption was given")
            }
            Self::EarlyDataWithoutTls13 => {
                f.write_str("--max-early-data needs TLS 1.3, but --protover excludes it")
            }
            Self::Tls { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl StdError for ConfigError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            Self::InvalidPem { source, .. } => Some(source),
            Self::UnsupportedPrivateKey { source, .. }
            | Self::InvalidCertificate { source, .. }
            | Self::InvalidCrl { source, .. }
            | Self::Incompatible { source }
            | Self::Tls { source, .. } => Some(source),
            Self::NoCertificates { .. }
            | Self::NoPrivateKey { .. }
            | Self::EncryptedPrivateKey { .. }
            | Self::NoUsableCaCertificates { .. }
            | Self::KeyMismatch { .. }
            | Self::NoCrl { .. }
            | Self::InvalidOcsp { .. }
            | Self::UnknownCipherSuite { .. }
            | Self::UnknownProtocolVersion { .. }
            | Self::UnknownKeyExchange { .. }
            | Self::BadMaxFragmentSize { .. }
            | Self::AuthKeyWithoutCerts
            | Self::AuthCertsWithoutKey
            | Self::CrlWithoutAuth
            | Self::MissingKey { .. }
            | Self::EarlyDataWithoutResumption
            | Self::EarlyDataWithoutTls13 => None,
        }
    }
}

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
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|source| ConfigError::Tls {
            what: "cannot build server certificate verifier",
            source: rustls::Error::General(source.to_string()),
        })?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|source| ConfigError::Incompatible { source })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(DiagnosingVerifier {
            inner: verifier,
            diagnostics: diagnostics.clone(),
        }));
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
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(InsecureServerVerifier {
                algorithms: provider.signature_verification_algorithms,
            }));
    }
    Ok((Arc::new(config), diagnostics))
}

/// The server configuration `tlsserver-mio` would build from the same arguments.
///
/// Options are checked before any file is read, so a bad command line is reported even when
/// files are missing too.
pub fn server_config(args: &ServerArgs) -> Result<Arc<ServerConfig>, ConfigError> {
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
    let client_verifier = match &args.auth {
        Some(auth) => client_verifier(&provider, auth, &args.crl, args.require_auth)?,
        None => WebPkiClientVerifier::no_client_auth(),
    };

    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|source| ConfigError::Incompatible { source })?
        .with_client_cert_verifier(client_verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified_key)));

    config.key_log = Arc::new(KeyLogFile::new());
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
    Ok(Arc::new(config))
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

/// All PEM certificates in `path`, in file order.
///
/// A file without any certificate is an error.
pub fn load_certs(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let path = path.as_ref();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|err| pem_error(path, err))?;
    if certs.is_empty() {
        return Err(ConfigError::NoCertificates {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first PEM private key (PKCS#8, PKCS#1 or SEC1) in `path`.
pub fn load_private_key(path: impl AsRef<Path>) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let path = path.as_ref();
    PrivateKeyDer::from_pem_file(path).map_err(|err| match err {
        // PEM parsing skips sections it does not know, such as encrypted keys; say so rather
        // than claim there is no key.
        pem::Error::NoItemsFound if has_encrypted_key(path) => ConfigError::EncryptedPrivateKey {
            path: path.to_owned(),
        },
        pem::Error::NoItemsFound => ConfigError::NoPrivateKey {
            path: path.to_owned(),
        },
        err => pem_error(path, err),
    })
}

/// Whether `path` holds a PEM `ENCRYPTED PRIVATE KEY` section (RFC 5958 / PKCS#8).
fn has_encrypted_key(path: &Path) -> bool {
    fs::read(path).is_ok_and(|bytes| {
        bytes
            .windows(b"-----BEGIN ENCRYPTED PRIVATE KEY-----".len())
            .any(|window| window == b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    })
}

/// The certificate chain in `chain` with the private key in `key`, checked to belong together.
///
/// The key must be one `provider` can sign with, and its public key must be the one in the
/// chain's first certificate.
pub fn load_certified_key(
    provider: &CryptoProvider,
    chain: impl AsRef<Path>,
    key: impl AsRef<Path>,
) -> Result<CertifiedKey, ConfigError> {
    let (chain, key) = (chain.as_ref(), key.as_ref());
    let certs = load_certs(chain)?;
    let private_key = load_private_key(key)?;
    let signing_key = provider
        .key_provider
        .load_private_key(private_key)
        .map_err(|source| ConfigError::UnsupportedPrivateKey {
            path: key.to_owned(),
            source,
        })?;
    let certified_key = CertifiedKey::new(certs, signing_key);
    match certified_key.keys_match() {
        // rustls itself accepts keys that cannot report their public key.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {
            Ok(certified_key)
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(ConfigError::KeyMismatch {
            key: key.to_owned(),
            certs: chain.to_owned(),
        }),
        Err(source) => Err(ConfigError::InvalidCertificate {
            path: chain.to_owned(),
            source,
        }),
    }
}

/// The CRLs in `paths`, each file PEM (one or more CRLs) or a single raw DER CRL.
///
/// Upstream documents DER; `openssl ca -gencrl` writes PEM. Files are told apart by their
/// content, not their name. The CRLs are not parsed here: [`server_config`] does that.
pub fn load_crls(
    paths: impl IntoIterator<Item = impl AsRef<Path>>,
) -> Result<Vec<CertificateRevocationListDer<'static>>, ConfigError> {
    let mut crls = Vec::new();
    for path in paths {
        crls.extend(load_crl_file(path.as_ref())?);
    }
    Ok(crls)
}

/// The DER OCSP response in `path`, to staple to the server's certificate.
///
/// Only the outer structure is checked: one DER SEQUENCE whose status is `successful`.
/// rustls staples the bytes as they are.
pub fn load_ocsp(path: impl AsRef<Path>) -> Result<Vec<u8>, ConfigError> {
    let path = path.as_ref();
    let ocsp = read_file(path)?;
    check_ocsp_response(&ocsp).map_err(|reason| ConfigError::InvalidOcsp {
        path: path.to_owned(),
        reason,
    })?;
    Ok(ocsp)
}

/// Trust anchors from a PEM CA file, as upstream loads `--cafile`.
///
/// `add_parsable_certificates` is what upstream calls, so rustls logs the same
/// `add_parsable_certificates processed …` line. Unlike upstream, a file without a single
/// usable certificate is an error: it could never verify anything.
fn load_root_store(path: &Path) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    let (valid, invalid) = roots.add_parsable_certificates(load_certs(path)?);
    if valid == 0 {
        return Err(ConfigError::NoUsableCaCertificates {
            path: path.to_owned(),
            invalid,
        });
    }
    if invalid > 0 {
        warn!(
            "ignored {invalid} unparsable certificates in {}",
            path.display()
        );
    }
    Ok(roots)
}

/// The client certificate verifier for `--auth`, `--crl` and `--require-auth`.
fn client_verifier(
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

fn load_crl_file(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, ConfigError> {
    let bytes = read_file(path)?;
    let crls = if bytes.windows(10).any(|window| window == b"-----BEGIN") {
        CertificateRevocationListDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| pem_error(path, err))?
    } else if bytes.is_empty() {
        Vec::new()
    } else {
        vec![CertificateRevocationListDer::from(bytes)]
    };
    if crls.is_empty() {
        return Err(ConfigError::NoCrl {
            path: path.to_owned(),
        });
    }
    Ok(crls)
}

fn read_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

fn pem_error(path: &Path, err: pem::Error) -> ConfigError {
    match err {
        pem::Error::Io(source) => ConfigError::Read {
            path: path.to_owned(),
            source,
        },
        source => ConfigError::InvalidPem {
            path: path.to_owned(),
            source,
        },
    }
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

/// Checks that `ocsp` is an `OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, .. }`
/// (RFC 6960 §4.2.1) filling the whole file, with status `successful` (0).
fn check_ocsp_response(ocsp: &[u8]) -> Result<(), String> {
    const SEQUENCE: u8 = 0x30;
    const ENUMERATED: u8 = 0x0a;
    let not_der = || "not a DER OCSPResponse".to_owned();
    let (tag, header_len, content_len) = der_header(ocsp).ok_or_else(not_der)?;
    if tag != SEQUENCE || header_len + content_len != ocsp.len() {
        return Err(not_der());
    }
    let content = &ocsp[header_len..];
    match der_header(content) {
        Some((ENUMERATED, 2, 1)) if content.len() > 2 => match content[2] {
            0 => Ok(()),
            status => Err(format!("response status is {status}, not successful (0)")),
        },
        _ => Err(not_der()),
    }
}

/// The tag, header length and content length of the DER element at the start of `der`.
/// Only single-byte tags are handled; that is all the OCSP check needs.
fn der_header(der: &[u8]) -> Option<(u8, usize, usize)> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    if first < 0x80 {
        return Some((tag, 2, usize::from(first)));
    }
    let num_bytes = usize::from(first & 0x7f);
    if num_bytes == 0 || num_bytes > std::mem::size_of::<usize>() || rest.len() < num_bytes {
        return None;
    }
    let len = rest[..num_bytes]
        .iter()
        .fold(0usize, |len, &byte| (len << 8) | usize::from(byte));
    Some((tag, 2 + num_bytes, len))
}

/// Why the server certificate verifier last rejected a certificate, in words
/// a user can act on. Filled in by the verifier [`client_config_with_diagnostics`]
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
struct DiagnosingVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    diagnostics: Arc<CertificateDiagnostics>,
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

/// The issuer of a DER certificate as `CN=…, O=…` (the attributes people
/// recognise), or `None` if it does not parse.
pub fn issuer_name(cert: &[u8]) -> Option<String> {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
    //   serialNumber, signature AlgorithmIdentifier, issuer Name, ... } ... }
    /// Takes the next element off `fields`: its tag and contents.
    fn skip<'a>(fields: &mut &'a [u8]) -> Option<(u8, &'a [u8])> {
        let (tag, header, len) = der_header(fields)?;
        let element = fields.get(header..header + len)?;
        *fields = fields.get(header + len..)?;
        Some((tag, element))
    }
    let (_, header, _) = der_header(cert)?;
    let tbs = cert.get(header..)?;
    let (_, header, len) = der_header(tbs)?;
    let mut fields = tbs.get(header..header + len)?;
    let (tag, _) = skip(&mut fields)?;
    if tag == 0xa0 {
        skip(&mut fields)?; // the serial number follows the version
    }
    skip(&mut fields)?; // signature algorithm
    let (_, mut rdns) = skip(&mut fields)?;
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (_, mut set) = skip(&mut rdns)?;
        while !set.is_empty() {
            let (_, mut attribute) = skip(&mut set)?;
            let (_, oid) = skip(&mut attribute)?;
            let (_, value) = skip(&mut attribute)?;
            let name = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                [0x55, 0x04, 0x06] => "C",
                _ => continue,
            };
            parts.push(format!("{name}={}", String::from_utf8_lossy(value)));
        }
    }
    Some(parts.join(", "))
}

/// The `--insecure` verifier: accepts any server certificate, for any name.
///
/// It still checks the handshake signatures with the provider's algorithms, as upstream's does,
/// so the handshake proves the server holds the key of the certificate it sent.
#[derive(Debug)]
struct InsecureServerVerifier {
    algorithms: WebPkiSupportedAlgorithms,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_header_reads_short_and_long_lengths() {
        assert_eq!(der_header(&[0x30, 0x03, 1, 2, 3]), Some((0x30, 2, 3)));
        assert_eq!(der_header(&[0x30, 0x82, 0x01, 0x00]), Some((0x30, 4, 256)));
        assert_eq!(
            der_header(&[0x30, 0x80]),
            None,
            "indefinite length is not DER"
        );
        assert_eq!(der_header(&[0x30]), None);
    }

    #[test]
    fn ocsp_check_rejects_unsuccessful_and_truncated_responses() {
        // OCSPResponse { responseStatus: tryLater (3) }
        assert_eq!(
            check_ocsp_response(&[0x30, 0x03, 0x0a, 0x01, 0x03]),
            Err("response status is 3, not successful (0)".to_owned())
        );
        assert!(check_ocsp_response(&[0x30, 0x03, 0x0a, 0x01, 0x00]).is_ok());
        assert!(check_ocsp_response(&[0x30, 0x05, 0x0a, 0x01, 0x00]).is_err());
        assert!(check_ocsp_response(b"-----BEGIN").is_err());
        assert!(check_ocsp_response(b"").is_err());
    }
}
