//! The receiving direction: finds each record in the caller's
//! `IncomingTls`, checks its header and opens it where it lies. What the
//! records mean (messages, alerts) is handled in `post_handshake`.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use rustls::{AlertDescription, ContentType, Error as TlsError};

use super::cipher::{Opened, Protection, RecordError, Version, HEADER_LEN};
use super::kernel::Handover;

/// Warning alerts and renegotiation requests a peer may send before it is
/// cut off, as rustls (after BoringSSL).
const WARNING_ALERTS: u8 = 4;
const RENEGOTIATION_REQUESTS: u8 = 1;

/// A record at the front of the unprocessed bytes that was already opened
/// (its sequence number is spent) but not yet acted on, or the reason the
/// next one could not be opened.
#[derive(Debug)]
enum Stash {
    Opened { len: usize, opened: Opened },
    Failed(RecordError),
}

/// RFC 8446 §4.6.3 lets a peer ask for key updates; BoringSSL and rustls cap
/// how many may arrive without application data in between.
const KEY_UPDATES_WITHOUT_DATA: u8 = 32;

/// Receive state after the handshake.
///
/// Offsets are into the bytes the caller has not yet had discarded: the
/// driver discards [`take_consumed`](Self::take_consumed) bytes from the
/// front of `IncomingTls` before each new pass, so the stashed record is then
/// at offset 0.
#[derive(Debug)]
pub(crate) struct Receiver {
    pub(super) version: Version,
    pub(super) rx: Protection,
    /// Bytes at the front that are done with: records processed or handed out.
    consumed: usize,
    stash: Option<Stash>,
    /// A post-handshake message received in part (RFC 8446 §5.1 lets one
    /// span records). Empty, and holding no memory, almost always.
    pub(super) handshake: Vec<u8>,
    pub(super) peer_closed: bool,
    pub(super) key_updates_left: u8,
    pub(super) warning_alerts_left: u8,
    pub(super) renegotiations_left: u8,
    /// A pass queued a record for the sending direction (a renegotiation
    /// refusal), which it should send without waiting for data of its own.
    pub(super) queued_for_sender: bool,
}

impl Receiver {
    pub(super) fn new(version: Version, rx: Protection, handover: Handover) -> Self {
        Self {
            version,
            rx,
            consumed: 0,
            stash: None,
            handshake: Vec::new(),
            peer_closed: handover.peer_closed,
            key_updates_left: KEY_UPDATES_WITHOUT_DATA,
            // rustls is never shown a post-handshake record (the switch comes
            // first), so renegotiation requests and KeyUpdates start afresh;
            // warnings may arrive during the handshake.
            warning_alerts_left: WARNING_ALERTS.saturating_sub(handover.warning_alerts),
            renegotiations_left: RENEGOTIATION_REQUESTS,
            queued_for_sender: false,
        }
    }

    /// How many bytes at the front the caller MUST discard before the next
    /// pass; resets the count.
    pub(crate) fn take_consumed(&mut self) -> usize {
        core::mem::take(&mut self.consumed)
    }

    /// Marks the `len`-byte record at the front of the unprocessed bytes
    /// done with.
    pub(super) fn consume(&mut self, len: usize) {
        self.consumed += len;
    }

    /// Where unprocessed bytes start in the buffer of this pass.
    pub(super) fn offset(&self) -> usize {
        self.consumed
    }

    /// Puts an opened record back at the front, for the next pass.
    pub(super) fn stash(&mut self, len: usize, opened: Opened) {
        debug_assert!(self.stash.is_none());
        self.stash = Some(Stash::Opened { len, opened });
    }

    /// The next record at `buf[offset()..]`, opened in place: the stashed one,
    /// or the next complete one. `Ok(None)` when a record is incomplete.
    ///
    /// The header is checked before waiting for the rest of the record, so an
    /// oversized record is refused at once (RFC 8446 §5.2: record_overflow).
    pub(super) fn next(&mut self, buf: &mut [u8]) -> Result<Option<(usize, Opened)>, RecordError> {
        match self.stash.take() {
            Some(Stash::Opened { len, opened }) => return Ok(Some((len, opened))),
            Some(Stash::Failed(error)) => return Err(error),
            None => {}
        }
        let rest = &mut buf[self.consumed..];
        if rest.len() < HEADER_LEN {
            return Ok(None);
        }
        let content_type = ContentType::from(rest[0]);
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        self.check_header(content_type, len)?;
        let Some(record) = rest.get_mut(..HEADER_LEN + len) else {
            return Ok(None);
        };
        let opened = self.rx.open(record)?;
        Ok(Some((HEADER_LEN + len, opened)))
    }

    /// The header rules of RFC 8446 §5.1–5.2 and RFC 5246 §6.2 after the
    /// handshake. The legacy version field is not checked: TLS 1.3 says to
    /// ignore it, and in TLS 1.2 it is authenticated as additional data.
    fn check_header(&self, content_type: ContentType, len: usize) -> Result<(), RecordError> {
        let allowed = match self.version {
            // Everything is an encrypted application_data record; a
            // change_cipher_spec after the peer's Finished is refused (§5).
            Version::Tls13 => content_type == ContentType::ApplicationData,
            Version::Tls12 => matches!(
                content_type,
                ContentType::ApplicationData | ContentType::Handshake | ContentType::Alert
            ),
        };
        if !allowed {
            return Err(unexpected(content_type));
        }
        if len > self.version.max_ciphertext_len() {
            return Err(RecordError::new(
                TlsError::PeerSentOversizedRecord,
                AlertDescription::RecordOverflow,
            ));
        }
        Ok(())
    }

    /// Opens the next record for the caller if it is application data, and
    /// marks it consumed; returns where its plaintext is in `buf`.
    ///
    /// Stops (`None`) at anything else, which stays stashed for the driver,
    /// at an incomplete record, and after an error, which is stashed and
    /// reported by the driver's next pass (with its alert).
    pub(crate) fn take_app_data(&mut self, buf: &mut [u8]) -> Option<Range<usize>> {
        loop {
            let (len, opened) = match self.next(buf) {
                Ok(Some(record)) => record,
                Ok(None) => return None,
                Err(error) => {
                    self.stash = Some(Stash::Failed(error));
                    return None;
                }
            };
            if !self.deliverable(&opened) {
                self.stash(len, opened);
                return None;
            }
            let start = self.consumed;
            self.consumed += len;
            self.key_updates_left = KEY_UPDATES_WITHOUT_DATA;
            // Zero-length application data is allowed and carries nothing.
            if !opened.plaintext.is_empty() {
                return Some(start + opened.plaintext.start..start + opened.plaintext.end);
            }
        }
    }

    /// Opens the next record ahead, if it is complete, so its length can be
    /// peeked; it stays stashed.
    pub(crate) fn prefetch(&mut self, buf: &mut [u8]) {
        if self.stash.is_some() {
            return;
        }
        match self.next(buf) {
            Ok(Some((len, opened))) => self.stash(len, opened),
            Ok(None) => {}
            Err(error) => self.stash = Some(Stash::Failed(error)),
        }
    }

    /// Plaintext length of the stashed record, if it is application data the
    /// caller may take.
    pub(crate) fn peek_app_data(&self) -> Option<usize> {
        match &self.stash {
            Some(Stash::Opened { opened, .. })
                if self.deliverable(opened) && !opened.plaintext.is_empty() =>
            {
                Some(opened.plaintext.len())
            }
            _ => None,
        }
    }

    /// Whether `opened` is application data the caller may take now: not
    /// after close_notify, nor between two fragments of a handshake message
    /// (RFC 8446 §5.1), which the driver refuses when it reaches it.
    fn deliverable(&self, opened: &Opened) -> bool {
        opened.content_type == ContentType::ApplicationData
            && self.handshake.is_empty()
            && !self.peer_closed
    }

    /// Whether the peer's close_notify arrived.
    pub(crate) fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// Whether an opened application-data record waits for the caller.
    pub(super) fn has_app_data(&self) -> bool {
        self.peek_app_data().is_some()
    }
}

/// A record of a type not allowed here: unexpected_message.
pub(super) fn unexpected(got_type: ContentType) -> RecordError {
    RecordError::new(
        TlsError::InappropriateMessage {
            expect_types: vec![ContentType::ApplicationData],
            got_type,
        },
        AlertDescription::UnexpectedMessage,
    )
}
