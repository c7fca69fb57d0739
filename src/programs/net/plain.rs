//! The plaintext side of `llserver`'s forward mode.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use core::fmt;
use std::io;

use log::{debug, trace};
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::socket::{Input, Socket};
use super::{NetError, Outbox, TlsConn};
use crate::conn::Side;

/// A plain TCP connection relaying bytes, for `llserver forward`: the
/// plaintext side of the relay.
///
/// Bytes to send wait in its own [`Outbox`]; received bytes go straight into
/// the TLS connection's records ([`read_into_records`](Self::read_into_records)),
/// up to a limit the caller sets for backpressure.
pub struct PlainConn {
    socket: Socket,
    /// Bytes to write; `close` asks for a write shutdown once they are out.
    outbox: Outbox,
    write_shut: bool,
    /// Whether the caller wants input now (its backpressure).
    want_read: bool,
}

/// Size of one read from a [`PlainConn`] into its TLS connection's outbox.
const PLAIN_READ_SIZE: usize = 16 * 1024;

impl PlainConn {
    /// A connection whose non-blocking connect is in progress.
    pub fn connecting(socket: TcpStream) -> Self {
        Self {
            socket: Socket::connecting(socket),
            outbox: Outbox::default(),
            write_shut: false,
            want_read: true,
        }
    }

    registration_methods!();

    /// WRITABLE while bytes wait (or the connect is in progress), READABLE
    /// while input is wanted; READABLE alone when neither, as mio needs one.
    #[must_use]
    pub fn interest(&self) -> Interest {
        let read = !self.socket.eof && self.want_read;
        self.socket.interest(read, !self.outbox.is_empty())
    }

    /// Takes note of one mio event for this socket; completes the connect.
    pub fn ready(&mut self, event: &Event) -> Result<(), NetError> {
        self.socket.ready(event).map(drop)
    }

    /// Bytes to send: push data, or `close` for a write shutdown after it.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.outbox
    }

    /// Bytes waiting to be written.
    #[must_use]
    pub fn backlog(&self) -> usize {
        self.outbox.len()
    }

    /// Whether the peer closed its sending side.
    #[must_use]
    pub fn is_eof(&self) -> bool {
        self.socket.eof
    }

    /// Whether a read might return data the caller wants now.
    #[must_use]
    pub fn needs_drive(&self) -> bool {
        self.can_read() && self.want_read
    }

    fn can_read(&self) -> bool {
        !self.socket.connecting && self.socket.readable && !self.socket.eof
    }

    /// Writes what waits until done or the socket would block; then shuts
    /// down the write half if that was asked for.
    pub fn flush(&mut self) -> Result<(), NetError> {
        if self.socket.connecting || !self.socket.writable {
            return Ok(());
        }
        while !self.outbox.is_empty() {
            match self
                .socket
                .write(self.outbox.pending())
                .map_err(NetError::Io)?
            {
                Some(num_bytes) => {
                    trace!("wrote {num_bytes}B of plaintext");
                    self.outbox.consume(num_bytes);
                }
                None => return Ok(()),
            }
        }
        if self.outbox.is_closing() && !self.write_shut {
            debug!("half-close: shutting down the write side");
            self.write_shut = true;
            self.socket.shutdown_write();
        }
        self.outbox.release();
        Ok(())
    }

    /// Reads straight into the TLS records of `tls` (see
    /// [`TlsConn::send_with`]) while its backlog is under `limit`: no copy
    /// of the plaintext in user space. Before `tls` may send (handshake,
    /// queued plaintext) it reads into `tls`'s outbox as
    /// [`read_into`](Self::read_into) does. Returns how many bytes were read.
    pub fn read_into_records<C: Side>(
        &mut self,
        tls: &mut TlsConn<C>,
        limit: usize,
    ) -> Result<usize, NetError> {
        let mut total = 0;
        while self.can_read() && tls.backlog() < limit {
            let socket = &mut self.socket;
            // End-of-file and `WouldBlock` both fill nothing; the socket
            // remembers which it was.
            let read = tls.send_with(|buf| match socket.read(buf)? {
                Input::Data(num_bytes) => Ok(num_bytes),
                Input::Eof | Input::WouldBlock => Ok(0),
            })?;
            match read {
                None => {
                    let room = limit.saturating_sub(tls.backlog() - tls.outbox().len());
                    return Ok(total + self.read_into(tls.outbox(), room)?);
                }
                Some(Ok(0)) if self.socket.eof => debug!("plaintext peer eof"),
                Some(Ok(0)) => {}
                Some(Ok(num_bytes)) => {
                    trace!("read {num_bytes}B of plaintext into a record");
                    total += num_bytes;
                }
                Some(Err(e)) => return Err(NetError::Io(e)),
            }
        }
        self.want_read = tls.backlog() < limit;
        Ok(total)
    }

    /// Reads into `outbox` until the socket would block, reaches EOF, or
    /// `outbox` holds `limit` bytes. Returns how many bytes were read.
    pub fn read_into(&mut self, outbox: &mut Outbox, limit: usize) -> Result<usize, NetError> {
        let mut total = 0;
        let mut buf = [0u8; PLAIN_READ_SIZE];
        self.want_read = outbox.len() < limit;
        while self.can_read() && outbox.len() < limit {
            match self.socket.read(&mut buf).map_err(NetError::Io)? {
                Input::Data(num_bytes) => {
                    trace!("read {num_bytes}B of plaintext");
                    outbox.push(&buf[..num_bytes]);
                    total += num_bytes;
                }
                Input::Eof => debug!("plaintext peer eof"),
                Input::WouldBlock => {}
            }
        }
        self.want_read = outbox.len() < limit;
        Ok(total)
    }
}

impl fmt::Debug for PlainConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainConn")
            .field("token", &self.socket.token())
            .field("connecting", &self.socket.connecting)
            .field("outbox", &self.outbox.len())
            .field("eof", &self.socket.eof)
            .finish_non_exhaustive()
    }
}
