//! Record framing while rustls runs the record layer (`framing.rs`): each
//! rule with hand-built records, the RFC's alert in the clear while this side
//! still sends in the clear, and the alerts rustls leaves out.

use alloc::vec;
use alloc::vec::Vec;

use std::sync::Arc;

use crate::backend::provider::cipher_suite;
use rustls::pki_types::ServerName;
use rustls::{AlertDescription, Error as TlsError, SupportedCipherSuite};

use crate::buffer::{IncomingTls, OutgoingTls};
use crate::conn::{LlClientConnection, LlServerConnection};
use crate::error::Error;
use crate::status::Status;

const TLS13: SupportedCipherSuite = cipher_suite::TLS13_AES_128_GCM_SHA256;
const TLS12: SupportedCipherSuite = cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;

struct End<C: crate::conn::Side> {
    conn: crate::conn::LlConnection<C>,
    incoming: IncomingTls,
    outgoing: OutgoingTls,
}

impl<C: crate::conn::Side> End<C> {
    fn new(conn: crate::conn::LlConnection<C>) -> Self {
        Self {
            conn,
            incoming: IncomingTls::new(),
            outgoing: OutgoingTls::new(),
        }
    }

    /// Runs `process` until it waits; the error that ended it, if one did.
    fn pump(&mut self) -> Option<Error> {
        loop {
            match self.conn.process(&mut self.incoming, &mut self.outgoing) {
                Ok(Status::NeedsMoreTlsData | Status::MustTransmitTlsData | Status::Closed) => {
                    return None
                }
                Ok(_) => {}
                Err(error) => return Some(error),
            }
        }
    }

    fn deliver(&mut self, bytes: &[u8]) {
        self.incoming.reserve(bytes.len() + 20_000).unwrap();
        self.incoming.unfilled()[..bytes.len()].copy_from_slice(bytes);
        self.incoming.advance(bytes.len());
    }

    /// Takes `bytes` the way a driver reads a socket: into the room
    /// `process` made, as much as fits (at most `piece` at a time), running
    /// `process` after each read. The error that ended it, if one did.
    fn read_in(&mut self, bytes: &[u8], piece: usize) -> Option<Error> {
        self.feed(bytes, piece, false)
    }

    /// Takes `bytes` the way a driver reading into memory it shares between
    /// connections does: at most `piece` (and `copy_room`) at a time, copied
    /// in with `extend_from_slice`, running `process` after each.
    fn copy_in(&mut self, bytes: &[u8], piece: usize) -> Option<Error> {
        self.feed(bytes, piece, true)
    }

    fn feed(&mut self, bytes: &[u8], piece: usize, copy_in: bool) -> Option<Error> {
        let mut fed = 0;
        loop {
            if let Some(error) = self.pump() {
                return Some(error);
            }
            if fed == bytes.len() {
                return None;
            }
            let room = if copy_in {
                self.incoming.copy_room()
            } else {
                self.incoming.unfilled().len()
            };
            assert!(room > 0, "room for the next read");
            let n = room.min(piece).min(bytes.len() - fed);
            if copy_in {
                self.incoming.extend_from_slice(&bytes[fed..fed + n]);
            } else {
                self.incoming.unfilled()[..n].copy_from_slice(&bytes[fed..fed + n]);
                self.incoming.advance(n);
            }
            fed += n;
        }
    }

    /// Everything this side put on the wire since the last call.
    fn sent(&mut self) -> Vec<u8> {
        let bytes = self.outgoing.filled().to_vec();
        self.outgoing.discard(bytes.len());
        bytes
    }
}

fn client(suite: SupportedCipherSuite) -> End<rustls::client::UnbufferedClientConnection> {
    let (config, _) = crate::testing::configs(suite);
    let name = ServerName::try_from("localhost").unwrap();
    End::new(LlClientConnection::new(Arc::new(config), name).unwrap())
}

fn server(suite: SupportedCipherSuite) -> End<rustls::server::UnbufferedServerConnection> {
    let (_, config) = crate::testing::configs(suite);
    End::new(LlServerConnection::new(Arc::new(config)).unwrap())
}

/// A real ClientHello record for `suite`.
fn client_hello(suite: SupportedCipherSuite) -> Vec<u8> {
    let mut client = client(suite);
    assert!(client.pump().is_none());
    let hello = client.sent();
    assert_eq!(hello[0], 22);
    hello
}

/// The plaintext fatal alert record lltls sends.
fn plaintext_alert(alert: AlertDescription) -> Vec<u8> {
    vec![21, 3, 3, 0, 2, 2, u8::from(alert)]
}

fn ended_with(error: Option<Error>) -> (TlsError, Option<AlertDescription>) {
    match error {
        Some(Error::Tls { error, alert_sent }) => (error, alert_sent),
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[test]
fn unknown_content_type_is_unexpected_message() {
    let mut server = server(TLS13);
    server.deliver(&[99, 3, 3, 0, 1, 0]);
    let (error, alert) = ended_with(server.pump());
    assert!(matches!(error, TlsError::InvalidMessage(_)), "{error:?}");
    assert_eq!(alert, Some(AlertDescription::UnexpectedMessage));
    assert_eq!(
        server.sent(),
        plaintext_alert(AlertDescription::UnexpectedMessage)
    );
}

/// RFC 5246 §6.2.1 / RFC 8446 §5.1: plaintext is at most 2^14 bytes; the
/// header alone decides, before the rest arrives.
#[test]
fn oversized_plaintext_record_is_record_overflow_from_its_header() {
    for (suite, len) in [(TLS13, 16_385u16), (TLS12, 17_000), (TLS12, 65_535)] {
        let mut server = server(suite);
        let [hi, lo] = len.to_be_bytes();
        server.deliver(&[22, 3, 1, hi, lo, 1, 0, 0]);
        let (error, alert) = ended_with(server.pump());
        assert_eq!(error, TlsError::PeerSentOversizedRecord, "{len}");
        assert_eq!(alert, Some(AlertDescription::RecordOverflow));
        assert_eq!(
            server.sent(),
            plaintext_alert(AlertDescription::RecordOverflow)
        );
    }
    // Exactly 2^14 waits for the rest.
    let mut server = server(TLS13);
    server.deliver(&[22, 3, 1, 0x40, 0, 1]);
    assert!(server.pump().is_none());
}

/// The server's first flight up to its ServerHello: the client has only
/// sent its ClientHello, so it still sends in the clear.
fn client_after_server_hello() -> End<rustls::client::UnbufferedClientConnection> {
    let mut client = client(TLS13);
    assert!(client.pump().is_none());
    let hello = client.sent();
    let mut server = server(TLS13);
    server.deliver(&hello);
    assert!(server.pump().is_none());
    let flight = server.sent();
    let hello_len = 5 + usize::from(u16::from_be_bytes([flight[3], flight[4]]));
    assert_eq!(flight[0], 22, "ServerHello first");
    client.deliver(&flight[..hello_len]);
    assert!(client.pump().is_none());
    client
}

/// RFC 8446 §5 / RFC 5246 §7.1: a change_cipher_spec is one byte 0x01.
/// Before anything is negotiated the server still sends in the clear: the
/// RFC's unexpected_message goes out (rustls would say decode_error).
#[test]
fn malformed_change_cipher_spec_is_unexpected_message() {
    for ccs in [&[20u8, 3, 3, 0, 2, 1, 1][..], &[20, 3, 3, 0, 1, 2]] {
        let mut server = server(TLS13);
        server.deliver(ccs);
        let (error, alert) = ended_with(server.pump());
        assert_eq!(
            error,
            TlsError::InvalidMessage(rustls::InvalidMessage::InvalidCcs)
        );
        assert_eq!(alert, Some(AlertDescription::UnexpectedMessage));
        assert_eq!(
            server.sent(),
            plaintext_alert(AlertDescription::UnexpectedMessage)
        );
    }
}

/// After the ServerHello a TLS 1.3 client's keys have changed: lltls has
/// none to seal with, and leaves a malformed change_cipher_spec to rustls,
/// which seals its own unexpected_message.
#[test]
fn malformed_change_cipher_spec_after_the_keys_change_is_left_to_rustls() {
    let mut client = client_after_server_hello();
    let compat_ccs = client.sent();
    assert_eq!(compat_ccs, [20, 3, 3, 0, 1, 1]);
    client.deliver(&[20, 3, 3, 0, 1, 2]);
    let (error, _) = ended_with(client.pump());
    assert_eq!(
        error,
        TlsError::PeerMisbehaved(rustls::PeerMisbehaved::IllegalMiddleboxChangeCipherSpec)
    );
    let sent = client.sent();
    assert_eq!(sent[0], 23, "rustls's alert, encrypted: {sent:?}");
}

/// RFC 8446 §5.2: more than 2^14 + 256 bytes of TLS 1.3 ciphertext is
/// record_overflow. The client's keys have changed and lltls holds none, so
/// the record goes to rustls, which opens it and refuses it with an alert it
/// seals (bad_record_mac here: the bytes are not a record of the server's);
/// refusing it silently would leave the peer without an answer.
#[test]
fn oversized_tls13_ciphertext_during_the_handshake_is_answered_by_rustls() {
    let mut client = client_after_server_hello();
    let _compat_ccs = client.sent();
    let len = 16_384 + 257;
    let mut record = vec![23, 3, 3];
    record.extend((len as u16).to_be_bytes());
    record.extend(vec![0x5a; len]);
    client.deliver(&record);
    let (error, alert) = ended_with(client.pump());
    assert_eq!(error, TlsError::DecryptError);
    assert_eq!(alert, Some(AlertDescription::BadRecordMac));
    let sent = client.sent();
    assert_eq!(sent[0], 23, "an encrypted alert: {sent:?}");
    assert_eq!(sent.len(), 5 + 2 + 1 + 16, "one sealed alert");
}

/// Splits a handshake record in two records of the same type.
fn split(record: &[u8], at: usize) -> (Vec<u8>, Vec<u8>) {
    let body = &record[5..];
    let header = |len: usize| {
        let [hi, lo] = (len as u16).to_be_bytes();
        vec![record[0], record[1], record[2], hi, lo]
    };
    let mut first = header(at);
    first.extend_from_slice(&body[..at]);
    let mut second = header(body.len() - at);
    second.extend_from_slice(&body[at..]);
    (first, second)
}

/// rustls ends these without any alert; lltls sends the one RFC 8446 §5.1
/// requires (unexpected_message) while it still sends in the clear.
#[test]
fn records_between_fragments_of_a_handshake_message_get_unexpected_message() {
    let hello = client_hello(TLS13);
    for between in [
        &[20u8, 3, 3, 0, 1, 1][..], // change_cipher_spec
        &[21, 3, 3, 0, 2, 1, 0],    // an alert
    ] {
        let (first, second) = split(&hello, 100);
        let mut server = server(TLS13);
        server.deliver(&first);
        server.deliver(between);
        server.deliver(&second);
        let (error, alert) = ended_with(server.pump());
        assert_eq!(
            alert,
            Some(AlertDescription::UnexpectedMessage),
            "{error:?}"
        );
        assert_eq!(
            server.sent(),
            plaintext_alert(AlertDescription::UnexpectedMessage)
        );
    }
}

/// A fragmented ClientHello with nothing in between is fine.
#[test]
fn fragmented_client_hello_is_accepted() {
    let hello = client_hello(TLS13);
    let (first, second) = split(&hello, 100);
    let mut server = server(TLS13);
    server.deliver(&first);
    server.deliver(&second);
    assert!(server.pump().is_none());
    assert_eq!(server.sent()[0], 22, "ServerHello");
}

/// Once this side sends encrypted records it has no keys to seal an alert
/// with before the in-place layer takes over: a violation rustls accepts
/// ends the connection with no alert, and the error says so. (A plaintext
/// handshake record over 2^14 bytes after the keys changed.)
#[test]
fn no_alert_once_this_side_encrypts_and_rustls_would_accept() {
    let mut server = server(TLS13);
    server.deliver(&client_hello(TLS13));
    assert!(server.pump().is_none());
    let flight = server.sent();
    assert!(flight.contains(&23), "the server's flight is encrypted");
    let len = (16_384u16 + 300).to_be_bytes();
    server.deliver(&[22, 3, 3, len[0], len[1]]);
    let (error, alert) = ended_with(server.pump());
    assert_eq!(error, TlsError::PeerSentOversizedRecord);
    assert_eq!(alert, None);
    assert!(server.sent().is_empty());
}

/// The same oversized ciphertext at a server that sent its flight: rustls
/// answers it, sealed with the server's handshake keys.
#[test]
fn oversized_tls13_ciphertext_after_the_servers_flight_is_answered() {
    let mut server = server(TLS13);
    server.deliver(&client_hello(TLS13));
    assert!(server.pump().is_none());
    let _flight = server.sent();
    let len = 16_384 + 300;
    let mut record = vec![23, 3, 3];
    record.extend((len as u16).to_be_bytes());
    record.extend(vec![0xa5; len]);
    server.deliver(&record);
    let (error, alert) = ended_with(server.pump());
    assert_eq!(
        (error, alert),
        (TlsError::DecryptError, Some(AlertDescription::BadRecordMac))
    );
    assert_eq!(server.sent()[0], 23, "a sealed alert went out");
}

/// RFC 8446 §6.2: after the peer's fatal alert nothing more is sent. On an
/// ALPN mismatch the server answers the ClientHello with its ServerHello and
/// a fatal no_application_protocol; the client, which encoded its
/// change_cipher_spec on reading the ServerHello, sends nothing at all.
#[test]
fn nothing_is_sent_after_the_peers_fatal_alert() {
    let (mut client_config, mut server_config) = crate::testing::configs(TLS13);
    client_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    server_config.alpn_protocols = vec![b"h2".to_vec()];
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = End::new(LlClientConnection::new(Arc::new(client_config), name).unwrap());
    let mut server = End::new(LlServerConnection::new(Arc::new(server_config)).unwrap());
    assert!(client.pump().is_none());
    let hello = client.sent();
    server.deliver(&hello);
    let (error, _) = ended_with(server.pump());
    assert_eq!(error, TlsError::NoApplicationProtocol);
    let answer = server.sent();
    client.deliver(&answer);
    let error = client.pump().expect("the client fails");
    assert_eq!(
        error.alert_received(),
        Some(AlertDescription::NoApplicationProtocol)
    );
    assert!(client.sent().is_empty(), "nothing after the peer's alert");
}

/// rustls says `DecryptError` both for a record that fails to open
/// (bad_record_mac) and for a Finished that fails to verify in a record it
/// opened (decrypt_error); the error names the alert that went out. A
/// TLS 1.2 ClientHello whose extended_master_secret extension a middlebox
/// renamed: both sides derive the same keys without it, but their
/// transcripts differ, so the client's Finished opens and fails.
#[test]
fn a_finished_that_fails_to_verify_is_decrypt_error() {
    let mut client = client(TLS12);
    assert!(client.pump().is_none());
    let mut hello = client.sent();
    let ems = [0x00, 0x17, 0x00, 0x00];
    let at = hello
        .windows(4)
        .position(|w| w == ems)
        .expect("the ClientHello offers extended_master_secret");
    hello[at] = 0xff;
    let mut server = server(TLS12);
    server.deliver(&hello);
    assert!(server.pump().is_none());
    client.deliver(&server.sent());
    assert!(client.pump().is_none());
    server.deliver(&client.sent());
    let (error, alert) = ended_with(server.pump());
    assert_eq!(error, TlsError::DecryptError);
    assert_eq!(alert, Some(AlertDescription::DecryptError));
    // The server has not sent its change_cipher_spec: the alert rustls sent
    // is in the clear and says the same.
    assert_eq!(
        server.sent(),
        plaintext_alert(AlertDescription::DecryptError)
    );
}

/// A peer that stalls in the middle of a large ClientHello costs the server
/// the record it is sending and no more: the incoming buffer grows to hold
/// that record (at least one handshake read from the record's start, before
/// its header came), not to a maximal record's room on top of what arrived,
/// nor to twice its size by doubling. Whether the socket delivers
/// the bytes at once or in small pieces; for a ClientHello in one record
/// (12 KiB sent of the 16 KiB announced) and one fragmented over two (the
/// first record and 1,000 bytes of the second).
#[test]
fn a_stalled_client_hello_costs_its_record() {
    for (message_len, sent) in [(16_380, 5 + 12 * 1024), (20_000, 5 + 16_384 + 1000)] {
        // A ClientHello message header and zeros: nothing is parsed before
        // the message is complete. Fragmented into maximal records.
        let mut message = vec![1];
        message.extend_from_slice(&u32::try_from(message_len).unwrap().to_be_bytes()[1..]);
        message.resize(4 + message_len, 0);
        let mut stream = Vec::new();
        let mut record_ends = Vec::new();
        for fragment in message.chunks(16_384) {
            stream.extend_from_slice(&[22, 3, 1]);
            stream.extend_from_slice(&u16::try_from(fragment.len()).unwrap().to_be_bytes());
            stream.extend_from_slice(fragment);
            record_ends.push(stream.len());
        }
        let partial = &stream[..sent];
        let at = record_ends.iter().position(|&end| end > sent).unwrap();
        let record_end = record_ends[at];
        let record_start = at.checked_sub(1).map_or(0, |before| record_ends[before]);
        let bound = record_end.max(record_start + crate::buffer::HANDSHAKE_READ_SIZE);
        for piece in [usize::MAX, 1000] {
            let mut server = server(TLS13);
            assert!(
                server.read_in(partial, piece).is_none(),
                "waits for the rest"
            );
            // What a driver waiting in `read` holds: the room is made when
            // it asks for it.
            let _ = server.incoming.unfilled();
            let capacity = server.incoming.capacity();
            assert!(
                capacity <= bound,
                "{capacity}B held for {sent}B of a stream whose record in progress ends at \
                 {record_end}B (pieces of {piece}B)"
            );
            assert!(
                server.incoming.unfilled().len() >= record_end - sent,
                "room for the rest of the record"
            );
        }
    }
}

/// A driver that reads the handshake into memory it shares between
/// connections and copies in what arrived (`extend_from_slice`) holds the
/// bytes the peer sent: exactly those when they came in one read, at most
/// twice that in smaller pieces, and never room for the rest of a record
/// whose header announced more. The same for a peer that sends only a header
/// announcing 16 KiB, where a read into `unfilled` needs room for the whole
/// record.
#[test]
fn a_stalled_client_hello_copied_in_costs_what_arrived() {
    let mut stream = vec![22, 3, 1, 0x40, 0x00, 1, 0, 0x3f, 0xfc];
    stream.resize(5 + 16_384, 0);
    for sent in [5, 9, 5 + 12 * 1024, 5 + 16_383] {
        for piece in [usize::MAX, 1000, 1] {
            let mut server = server(TLS13);
            assert!(
                server.copy_in(&stream[..sent], piece).is_none(),
                "waits for the rest"
            );
            let capacity = server.incoming.capacity();
            if piece >= sent {
                assert_eq!(capacity, sent, "held for {sent}B sent at once");
            } else {
                assert!(
                    capacity <= (2 * sent).min(5 + 16_384),
                    "{capacity}B held for {sent}B sent in pieces of {piece}B"
                );
            }
            assert_eq!(
                server.incoming.copy_room(),
                crate::buffer::MAX_HANDSHAKE_BUFFER - sent,
                "up to the handshake's limit"
            );
        }
    }
    // The rest of the record completes the ClientHello, which rustls then
    // rejects as the zeros it is: the bytes copied in were processed.
    let mut server = server(TLS13);
    assert!(server.copy_in(&stream[..5 + 12 * 1024], 4096).is_none());
    assert!(matches!(
        server.copy_in(&stream[5 + 12 * 1024..], 4096),
        Some(Error::Tls {
            error: TlsError::InvalidMessage(_),
            ..
        })
    ));
}

/// The handshake's reads are sized for its flights, and a connection that
/// receives nothing after it never holds a maximal record's room (18 KiB
/// for each of many idle or short-lived connections): that room comes with
/// the first record after the handshake.
#[test]
fn after_the_handshake_an_idle_connection_holds_less_than_a_record() {
    for suite in [TLS13, TLS12] {
        let mut client = client(suite);
        let mut server = server(suite);
        assert!(client.pump().is_none());
        for _ in 0..4 {
            let to_server = client.sent();
            assert!(server.read_in(&to_server, usize::MAX).is_none());
            let to_client = server.sent();
            assert!(client.read_in(&to_client, usize::MAX).is_none());
        }
        for (side, end) in [("client", &client.incoming), ("server", &server.incoming)] {
            assert!(end.is_empty(), "{suite:?} {side}: everything processed");
            assert!(
                end.capacity() <= crate::buffer::HANDSHAKE_READ_SIZE,
                "{suite:?} {side}: {}B held after the handshake",
                end.capacity()
            );
        }
        assert!(!client.conn.is_handshaking() && !server.conn.is_handshaking());
        assert_eq!(
            client.conn.record_layer(),
            crate::record::RecordLayer::InPlace
        );
    }
}
