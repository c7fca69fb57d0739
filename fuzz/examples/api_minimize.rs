//! Shrinks an input of the `api` target that breaks an invariant: drops operations while the
//! same invariant (its message, numbers aside) still breaks, then prints the shortest input in
//! hex and its failure with the operation log. With `--survey N`, runs N seeded random inputs
//! instead and shrinks one of each kind of failure.
//!
//! Usage: `cargo run --manifest-path fuzz/Cargo.toml --example api_minimize -- <file or hex>`
//!        `cargo run --manifest-path fuzz/Cargo.toml --example api_minimize -- --survey 2000`

#[path = "../../tests/harness/hostile/mod.rs"]
mod hostile;

#[path = "../../tests/harness/api_model/mod.rs"]
mod api_model;

use std::collections::BTreeMap;
use std::panic;

/// The failure of `input`, if it fails.
fn failure(input: &[u8]) -> Option<String> {
    let result = panic::catch_unwind(|| api_model::run(input));
    let payload = result.err()?;
    Some(
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    )
}

/// What kind of failure: its first line without the numbers.
fn kind(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    first.replace(|c: char| c.is_ascii_digit(), "#")
}

fn shrink(mut input: Vec<u8>, kind_of: &str) -> Vec<u8> {
    let still_fails = |candidate: &[u8]| failure(candidate).map(|m| kind(&m)).as_deref() == Some(kind_of);
    let mut changed = true;
    while changed {
        changed = false;
        let mut at = 2;
        while at + 2 <= input.len() {
            let mut candidate = input.clone();
            candidate.drain(at..at + 2);
            if still_fails(&candidate) {
                input = candidate;
                changed = true;
            } else {
                at += 2;
            }
        }
    }
    input
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn report(input: Vec<u8>, message: &str) {
    let kind_of = kind(message);
    let small = shrink(input, &kind_of);
    println!("input: {}", hex(&small));
    println!("{}\n", failure(&small).unwrap_or_default());
}

fn main() {
    // The failures are reported here, not as panics on stderr.
    panic::set_hook(Box::new(|_| {}));
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--survey") {
        let count: u64 = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
        let mut kinds: BTreeMap<String, (usize, Vec<u8>, String)> = BTreeMap::new();
        let mut state = 0x5eed_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..count {
            let mut input = vec![next() as u8, next() as u8 & 1];
            for _ in 0..20 + next() % 120 {
                input.extend([next() as u8, next() as u8]);
            }
            if let Some(message) = failure(&input) {
                let entry = kinds.entry(kind(&message)).or_insert((0, input.clone(), message));
                entry.0 += 1;
            }
        }
        println!("{count} inputs, {} kinds of failure\n", kinds.len());
        for (kind_of, (times, input, message)) in kinds {
            println!("=== {times}x {kind_of}");
            report(input, &message);
        }
        return;
    }
    let arg = args.first().expect("a crash file or an input in hex");
    let input = std::fs::read(arg).unwrap_or_else(|_| {
        (0..arg.len() / 2)
            .map(|i| u8::from_str_radix(&arg[2 * i..2 * i + 2], 16).expect("hex input"))
            .collect()
    });
    match failure(&input) {
        Some(message) => report(input, &message),
        None => println!("the input breaks no invariant"),
    }
}
