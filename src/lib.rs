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
//!    `incoming_tls.advance(n)`. On end-of-file call `handle_eof()`.
//! 2. Call `process(&mut incoming_tls, &mut outgoing_tls)` repeatedly and act
//!    on each [`Status`] (plaintext, handshake complete, peer closed) until it
//!    returns [`Status::NeedsMoreTlsData`] or [`Status::MustTransmitTlsData`].
//! 3. Offer plaintext with `encrypt` (it returns how much it took; `0` until
//!    rustls may encrypt) and, when done, `queue_close_notify`.
//! 4. Transmit `outgoing_tls.filled()` and `discard` what the transport took.
//!    Go to 1.
//!
//! Inputs: `process` (new bytes), `handle_eof`, `encrypt`, `record_room`,
//! `encrypt_early_data` (client), `queue_close_notify`,
//! `refresh_traffic_keys`. Outputs: [`Status`], and the bytes in
//! `outgoing_tls`. Getters: `handshake_info`, `is_handshaking`,
//! `peer_closed`, `wants_read`, `error`, `record_layer`,
//! `close_notify_sent`, `sequence_numbers`.
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
//! IO drivers built on this core: [`stream::Stream`] (blocking, over any
//! `Read + Write`) and [`net`] (the mio glue of `llclient` and `llserver`).
#![warn(missing_docs, unreachable_pub, unused_must_use)]
#![forbid(unsafe_code)]

mod conn;
mod error;
mod incoming;
pub mod net;
mod outgoing;
mod record;
mod status;
mod storage;
pub mod stream;
pub mod trace;

pub use conn::{
    LlClientConnection, LlConnection, LlServerConnection, RecordRoom, Side, MAX_ENCRYPT_CHUNK,
};
pub use error::Error;
pub use incoming::{IncomingTls, MAX_HANDSHAKE_BUFFER, MAX_RECORD_SIZE};
pub use outgoing::OutgoingTls;
pub use record::RecordLayer;
pub use status::{AppData, EarlyDataOutcome, HandshakeInfo, Status};
pub use storage::Storage;
pub mod cli;
pub mod config;
