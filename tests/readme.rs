//! README.md's shell commands, run as written and in order, so that an edit
//! that breaks an example fails here.
//!
//! Every line of the README's `sh` blocks is one command, run from the
//! repository's root with `sh -c`, each bounded by a timeout:
//!
//! - `llserver …` (a server, which runs until Ctrl-C) starts in the
//!   background, on a free port in place of its `--port N`; it stands for N
//!   in later commands, and replaces an earlier server on N (the README has
//!   the reader stop that one first).
//! - Any other command (`llclient …`, `scripts/…`) must exit 0 (a client
//!   must print something too); its `--port N` must be a port an earlier
//!   server of the README took.
//! - `cargo test` is not run (this test is part of it): it must be exactly
//!   that. `cargo install` is not run either (a release build of aws-lc, and
//!   it writes to `~/.cargo/bin`): every `cargo install` in the README must
//!   pass `--locked`, and `cargo tree --locked` must accept `Cargo.lock`
//!   (which `--locked` installs from) and find rustls 0.23.43 alone in it.
//!
//! `target/debug/` in a command is the directory Cargo built this test's
//! programs in (the same one unless `CARGO_TARGET_DIR` moves it).
//! `scripts/demo.sh` runs `cargo build --bins`, which finds them fresh.

#![cfg(feature = "programs")]

mod harness;

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use harness::process::{LlServer, Spawn, LLSERVER};
use harness::{repo, TIMEOUT};

/// The rustls release `Cargo.lock` must keep (README, "rustls version").
const LOCKED_RUSTLS: &str = "0.23.43";

/// One line of an `sh` block, and the line number in README.md.
struct ReadmeCommand {
    line_number: usize,
    text: String,
}

/// The commands of README.md's `sh` blocks, in order (blank lines and
/// comment lines left out).
fn readme_commands(readme: &str) -> Vec<ReadmeCommand> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    for (index, line) in readme.lines().enumerate() {
        let trimmed = line.trim();
        if !in_sh {
            in_sh = trimmed == "```sh";
            continue;
        }
        if trimmed.starts_with("```") {
            in_sh = false;
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        assert!(
            !trimmed.ends_with('\\'),
            "README.md:{}: continued lines are not supported here: {trimmed}",
            index + 1
        );
        commands.push(ReadmeCommand {
            line_number: index + 1,
            text: trimmed.to_owned(),
        });
    }
    commands
}

/// The N of `--port N` in `command`, if any.
fn port_of(command: &str) -> Option<u16> {
    let mut words = command.split_whitespace();
    while let Some(word) = words.next() {
        if word == "--port" {
            return words.next().and_then(|n| n.parse().ok());
        }
        if let Some(n) = word.strip_prefix("--port=") {
            return n.parse().ok();
        }
    }
    None
}

/// `command` with `--port N` made `--port {port}`.
fn with_port(command: &str, from: u16, port: u16) -> String {
    let replaced = command
        .replace(&format!("--port {from} "), &format!("--port {port} "))
        .replace(&format!("--port={from} "), &format!("--port={port} "));
    assert_ne!(
        replaced, command,
        "cannot replace --port {from} in {command}"
    );
    replaced
}

/// `command` with `target/debug/` made the directory of this build's
/// programs.
fn with_programs(command: &str) -> String {
    let dir = Path::new(LLSERVER)
        .parent()
        .expect("the programs are in a directory");
    command.replace("target/debug/", &format!("{}/", dir.display()))
}

fn sh(command: &str) -> Spawn {
    // Its own process group: a script's children die with it.
    Spawn::new("sh", &["-c", command])
        .current_dir(repo(""))
        .own_process_group()
}

/// Checks what the README's `cargo install` relies on: `--locked`, and a
/// `Cargo.lock` that `--locked` accepts, with the rustls the README states.
fn check_cargo_install(command: &ReadmeCommand) {
    let words: Vec<&str> = command.text.split_whitespace().collect();
    assert!(
        words.contains(&"--locked"),
        "README.md:{}: `{}` would ignore Cargo.lock (and install a later rustls): add --locked",
        command.line_number,
        command.text
    );
    // `cargo tree --locked` resolves from Cargo.lock alone, as `cargo
    // install --locked` does, and fails where the lock would need a change.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "--locked", "--offline", "-e", "normal"])
        .args(["--prefix", "none", "--format", "{p}"])
        .current_dir(repo(""))
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree --locked refuses Cargo.lock, so `cargo install --locked` would too:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let mut versions: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.strip_prefix("rustls v"))
        .map(|rest| rest.split_whitespace().next().unwrap_or(rest))
        .collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(
        versions,
        [LOCKED_RUSTLS],
        "the rustls versions Cargo.lock keeps"
    );
}

#[test]
fn every_readme_command_runs_as_written() {
    let readme = fs::read_to_string(repo("README.md")).expect("README.md");
    // Inline command lines too (`cargo install --path .` in prose; the bare
    // name `cargo install` is no command line).
    for (index, line) in readme.lines().enumerate() {
        for mention in line.split('`').skip(1).step_by(2) {
            if mention.starts_with("cargo install ") {
                assert!(
                    mention.contains("--locked"),
                    "README.md:{}: `{mention}` without --locked",
                    index + 1
                );
            }
        }
    }

    let commands = readme_commands(&readme);
    let mut servers: HashMap<u16, LlServer> = HashMap::new();
    let (mut ran, mut started) = (Vec::new(), 0);
    for command in &commands {
        let (line_number, text) = (command.line_number, command.text.as_str());
        let at = format!("README.md:{line_number}: {text}");
        if text.starts_with("cargo test") {
            assert_eq!(text, "cargo test", "{at}: the README's test command");
            continue;
        }
        if text.starts_with("cargo install") {
            check_cargo_install(command);
            continue;
        }
        let line = with_programs(text);
        if text.starts_with("target/debug/llserver") {
            let wanted = port_of(text).unwrap_or_else(|| panic!("{at}: no --port"));
            // The reader stopped the earlier server on this port first.
            if let Some(earlier) = servers.remove(&wanted) {
                earlier.proc.stop();
            }
            // `exec`: the process group's leader is the server itself.
            let line = format!("exec {}", with_port(&line, wanted, 0));
            let server = LlServer::listening(sh(&line).start());
            eprintln!("{at}: listening on port {}", server.port);
            servers.insert(wanted, server);
            started += 1;
            continue;
        }
        let line = match port_of(text) {
            Some(wanted) => {
                let server = servers.get(&wanted).unwrap_or_else(|| {
                    panic!("{at}: no server of the README listens on port {wanted} by then")
                });
                with_port(&line, wanted, server.port)
            }
            None => line,
        };
        let out = sh(&line).start().finish(TIMEOUT);
        assert!(out.status.success(), "{}", out.frame(&at));
        // A client that printed nothing exchanged nothing worth showing.
        if text.contains("llclient") {
            assert!(
                !out.stdout.is_empty(),
                "{}",
                out.frame(&format!("{at}: no output"))
            );
        }
        eprintln!("{at}: exit 0 in {:?}", out.elapsed);
        ran.push(text);
    }
    for (_, mut server) in servers {
        server.assert_healthy();
    }
    // The parse found what the README shows: its two commands, a server, a
    // client of each.
    assert!(ran.contains(&"scripts/demo.sh"), "ran {ran:?}");
    assert!(commands.iter().any(|c| c.text == "cargo test"));
    assert!(started >= 2, "{started} servers started");
    assert!(
        ran.iter().filter(|c| c.contains("llclient")).count() >= 2,
        "ran {ran:?}"
    );
}

#[test]
fn readme_parsing_finds_commands_and_ports() {
    let readme = "text\n```sh\n# comment\nscripts/demo.sh\n\na --port 8443 b   # note\n```\n\
                  ```mermaid\nnot a command\n```\n`inline`\n";
    let commands = readme_commands(readme);
    let texts: Vec<&str> = commands.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["scripts/demo.sh", "a --port 8443 b   # note"]);
    assert_eq!(commands[1].line_number, 6);
    assert_eq!(port_of(texts[1]), Some(8443));
    assert_eq!(port_of("a --port=7 b"), Some(7));
    assert_eq!(port_of(texts[0]), None);
    assert_eq!(with_port(texts[1], 8443, 0), "a --port 0 b   # note");
}
