//! A blocking [`Read`] + [`Write`] stream over any `Read + Write` transport:
//! `rustls::Stream` on lltls's caller-managed buffers.
//!
//! [`Stream`] borrows a [`Pump`] (a connection with its buffers) and the
//! transport (usually a `TcpStream`); [`StreamOwned`] owns both. It is a
//! thin IO shell: the pump says what to do next, the stream does it with
//! the transport. The semantics are `rustls::Stream`'s:
//!
//! - The handshake completes on first use (or with
//!   [`complete_handshake`](Stream::complete_handshake)).
//! - `write` returns once the plaintext is encrypted and the records were
//!   handed to the transport. As in rustls, a transport error while handing
//!   them over does not hide that the plaintext was taken: the bytes stay in
//!   the outgoing buffer and the next call reports the error (or sends them).
//! - `flush` hands over everything pending and flushes the transport.
//! - `read` blocks until plaintext arrives, and returns `Ok(0)` only after
//!   the peer's `close_notify`. An end-of-file without it is an
//!   [`io::ErrorKind::UnexpectedEof`] error: the data may have been truncated.
//! - TLS failures are [`io::ErrorKind::InvalidData`] errors wrapping the
//!   [`Error`] (get it back with `into_inner` and
//!   `downcast`). The fatal alert that goes with them is handed to the
//!   transport before the error is returned.
//!
//! Transport errors (including `WouldBlock` on a non-blocking socket) are
//! returned as they are; `Interrupted` is retried.
//!
//! A server's `read` returns accepted 0-RTT data first, as the beginning of
//! the client's data (rustls's buffered server keeps it apart, in
//! `early_data()`); [`HandshakeInfo::early_data`](crate::HandshakeInfo)
//! tells how much of it there was.
//!
//! # Why a pump, not a connection
//!
//! lltls keeps a connection's bytes in the caller's buffers, not in the
//! connection: a partial record received, TLS bytes not yet written, and
//! plaintext taken from the connection but not yet read. `rustls::Stream` can
//! be created afresh for each call because rustls keeps all of that inside
//! the connection; a lltls `Stream` borrows the [`Pump`] that holds them,
//! which MUST stay with its connection for its whole life.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::io::{self, BufRead, Read, Write};

use crate::conn::{LlConnection, Next, Pump, Side};
use crate::error::Error;
use crate::verify::PeerCertificates;

/// A verifier run by a [`Stream`] when a connection in deferred mode hands
/// out the peer's chain ([`Next::VerifyPeer`]); its result is the verdict.
pub type VerifyFn<'a> = dyn FnMut(&PeerCertificates) -> Result<(), rustls::Error> + Send + 'a;

/// What the stream does after one instruction of the pump.
enum Step {
    /// Go on.
    Continue,
    /// Plaintext waits in the pump.
    Plaintext,
    /// The pump waits for the peer: read the transport.
    Receive,
    /// Both sides closed.
    End,
}

/// A TLS connection and its transport as one blocking `Read + Write` stream.
///
/// See the [module documentation](self) for the semantics.
pub struct Stream<'a, C: Side, T: Read + Write + ?Sized> {
    pump: &'a mut Pump<C>,
    transport: &'a mut T,
    verifier: Option<&'a mut VerifyFn<'a>>,
}

impl<'a, C: Side, T: Read + Write + ?Sized> Stream<'a, C, T> {
    /// A stream over `pump` and `transport`. Does no IO.
    pub fn new(pump: &'a mut Pump<C>, transport: &'a mut T) -> Self {
        Self {
            pump,
            transport,
            verifier: None,
        }
    }

    /// Gives a connection in deferred mode ([`crate::verify`]) its verifier:
    /// the stream runs it where the connection hands out the peer's chain,
    /// and its result is the verdict. A deferred connection without one
    /// rejects the peer (handshake_failure).
    #[must_use]
    pub fn with_verifier(mut self, verifier: &'a mut VerifyFn<'a>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// The connection.
    #[must_use]
    pub fn conn(&self) -> &LlConnection<C> {
        self.pump.conn()
    }

    /// Runs the handshake to completion, if it has not completed yet, and
    /// hands everything pending to the transport.
    ///
    /// `read` and `write` call it first; call it directly to handshake
    /// before there is data to exchange, or to see handshake errors apart
    /// from data errors.
    pub fn complete_handshake(&mut self) -> io::Result<()> {
        while self.conn().is_handshaking() {
            match self.step()? {
                // A server's 0-RTT data, kept for `read`.
                Step::Plaintext => self.buffer_plaintext()?,
                Step::Continue => {}
                Step::Receive => {
                    if !self.receive()? {
                        // A clean end cannot come before the handshake
                        // completed: `receive` reported it as an error.
                        break;
                    }
                }
                Step::End => break,
            }
        }
        self.transmit()
    }

    /// Queues a `close_notify` alert after everything written so far and
    /// hands it to the transport. The peer's `read` then returns `Ok(0)`.
    ///
    /// Reading remains possible (the peer may still send: TLS allows half
    /// closes); writing after this fails with [`io::ErrorKind::BrokenPipe`].
    pub fn send_close_notify(&mut self) -> io::Result<()> {
        self.complete_handshake()?;
        while !self.conn().close_notify_sent() {
            match self.pump.close() {
                Ok(true) => {}
                // rustls offers no `WriteTraffic` while received plaintext
                // waits: take it out of the way (it stays readable).
                Ok(false) => match self.step()? {
                    Step::Plaintext => self.buffer_plaintext()?,
                    Step::Continue => {}
                    // Nothing was in the way and still no close_notify: both
                    // sides closed already.
                    Step::Receive | Step::End => break,
                },
                Err(error) => return Err(self.fail(error)),
            }
        }
        self.transmit()
    }

    /// Closes the connection cleanly: sends `close_notify` (unless
    /// [`send_close_notify`](Self::send_close_notify) already did) and reads
    /// until the peer's, discarding plaintext that arrives meanwhile.
    ///
    /// Returns how many plaintext bytes were discarded. Fails with
    /// [`io::ErrorKind::UnexpectedEof`] when the transport ends before the
    /// peer's `close_notify`.
    pub fn close(&mut self) -> io::Result<usize> {
        self.send_close_notify()?;
        let mut discarded = 0;
        let mut scratch = [0u8; 4096];
        loop {
            match self.read(&mut scratch)? {
                0 => return Ok(discarded),
                num_bytes => discarded += num_bytes,
            }
        }
    }

    /// Does what the pump says next, as far as that is transport IO of our
    /// own (transmitting) or a verdict; says what remains.
    fn step(&mut self) -> io::Result<Step> {
        let next = self.pump.poll().map_err(|error| self.fail(error))?;
        Ok(match next {
            Next::Transmit => {
                self.transmit()?;
                Step::Continue
            }
            Next::Receive => Step::Receive,
            Next::Plaintext => Step::Plaintext,
            // Nothing more comes from the peer, and the stream has nothing
            // to send: as far as reading goes, that is the end.
            Next::Closed | Next::Idle => Step::End,
            Next::VerifyPeer(certificates) => {
                let verdict = match &mut self.verifier {
                    Some(verify) => verify(&certificates),
                    None => Err(rustls::Error::General(
                        "deferred verification, but the stream has no verifier".into(),
                    )),
                };
                if let Err(error) = self.pump.peer_verified(verdict) {
                    return Err(self.fail(error));
                }
                Step::Continue
            }
            // The stream gives its verdict as soon as the chain is handed
            // out; waiting here could only mean the chain went to someone
            // else, who holds the verdict.
            Next::AwaitingVerdict => return Err(self.fail(Error::AwaitingVerdict)),
            // Edge-triggered news the stream has no use for.
            _ => Step::Continue,
        })
    }

    /// Moves the plaintext waiting in the connection into the pump's buffer.
    fn buffer_plaintext(&mut self) -> io::Result<()> {
        match self.pump.buffer_plaintext() {
            Ok(_) => Ok(()),
            Err(error) => Err(self.fail(error)),
        }
    }

    /// Hands every pending TLS byte to the transport and flushes it.
    fn transmit(&mut self) -> io::Result<()> {
        if self.pump.to_transmit().is_empty() {
            return Ok(());
        }
        while !self.pump.to_transmit().is_empty() {
            match self.transport.write(self.pump.to_transmit()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(num_bytes) => self.pump.transmitted(num_bytes),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        loop {
            match self.transport.flush() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }

    /// One transport read. Returns `false` at a clean end (end-of-file
    /// after the peer's `close_notify`).
    fn receive(&mut self) -> io::Result<bool> {
        loop {
            // Never empty when the pump asks for a read, so `Ok(0)` can only
            // mean end-of-file.
            match self.transport.read(self.pump.receive_buffer()) {
                Ok(0) => {
                    return match self.pump.received(0) {
                        Ok(()) => Ok(false),
                        Err(error) => Err(error.into()),
                    }
                }
                Ok(num_bytes) => {
                    self.pump
                        .received(num_bytes)
                        .map_err(|error| self.fail(error))?;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands the fatal alert queued for `error` to the transport (best
    /// effort: the transport may be what failed) and converts the error.
    fn fail(&mut self, error: Error) -> io::Error {
        let _ = self.transmit();
        error.into()
    }

    /// Drives the connection until plaintext is buffered or the peer
    /// closed. Returns `false` at the clean end of the peer's data.
    fn fill_buffer(&mut self) -> io::Result<bool> {
        self.complete_handshake()?;
        while self.pump.buffered_plaintext().is_empty() {
            if self.conn().peer_closed() {
                return Ok(false);
            }
            match self.step()? {
                Step::Plaintext => self.buffer_plaintext()?,
                Step::Continue => {}
                Step::Receive => {
                    if !self.receive()? {
                        return Ok(false);
                    }
                }
                Step::End => return Ok(false),
            }
        }
        Ok(true)
    }
}

impl<C: Side, T: Read + Write + ?Sized> Read for Stream<'_, C, T> {
    /// Reads plaintext, completing the handshake first if needed. Blocks
    /// until at least one byte arrives; `Ok(0)` means the peer sent
    /// `close_notify` (or `buf` is empty).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Also hands pending TLS bytes to the transport before we block on
        // the peer.
        self.complete_handshake()?;
        loop {
            if self.pump.buffered_plaintext().is_empty() && self.conn().peer_closed() {
                return Ok(0);
            }
            match self.step()? {
                // Records copied straight into `buf` where they fit whole.
                Step::Plaintext => match self.pump.read(buf) {
                    // Empty records are allowed by TLS: go on.
                    Ok(0) => {}
                    Ok(num_bytes) => return Ok(num_bytes),
                    Err(error) => return Err(self.fail(error)),
                },
                Step::Continue => {}
                Step::Receive => {
                    if !self.receive()? {
                        return Ok(0);
                    }
                }
                Step::End => return Ok(0),
            }
        }
    }
}

impl<C: Side, T: Read + Write + ?Sized> BufRead for Stream<'_, C, T> {
    /// The plaintext received and not read yet; empty only after the peer's
    /// `close_notify`.
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.fill_buffer()?;
        Ok(self.pump.buffered_plaintext())
    }

    fn consume(&mut self, amt: usize) {
        self.pump.consume_plaintext(amt);
    }
}

impl<C: Side, T: Read + Write + ?Sized> Write for Stream<'_, C, T> {
    /// Encrypts up to [`MAX_ENCRYPT_CHUNK`](crate::MAX_ENCRYPT_CHUNK) bytes
    /// of `buf` and hands the records to the transport, completing the
    /// handshake first if needed.
    ///
    /// rustls encrypts nothing while received plaintext waits to be taken
    /// out of the connection; such plaintext is moved to the pump's buffer
    /// (it stays readable) and encryption retried. After
    /// [`send_close_notify`](Self::send_close_notify) this fails with
    /// [`io::ErrorKind::BrokenPipe`].
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.conn().close_notify_sent() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "cannot write after close_notify",
            ));
        }
        self.complete_handshake()?;
        self.transmit()?;
        loop {
            match self.pump.send(buf) {
                Ok(0) => {}
                Ok(num_bytes) => {
                    // As rustls::Stream: a transport error here must not hide
                    // that `num_bytes` were taken. The records stay in the
                    // pump; the next call sends them or reports the error
                    // again.
                    let _ = self.transmit();
                    return Ok(num_bytes);
                }
                Err(error) => return Err(self.fail(error)),
            }
            match self.step()? {
                Step::Plaintext => self.buffer_plaintext()?,
                Step::Continue => {}
                // Nothing in the way, and still nothing taken: the
                // connection is closed for writing.
                Step::Receive | Step::End => return Ok(0),
            }
        }
    }

    /// Completes the handshake if needed, hands every pending TLS byte to
    /// the transport, and flushes it.
    fn flush(&mut self) -> io::Result<()> {
        self.complete_handshake()?;
        self.transmit()?;
        loop {
            match self.transport.flush() {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }
}

/// A connection (in its [`Pump`]) and its transport, owned together:
/// `rustls::StreamOwned` on lltls.
pub struct StreamOwned<C: Side, T: Read + Write> {
    /// The connection with its buffers.
    pub pump: Pump<C>,
    /// The transport, e.g. a `TcpStream`.
    pub transport: T,
    verifier: Option<Box<VerifyFn<'static>>>,
}

impl<C: Side, T: Read + Write> StreamOwned<C, T> {
    /// A stream over a new connection and `transport`, with new buffers.
    /// Does no IO.
    pub fn new(conn: LlConnection<C>, transport: T) -> Self {
        Self {
            pump: Pump::new(conn),
            transport,
            verifier: None,
        }
    }

    /// See [`Stream::with_verifier`].
    #[must_use]
    pub fn with_verifier(
        mut self,
        verifier: impl FnMut(&PeerCertificates) -> Result<(), rustls::Error> + Send + 'static,
    ) -> Self {
        self.verifier = Some(Box::new(verifier));
        self
    }

    /// The connection.
    #[must_use]
    pub fn conn(&self) -> &LlConnection<C> {
        self.pump.conn()
    }

    /// The transport.
    #[must_use]
    pub fn get_ref(&self) -> &T {
        &self.transport
    }

    /// The transport, mutable. Reading or writing it directly corrupts the
    /// TLS stream.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The pump and the transport.
    pub fn into_parts(self) -> (Pump<C>, T) {
        (self.pump, self.transport)
    }

    /// A borrowing [`Stream`] over the parts.
    pub fn as_stream(&mut self) -> Stream<'_, C, T> {
        let stream = Stream::new(&mut self.pump, &mut self.transport);
        match &mut self.verifier {
            Some(verifier) => stream.with_verifier(&mut **verifier),
            None => stream,
        }
    }

    /// See [`Stream::complete_handshake`].
    pub fn complete_handshake(&mut self) -> io::Result<()> {
        self.as_stream().complete_handshake()
    }

    /// See [`Stream::send_close_notify`].
    pub fn send_close_notify(&mut self) -> io::Result<()> {
        self.as_stream().send_close_notify()
    }

    /// See [`Stream::close`].
    pub fn close(&mut self) -> io::Result<usize> {
        self.as_stream().close()
    }
}

impl<C: Side, T: Read + Write> Read for StreamOwned<C, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.as_stream().read(buf)
    }
}

impl<C: Side, T: Read + Write> BufRead for StreamOwned<C, T> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.as_stream().fill_buffer()?;
        Ok(self.pump.buffered_plaintext())
    }

    fn consume(&mut self, amt: usize) {
        self.pump.consume_plaintext(amt);
    }
}

impl<C: Side, T: Read + Write> Write for StreamOwned<C, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.as_stream().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.as_stream().flush()
    }
}
