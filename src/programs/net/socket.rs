//! What both connections do with their socket alike: mio registration,
//! readiness remembered across edge-triggered events, completing a
//! non-blocking connect, and reads and writes that sort out `WouldBlock`,
//! `Interrupted` and end-of-file once.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::io::{self, Read, Write};
use std::net::Shutdown;

use log::debug;
use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::NetError;

/// A non-blocking socket and what is known of it.
#[derive(Debug)]
pub(super) struct Socket {
    stream: TcpStream,
    token: Token,
    /// The interest last given to mio, so an unchanged one costs no system
    /// call; `None` when not registered.
    interest: Option<Interest>,
    /// The non-blocking connect has not been seen to complete yet.
    pub(super) connecting: bool,
    /// The last read did not return `WouldBlock` (or none was tried).
    pub(super) readable: bool,
    /// The last write did not return `WouldBlock`.
    pub(super) writable: bool,
    /// A read returned end-of-file: the peer closed its sending side.
    pub(super) eof: bool,
}

/// What one read gave.
pub(super) enum Input {
    Data(usize),
    /// End-of-file.
    Eof,
    /// Nothing now: wait for the next readable event.
    WouldBlock,
}

impl Socket {
    /// An established socket (e.g. one just accepted): readiness unknown
    /// until tried, so assumed.
    pub(super) fn established(stream: TcpStream) -> Self {
        Self {
            stream,
            token: Token(usize::MAX),
            interest: None,
            connecting: false,
            readable: true,
            writable: true,
            eof: false,
        }
    }

    /// A socket whose non-blocking connect is in progress: nothing is read
    /// or written until a writable event shows it completed.
    pub(super) fn connecting(stream: TcpStream) -> Self {
        Self {
            connecting: true,
            readable: false,
            writable: false,
            ..Self::established(stream)
        }
    }

    pub(super) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    pub(super) fn token(&self) -> Token {
        self.token
    }

    /// WRITABLE while the connect is in progress or `write`, READABLE while
    /// `read`. mio needs at least one interest: READABLE alone when
    /// neither, and the event, if any, is only remembered.
    pub(super) fn interest(&self, read: bool, write: bool) -> Interest {
        if self.connecting {
            return Interest::WRITABLE;
        }
        match (read, write) {
            (true, true) => Interest::READABLE | Interest::WRITABLE,
            (false, true) => Interest::WRITABLE,
            _ => Interest::READABLE,
        }
    }

    pub(super) fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        registry.register(&mut self.stream, token, interest)?;
        self.token = token;
        self.interest = Some(interest);
        Ok(())
    }

    pub(super) fn reregister(&mut self, registry: &Registry, interest: Interest) -> io::Result<()> {
        if self.interest != Some(interest) {
            registry.reregister(&mut self.stream, self.token, interest)?;
            self.interest = Some(interest);
        }
        Ok(())
    }

    pub(super) fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        if self.interest.take().is_some() {
            registry.deregister(&mut self.stream)?;
        }
        Ok(())
    }

    /// Starts over with another socket whose connect is in progress, under
    /// the same token.
    pub(super) fn replace(
        &mut self,
        registry: &Registry,
        stream: TcpStream,
        interest: Interest,
    ) -> io::Result<()> {
        self.deregister(registry)?;
        let token = self.token;
        *self = Self::connecting(stream);
        self.register(registry, token, interest)
    }

    /// Takes note of one mio event, and completes a pending connect.
    /// Returns whether the socket is connected.
    pub(super) fn ready(&mut self, event: &Event) -> Result<bool, NetError> {
        // Errors and hang-ups are delivered by the next read or write.
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.readable = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.writable = true;
        }
        if self.connecting {
            if !finish_connect(&self.stream)? {
                self.writable = false;
                return Ok(false);
            }
            self.connecting = false;
            self.readable = true;
            self.writable = true;
        }
        Ok(true)
    }

    /// One read into `buf`, retried on `Interrupted`.
    pub(super) fn read(&mut self, buf: &mut [u8]) -> io::Result<Input> {
        loop {
            return match self.stream.read(buf) {
                Ok(0) => {
                    self.eof = true;
                    self.readable = false;
                    Ok(Input::Eof)
                }
                Ok(num_bytes) => Ok(Input::Data(num_bytes)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    Ok(Input::WouldBlock)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }

    /// One write of `buf`, retried on `Interrupted`: `Ok(None)` when the
    /// socket would block.
    pub(super) fn write(&mut self, buf: &[u8]) -> io::Result<Option<usize>> {
        loop {
            return match self.stream.write(buf) {
                Ok(0) => Err(io::ErrorKind::WriteZero.into()),
                Ok(num_bytes) => Ok(Some(num_bytes)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    Ok(None)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }

    /// Shuts down the write half (TCP FIN).
    pub(super) fn shutdown_write(&self) {
        // The peer may have gone already; nothing to do about it then.
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

/// Checks whether a non-blocking connect completed, as mio documents it:
/// after a writable event, `take_error` must report nothing and `peer_addr`
/// must succeed; `NotConnected` means the connect is still in progress.
fn finish_connect(socket: &TcpStream) -> Result<bool, NetError> {
    match socket.take_error() {
        Ok(None) => {}
        Ok(Some(error)) | Err(error) => return Err(NetError::Connect(error)),
    }
    match socket.peer_addr() {
        Ok(addr) => {
            debug!("connected to {addr}");
            Ok(true)
        }
        Err(error) if error.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(error) => Err(NetError::Connect(error)),
    }
}
