//! The API model (`tests/harness/api_model/`) on seeded random inputs, on every setup, and on
//! the inputs kept in `tests/data/fuzz-regressions/api/` (crashes the `api` fuzz target found,
//! and reproducers of call-order defects). Any broken invariant panics with the operation log
//! and the input, which replays with `API_MODEL_INPUT=<hex> cargo test --test api_model replay`.

mod harness;

use std::fs;

use harness::api_model::wire::Dir;
use harness::api_model::{self, input, Op, Setup, Who};
use harness::data::Rng;

/// Seeded inputs per run of `random_inputs`.
const SEEDS: u64 = 2_000;

/// Every setup byte (both versions, the three suites, client authentication, resumption,
/// 0-RTT, deferred client and server) with both record sizes.
fn setups() -> Vec<[u8; 2]> {
    (0..=255u8).flat_map(|a| [[a, 0], [a, 1]]).collect()
}

/// Random operations. Half the inputs are "clean": no forged record, no EOF, no
/// `into_rustls`, no rejection, so they get deep (data both ways, key updates, close); the
/// others have those at a low rate, so they end the run late rather than at once.
pub fn random_ops(rng: &mut Rng, len: usize) -> Vec<u8> {
    let clean = rng.below(2) == 0;
    let mut ops = Vec::with_capacity(2 * len);
    for _ in 0..len {
        let mut op = rng.next_u64() as u8;
        let mut param = rng.next_u64() as u8;
        let ending = matches!(op & 31, 30 | 31);
        if ending && (clean || rng.below(4) != 0) {
            // A delivery instead.
            op &= 0x80 | 7;
        }
        if matches!(op & 31, 27 | 28) && param % 4 == 0 && (clean || rng.below(2) == 0) {
            // An acceptance instead of a rejection.
            param |= 1;
        }
        ops.extend([op, param]);
    }
    ops
}

#[test]
fn random_inputs() {
    let setups = setups();
    let mut rng = Rng::new(0xa91_5eed);
    for seed in 0..SEEDS {
        let setup = setups[rng.below(setups.len())];
        let len = 20 + rng.below(120);
        let mut data = setup.to_vec();
        data.extend(random_ops(&mut rng, len));
        let result = std::panic::catch_unwind(|| api_model::run(&data));
        assert!(
            result.is_ok(),
            "seeded input {seed} broke an invariant (message above)"
        );
    }
}

/// A well-behaved exchange on every setup: handshake, data both ways, key update, close.
#[test]
fn every_setup_closes_cleanly() {
    for [a, b] in setups() {
        let setup = Setup::from_bytes(a, b);
        let ops = [
            Op::EarlyData { len: 100 },
            Op::Encrypt {
                who: Who::Client,
                len: 1_000,
            },
            Op::Process {
                who: Who::Client,
                calls: 64,
                take_all: true,
            },
            Op::Deliver {
                dir: Dir::ClientToServer,
                max: 17,
            },
            Op::Process {
                who: Who::Server,
                calls: 64,
                take_all: true,
            },
            Op::Verdict {
                who: Who::Server,
                accept: true,
            },
            Op::Encrypt {
                who: Who::Server,
                len: 20_000,
            },
            Op::KeyUpdate { who: Who::Client },
            Op::Process {
                who: Who::Client,
                calls: 64,
                take_all: true,
            },
            Op::Close { who: Who::Client },
            // After close_notify: nothing more may be taken, nor a second close_notify sent.
            Op::Encrypt {
                who: Who::Client,
                len: 10,
            },
            Op::Close { who: Who::Client },
            Op::Deliver {
                dir: Dir::ClientToServer,
                max: usize::MAX,
            },
        ];
        api_model::run(&input(setup, &ops));
    }
}

/// Inputs kept from the fuzzer and from defects found; each must run clean.
#[test]
fn regressions_replay_cleanly() {
    let dir = harness::repo("tests/data/fuzz-regressions/api");
    let mut count = 0;
    for entry in fs::read_dir(&dir).expect("regression directory") {
        let path = entry.expect("directory entry").path();
        let data = fs::read(&path).expect("regression input");
        let result = std::panic::catch_unwind(|| api_model::run(&data));
        if let Err(panic) = result {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{}: {message}", path.display());
        }
        count += 1;
    }
    assert!(count > 0, "no regression inputs in {dir}");
}

/// Replays one input given in hex by `API_MODEL_INPUT` (a failure message prints it).
#[test]
fn replay() {
    let Ok(hex) = std::env::var("API_MODEL_INPUT") else {
        return;
    };
    let data: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex input"))
        .collect();
    api_model::run(&data);
}
