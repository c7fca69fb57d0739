//! Command-line arguments of `llclient` and `llserver`.
//!
//! The options, their spelling, defaults and help text are those of rustls's `tlsclient-mio`
//! and `tlsserver-mio`, so a command line written for one works for the other. lltls adds a few
//! options of its own; they are listed after the upstream ones and described in the long help.
//!
//! These are plain clap structs so tests can parse command lines with
//! [`clap::Parser::try_parse_from`] without running a binary. [`crate::programs::config`] turns them into
//! rustls configurations.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{value_parser, Arg, ArgGroup, ArgMatches, Command, FromArgMatches, Parser, Subcommand};

use crate::programs::net::LINGER_TIME;

/// `--linger-ms`'s default: [`LINGER_TIME`].
const LINGER_MS: u64 = LINGER_TIME.as_millis() as u64;

/// The upstream `tlsclient-mio` description, verbatim.
const CLIENT_ABOUT: &str =
    "Connects to the TLS server at hostname:PORT.  The default PORT is 443.  \
By default, this reads a request from stdin (to EOF) before making the connection.  --http \
replaces this with a basic HTTP GET request for /.";

const CLIENT_LONG_ABOUT: &str = "Connects to the TLS server at hostname:PORT.  The default PORT is \
443.  By default, this reads a request from stdin (to EOF) before making the connection.  --http \
replaces this with a basic HTTP GET request for /.

If --cafile is not supplied, a built-in set of CA certificates are used from the webpki-roots crate.";

const CLIENT_AFTER_LONG_HELP: &str = "lltls: --handshake-timeout, --record-layer, --verify-async, \
--verify-async-with-auth, --trace and --sequence-diagram are lltls additions.";

/// The upstream `tlsserver-mio` description, verbatim.
const SERVER_ABOUT: &str = "Runs a TLS server on :PORT. The default PORT is 443.";

const SERVER_LONG_ABOUT: &str = "Runs a TLS server on :PORT. The default PORT is 443.

`echo` mode means the server echoes received data on each connection.

`http` mode means the server blindly sends a HTTP response on each connection.

`forward` means the server forwards plaintext to a connection made to `localhost:fport`.

`--certs` names the full certificate chain, `--key` provides the private key.";

const SERVER_AFTER_LONG_HELP: &str = "lltls: --certs may also name a directory; the chain is then \
DIR/fullchain.pem and the key DIR/server.key unless --key is given. Port 0 picks a free port; the \
address is printed as `listening on ADDR`. --crl accepts PEM as well as DER. --key-exchange, \
--handshake-timeout, --record-layer, --verify-async, --trace and --sequence-diagram are lltls \
additions.";

/// Arguments of `llclient`, the counterpart of rustls's `tlsclient-mio`.
///
/// The field docs are the upstream help texts, verbatim.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "llclient",
    about = CLIENT_ABOUT,
    long_about = CLIENT_LONG_ABOUT,
    after_long_help = CLIENT_AFTER_LONG_HELP
)]
pub struct ClientArgs {
    /// Connect to this port
    #[arg(long, default_value_t = 443)]
    pub port: u16,

    /// Send a basic HTTP GET request for /
    #[arg(long)]
    pub http: bool,

    /// Emit log output
    #[arg(long)]
    pub verbose: bool,

    /// Disable default TLS version list, and use VERSION instead.  May be used multiple times
    #[arg(long)]
    pub protover: Vec<String>,

    /// Disable default cipher suite list, and use SUITE instead.  May be used multiple times
    #[arg(long)]
    pub suite: Vec<String>,

    /// Disable default key exchange list, and use KX instead. Maybe be used multiple times
    #[arg(long)]
    pub key_exchange: Vec<String>,

    /// Send ALPN extension containing PROTOCOL. May be used multiple times to offer several protocols
    #[arg(long)]
    pub proto: Vec<String>,

    /// Limit outgoing messages to this many bytes
    #[arg(long)]
    pub max_frag_size: Option<usize>,

    /// Read root certificates from this file
    #[arg(long)]
    pub cafile: Option<PathBuf>,

    /// Disable session ticket support
    #[arg(long)]
    pub no_tickets: bool,

    /// Disable server name indication support
    #[arg(long)]
    pub no_sni: bool,

    /// Disable certificate verification
    #[arg(long)]
    pub insecure: bool,

    /// Read client authentication key from KEY
    #[arg(long)]
    pub auth_key: Option<PathBuf>,

    /// Read client authentication certificates from CERTS. CERTS must match up with KEY
    #[arg(long)]
    pub auth_certs: Option<PathBuf>,

    /// Record layer after the handshake: in-place (lltls seals and opens records in the
    /// caller's buffers) or rustls (rustls's own, whose post-handshake log lines match upstream)
    /// (lltls)
    #[arg(long, value_enum, value_name = "LAYER", default_value_t = RecordLayerArg::InPlace)]
    pub record_layer: RecordLayerArg,

    /// Give up when connecting and the TLS handshake take longer than this many seconds in
    /// all; 0 waits for ever (lltls)
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub handshake_timeout: u64,

    /// Verify the server's certificate on a worker thread while the event loop goes on
    /// (deferred verification: nothing is exchanged before the verdict) (lltls)
    #[arg(long)]
    pub verify_async: bool,

    /// With --verify-async and --auth-certs: send the client certificate with the handshake,
    /// before the server is verified (a server rejected afterwards has seen it) (lltls)
    #[arg(long)]
    pub verify_async_with_auth: bool,

    /// With --verify-async: wait this many milliseconds before each verification (tests)
    #[arg(long, value_name = "MS", default_value_t = 0, hide = true)]
    pub verify_delay_ms: u64,

    /// Linger at most this many milliseconds after our close_notify or fatal alert (tests)
    #[arg(long, value_name = "MS", default_value_t = LINGER_MS, hide = true)]
    pub linger_ms: u64,

    /// Print one line per TLS record to stderr (lltls)
    #[arg(long)]
    pub trace: bool,

    /// Write a mermaid sequence diagram of the TLS records to FILE (lltls)
    #[arg(long, value_name = "FILE")]
    pub sequence_diagram: Option<PathBuf>,

    /// Which hostname/address to connect to
    pub hostname: String,
}

/// What `llserver` does with each connection's plaintext.
///
/// The subcommand help texts are the upstream ones, verbatim. `forward` takes its port as
/// `forward --port N` or, as upstream's `tlsserver-mio` does, as `forward N`; clap's derive cannot
/// express "either form", hence the hand-written [`Subcommand`] impl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMode {
    /// Write back received bytes.
    Echo,

    /// Do one read, then write a bodged HTTP response and cleanly close the connection.
    Http,

    /// Forward traffic to/from given port on localhost.
    Forward {
        /// Port on localhost to forward plaintext to.
        port: u16,
    },
}

impl ServerMode {
    const ECHO: &'static str = "echo";
    const HTTP: &'static str = "http";
    const FORWARD: &'static str = "forward";
    const PORT: &'static str = "port";
    const UPSTREAM_PORT: &'static str = "fport";
}

impl FromArgMatches for ServerMode {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        match matches.subcommand() {
            Some((Self::ECHO, _)) => Ok(Self::Echo),
            Some((Self::HTTP, _)) => Ok(Self::Http),
            Some((Self::FORWARD, sub)) => sub
                .get_one::<u16>(Self::PORT)
                .or_else(|| sub.get_one::<u16>(Self::UPSTREAM_PORT))
                .map(|&port| Self::Forward { port })
                // The required group below makes clap reject this case before we get here.
                .ok_or_else(|| clap::Error::new(ErrorKind::MissingRequiredArgument)),
            Some((name, _)) => Err(clap::Error::raw(
                ErrorKind::InvalidSubcommand,
                format!("unknown mode {name:?}"),
            )),
            None => Err(clap::Error::new(ErrorKind::MissingSubcommand)),
        }
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Subcommand for ServerMode {
    fn augment_subcommands(cmd: Command) -> Command {
        let port = |name: &'static str| {
            Arg::new(name)
                .value_name("PORT")
                .value_parser(value_parser!(u16))
        };
        cmd.subcommand(Command::new(Self::ECHO).about("Write back received bytes"))
            .subcommand(Command::new(Self::HTTP).about(
                "Do one read, then write a bodged HTTP response and cleanly close the connection",
            ))
            .subcommand(
                Command::new(Self::FORWARD)
                    .about("Forward traffic to/from given port on localhost")
                    .arg(
                        port(Self::PORT)
                            .long(Self::PORT)
                            .help("Port on localhost to forward plaintext to"),
                    )
                    .arg(port(Self::UPSTREAM_PORT).help("Same as --port (tlsserver-mio's form)"))
                    .group(
                        ArgGroup::new("target")
                            .args([Self::PORT, Self::UPSTREAM_PORT])
                            .required(true),
                    ),
            )
            .subcommand_required(true)
    }

    fn augment_subcommands_for_update(cmd: Command) -> Command {
        Self::augment_subcommands(cmd)
    }

    fn has_subcommand(name: &str) -> bool {
        [Self::ECHO, Self::HTTP, Self::FORWARD].contains(&name)
    }
}

/// Arguments of `llserver`, the counterpart of rustls's `tlsserver-mio`.
///
/// The field docs are the upstream help texts, verbatim.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "llserver",
    about = SERVER_ABOUT,
    long_about = SERVER_LONG_ABOUT,
    after_long_help = SERVER_AFTER_LONG_HELP
)]
pub struct ServerArgs {
    /// What to do with each connection's plaintext.
    #[command(subcommand)]
    pub mode: ServerMode,

    /// Listen on port
    #[arg(short, long, default_value_t = 443)]
    pub port: u16,

    /// Emit log output
    #[arg(short, long)]
    pub verbose: bool,

    /// Disable default TLS version list, and use the given versions instead
    #[arg(long)]
    pub protover: Vec<String>,

    /// Disable default cipher suite list, and use the given suites instead
    #[arg(long)]
    pub suite: Vec<String>,

    /// Negotiate the given protocols using ALPN
    #[arg(long)]
    pub proto: Vec<String>,

    /// Read server certificates from the given file. This should contain PEM-format certificates in the right order (the first certificate should certify the end entity, matching the private key, the last should be a root CA) (lltls: or a directory holding fullchain.pem and, without --key, server.key)
    #[arg(long)]
    pub certs: PathBuf,

    /// Perform client certificate revocation checking using the DER-encoded CRLs from the given files
    #[arg(long)]
    pub crl: Vec<PathBuf>,

    /// Read private key from the given file. This should be a private key in PEM format
    #[arg(long)]
    pub key: Option<PathBuf>,

    /// Read DER-encoded OCSP response from the given file and staple to certificate
    #[arg(long)]
    pub ocsp: Option<PathBuf>,

    /// Enable client authentication, and accept certificates signed by those roots provided in the given file
    #[arg(long)]
    pub auth: Option<PathBuf>,

    /// Send a fatal alert if the client does not complete client authentication
    #[arg(long)]
    pub require_auth: bool,

    /// Disable stateful session resumption
    #[arg(long)]
    pub no_resumption: bool,

    /// Support tickets (stateless resumption)
    #[arg(long)]
    pub tickets: bool,

    /// Support receiving this many bytes with 0-RTT
    #[arg(long, default_value_t = 0)]
    pub max_early_data: u32,

    /// Disable default key exchange list, and use KX instead. May be used multiple times (lltls)
    #[arg(long)]
    pub key_exchange: Vec<String>,

    /// Drop connections whose handshake takes longer than this many seconds (lltls)
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub handshake_timeout: u64,

    /// Record layer after the handshake: in-place (lltls seals and opens records in the
    /// caller's buffers) or rustls (rustls's own, whose post-handshake log lines match upstream)
    /// (lltls)
    #[arg(long, value_enum, value_name = "LAYER", default_value_t = RecordLayerArg::InPlace)]
    pub record_layer: RecordLayerArg,

    /// Verify the client's certificate on a worker thread while the event loop goes on
    /// (deferred verification: nothing is exchanged before the verdict) (lltls)
    #[arg(long)]
    pub verify_async: bool,

    /// With --verify-async: wait this many milliseconds before each verification (tests)
    #[arg(long, value_name = "MS", default_value_t = 0, hide = true)]
    pub verify_delay_ms: u64,

    /// Linger at most this many milliseconds after our close_notify or fatal alert (tests)
    #[arg(long, value_name = "MS", default_value_t = LINGER_MS, hide = true)]
    pub linger_ms: u64,

    /// Print one line per TLS record to stderr (lltls)
    #[arg(long)]
    pub trace: bool,

    /// Write a mermaid sequence diagram of the TLS records to FILE (lltls)
    #[arg(long, value_name = "FILE")]
    pub sequence_diagram: Option<PathBuf>,
}

/// `--record-layer`: which record layer protects records after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecordLayerArg {
    /// lltls's in-place record layer (the default).
    InPlace,
    /// rustls's own record layer.
    Rustls,
}

impl From<RecordLayerArg> for crate::RecordLayer {
    fn from(arg: RecordLayerArg) -> Self {
        match arg {
            RecordLayerArg::InPlace => Self::InPlace,
            RecordLayerArg::Rustls => Self::Rustls,
        }
    }
}

/// File names used when `--certs` names a directory, as `scripts/gen-certs.sh` lays them out.
pub const CHAIN_FILE_NAME: &str = "fullchain.pem";
/// See [`CHAIN_FILE_NAME`].
pub const KEY_FILE_NAME: &str = "server.key";
