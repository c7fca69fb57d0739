//! A blocking [`Read`] + [`Write`] stream over any `Read + Write` transport:
//! `rustls::Stream` on lltls's caller-managed buffers.
//!
//! [`Stream`] borrows a connection, the [`StreamBuffers`] that belong to it,
//! and the transport (usually a `TcpStream`); [`StreamOwned`] owns all three.
//! The semantics are `rustls::Stream`'s:
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
//! # Why the buffers are a separate value
//!
//! lltls keeps a connection's bytes in the caller's buffers, not in the
//! connection: a partial record received, TLS bytes not yet written, and
//! plaintext taken from the connection but not yet read. `rustls::Stream` can
//! be created afresh for each call because rustls keeps all of that inside
//! the connection; a lltls `Stream` therefore borrows its [`StreamBuffers`]
//! as well, and the same buffers MUST be used with the same connection for
//! its whole life. [`StreamOwned`] bundles them.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::io::{self, BufRead, Read, Write};

use crate::{
    AppData, Error, IncomingTls, LlConnection, OutgoingTls, PeerCertificates, Side, Status,
};

/// A verifier run by a [`Stream`] when a connection in deferred mode hands
/// out the peer's chain ([`Status::VerifyPeer`]); its result is the verdict.
pub type VerifyFn<'a> = dyn FnMut(&PeerCertificates) -> Result<(), rustls::Error> + Send + 'a;

/// Everything a [`Stream`] keeps between calls: the connection's TLS buffers
/// and the plaintext received but not read yet.
#[derive(Debug, Default)]
pub struct StreamBuffers {
    incoming_tls: IncomingTls,
    outgoing_tls: OutgoingTls,
    /// Plaintext taken out of the connection but not yet read, from
    /// `plaintext_start`.
    ///
    /// rustls 0.23 lends each record's plaintext only until the next call
    /// into the connection, and a record cannot be taken in part: when the
    /// caller's buffer is smaller than the record, the rest has to be kept
    /// somewhere. That is at most one record (16 KiB), except when `write`
    /// must take received records out of the way first (see
    /// [`Stream::write`]). `BufRead` hands out this buffer too.
    plaintext: Vec<u8>,
    plaintext_start: usize,
}

impl StreamBuffers {
    /// Empty buffers that grow as needed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Buffers over existing TLS buffers, e.g. ones with a capacity chosen
    /// up front.
    pub fn with_tls_buffers(incoming_tls: IncomingTls, outgoing_tls: OutgoingTls) -> Self {
        Self {
            incoming_tls,
            outgoing_tls,
            ..Self::default()
        }
    }

    /// The received TLS bytes not processed yet.
    #[must_use]
    pub fn incoming_tls(&self) -> &IncomingTls {
        &self.incoming_tls
    }

    /// The TLS bytes not handed to the transport yet.
    #[must_use]
    pub fn outgoing_tls(&self) -> &OutgoingTls {
        &self.outgoing_tls
    }

    /// Plaintext received and not read yet.
    #[must_use]
    pub fn buffered_plaintext(&self) -> &[u8] {
        &self.plaintext[self.plaintext_start..]
    }

    fn take_plaintext(&mut self, buf: &mut [u8]) -> usize {
        let available = self.buffered_plaintext();
        let num_bytes = available.len().min(buf.len());
        buf[..num_bytes].copy_from_slice(&available[..num_bytes]);
        self.consume_plaintext(num_bytes);
        num_bytes
    }

    fn consume_plaintext(&mut self, num_bytes: usize) {
        self.plaintext_start = (self.plaintext_start + num_bytes).min(self.plaintext.len());
        if self.plaintext_start == self.plaintext.len() {
            self.plaintext.clear();
            self.plaintext_start = 0;
        }
    }
}

/// What one `process` call asks the stream to do next. Computed while the
/// connection's status borrows the buffers, acted on after.
enum Next {
    Continue,
    Transmit,
    Receive,
    /// The peer's `close_notify` arrived, or both sides closed.
    End,
}

/// A TLS connection and its transport as one blocking `Read + Write` stream.
///
/// See the [module documentation](self) for the semantics.
pub struct Stream<'a, C: Side, T: Read + Write + ?Sized> {
    conn: &'a mut LlConnection<C>,
    buffers: &'a mut StreamBuffers,
    transport: &'a mut T,
    verifier: Option<&'a mut VerifyFn<'a>>,
}

impl<'a, C: Side, T: Read + Write + ?Sized> Stream<'a, C, T> {
    /// A stream over `conn`, its `buffers` and `transport`. Does no IO.
    ///
    /// `buffers` MUST be the ones used with `conn` so far (new ones for a
    /// new connection): they hold the connection's bytes in flight.
    pub fn new(
        conn: &'a mut LlConnection<C>,
        buffers: &'a mut StreamBuffers,
        transport: &'a mut T,
    ) -> Self {
        Self {
            conn,
            buffers,
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
        self.conn
    }

    /// Runs the handshake to completion, if it has not completed yet, and
    /// hands everything pending to the transport.
    ///
    /// `read` and `write` call it first; call it directly to handshake
    /// before there is data to exchange, or to see handshake errors apart
    /// from data errors.
    pub fn complete_handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            match self.process(&mut [])?.1 {
                Next::Continue => {}
                Next::Transmit => self.transmit()?,
                Next::Receive => {
                    if !self.receive()? {
                        // A clean end cannot come before the handshake
                        // completed: `receive` reported it as an error.
                        break;
                    }
                }
                Next::End => break,
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
        while !self.conn.close_notify_sent() {
            let StreamBuffers {
                incoming_tls,
                outgoing_tls,
                ..
            } = &mut *self.buffers;
            match self.conn.queue_close_notify(incoming_tls, outgoing_tls) {
                Ok(true) => {}
                // rustls offers no `WriteTraffic` while received plaintext
                // waits: take it out of the way (it stays readable).
                Ok(false) => match self.process(&mut [])?.1 {
                    Next::Continue => {}
                    Next::Transmit => self.transmit()?,
                    // Nothing was in the way and still no close_notify: both
                    // sides closed already.
                    Next::Receive | Next::End => break,
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

    /// Runs `process` once and acts on what needs no IO: received plaintext
    /// goes to `buf` as far as it fits whole records, the rest to the stash
    /// (all of it when `buf` is empty). Returns the bytes put in `buf`.
    fn process(&mut self, buf: &mut [u8]) -> io::Result<(usize, Next)> {
        let StreamBuffers {
            incoming_tls,
            outgoing_tls,
            plaintext,
            ..
        } = &mut *self.buffers;
        let mut presented = None;
        let result = match self.conn.process(incoming_tls, outgoing_tls) {
            Ok(Status::AppDataAvailable(mut app_data))
            | Ok(Status::EarlyDataAvailable(mut app_data)) => {
                copy_records(&mut app_data, buf, plaintext).map(|n| (n, Next::Continue))
            }
            Ok(Status::HandshakeComplete(_)) | Ok(Status::PeerClosed) => Ok((0, Next::Continue)),
            Ok(Status::MustTransmitTlsData) => Ok((0, Next::Transmit)),
            Ok(Status::NeedsMoreTlsData) => Ok((0, Next::Receive)),
            Ok(Status::Closed) => Ok((0, Next::End)),
            Ok(Status::VerifyPeer(certificates)) => {
                presented = Some(certificates);
                Ok((0, Next::Continue))
            }
            // The stream gives its verdict as soon as the chain is handed
            // out; waiting here could only mean the chain went to someone
            // else, who holds the verdict.
            Ok(Status::AwaitingVerdict) => Err(Error::Config(
                "the connection awaits a verdict given outside the stream",
            )),
            Err(error) => Err(error),
        };
        if let Some(certificates) = presented {
            let verdict = match &mut self.verifier {
                Some(verify) => verify(&certificates),
                None => Err(rustls::Error::General(
                    "deferred verification, but the stream has no verifier".into(),
                )),
            };
            if let Err(error) = self.conn.peer_verified(verdict) {
                return Err(self.fail(error));
            }
        }
        result.map_err(|error| self.fail(error))
    }

    /// Hands every pending TLS byte to the transport and flushes it.
    fn transmit(&mut self) -> io::Result<()> {
        let outgoing_tls = &mut self.buffers.outgoing_tls;
        if outgoing_tls.is_empty() {
            return Ok(());
        }
        while !outgoing_tls.is_empty() {
            match self.transport.write(outgoing_tls.filled()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(num_bytes) => outgoing_tls.discard(num_bytes),
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

    /// One transport read into `incoming_tls`. Returns `false` at a clean
    /// end (end-of-file after the peer's `close_notify`).
    fn receive(&mut self) -> io::Result<bool> {
        loop {
            // `process` made room before it asked for more data, so the
            // slice is not empty, and `Ok(0)` can only mean end-of-file.
            let unfilled = self.buffers.incoming_tls.unfilled();
            match self.transport.read(unfilled) {
                Ok(0) => {
                    return match self.conn.handle_eof() {
                        Ok(()) => Ok(false),
                        Err(error) => Err(error.into()),
                    }
                }
                Ok(num_bytes) => {
                    self.buffers.incoming_tls.advance(num_bytes);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands the fatal alert rustls queued for `error` to the transport (best
    /// effort: the transport may be what failed) and converts the error.
    fn fail(&mut self, error: Error) -> io::Error {
        let _ = self.transmit();
        error.into()
    }

    /// Drives the connection until plaintext is stashed or the peer closed.
    /// Returns `false` at the clean end of the peer's data.
    fn fill_stash(&mut self) -> io::Result<bool> {
        self.complete_handshake()?;
        while self.buffers.buffered_plaintext().is_empty() {
            if self.conn.peer_closed() {
                return Ok(false);
            }
            match self.process(&mut [])?.1 {
                Next::Continue => {}
                Next::Transmit => self.transmit()?,
                Next::Receive => {
                    if !self.receive()? {
                        return Ok(false);
                    }
                }
                Next::End => return Ok(false),
            }
        }
        Ok(true)
    }
}

/// Copies records from `app_data` into `buf` while they fit whole, so the
/// common case (a buffer at least one record long) copies each byte of
/// plaintext once; a first record that does not fit goes to `buf` in part
/// and the rest to `stash`. With an empty `buf`, every record goes to
/// `stash`. Returns the bytes copied into `buf`.
fn copy_records(
    app_data: &mut AppData<'_>,
    buf: &mut [u8],
    stash: &mut Vec<u8>,
) -> Result<usize, Error> {
    if buf.is_empty() {
        while let Some(record) = app_data.next_record() {
            stash.extend_from_slice(record?);
        }
        return Ok(0);
    }
    let mut filled = 0;
    while let Some(len) = app_data.peek_len() {
        let room = buf.len() - filled;
        if len > room && filled > 0 {
            // Leave it for the next read rather than split it needlessly.
            break;
        }
        let Some(record) = app_data.next_record() else {
            break;
        };
        let record = record?;
        let num_bytes = record.len().min(room);
        buf[filled..filled + num_bytes].copy_from_slice(&record[..num_bytes]);
        stash.extend_from_slice(&record[num_bytes..]);
        filled += num_bytes;
        if filled == buf.len() {
            break;
        }
    }
    Ok(filled)
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
            if !self.buffers.buffered_plaintext().is_empty() {
                return Ok(self.buffers.take_plaintext(buf));
            }
            if self.conn.peer_closed() {
                return Ok(0);
            }
            match self.process(buf)? {
                // Empty records are allowed by TLS: go on.
                (0, Next::Continue) => {}
                (num_bytes, Next::Continue) => return Ok(num_bytes),
                (_, Next::Transmit) => self.transmit()?,
                (_, Next::Receive) => {
                    if !self.receive()? {
                        return Ok(0);
                    }
                }
                (_, Next::End) => return Ok(0),
            }
        }
    }
}

impl<C: Side, T: Read + Write + ?Sized> BufRead for Stream<'_, C, T> {
    /// The plaintext received and not read yet; empty only after the peer's
    /// `close_notify`.
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.fill_stash()?;
        Ok(self.buffers.buffered_plaintext())
    }

    fn consume(&mut self, amt: usize) {
        self.buffers.consume_plaintext(amt);
    }
}

impl<C: Side, T: Read + Write + ?Sized> Write for Stream<'_, C, T> {
    /// Encrypts up to [`MAX_ENCRYPT_CHUNK`](crate::MAX_ENCRYPT_CHUNK) bytes
    /// of `buf` and hands the records to the transport, completing the
    /// handshake first if needed.
    ///
    /// rustls encrypts nothing while received plaintext waits to be taken
    /// out of the connection; such plaintext is moved to the
    /// [`StreamBuffers`] (it stays readable) and encryption retried. After
    /// [`send_close_notify`](Self::send_close_notify) this fails with
    /// [`io::ErrorKind::BrokenPipe`].
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.conn.close_notify_sent() {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "cannot write after close_notify",
            ));
        }
        self.complete_handshake()?;
        self.transmit()?;
        loop {
            let StreamBuffers {
                incoming_tls,
                outgoing_tls,
                ..
            } = &mut *self.buffers;
            match self.conn.encrypt(buf, incoming_tls, outgoing_tls) {
                Ok(0) => {}
                Ok(num_bytes) => {
                    // As rustls::Stream: a transport error here must not hide
                    // that `num_bytes` were taken. The records stay in
                    // `outgoing_tls`; the next call sends them or reports
                    // the error again.
                    let _ = self.transmit();
                    return Ok(num_bytes);
                }
                Err(error) => return Err(self.fail(error)),
            }
            match self.process(&mut [])?.1 {
                Next::Continue => {}
                Next::Transmit => self.transmit()?,
                // Nothing in the way, and still nothing taken: the
                // connection is closed for writing.
                Next::Receive | Next::End => return Ok(0),
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

/// A connection, its [`StreamBuffers`] and its transport, owned together:
/// `rustls::StreamOwned` on lltls.
pub struct StreamOwned<C: Side, T: Read + Write> {
    /// The connection.
    pub conn: LlConnection<C>,
    /// Its buffers.
    pub buffers: StreamBuffers,
    /// The transport, e.g. a `TcpStream`.
    pub transport: T,
    verifier: Option<Box<VerifyFn<'static>>>,
}

impl<C: Side, T: Read + Write> StreamOwned<C, T> {
    /// A stream over a new connection and `transport`, with new buffers.
    /// Does no IO.
    pub fn new(conn: LlConnection<C>, transport: T) -> Self {
        Self {
            conn,
            buffers: StreamBuffers::new(),
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

    /// The connection, its buffers and the transport.
    pub fn into_parts(self) -> (LlConnection<C>, StreamBuffers, T) {
        (self.conn, self.buffers, self.transport)
    }

    /// A borrowing [`Stream`] over the parts.
    pub fn as_stream(&mut self) -> Stream<'_, C, T> {
        let stream = Stream::new(&mut self.conn, &mut self.buffers, &mut self.transport);
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
        self.as_stream().fill_stash()?;
        Ok(self.buffers.buffered_plaintext())
    }

    fn consume(&mut self, amt: usize) {
        self.buffers.consume_plaintext(amt);
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
