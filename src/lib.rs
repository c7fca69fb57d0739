//! # lltls: TLS over caller-managed buffers
//!
//! lltls drives real TLS connections through rustls 0.23's `unbuffered` API,
//! in which the caller owns every buffer: the TLS bytes received
//! ([`IncomingTls`]), the TLS bytes to send ([`OutgoingTls`]) and the
//! plaintext. It is the connection layer proposed by rustls's
//! "caller-managed buffers" RFC (`LlClientConnection` / `LlServerConnection`),
//! built on the API that shipped.
//!
//! ## The contract (sans-IO)
//!
//! **Invariant: a connection never performs IO, never blocks, and never keeps
//! bytes the caller has not handed it.** Bytes in flight live in the caller's
//! two buffers; the connection only reads `incoming_tls` and appends to
//! `outgoing_tls`.
//!
//! The run loop:
//!
//! 1. Read from the transport into `incoming_tls.unfilled()`, then
//!    `incoming_tls.advance(n)`. On end-of-file call `handle_eof()`. (Or read
//!    at most `incoming_tls.copy_room()` bytes into memory shared between
//!    connections and copy them in with `extend_from_slice`: a server's
//!    handshakes then hold only what their peers sent.)
//! 2. Call `process(&mut incoming_tls, &mut outgoing_tls)` repeatedly and act
//!    on each [`Status`] (plaintext, handshake complete, peer closed) until it
//!    returns [`Status::NeedsMoreTlsData`] or [`Status::MustTransmitTlsData`].
//! 3. Offer plaintext with `encrypt` (it returns how much it took; `0` until
//!    rustls may encrypt) and, when done, `queue_close_notify`.
//! 4. Transmit `outgoing_tls.filled()` and `discard` what the transport took.
//!    Go to 1.
//!
//! A client and a server in memory, the "transport" being the other side's
//! incoming buffer:
//!
//! ```
//! use std::sync::Arc;
//!
//! use lltls::{IncomingTls, LlClientConnection, LlServerConnection, OutgoingTls, Status};
//! use rustls::pki_types::pem::PemObject;
//! use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
//!
//! # // With std rustls (file reading, its clock, its default provider).
//! # #[cfg(not(feature = "aws-lc-rs"))] fn main() {}
//! # #[cfg(feature = "aws-lc-rs")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Name the provider: with both backend features on, rustls cannot pick one.
//! let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
//! let chain = CertificateDer::pem_file_iter("certs/fullchain.pem")?.collect::<Result<_, _>>()?;
//! let key = PrivateKeyDer::from_pem_file("certs/server.key")?;
//! let mut server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
//!     .with_safe_default_protocol_versions()?
//!     .with_no_client_auth()
//!     .with_single_cert(chain, key)?;
//! // The in-place record layer takes the traffic secrets after the handshake.
//! server_config.enable_secret_extraction = true;
//! let mut roots = rustls::RootCertStore::empty();
//! roots.add_parsable_certificates(CertificateDer::pem_file_iter("certs/ca.pem")?.flatten());
//! let mut client_config = rustls::ClientConfig::builder_with_provider(provider)
//!     .with_safe_default_protocol_versions()?
//!     .with_root_certificates(roots)
//!     .with_no_client_auth();
//! client_config.enable_secret_extraction = true;
//!
//! let name = ServerName::try_from("localhost")?;
//! let mut client = LlClientConnection::new(Arc::new(client_config), name)?;
//! let mut server = LlServerConnection::new(Arc::new(server_config))?;
//! let (mut client_in, mut client_out) = (IncomingTls::new(), OutgoingTls::new());
//! let (mut server_in, mut server_out) = (IncomingTls::new(), OutgoingTls::new());
//!
//! let mut request: &[u8] = b"GET / HTTP/1.0\r\n\r\n";
//! let mut received = Vec::new();
//! for _ in 0..10 {
//!     // 2. Process until the connection waits for its peer.
//!     while !matches!(
//!         client.process(&mut client_in, &mut client_out)?,
//!         Status::NeedsMoreTlsData | Status::MustTransmitTlsData
//!     ) {}
//!     // 3. Offer plaintext: `encrypt` takes nothing until the handshake allows it.
//!     let taken = client.encrypt(request, &mut client_in, &mut client_out)?;
//!     request = &request[taken..];
//!     loop {
//!         match server.process(&mut server_in, &mut server_out)? {
//!             Status::AppDataAvailable(mut records) => {
//!                 while let Some(record) = records.next_record() {
//!                     received.extend_from_slice(record?);
//!                 }
//!             }
//!             Status::NeedsMoreTlsData | Status::MustTransmitTlsData => break,
//!             _ => {}
//!         }
//!     }
//!     // 4. Transmit and discard what went out; 1. the peer reads it into
//!     // `unfilled()` and calls `advance`.
//!     deliver(&mut client_out, &mut server_in);
//!     deliver(&mut server_out, &mut client_in);
//! }
//! assert_eq!(received, b"GET / HTTP/1.0\r\n\r\n");
//!
//! fn deliver(from: &mut OutgoingTls, to: &mut IncomingTls) {
//!     // `process` made room in `to` before it asked for more.
//!     let num_bytes = from.len().min(to.unfilled().len());
//!     to.unfilled()[..num_bytes].copy_from_slice(&from.filled()[..num_bytes]);
//!     to.advance(num_bytes);
//!     from.discard(num_bytes);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Inputs: `process` (new bytes), `handle_eof`, `encrypt`, `record_room`,
//! `echo_app_data`,
//! `encrypt_early_data` (client), `queue_close_notify`,
//! `refresh_traffic_keys`, `peer_verified` (deferred mode), `into_split`. Outputs:
//! [`Status`], and the bytes in `outgoing_tls`. Getters: `handshake_info`,
//! `is_handshaking`, `peer_closed`, `wants_read`, `error`, `record_layer`,
//! `close_notify_sent`, `sequence_numbers`, `awaiting_verdict`.
//!
//! Most drivers need not write this loop: a [`Pump`] owns a connection and
//! its buffers and says what to do next as an owned [`Next`].
//!
//! ## Two threads: split halves
//!
//! After the handshake, [`LlConnection::into_split`] takes a connection
//! apart into a [`SendHalf`] and a [`ReceiveHalf`] that can move to two
//! threads or tasks, each with its own buffer (the send half an
//! `OutgoingTls`, the receive half the connection's `IncomingTls`). What the
//! receive half owes the peer (a KeyUpdate answer, a TLS 1.2 renegotiation
//! refusal, the fatal alert of its error) reaches the send half through
//! their shared state, never through the caller; the guarantees of the
//! whole connection hold on both (README "Split halves" lists the two
//! differences two threads make). That shared state is the one lock in
//! the crate: std's `Mutex`, or a spin lock without std, held for a key
//! derivation or a few seals; the only caller code that runs under it is
//! a client's session store, when a ticket arrives (a store that waits for
//! the sending thread deadlocks).
//!
//! ## Examples
//!
//! - `examples/https_client.rs`: this loop over a `TcpStream`.
//! - `examples/https_client_pump.rs`, `examples/https_server_pump.rs`: the
//!   same with a [`Pump`].
//! - `examples/split_echo.rs`: an echo server, one thread receiving and one
//!   sending, with split halves.
//!
//! CI runs each of them (`scripts/interop.sh`).
//!
//! ## Certificate verification by the caller
//!
//! In deferred mode ([`verify`]) the peer's certificate chain is handed to
//! the caller ([`Status::VerifyPeer`]), who verifies it when and where it
//! likes (on another thread, after IO) and gives the verdict with
//! [`LlConnection::peer_verified`]; until then nothing that depends on trust
//! happens.
//!
//! ## Records after the handshake
//!
//! rustls runs the handshake. Once it is complete, lltls takes the traffic
//! secrets from rustls and protects records itself, in place
//! ([`RecordLayer::InPlace`], the default; the rustls config MUST set
//! `enable_secret_extraction`): received records are decrypted where they
//! lie in `incoming_tls` and lent to the caller from there, records to send
//! are sealed in `outgoing_tls`, and [`LlConnection::record_room`] lets the
//! caller write plaintext straight into the next record. rustls still
//! derives new keys on KeyUpdate and stores session tickets.
//! [`RecordLayer::Rustls`] keeps rustls's own record layer throughout.
//!
//! On error, the connection is dead; the fatal alert rustls wants the peer to
//! see is already in `outgoing_tls`.
//!
//! ## Layers
//!
//! - The sans-IO core: the buffers (`buffer`), the connection driver
//!   (`conn`), the record layer after the handshake (`record`) over the AEAD
//!   backend chosen at build time (`backend`: `aws-lc-rs` or `ring`),
//!   certificate verification ([`verify`]), the handshake checks rustls
//!   leaves to its resolver and verifiers ([`checked`]), [`Status`] and
//!   [`Error`]. No sockets, threads or clocks, and no std: the crate is `#![no_std]` +
//!   `alloc`. The split halves share one lock (see above).
//! - On top of it, with the `std` feature: `stream::Stream` (blocking, over
//!   any `Read + Write`), the tracer (`trace`, a passive observer of the
//!   bytes on the wire) and deferred verification.
//! - The programs' code (`programs`, behind the default `programs` feature):
//!   command line, rustls configuration, and the mio driver of `llclient`
//!   and `llserver`.
#![no_std]
#![warn(missing_docs, unreachable_pub, unused_must_use)]
#![forbid(unsafe_code)]

extern crate alloc;
// Only under the feature, so that anything the core takes from std is a
// compile error in every build, not only in no_std ones.
#[cfg(any(feature = "std", test))]
extern crate std;

mod backend;
mod buffer;
pub mod checked;
mod conn;
mod error;
mod record;
mod status;
#[cfg(feature = "std")]
pub mod stream;
#[cfg(test)]
mod testing;
#[cfg(feature = "std")]
pub mod trace;
pub mod verify;

// The programs' code: public only for `llclient` and `llserver` (binaries
// are crates of their own), hidden from the library's docs.
#[cfg(feature = "programs")]
#[doc(hidden)]
pub mod programs;

pub use buffer::{IncomingTls, OutgoingTls, Storage, MAX_HANDSHAKE_BUFFER, MAX_RECORD_SIZE};
pub use conn::{
    ClientPump, ClientReceiveHalf, ClientSendHalf, LlClientConnection, LlConnection,
    LlServerConnection, Next, Pump, ReceiveHalf, ReceiveStatus, RecordRoom, Rooms, SendHalf,
    SendRoom, ServerPump, ServerReceiveHalf, ServerSendHalf, Side, MAX_ENCRYPT_CHUNK,
};
pub use error::Error;
pub use record::RecordLayer;
pub use status::{AppData, EarlyDataOutcome, HandshakeInfo, Status};
pub use verify::PeerCertificates;
#[cfg(feature = "std")]
pub use verify::{DeferredClientConfig, DeferredServerConfig};
