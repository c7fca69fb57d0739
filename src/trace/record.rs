//! What the tracer reports: events, records and what they carry, each with
//! its one-line text.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use core::fmt;

use rustls::{AlertDescription, ContentType, HandshakeType};

use super::Direction;
use crate::error::alert_name;

/// One event of the connection, in the order observed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// One [`Tracer::observe`] call: a socket write (the tracer's own
    /// direction) or read (the other), of `len` bytes.
    ///
    /// [`Tracer::observe`]: super::Tracer::observe
    Io {
        /// The direction of the bytes.
        direction: Direction,
        /// How many bytes.
        len: usize,
    },
    /// A whole record (or what is left of a broken one).
    Record(Record),
}

/// One TLS record as seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// Which way it went.
    pub direction: Direction,
    /// The content type in its header (`ApplicationData` for every
    /// encrypted TLS 1.3 record).
    pub content_type: ContentType,
    /// Bytes on the wire, 5-byte header included.
    pub size: usize,
    /// Whether its contents were encrypted on the wire.
    pub encrypted: bool,
    /// What it carries (decrypted, for TLS 1.3).
    pub contents: Contents,
}

/// What a record carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Contents {
    /// Handshake messages, or pieces of them.
    Handshake(Vec<HandshakePart>),
    /// A ChangeCipherSpec message.
    ChangeCipherSpec,
    /// An alert.
    Alert {
        /// Its level.
        level: AlertLevel,
        /// Its description.
        description: AlertDescription,
    },
    /// Application data, `len` bytes of plaintext.
    ApplicationData {
        /// Bytes of plaintext.
        len: usize,
    },
    /// A TLS 1.2 record encrypted under keys the tracer does not derive.
    /// The outer type says what it carries; after ChangeCipherSpec a
    /// handshake record is the Finished message (rustls never renegotiates).
    Tls12Encrypted {
        /// The outer content type.
        content_type: ContentType,
        /// Plaintext bytes, from the negotiated suite's overhead, when known.
        plaintext_len: Option<usize>,
    },
    /// An encrypted TLS 1.3 record the tracer could not decrypt.
    NotDecrypted(NotDecrypted),
    /// A heartbeat message (rustls neither sends nor accepts them).
    Heartbeat,
    /// Not a well-formed record or message.
    Malformed(Malformed),
}

/// Why an encrypted TLS 1.3 record was not decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotDecrypted {
    /// The tracer has no key log, or the connection's secrets never arrived
    /// (e.g. rejected 0-RTT data, which the server never derives keys for).
    NoKeys,
    /// No known key opens it: corrupt, forged, or under a key the tracer
    /// could not follow.
    Failed,
}

/// How a record or message is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The header's content type is not a TLS one; the direction is no
    /// longer parsed.
    UnknownContentType(u8),
    /// The header's version is not 3.x; the direction is no longer parsed.
    BadVersion(u16),
    /// The header announces more than a record may hold (2^14 + 2048 bytes
    /// of payload); the direction is no longer parsed.
    Oversized(usize),
    /// The bytes ended in the middle of a record (`size` has what there was).
    Truncated {
        /// The record's full size per its header, when the header was whole.
        expected: Option<usize>,
    },
    /// A payload whose length does not fit its content type.
    BadLength,
    /// A decrypted TLS 1.3 record with no content type (all padding).
    NoInnerType,
    /// A decrypted TLS 1.3 record with this inner content type.
    BadInnerType(u8),
}

/// An alert's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertLevel {
    /// `warning` (1).
    Warning,
    /// `fatal` (2).
    Fatal,
    /// Any other value.
    Unknown(u8),
}

/// A handshake message, or the piece of it one record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandshakePart {
    /// The message type. A ServerHello with the HelloRetryRequest random is
    /// reported as [`HandshakeType::HelloRetryRequest`].
    pub typ: HandshakeType,
    /// Where this piece starts in the message (4-byte header included).
    pub offset: usize,
    /// Bytes of the message in this record.
    pub len: usize,
    /// The message's size (header included); `None` while this record holds
    /// only part of its 4-byte header.
    pub total: Option<usize>,
}

impl HandshakePart {
    /// Whether the record holds the whole message.
    #[must_use]
    pub fn is_whole(&self) -> bool {
        self.offset == 0 && self.total == Some(self.len)
    }
}

impl Record {
    /// The content type of what the record carries: the inner type of a
    /// decrypted TLS 1.3 record, the outer type otherwise.
    #[must_use]
    pub fn inner_type(&self) -> ContentType {
        match &self.contents {
            Contents::Handshake(_) => ContentType::Handshake,
            Contents::ChangeCipherSpec => ContentType::ChangeCipherSpec,
            Contents::Alert { .. } => ContentType::Alert,
            Contents::ApplicationData { .. } => ContentType::ApplicationData,
            Contents::Heartbeat => ContentType::Heartbeat,
            _ => self.content_type,
        }
    }

    /// The handshake message types that start or end in this record, in
    /// order (each once, however it is split).
    #[must_use]
    pub fn handshake_types(&self) -> Vec<HandshakeType> {
        match &self.contents {
            Contents::Handshake(parts) => parts.iter().map(|p| p.typ).collect(),
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for AlertLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Warning => f.write_str("warning"),
            Self::Fatal => f.write_str("fatal"),
            Self::Unknown(level) => write!(f, "level({level})"),
        }
    }
}

impl fmt::Display for HandshakePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.typ)?;
        if !self.is_whole() {
            let end = self.offset + self.len;
            match self.total {
                Some(total) => write!(f, "[{}..{end}/{total}B]", self.offset)?,
                None => write!(f, "[{}..{end}/?B]", self.offset)?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownContentType(t) => write!(f, "not a TLS record (content type {t})"),
            Self::BadVersion(v) => write!(f, "not a TLS record (version {v:#06x})"),
            Self::Oversized(len) => write!(f, "record too large ({len}B payload)"),
            Self::Truncated {
                expected: Some(expected),
            } => write!(f, "truncated record (of {expected}B)"),
            Self::Truncated { expected: None } => f.write_str("truncated record header"),
            Self::BadLength => f.write_str("bad payload length"),
            Self::NoInnerType => f.write_str("no inner content type"),
            Self::BadInnerType(t) => write!(f, "inner content type {t}"),
        }
    }
}

impl fmt::Display for Contents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Handshake(parts) => {
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{part}")?;
                }
                Ok(())
            }
            Self::ChangeCipherSpec => f.write_str("ChangeCipherSpec"),
            Self::Alert { level, description } => {
                write!(f, "Alert {level} {}", alert_name(*description))
            }
            Self::ApplicationData { len } => write!(f, "ApplicationData {len}B"),
            Self::Tls12Encrypted {
                content_type,
                plaintext_len,
            } => match (content_type, plaintext_len) {
                (ContentType::Handshake, _) => f.write_str("Finished"),
                (ContentType::ApplicationData, Some(len)) => write!(f, "ApplicationData {len}B"),
                (other, _) => write!(f, "{other:?}"),
            },
            Self::NotDecrypted(NotDecrypted::NoKeys) => f.write_str("? (no keys)"),
            Self::NotDecrypted(NotDecrypted::Failed) => f.write_str("? (cannot decrypt)"),
            Self::Heartbeat => f.write_str("Heartbeat"),
            Self::Malformed(m) => write!(f, "malformed: {m}"),
        }
    }
}

impl fmt::Display for Record {
    /// One line, e.g. `C>S  Handshake  1460B  ClientHello`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}  {:?}  {}B  {}{}",
            self.direction,
            self.content_type,
            self.size,
            if self.encrypted { "[enc] " } else { "" },
            self.contents
        )
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { direction, len } => write!(f, "{direction}  io  {len}B"),
            Self::Record(record) => write!(f, "{record}"),
        }
    }
}
