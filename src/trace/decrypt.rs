//! TLS 1.3 record protection: traffic keys derived from the logged secrets
//! (RFC 8446 §7.1–7.3), and the tracer's decryption of a record under the
//! key its sender is using.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use crate::backend::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use crate::record::secrets::{expand_label, TrafficKeys};
use rustls::Tls13CipherSuite;

use super::framing::HEADER_LEN;
use super::record::{Contents, NotDecrypted};
use super::{Direction, Tracer, Wait};

/// Key phases of one direction, in the order a connection moves through
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Early,
    Handshake,
    /// Application traffic secret N (N > 0 after KeyUpdates).
    Application(u32),
}

pub(super) struct TrafficKey {
    phase: Phase,
    suite: &'static Tls13CipherSuite,
    secret: Vec<u8>,
    key: LessSafeKey,
    iv: [u8; aead::NONCE_LEN],
    /// Sequence number of the next record.
    seq: u64,
}

/// The TLS 1.3 suites the tracer can decrypt: the backend's (all three RFC
/// 8446 AEAD suites rustls implements).
fn tls13_suites() -> impl Iterator<Item = &'static Tls13CipherSuite> {
    crate::backend::provider::ALL_CIPHER_SUITES
        .iter()
        .filter_map(|suite| suite.tls13())
}

impl TrafficKey {
    fn derive(phase: Phase, suite: &'static Tls13CipherSuite, secret: &[u8]) -> Option<Self> {
        let keys = TrafficKeys::derive(suite, secret)?;
        Some(Self {
            phase,
            suite,
            secret: secret.to_vec(),
            key: LessSafeKey::new(UnboundKey::new(keys.algorithm, keys.key()).ok()?),
            iv: keys.iv,
            seq: 0,
        })
    }

    /// The key after a KeyUpdate: application_traffic_secret_N+1 =
    /// HKDF-Expand-Label(secret_N, "traffic upd", "", Hash.length).
    pub(super) fn next(&self) -> Option<Self> {
        let Phase::Application(n) = self.phase else {
            return None;
        };
        let mut secret = vec![0u8; self.secret.len()];
        expand_label(self.suite, &self.secret, b"traffic upd", &mut secret)?;
        Self::derive(Phase::Application(n.checked_add(1)?), self.suite, &secret)
    }

    /// Decrypts a copy of `record` (header included) under this key and the
    /// sequence number `seq`, without touching the key's own state.
    fn open(&self, record: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = self.iv;
        for (n, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *n ^= s;
        }
        let mut payload = record.get(HEADER_LEN..)?.to_vec();
        let plaintext_len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(record.get(..HEADER_LEN)?),
                &mut payload,
            )
            .ok()?
            .len();
        payload.truncate(plaintext_len);
        Some(payload)
    }
}

// ---------------------------------------------------------------------------
// Decrypting a record

impl Tracer {
    /// Decrypts a TLS 1.3 record under the direction's current key, or the
    /// first later key that opens it.
    pub(super) fn decrypt(
        &mut self,
        direction: Direction,
        record: &[u8],
        give_up: bool,
    ) -> Result<Contents, Wait> {
        if self.keys.is_none() || self.client_random.is_none() {
            return Ok(Contents::NotDecrypted(NotDecrypted::NoKeys));
        }
        self.refresh_secrets();
        let index = direction.index();
        if let Some(key) = &mut self.decoders[index].key {
            if let Some(plaintext) = key.open(record) {
                key.seq += 1;
                return Ok(self.inner(direction, plaintext));
            }
        }
        if let Some((key, plaintext)) = self.open_with_later_key(direction, record) {
            self.decoders[index].key = Some(key);
            return Ok(self.inner(direction, plaintext));
        }
        // rustls derives each secret before it uses it, and logs the
        // application secrets last: until they are known, the key that opens
        // this record may still come.
        if self.secrets.application(direction).is_none() && !give_up {
            return Err(Wait);
        }
        Ok(Contents::NotDecrypted(
            if self.secrets.application(direction).is_none() {
                NotDecrypted::NoKeys
            } else {
                NotDecrypted::Failed
            },
        ))
    }

    /// Tries the direction's secrets for the phases after its current one,
    /// in order: the first key that opens `record` is the one the sender
    /// switched to.
    fn open_with_later_key(
        &self,
        direction: Direction,
        record: &[u8],
    ) -> Option<(TrafficKey, Vec<u8>)> {
        let current = self.decoders[direction.index()]
            .key
            .as_ref()
            .map(|key| key.phase);
        let candidates = [
            (Phase::Early, self.early_secret(direction)),
            (Phase::Handshake, self.secrets.handshake(direction)),
            (Phase::Application(0), self.secrets.application(direction)),
        ];
        for (phase, secret) in candidates {
            let Some(secret) = secret else { continue };
            if current.is_some_and(|current| current >= phase) {
                continue;
            }
            for suite in self.candidate_suites(secret.len()) {
                let Some(mut key) = TrafficKey::derive(phase, suite, secret) else {
                    continue;
                };
                if let Some(plaintext) = key.open(record) {
                    key.seq = 1;
                    return Some((key, plaintext));
                }
            }
        }
        None
    }

    fn early_secret(&self, direction: Direction) -> Option<&[u8]> {
        match direction {
            Direction::ClientToServer => self.secrets.client_early.as_deref(),
            Direction::ServerToClient => None,
        }
    }

    /// The negotiated suite once the ServerHello said; before it (0-RTT
    /// data precedes it), every TLS 1.3 suite whose hash fits the secret.
    fn candidate_suites(
        &self,
        secret_len: usize,
    ) -> impl Iterator<Item = &'static Tls13CipherSuite> + '_ {
        tls13_suites().filter(move |suite| match self.suite {
            Some(negotiated) => suite.common.suite == negotiated,
            None => suite.common.hash_provider.output_len() == secret_len,
        })
    }

    fn refresh_secrets(&mut self) {
        if self.secrets.complete() {
            return;
        }
        if let (Some(keys), Some(random)) = (&self.keys, &self.client_random) {
            if let Some(secrets) = keys.secrets(random) {
                self.secrets = secrets;
            }
        }
    }
}
