//! Which files the command line names: the server's chain and key (with
//! `--certs DIR`, the files `scripts/gen-certs.sh` lays out there), and the
//! client's authentication pair. Here rather than in `cli` so that the
//! command line does not depend on the configuration's error type.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::path::{Path, PathBuf};

use super::ConfigError;
use crate::programs::cli::{ClientArgs, ServerArgs, CHAIN_FILE_NAME, KEY_FILE_NAME};

impl ServerArgs {
    /// The certificate chain file and private key file this server uses.
    ///
    /// `--certs` normally names the chain and `--key` the key. When `--certs` names a
    /// directory, the chain is `DIR/fullchain.pem` and the key `DIR/server.key`, unless `--key`
    /// is given. Only this check touches the file system; the files are not read here.
    pub fn chain_and_key_paths(&self) -> Result<(PathBuf, PathBuf), ConfigError> {
        if self.certs.is_dir() {
            let key = match &self.key {
                Some(key) => key.clone(),
                None => self.certs.join(KEY_FILE_NAME),
            };
            return Ok((self.certs.join(CHAIN_FILE_NAME), key));
        }
        // A path that is not there is reported as such, not as a missing
        // --key: `--certs nonexistent/` meant a directory.
        if let Err(source) = std::fs::metadata(&self.certs) {
            return Err(ConfigError::Read {
                path: self.certs.clone(),
                source,
            });
        }
        match &self.key {
            Some(key) => Ok((self.certs.clone(), key.clone())),
            None => Err(ConfigError::MissingKey {
                certs: self.certs.clone(),
            }),
        }
    }
}

impl ClientArgs {
    /// The client-authentication chain and key, if both were given.
    ///
    /// Fails if only one of `--auth-certs` and `--auth-key` was given: upstream requires both.
    pub fn client_auth_paths(&self) -> Result<Option<(&Path, &Path)>, ConfigError> {
        match (&self.auth_certs, &self.auth_key) {
            (Some(certs), Some(key)) => Ok(Some((certs, key))),
            (None, None) => Ok(None),
            (None, Some(_)) => Err(ConfigError::AuthKeyWithoutCerts),
            (Some(_), None) => Err(ConfigError::AuthCertsWithoutKey),
        }
    }
}
