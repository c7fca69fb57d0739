//! The `records` fuzz target: an echo server that completed a real handshake
//! and took over record protection, fed post-handshake records built by a
//! peer that holds the real keys. The fuzzer chooses what the peer seals
//! (any content type, TLS 1.3 inner type and padding, any length), key
//! updates that really change the peer's keys, tampering and raw bytes; so
//! its inputs get past authentication and reach every rule of the in-place
//! record layer.
//!
//! Input: `[profile byte][chunk seed byte][ops…]`, each op one byte `op`
//! then its operands:
//! - `op % 4 == 0`: `[type][len hi][len lo][body…]` a record sealed with the
//!   peer's current key (TLS 1.3: `body` followed by `type` is the whole
//!   inner plaintext, so `type` 0 leaves padding and type to `body`);
//! - `op % 4 == 1`: `[len][bytes…]` raw bytes, unprotected;
//! - `op % 4 == 2`: `[pos hi][pos lo][mask]` XORs `mask` into a byte
//!   already built;
//! - `op % 4 == 3`: `[request]` a KeyUpdate with the request byte
//!   `request & 0x7f`, split over two records when `request & 0x80`, after
//!   which the peer seals with its next keys (TLS 1.3).
//!
//! The peer's sealing is written here with aws-lc-rs directly, apart from
//! lltls's, from the RFCs' nonce and additional-data rules.

use std::sync::Arc;

use aws_lc_rs::aead::{
    Aad, Algorithm, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305,
};
use lltls::{LlClientConnection, RecordLayer};
use rustls::client::ClientConnectionData;
use rustls::kernel::KernelConnection;
use rustls::pki_types::ServerName;
use rustls::server::UnbufferedServerConnection;
use rustls::ConnectionTrafficSecrets;

use super::{client_config, echo_server, feed, parse_fuzz_input, Peer, Profile};

/// The peer's sending keys, sealing as RFC 8446 §5.2 (TLS 1.3), RFC 5288
/// (TLS 1.2 AES-GCM) and RFC 7905 (TLS 1.2 ChaCha20-Poly1305) say.
pub struct PeerSealer {
    key: LessSafeKey,
    iv: [u8; 12],
    seq: u64,
    tls13: bool,
    explicit_nonce: bool,
}

impl PeerSealer {
    pub fn new(secrets: &ConnectionTrafficSecrets, seq: u64, tls13: bool) -> Self {
        let (algorithm, key, iv): (&'static Algorithm, _, _) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (&CHACHA20_POLY1305, key, iv),
            _ => unreachable!("aws-lc-rs suites only"),
        };
        Self {
            key: LessSafeKey::new(UnboundKey::new(algorithm, key.as_ref()).expect("key length")),
            iv: iv.as_ref().try_into().expect("12-byte IV"),
            seq,
            tls13,
            explicit_nonce: !tls13 && algorithm != &CHACHA20_POLY1305,
        }
    }

    /// Seals the next record, choosing nonces as rustls does (TLS 1.2
    /// AES-GCM: the explicit nonce is the IV's last 8 bytes XOR the sequence
    /// number).
    pub fn seal(&mut self, content_type: u8, body: &[u8]) -> Vec<u8> {
        self.seal_with(content_type, body, None)
    }

    /// Seals the next record; TLS 1.2 AES-GCM with `explicit` as its
    /// explicit nonce when given (RFC 5288 §3 leaves the choice to the
    /// sender: OpenSSL counts up from a random start).
    fn seal_with(&mut self, content_type: u8, body: &[u8], explicit: Option<[u8; 8]>) -> Vec<u8> {
        let mut nonce = self.iv;
        for (byte, s) in nonce[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *byte ^= s;
        }
        if let Some(explicit) = explicit {
            nonce[4..].copy_from_slice(&explicit);
        }
        let mut payload = body.to_vec();
        let (outer_type, aad) = if self.tls13 {
            payload.push(content_type);
            let len = (payload.len() + 16) as u16;
            let [hi, lo] = len.to_be_bytes();
            (23, vec![23, 3, 3, hi, lo])
        } else {
            let mut aad = self.seq.to_be_bytes().to_vec();
            aad.extend([content_type, 3, 3]);
            aad.extend((body.len() as u16).to_be_bytes());
            (content_type, aad)
        };
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_slice()),
                &mut payload,
            )
            .expect("seal");
        payload.extend_from_slice(tag.as_ref());
        if self.explicit_nonce {
            let mut with_nonce = nonce[4..].to_vec();
            with_nonce.extend(payload);
            payload = with_nonce;
        }
        self.seq += 1;
        let mut record = vec![outer_type, 3, 3];
        record.extend((payload.len() as u16).to_be_bytes());
        record.extend(payload);
        record
    }
}

/// An echo server (the fuzz targets' [`echo_server`]) past a real handshake
/// on the in-place record layer, and a peer holding the client's real
/// sending keys, sealing whatever it is asked to.
pub struct RecordPeer {
    pub server: Peer<UnbufferedServerConnection>,
    sealer: PeerSealer,
    kernel: KernelConnection<ClientConnectionData>,
    pub tls13: bool,
    /// Every record sealed, in order: the content type asked for and the
    /// body (TLS 1.3: the inner plaintext is the body, then the type).
    pub sealed: Vec<(u8, Vec<u8>)>,
}

impl RecordPeer {
    /// Runs the handshake of `profile`; `None` when rustls's client cannot
    /// hand over its keys.
    pub fn new(profile: Profile) -> Option<Self> {
        let mut server = echo_server(profile);
        // The peer keeps rustls's record layer, so it can hand over its keys.
        let name = ServerName::try_from("localhost").expect("valid name");
        let client = LlClientConnection::with_record_layer(
            Arc::new(client_config(profile)),
            name,
            RecordLayer::Rustls,
        )
        .expect("client from a valid config");
        let mut client = Peer::new(client);
        for _ in 0..20 {
            client.pump();
            server.pump();
            let (to_server, to_client) = (client.transmit(), server.transmit());
            let c2s = client
                .transmitted
                .split_off(client.transmitted.len() - to_server);
            let s2c = server
                .transmitted
                .split_off(server.transmitted.len() - to_client);
            server.receive(&c2s, usize::MAX);
            client.receive(&s2c, usize::MAX);
            if to_server == 0 && to_client == 0 {
                break;
            }
        }
        assert!(
            server.handshake.is_some() && client.handshake.is_some(),
            "handshake of {profile:?} did not complete"
        );
        assert_eq!(server.conn.record_layer(), RecordLayer::InPlace);
        let tls13 =
            client.handshake.as_ref()?.protocol_version == Some(rustls::ProtocolVersion::TLSv1_3);
        let rustls_client = client.conn.into_rustls().ok()?;
        let (secrets, kernel) = rustls_client.dangerous_into_kernel_connection().ok()?;
        let (seq, tx) = secrets.tx;
        Some(Self {
            server,
            sealer: PeerSealer::new(&tx, seq, tls13),
            kernel,
            tls13,
            sealed: Vec::new(),
        })
    }

    /// The next record, sealed as rustls would.
    pub fn seal(&mut self, content_type: u8, body: &[u8]) -> Vec<u8> {
        self.sealed.push((content_type, body.to_vec()));
        self.sealer.seal(content_type, body)
    }

    /// The next record, sealed with `explicit` as its explicit nonce (TLS
    /// 1.2 AES-GCM only).
    pub fn seal_with_explicit_nonce(
        &mut self,
        content_type: u8,
        body: &[u8],
        explicit: [u8; 8],
    ) -> Vec<u8> {
        assert!(self.sealer.explicit_nonce, "a suite with explicit nonces");
        self.sealed.push((content_type, body.to_vec()));
        self.sealer.seal_with(content_type, body, Some(explicit))
    }

    /// Whether the suite carries an explicit nonce (TLS 1.2 AES-GCM).
    pub fn has_explicit_nonce(&self) -> bool {
        self.sealer.explicit_nonce
    }

    /// A KeyUpdate with `request`'s low 7 bits, split over two records when
    /// its high bit is set; the peer then seals with its next keys.
    fn key_update(&mut self, request: u8) -> Vec<u8> {
        let message = [24, 0, 0, 1, request & 0x7f];
        let mut wire = Vec::new();
        if request & 0x80 == 0 {
            wire.extend(self.seal(22, &message));
        } else {
            wire.extend(self.seal(22, &message[..2]));
            wire.extend(self.seal(22, &message[2..]));
        }
        if let Ok((seq, next)) = self.kernel.update_tx_secret() {
            self.sealer = PeerSealer::new(&next, seq, self.tls13);
        }
        wire
    }
}

/// Runs the `records` fuzz target; `None` when the input is too short or the
/// profile's handshake does not complete.
pub fn fuzz_records(data: &[u8]) -> Option<Peer<UnbufferedServerConnection>> {
    run_records(data).map(|run| run.server)
}

/// A run of the `records` target: the server as it ended, and what the peer
/// sealed for it ([`RecordPeer::sealed`]).
pub struct RecordsRun {
    pub server: Peer<UnbufferedServerConnection>,
    pub sealed: Vec<(u8, Vec<u8>)>,
    pub tls13: bool,
}

/// [`fuzz_records`], keeping what the peer sealed.
pub fn run_records(data: &[u8]) -> Option<RecordsRun> {
    let (profile, mut chunker, ops) = parse_fuzz_input(data)?;
    let mut peer = RecordPeer::new(profile)?;
    let mut wire = Vec::new();
    let mut ops = ops;
    while let Some((&op, rest)) = ops.split_first() {
        ops = rest;
        match op % 4 {
            0 => {
                let [typ, hi, lo, ..] = *ops else { break };
                let len = usize::from(u16::from_be_bytes([hi, lo])) % 17_000;
                let body = &ops[3..][..len.min(ops.len() - 3)];
                wire.extend(peer.seal(typ, body));
                ops = &ops[3 + body.len()..];
            }
            1 => {
                let Some((&len, rest)) = ops.split_first() else {
                    break;
                };
                let bytes = &rest[..usize::from(len).min(rest.len())];
                wire.extend_from_slice(bytes);
                ops = &rest[bytes.len()..];
            }
            2 => {
                let [hi, lo, mask, ..] = *ops else { break };
                if !wire.is_empty() {
                    let at = usize::from(u16::from_be_bytes([hi, lo])) % wire.len();
                    wire[at] ^= mask;
                }
                ops = &ops[3..];
            }
            _ => {
                let Some((&request, rest)) = ops.split_first() else {
                    break;
                };
                ops = rest;
                wire.extend(peer.key_update(request));
            }
        }
    }
    let mut server = peer.server;
    feed(&mut server, &wire, &mut chunker);
    server.assert_bounded("server after the handshake");
    Some(RecordsRun {
        server,
        sealed: peer.sealed,
        tls13: peer.tls13,
    })
}

/// Inputs that take the target through its main paths, for the seed corpus
/// and the test suite: data, a fragmented handshake message, key updates
/// both ways, padding, a tampered record, close_notify and junk after it.
pub fn seed_ops() -> Vec<Vec<u8>> {
    let sealed = |typ: u8, body: &[u8]| {
        let mut op = vec![0, typ];
        op.extend((body.len() as u16).to_be_bytes());
        op.extend_from_slice(body);
        op
    };
    let mut data = sealed(23, b"hello");
    data.extend(sealed(23, &[7; 3000]));
    let mut updates = sealed(23, b"before");
    updates.extend([3, 1]);
    updates.extend(sealed(23, b"after"));
    updates.extend([3, 0]);
    updates.extend(sealed(23, b"again"));
    let mut fragmented = vec![3, 0x80];
    fragmented.extend(sealed(23, b"x"));
    let mut padded = sealed(0, b"padded\x17\0\0\0");
    padded.extend(sealed(0, &[0; 10]));
    let mut tampered = sealed(23, b"forged");
    tampered.extend([2, 0, 9, 0x40]);
    let mut closing = sealed(23, b"bye");
    closing.extend(sealed(21, &[1, 0]));
    closing.extend([1, 4, 0xde, 0xad, 0xbe, 0xef]);
    vec![data, updates, fragmented, padded, tampered, closing]
}
