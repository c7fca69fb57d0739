//! Record protection for one direction: the AEAD key, the nonce and the
//! additional data, exactly as the RFCs define them.
//!
//! - TLS 1.3 (RFC 8446 §5.2–5.3): nonce = iv XOR the 64-bit sequence number
//!   (left-padded to 12 bytes); additional data = the record header, which
//!   always says `application_data`, `0x0303` and the ciphertext length; the
//!   real content type is the last non-zero byte of the inner plaintext.
//! - TLS 1.2 AES-GCM (RFC 5288 §3): nonce = 4-byte salt || 8-byte explicit
//!   nonce carried at the front of each record; additional data = seq_num ||
//!   type || version || plaintext length (RFC 5246 §6.2.3.3). Like rustls, the
//!   explicit nonce we send is the extracted 8 bytes XOR seq_num, so it never
//!   repeats under one key.
//! - TLS 1.2 ChaCha20-Poly1305 (RFC 7905 §2): nonce as in TLS 1.3, additional
//!   data as in TLS 1.2, no explicit nonce.

use core::ops::Range;

use crate::backend::aead::{
    Aad, Algorithm, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305,
};
use rustls::{AlertDescription, ConnectionTrafficSecrets, ContentType, Error as TlsError};

/// Bytes of a record header: type, version, length.
pub(crate) const HEADER_LEN: usize = 5;
/// Every suite rustls offers has a 16-byte tag.
pub(crate) const TAG_LEN: usize = 16;
/// Most plaintext one record carries (RFC 8446 §5.1, RFC 5246 §6.2.1).
pub(crate) const MAX_FRAGMENT_LEN: usize = 1 << 14;
/// Most ciphertext in a TLS 1.3 record (RFC 8446 §5.2).
pub(crate) const MAX_TLS13_CIPHERTEXT: usize = MAX_FRAGMENT_LEN + 256;
/// Most ciphertext in a TLS 1.2 record (RFC 5246 §6.2.3).
pub(crate) const MAX_TLS12_CIPHERTEXT: usize = MAX_FRAGMENT_LEN + 2048;
const NONCE_LEN: usize = 12;
const GCM_EXPLICIT_NONCE_LEN: usize = 8;

/// The protocol version the keys were negotiated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    Tls12,
    Tls13,
}

impl Version {
    /// Longest ciphertext a record may announce.
    pub(crate) fn max_ciphertext_len(self) -> usize {
        match self {
            Self::Tls13 => MAX_TLS13_CIPHERTEXT,
            Self::Tls12 => MAX_TLS12_CIPHERTEXT,
        }
    }
}

/// Where the plaintext sits in a record, which differs per version and AEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Tls13,
    Tls12Gcm,
    Tls12Chacha,
}

/// A record the peer sent, opened: its content type and where its plaintext
/// is, as offsets into the record (header included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Opened {
    pub(crate) content_type: ContentType,
    pub(crate) plaintext: Range<usize>,
}

/// Why a record could not be opened, with the alert RFC 8446 §5.2 / §6.2
/// asks for.
#[derive(Debug, Clone)]
pub(crate) struct RecordError {
    pub(crate) error: TlsError,
    pub(crate) alert: AlertDescription,
}

impl RecordError {
    pub(crate) fn new(error: impl Into<TlsError>, alert: AlertDescription) -> Self {
        Self {
            error: error.into(),
            alert,
        }
    }
}

/// The keys of one direction of a connection, and the sequence number of
/// the next record under them.
///
/// Nonces are derived from the sequence number, which only this type
/// increments (once per record sealed or opened), so a nonce is never used
/// twice under one key. aws-lc-rs's `TlsRecordSealingKey` would add its own
/// check, but it assumes the first record under a key has sequence number 0,
/// while the keys extracted after a handshake continue from where rustls
/// stopped (a server that sent its tickets starts at 1).
pub(crate) struct Protection {
    key: LessSafeKey,
    iv: [u8; NONCE_LEN],
    layout: Layout,
    seq: u64,
}

impl core::fmt::Debug for Protection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print key material.
        f.debug_struct("Protection")
            .field("layout", &self.layout)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Protection {
    /// Keys from rustls's extracted (or updated) secrets, continuing at `seq`.
    pub(crate) fn new(
        version: Version,
        secrets: &ConnectionTrafficSecrets,
        seq: u64,
    ) -> Result<Self, TlsError> {
        let (algorithm, key, iv): (&'static Algorithm, _, _) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (&CHACHA20_POLY1305, key, iv),
            _ => {
                return Err(TlsError::General(
                    "unsupported AEAD for the in-place record layer".into(),
                ))
            }
        };
        Self::from_parts(version, algorithm, key.as_ref(), iv.as_ref(), seq)
    }

    /// Keys from raw parts: `iv` is 12 bytes (TLS 1.2 GCM: the 4-byte salt,
    /// then the 8 bytes explicit nonces are derived from).
    pub(crate) fn from_parts(
        version: Version,
        algorithm: &'static Algorithm,
        key: &[u8],
        iv: &[u8],
        seq: u64,
    ) -> Result<Self, TlsError> {
        let bad_key = || TlsError::General("bad key material for the in-place record layer".into());
        let key = UnboundKey::new(algorithm, key).map_err(|_| bad_key())?;
        let iv: [u8; NONCE_LEN] = iv.try_into().map_err(|_| bad_key())?;
        let layout = match version {
            Version::Tls13 => Layout::Tls13,
            Version::Tls12 if algorithm == &CHACHA20_POLY1305 => Layout::Tls12Chacha,
            Version::Tls12 => Layout::Tls12Gcm,
        };
        Ok(Self {
            key: LessSafeKey::new(key),
            iv,
            layout,
            seq,
        })
    }

    /// Sequence number of the next record.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Bytes between the header and the plaintext.
    pub(crate) fn prefix_len(&self) -> usize {
        match self.layout {
            Layout::Tls12Gcm => GCM_EXPLICIT_NONCE_LEN,
            Layout::Tls13 | Layout::Tls12Chacha => 0,
        }
    }

    /// Bytes a record adds to its plaintext: header, prefix, TLS 1.3's inner
    /// content type, tag.
    pub(crate) fn overhead(&self) -> usize {
        let inner_type = usize::from(self.layout == Layout::Tls13);
        HEADER_LEN + self.prefix_len() + inner_type + TAG_LEN
    }

    fn nonce(&self, seq: u64) -> [u8; NONCE_LEN] {
        let mut nonce = self.iv;
        for (byte, s) in nonce[NONCE_LEN - 8..].iter_mut().zip(seq.to_be_bytes()) {
            *byte ^= s;
        }
        nonce
    }

    /// Seals one record in place.
    ///
    /// `record` MUST hold `payload_len` bytes of plaintext at offset
    /// `HEADER_LEN + prefix_len()` and be at least `payload_len + overhead()`
    /// long. Writes the header, the explicit nonce (TLS 1.2 GCM), the inner
    /// content type (TLS 1.3) and the tag around it, and returns the record's
    /// length. The caller checked the key's limits: the sequence number must
    /// be below `u64::MAX`.
    pub(crate) fn seal(
        &mut self,
        content_type: ContentType,
        record: &mut [u8],
        payload_len: usize,
    ) -> usize {
        // Callers seal at most one fragment (2^14 bytes); tests seal longer
        // ones to check that the receiver refuses them.
        debug_assert!(record.len() >= payload_len + self.overhead());
        let seq = self.seq;
        // The caller stops at its limit long before; this keeps a wrap
        // impossible even if it did not.
        self.seq = seq
            .checked_add(1)
            .expect("sequence number limit is checked before sealing");
        let nonce = self.nonce(seq);
        let body = HEADER_LEN + self.prefix_len();
        let mut end = body + payload_len;
        // Additional data on the stack: no allocation per record.
        let mut aad = [0; 13];
        let (outer_type, aad_len) = match self.layout {
            Layout::Tls13 => {
                record[end] = u8::from(content_type);
                end += 1;
                aad[..HEADER_LEN].copy_from_slice(&tls13_aad(end - HEADER_LEN + TAG_LEN));
                (ContentType::ApplicationData, HEADER_LEN)
            }
            Layout::Tls12Gcm => {
                record[HEADER_LEN..body].copy_from_slice(&nonce[NONCE_LEN - 8..]);
                aad = tls12_aad(seq, content_type, payload_len);
                (content_type, aad.len())
            }
            Layout::Tls12Chacha => {
                aad = tls12_aad(seq, content_type, payload_len);
                (content_type, aad.len())
            }
        };
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad[..aad_len]),
                &mut record[body..end],
            )
            // Sealing fails only for inputs of gigabytes; a record is 16 KiB.
            .expect("AEAD seal of one record");
        record[end..end + TAG_LEN].copy_from_slice(tag.as_ref());
        end += TAG_LEN;
        let len = u16::try_from(end - HEADER_LEN).expect("a record is under 64 KiB");
        record[0] = u8::from(outer_type);
        record[1..3].copy_from_slice(&[3, 3]);
        record[3..5].copy_from_slice(&len.to_be_bytes());
        end
    }

    /// Opens one record in place. `record` is the whole record, header
    /// included; the caller checked the header (type and length limit).
    pub(crate) fn open(&mut self, record: &mut [u8]) -> Result<Opened, RecordError> {
        let bad_mac = || RecordError::new(TlsError::DecryptError, AlertDescription::BadRecordMac);
        let overflow = || {
            RecordError::new(
                TlsError::PeerSentOversizedRecord,
                AlertDescription::RecordOverflow,
            )
        };
        let seq = self.seq;
        let next_seq = seq.checked_add(1).ok_or_else(|| {
            RecordError::new(
                TlsError::General("receive sequence number exhausted".into()),
                AlertDescription::InternalError,
            )
        })?;
        let nonce = self.nonce(seq);
        let header_type = ContentType::from(record[0]);
        let (header, body) = record.split_at_mut(HEADER_LEN);
        let opened = match self.layout {
            Layout::Tls13 => {
                if body.len() < TAG_LEN {
                    return Err(bad_mac());
                }
                let aad = tls13_aad(body.len());
                let inner_len = self
                    .key
                    .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), body)
                    .map_err(|_| bad_mac())?
                    .len();
                // RFC 8446 §5.4: the whole TLSInnerPlaintext, padding included,
                // is at most 2^14 + 1 bytes.
                if inner_len > MAX_FRAGMENT_LEN + 1 {
                    return Err(overflow());
                }
                // The content type is the last non-zero byte; zeros after it
                // are padding. None at all is unexpected_message (§5.4).
                let Some(type_at) = body[..inner_len].iter().rposition(|&b| b != 0) else {
                    return Err(RecordError::new(
                        rustls::PeerMisbehaved::IllegalTlsInnerPlaintext,
                        AlertDescription::UnexpectedMessage,
                    ));
                };
                Opened {
                    content_type: ContentType::from(body[type_at]),
                    plaintext: HEADER_LEN..HEADER_LEN + type_at,
                }
            }
            Layout::Tls12Gcm => {
                if body.len() < GCM_EXPLICIT_NONCE_LEN + TAG_LEN {
                    return Err(bad_mac());
                }
                let mut nonce = self.iv;
                nonce[NONCE_LEN - 8..].copy_from_slice(&body[..GCM_EXPLICIT_NONCE_LEN]);
                let plain_len = body.len() - GCM_EXPLICIT_NONCE_LEN - TAG_LEN;
                let aad =
                    tls12_aad_with_version(seq, header_type, [header[1], header[2]], plain_len);
                self.key
                    .open_in_place(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::from(aad),
                        &mut body[GCM_EXPLICIT_NONCE_LEN..],
                    )
                    .map_err(|_| bad_mac())?;
                let start = HEADER_LEN + GCM_EXPLICIT_NONCE_LEN;
                Opened {
                    content_type: header_type,
                    plaintext: start..start + plain_len,
                }
            }
            Layout::Tls12Chacha => {
                if body.len() < TAG_LEN {
                    return Err(bad_mac());
                }
                let plain_len = body.len() - TAG_LEN;
                let aad =
                    tls12_aad_with_version(seq, header_type, [header[1], header[2]], plain_len);
                self.key
                    .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), body)
                    .map_err(|_| bad_mac())?;
                Opened {
                    content_type: header_type,
                    plaintext: HEADER_LEN..HEADER_LEN + plain_len,
                }
            }
        };
        // RFC 5246 §6.2.3: TLSCompressed.length (here the plaintext) is at
        // most 2^14 bytes; TLS 1.3 content was bounded above.
        if opened.plaintext.len() > MAX_FRAGMENT_LEN {
            return Err(overflow());
        }
        self.seq = next_seq;
        Ok(opened)
    }
}

/// TLS 1.3 additional data: the header of the record as sent (§5.2).
fn tls13_aad(ciphertext_len: usize) -> [u8; HEADER_LEN] {
    let [hi, lo] = u16::try_from(ciphertext_len)
        .expect("record length fits its u16 header field")
        .to_be_bytes();
    [u8::from(ContentType::ApplicationData), 3, 3, hi, lo]
}

/// TLS 1.2 additional data for a record we send: version 1.2.
fn tls12_aad(seq: u64, content_type: ContentType, len: usize) -> [u8; 13] {
    tls12_aad_with_version(seq, content_type, [3, 3], len)
}

/// TLS 1.2 additional data (RFC 5246 §6.2.3.3): seq_num || type || version ||
/// length. For a received record the version is the header's, so a record
/// with another version fails authentication.
fn tls12_aad_with_version(
    seq: u64,
    content_type: ContentType,
    version: [u8; 2],
    len: usize,
) -> [u8; 13] {
    let mut aad = [0; 13];
    aad[..8].copy_from_slice(&seq.to_be_bytes());
    aad[8] = u8::from(content_type);
    aad[9..11].copy_from_slice(&version);
    aad[11..].copy_from_slice(
        &u16::try_from(len)
            .expect("plaintext length fits its u16 field")
            .to_be_bytes(),
    );
    aad
}
