//! Tests of the in-place record layer: against rustls's record layer on the
//! same secrets (`differential`), and each receive and post-handshake rule
//! with hand-built records (here).
//!
//! The rule tests run an [`InPlace`] layer with a stand-in for rustls's
//! `KernelConnection` whose secrets are known, and build the peer's records
//! with a [`Protection`] over the same secrets.

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

mod differential;

use rustls::crypto::cipher::{AeadKey, Iv};
use rustls::{
    AlertDescription, ConnectionTrafficSecrets, ContentType, Error as TlsError, ExtractedSecrets,
    PeerMisbehaved, ProtocolVersion, SupportedCipherSuite,
};

use super::cipher::{Protection, Version, HEADER_LEN, MAX_FRAGMENT_LEN};
use super::{Event, Handover, InPlace, Kernel};
use crate::buffer::{IncomingTls, OutgoingTls};
use crate::error::Error;

/// Secrets of one direction at one key generation: every byte of the key is
/// `direction * 16 + generation`, so the peer can derive the same.
fn secrets(direction: u8, generation: u8) -> ConnectionTrafficSecrets {
    ConnectionTrafficSecrets::Aes256Gcm {
        key: AeadKey::from([direction * 16 + generation; 32]),
        iv: Iv::new([0xa0 ^ direction ^ generation; 12]),
    }
}

const TO_US: u8 = 1;
const FROM_US: u8 = 2;

/// Stands in for rustls's `KernelConnection`: counts key generations and
/// takes tickets (as a client) into a list.
struct FakeKernel {
    version: ProtocolVersion,
    client: bool,
    tx_generation: u8,
    rx_generation: u8,
    tickets: Vec<Vec<u8>>,
}

impl Kernel for FakeKernel {
    const IS_CLIENT: bool = true;

    fn update_tx_secret(&mut self) -> Result<ConnectionTrafficSecrets, TlsError> {
        self.tx_generation += 1;
        Ok(secrets(FROM_US, self.tx_generation))
    }

    fn update_rx_secret(&mut self) -> Result<ConnectionTrafficSecrets, TlsError> {
        self.rx_generation += 1;
        Ok(secrets(TO_US, self.rx_generation))
    }

    fn handle_new_session_ticket(&mut self, body: &[u8]) -> Option<Result<(), TlsError>> {
        self.client.then(|| {
            self.tickets.push(body.to_vec());
            Ok(())
        })
    }

    fn suite(&self) -> SupportedCipherSuite {
        match self.version {
            ProtocolVersion::TLSv1_2 => {
                crate::backend::provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            }
            _ => crate::backend::provider::cipher_suite::TLS13_AES_256_GCM_SHA384,
        }
    }

    fn version(&self) -> ProtocolVersion {
        self.version
    }
}

/// Our layer, the peer's view of the keys, and the two buffers between.
struct Harness {
    layer: InPlace<FakeKernel>,
    version: Version,
    /// Seals what the peer sends us.
    peer_tx: Protection,
    /// Opens what we send the peer.
    peer_rx: Protection,
    peer_tx_generation: u8,
    peer_rx_generation: u8,
    incoming: IncomingTls,
    outgoing: OutgoingTls,
}

impl Harness {
    fn new(version: ProtocolVersion) -> Self {
        let v = match version {
            ProtocolVersion::TLSv1_2 => Version::Tls12,
            _ => Version::Tls13,
        };
        let kernel = FakeKernel {
            version,
            client: true,
            tx_generation: 0,
            rx_generation: 0,
            tickets: Vec::new(),
        };
        // Continue from where a handshake would have left us.
        let extracted = ExtractedSecrets {
            tx: (3, secrets(FROM_US, 0)),
            rx: (5, secrets(TO_US, 0)),
        };
        Self {
            layer: InPlace::new(kernel, extracted, MAX_FRAGMENT_LEN, Handover::default()).unwrap(),
            version: v,
            peer_tx: Protection::new(v, &secrets(TO_US, 0), 5).unwrap(),
            peer_rx: Protection::new(v, &secrets(FROM_US, 0), 3).unwrap(),
            peer_tx_generation: 0,
            peer_rx_generation: 0,
            incoming: IncomingTls::new(),
            outgoing: OutgoingTls::new(),
        }
    }

    fn tls13() -> Self {
        Self::new(ProtocolVersion::TLSv1_3)
    }

    /// A record from the peer, sealed as its record layer would.
    fn record(&mut self, typ: ContentType, plaintext: &[u8]) -> Vec<u8> {
        let mut record = vec![0; plaintext.len() + self.peer_tx.overhead()];
        let at = HEADER_LEN + self.peer_tx.prefix_len();
        record[at..at + plaintext.len()].copy_from_slice(plaintext);
        let len = self.peer_tx.seal(typ, &mut record, plaintext.len());
        record.truncate(len);
        record
    }

    /// A TLS 1.3 record whose inner plaintext is given whole (content type
    /// byte and padding included): the rules on it are checked after
    /// decryption.
    fn raw_tls13_record(&mut self, inner: &[u8]) -> Vec<u8> {
        assert_eq!(self.version, Version::Tls13);
        // Sealing `inner[..n-1]` as type `inner[n-1]` gives exactly `inner`
        // as the encrypted inner plaintext.
        let (typ, content) = match inner.split_last() {
            Some((&typ, content)) => (typ, content),
            None => panic!("use at least one byte"),
        };
        self.record(ContentType::from(typ), content)
    }

    /// The peer updates its sending keys after a KeyUpdate it sent.
    fn peer_updates_tx(&mut self) {
        self.peer_tx_generation += 1;
        self.peer_tx =
            Protection::new(self.version, &secrets(TO_US, self.peer_tx_generation), 0).unwrap();
    }

    fn peer_updates_rx(&mut self) {
        self.peer_rx_generation += 1;
        self.peer_rx =
            Protection::new(self.version, &secrets(FROM_US, self.peer_rx_generation), 0).unwrap();
    }

    fn deliver(&mut self, bytes: &[u8]) {
        self.incoming.reserve(bytes.len() + 20_000).unwrap();
        self.incoming.unfilled()[..bytes.len()].copy_from_slice(bytes);
        self.incoming.advance(bytes.len());
    }

    /// Runs the layer as the driver does; returns the plaintext records it
    /// lent, and how the pass ended.
    fn pump(&mut self) -> (Vec<Vec<u8>>, Result<Event, Error>) {
        let mut received = Vec::new();
        loop {
            self.incoming.discard(self.layer.receiver.take_consumed());
            let event = self
                .layer
                .advance(self.incoming.filled_mut(), &mut self.outgoing);
            self.incoming.discard(self.layer.receiver.take_consumed());
            match event {
                Ok(Event::AppData) => {
                    let buf = self.incoming.filled_mut();
                    while let Some(range) = self.layer.receiver.take_app_data(buf) {
                        self.layer.receiver.prefetch(buf);
                        received.push(buf[range].to_vec());
                    }
                }
                other => return (received, other),
            }
        }
    }

    /// What we sent, opened by the peer: (content type, plaintext) each.
    fn sent(&mut self) -> Vec<(ContentType, Vec<u8>)> {
        let mut out = Vec::new();
        let mut bytes = self.outgoing.filled().to_vec();
        self.outgoing.discard(bytes.len());
        let mut at = 0;
        while at < bytes.len() {
            let len = usize::from(u16::from_be_bytes([bytes[at + 3], bytes[at + 4]]));
            let record = &mut bytes[at..at + HEADER_LEN + len];
            let opened = self.peer_rx.open(record).expect("peer opens our record");
            let plaintext = record[opened.plaintext].to_vec();
            // A KeyUpdate we sent switches our keys right after it.
            let key_update = opened.content_type == ContentType::Handshake && plaintext[0] == 24;
            out.push((opened.content_type, plaintext));
            if key_update {
                self.peer_updates_rx();
            }
            at += HEADER_LEN + len;
        }
        out
    }
}

/// The connection's error, with the alert it says it sent.
fn failure(result: Result<Event, Error>) -> (TlsError, Option<AlertDescription>) {
    match result {
        Err(Error::Tls { error, alert_sent }) => (error, alert_sent),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

/// The fatal alert we sent, as the peer reads it.
fn alert_sent_records(h: &mut Harness) -> Vec<(ContentType, Vec<u8>)> {
    h.sent()
}

fn fatal(alert: AlertDescription) -> (ContentType, Vec<u8>) {
    (ContentType::Alert, vec![2, u8::from(alert)])
}

#[test]
fn application_data_is_lent_in_place_in_order() {
    for version in [ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2] {
        let mut h = Harness::new(version);
        let mut wire = Vec::new();
        for i in 0..5u8 {
            wire.extend(h.record(ContentType::ApplicationData, &[i; 1000]));
        }
        // Byte by byte: a record is opened only once complete.
        let mut received = Vec::new();
        for byte in wire {
            h.deliver(&[byte]);
            let (records, end) = h.pump();
            assert_eq!(end.unwrap(), Event::Blocked);
            received.extend(records);
        }
        assert_eq!(
            received,
            (0..5u8).map(|i| vec![i; 1000]).collect::<Vec<_>>()
        );
        assert_eq!(h.layer.sequence_numbers(), (3, 10), "{version:?}");
        assert!(h.incoming.is_empty());
    }
}

#[test]
fn tampered_tag_is_bad_record_mac() {
    for version in [ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2] {
        let mut h = Harness::new(version);
        let mut record = h.record(ContentType::ApplicationData, b"hello");
        let last = record.len() - 1;
        record[last] ^= 1;
        h.deliver(&record);
        let (received, end) = h.pump();
        assert!(received.is_empty(), "no forged plaintext");
        assert_eq!(
            failure(end),
            (TlsError::DecryptError, Some(AlertDescription::BadRecordMac))
        );
        assert_eq!(
            alert_sent_records(&mut h),
            [fatal(AlertDescription::BadRecordMac)]
        );
    }
}

/// A header that claims fewer bytes than were sealed: the tag is read from
/// the wrong place, so authentication fails.
#[test]
fn header_with_a_false_length_is_bad_record_mac() {
    let mut h = Harness::tls13();
    let mut record = h.record(ContentType::ApplicationData, b"hello, world");
    let len = u16::from_be_bytes([record[3], record[4]]) - 3;
    record[3..5].copy_from_slice(&len.to_be_bytes());
    record.truncate(HEADER_LEN + usize::from(len));
    h.deliver(&record);
    let (received, end) = h.pump();
    assert!(received.is_empty());
    assert_eq!(failure(end).1, Some(AlertDescription::BadRecordMac));
}

/// RFC 8446 §5.2: more than 2^14 + 256 bytes of ciphertext is
/// record_overflow, decided on the header before the record arrives.
#[test]
fn oversized_ciphertext_is_record_overflow_from_the_header() {
    for (version, limit) in [
        (ProtocolVersion::TLSv1_3, 16_384 + 256),
        (ProtocolVersion::TLSv1_2, 16_384 + 2048),
    ] {
        let mut h = Harness::new(version);
        // Exactly the limit is allowed (and waits for the rest).
        h.deliver(&[23, 3, 3, (limit >> 8) as u8, limit as u8]);
        let (_, end) = h.pump();
        assert_eq!(
            end.unwrap(),
            Event::Blocked,
            "{version:?}: {limit}B is allowed"
        );
        let mut h = Harness::new(version);
        let over = limit + 1;
        h.deliver(&[23, 3, 3, (over >> 8) as u8, over as u8]);
        let (_, end) = h.pump();
        assert_eq!(
            failure(end),
            (
                TlsError::PeerSentOversizedRecord,
                Some(AlertDescription::RecordOverflow)
            ),
            "{version:?}"
        );
        assert_eq!(
            alert_sent_records(&mut h),
            [fatal(AlertDescription::RecordOverflow)]
        );
    }
}

/// Authentic plaintext longer than 2^14 (+1 for TLS 1.3's content type) is
/// record_overflow too.
#[test]
fn oversized_plaintext_is_record_overflow() {
    let mut h = Harness::tls13();
    let mut inner = vec![b'a'; 16_384];
    inner.push(23);
    inner.push(0); // padding: the inner plaintext is 2^14 + 2 bytes
    let record = h.raw_tls13_record(&inner);
    h.deliver(&record);
    assert_eq!(
        failure(h.pump().1).1,
        Some(AlertDescription::RecordOverflow)
    );

    let mut h = Harness::new(ProtocolVersion::TLSv1_2);
    let record = h.record(ContentType::ApplicationData, &[b'a'; 16_385]);
    h.deliver(&record);
    assert_eq!(
        failure(h.pump().1).1,
        Some(AlertDescription::RecordOverflow)
    );
}

#[test]
fn zero_length_application_data_is_accepted() {
    for version in [ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2] {
        let mut h = Harness::new(version);
        let mut wire = h.record(ContentType::ApplicationData, b"");
        wire.extend(h.record(ContentType::ApplicationData, b"after"));
        h.deliver(&wire);
        let (received, end) = h.pump();
        assert_eq!(end.unwrap(), Event::Blocked);
        assert_eq!(received, [b"after".to_vec()], "{version:?}");
    }
}

#[test]
fn zero_length_handshake_or_alert_is_unexpected_message() {
    for version in [ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2] {
        for typ in [ContentType::Handshake, ContentType::Alert] {
            let mut h = Harness::new(version);
            let record = h.record(typ, b"");
            h.deliver(&record);
            assert_eq!(
                failure(h.pump().1).1,
                Some(AlertDescription::UnexpectedMessage),
                "{version:?} {typ:?}"
            );
        }
    }
}

/// RFC 8446 §5.4: an inner plaintext of zeros only has no content type.
#[test]
fn content_type_zero_or_padding_only_is_unexpected_message() {
    for inner in [&[0u8][..], &[0; 100][..]] {
        let mut h = Harness::tls13();
        let record = h.raw_tls13_record(inner);
        h.deliver(&record);
        assert_eq!(
            failure(h.pump().1),
            (
                TlsError::PeerMisbehaved(rustls::PeerMisbehaved::IllegalTlsInnerPlaintext),
                Some(AlertDescription::UnexpectedMessage)
            )
        );
    }
}

/// Padding is stripped: the content type is the last non-zero byte.
#[test]
fn padded_records_give_their_content() {
    let mut h = Harness::tls13();
    let record = h.raw_tls13_record(b"padded\x17\0\0\0\0\0\0\0");
    h.deliver(&record);
    assert_eq!(h.pump().0, [b"padded".to_vec()]);
}

/// TLS 1.3 protects everything as application_data after the handshake; a
/// plaintext handshake, alert or change_cipher_spec record, or an unknown
/// type, is unexpected_message.
#[test]
fn unprotected_or_unknown_record_types_are_unexpected_message() {
    for typ in [20u8, 21, 22, 24, 99] {
        let mut h = Harness::tls13();
        h.deliver(&[typ, 3, 3, 0, 2, 1, 0]);
        assert_eq!(
            failure(h.pump().1).1,
            Some(AlertDescription::UnexpectedMessage),
            "type {typ}"
        );
    }
    // TLS 1.2: change_cipher_spec after the handshake is not allowed either.
    let mut h = Harness::new(ProtocolVersion::TLSv1_2);
    h.deliver(&[20, 3, 3, 0, 1, 1]);
    assert_eq!(
        failure(h.pump().1).1,
        Some(AlertDescription::UnexpectedMessage)
    );
}

/// RFC 8446 §5.1: a handshake message may span records, but nothing else may
/// come between its fragments.
#[test]
fn key_update_fragmented_with_application_data_between_is_unexpected_message() {
    let mut h = Harness::tls13();
    let mut wire = h.record(ContentType::Handshake, &[24, 0, 0]);
    wire.extend(h.record(ContentType::ApplicationData, b"between"));
    wire.extend(h.record(ContentType::Handshake, &[1, 0]));
    h.deliver(&wire);
    let (received, end) = h.pump();
    assert!(received.is_empty(), "nothing delivered between fragments");
    assert_eq!(
        failure(end),
        (
            TlsError::PeerMisbehaved(
                rustls::PeerMisbehaved::MessageInterleavedWithHandshakeMessage
            ),
            Some(AlertDescription::UnexpectedMessage)
        )
    );
}

/// A fragmented KeyUpdate that is whole at a record boundary is fine.
#[test]
fn fragmented_key_update_switches_keys_at_its_end() {
    let mut h = Harness::tls13();
    let mut wire = h.record(ContentType::Handshake, &[24, 0]);
    wire.extend(h.record(ContentType::Handshake, &[0, 1, 0]));
    h.peer_updates_tx();
    wire.extend(h.record(ContentType::ApplicationData, b"new keys"));
    h.deliver(&wire);
    let (received, end) = h.pump();
    assert_eq!(end.unwrap(), Event::Blocked);
    assert_eq!(received, [b"new keys".to_vec()]);
    assert_eq!(h.layer.control.kernel.rx_generation, 1);
    assert!(
        h.layer.receiver.handshake.capacity() == 0,
        "no reassembly memory kept"
    );
}

/// RFC 8446 §5.1: a key change must fall on a record boundary, so two
/// KeyUpdates in one record are refused.
#[test]
fn two_key_updates_in_one_record_are_unexpected_message() {
    let mut h = Harness::tls13();
    let record = h.record(ContentType::Handshake, &[24, 0, 0, 1, 0, 24, 0, 0, 1, 0]);
    h.deliver(&record);
    assert_eq!(
        failure(h.pump().1),
        (
            TlsError::PeerMisbehaved(rustls::PeerMisbehaved::KeyEpochWithPendingFragment),
            Some(AlertDescription::UnexpectedMessage)
        )
    );
}

/// update_requested is answered with our own KeyUpdate before our next
/// record, and our keys change after it; the peer reads everything.
#[test]
fn key_update_requested_is_answered_before_our_next_record() {
    let mut h = Harness::tls13();
    let mut wire = h.record(ContentType::Handshake, &[24, 0, 0, 1, 1]);
    h.peer_updates_tx();
    wire.extend(h.record(ContentType::ApplicationData, b"under new keys"));
    h.deliver(&wire);
    let (received, end) = h.pump();
    assert_eq!(end.unwrap(), Event::Blocked);
    assert_eq!(received, [b"under new keys".to_vec()]);
    assert!(
        h.outgoing.is_empty(),
        "the answer waits for our next record"
    );
    assert_eq!(h.layer.encrypt(b"reply", &mut h.outgoing).unwrap(), 5);
    assert_eq!(
        h.sent(),
        [
            (ContentType::Handshake, vec![24, 0, 0, 1, 0]),
            (ContentType::ApplicationData, b"reply".to_vec()),
        ]
    );
    assert_eq!(
        h.layer.sequence_numbers(),
        (1, 1),
        "both directions on new keys"
    );
}

/// Several requests while we are silent get one answer (RFC 8446 §4.6.3).
#[test]
fn key_update_requests_while_silent_get_one_answer() {
    let mut h = Harness::tls13();
    let mut wire = Vec::new();
    for _ in 0..3 {
        wire.extend(h.record(ContentType::Handshake, &[24, 0, 0, 1, 1]));
        h.peer_updates_tx();
    }
    h.deliver(&wire);
    assert_eq!(h.pump().1.unwrap(), Event::Blocked);
    assert!(h.layer.queue_close_notify(&mut h.outgoing).is_ok());
    assert_eq!(
        h.sent(),
        [
            (ContentType::Handshake, vec![24, 0, 0, 1, 0]),
            (ContentType::Alert, vec![1, 0]),
        ]
    );
}

#[test]
fn refresh_traffic_keys_requests_an_update_and_switches() {
    let mut h = Harness::tls13();
    assert!(h.layer.refresh_traffic_keys(&mut h.outgoing).unwrap());
    h.layer.encrypt(b"after", &mut h.outgoing).unwrap();
    assert_eq!(
        h.sent(),
        [
            (ContentType::Handshake, vec![24, 0, 0, 1, 1]),
            (ContentType::ApplicationData, b"after".to_vec()),
        ]
    );
    let mut h = Harness::new(ProtocolVersion::TLSv1_2);
    let before = h.layer.sequence_numbers();
    assert!(
        !h.layer.refresh_traffic_keys(&mut h.outgoing).unwrap(),
        "TLS 1.2 has no KeyUpdate"
    );
    assert!(h.outgoing.is_empty());
    assert_eq!(h.layer.sequence_numbers(), before, "no record sealed");
}

#[test]
fn bad_key_update_values_are_refused() {
    for (body, alert) in [
        (&[24, 0, 0, 1, 2][..], AlertDescription::IllegalParameter),
        (&[24, 0, 0, 2, 0, 0][..], AlertDescription::DecodeError),
    ] {
        let mut h = Harness::tls13();
        let record = h.record(ContentType::Handshake, body);
        h.deliver(&record);
        assert_eq!(failure(h.pump().1).1, Some(alert), "{body:?}");
    }
    // TLS 1.2 has no KeyUpdate.
    let mut h = Harness::new(ProtocolVersion::TLSv1_2);
    let record = h.record(ContentType::Handshake, &[24, 0, 0, 1, 0]);
    h.deliver(&record);
    assert_eq!(
        failure(h.pump().1).1,
        Some(AlertDescription::UnexpectedMessage)
    );
}

/// At the limit TLS 1.3 sends a KeyUpdate (asking the peer to update too)
/// and goes on with new keys; the KeyUpdate is the last record under the
/// old ones.
#[test]
fn key_limit_reached_updates_keys_in_tls13() {
    let mut h = Harness::tls13();
    // 3 records were sent before the switch: 2 more reach a limit of 6
    // with the KeyUpdate as the 6th.
    h.layer.set_key_limit(6);
    let data = vec![7u8; 4 * MAX_FRAGMENT_LEN];
    assert_eq!(h.layer.encrypt(&data, &mut h.outgoing).unwrap(), data.len());
    let sent = h.sent();
    let types: Vec<ContentType> = sent.iter().map(|(t, _)| *t).collect();
    assert_eq!(
        types,
        [
            ContentType::ApplicationData,
            ContentType::ApplicationData,
            ContentType::Handshake,
            ContentType::ApplicationData,
            ContentType::ApplicationData,
        ]
    );
    assert_eq!(sent[2].1, [24, 0, 0, 1, 1]);
    assert_eq!(h.layer.sequence_numbers().0, 2);
}

/// TLS 1.2 cannot update keys: at the limit it sends close_notify and
/// refuses to encrypt more.
#[test]
fn key_limit_reached_closes_in_tls12() {
    let mut h = Harness::new(ProtocolVersion::TLSv1_2);
    h.layer.set_key_limit(6);
    let data = vec![7u8; 4 * MAX_FRAGMENT_LEN];
    assert!(matches!(
        h.layer.encrypt(&data, &mut h.outgoing),
        Err(Error::EncryptExhausted)
    ));
    let sent = h.sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2], (ContentType::Alert, vec![1, 0]));
    assert!(h.layer.close_notify_sent());
    assert_eq!(h.layer.encrypt(b"more", &mut h.outgoing).unwrap(), 0);
}

/// The receive sequence number never wraps.
#[test]
fn exhausted_receive_sequence_number_ends_the_connection() {
    let mut h = Harness::tls13();
    h.layer.receiver.rx = Protection::new(Version::Tls13, &secrets(TO_US, 0), u64::MAX).unwrap();
    h.peer_tx = Protection::new(Version::Tls13, &secrets(TO_US, 0), u64::MAX - 1).unwrap();
    let record = h.record(ContentType::ApplicationData, b"x");
    h.deliver(&record);
    let (received, end) = h.pump();
    assert!(received.is_empty());
    assert!(failure(end).0.to_string().contains("sequence number"));
}

#[test]
fn new_session_ticket_goes_to_rustls() {
    let mut h = Harness::tls13();
    let mut messages = vec![4, 0, 0, 3, 1, 2, 3];
    messages.extend([4, 0, 0, 2, 9, 9]);
    let record = h.record(ContentType::Handshake, &messages);
    h.deliver(&record);
    assert_eq!(h.pump().1.unwrap(), Event::Blocked);
    assert_eq!(h.layer.control.kernel.tickets, [vec![1, 2, 3], vec![9, 9]]);
}

#[test]
fn other_post_handshake_messages_are_unexpected_message() {
    // A TLS 1.3 CertificateRequest (post-handshake auth is not offered) and
    // a HelloRequest.
    for body in [&[13u8, 0, 0, 0][..], &[0, 0, 0, 0][..]] {
        let mut h = Harness::tls13();
        let record = h.record(ContentType::Handshake, body);
        h.deliver(&record);
        assert_eq!(
            failure(h.pump().1).1,
            Some(AlertDescription::UnexpectedMessage)
        );
    }
}

/// TLS 1.2: renegotiation is refused with a no_renegotiation warning, as
/// rustls does; a second attempt ends the connection.
#[test]
fn tls12_hello_request_is_refused() {
    let mut h = Harness::new(ProtocolVersion::TLSv1_2);
    let record = h.record(ContentType::Handshake, &[0, 0, 0, 0]);
    h.deliver(&record);
    assert_eq!(h.pump().1.unwrap(), Event::Blocked);
    assert_eq!(h.sent(), [(ContentType::Alert, vec![1, 100])]);
    let record = h.record(ContentType::Handshake, &[0, 0, 0, 0]);
    h.deliver(&record);
    assert_eq!(
        failure(h.pump().1).1,
        Some(AlertDescription::NoRenegotiation)
    );
}

/// Nothing follows our close_notify: a renegotiation request that arrives
/// after it is not answered (it still counts: a second one is fatal, with
/// no alert sent).
#[test]
fn tls12_renegotiation_after_our_close_notify_is_not_answered() {
    let mut h = Harness::new(ProtocolVersion::TLSv1_2);
    h.layer.queue_close_notify(&mut h.outgoing).unwrap();
    assert_eq!(h.sent(), [(ContentType::Alert, vec![1, 0])]);
    let record = h.record(ContentType::Handshake, &[0, 0, 0, 0]);
    h.deliver(&record);
    assert_eq!(h.pump().1.unwrap(), Event::Blocked);
    assert!(h.sent().is_empty(), "a warning after our close_notify");
    let record = h.record(ContentType::Handshake, &[0, 0, 0, 0]);
    h.deliver(&record);
    let (error, alert_sent) = failure(h.pump().1);
    assert_eq!(
        error,
        TlsError::PeerMisbehaved(PeerMisbehaved::TooManyRenegotiationRequests)
    );
    assert_eq!(alert_sent, None);
    assert!(h.sent().is_empty());
}

#[test]
fn close_notify_then_garbage_is_ignored() {
    let mut h = Harness::tls13();
    let mut wire = h.record(ContentType::ApplicationData, b"last words");
    wire.extend(h.record(ContentType::Alert, &[1, 0]));
    wire.extend(b"\xff\xffgarbage after the close");
    h.deliver(&wire);
    let (received, end) = h.pump();
    assert_eq!(received, [b"last words".to_vec()]);
    assert_eq!(end.unwrap(), Event::PeerClosed);
    let (_, end) = h.pump();
    assert_eq!(end.unwrap(), Event::Blocked);
    assert!(h.incoming.is_empty(), "the rest is discarded");
    // We may still send, then close.
    h.layer.encrypt(b"reply", &mut h.outgoing).unwrap();
    h.layer.queue_close_notify(&mut h.outgoing).unwrap();
    assert_eq!(
        h.sent(),
        [
            (ContentType::ApplicationData, b"reply".to_vec()),
            (ContentType::Alert, vec![1, 0]),
        ]
    );
}

#[test]
fn fatal_alert_received_ends_the_connection_without_an_answer() {
    let mut h = Harness::tls13();
    let record = h.record(ContentType::Alert, &[2, 40]);
    h.deliver(&record);
    assert_eq!(
        failure(h.pump().1),
        (
            TlsError::AlertReceived(AlertDescription::HandshakeFailure),
            None
        )
    );
    assert!(h.outgoing.is_empty(), "nothing sent after a fatal alert");
    assert_eq!(h.layer.encrypt(b"x", &mut h.outgoing).unwrap(), 0);
}

/// TLS 1.3 (§6): any alert but close_notify and user_canceled is an error,
/// whatever its level; TLS 1.2 warnings are logged and skipped.
#[test]
fn warning_alerts_by_version() {
    let mut h = Harness::tls13();
    let record = h.record(ContentType::Alert, &[1, 40]);
    h.deliver(&record);
    assert_eq!(
        failure(h.pump().1).0,
        TlsError::AlertReceived(AlertDescription::HandshakeFailure)
    );

    let mut h = Harness::tls13();
    let mut wire = h.record(ContentType::Alert, &[1, 90]); // user_canceled
    wire.extend(h.record(ContentType::ApplicationData, b"still here"));
    h.deliver(&wire);
    assert_eq!(h.pump().0, [b"still here".to_vec()]);

    let mut h = Harness::new(ProtocolVersion::TLSv1_2);
    let mut wire = Vec::new();
    for _ in 0..4 {
        wire.extend(h.record(ContentType::Alert, &[1, 41]));
    }
    wire.extend(h.record(ContentType::ApplicationData, b"still here"));
    h.deliver(&wire);
    assert_eq!(h.pump().0, [b"still here".to_vec()]);
    // A fifth warning is one too many, as in rustls.
    let record = h.record(ContentType::Alert, &[1, 41]);
    h.deliver(&record);
    assert_eq!(
        failure(h.pump().1).1,
        Some(AlertDescription::UnexpectedMessage)
    );
}

#[test]
fn malformed_alerts_are_refused() {
    for (version, body, alert) in [
        (
            ProtocolVersion::TLSv1_3,
            &[1u8, 0, 0][..],
            AlertDescription::DecodeError,
        ),
        (
            ProtocolVersion::TLSv1_3,
            &[1][..],
            AlertDescription::DecodeError,
        ),
        // TLS 1.2: an unknown level makes no alert of it (rustls answers
        // the same way).
        (
            ProtocolVersion::TLSv1_2,
            &[3, 40][..],
            AlertDescription::IllegalParameter,
        ),
    ] {
        let mut h = Harness::new(version);
        let record = h.record(ContentType::Alert, body);
        h.deliver(&record);
        let (error, alert_sent) = failure(h.pump().1);
        assert_eq!(alert_sent, Some(alert), "{body:?}: {error:?}");
        // The error names the alert that went out, and it did go out.
        assert_eq!(alert_sent_records(&mut h), [fatal(alert)], "{body:?}");
    }
}

/// TLS 1.3 (§6) ignores the level: an alert with an unknown level is the
/// peer's error alert (nothing is answered) or, as close_notify, a closure.
#[test]
fn tls13_ignores_the_alert_level() {
    let mut h = Harness::tls13();
    let record = h.record(ContentType::Alert, &[3, 40]);
    h.deliver(&record);
    let (error, alert_sent) = failure(h.pump().1);
    assert_eq!(
        (error, alert_sent),
        (
            TlsError::AlertReceived(AlertDescription::HandshakeFailure),
            None
        )
    );
    assert!(h.sent().is_empty(), "nothing after the peer's error alert");

    let mut h = Harness::tls13();
    let record = h.record(ContentType::Alert, &[7, 0]);
    h.deliver(&record);
    assert_eq!(h.pump().1.unwrap(), Event::PeerClosed);
}

/// Records that arrive after an error are never opened.
#[test]
fn errors_are_final() {
    let mut h = Harness::tls13();
    let mut bad = h.record(ContentType::ApplicationData, b"forged");
    bad[HEADER_LEN] ^= 1;
    h.deliver(&bad);
    let good = h.record(ContentType::ApplicationData, b"after");
    h.deliver(&good);
    let (received, end) = h.pump();
    assert!(received.is_empty());
    assert_eq!(failure(end).1, Some(AlertDescription::BadRecordMac));
}

/// A handshake message over rustls's 64 KiB limit is refused as soon as its
/// header says so, with the alert and error rustls gives it (decode_error:
/// a record over the RFC's size is record_overflow; a message is not a
/// record).
#[test]
fn oversized_handshake_message_is_decode_error() {
    for whole_header in [true, false] {
        let mut h = Harness::tls13();
        // A NewSessionTicket announcing 2^16 bytes.
        let header = [4u8, 1, 0, 0];
        let wire = if whole_header {
            h.record(ContentType::Handshake, &header)
        } else {
            // The length spans two records: held back, then refused.
            let mut wire = h.record(ContentType::Handshake, &header[..2]);
            wire.extend(h.record(ContentType::Handshake, &header[2..]));
            wire
        };
        h.deliver(&wire);
        let (error, alert) = failure(h.pump().1);
        assert_eq!(
            (error, alert),
            (
                TlsError::InvalidMessage(rustls::InvalidMessage::HandshakePayloadTooLarge),
                Some(AlertDescription::DecodeError)
            ),
            "whole header: {whole_header}"
        );
    }
}
