//! [`ConfigError`]: why a configuration could not be built.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::path::PathBuf;

use rustls::pki_types::pem;

use super::{MAX_FRAGMENT_SIZE_RANGE, VERSION_NAMES};

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
    /// `--verify-async` combined with an option it cannot honour, and why.
    VerifyAsync {
        /// The one-line reason, naming the options.
        reason: &'static str,
    },
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
            Self::VerifyAsync { reason } => f.write_str(reason),
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
            | Self::EarlyDataWithoutTls13
            | Self::VerifyAsync { .. } => None,
        }
    }
}
