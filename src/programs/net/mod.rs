//! The mio glue of `llclient` and `llserver`.
//!
//! [`TlsConn`] owns a non-blocking `mio::net::TcpStream`, the connection's
//! [`IncomingTls`](crate::IncomingTls) / [`OutgoingTls`](crate::OutgoingTls),
//! and the plaintext the application queued ([`Outbox`]). It only moves
//! bytes between the socket and those buffers and acts on each
//! [`Status`](crate::Status); every TLS decision is the core's. [`PlainConn`]
//! is the plaintext side of `llserver`'s forward mode.
//!
//! mio delivers edge-triggered events: an event says the socket *became*
//! readable or writable, and none comes again until a read or write has
//! returned `WouldBlock`. Both connections therefore remember readiness
//! themselves (in one `Socket` each) and clear it only on
//! `WouldBlock`, so they can stop reading (backpressure, fairness) and
//! resume later without waiting for an event that will never come.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

/// `register`, `reregister` and `deregister` for a connection type with a
/// `socket: Socket` field and an `interest()` method.
macro_rules! registration_methods {
    () => {
        /// Registers the socket with `registry` under `token`.
        pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
            let interest = self.interest();
            self.socket.register(registry, token, interest)
        }

        /// Updates the registration to [`interest`](Self::interest), if it
        /// changed.
        pub fn reregister(&mut self, registry: &Registry) -> io::Result<()> {
            let interest = self.interest();
            self.socket.reregister(registry, interest)
        }

        /// Removes the socket from `registry`.
        pub fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
            self.socket.deregister(registry)
        }
    };
}

mod outbox;
mod plain;
mod socket;
#[cfg(test)]
mod tests;
mod tls;
mod verify;

use core::fmt;
use std::io;

use crate::error::Error;
use crate::status::HandshakeInfo;

pub use outbox::Outbox;
pub use plain::PlainConn;
pub use tls::{Closed, LastRecord, LingerEnd, NoLinger, TlsConn, LINGER_LIMIT, LINGER_TIME};
pub use verify::{Check, Verdict, VerifyPool};

/// Bytes waiting to be sent (plaintext in the [`Outbox`] plus TLS bytes in
/// `OutgoingTls`) above which a connection stops reading its socket. Reading
/// resumes once the peer has taken enough; memory per connection stays
/// bounded however fast the peer sends and however slowly it reads.
pub const BACKLOG_LIMIT: usize = 256 * 1024;

/// Outgoing TLS bytes worth a write before the read loop of one turn ends.
const TRANSMIT_BATCH: usize = 64 * 1024;

/// Socket reads one [`TlsConn::drive`] call makes at most (each up to one
/// maximal record). Stopping there keeps one fast peer from starving the
/// other connections of an event loop; [`TlsConn::needs_drive`] then says
/// the connection has more to do.
const READS_PER_TURN: usize = 32;

/// What the application does with what the connection reports.
///
/// Each method gets the connection's [`Outbox`], so the application can
/// answer (queue plaintext, ask for `close_notify`) in the same flight.
pub trait Handler {
    /// A record's plaintext arrived. An error ends the connection with
    /// [`NetError::Sink`].
    fn plaintext(&mut self, plaintext: &[u8], outbox: &mut Outbox) -> io::Result<()>;

    /// The handshake completed.
    fn handshake_complete(&mut self, info: &HandshakeInfo, outbox: &mut Outbox) {
        let _ = (info, outbox);
    }

    /// Whether every plaintext record goes straight back to the peer (an
    /// echo): the connection then seals it from where it was received
    /// ([`LlConnection::echo_app_data`](crate::LlConnection::echo_app_data),
    /// one copy), and `plaintext` only sees what that cannot take.
    fn echoes(&self) -> bool {
        false
    }

    /// The peer sent `close_notify`: nothing more will arrive.
    fn peer_closed(&mut self, outbox: &mut Outbox) {
        let _ = outbox;
    }
}

/// Why a [`TlsConn`] ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum NetError {
    /// The TCP connection could not be established.
    Connect(io::Error),
    /// Reading or writing the socket failed.
    Io(io::Error),
    /// The TLS connection failed; its fatal alert was sent if the socket took
    /// it. Includes a transport EOF before the peer's `close_notify`.
    Tls(Error),
    /// The [`Handler`] could not take the plaintext.
    Sink(io::Error),
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "cannot connect: {e}"),
            Self::Io(e) => write!(f, "socket error: {e}"),
            Self::Tls(e) => write!(f, "TLS error: {e}"),
            Self::Sink(e) => write!(f, "cannot deliver plaintext: {e}"),
        }
    }
}

impl std::error::Error for NetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect(e) | Self::Io(e) | Self::Sink(e) => Some(e),
            Self::Tls(e) => Some(e),
        }
    }
}
