//! The sending direction: seals each record straight into the caller's
//! `OutgoingTls`, around plaintext that is already there, and sends what
//! the receiving direction owes the peer (KeyUpdate answers, alerts) first.

use log::{debug, trace};
use rustls::{AlertDescription, ContentType, Error as TlsError, HandshakeType};

use super::cipher::{Protection, Version, HEADER_LEN};
use super::control::{Control, Failure};
use super::kernel::Kernel;
use super::rules::{AlertLevel, KEY_UPDATE_NOT_REQUESTED, KEY_UPDATE_REQUESTED};
use crate::buffer::copy_bytes;
use crate::buffer::OutgoingTls;
use crate::buffer::Storage;
use crate::error::Error;

/// Most rooms [`Sender::rooms`] makes at once (1 MiB of plaintext): the
/// buffer holds them all.
pub(crate) const MAX_ROOMS: usize = 64;

/// Where [`Sender::rooms`] put the rooms of consecutive records.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoomRun {
    /// Offset of the first room in `outgoing_tls.unfilled()`.
    pub(crate) at: usize,
    /// Plaintext one room holds.
    pub(crate) capacity: usize,
    pub(crate) count: usize,
    /// From one room to the next: a full record.
    pub(crate) stride: usize,
}

/// Send state after the handshake.
///
/// Every method that may seal takes the [`Control`], whose owed messages go
/// out before anything else, and which learns when we closed.
#[derive(Debug)]
pub(crate) struct Sender {
    pub(super) version: Version,
    pub(super) tx: Protection,
    /// Most plaintext per record: 2^14, or less with rustls's
    /// `max_fragment_size` (which counts the 5-byte header).
    pub(super) max_fragment: usize,
    /// Sequence number at which the keys are worn out: the suite's
    /// confidentiality limit, at most rustls's own soft limit.
    pub(super) limit: u64,
    /// close_notify or a fatal alert went out: nothing more may be sent.
    pub(super) closed: bool,
}

impl Sender {
    /// Whether the record about to be sealed is the last one the keys allow
    /// (so it must be the KeyUpdate or close_notify that ends their use).
    fn keys_worn_out(&self) -> bool {
        self.tx.seq() >= self.limit.saturating_sub(1)
    }

    /// Nothing more is sealed, and the receiving direction knows it.
    fn close<K>(&mut self, control: &mut Control<K>) {
        self.closed = true;
        control.send_closed = true;
    }

    /// Room for the plaintext of one record of up to `len` bytes at the end
    /// of `outgoing_tls`: returns its offset in `outgoing_tls.unfilled()`.
    fn reserve<O: Storage>(
        &self,
        outgoing_tls: &mut OutgoingTls<O>,
        len: usize,
    ) -> Result<usize, Error> {
        outgoing_tls.reserve(len + self.tx.overhead())?;
        Ok(HEADER_LEN + self.tx.prefix_len())
    }

    /// Seals the `len` bytes of plaintext at the offset [`reserve`](Self::reserve)
    /// returned, and commits the record.
    fn seal_reserved<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
        content_type: ContentType,
        len: usize,
    ) -> usize {
        // Every path that seals checks `closed` first and says so to its
        // caller; this is the one place all records pass through.
        debug_assert!(
            !self.closed,
            "a record sealed after close_notify or a fatal alert"
        );
        let seq = self.tx.seq();
        let num_bytes = self.tx.seal(content_type, outgoing_tls.unfilled(), len);
        outgoing_tls.advance(num_bytes);
        trace!("sealed {content_type:?} seq {seq}: {len}B into {num_bytes}B");
        num_bytes
    }

    /// Seals one record holding `plaintext` (at most one fragment).
    fn seal<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
        content_type: ContentType,
        plaintext: &[u8],
    ) -> Result<usize, Error> {
        debug_assert!(plaintext.len() <= self.max_fragment);
        let at = self.reserve(outgoing_tls, plaintext.len())?;
        copy_bytes(
            &mut outgoing_tls.unfilled()[at..at + plaintext.len()],
            plaintext,
        );
        Ok(self.seal_reserved(outgoing_tls, content_type, plaintext.len()))
    }

    /// Seals what the receiving direction queued: renegotiation refusals,
    /// then, if it ended the connection, the fatal alert due (the error is
    /// returned).
    pub(super) fn flush_owed<K, O: Storage>(
        &mut self,
        control: &mut Control<K>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Error> {
        while control.refusals_owed > 0 {
            control.refusals_owed -= 1;
            if self.closed {
                // Nothing follows our close_notify, not even this warning.
                debug!("renegotiation request ignored: we closed");
                continue;
            }
            if self.keys_worn_out() {
                // The last record these keys allow is the close_notify the
                // next call sends (TLS 1.2 has no key update).
                debug!("renegotiation request ignored: the send keys are worn out");
                continue;
            }
            debug!("refusing renegotiation: sending warning alert NoRenegotiation");
            self.send_alert(
                AlertLevel::Warning,
                AlertDescription::NoRenegotiation,
                outgoing_tls,
            )?;
        }
        match control.ended.take() {
            None => Ok(()),
            Some(failure) => Err(self.end(control, failure, outgoing_tls)),
        }
    }

    /// Ends sending for the receiving direction's `failure`: seals its
    /// alert if one is due and may be sent; returns the connection's error.
    pub(super) fn end<K, O: Storage>(
        &mut self,
        control: &mut Control<K>,
        failure: Failure,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Error {
        match failure {
            Failure::Record(error) => {
                self.send_fatal(control, error.error, error.alert, outgoing_tls)
            }
            Failure::Alert(alert) => {
                debug!("peer sent fatal alert {alert:?}");
                self.close(control);
                // RFC 8446 §6.2: nothing more is sent, not even what was
                // sealed before the alert arrived and waits to be
                // transmitted.
                if !outgoing_tls.is_empty() {
                    debug!(
                        "peer sent {alert:?}: dropping {}B not sent yet",
                        outgoing_tls.len()
                    );
                    outgoing_tls.discard(outgoing_tls.len());
                }
                Error::Tls {
                    error: TlsError::AlertReceived(alert),
                    alert_sent: None,
                }
            }
            Failure::Local(error) => {
                self.close(control);
                error
            }
        }
    }

    /// Sends our owed KeyUpdate, then switches to new send keys.
    fn flush_key_update<K: Kernel, O: Storage>(
        &mut self,
        control: &mut Control<K>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Error> {
        if control.key_update_owed && !self.closed {
            control.key_update_owed = false;
            self.send_key_update(control, KEY_UPDATE_NOT_REQUESTED, outgoing_tls)?;
        }
        Ok(())
    }

    fn send_key_update<K: Kernel, O: Storage>(
        &mut self,
        control: &mut Control<K>,
        request: u8,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Error> {
        let message = [u8::from(HandshakeType::KeyUpdate), 0, 0, 1, request];
        self.seal(outgoing_tls, ContentType::Handshake, &message)?;
        let secrets = control.kernel.update_tx_secret().map_err(Error::tls)?;
        self.tx = Protection::new(self.version, &secrets, 0).map_err(Error::tls)?;
        debug!(
            "sent KeyUpdate (update_requested: {}); send keys updated",
            request == KEY_UPDATE_REQUESTED
        );
        Ok(())
    }

    /// Makes sure the next record may be sealed with the current keys: sends
    /// an owed KeyUpdate, and replaces keys that reached their limit (TLS
    /// 1.3) or closes the connection (TLS 1.2, which has no key update).
    fn before_seal<K: Kernel, O: Storage>(
        &mut self,
        control: &mut Control<K>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Error> {
        self.flush_key_update(control, outgoing_tls)?;
        if !self.keys_worn_out() {
            return Ok(());
        }
        match self.version {
            Version::Tls13 => {
                debug!("send keys reached their limit of {} records", self.limit);
                control.key_update_owed = false;
                self.send_key_update(control, KEY_UPDATE_REQUESTED, outgoing_tls)
            }
            Version::Tls12 => {
                log::error!(
                    "traffic keys exhausted, closing connection to prevent security failure"
                );
                self.queue_close_notify(control, outgoing_tls)?;
                Err(Error::EncryptExhausted)
            }
        }
    }

    /// Seals up to [`MAX_ENCRYPT_CHUNK`](crate::conn::MAX_ENCRYPT_CHUNK)
    /// bytes of `app_data` into records; returns how many it took (0 once
    /// closed).
    pub(super) fn encrypt<K: Kernel, O: Storage>(
        &mut self,
        control: &mut Control<K>,
        app_data: &[u8],
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<usize, Error> {
        let mut taken = 0;
        for fragment in app_data.chunks(self.max_fragment) {
            if self.closed {
                break;
            }
            self.before_seal(control, outgoing_tls)?;
            self.seal(outgoing_tls, ContentType::ApplicationData, fragment)?;
            taken += fragment.len();
        }
        Ok(taken)
    }

    /// Room for the plaintext of the next application-data record, inside
    /// `outgoing_tls`: `(offset in outgoing_tls.unfilled(), capacity)`, or
    /// `None` once closed. Seal it with [`seal_rooms`](Self::seal_rooms).
    pub(super) fn room<K: Kernel, O: Storage>(
        &mut self,
        control: &mut Control<K>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<Option<(usize, usize)>, Error> {
        if self.closed {
            return Ok(None);
        }
        self.before_seal(control, outgoing_tls)?;
        if self.closed {
            return Ok(None);
        }
        let capacity = self.max_fragment;
        let at = self.reserve(outgoing_tls, capacity)?;
        Ok(Some((at, capacity)))
    }

    /// Room for the plaintext of up to `records` consecutive records, laid
    /// out as they will be sealed: the offset of the first room in
    /// `outgoing_tls.unfilled()`, each room's capacity, how many rooms, and
    /// the distance from one room to the next (a full record). Fewer rooms
    /// than asked when the keys allow fewer records before they must be
    /// replaced: no KeyUpdate can fall between them.
    pub(super) fn rooms<K: Kernel, O: Storage>(
        &mut self,
        control: &mut Control<K>,
        outgoing_tls: &mut OutgoingTls<O>,
        records: usize,
    ) -> Result<Option<RoomRun>, Error> {
        let Some((at, capacity)) = self.room(control, outgoing_tls)? else {
            return Ok(None);
        };
        // `room` replaced worn-out keys: the first record may be sealed. The
        // last one the keys allow must be a KeyUpdate or close_notify.
        let left = self.limit.saturating_sub(1).saturating_sub(self.tx.seq());
        let wanted = records
            .min(MAX_ROOMS)
            .min(usize::try_from(left).unwrap_or(usize::MAX))
            .max(1);
        let stride = capacity + self.tx.overhead();
        // `room` reserved the first; the whole run at once, so none moves.
        // Storage that cannot grow that far holds as many as fit.
        let count = match self.reserve(outgoing_tls, stride * (wanted - 1) + capacity) {
            Ok(_) => wanted,
            Err(_) => (outgoing_tls.unfilled().len() / stride).clamp(1, wanted),
        };
        Ok(Some(RoomRun {
            at,
            capacity,
            count,
            stride,
        }))
    }

    /// Seals the `len` bytes the caller wrote into the rooms
    /// [`rooms`](Self::rooms) made (of `capacity` each), filled in order:
    /// full records, then the rest in one shorter record. Returns how many
    /// records.
    pub(super) fn seal_rooms<O: Storage>(
        &mut self,
        outgoing_tls: &mut OutgoingTls<O>,
        capacity: usize,
        mut len: usize,
    ) -> usize {
        debug_assert!(capacity <= self.max_fragment);
        let mut sealed = 0;
        while len > 0 {
            let part = len.min(capacity);
            // Each full record ends where the next room's record starts.
            self.seal_reserved(outgoing_tls, ContentType::ApplicationData, part);
            len -= part;
            sealed += 1;
        }
        sealed
    }

    /// Queues close_notify (once).
    pub(super) fn queue_close_notify<K: Kernel, O: Storage>(
        &mut self,
        control: &mut Control<K>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Error> {
        if self.closed {
            return Ok(());
        }
        self.flush_key_update(control, outgoing_tls)?;
        debug!("sending warning alert CloseNotify");
        self.send_alert(
            AlertLevel::Warning,
            AlertDescription::CloseNotify,
            outgoing_tls,
        )?;
        self.close(control);
        Ok(())
    }

    /// Sends a KeyUpdate asking the peer to update too, then uses new send
    /// keys; `false` when it cannot (TLS 1.2, or closed).
    pub(super) fn refresh_traffic_keys<K: Kernel, O: Storage>(
        &mut self,
        control: &mut Control<K>,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<bool, Error> {
        // TLS 1.2 has no KeyUpdate.
        if self.version != Version::Tls13 || self.closed {
            return Ok(false);
        }
        // An owed answer goes first, as rustls sends it: the peer asked
        // for update_not_requested (RFC 8446 §4.6.3).
        self.flush_key_update(control, outgoing_tls)?;
        self.send_key_update(control, KEY_UPDATE_REQUESTED, outgoing_tls)?;
        Ok(true)
    }

    fn send_alert<O: Storage>(
        &mut self,
        level: AlertLevel,
        description: AlertDescription,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Result<(), Error> {
        self.seal(
            outgoing_tls,
            ContentType::Alert,
            &[level as u8, u8::from(description)],
        )?;
        Ok(())
    }

    /// Sends the fatal `alert` for `error` if anything may still be sent,
    /// and builds the connection's error naming it.
    pub(super) fn send_fatal<K, O: Storage>(
        &mut self,
        control: &mut Control<K>,
        error: TlsError,
        alert: AlertDescription,
        outgoing_tls: &mut OutgoingTls<O>,
    ) -> Error {
        let unsent = if self.closed {
            Some("nothing may follow our close_notify or fatal alert")
        } else if self.tx.seq() == u64::MAX {
            Some("the sequence numbers are used up")
        } else if self
            .send_alert(AlertLevel::Fatal, alert, outgoing_tls)
            .is_err()
        {
            Some("no room for it in OutgoingTls")
        } else {
            None
        };
        self.close(control);
        match unsent {
            None => debug!("TLS error: {error}; sent fatal alert {alert:?}"),
            Some(why) => debug!("TLS error: {error}; no alert sent: {why}"),
        }
        Error::Tls {
            error,
            alert_sent: unsent.is_none().then_some(alert),
        }
    }
}
