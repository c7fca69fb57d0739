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
/// others have those at a low rate, so they end the run late rather than at once. A third
/// split their sides into halves.
pub fn random_ops(rng: &mut Rng, len: usize) -> Vec<u8> {
    let clean = rng.below(2) == 0;
    // A third of the inputs split their sides often (most tries come before the handshake
    // completed and must fail), so that many runs drive halves.
    let splitting = rng.below(3) == 0;
    let mut ops = Vec::with_capacity(2 * len);
    for _ in 0..len {
        let mut op = rng.next_u64() as u8;
        let mut param = rng.next_u64() as u8;
        if splitting && rng.below(12) == 0 {
            op = op & 0x80 | api_model::SPLIT_BYTE;
        } else if splitting && rng.below(24) == 0 {
            op = op & 0x80 | api_model::FLUSH_BYTE;
        }
        let ending = matches!(op & 31, 30 | 31) && op & 0x7f != api_model::FLUSH_BYTE;
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
    // The splitting inputs reach halves in a fair share of the runs (each run splits once
    // at most).
    let splits = api_model::SPLITS.with(|splits| splits.get());
    eprintln!("random_inputs: {splits} runs split a side");
    assert!(
        splits > SEEDS as usize / 10,
        "only {splits} runs split a side"
    );
}

/// On every setup: a handshake, both sides split, then data both ways, KeyUpdates, flushes
/// and close on the halves; each run splits both sides (rustls's record layer cannot, and
/// keeps its connections whole).
#[test]
fn every_setup_splits_and_closes_cleanly() {
    let all = usize::MAX;
    let process = |who, flush_now| Op::Process {
        who,
        calls: 64,
        take_all: true,
        flush_now,
    };
    let mut ops = vec![];
    for _ in 0..6 {
        ops.extend([
            process(Who::Client, false),
            Op::Deliver {
                dir: Dir::ClientToServer,
                max: all,
            },
            process(Who::Server, false),
            Op::Verdict {
                who: Who::Server,
                accept: true,
            },
            Op::Deliver {
                dir: Dir::ServerToClient,
                max: all,
            },
            Op::Verdict {
                who: Who::Client,
                accept: true,
            },
        ]);
    }
    ops.extend([
        Op::Split { who: Who::Client },
        Op::Split { who: Who::Server },
        Op::Encrypt {
            who: Who::Client,
            len: 5_000,
        },
        Op::KeyUpdate { who: Who::Client },
        Op::Seal {
            who: Who::Server,
            len: 1_000,
            drop_room: false,
            rooms: 1,
        },
        Op::Deliver {
            dir: Dir::ClientToServer,
            max: 100,
        },
        process(Who::Server, true),
        Op::Deliver {
            dir: Dir::ClientToServer,
            max: all,
        },
        process(Who::Server, false),
        Op::Encrypt {
            who: Who::Server,
            len: 10,
        },
        Op::KeyUpdate { who: Who::Server },
        Op::Flush { who: Who::Server },
        Op::Deliver {
            dir: Dir::ServerToClient,
            max: all,
        },
        process(Who::Client, false),
        Op::Close { who: Who::Server },
        Op::Encrypt {
            who: Who::Server,
            len: 10,
        },
    ]);
    for [a, b] in setups() {
        let setup = Setup::from_bytes(a, b);
        let before = api_model::SPLITS.with(|splits| splits.get());
        api_model::run(&input(setup, &ops));
        let splits = api_model::SPLITS.with(|splits| splits.get()) - before;
        assert_eq!(splits, 2, "{setup:?}: {splits} sides split");
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
                flush_now: false,
            },
            Op::Deliver {
                dir: Dir::ClientToServer,
                max: 17,
            },
            Op::Process {
                who: Who::Server,
                calls: 64,
                take_all: true,
                flush_now: false,
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
                flush_now: false,
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

/// Replays every input of the directory `API_MODEL_CORPUS` names (a fuzzer's corpus) and says
/// how many split a side.
#[test]
fn replay_corpus() {
    let Ok(dir) = std::env::var("API_MODEL_CORPUS") else {
        return;
    };
    let (mut inputs, mut split) = (0, 0);
    for entry in fs::read_dir(&dir).expect("corpus directory") {
        let data = fs::read(entry.expect("directory entry").path()).expect("corpus input");
        let before = api_model::SPLITS.with(|splits| splits.get());
        api_model::run(&data);
        inputs += 1;
        split += usize::from(api_model::SPLITS.with(|splits| splits.get()) > before);
    }
    eprintln!("{dir}: {inputs} inputs, {split} split a side");
}
