//! Post-handshake records against a connection that switched to the
//! in-place record layer, built by a peer holding the real keys
//! (tests/harness/hostile/records.rs, also the `records` fuzz target): the seed
//! inputs do what they should, and seeded mutations of them end cleanly —
//! never a panic, a spin or unbounded buffers.

mod harness;

use harness::data::Rng;
use harness::hostile::records::{fuzz_records, run_records, seed_ops, RecordPeer, RecordsRun};
use harness::hostile::{feed, fuzz_input, pattern, Chunker, End, Profile, CHUNK_SIZES};
use rustls::{AlertDescription, Error as TlsError};

fn profiles() -> Vec<Profile> {
    let mut out = Vec::new();
    for tls12 in [false, true] {
        for chacha in [false, true] {
            for chunk_class in [0, 4, 7] {
                out.push(Profile {
                    tls12: Some(tls12),
                    chacha,
                    client_auth: false,
                    alpn: false,
                    chunk_class,
                });
            }
        }
    }
    out
}

fn alert_received_or_sent(end: &End) -> Option<AlertDescription> {
    match end {
        End::Failed(lltls::Error::Tls { alert_sent, .. }) => *alert_sent,
        _ => None,
    }
}

#[test]
fn seed_inputs_behave_as_the_rfcs_say() {
    let seeds = seed_ops();
    for profile in profiles() {
        let tls13 = profile.tls12 == Some(false);
        let run = |ops: &[u8]| fuzz_records(&fuzz_input(profile, 3, ops)).expect("runs");
        let what = format!("{profile:?}");

        let data = run(&seeds[0]);
        let mut expected = b"hello".to_vec();
        expected.extend([7; 3000]);
        assert_eq!(data.received, expected, "{what}: data");
        assert!(
            matches!(data.end, Some(End::Eof(Some(_)))),
            "{what}: {:?}",
            data.end
        );

        let tampered = run(&seeds[4]);
        assert!(
            tampered.received.is_empty(),
            "{what}: forged data delivered"
        );
        assert_eq!(
            alert_received_or_sent(tampered.end.as_ref().unwrap()),
            Some(AlertDescription::BadRecordMac),
            "{what}: {:?}",
            tampered.end
        );

        let closing = run(&seeds[5]);
        assert_eq!(closing.received, b"bye", "{what}");
        assert!(
            matches!(closing.end, Some(End::Closed)),
            "{what}: {:?}",
            closing.end
        );

        if tls13 {
            let updates = run(&seeds[1]);
            assert_eq!(updates.received, b"beforeafteragain", "{what}: key updates");
            assert!(
                matches!(updates.end, Some(End::Eof(Some(_)))),
                "{what}: {:?}",
                updates.end
            );

            let fragmented = run(&seeds[2]);
            assert_eq!(fragmented.received, b"x", "{what}: fragmented KeyUpdate");

            let padded = run(&seeds[3]);
            assert_eq!(padded.received, b"padded", "{what}: padding");
            match padded.end {
                Some(End::Failed(lltls::Error::Tls { error, alert_sent })) => {
                    assert_eq!(
                        error,
                        TlsError::PeerMisbehaved(rustls::PeerMisbehaved::IllegalTlsInnerPlaintext)
                    );
                    assert_eq!(alert_sent, Some(AlertDescription::UnexpectedMessage));
                }
                other => panic!("{what}: all-zero inner plaintext accepted: {other:?}"),
            }
        } else {
            // TLS 1.2 has no KeyUpdate: the first one is unexpected_message.
            let updates = run(&seeds[1]);
            assert_eq!(updates.received, b"before", "{what}");
            assert_eq!(
                alert_received_or_sent(updates.end.as_ref().unwrap()),
                Some(AlertDescription::UnexpectedMessage),
                "{what}: {:?}",
                updates.end
            );
        }
    }
}

/// The application data a receiver following the RFCs takes from `sealed`,
/// in order, up to the record that must end the stream (close_notify, a
/// fatal or malformed alert, an all-zero TLS 1.3 inner plaintext); and
/// whether that was close_notify.
fn deliverable(sealed: &[(u8, Vec<u8>)], tls13: bool) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    for (content_type, body) in sealed {
        let (content_type, plaintext) = if tls13 {
            // The inner plaintext is the body then the type; the real type
            // is its last non-zero byte.
            let mut inner = body.clone();
            inner.push(*content_type);
            let Some(at) = inner.iter().rposition(|&b| b != 0) else {
                return (data, false);
            };
            (inner[at], inner[..at].to_vec())
        } else {
            (*content_type, body.clone())
        };
        match (content_type, plaintext.as_slice()) {
            (23, _) => data.extend_from_slice(&plaintext),
            // TLS 1.3 ignores the level (RFC 8446 §6); TLS 1.2 knows two.
            (21, [_, 0]) if tls13 => return (data, true),
            (21, [1 | 2, 0]) => return (data, true),
            // Harmless: user_canceled in TLS 1.3, any warning in TLS 1.2.
            (21, [_, 90]) if tls13 => {}
            (21, [1, _]) if !tls13 => {}
            (21, _) => return (data, false),
            _ => {}
        }
    }
    (data, false)
}

/// What a run of the records target may have done, given what was sealed:
/// delivered a prefix of the data a conforming receiver takes (tampered
/// and raw records deliver nothing), and all of it when it ended with the
/// peer's close_notify; and on failure sent one of the alerts the RFCs give
/// for a bad record.
fn check_against_what_was_sealed(run: &RecordsRun, what: &str) {
    let (expected, closes) = deliverable(&run.sealed, run.tls13);
    let received = &run.server.received;
    assert!(
        expected.starts_with(received),
        "{what}: delivered {}B that are not a prefix of the {}B sealed",
        received.len(),
        expected.len()
    );
    match run.server.end.as_ref().expect("feed always ends") {
        End::Closed | End::Eof(None) => {
            assert!(closes, "{what}: closed cleanly without close_notify");
            assert!(
                *received == expected,
                "{what}: {}B of {}B delivered before close_notify",
                received.len(),
                expected.len()
            );
        }
        End::Failed(lltls::Error::Tls {
            alert_sent: Some(alert),
            ..
        }) => assert!(
            matches!(
                alert,
                AlertDescription::BadRecordMac
                    | AlertDescription::UnexpectedMessage
                    | AlertDescription::DecodeError
                    | AlertDescription::RecordOverflow
                    | AlertDescription::IllegalParameter
                    | AlertDescription::NoRenegotiation
            ),
            "{what}: alert {alert:?}"
        ),
        End::Failed(_) | End::Eof(Some(_)) => {}
    }
}

/// Byte flips, insertions and deletions in the ops, so lengths, types,
/// padding, fragmentation and key updates mix in ways no seed has.
#[test]
fn mutated_post_handshake_records_end_cleanly() {
    let cases: usize = std::env::var("LLTLS_MUTATION_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let mut rng = Rng::new(0x5eed_1234);
    // The generator's high bits.
    let mut next = || (rng.next_u64() >> 33) as usize;
    let (mut runs, mut closed, mut failed, mut with_data) = (0, 0, 0, 0);
    for profile in [
        Profile::from_byte(2),
        Profile::from_byte(1 | 4),
        Profile::from_byte(2 | 4 | 3 << 5),
    ] {
        for seed in seed_ops() {
            for _ in 0..cases {
                let mut ops = seed.clone();
                for _ in 0..1 + next() % 4 {
                    let at = next() % (ops.len() + 1);
                    match next() % 3 {
                        0 if at < ops.len() => ops[at] ^= 1 << (next() % 8),
                        1 => ops.insert(at, next() as u8),
                        _ if at < ops.len() => {
                            ops.remove(at);
                        }
                        _ => {}
                    }
                }
                let run = run_records(&fuzz_input(profile, next() as u8, &ops))
                    .unwrap_or_else(|| panic!("{profile:?}: harness refused {ops:?}"));
                check_against_what_was_sealed(&run, &format!("{profile:?} {ops:?}"));
                match run.server.end {
                    Some(End::Closed) => closed += 1,
                    Some(End::Failed(_)) => failed += 1,
                    _ => {}
                }
                with_data += usize::from(!run.server.received.is_empty());
                runs += 1;
            }
        }
    }
    eprintln!("{runs} runs: {closed} closed, {failed} failed, {with_data} delivered data");
    // The mutations reach every kind of end, so the checks above bite.
    assert!(closed > 0 && failed > 0 && with_data > 0 && runs > 0);
}

/// TLS 1.2 AES-GCM: the sender chooses each record's explicit nonce (RFC
/// 5288 §3); rustls and lltls send the IV's last 8 bytes XOR the sequence
/// number, OpenSSL counts up from a random start. Records with such nonces
/// open; a record whose nonce was changed on the way fails its tag check.
#[test]
fn tls12_gcm_records_open_with_any_explicit_nonce_the_sender_chose() {
    let mut rng = Rng::new(0x006e_6f6e_6365);
    for chunk_class in [0, 4, 7] {
        let profile = Profile {
            tls12: Some(true),
            chacha: false,
            client_auth: false,
            alpn: false,
            chunk_class,
        };
        let what = format!("{profile:?}");
        let chunks = || Chunker::new(5, CHUNK_SIZES[usize::from(chunk_class)]);

        // A random starting counter, then one more per record.
        let mut peer = RecordPeer::new(profile).expect("handshake");
        assert!(peer.has_explicit_nonce(), "{what}: an AES-GCM suite");
        let start = rng.next_u64();
        let (mut wire, mut sent) = (Vec::new(), Vec::new());
        for i in 0..40u64 {
            let body = pattern(
                1 + rng.below(if i % 10 == 0 { 16_384 } else { 500 }),
                i as u8,
            );
            let nonce = start.wrapping_add(i).to_be_bytes();
            wire.extend(peer.seal_with_explicit_nonce(23, &body, nonce));
            sent.extend(body);
        }
        // And one not derived from anything (and a close_notify so the
        // server ends cleanly).
        let body = b"any nonce at all".to_vec();
        let nonce = rng.next_u64().to_be_bytes();
        wire.extend(peer.seal_with_explicit_nonce(23, &body, nonce));
        sent.extend(body);
        wire.extend(peer.seal_with_explicit_nonce(21, &[1, 0], nonce));
        let mut server = peer.server;
        feed(&mut server, &wire, &mut chunks());
        assert!(server.received == sent, "{what}: plaintext differs");
        assert!(
            matches!(server.end, Some(End::Closed)),
            "{what}: {:?}",
            server.end
        );

        // The nonce changed in transit: bad_record_mac, nothing of it
        // delivered, the record before it delivered.
        let mut peer = RecordPeer::new(profile).expect("handshake");
        let mut wire = peer.seal_with_explicit_nonce(23, b"first", start.to_be_bytes());
        let at = wire.len();
        wire.extend(peer.seal_with_explicit_nonce(23, b"second", start.to_be_bytes()));
        // The last byte of the explicit nonce, after the 5-byte header.
        wire[at + 5 + 7] ^= 1;
        let mut server = peer.server;
        feed(&mut server, &wire, &mut chunks());
        assert_eq!(server.received, b"first", "{what}");
        assert_eq!(
            alert_received_or_sent(server.end.as_ref().unwrap()),
            Some(AlertDescription::BadRecordMac),
            "{what}: {:?}",
            server.end
        );
    }
}

/// A TLS 1.2 alert with an unknown level is answered with illegal_parameter
/// (as rustls answers it), and the error says so: the alert is on the wire. In TLS 1.3 the level is
/// ignored (RFC 8446 §6): it is the peer's error alert, and nothing follows.
#[test]
fn alert_with_an_unknown_level_error_and_wire_agree() {
    for tls12 in [true, false] {
        let profile = Profile {
            tls12: Some(tls12),
            chacha: false,
            client_auth: false,
            alpn: false,
            chunk_class: 7,
        };
        let sealed = |typ: u8, body: &[u8]| {
            let mut op = vec![0, typ];
            op.extend((body.len() as u16).to_be_bytes());
            op.extend_from_slice(body);
            op
        };
        let bad = fuzz_records(&fuzz_input(profile, 3, &sealed(21, &[3, 40]))).expect("runs");
        // What the server sent after the handshake.
        let after = &bad.transmitted;
        let Some(End::Failed(lltls::Error::Tls { error, alert_sent })) = &bad.end else {
            panic!("{tls12}: {:?}", bad.end)
        };
        assert_eq!(
            error,
            &TlsError::AlertReceived(AlertDescription::HandshakeFailure)
        );
        if tls12 {
            assert_eq!(*alert_sent, Some(AlertDescription::IllegalParameter));
            // One AES-GCM alert record: header, explicit nonce, alert, tag.
            assert_eq!((after[0], after.len()), (21, 5 + 8 + 2 + 16), "{after:?}");
        } else {
            assert_eq!(*alert_sent, None);
            assert!(after.is_empty(), "sent after the peer's alert: {after:?}");
        }
    }
}
