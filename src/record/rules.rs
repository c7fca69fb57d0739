//! The protocol's values and limits the record layer keeps after the
//! handshake, and the errors (with the alert each is answered with) for
//! the rules a peer can break.

use alloc::vec;

use rustls::{
    AlertDescription, ContentType, Error as TlsError, HandshakeType, InvalidMessage, PeerMisbehaved,
};

use super::cipher::RecordError;

/// Largest handshake message accepted after the handshake, as rustls.
pub(super) const MAX_HANDSHAKE_MESSAGE: usize = 0xffff;

pub(super) const KEY_UPDATE_NOT_REQUESTED: u8 = 0;
pub(super) const KEY_UPDATE_REQUESTED: u8 = 1;

/// An alert's level (RFC 5246 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum AlertLevel {
    Warning = 1,
    Fatal = 2,
}

impl AlertLevel {
    pub(super) fn from_u8(level: u8) -> Option<Self> {
        match level {
            1 => Some(Self::Warning),
            2 => Some(Self::Fatal),
            _ => None,
        }
    }
}

/// Application data or an alert between two fragments of a handshake
/// message (RFC 8446 §5.1).
pub(super) fn interleaved() -> RecordError {
    RecordError::new(
        PeerMisbehaved::MessageInterleavedWithHandshakeMessage,
        AlertDescription::UnexpectedMessage,
    )
}

pub(super) fn empty(content_type: ContentType) -> RecordError {
    debug_assert!(matches!(
        content_type,
        ContentType::Handshake | ContentType::Alert
    ));
    RecordError::new(
        InvalidMessage::InvalidEmptyPayload,
        AlertDescription::UnexpectedMessage,
    )
}

/// A handshake message over rustls's limit (not a record over the RFC's:
/// that is record_overflow). rustls names and answers it the same way.
pub(super) fn too_large() -> RecordError {
    RecordError::new(
        InvalidMessage::HandshakePayloadTooLarge,
        AlertDescription::DecodeError,
    )
}

pub(super) fn unexpected_handshake(got_type: HandshakeType) -> RecordError {
    RecordError::new(
        TlsError::InappropriateHandshakeMessage {
            expect_types: vec![HandshakeType::NewSessionTicket, HandshakeType::KeyUpdate],
            got_type,
        },
        AlertDescription::UnexpectedMessage,
    )
}
