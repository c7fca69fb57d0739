//! The run loop of the crate docs, written once: a connection with its two
//! buffers, which tells its driver what to do next as owned instructions
//! ([`Next`]), so that an IO driver only moves bytes and never copies a
//! borrowed [`Status`] apart before acting on it.
//!
//! A blocking driver over a socket is the whole of this:
//!
//! ```text
//! loop {
//!     match pump.poll()? {
//!         Next::Transmit => { let n = socket.write(pump.to_transmit())?; pump.transmitted(n); }
//!         Next::Receive => { let n = socket.read(pump.receive_buffer())?; pump.received(n)?; }
//!         Next::Plaintext => { let n = pump.read(&mut buf)?; /* use buf[..n] */ }
//!         Next::Closed => break,
//!         Next::Idle => { /* the peer closed: send the rest, then */ pump.close()?; }
//!         _ => {}
//!     }
//!     // Any time: pump.send(data) takes what may be sent now; pump.close().
//! }
//! ```

use alloc::vec::Vec;

use crate::buffer::{copy_bytes, IncomingTls, OutgoingTls, Storage};
use crate::conn::{LlConnection, Side};
use crate::error::Error;
use crate::status::{AppData, HandshakeInfo, Status};
use crate::verify::PeerCertificates;

/// What the driver of a [`Pump`] does next. Owned: act on it while calling
/// the pump's methods.
///
/// `Transmit` comes before anything that would wait for the peer: a driver
/// that does what each instruction says never reads while bytes of ours
/// wait (the peer may need them to answer), and a full-duplex driver may
/// transmit whenever [`Pump::to_transmit`] is not empty.
#[derive(Debug)]
#[non_exhaustive]
#[must_use]
pub enum Next {
    /// Write [`Pump::to_transmit`] to the transport, then call
    /// [`Pump::transmitted`] with how much it took.
    Transmit,
    /// Read from the transport into [`Pump::receive_buffer`], then call
    /// [`Pump::received`] with how much arrived (0: end-of-file).
    Receive,
    /// Plaintext arrived: take it with [`Pump::read`] or
    /// [`Pump::plaintext`] before the next `poll` gives anything else.
    /// Plaintext already in the pump's own buffer (a record `read` split,
    /// or [`Pump::buffer_plaintext`]) is taken with `read` or
    /// [`Pump::consume_plaintext`] only: `plaintext` lends records still in
    /// the connection.
    Plaintext,
    /// The handshake completed; what it negotiated.
    HandshakeComplete(HandshakeInfo),
    /// Deferred mode: verify this chain, then call [`Pump::peer_verified`].
    VerifyPeer(PeerCertificates),
    /// Deferred mode: nothing to do until the verdict.
    AwaitingVerdict,
    /// The peer sent close_notify: no more plaintext comes. Send what is
    /// left, then [`Pump::close`].
    PeerClosed,
    /// Nothing comes from the peer any more (it closed), and nothing waits
    /// to be transmitted: the next move is ours ([`Pump::send`],
    /// [`Pump::close`]). Reading the transport now would wait for nothing.
    Idle,
    /// Both sides closed and everything was transmitted: close the
    /// transport.
    Closed,
}

/// A connection and its buffers, driven by [`Next`] instructions.
pub struct Pump<C: Side, I: Storage = Vec<u8>, O: Storage = Vec<u8>> {
    conn: LlConnection<C>,
    incoming: IncomingTls<I>,
    outgoing: OutgoingTls<O>,
    /// The rest of a record `read` could not fit in the caller's buffer.
    partial: Vec<u8>,
    /// Where `partial` starts: taken from the front without moving it.
    partial_at: usize,
    /// An instruction `read` came upon (it calls `process`, which reports
    /// each event once) to give out at the next `poll`.
    held: Option<Next>,
    /// The transport ended while received bytes waited: their close_notify,
    /// if there is one, makes it a clean end, so the end is reported once
    /// they are processed.
    eof: bool,
}

impl<C: Side> Pump<C> {
    /// Drives `conn` with growable buffers of its own.
    pub fn new(conn: LlConnection<C>) -> Self {
        Self::with_buffers(conn, IncomingTls::new(), OutgoingTls::new())
    }
}

impl<C: Side, I: Storage, O: Storage> Pump<C, I, O> {
    /// Drives `conn` with the caller's buffers (fixed storage, say).
    pub fn with_buffers(
        conn: LlConnection<C>,
        incoming: IncomingTls<I>,
        outgoing: OutgoingTls<O>,
    ) -> Self {
        Self {
            conn,
            incoming,
            outgoing,
            partial: Vec::new(),
            partial_at: 0,
            held: None,
            eof: false,
        }
    }

    /// What to do next.
    pub fn poll(&mut self) -> Result<Next, Error> {
        if self.partial_at < self.partial.len() {
            return Ok(Next::Plaintext);
        }
        let next = match self.held.take() {
            Some(next) => next,
            None => {
                let status = self.conn.process(&mut self.incoming, &mut self.outgoing)?;
                owned(status).unwrap_or(Next::Plaintext)
            }
        };
        let next = match next {
            Next::Receive if self.eof => {
                // Everything received was processed: a clean end, or a
                // truncation (the error).
                self.conn.handle_eof()?;
                Next::Idle
            }
            Next::Receive if !self.conn.wants_read() => Next::Idle,
            next => next,
        };
        // Level-triggered instructions that wait wait for our bytes to
        // reach the peer first.
        Ok(match next {
            Next::Closed | Next::Receive | Next::Idle | Next::AwaitingVerdict
                if !self.outgoing.is_empty() =>
            {
                Next::Transmit
            }
            next => next,
        })
    }

    /// Bytes to transmit, oldest first.
    #[must_use]
    pub fn to_transmit(&self) -> &[u8] {
        self.outgoing.filled()
    }

    /// The transport took the first `num_bytes` of [`to_transmit`](Self::to_transmit).
    pub fn transmitted(&mut self, num_bytes: usize) {
        self.outgoing.discard(num_bytes.min(self.outgoing.len()));
    }

    /// Room to read the transport into; never empty when `poll` said
    /// [`Next::Receive`].
    pub fn receive_buffer(&mut self) -> &mut [u8] {
        self.incoming.unfilled()
    }

    /// How many bytes [`copy_in`](Self::copy_in) takes now (see
    /// [`IncomingTls::copy_room`]); never 0 when `poll` said
    /// [`Next::Receive`].
    #[must_use]
    pub fn copy_room(&self) -> usize {
        self.incoming.copy_room()
    }

    /// `bytes` were read into memory the caller shares between connections
    /// (at most [`copy_room`](Self::copy_room)); they are copied in, and an
    /// empty slice means end-of-file, as in [`received`](Self::received).
    /// During the handshake the buffer grows to exactly what arrived (see
    /// [`IncomingTls::extend_from_slice`]); afterwards
    /// [`receive_buffer`](Self::receive_buffer) saves the copy.
    ///
    /// # Panics
    /// If `bytes` is longer than `copy_room`: that is a caller bug.
    pub fn copy_in(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if bytes.is_empty() {
            return self.received(0);
        }
        self.incoming.extend_from_slice(bytes);
        self.forget_waiting();
        Ok(())
    }

    /// `num_bytes` were read into [`receive_buffer`](Self::receive_buffer);
    /// 0 means end-of-file, an error unless the peer closed first.
    ///
    /// # Panics
    /// If `num_bytes` exceeds what `receive_buffer` gave, as
    /// [`IncomingTls::advance`]: that is a caller bug, not the peer's.
    pub fn received(&mut self, num_bytes: usize) -> Result<(), Error> {
        if num_bytes == 0 {
            if self.incoming.is_empty() {
                return self.conn.handle_eof();
            }
            // Bytes before the end are processed first: see `eof`.
            self.eof = true;
            self.forget_waiting();
            return Ok(());
        }
        self.incoming.advance(num_bytes);
        self.forget_waiting();
        Ok(())
    }

    /// Copies received plaintext into `buf`; how much. 0 when none waits
    /// (or `buf` is empty). A record larger than `buf` is kept for the next
    /// call (one copy of the rest, only then).
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if self.partial_at < self.partial.len() {
            let rest = self.buffered_plaintext();
            let num_bytes = rest.len().min(buf.len());
            copy_bytes(&mut buf[..num_bytes], &rest[..num_bytes]);
            self.consume_plaintext(num_bytes);
            return Ok(num_bytes);
        }
        let (partial, held) = (&mut self.partial, &mut self.held);
        let Some(mut records) =
            plaintext(&mut self.conn, &mut self.incoming, &mut self.outgoing, held)?
        else {
            return Ok(0);
        };
        let mut filled = 0;
        while let Some(len) = records.peek_len() {
            let room = buf.len() - filled;
            if room == 0 || (len > room && filled > 0) {
                // Whole records where they fit; split one only to fill an
                // empty buffer.
                break;
            }
            let record = match records.next_record() {
                Some(Ok(record)) => record,
                // What was copied is the caller's; the error comes again
                // from the next call.
                Some(Err(_)) if filled > 0 => break,
                Some(Err(error)) => return Err(error),
                None => break,
            };
            let num_bytes = record.len().min(room);
            copy_bytes(&mut buf[filled..filled + num_bytes], &record[..num_bytes]);
            partial.extend_from_slice(&record[num_bytes..]);
            filled += num_bytes;
        }
        Ok(filled)
    }

    /// Takes every plaintext record waiting in the connection into the
    /// pump's own buffer (one copy) and returns all that is buffered: for
    /// drivers that hand out a buffer (`BufRead`), and to clear the way for
    /// `send`, which rustls's record layer refuses while received plaintext
    /// waits.
    pub fn buffer_plaintext(&mut self) -> Result<&[u8], Error> {
        let (partial, held) = (&mut self.partial, &mut self.held);
        if let Some(mut records) =
            plaintext(&mut self.conn, &mut self.incoming, &mut self.outgoing, held)?
        {
            while let Some(record) = records.next_record() {
                partial.extend_from_slice(record?);
            }
        }
        Ok(self.buffered_plaintext())
    }

    /// Plaintext in the pump's own buffer, not read yet.
    #[must_use]
    pub fn buffered_plaintext(&self) -> &[u8] {
        &self.partial[self.partial_at..]
    }

    /// The first `num_bytes` of [`buffered_plaintext`](Self::buffered_plaintext)
    /// were used.
    pub fn consume_plaintext(&mut self, num_bytes: usize) {
        self.partial_at = (self.partial_at + num_bytes).min(self.partial.len());
        if self.partial_at == self.partial.len() {
            self.partial.clear();
            self.partial_at = 0;
        }
    }

    /// The received plaintext records themselves, lent where they were
    /// decrypted (with the in-place record layer, in the receive buffer):
    /// no copy. `None` when none waits. Records not taken come back at the
    /// next `poll`.
    pub fn plaintext(&mut self) -> Result<Option<AppData<'_>>, Error> {
        if self.partial_at < self.partial.len() {
            // A record `read` split goes first, through `read`.
            return Ok(None);
        }
        plaintext(
            &mut self.conn,
            &mut self.incoming,
            &mut self.outgoing,
            &mut self.held,
        )
    }

    /// Offers plaintext to send; how much was taken (0 while it may not be
    /// sent: during the handshake, before a verdict, after close).
    pub fn send(&mut self, app_data: &[u8]) -> Result<usize, Error> {
        self.conn
            .encrypt(app_data, &mut self.incoming, &mut self.outgoing)
    }

    /// Queues close_notify; `false` when it cannot be sent yet (during the
    /// handshake): call again later.
    pub fn close(&mut self) -> Result<bool, Error> {
        self.conn
            .queue_close_notify(&mut self.incoming, &mut self.outgoing)
    }

    /// Deferred mode: the verdict on the chain handed out with
    /// [`Next::VerifyPeer`].
    pub fn peer_verified(&mut self, verdict: Result<(), rustls::Error>) -> Result<(), Error> {
        self.forget_waiting();
        self.conn.peer_verified(verdict)
    }

    /// A held instruction to wait (for bytes, for the verdict) is stale once
    /// what it waited for came; events held are kept.
    fn forget_waiting(&mut self) {
        if matches!(self.held, Some(Next::Receive | Next::AwaitingVerdict)) {
            self.held = None;
        }
    }

    /// The connection, for its getters and the rest of its API.
    #[must_use]
    pub fn conn(&self) -> &LlConnection<C> {
        &self.conn
    }

    /// The buffers, for their getters.
    #[must_use]
    pub fn buffers(&self) -> (&IncomingTls<I>, &OutgoingTls<O>) {
        (&self.incoming, &self.outgoing)
    }

    /// The connection and its buffers, for calls the pump does not wrap.
    pub fn parts(
        &mut self,
    ) -> (
        &mut LlConnection<C>,
        &mut IncomingTls<I>,
        &mut OutgoingTls<O>,
    ) {
        (&mut self.conn, &mut self.incoming, &mut self.outgoing)
    }

    /// Gives the connection and its buffers back.
    pub fn into_parts(self) -> (LlConnection<C>, IncomingTls<I>, OutgoingTls<O>) {
        (self.conn, self.incoming, self.outgoing)
    }
}

/// The plaintext waiting in `conn`, if `process` reports some; any other
/// status it reports is kept for the next `poll`.
fn plaintext<'a, C: Side, I: Storage, O: Storage>(
    conn: &'a mut LlConnection<C>,
    incoming: &'a mut IncomingTls<I>,
    outgoing: &mut OutgoingTls<O>,
    held: &mut Option<Next>,
) -> Result<Option<AppData<'a>>, Error> {
    if held.is_some() {
        return Ok(None);
    }
    match conn.process(incoming, outgoing)? {
        Status::AppDataAvailable(records) | Status::EarlyDataAvailable(records) => {
            Ok(Some(records))
        }
        other => {
            *held = owned(other);
            Ok(None)
        }
    }
}

/// `status` as an owned instruction; `None` for plaintext, which stays in
/// the connection until taken.
fn owned(status: Status<'_>) -> Option<Next> {
    Some(match status {
        Status::AppDataAvailable(_) | Status::EarlyDataAvailable(_) => return None,
        // Both ask for the same: transmit what waits, then read (`poll`
        // turns Receive into Transmit while bytes wait).
        Status::MustTransmitTlsData | Status::NeedsMoreTlsData => Next::Receive,
        Status::HandshakeComplete(info) => Next::HandshakeComplete(info),
        Status::VerifyPeer(certificates) => Next::VerifyPeer(certificates),
        Status::AwaitingVerdict => Next::AwaitingVerdict,
        Status::PeerClosed => Next::PeerClosed,
        Status::Closed => Next::Closed,
    })
}
