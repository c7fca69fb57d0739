//! Writes the seed corpus: the recorded request/response exchanges of `tests/harness/hostile`
//! (one per profile), each direction as an input of the target that reads it, delivered whole
//! and in small chunks. The 20 KB data exchanges the property test also mutates are left out:
//! libFuzzer sizes its inputs after the largest seed, and small inputs run much faster.
//!
//! The `records` target gets `tests/harness/hostile/records.rs`'s seed operations for TLS 1.3
//! and 1.2, AES-GCM and ChaCha20.
//!
//! Usage: `cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus`
//! (cargo fuzz's default corpus directories, `fuzz/corpus/<target>`).

#[path = "../../tests/harness/hostile/mod.rs"]
mod hostile;

use std::path::PathBuf;

use hostile::{fuzz_input, seed_transcripts, Profile, Target};

fn main() -> std::io::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    let mut written = 0;
    for (name, transcript) in seed_transcripts() {
        if !name.ends_with("-request") {
            continue;
        }
        for target in [Target::Server, Target::Client] {
            let wire = match target {
                Target::Server => &transcript.client_to_server,
                Target::Client => &transcript.server_to_client,
            };
            let dir = out.join(target.name());
            std::fs::create_dir_all(&dir)?;
            for chunk_class in [2, 7] {
                let profile = Profile {
                    chunk_class,
                    ..transcript.profile
                };
                let path = dir.join(format!("{name}-c{chunk_class}"));
                std::fs::write(path, fuzz_input(profile, 1, wire))?;
                written += 1;
            }
        }
    }
    let dir = out.join("records");
    std::fs::create_dir_all(&dir)?;
    for (i, ops) in hostile::records::seed_ops().iter().enumerate() {
        for profile_byte in [2, 1, 2 | 4, 1 | 4] {
            let profile = Profile::from_byte(profile_byte | 7 << 5);
            let path = dir.join(format!("seed{i}-p{profile_byte}"));
            std::fs::write(path, fuzz_input(profile, 1, ops))?;
            written += 1;
        }
    }
    println!("wrote {written} seeds to {}", out.display());
    Ok(())
}
