//! Sequence diagrams: a connection's events as a mermaid `sequenceDiagram`.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use rustls::ContentType;

use super::record::{Contents, Event, Record};
use super::{Direction, Role};
use crate::error::alert_name;

/// A mermaid `sequenceDiagram` of one connection, in the style of the
/// caller-managed-buffers RFC's diagram.
///
/// Participants: `HTTPClient`, `ClientConnection`, `ClientBuffers`,
/// `ServerBuffers`, `ServerConnection`, `HTTPServer`. Each record is one
/// arrow from the connection that sent it to its buffers, with its size;
/// the socket writes (or reads, on the tracer's side) that carried a flight
/// are arrows between the two buffers, with their sizes; plaintext goes from
/// the application to its connection before the record that carries it, and
/// from the other connection to its application after. The view is the
/// tracer's end (its own socket reads and writes), but the records are the
/// same at both ends.
#[derive(Debug)]
pub struct SequenceDiagram {
    role: Role,
    lines: Vec<String>,
    /// The flight being collected: its direction, its sender-side lines, its
    /// socket lines and its receiver-side lines.
    flight: Option<Flight>,
}

#[derive(Debug)]
struct Flight {
    direction: Direction,
    sender: Vec<String>,
    io: Vec<String>,
    receiver: Vec<String>,
}

struct Names {
    app: &'static str,
    conn: &'static str,
    buffers: &'static str,
}

fn names(direction: Direction) -> (Names, Names) {
    let client = Names {
        app: "HTTPClient",
        conn: "ClientConnection",
        buffers: "ClientBuffers",
    };
    let server = Names {
        app: "HTTPServer",
        conn: "ServerConnection",
        buffers: "ServerBuffers",
    };
    match direction {
        Direction::ClientToServer => (client, server),
        Direction::ServerToClient => (server, client),
    }
}

impl SequenceDiagram {
    /// An empty diagram, drawn from `role`'s end.
    #[must_use]
    pub fn new(role: Role) -> Self {
        Self {
            role,
            lines: Vec::new(),
            flight: None,
        }
    }

    /// Adds one event.
    pub fn push(&mut self, event: &Event) {
        let direction = match event {
            Event::Io { direction, .. } => *direction,
            Event::Record(record) => record.direction,
        };
        if self.flight.as_ref().map(|f| f.direction) != Some(direction) {
            self.end_flight();
            self.flight = Some(Flight {
                direction,
                sender: Vec::new(),
                io: Vec::new(),
                receiver: Vec::new(),
            });
        }
        let role = self.role;
        let Some(flight) = self.flight.as_mut() else {
            return;
        };
        let (sender, receiver) = names(direction);
        match event {
            Event::Io { len, .. } => {
                // The tracing end's own socket call: a write of what it
                // sends, a read of what it receives.
                let call = if direction == role.sending() {
                    "write"
                } else {
                    "read"
                };
                flight.io.push(format!(
                    "  {} ->> {}: socket {call} ({len}B)",
                    sender.buffers, receiver.buffers
                ));
            }
            Event::Record(record) => {
                if let Some(len) = plaintext_len(record) {
                    flight.sender.push(format!(
                        "  {} ->> {}: ApplicationData ({len}B)",
                        sender.app, sender.conn
                    ));
                    flight.receiver.push(format!(
                        "  {} ->> {}: ApplicationData ({len}B)",
                        receiver.conn, receiver.app
                    ));
                }
                flight.sender.push(format!(
                    "  {} ->> {}: {} ({}B)",
                    sender.conn,
                    sender.buffers,
                    arrow_label(record),
                    record.size
                ));
            }
        }
    }

    fn end_flight(&mut self) {
        if let Some(flight) = self.flight.take() {
            if !self.lines.is_empty() {
                self.lines.push(String::new());
            }
            self.lines.extend(flight.sender);
            self.lines.extend(flight.io);
            self.lines.extend(flight.receiver);
        }
    }

    /// The diagram so far, as mermaid source.
    #[must_use]
    pub fn render(&mut self) -> String {
        self.end_flight();
        let mut out = String::from("sequenceDiagram\n");
        out.push_str(match self.role {
            Role::Client => "  %% lltls record trace, socket IO as seen by the client\n",
            Role::Server => "  %% lltls record trace, socket IO as seen by the server\n",
        });
        for participant in [
            "HTTPClient",
            "ClientConnection",
            "ClientBuffers",
            "ServerBuffers",
            "ServerConnection",
            "HTTPServer",
        ] {
            out.push_str("  participant ");
            out.push_str(participant);
            out.push('\n');
        }
        out.push('\n');
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// Plaintext application data a record carries, when known.
fn plaintext_len(record: &Record) -> Option<usize> {
    match record.contents {
        Contents::ApplicationData { len } => Some(len),
        Contents::Tls12Encrypted {
            content_type: ContentType::ApplicationData,
            plaintext_len,
        } => plaintext_len,
        _ => None,
    }
}

/// The RFC diagram's labels: `HS::ClientHello`, `[enc] HS::Finished`,
/// `ChangeCipherSpec`, `[enc] ApplicationData`, `[enc] Alert close_notify`.
fn arrow_label(record: &Record) -> String {
    let prefix = if record.encrypted { "[enc] " } else { "" };
    let what = match &record.contents {
        Contents::Handshake(parts) => parts
            .iter()
            .map(|part| format!("HS::{part}"))
            .collect::<Vec<_>>()
            .join(", "),
        Contents::ApplicationData { .. } => "ApplicationData".to_owned(),
        Contents::Alert { description, .. } => format!("Alert {}", alert_name(*description)),
        Contents::Tls12Encrypted {
            content_type: ContentType::Handshake,
            ..
        } => "HS::Finished".to_owned(),
        Contents::Tls12Encrypted { content_type, .. } => format!("{content_type:?}"),
        other => other.to_string(),
    };
    // Mermaid ends a message at `;` and reads `#` as an entity.
    format!("{prefix}{what}").replace([';', '#'], " ")
}
