//! Replays a corpus and counts how its inputs end, to see how deep the fuzzer got: how many
//! complete a handshake, deliver plaintext, or close cleanly.
//!
//! Usage: `cargo run --manifest-path fuzz/Cargo.toml --example outcomes -- fuzz/corpus`

#[path = "../../tests/harness/hostile/mod.rs"]
mod hostile;

use std::collections::BTreeMap;
use std::path::PathBuf;

use hostile::{End, Target};

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    for target in [Target::Server, Target::Client] {
        let mut ends: BTreeMap<String, usize> = BTreeMap::new();
        let (mut inputs, mut handshakes, mut with_plaintext) = (0, 0, 0);
        for entry in std::fs::read_dir(dir.join(target.name()))? {
            let input = std::fs::read(entry?.path())?;
            let summary = match target {
                Target::Server => hostile::fuzz_server(&input)
                    .map(|p| (p.end, p.handshake.is_some(), !p.received.is_empty())),
                Target::Client => hostile::fuzz_client(&input)
                    .map(|p| (p.end, p.handshake.is_some(), !p.received.is_empty())),
            };
            let Some((end, handshake, plaintext)) = summary else {
                continue;
            };
            inputs += 1;
            handshakes += usize::from(handshake);
            with_plaintext += usize::from(plaintext);
            let kind = match end {
                Some(End::Closed) => "closed".to_owned(),
                Some(End::Eof(None)) => "clean eof".to_owned(),
                Some(End::Eof(Some(_))) => "unexpected eof".to_owned(),
                Some(End::Failed(error)) => format!("error: {error}"),
                None => "running".to_owned(),
            };
            *ends.entry(kind).or_default() += 1;
        }
        println!("{}: {inputs} inputs, {handshakes} complete a handshake, {with_plaintext} deliver plaintext", target.name());
        for (kind, count) in ends {
            println!("  {count:6}  {kind}");
        }
    }
    Ok(())
}
