//! The in-place record layer lltls runs after the handshake.
//!
//! rustls runs the handshake. Once it is complete and rustls has nothing left
//! to send, the driver takes the traffic secrets and sequence numbers out of
//! rustls (`dangerous_into_kernel_connection`) and protects records itself:
//! received records are opened where they lie in the caller's `IncomingTls`
//! and their plaintext is lent from there; records to send are sealed where
//! they will be transmitted, in `OutgoingTls`. No copy into a buffer of
//! lltls's, no allocation per record.
//!
//! rustls keeps what only it can do, through its `KernelConnection`: deriving
//! the next secrets on KeyUpdate and storing session tickets. Everything else
//! after the handshake is here: framing, alerts, KeyUpdate messages, key
//! usage limits (rustls no longer tracks them after the switch), and the
//! refusal of renegotiation.

use alloc::format;
mod cipher;
mod control;
mod halves;
mod kernel;
mod post_handshake;
mod receive;
mod rules;
pub(crate) mod secrets;
mod send;
#[cfg(test)]
mod tests;

pub(crate) use cipher::{MAX_FRAGMENT_LEN, MAX_TLS12_CIPHERTEXT, MAX_TLS13_CIPHERTEXT};
pub(crate) use halves::{ReceiveDirection, SendDirection};
pub(crate) use kernel::{Handover, Kernel};
pub(crate) use post_handshake::Event;
pub(crate) use receive::Receiver;
pub(crate) use send::RoomRun;

use rustls::{AlertDescription, Error as TlsError, ProtocolVersion, SupportedCipherSuite};

pub(crate) use cipher::{Protection, Version, HEADER_LEN};
use control::{Control, Shared};
use send::Sender;

use crate::buffer::OutgoingTls;
use crate::buffer::Storage;
use crate::error::Error;

/// rustls stops using a key at this sequence number whatever the suite
/// (`SEQ_SOFT_LIMIT` in its record layer); so does lltls.
const SEQ_SOFT_LIMIT: u64 = 0xffff_ffff_ffff_0000;

/// Which record layer a connection uses after its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RecordLayer {
    /// lltls seals and opens records in place in the caller's buffers
    /// (needs `enable_secret_extraction` in the rustls config).
    #[default]
    InPlace,
    /// rustls's own record layer throughout: each received record's
    /// plaintext is copied into rustls, each sent record built in rustls and
    /// copied out. Its post-handshake log lines are rustls's own.
    Rustls,
}

/// The record layer after the switch, with rustls's kernel connection: the
/// two directions and what they share. Split halves take them apart
/// ([`into_halves`](Self::into_halves)); a whole connection drives both
/// with one `&mut`.
pub(crate) struct InPlace<K> {
    control: Control<K>,
    pub(crate) receiver: Receiver,
    sender: Sender,
}

impl<K: Kernel> InPlace<K> {
    /// Takes over from rustls with its extracted secrets.
    pub(crate) fn new(
        kernel: K,
        secrets: rustls::ExtractedSecrets,
        max_fragment: usize,
        handover: Handover,
    ) -> Result<Self, TlsError> {
        let version = match kernel.version() {
            ProtocolVersion::TLSv1_3 => Version::Tls13,
            ProtocolVersion::TLSv1_2 => Version::Tls12,
            other => {
                return Err(TlsError::General(format!(
                    "in-place record layer does not support {other:?}"
                )))
            }
        };
        let (tx_seq, tx) = secrets.tx;
        let (rx_seq, rx) = secrets.rx;
        let limit = match kernel.suite() {
            SupportedCipherSuite::Tls13(suite) => suite.common.confidentiality_limit,
            SupportedCipherSuite::Tls12(suite) => suite.common.confidentiality_limit,
        };
        Ok(Self {
            receiver: Receiver::new(version, Protection::new(version, &rx, rx_seq)?, handover),
            sender: Sender {
                version,
                tx: Protection::new(version, &tx, tx_seq)?,
                max_fragment,
                limit: limit.min(SEQ_SOFT_LIMIT),
                closed: handover.close_notify_sent,
            },
            control: Control::new(kernel, handover.close_notify_sent),
        })
    }

    /// Lowers the number of records one sending key may protect. At the
    /// limit TLS 1.3 updates its keys and TLS 1.2 closes.
    pub(crate) fn set_key_limit(&mut self, records: u64) {
        self.sender.limit = self.sender.limit.min(records.max(2));
    }

    /// Whether close_notify (or a fatal alert) was sent.
    pub(crate) fn close_notify_sent(&self) -> bool {
        self.sender.closed
    }

    /// Sequence numbers of the next record each way: (send, receive).
    pub(crate) fn sequence_numbers(&self) -> (u64, u64) {
        (self.sender.tx.seq(), self.receiver.rx.seq())
    }

    /// Processes received records at the front of `incoming_tls` (the bytes
    /// left after discarding `receiver.take_consumed()`) until one needs the
    /// caller. Post-handshake messages are handled here; what they ask us to
    /// send is sealed into `outgoing_tls`.
    ///
    /// On error the connection is dead; the fatal alert, when one is due and
    /// may be sent, is already sealed into `outgoing_tls`.
    pub(crate) fn advance<O: Storage>(
        &mut self,
        incoming_tls: &mut [u8],
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<Event, Error> {
        let event = self.receiver.advance(&mut self.control, incoming_tls);
        self.receiver.take_queued_for_sender();
        // What the pass queued goes out now, before the alert of its error.
        self.sender.flush_owed(&mut self.control, outgoing_tls)?;
        event.map_err(|failure| self.sender.end(&mut self.control, failure, outgoing_tls))
    }

    /// Seals up to [`MAX_ENCRYPT_CHUNK`](crate::conn::MAX_ENCRYPT_CHUNK)
    /// bytes of `app_data` into records; returns how many it took (0 once
    /// closed).
    pub(crate) fn encrypt<O: Storage>(
        &mut self,
        app_data: &[u8],
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<usize, Error> {
        self.sender
            .encrypt(&mut self.control, app_data, outgoing_tls)
    }

    /// Seals the application data received, record by record, back to the
    /// peer: each plaintext goes from where it was opened in `incoming`
    /// into the body of a record in `outgoing_tls`, one copy. Stops at the
    /// first record that is not application data (stashed for
    /// [`advance`](Self::advance)), at an incomplete one, and once closed;
    /// returns the plaintext bytes sealed.
    pub(crate) fn echo<O: Storage>(
        &mut self,
        incoming: &mut [u8],
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<usize, Error> {
        let mut echoed = 0;
        while !self.sender.closed {
            let Some(plaintext) = self.receiver.take_app_data(incoming) else {
                break;
            };
            // Only a TLS 1.2 sender at its key limit closes while sealing,
            // and that is an error: nothing taken is left unsealed.
            echoed += self
                .sender
                .encrypt(&mut self.control, &incoming[plaintext], outgoing_tls)?;
        }
        Ok(echoed)
    }

    /// Room for the plaintext of up to `records` consecutive records, as
    /// [`Sender::rooms`].
    pub(crate) fn rooms<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
        records: usize,
    ) -> Result<Option<RoomRun>, Error> {
        self.sender.rooms(&mut self.control, outgoing_tls, records)
    }

    /// Seals the `len` bytes the caller wrote into the rooms, as
    /// [`Sender::seal_rooms`]; returns how many records.
    pub(crate) fn seal_rooms<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
        capacity: usize,
        len: usize,
    ) -> usize {
        self.sender.seal_rooms(outgoing_tls, capacity, len)
    }

    /// Queues close_notify (once).
    pub(crate) fn queue_close_notify<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Error> {
        self.sender
            .queue_close_notify(&mut self.control, outgoing_tls)
    }

    /// Sends a KeyUpdate asking the peer to update too, then uses new send
    /// keys. TLS 1.3 only.
    pub(crate) fn refresh_traffic_keys<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<bool, Error> {
        self.sender
            .refresh_traffic_keys(&mut self.control, outgoing_tls)
    }

    /// Ends the connection for a reason found outside the record layer (the
    /// caller rejected the peer's certificate), sealing `alert` with the
    /// current keys.
    pub(crate) fn send_fatal_alert<O: Storage>(
        &mut self,
        error: TlsError,
        alert: AlertDescription,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Error {
        self.sender
            .send_fatal(&mut self.control, error, alert, outgoing_tls)
    }

    /// The two directions apart, sharing the control state behind a lock.
    pub(crate) fn into_halves(self) -> (SendDirection<K>, ReceiveDirection<K>) {
        let shared = Shared::new(self.control);
        (
            SendDirection::new(self.sender, shared.share()),
            ReceiveDirection::new(self.receiver, shared),
        )
    }
}

/// Most plaintext per record for rustls's `max_fragment_size` setting, which
/// counts the 5-byte header.
pub(crate) fn max_fragment(max_fragment_size: Option<usize>) -> usize {
    max_fragment_size.map_or(MAX_FRAGMENT_LEN, |size| {
        size.saturating_sub(HEADER_LEN).clamp(1, MAX_FRAGMENT_LEN)
    })
}
