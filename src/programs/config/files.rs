//! Reading the PEM and DER files the command line names: certificates, private keys, CRLs,
//! OCSP responses and CA files.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::fs;
use std::path::Path;

use log::warn;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, RootCertStore};

use super::der::check_ocsp_response;
use super::ConfigError;

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
/// content, not their name. The CRLs are not parsed here:
/// [`server_config`](super::server_config) does that.
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
pub(super) fn load_root_store(path: &Path) -> Result<RootCertStore, ConfigError> {
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

pub(super) fn load_crl_file(
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, ConfigError> {
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
