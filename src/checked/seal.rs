//! Sealing a fatal alert during a TLS 1.3 server's handshake, when rustls
//! has already changed its sending keys and a rule lltls checks (not rustls)
//! is broken: with the server's application traffic secret, which
//! [`SealingKeyLog`](super::SealingKeyLog) passes on, at the sequence number
//! after the last record rustls sealed with it. Nothing is derived unless an
//! alert is due.

use alloc::vec::Vec;

use rustls::{AlertDescription, ContentType, Tls13CipherSuite};

use crate::record::secrets::TrafficKeys;
use crate::record::{Protection, Version, HEADER_LEN};

/// The sealed alert: header, level and description, inner content type,
/// tag.
pub(crate) const SEALED_ALERT_LEN: usize = HEADER_LEN + 2 + 1 + 16;

/// A server's sending key after its handshake flight, as far as lltls
/// knows it.
#[derive(Default)]
pub(crate) struct AlertKey {
    state: State,
}

#[derive(Default)]
enum State {
    /// No secret passed on (no `SealingKeyLog`, a client, TLS 1.2).
    #[default]
    Unknown,
    /// rustls logged the secret and switched to it after sealing its
    /// flight, which it has not handed out entirely yet.
    Flight(Vec<u8>),
    /// The flight is out: `sealed` records went out since, all with this
    /// secret (during the handshake rustls changes it no more).
    Ready { secret: Vec<u8>, sealed: u64 },
}

impl core::fmt::Debug for AlertKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print key material.
        let state = match self.state {
            State::Unknown => "unknown",
            State::Flight(_) => "flight",
            State::Ready { .. } => "ready",
        };
        f.debug_struct("AlertKey")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl AlertKey {
    /// Takes the secret a `SealingKeyLog` passed on during the last call
    /// into rustls, if any.
    pub(crate) fn take_logged(&mut self) {
        if let Some(secret) = super::take_secret() {
            self.state = State::Flight(secret);
        }
    }

    /// Takes note of `records` rustls just encoded; `drained`: rustls has
    /// nothing more queued.
    pub(crate) fn note_sent(&mut self, mut records: &[u8], drained: bool) {
        if let State::Ready { sealed, .. } = &mut self.state {
            while records.len() >= HEADER_LEN {
                if ContentType::from(records[0]) == ContentType::ApplicationData {
                    *sealed = sealed.saturating_add(1);
                }
                let len = usize::from(u16::from_be_bytes([records[3], records[4]]));
                records = &records[(HEADER_LEN + len).min(records.len())..];
            }
        }
        if drained {
            if let State::Flight(secret) = &mut self.state {
                let secret = core::mem::take(secret);
                self.state = State::Ready { secret, sealed: 0 };
            }
        }
    }

    /// Whether an alert can be sealed now.
    pub(crate) fn ready(&self) -> bool {
        matches!(self.state, State::Ready { .. })
    }

    /// `alert` as a fatal alert record sealed for `suite`, at the sequence
    /// number after rustls's last record; `None` if the key is not known or
    /// the suite not one lltls seals.
    pub(crate) fn seal(
        &self,
        suite: &Tls13CipherSuite,
        alert: AlertDescription,
    ) -> Option<[u8; SEALED_ALERT_LEN]> {
        let State::Ready { secret, sealed } = &self.state else {
            return None;
        };
        let keys = TrafficKeys::derive(suite, secret)?;
        let mut protection = Protection::from_parts(
            Version::Tls13,
            keys.algorithm,
            keys.key(),
            &keys.iv,
            *sealed,
        )
        .ok()?;
        let mut record = [0u8; SEALED_ALERT_LEN];
        record[HEADER_LEN] = 2; // fatal
        record[HEADER_LEN + 1] = u8::from(alert);
        let len = protection.seal(ContentType::Alert, &mut record, 2);
        debug_assert_eq!(len, SEALED_ALERT_LEN);
        Some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::provider::cipher_suite::TLS13_AES_128_GCM_SHA256;

    fn suite() -> &'static Tls13CipherSuite {
        match TLS13_AES_128_GCM_SHA256 {
            rustls::SupportedCipherSuite::Tls13(suite) => suite,
            _ => unreachable!("a TLS 1.3 suite"),
        }
    }

    /// Opens `record` with the keys of `secret` at `seq`.
    fn open(secret: &[u8], seq: u64, mut record: [u8; SEALED_ALERT_LEN]) -> Option<[u8; 2]> {
        let keys = TrafficKeys::derive(suite(), secret)?;
        let mut protection =
            Protection::from_parts(Version::Tls13, keys.algorithm, keys.key(), &keys.iv, seq)
                .ok()?;
        let opened = protection.open(&mut record).ok()?;
        assert_eq!(opened.content_type, ContentType::Alert);
        record[opened.plaintext].try_into().ok()
    }

    #[test]
    fn seals_after_the_records_rustls_sent_once_its_flight_is_out() {
        let secret = [7u8; 32];
        let mut key = AlertKey::default();
        assert!(key
            .seal(suite(), AlertDescription::UnexpectedMessage)
            .is_none());
        key.state = State::Flight(secret.to_vec());
        // The flight's records were sealed with the handshake key.
        key.note_sent(&[23, 3, 3, 0, 1, 0xaa], false);
        assert!(!key.ready());
        key.note_sent(&[23, 3, 3, 0, 1, 0xbb], true);
        assert!(key.ready());
        // Then two records with this key, and one in the clear.
        key.note_sent(
            &[23, 3, 3, 0, 1, 1, 21, 3, 3, 0, 2, 1, 0, 23, 3, 3, 0, 0],
            false,
        );
        let record = key
            .seal(suite(), AlertDescription::UnexpectedMessage)
            .unwrap();
        assert_eq!(record[..5], [23, 3, 3, 0, 19]);
        assert_eq!(open(&secret, 2, record), Some([2, 10]));
        assert_eq!(open(&secret, 1, record), None);
    }
}
