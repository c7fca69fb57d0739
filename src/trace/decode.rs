//! Decoding one whole record, in order per direction: its contents, and
//! what the handshake messages in it tell the tracer (client random, suite,
//! version, key updates).

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use rustls::{AlertDescription, ContentType};

use super::decrypt::TrafficKey;
use super::framing::HEADER_LEN;
use super::handshake::{parse_server_hello, Message};
use super::record::{AlertLevel, Contents, Malformed, Record};
use super::{Direction, Tracer, Version, Wait};

impl Tracer {
    pub(super) fn decode(
        &mut self,
        direction: Direction,
        record: &[u8],
        give_up: bool,
    ) -> Result<Record, Wait> {
        let content_type = ContentType::from(record[0]);
        let payload = &record[HEADER_LEN..];
        let tls12_encrypted =
            self.version == Version::Tls12 && self.decoders[direction.index()].ccs_seen;
        let (encrypted, contents) = match content_type {
            ContentType::ApplicationData if self.version != Version::Tls12 => {
                (true, self.decrypt(direction, record, give_up)?)
            }
            ContentType::ApplicationData | ContentType::Handshake | ContentType::Alert
                if tls12_encrypted =>
            {
                let contents = Contents::Tls12Encrypted {
                    content_type,
                    plaintext_len: self.tls12_plaintext_len(payload.len()),
                };
                (true, contents)
            }
            ContentType::ApplicationData => {
                (false, Contents::ApplicationData { len: payload.len() })
            }
            ContentType::ChangeCipherSpec => {
                self.decoders[direction.index()].ccs_seen = true;
                if payload == [1] {
                    (false, Contents::ChangeCipherSpec)
                } else {
                    (false, Contents::Malformed(Malformed::BadLength))
                }
            }
            ContentType::Alert => (false, alert(payload)),
            ContentType::Handshake => (false, self.handshake(direction, payload)),
            // The framer lets only 20..=24 through: this is a heartbeat.
            _ => (false, Contents::Heartbeat),
        };
        Ok(Record {
            direction,
            content_type,
            size: record.len(),
            encrypted,
            contents,
        })
    }

    fn tls12_plaintext_len(&self, payload_len: usize) -> Option<usize> {
        let name = self.suite?.as_str()?;
        // AES-GCM sends an 8-byte explicit nonce and a 16-byte tag;
        // ChaCha20-Poly1305 only the tag (RFC 5288, RFC 7905).
        let overhead = if name.contains("CHACHA20_POLY1305") {
            16
        } else if name.contains("_GCM_") {
            24
        } else {
            return None;
        };
        payload_len.checked_sub(overhead)
    }

    /// Feeds handshake bytes to the direction's stream and acts on the
    /// messages that completed.
    fn handshake(&mut self, direction: Direction, data: &[u8]) -> Contents {
        let mut parts = Vec::new();
        let mut done = Vec::new();
        self.decoders[direction.index()]
            .handshake
            .feed(data, &mut parts, &mut done);
        for message in done {
            match message {
                Message::ClientHello(body) => {
                    // The second ClientHello after a HelloRetryRequest has
                    // the same random.
                    if self.client_random.is_none() {
                        self.client_random = body
                            .get(2..34)
                            .and_then(|random| <[u8; 32]>::try_from(random).ok());
                    }
                }
                Message::ServerHello(body) => {
                    if let Some(hello) = parse_server_hello(&body) {
                        self.suite = Some(hello.suite);
                        self.version = if hello.tls13 {
                            Version::Tls13
                        } else {
                            Version::Tls12
                        };
                    }
                }
                Message::KeyUpdate => {
                    // The sender switches keys right after this record.
                    let decoder = &mut self.decoders[direction.index()];
                    decoder.key = decoder.key.as_ref().and_then(TrafficKey::next);
                }
            }
        }
        Contents::Handshake(parts)
    }

    /// Reads a decrypted TLS 1.3 record: content, zero padding, type byte.
    pub(super) fn inner(&mut self, direction: Direction, mut plaintext: Vec<u8>) -> Contents {
        while plaintext.last() == Some(&0) {
            plaintext.pop();
        }
        let Some(inner_type) = plaintext.pop() else {
            return Contents::Malformed(Malformed::NoInnerType);
        };
        match ContentType::from(inner_type) {
            ContentType::Handshake => self.handshake(direction, &plaintext),
            ContentType::Alert => alert(&plaintext),
            ContentType::ApplicationData => Contents::ApplicationData {
                len: plaintext.len(),
            },
            _ => Contents::Malformed(Malformed::BadInnerType(inner_type)),
        }
    }
}

fn alert(payload: &[u8]) -> Contents {
    match payload {
        [level, description] => Contents::Alert {
            level: match level {
                1 => AlertLevel::Warning,
                2 => AlertLevel::Fatal,
                other => AlertLevel::Unknown(*other),
            },
            description: AlertDescription::from(*description),
        },
        _ => Contents::Malformed(Malformed::BadLength),
    }
}
