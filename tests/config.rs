//! Command-line parsing and rustls configuration of `llclient` and `llserver`.
//!
//! Configurations are checked by what they do: handshakes between rustls's own buffered
//! connections, in memory, so these tests depend only on `lltls::programs::config` and the fixtures.

mod harness;

use std::sync::Arc;

use clap::{CommandFactory, Parser};
use harness::repo;
use lltls::programs::cli::{ClientArgs, ServerArgs, ServerMode};
use lltls::programs::config::{self, ConfigError};
use rustls::pki_types::ServerName;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection,
};

/// Parses a client command line whose `@/` prefixes stand for this package's directory.
fn client_args(line: &[&str]) -> ClientArgs {
    let argv = expand(line);
    ClientArgs::try_parse_from(&argv).unwrap_or_else(|err| panic!("cannot parse {argv:?}:\n{err}"))
}

fn server_args(line: &[&str]) -> ServerArgs {
    let argv = expand(line);
    ServerArgs::try_parse_from(&argv).unwrap_or_else(|err| panic!("cannot parse {argv:?}:\n{err}"))
}

fn expand(line: &[&str]) -> Vec<String> {
    line.iter()
        .map(|arg| match arg.strip_prefix("@/") {
            Some(rel) => repo(rel),
            None => (*arg).to_owned(),
        })
        .collect()
}

fn client_config(line: &[&str]) -> Arc<ClientConfig> {
    config::client_config(&client_args(line))
        .unwrap_or_else(|err| panic!("client config for {line:?}: {err}"))
}

fn server_config(line: &[&str]) -> Arc<ServerConfig> {
    config::server_config(&server_args(line))
        .unwrap_or_else(|err| panic!("server config for {line:?}: {err}"))
}

fn client_error(line: &[&str]) -> ConfigError {
    match config::client_config(&client_args(line)) {
        Ok(_) => panic!("client config for {line:?} should fail"),
        Err(err) => err,
    }
}

fn server_error(line: &[&str]) -> ConfigError {
    match config::server_config(&server_args(line)) {
        Ok(_) => panic!("server config for {line:?} should fail"),
        Err(err) => err,
    }
}

/// The standard ECDSA server, http mode.
const SERVER: &[&str] = &["llserver", "--port", "0", "--certs", "@/certs/", "http"];
/// A client trusting the ECDSA root.
const CLIENT: &[&str] = &["llclient", "--cafile", "@/certs/ca.pem", "localhost"];

const MAX_ROUNDS: usize = 20;

/// Runs a handshake between rustls's buffered connections, moving all pending bytes each way
/// per round. Returns the first error either side reports.
fn handshake(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
) -> Result<(ClientConnection, ServerConnection), rustls::Error> {
    let name = ServerName::try_from("localhost").expect("valid name");
    let mut client = Connection::from(ClientConnection::new(client, name)?);
    let mut server = Connection::from(ServerConnection::new(server)?);
    for _ in 0..MAX_ROUNDS {
        if !client.is_handshaking() && !server.is_handshaking() {
            let (Connection::Client(client), Connection::Server(server)) = (client, server) else {
                unreachable!("sides were built above");
            };
            return Ok((client, server));
        }
        transfer(&mut client, &mut server)?;
        transfer(&mut server, &mut client)?;
    }
    panic!("handshake did not finish in {MAX_ROUNDS} rounds");
}

fn transfer(from: &mut Connection, to: &mut Connection) -> Result<(), rustls::Error> {
    let mut tls = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut tls)
            .expect("writing to a Vec cannot fail");
    }
    let mut tls = &tls[..];
    while !tls.is_empty() {
        to.read_tls(&mut tls)
            .expect("reading from a slice cannot fail");
        to.process_new_packets()?;
    }
    Ok(())
}

fn assert_message(err: &ConfigError, expected: &[&str]) {
    let message = err.to_string();
    for part in expected {
        assert!(
            message.contains(part),
            "error message {message:?} should contain {part:?}"
        );
    }
    assert_eq!(message, message.trim(), "no surrounding whitespace");
    assert!(!message.contains('\n'), "one line: {message:?}");
}

// ---- command lines ----

#[test]
fn server_command_line_from_upstream_http_example() {
    let args = server_args(&[
        "llserver",
        "--port",
        "0",
        "--certs",
        "certs/fullchain.pem",
        "--key",
        "certs/server.key",
        "http",
    ]);
    assert_eq!(args.port, 0, "port 0 means pick a free port");
    assert_eq!(args.mode, ServerMode::Http);
    assert_eq!(args.certs.to_str(), Some("certs/fullchain.pem"));
    assert_eq!(
        args.key.as_deref().and_then(|key| key.to_str()),
        Some("certs/server.key")
    );
    assert_eq!(args.max_early_data, 0);
    assert_eq!(args.handshake_timeout, 10);
    assert!(!args.verbose && !args.trace && args.sequence_diagram.is_none());
}

#[test]
fn client_command_line_from_upstream_http_example() {
    let args = client_args(&[
        "llclient",
        "--http",
        "--cafile",
        "certs/ca.pem",
        "--port",
        "443",
        "localhost",
    ]);
    assert!(args.http);
    assert_eq!(args.port, 443);
    assert_eq!(
        args.cafile.as_deref().and_then(|path| path.to_str()),
        Some("certs/ca.pem")
    );
    assert_eq!(args.hostname, "localhost");
}

#[test]
fn client_defaults_match_upstream() {
    let args = client_args(&["llclient", "example.com"]);
    assert_eq!(args.port, 443);
    assert!(!args.http && !args.verbose && !args.insecure && !args.no_sni && !args.no_tickets);
    assert!(args.protover.is_empty() && args.suite.is_empty() && args.key_exchange.is_empty());
    assert_eq!(args.max_frag_size, None);
}

#[test]
fn forward_mode_takes_port_as_option_or_positional() {
    let long = server_args(&["llserver", "--certs", "certs/", "forward", "--port", "8000"]);
    assert_eq!(long.mode, ServerMode::Forward { port: 8000 });
    assert_eq!(long.port, 443, "the forward port is not the listening port");
    let upstream = server_args(&["llserver", "--certs", "certs/", "forward", "8000"]);
    assert_eq!(upstream.mode, ServerMode::Forward { port: 8000 });
    assert!(ServerArgs::try_parse_from(["llserver", "--certs", "c", "forward"]).is_err());
    assert!(
        ServerArgs::try_parse_from(["llserver", "--certs", "c", "forward", "--port", "70000"])
            .is_err()
    );
}

#[test]
fn repeatable_options_collect_every_value() {
    let args = server_args(&[
        "llserver",
        "-p",
        "4443",
        "-v",
        "--protover",
        "1.2",
        "--protover",
        "1.3",
        "--suite",
        "TLS13_AES_128_GCM_SHA256",
        "--suite",
        "TLS13_AES_256_GCM_SHA384",
        "--key-exchange",
        "X25519",
        "--proto",
        "h2",
        "--proto",
        "http/1.1",
        "--crl",
        "a.der",
        "--crl",
        "b.pem",
        "--certs",
        "chain.pem",
        "--key",
        "key.pem",
        "--ocsp",
        "ocsp.der",
        "--auth",
        "ca.pem",
        "--require-auth",
        "--no-resumption",
        "--tickets",
        "--max-early-data",
        "1024",
        "--handshake-timeout",
        "3",
        "--trace",
        "--sequence-diagram",
        "seq.md",
        "echo",
    ]);
    assert_eq!(args.port, 4443);
    assert!(args.verbose && args.require_auth && args.no_resumption && args.tickets);
    assert_eq!(args.protover, ["1.2", "1.3"]);
    assert_eq!(
        args.suite,
        ["TLS13_AES_128_GCM_SHA256", "TLS13_AES_256_GCM_SHA384"]
    );
    assert_eq!(args.key_exchange, ["X25519"]);
    assert_eq!(args.proto, ["h2", "http/1.1"]);
    assert_eq!(args.crl.len(), 2);
    assert_eq!(args.max_early_data, 1024);
    assert_eq!(args.handshake_timeout, 3);
    assert!(args.trace);
    assert_eq!(args.mode, ServerMode::Echo);

    let args = client_args(&[
        "llclient",
        "--protover",
        "1.3",
        "--suite",
        "TLS13_AES_128_GCM_SHA256",
        "--key-exchange",
        "X25519",
        "--key-exchange",
        "secp256r1",
        "--proto",
        "h2",
        "--max-frag-size",
        "512",
        "--no-tickets",
        "--no-sni",
        "--insecure",
        "--auth-key",
        "k.pem",
        "--auth-certs",
        "c.pem",
        "--trace",
        "--sequence-diagram",
        "seq.md",
        "example.com",
    ]);
    assert_eq!(args.key_exchange, ["X25519", "secp256r1"]);
    assert_eq!(args.max_frag_size, Some(512));
    assert!(args.no_tickets && args.no_sni && args.insecure && args.trace);
}

#[test]
fn command_lines_missing_required_parts_are_rejected() {
    assert!(
        ClientArgs::try_parse_from(["llclient"]).is_err(),
        "hostname"
    );
    assert!(
        ServerArgs::try_parse_from(["llserver", "http"]).is_err(),
        "--certs"
    );
    assert!(
        ServerArgs::try_parse_from(["llserver", "--certs", "c"]).is_err(),
        "mode"
    );
    assert!(ServerArgs::try_parse_from(["llserver", "--certs", "c", "bogus"]).is_err());
    assert!(ClientArgs::try_parse_from(["llclient", "--port", "65536", "h"]).is_err());
}

#[test]
fn chain_and_key_paths_resolve_the_directory_form() {
    let args = server_args(&["llserver", "--certs", "@/certs", "http"]);
    let (chain, key) = args
        .chain_and_key_paths()
        .expect("directory needs no --key");
    assert!(chain.ends_with("certs/fullchain.pem"), "{chain:?}");
    assert!(key.ends_with("certs/server.key"), "{key:?}");

    let args = server_args(&[
        "llserver",
        "--certs",
        "@/certs",
        "--key",
        "other.key",
        "http",
    ]);
    let (_, key) = args.chain_and_key_paths().expect("directory and --key");
    assert_eq!(
        key.to_str(),
        Some("other.key"),
        "--key wins over DIR/server.key"
    );

    let args = server_args(&["llserver", "--certs", "@/certs/fullchain.pem", "http"]);
    let err = args.chain_and_key_paths().expect_err("a file needs --key");
    assert!(matches!(err, ConfigError::MissingKey { .. }), "{err:?}");
    assert_message(&err, &["--key is required", "certs/fullchain.pem"]);
}

/// Splits clap's long help into its description (before `Usage:`) and one entry per option,
/// argument or subcommand line, keyed by its first line.
fn help_entries(help: &str) -> (String, Vec<(String, String)>) {
    let (about, rest) = help.split_once("\nUsage: ").expect("help has a Usage line");
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in rest.lines() {
        let is_entry =
            line.starts_with("  ") && !line.starts_with("         ") && !line.trim().is_empty();
        if is_entry {
            entries.push((line.trim_end().to_owned(), String::new()));
        } else if let Some((_, body)) = entries.last_mut() {
            body.push_str(line.trim_end());
            body.push('\n');
        }
    }
    for (_, body) in &mut entries {
        *body = body.trim_end().to_owned();
    }
    (about.trim_end().to_owned(), entries)
}

fn assert_help_mirrors_upstream(upstream_file: &str, ours: String, min_entries: usize) {
    let path = repo(upstream_file);
    let upstream = std::fs::read_to_string(&path).expect("reference help is in tests/data");
    // The reference files end with the exit status of the help run.
    let upstream = upstream.trim_end().trim_end_matches("rc=0");
    let (upstream_about, upstream_entries) = help_entries(upstream);
    let (our_about, our_entries) = help_entries(&ours);
    assert!(
        upstream_entries.len() >= min_entries,
        "only {} entries parsed from {upstream_file}",
        upstream_entries.len()
    );
    assert_eq!(
        our_about, upstream_about,
        "about text differs from {upstream_file}"
    );
    for (first_line, body) in &upstream_entries {
        if first_line.contains("--help") || first_line.trim_start().starts_with("help ") {
            continue;
        }
        let ours = our_entries
            .iter()
            .find(|(our_line, _)| our_line == first_line)
            .unwrap_or_else(|| panic!("{first_line:?} of {upstream_file} is missing:\n{ours}"));
        // Upstream's text verbatim; lltls may add a note after it, marked.
        let extra = ours.1.strip_prefix(body.as_str()).unwrap_or_else(|| {
            panic!(
                "help of {first_line:?} differs from {upstream_file}:\n{}\n---\n{body}",
                ours.1
            )
        });
        assert!(
            extra.is_empty() || extra.trim_start().starts_with("(lltls: "),
            "help of {first_line:?} adds unmarked text: {extra:?}"
        );
    }
    // lltls's own options: each marked in its help, and named in the note
    // closing the long help.
    let (_, closing_note) = ours
        .rsplit_once("\nlltls: ")
        .expect("the long help ends with lltls's note");
    for (first_line, body) in &our_entries {
        if upstream_entries.iter().any(|(line, _)| line == first_line) {
            continue;
        }
        // The description is the first paragraph (defaults and possible
        // values follow it).
        let description = body.split("\n\n").next().unwrap_or_default();
        assert!(
            description.ends_with("(lltls)"),
            "{first_line:?} is an lltls addition: its help should end with (lltls): {body:?}"
        );
        let option = first_line.split_whitespace().next().unwrap_or_default();
        let named = [",", " "]
            .iter()
            .any(|after| closing_note.contains(&format!("{option}{after}")));
        assert!(
            named,
            "{option} is not named among the additions in {closing_note:?}"
        );
    }
}

#[test]
fn client_help_keeps_upstream_text() {
    let help = ClientArgs::command().render_long_help().to_string();
    // HOSTNAME, 14 options and --help.
    assert_help_mirrors_upstream("tests/data/reference/help-tlsclient-mio.txt", help, 16);
}

#[test]
fn server_help_keeps_upstream_text() {
    let help = ServerArgs::command().render_long_help().to_string();
    // 4 subcommands, 14 options and --help.
    assert_help_mirrors_upstream("tests/data/reference/help-tlsserver-mio.txt", help, 19);
}

// ---- files ----

#[test]
fn missing_ca_file_error_names_the_file() {
    let err = client_error(&["llclient", "--cafile", "@/certs/missing.pem", "localhost"]);
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert_message(
        &err,
        &[
            "cannot read ",
            "certs/missing.pem: ",
            "No such file or directory",
        ],
    );
    let source = std::error::Error::source(&err).expect("the io::Error is the source");
    assert!(source.is::<std::io::Error>());
}

#[test]
fn empty_ca_file_is_an_error() {
    let err = client_error(&[
        "llclient",
        "--cafile",
        "@/tests/data/bad/empty.pem",
        "localhost",
    ]);
    assert!(matches!(err, ConfigError::NoCertificates { .. }), "{err:?}");
    assert_message(
        &err,
        &["no certificates found in ", "tests/data/bad/empty.pem"],
    );
}

#[test]
fn ca_file_without_certificates_is_an_error() {
    for file in ["tests/data/bad/text.pem", "certs/server.key"] {
        let cafile = format!("@/{file}");
        let err = client_error(&["llclient", "--cafile", &cafile, "localhost"]);
        assert!(
            matches!(err, ConfigError::NoCertificates { .. }),
            "{file}: {err:?}"
        );
        assert_message(&err, &["no certificates found in ", file]);
    }
}

#[test]
fn pem_garbage_is_an_error() {
    for file in [
        "tests/data/bad/garbage.pem",
        "tests/data/bad/unterminated.pem",
    ] {
        let err = config::load_certs(repo(file)).expect_err(file);
        assert!(
            matches!(err, ConfigError::InvalidPem { .. }),
            "{file}: {err:?}"
        );
        assert_message(&err, &["invalid PEM in ", file]);
    }
    let err = server_error(&[
        "llserver",
        "--certs",
        "@/tests/data/bad/garbage.pem",
        "--key",
        "@/certs/server.key",
        "http",
    ]);
    assert!(matches!(err, ConfigError::InvalidPem { .. }), "{err:?}");
}

#[test]
fn key_file_without_key_is_an_error() {
    let err = server_error(&[
        "llserver",
        "--certs",
        "@/certs/fullchain.pem",
        "--key",
        "@/certs/server.pem",
        "http",
    ]);
    assert!(matches!(err, ConfigError::NoPrivateKey { .. }), "{err:?}");
    assert_message(&err, &["no private key found in ", "certs/server.pem"]);
}

#[test]
fn mismatched_key_and_certificate_is_an_error_naming_both() {
    let err = server_error(&[
        "llserver",
        "--certs",
        "@/certs/rsa/fullchain.pem",
        "--key",
        "@/certs/server.key",
        "http",
    ]);
    assert!(matches!(err, ConfigError::KeyMismatch { .. }), "{err:?}");
    assert_message(
        &err,
        &[
            "private key in ",
            "certs/server.key does not match certificate in ",
            "certs/rsa/fullchain.pem",
        ],
    );

    let err = client_error(&[
        "llclient",
        "--auth-certs",
        "@/certs/client.pem",
        "--auth-key",
        "@/certs/revoked-client.key",
        "localhost",
    ]);
    assert!(matches!(err, ConfigError::KeyMismatch { .. }), "{err:?}");
    assert_message(&err, &["certs/revoked-client.key", "certs/client.pem"]);
}

#[test]
fn auth_key_and_certs_go_together() {
    let err = client_error(&["llclient", "--auth-key", "@/certs/client.key", "localhost"]);
    assert!(matches!(err, ConfigError::AuthKeyWithoutCerts), "{err:?}");
    assert_message(&err, &["--auth-key without --auth-certs"]);
    let err = client_error(&[
        "llclient",
        "--auth-certs",
        "@/certs/client.pem",
        "localhost",
    ]);
    assert!(matches!(err, ConfigError::AuthCertsWithoutKey), "{err:?}");
}

#[test]
fn crl_needs_auth() {
    let err = server_error(&[
        "llserver",
        "--certs",
        "@/certs/",
        "--crl",
        "@/certs/crl.pem",
        "http",
    ]);
    assert!(matches!(err, ConfigError::CrlWithoutAuth), "{err:?}");
}

#[test]
fn invalid_crl_and_ocsp_files_are_errors_naming_the_file() {
    let with_auth = |flag: &str, file: &str| {
        let file = format!("@/{file}");
        server_error(&[
            "llserver",
            "--certs",
            "@/certs/",
            "--auth",
            "@/certs/ca.pem",
            flag,
            &file,
            "http",
        ])
    };
    // DER, but an OCSP response rather than a CRL.
    let err = with_auth("--crl", "certs/ocsp.der");
    assert!(matches!(err, ConfigError::InvalidCrl { .. }), "{err:?}");
    assert_message(&err, &["invalid CRL in ", "certs/ocsp.der"]);
    let err = with_auth("--crl", "tests/data/bad/empty.pem");
    assert!(matches!(err, ConfigError::NoCrl { .. }), "{err:?}");
    assert_message(&err, &["no CRL found in ", "tests/data/bad/empty.pem"]);
    let err = with_auth("--crl", "certs/missing.der");
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");

    for file in ["certs/crl.der", "certs/ca.pem", "tests/data/bad/empty.pem"] {
        let err = with_auth("--ocsp", file);
        assert!(
            matches!(err, ConfigError::InvalidOcsp { .. }),
            "{file}: {err:?}"
        );
        assert_message(&err, &["invalid OCSP response in ", file]);
    }
}

#[test]
fn auth_roots_file_must_hold_certificates() {
    let err = server_error(&[
        "llserver",
        "--certs",
        "@/certs/",
        "--auth",
        "@/tests/data/bad/empty.pem",
        "http",
    ]);
    assert!(matches!(err, ConfigError::NoCertificates { .. }), "{err:?}");
}

// ---- names ----

#[test]
fn unknown_suite_lists_valid_names() {
    let err = client_error(&["llclient", "--suite", "FOO", "localhost"]);
    assert!(
        matches!(err, ConfigError::UnknownCipherSuite { .. }),
        "{err:?}"
    );
    assert_message(
        &err,
        &[
            "unknown cipher suite \"FOO\"; valid: ",
            "TLS13_AES_256_GCM_SHA384",
            "TLS13_AES_128_GCM_SHA256",
            "TLS13_CHACHA20_POLY1305_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ],
    );
}

#[test]
fn unknown_version_lists_valid_names() {
    let err = client_error(&["llclient", "--protover", "1.4", "localhost"]);
    assert!(
        matches!(err, ConfigError::UnknownProtocolVersion { .. }),
        "{err:?}"
    );
    assert_message(&err, &["unknown protocol version \"1.4\"; valid: 1.2, 1.3"]);
    let err = server_error(&[
        "llserver",
        "--protover",
        "1.1",
        "--certs",
        "@/certs/",
        "http",
    ]);
    assert!(
        matches!(err, ConfigError::UnknownProtocolVersion { .. }),
        "{err:?}"
    );
}

#[test]
fn unknown_key_exchange_lists_valid_names() {
    let err = client_error(&["llclient", "--key-exchange", "X448", "localhost"]);
    assert!(
        matches!(err, ConfigError::UnknownKeyExchange { .. }),
        "{err:?}"
    );
    assert_message(
        &err,
        &[
            "unknown key exchange group \"X448\"; valid: ",
            "X25519MLKEM768",
            "X25519",
            "secp256r1",
            "secp384r1",
        ],
    );
}

#[test]
fn names_are_case_insensitive() {
    let config = client_config(&[
        "llclient",
        "--protover",
        "tlsv1.3",
        "--suite",
        "tls13_aes_128_gcm_sha256",
        "--key-exchange",
        "x25519",
        "--key-exchange",
        "SECP256R1",
        "localhost",
    ]);
    let provider = config.crypto_provider();
    let suites: Vec<_> = provider
        .cipher_suites
        .iter()
        .map(|suite| suite.suite())
        .collect();
    assert_eq!(suites, [rustls::CipherSuite::TLS13_AES_128_GCM_SHA256]);
    let groups: Vec<_> = provider
        .kx_groups
        .iter()
        .map(|group| group.name())
        .collect();
    assert_eq!(
        groups,
        [rustls::NamedGroup::X25519, rustls::NamedGroup::secp256r1],
        "in the order given"
    );

    for spelling in ["1.2", "TLSv1.2", "tls1.2", "TLSV1_2"] {
        let versions = config::protocol_versions(&[spelling.to_owned()]).expect(spelling);
        assert_eq!(versions, [&rustls::version::TLS12], "{spelling}");
    }
}

#[test]
fn repeated_names_are_kept_once() {
    let names = ["X25519".to_owned(), "x25519".to_owned()];
    let provider = config::provider(&[], &names).expect("known group");
    assert_eq!(provider.kx_groups.len(), 1);
    let versions = config::protocol_versions(&["1.3".to_owned(), "TLSv1.3".to_owned()]);
    assert_eq!(versions.expect("known version").len(), 1);
}

#[test]
fn suites_that_no_chosen_version_can_use_are_an_error() {
    let err = client_error(&[
        "llclient",
        "--protover",
        "1.2",
        "--suite",
        "TLS13_AES_128_GCM_SHA256",
        "localhost",
    ]);
    assert!(matches!(err, ConfigError::Incompatible { .. }), "{err:?}");
}

#[test]
fn default_provider_is_aws_lc_rs_defaults() {
    let config = client_config(CLIENT);
    let defaults = rustls::crypto::aws_lc_rs::default_provider();
    let provider = config.crypto_provider();
    assert_eq!(
        provider.cipher_suites.len(),
        defaults.cipher_suites.len(),
        "every default suite"
    );
    let groups: Vec<_> = provider
        .kx_groups
        .iter()
        .map(|group| group.name())
        .collect();
    let default_groups: Vec<_> = defaults
        .kx_groups
        .iter()
        .map(|group| group.name())
        .collect();
    assert_eq!(groups, default_groups);
    assert_eq!(
        groups[0],
        rustls::NamedGroup::X25519MLKEM768,
        "post-quantum first"
    );
}

// ---- client options ----

#[test]
fn max_frag_size_outside_what_rustls_accepts_is_an_error() {
    for size in ["0", "31", "16390", "100000"] {
        let err = client_error(&["llclient", "--max-frag-size", size, "localhost"]);
        assert!(
            matches!(err, ConfigError::BadMaxFragmentSize { .. }),
            "{size}: {err:?}"
        );
        assert_message(&err, &["invalid --max-frag-size ", "between 32 and 16389"]);
    }
    let name = ServerName::try_from("localhost").expect("valid name");
    for size in ["32", "16389"] {
        let config = client_config(&["llclient", "--max-frag-size", size, "localhost"]);
        assert_eq!(
            config.max_fragment_size.map(|n| n.to_string()).as_deref(),
            Some(size)
        );
        ClientConnection::new(config, name.clone())
            .unwrap_or_else(|err| panic!("rustls accepts {size}: {err}"));
    }
    // The range matches rustls's own: one past it fails when the connection is created.
    let mut config = (*client_config(CLIENT)).clone();
    config.max_fragment_size = Some(16390);
    assert!(ClientConnection::new(Arc::new(config), name).is_err());
}

#[test]
fn client_options_set_the_config_fields() {
    let config = client_config(&[
        "llclient",
        "--cafile",
        "@/certs/ca.pem",
        "--proto",
        "h2",
        "--proto",
        "http/1.1",
        "--no-sni",
        "--max-frag-size",
        "1024",
        "localhost",
    ]);
    assert_eq!(
        config.alpn_protocols,
        [b"h2".to_vec(), b"http/1.1".to_vec()]
    );
    assert!(!config.enable_sni);
    assert_eq!(config.max_fragment_size, Some(1024));

    let config = client_config(CLIENT);
    assert!(config.enable_sni);
    assert!(config.alpn_protocols.is_empty());
    assert_eq!(config.max_fragment_size, None);
}

#[test]
fn client_without_cafile_uses_webpki_roots() {
    let config = client_config(&["llclient", "--http", "example.com"]);
    // Our test CA is not a public root, so the handshake must fail on the issuer.
    let err = handshake(config, server_config(SERVER)).expect_err("unknown issuer");
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
}

#[test]
fn client_and_server_configs_complete_a_handshake() {
    let (client, server) = handshake(client_config(CLIENT), server_config(SERVER))
        .expect("handshake with the ECDSA set");
    assert_eq!(
        client.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(server.server_name(), Some("localhost"));

    let rsa_server = server_config(&["llserver", "--certs", "@/certs/rsa", "echo"]);
    let rsa_client = client_config(&["llclient", "--cafile", "@/certs/rsa/ca.pem", "localhost"]);
    handshake(rsa_client, rsa_server).expect("handshake with the RSA set");

    let reference_server = server_config(&[
        "llserver",
        "--certs",
        "@/tests/data/reference/pki/rsa-server-fullchain.pem",
        "--key",
        "@/tests/data/reference/pki/rsa-server.key",
        "http",
    ]);
    let reference_client = client_config(&[
        "llclient",
        "--cafile",
        "@/tests/data/reference/pki/rsa-ca.pem",
        "localhost",
    ]);
    handshake(reference_client, reference_server).expect("handshake with the reference PKI");
}

#[test]
fn protover_and_suite_choices_are_negotiated() {
    let client = client_config(&[
        "llclient",
        "--cafile",
        "@/certs/ca.pem",
        "--protover",
        "1.2",
        "localhost",
    ]);
    let server = server_config(&[
        "llserver",
        "--certs",
        "@/certs/",
        "--suite",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "--suite",
        "TLS13_AES_128_GCM_SHA256",
        "--key-exchange",
        "secp384r1",
        "http",
    ]);
    let (client, _) = handshake(client, server).expect("TLS 1.2 handshake");
    assert_eq!(
        client.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    assert_eq!(
        client.negotiated_cipher_suite().map(|suite| suite.suite()),
        Some(rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)
    );
    assert_eq!(
        client
            .negotiated_key_exchange_group()
            .map(|group| group.name()),
        Some(rustls::NamedGroup::secp384r1)
    );
}

#[test]
fn alpn_is_negotiated() {
    let client = client_config(&[
        "llclient",
        "--cafile",
        "@/certs/ca.pem",
        "--proto",
        "h2",
        "--proto",
        "http/1.1",
        "localhost",
    ]);
    let server = server_config(&[
        "llserver", "--certs", "@/certs/", "--proto", "http/1.1", "echo",
    ]);
    let (client, _) = handshake(client, server).expect("handshake");
    assert_eq!(client.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[test]
fn wrong_ca_is_rejected_and_insecure_accepts_it() {
    let wrong = client_config(&["llclient", "--cafile", "@/certs/other-ca.pem", "localhost"]);
    let err = handshake(wrong, server_config(SERVER)).expect_err("unknown issuer");
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );

    let insecure = client_config(&[
        "llclient",
        "--cafile",
        "@/certs/other-ca.pem",
        "--insecure",
        "localhost",
    ]);
    assert!(format!("{insecure:?}").contains("InsecureServerVerifier"));
    handshake(insecure, server_config(SERVER)).expect("--insecure accepts any certificate");
}

#[test]
fn expired_and_not_yet_valid_server_certificates_are_rejected() {
    for name in ["expired", "notyet"] {
        let chain = format!("@/certs/{name}-fullchain.pem");
        let key = format!("@/certs/{name}.key");
        let server = server_config(&["llserver", "--certs", &chain, "--key", &key, "http"]);
        let err = handshake(client_config(CLIENT), server).expect_err(name);
        let ok = matches!(
            (name, &err),
            (
                "expired",
                rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { .. }),
            ) | (
                "notyet",
                rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext { .. }),
            )
        );
        assert!(ok, "{name}: {err:?}");
    }
}

#[test]
fn big_chain_is_accepted_for_localhost() {
    let server = server_config(&["llserver", "--certs", "@/tests/data/bigchain", "http"]);
    let client = client_config(&[
        "llclient",
        "--cafile",
        "@/tests/data/bigchain/ca.pem",
        "localhost",
    ]);
    handshake(client, server).expect("handshake with the >16 KiB chain");
}

// ---- server options ----

#[test]
fn server_directory_certs_work_without_key() {
    let config = server_config(SERVER);
    assert_eq!(config.max_early_data_size, 0);
    assert!(config.alpn_protocols.is_empty());
}

#[test]
fn client_auth_with_crl_rejects_the_revoked_client() {
    let client_with = |cert: &str, key: &str| {
        let (cert, key) = (format!("@/certs/{cert}"), format!("@/certs/{key}"));
        client_config(&[
            "llclient",
            "--cafile",
            "@/certs/ca.pem",
            "--auth-certs",
            &cert,
            "--auth-key",
            &key,
            "localhost",
        ])
    };
    for crl in ["@/certs/crl.pem", "@/certs/crl.der"] {
        let server = server_config(&[
            "llserver",
            "--certs",
            "@/certs/",
            "--auth",
            "@/certs/ca.pem",
            "--crl",
            crl,
            "--require-auth",
            "echo",
        ]);
        let (_, server_conn) = handshake(client_with("client.pem", "client.key"), server.clone())
            .unwrap_or_else(|err| panic!("good client with {crl}: {err}"));
        assert_eq!(server_conn.peer_certificates().map(<[_]>::len), Some(1));

        let err = handshake(
            client_with("revoked-client.pem", "revoked-client.key"),
            server.clone(),
        )
        .expect_err("revoked client");
        assert_eq!(
            err,
            rustls::Error::InvalidCertificate(CertificateError::Revoked),
            "{crl}"
        );

        let err = handshake(client_config(CLIENT), server).expect_err("no client certificate");
        assert_eq!(
            err,
            rustls::Error::NoCertificatesPresented,
            "--require-auth with {crl}"
        );
    }

    // Without --require-auth an anonymous client is let in.
    let optional = server_config(&[
        "llserver",
        "--certs",
        "@/certs/",
        "--auth",
        "@/certs/ca.pem",
        "http",
    ]);
    let (_, server_conn) = handshake(client_config(CLIENT), optional.clone()).expect("anonymous");
    assert!(server_conn.peer_certificates().is_none());
    let chain_client = client_config(&[
        "llclient",
        "--cafile",
        "@/certs/ca.pem",
        "--auth-certs",
        "@/certs/client-fullchain.pem",
        "--auth-key",
        "@/certs/client.key",
        "localhost",
    ]);
    handshake(chain_client, optional).expect("client with its full chain");
}

#[test]
fn server_resumption_and_early_data_options() {
    let config = server_config(&[
        "llserver",
        "--certs",
        "@/certs/",
        "--ocsp",
        "@/certs/ocsp.der",
        "--tickets",
        "--max-early-data",
        "16384",
        "--proto",
        "http/1.1",
        "echo",
    ]);
    assert!(config.ticketer.enabled());
    assert_eq!(config.max_early_data_size, 16384);
    assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    assert!(config.session_storage.can_cache());
    handshake(client_config(CLIENT), config).expect("handshake with an OCSP staple");

    let config = server_config(&["llserver", "--certs", "@/certs/", "--no-resumption", "http"]);
    assert!(!config.session_storage.can_cache());
    assert!(!config.ticketer.enabled());

    let err = server_error(&[
        "llserver",
        "--certs",
        "@/certs/",
        "--no-resumption",
        "--max-early-data",
        "100",
        "http",
    ]);
    assert!(
        matches!(err, ConfigError::EarlyDataWithoutResumption),
        "{err:?}"
    );
    let err = server_error(&[
        "llserver",
        "--certs",
        "@/certs/",
        "--protover",
        "1.2",
        "--max-early-data",
        "100",
        "http",
    ]);
    assert!(matches!(err, ConfigError::EarlyDataWithoutTls13), "{err:?}");
}
