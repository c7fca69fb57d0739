//! Property test: mutated recordings of real exchanges, fed to fresh connections, end in a
//! clean error, a clean close or a clean EOF — never a panic, a spin or unbounded buffers — and
//! never deliver plaintext the peer did not send.
//!
//! The recordings are full TLS 1.2 and TLS 1.3 exchanges (client authentication, ALPN,
//! AES-GCM and ChaCha20, a key update, close_notify both ways) made with reproducible crypto
//! (tests/harness/hostile), so the unmutated stream replays to the end against a fresh connection and a
//! mutation can land in any state. Mutations: bit flips, truncation, duplicated, dropped and
//! swapped records, oversized and retyped record headers, inserted garbage, records spliced
//! from another exchange; each case is delivered in seeded random chunks (down to one byte).
//!
//! Seeded and bounded: `LLTLS_MUTATION_SEED` and `LLTLS_MUTATION_CASES` replay or extend a run.
//! Also replays every input in tests/data/fuzz-regressions/ (see fuzz/README.md).

mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use harness::data::Rng;
use harness::hostile::records::fuzz_records;
use harness::hostile::{
    fuzz_client, fuzz_input, fuzz_server, record_spans, seed_transcripts, End, Profile, Target,
    Transcript, CHUNK_SIZES,
};

/// Cases per (transcript, direction) by default: 12 streams × 2 directions × this many, a few
/// seconds in all.
const DEFAULT_CASES: usize = 150;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The bytes `target` is fed, and the plaintext it must receive from them unmutated.
fn stream(transcript: &Transcript, target: Target) -> (&[u8], &[u8]) {
    match target {
        Target::Server => (&transcript.client_to_server, &transcript.client_app.send),
        Target::Client if transcript.server_app.echo => {
            (&transcript.server_to_client, &transcript.client_app.send)
        }
        Target::Client => (&transcript.server_to_client, &transcript.server_app.send),
    }
}

/// What a fresh connection did with one input.
struct Outcome {
    end: End,
    received: Vec<u8>,
    transmitted: Vec<u8>,
}

fn run(target: Target, input: &[u8]) -> Outcome {
    match target {
        Target::Server => {
            let peer = fuzz_server(input).expect("input has a header");
            Outcome {
                end: peer.end.expect("feed always ends"),
                received: peer.received,
                transmitted: peer.transmitted,
            }
        }
        Target::Client => {
            let peer = fuzz_client(input).expect("input has a header");
            Outcome {
                end: peer.end.expect("feed always ends"),
                received: peer.received,
                transmitted: peer.transmitted,
            }
        }
    }
}

/// Applies one random mutation to `wire`; returns its description.
fn mutate(wire: &mut Vec<u8>, other: &[u8], rng: &mut Rng) -> String {
    let spans = record_spans(wire);
    let pick = |rng: &mut Rng| spans[rng.below(spans.len())];
    match rng.below(11) {
        10 => {
            // A handshake message of up to 64 KiB, fragmented over plaintext records: rustls
            // reassembles it in the caller's buffer, which must stay within its bound.
            let msg_type = wire.get(5).copied().unwrap_or(1);
            let len = 40_000 + rng.below(0xffff - 40_000);
            let mut message = vec![msg_type, 0, (len >> 8) as u8, len as u8];
            message.extend((0..len).map(|_| rng.next_u64() as u8));
            message.truncate(4 + len - rng.below(2) * rng.below(len));
            let mut records = Vec::new();
            for fragment in message.chunks(16_384) {
                records.extend_from_slice(&[22, 3, 3]);
                records.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
                records.extend_from_slice(fragment);
            }
            let total = message.len() - 4;
            wire.splice(0..0, records);
            format!("prepend a {len}B handshake message ({total}B of it sent)")
        }
        0 => {
            let at = rng.below(wire.len());
            let bit = rng.below(8);
            wire[at] ^= 1 << bit;
            format!("flip bit {bit} at {at}")
        }
        1 => {
            // Headers decide framing: flip there more often than chance would.
            let (start, end) = pick(rng);
            let at = start + rng.below((end - start).min(5));
            let bit = rng.below(8);
            wire[at] ^= 1 << bit;
            format!("flip header bit {bit} at {at}")
        }
        2 => {
            let at = rng.below(wire.len());
            wire.truncate(at);
            format!("truncate at {at}")
        }
        3 => {
            let (start, end) = pick(rng);
            let record = wire[start..end].to_vec();
            wire.splice(end..end, record);
            format!("duplicate record {start}..{end}")
        }
        4 => {
            let (start, end) = pick(rng);
            wire.drain(start..end);
            format!("drop record {start}..{end}")
        }
        5 if spans.len() >= 2 => {
            let i = rng.below(spans.len() - 1);
            let ((a, b), (_, d)) = (spans[i], spans[i + 1]);
            let mut swapped = wire[b..d].to_vec();
            swapped.extend_from_slice(&wire[a..b]);
            wire.splice(a..d, swapped);
            format!("swap records at {a} and {b}")
        }
        6 => {
            let (start, end) = pick(rng);
            if end - start >= 5 {
                let len = 16_000 + rng.below(65_536 - 16_000);
                wire[start + 3..start + 5].copy_from_slice(&(len as u16).to_be_bytes());
                format!("record at {start} announces {len}B")
            } else {
                wire.truncate(start);
                format!("truncate at {start}")
            }
        }
        7 => {
            let (start, _) = pick(rng);
            let kind = [0u8, 20, 21, 22, 23, 24, 0xff][rng.below(7)];
            wire[start] = kind;
            format!("record at {start} retyped to {kind}")
        }
        8 => {
            let (start, _) = pick(rng);
            let garbage: Vec<u8> = (0..1 + rng.below(300))
                .map(|_| rng.next_u64() as u8)
                .collect();
            let len = garbage.len();
            wire.splice(start..start, garbage);
            format!("insert {len}B of garbage at {start}")
        }
        _ => {
            let theirs = record_spans(other);
            let (from, to) = theirs[rng.below(theirs.len())];
            let (start, end) = pick(rng);
            wire.splice(start..end, other[from..to].iter().copied());
            format!("replace record {start}..{end} with another exchange's {from}..{to}")
        }
    }
}

/// Checks what must hold after any input, mutated or not.
fn check(outcome: &Outcome, expected: &[u8], what: &str) {
    assert!(
        expected.starts_with(&outcome.received),
        "{what}: delivered {}B of plaintext the peer never sent (expected a prefix of {}B)",
        outcome.received.len(),
        expected.len()
    );
    // Whatever happened, the connection put whole records on the wire: no torn alert.
    let spans = record_spans(&outcome.transmitted);
    if let Some(&(start, end)) = spans.last() {
        let declared = outcome.transmitted.len() - start >= 5 && {
            let len = u16::from_be_bytes([
                outcome.transmitted[start + 3],
                outcome.transmitted[start + 4],
            ]);
            end - start == 5 + usize::from(len)
        };
        assert!(declared, "{what}: transmitted a partial record at {start}");
    }
    if let End::Failed(error) | End::Eof(Some(error)) = &outcome.end {
        let message = error.to_string();
        assert!(
            !message.is_empty() && !message.contains('\n'),
            "{what}: error message must be one line: {message:?}"
        );
    }
}

#[test]
fn unmutated_recordings_replay_to_a_clean_close() {
    for (name, transcript) in seed_transcripts() {
        for target in [Target::Server, Target::Client] {
            let (wire, expected) = stream(&transcript, target);
            for chunk_class in [0, 4, 7] {
                let profile = Profile {
                    chunk_class,
                    ..transcript.profile
                };
                let outcome = run(target, &fuzz_input(profile, 7, wire));
                let what = format!(
                    "{name} → {} in chunks ≤ {}",
                    target.name(),
                    CHUNK_SIZES[usize::from(chunk_class)]
                );
                check(&outcome, expected, &what);
                assert!(
                    matches!(outcome.end, End::Closed),
                    "{what}: replay must end Closed, ended {:?}",
                    outcome.end
                );
                assert!(outcome.received == expected, "{what}: plaintext differs");
            }
        }
    }
}

#[test]
fn mutated_recordings_end_cleanly() {
    let seed = env_or("LLTLS_MUTATION_SEED", 0x5eed_1e55);
    let cases = env_or("LLTLS_MUTATION_CASES", DEFAULT_CASES as u64) as usize;
    let transcripts = seed_transcripts();
    let mut rng = Rng::new(seed);
    let (mut failed, mut closed, mut eof) = (0, 0, 0);
    for (index, (name, transcript)) in transcripts.iter().enumerate() {
        // Records to splice in come from another profile: two exchanges of the same profile
        // share their keys (same seed), so their records would be valid in each other.
        let (_, other) = &transcripts[(index + 2) % transcripts.len()];
        for target in [Target::Server, Target::Client] {
            let (wire, expected) = stream(transcript, target);
            let (other_wire, _) = stream(other, target);
            for case in 0..cases {
                let mut mutated = wire.to_vec();
                let mut description = Vec::new();
                for _ in 0..1 + rng.below(3) {
                    if mutated.is_empty() {
                        break;
                    }
                    description.push(mutate(&mut mutated, other_wire, &mut rng));
                }
                let profile = Profile {
                    chunk_class: rng.below(8) as u8,
                    ..transcript.profile
                };
                let input = fuzz_input(profile, rng.next_u64() as u8, &mutated);
                let what = format!(
                    "seed {seed:#x}, {name} → {} case {case}: {}",
                    target.name(),
                    description.join(", ")
                );
                let outcome = catch_unwind(AssertUnwindSafe(|| run(target, &input)))
                    .unwrap_or_else(|panic| {
                        let message = panic
                            .downcast_ref::<String>()
                            .map(String::as_str)
                            .or_else(|| panic.downcast_ref::<&str>().copied())
                            .unwrap_or("?");
                        let path =
                            std::env::temp_dir().join(format!("lltls-mutation-{}", target.name()));
                        let _ = std::fs::write(&path, &input);
                        panic!(
                            "{what}: panicked: {message} (input saved to {})",
                            path.display()
                        )
                    });
                check(&outcome, expected, &what);
                match outcome.end {
                    End::Failed(_) => failed += 1,
                    End::Closed => closed += 1,
                    End::Eof(_) => eof += 1,
                }
            }
        }
    }
    eprintln!("mutations: {failed} errors, {closed} clean closes, {eof} EOFs");
    // The mix shows the mutations reach different outcomes; a harness that only ever saw
    // errors (or only closes) would test much less than it claims.
    assert!(
        failed > 0 && closed > 0 && eof > 0,
        "{failed} errors, {closed} closes, {eof} EOFs"
    );
}

/// Regression: the incoming buffer grew geometrically past its limit, to 147,496B, while
/// rustls reassembled a 64 KiB handshake message in it.
#[test]
fn fragmented_64k_client_hello_keeps_incoming_within_its_limit() {
    for chunk_class in 0..8 {
        let profile = Profile {
            chunk_class,
            ..Profile::from_byte(0)
        };
        let len = 0xffff;
        let mut message = vec![1, 0, (len >> 8) as u8, len as u8];
        message.extend(harness::hostile::pattern(len, 0));
        let mut wire = Vec::new();
        for fragment in message.chunks(16_384) {
            wire.extend_from_slice(&[22, 3, 1]);
            wire.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
            wire.extend_from_slice(fragment);
        }
        let server = fuzz_server(&fuzz_input(profile, 3, &wire)).expect("input has a header");
        assert!(
            matches!(server.end, Some(End::Failed(_))),
            "a garbage ClientHello must fail: {:?}",
            server.end
        );
        assert!(
            server.peak_incoming >= 0xffff,
            "the message was buffered whole ({}B)",
            server.peak_incoming
        );
        assert!(server.peak_incoming <= lltls::MAX_HANDSHAKE_BUFFER);
    }
}

#[test]
fn fuzz_regressions_replay_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions");
    let mut replayed = Vec::new();
    for target in ["server", "client", "records"] {
        let Ok(entries) = std::fs::read_dir(dir.join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("readable directory").path();
            let input = std::fs::read(&path).expect("readable regression input");
            let outcome = catch_unwind(AssertUnwindSafe(|| match target {
                "server" => fuzz_server(&input).map(|peer| peer.end),
                "client" => fuzz_client(&input).map(|peer| peer.end),
                _ => fuzz_records(&input).map(|peer| peer.end),
            }));
            match outcome {
                Ok(Some(Some(end))) => replayed.push(format!("{target}: {end:?}")),
                Ok(Some(None)) => panic!("{}: the connection never ended", path.display()),
                // Too short to parse: it tests nothing, and says so.
                Ok(None) => panic!(
                    "{} is not an input of the {target} target (too short)",
                    path.display()
                ),
                Err(_) => panic!("{} no longer replays cleanly", path.display()),
            }
        }
    }
    eprintln!("replayed {} fuzz regression inputs", replayed.len());
    for outcome in &replayed {
        eprintln!("  {outcome}");
    }
    // The directory holds at least the input that made IncomingTls outgrow
    // its limit, and one for the records target.
    for target in ["server", "records"] {
        assert!(
            replayed.iter().any(|r| r.starts_with(target)),
            "no {target} inputs replayed from {}",
            dir.display()
        );
    }
}
