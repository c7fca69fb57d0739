//! Post-handshake records against a connection that switched to the
//! in-place record layer, built by a peer holding the real keys
//! (tests/harness/hostile/records.rs, also the `records` fuzz target): the seed
//! inputs do what they should, and seeded mutations of them end cleanly —
//! never a panic, a spin or unbounded buffers.

mod harness;

use harness::data::Rng;
use harness::hostile::records::{fuzz_records, seed_ops};
use harness::hostile::{fuzz_input, End, Profile};
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
    let mut runs = 0;
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
                let outcome = fuzz_records(&fuzz_input(profile, next() as u8, &ops));
                assert!(outcome.is_some(), "{profile:?}: harness refused {ops:?}");
                runs += 1;
            }
        }
    }
    assert!(runs > 0);
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
