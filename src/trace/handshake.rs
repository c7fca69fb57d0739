//! Handshake messages: one direction's handshake bytes cut into messages,
//! and the hellos read for the client random, the suite and the version.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use rustls::{CipherSuite, HandshakeType};

use super::record::HandshakePart;

/// ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest")
/// (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// The hello messages are kept whole to read them; nothing else is kept.
const MAX_CAPTURED_MESSAGE: usize = 1 << 16;

/// One direction's handshake byte stream, cut into messages.
#[derive(Default)]
pub(super) struct HandshakeStream {
    header: [u8; 4],
    /// Bytes of the current message seen so far, header included.
    seen: usize,
    body_len: usize,
    /// The body of a hello message being received.
    capture: Option<Vec<u8>>,
    /// The current ServerHello is a HelloRetryRequest.
    retry: bool,
}

/// A handshake message the tracer acts on.
pub(super) enum Message {
    ClientHello(Vec<u8>),
    ServerHello(Vec<u8>),
    KeyUpdate,
}

impl HandshakeStream {
    pub(super) fn feed(
        &mut self,
        mut data: &[u8],
        parts: &mut Vec<HandshakePart>,
        done: &mut Vec<Message>,
    ) {
        while !data.is_empty() {
            let start = self.seen;
            if self.seen < 4 {
                let take = (4 - self.seen).min(data.len());
                self.header[self.seen..self.seen + take].copy_from_slice(&data[..take]);
                self.seen += take;
                data = &data[take..];
                if self.seen == 4 {
                    self.body_len = usize::from(self.header[1]) << 16
                        | usize::from(self.header[2]) << 8
                        | usize::from(self.header[3]);
                    let typ = HandshakeType::from(self.header[0]);
                    self.retry = false;
                    self.capture =
                        (matches!(typ, HandshakeType::ClientHello | HandshakeType::ServerHello)
                            && self.body_len <= MAX_CAPTURED_MESSAGE)
                            .then(Vec::new);
                }
            }
            if self.seen >= 4 {
                let take = (4 + self.body_len - self.seen).min(data.len());
                if let Some(capture) = &mut self.capture {
                    capture.extend_from_slice(&data[..take]);
                    if self.header[0] == u8::from(HandshakeType::ServerHello)
                        && capture.len() >= 34
                        && capture[2..34] == HRR_RANDOM
                    {
                        self.retry = true;
                    }
                }
                self.seen += take;
                data = &data[take..];
            }
            let typ = match HandshakeType::from(self.header[0]) {
                HandshakeType::ServerHello if self.retry => HandshakeType::HelloRetryRequest,
                typ => typ,
            };
            let total = (self.seen >= 4).then_some(4 + self.body_len);
            parts.push(HandshakePart {
                typ,
                offset: start,
                len: self.seen - start,
                total,
            });
            if total == Some(self.seen) {
                self.seen = 0;
                let body = self.capture.take();
                match (HandshakeType::from(self.header[0]), body) {
                    (HandshakeType::ClientHello, Some(body)) => {
                        done.push(Message::ClientHello(body))
                    }
                    (HandshakeType::ServerHello, Some(body)) => {
                        done.push(Message::ServerHello(body))
                    }
                    (HandshakeType::KeyUpdate, _) => done.push(Message::KeyUpdate),
                    _ => {}
                }
            }
        }
    }
}

/// A bounds-checked reader over a message body: `None` when it runs out.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

/// What a ServerHello says.
pub(super) struct ServerHello {
    pub(super) suite: CipherSuite,
    pub(super) tls13: bool,
}

pub(super) fn parse_server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut r = Reader(body);
    r.take(2 + 32)?; // legacy_version, random
    let session_id_len = r.u8()?;
    r.take(usize::from(session_id_len))?;
    let suite = CipherSuite::from(r.u16()?);
    r.u8()?; // compression
    let mut tls13 = false;
    if let Some(len) = r.u16() {
        let mut extensions = Reader(r.take(usize::from(len))?);
        while let (Some(typ), Some(len)) = (extensions.u16(), extensions.u16()) {
            let data = extensions.take(usize::from(len))?;
            // supported_versions selecting TLS 1.3
            if typ == 0x002b && data == [0x03, 0x04] {
                tls13 = true;
            }
        }
    }
    Some(ServerHello { suite, tls13 })
}
