//! The limit for any TLS stack on one thread: the suite's AEAD from
//! aws-lc-rs (what rustls and lltls both call) sealing and opening the same
//! bytes in place, 16 KiB records, with no TLS around it: no framing, no
//! copies, no buffers, no second party.
//!
//! A second variant adds what the harness's wire costs every stack: each
//! sealed record is copied onto a wire and off it into the receiver's
//! buffer, as `harness::Wire` does (the two copies a socket stands for).
//! That is the most any stack can reach in this harness.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};

use crate::configs::Suite;
use crate::harness::{copy_bytes, Stopwatch, WIRE_CAPACITY};
use crate::{block, Settings, Trial, RECORD};

/// Bytes of additional data per record: the record header in TLS 1.3 (RFC
/// 8446 §5.2); sequence number, type, version and length in TLS 1.2 (RFC
/// 5246 §6.2.3.3).
fn aad_len(suite: Suite) -> usize {
    if suite.is_tls12() {
        13
    } else {
        5
    }
}

/// Seal then open of every record, in place, by one thread.
pub struct LimitTrial {
    key: LessSafeKey,
    aad: Vec<u8>,
    /// One record's plaintext and room for its tag.
    record: Vec<u8>,
    records: usize,
    /// Next nonce (a counter, as TLS's sequence number).
    sequence: u64,
    /// With the wire's two copies: the wire, where the next record goes on
    /// it, and the receiver's buffer.
    wire: Option<(Vec<u8>, usize, Vec<u8>)>,
}

impl LimitTrial {
    /// The bare AEAD.
    pub fn new(settings: &Settings, suite: Suite) -> Self {
        Self::with_wire(settings, suite, false)
    }

    /// The bare AEAD and, with `wire_copies`, the wire's two copies per
    /// record.
    pub fn with_wire(settings: &Settings, suite: Suite, wire_copies: bool) -> Self {
        let algorithm = suite.aead();
        let key_bytes = block(algorithm.key_len());
        let key = LessSafeKey::new(UnboundKey::new(algorithm, &key_bytes).expect("AEAD key"));
        let mut record = block(RECORD);
        record.resize(RECORD + algorithm.tag_len(), 0);
        let record_len = record.len();
        let mut trial = Self {
            key,
            aad: vec![0x17; aad_len(suite)],
            record,
            records: (settings.bulk_bytes / RECORD).max(1),
            sequence: 0,
            wire: wire_copies.then(|| (vec![0; WIRE_CAPACITY], 0, vec![0; record_len])),
        };
        // Opening gives back exactly what was sealed.
        let before = trial.record[..RECORD].to_vec();
        trial.seal_open();
        assert_eq!(trial.record[..RECORD], before[..], "AEAD round trip");
        trial
    }

    /// One record sealed and opened again where it lies.
    fn seal_open(&mut self) {
        let nonce = || {
            let mut nonce = [0u8; NONCE_LEN];
            nonce[NONCE_LEN - 8..].copy_from_slice(&self.sequence.to_be_bytes());
            Nonce::assume_unique_for_key(nonce)
        };
        let (plaintext, tag_room) = self.record.split_at_mut(RECORD);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce(), Aad::from(&self.aad[..]), plaintext)
            .expect("seal");
        tag_room.copy_from_slice(tag.as_ref());
        if let Some((wire, at, received)) = &mut self.wire {
            // Onto the wire and off it; the receiver opens its copy, which
            // the next record is sealed from.
            let len = self.record.len();
            if *at + len > wire.len() {
                *at = 0;
            }
            copy_bytes(&mut wire[*at..*at + len], &self.record);
            copy_bytes(&mut received[..len], &wire[*at..*at + len]);
            *at += len;
            std::mem::swap(&mut self.record, received);
        }
        let opened = self
            .key
            .open_in_place(nonce(), Aad::from(&self.aad[..]), &mut self.record)
            .expect("open");
        assert_eq!(opened.len(), RECORD);
        self.sequence += 1;
    }
}

impl Trial for LimitTrial {
    fn run(&mut self, _: usize) -> f64 {
        let started = Stopwatch::start();
        for _ in 0..self.records {
            self.seal_open();
        }
        let elapsed = started.seconds();
        (self.records * RECORD) as f64 / elapsed / (1 << 20) as f64
    }
}
