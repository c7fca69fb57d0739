//! Record framing: one direction's bytes cut into whole records.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::collections::VecDeque;

use rustls::ContentType;

use super::record::{Contents, Event, Malformed, Record};
use super::Direction;

pub(super) const HEADER_LEN: usize = 5;
/// rustls's limit on a record's payload: 2^14 plus 2048 bytes of expansion.
const MAX_PAYLOAD: usize = 16_384 + 2_048;

/// Cuts one direction's bytes into records.
#[derive(Default)]
pub(super) struct Framer {
    /// A record not complete yet (at most one record).
    partial: Vec<u8>,
    /// The framing was lost to garbage: nothing more is parsed.
    broken: bool,
}

impl Framer {
    pub(super) fn push(
        &mut self,
        direction: Direction,
        mut bytes: &[u8],
        out: &mut VecDeque<Item>,
    ) {
        while !bytes.is_empty() && !self.broken {
            if self.partial.len() < HEADER_LEN {
                let take = (HEADER_LEN - self.partial.len()).min(bytes.len());
                self.partial.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if self.partial.len() < HEADER_LEN {
                    return;
                }
                if let Some(malformed) = check_header(&self.partial) {
                    self.broken = true;
                    let size = self.partial.len() + bytes.len();
                    out.push_back(Item::Ready(broken_record(
                        direction,
                        self.partial[0],
                        size,
                        malformed,
                    )));
                    self.partial = Vec::new();
                    return;
                }
            }
            let total = HEADER_LEN + payload_len(&self.partial);
            let take = (total - self.partial.len()).min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.partial.len() == total {
                out.push_back(Item::Record(direction, std::mem::take(&mut self.partial)));
            }
        }
    }

    /// The bytes ended: reports a partial record.
    pub(super) fn finish(&mut self, direction: Direction, out: &mut VecDeque<Item>) {
        if self.partial.is_empty() || self.broken {
            return;
        }
        let expected =
            (self.partial.len() >= HEADER_LEN).then(|| HEADER_LEN + payload_len(&self.partial));
        out.push_back(Item::Ready(broken_record(
            direction,
            self.partial[0],
            self.partial.len(),
            Malformed::Truncated { expected },
        )));
        self.partial = Vec::new();
    }
}

fn payload_len(header: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([header[3], header[4]]))
}

fn check_header(header: &[u8]) -> Option<Malformed> {
    if !(20..=24).contains(&header[0]) {
        return Some(Malformed::UnknownContentType(header[0]));
    }
    if header[1] != 3 {
        return Some(Malformed::BadVersion(u16::from_be_bytes([
            header[1], header[2],
        ])));
    }
    let len = payload_len(header);
    (len > MAX_PAYLOAD).then_some(Malformed::Oversized(len))
}

fn broken_record(
    direction: Direction,
    content_type: u8,
    size: usize,
    malformed: Malformed,
) -> Event {
    Event::Record(Record {
        direction,
        content_type: ContentType::from(content_type),
        size,
        encrypted: false,
        contents: Contents::Malformed(malformed),
    })
}

/// What waits in the tracer's queue, in the order observed.
pub(super) enum Item {
    /// Decided already.
    Ready(Event),
    /// A whole record, to decode in turn.
    Record(Direction, Vec<u8>),
}
