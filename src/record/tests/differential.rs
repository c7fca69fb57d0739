//! The in-place record layer against rustls's own, on the same secrets.
//!
//! A real handshake (both sides with rustls's record layer) gives each side
//! its traffic secrets; the client's sending secrets are the server's
//! receiving ones and the other way round. rustls's `MessageEncrypter` /
//! `MessageDecrypter` for the suite get one copy, lltls's `Protection` the
//! other. AEAD is deterministic, so for the same key, IV, sequence number
//! and plaintext, both must produce the same bytes, and each must open what
//! the other sealed.

use alloc::boxed::Box;
use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use std::sync::Arc;

use crate::backend::provider;
use rustls::client::UnbufferedClientConnection;
use rustls::crypto::cipher::{
    InboundOpaqueMessage, MessageDecrypter, MessageEncrypter, OutboundChunks, OutboundPlainMessage,
};
use rustls::pki_types::ServerName;
use rustls::server::UnbufferedServerConnection;
use rustls::{ConnectionTrafficSecrets, ContentType, ProtocolVersion, SupportedCipherSuite};

use super::super::cipher::{Protection, Version, HEADER_LEN};
use crate::buffer::{IncomingTls, OutgoingTls};
use crate::conn::{LlClientConnection, LlServerConnection};
use crate::record::RecordLayer;
use crate::status::Status;

/// Both ends of a finished handshake over `suite`, with rustls's record
/// layer, and nothing in flight.
fn handshake(
    suite: SupportedCipherSuite,
) -> (UnbufferedClientConnection, UnbufferedServerConnection) {
    let (client, server) = crate::testing::configs(suite);
    let name = ServerName::try_from("localhost").unwrap();
    let mut client =
        LlClientConnection::with_record_layer(Arc::new(client), name, RecordLayer::Rustls).unwrap();
    let mut server =
        LlServerConnection::with_record_layer(Arc::new(server), RecordLayer::Rustls).unwrap();
    let (mut c_in, mut c_out) = (IncomingTls::new(), OutgoingTls::new());
    let (mut s_in, mut s_out) = (IncomingTls::new(), OutgoingTls::new());
    for _ in 0..50 {
        let mut moved = false;
        while let Status::HandshakeComplete(_) | Status::PeerClosed =
            client.process(&mut c_in, &mut c_out).unwrap()
        {}
        moved |= deliver(&mut c_out, &mut s_in);
        while let Status::HandshakeComplete(_) | Status::PeerClosed =
            server.process(&mut s_in, &mut s_out).unwrap()
        {}
        moved |= deliver(&mut s_out, &mut c_in);
        if !moved && !client.is_handshaking() && !server.is_handshaking() {
            break;
        }
    }
    assert!(
        !client.is_handshaking() && !server.is_handshaking(),
        "handshake did not finish"
    );
    assert!(c_in.is_empty() && s_in.is_empty(), "records left in flight");
    (
        client.into_rustls().expect("rustls record layer"),
        server.into_rustls().expect("rustls record layer"),
    )
}

fn deliver(from: &mut OutgoingTls, to: &mut IncomingTls) -> bool {
    let n = from.filled().len();
    if n == 0 {
        return false;
    }
    to.reserve(n + 18_437).unwrap();
    to.unfilled()[..n].copy_from_slice(from.filled());
    to.advance(n);
    from.discard(n);
    true
}

/// Key and IV of extracted secrets.
fn parts(
    secrets: ConnectionTrafficSecrets,
) -> (rustls::crypto::cipher::AeadKey, rustls::crypto::cipher::Iv) {
    match secrets {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv }
        | ConnectionTrafficSecrets::Aes256Gcm { key, iv }
        | ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (key, iv),
        _ => unreachable!("aws-lc-rs suites"),
    }
}

fn rustls_encrypter(
    suite: SupportedCipherSuite,
    secrets: ConnectionTrafficSecrets,
) -> Box<dyn MessageEncrypter> {
    let (key, iv) = parts(secrets);
    match suite {
        SupportedCipherSuite::Tls13(s) => s.aead_alg.encrypter(key, iv),
        // The extracted TLS 1.2 IV is the salt followed by the 8 bytes
        // explicit nonces come from (ChaCha20: the whole 12-byte IV).
        SupportedCipherSuite::Tls12(s) if s.aead_alg.key_block_shape().fixed_iv_len == 4 => s
            .aead_alg
            .encrypter(key, &iv.as_ref()[..4], &iv.as_ref()[4..]),
        SupportedCipherSuite::Tls12(s) => s.aead_alg.encrypter(key, iv.as_ref(), &[]),
    }
}

fn rustls_decrypter(
    suite: SupportedCipherSuite,
    secrets: ConnectionTrafficSecrets,
) -> Box<dyn MessageDecrypter> {
    let (key, iv) = parts(secrets);
    match suite {
        SupportedCipherSuite::Tls13(s) => s.aead_alg.decrypter(key, iv),
        SupportedCipherSuite::Tls12(s) if s.aead_alg.key_block_shape().fixed_iv_len == 4 => {
            s.aead_alg.decrypter(key, &iv.as_ref()[..4])
        }
        SupportedCipherSuite::Tls12(s) => s.aead_alg.decrypter(key, iv.as_ref()),
    }
}

fn version(suite: SupportedCipherSuite) -> Version {
    match suite {
        SupportedCipherSuite::Tls13(_) => Version::Tls13,
        SupportedCipherSuite::Tls12(_) => Version::Tls12,
    }
}

/// lltls's record for `plaintext`, sealed in a buffer laid out as in
/// `OutgoingTls`.
fn seal_ours(protection: &mut Protection, typ: ContentType, plaintext: &[u8]) -> Vec<u8> {
    let mut record = vec![0xee; plaintext.len() + protection.overhead()];
    let at = HEADER_LEN + protection.prefix_len();
    record[at..at + plaintext.len()].copy_from_slice(plaintext);
    let len = protection.seal(typ, &mut record, plaintext.len());
    assert_eq!(len, record.len(), "overhead() is exact");
    record
}

fn seal_rustls(
    encrypter: &mut dyn MessageEncrypter,
    typ: ContentType,
    plaintext: &[u8],
    seq: u64,
) -> Vec<u8> {
    encrypter
        .encrypt(
            OutboundPlainMessage {
                typ,
                version: ProtocolVersion::TLSv1_2,
                payload: OutboundChunks::Single(plaintext),
            },
            seq,
        )
        .unwrap()
        .encode()
}

const SUITES: &[SupportedCipherSuite] = &[
    provider::cipher_suite::TLS13_AES_128_GCM_SHA256,
    provider::cipher_suite::TLS13_AES_256_GCM_SHA384,
    provider::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
];

/// With both backends built, rustls's ring suites too: lltls seals with
/// aws-lc-rs, rustls with ring, and the records must still be the same bytes
/// (`cargo test --lib --features ring`, in CI).
#[cfg(all(feature = "ring", feature = "aws-lc-rs"))]
const OTHER_BACKEND: &[SupportedCipherSuite] = &[
    rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
    rustls::crypto::ring::cipher_suite::TLS13_AES_256_GCM_SHA384,
    rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    rustls::crypto::ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    rustls::crypto::ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    rustls::crypto::ring::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
];
#[cfg(not(all(feature = "ring", feature = "aws-lc-rs")))]
const OTHER_BACKEND: &[SupportedCipherSuite] = &[];

fn suites() -> impl Iterator<Item = SupportedCipherSuite> {
    SUITES.iter().chain(OTHER_BACKEND).copied()
}

/// What goes through each direction: every content type, empty to maximal.
fn messages() -> Vec<(ContentType, Vec<u8>)> {
    let mut out = vec![
        (ContentType::ApplicationData, Vec::new()),
        (ContentType::ApplicationData, b"x".to_vec()),
        (ContentType::Alert, vec![1, 0]),
        (ContentType::Handshake, vec![24, 0, 0, 1, 1]),
    ];
    for len in [100, 1500, 16_384] {
        out.push((
            ContentType::ApplicationData,
            (0..len).map(|i| (i * 7 + len) as u8).collect(),
        ));
    }
    out
}

#[test]
fn sealed_records_are_byte_identical_to_rustls_and_open_both_ways() {
    for suite in suites() {
        let what = format!("{:?}", suite.suite());
        let (client, server) = handshake(suite);
        let (client_secrets, _) = client.dangerous_into_kernel_connection().unwrap();
        let (server_secrets, _) = server.dangerous_into_kernel_connection().unwrap();
        // Client to server: rustls seals with the client's copy, lltls with
        // the server's; lltls also opens rustls's records.
        let (client_tx_seq, c2s_rustls) = client_secrets.tx;
        let (server_rx_seq, c2s_ours) = server_secrets.rx;
        assert_eq!(
            client_tx_seq, server_rx_seq,
            "{what}: both ends agree on the sequence number"
        );
        // rustls's AES-GCM sealers (aws-lc's TLS record keys) only accept a
        // first record at sequence number 0, so both start there.
        let seq = 0;
        let mut encrypter = rustls_encrypter(suite, c2s_rustls);
        let mut sealer = Protection::new(version(suite), &c2s_ours, seq).unwrap();
        let mut opener = Protection::new(version(suite), &c2s_ours, seq).unwrap();
        // Server to client: lltls seals with the client's receiving copy,
        // rustls opens with the server's sending one.
        let (s2c_seq, s2c_rustls) = server_secrets.tx;
        let (client_rx_seq, s2c_ours) = client_secrets.rx;
        assert_eq!(s2c_seq, client_rx_seq, "{what}");
        let mut decrypter = rustls_decrypter(suite, s2c_rustls);
        let mut our_sealer = Protection::new(version(suite), &s2c_ours, s2c_seq).unwrap();

        for (i, (typ, plaintext)) in messages().into_iter().enumerate() {
            let seq = seq + i as u64;
            let theirs = seal_rustls(encrypter.as_mut(), typ, &plaintext, seq);
            let ours = seal_ours(&mut sealer, typ, &plaintext);
            assert!(
                theirs == ours,
                "{what}: record {i} ({typ:?}, {}B) differs from rustls's",
                plaintext.len()
            );
            let mut record = theirs;
            let opened = opener.open(&mut record).unwrap();
            assert_eq!(opened.content_type, typ, "{what}: record {i}");
            assert!(
                record[opened.plaintext] == plaintext[..],
                "{what}: record {i}"
            );

            let s2c = s2c_seq + i as u64;
            let mut ours = seal_ours(&mut our_sealer, typ, &plaintext);
            let header_typ = ContentType::from(ours[0]);
            let opened = decrypter
                .decrypt(
                    InboundOpaqueMessage::new(
                        header_typ,
                        ProtocolVersion::TLSv1_2,
                        &mut ours[HEADER_LEN..],
                    ),
                    s2c,
                )
                .unwrap_or_else(|e| panic!("{what}: rustls refused record {i}: {e}"));
            assert_eq!(opened.typ, typ, "{what}: record {i}");
            assert!(opened.payload == plaintext, "{what}: record {i}");
        }
    }
}

/// Sequence numbers far from 0 use every byte of the nonce.
#[test]
fn large_sequence_numbers_match_rustls() {
    for suite in suites() {
        let (client, server) = handshake(suite);
        let (client_secrets, _) = client.dangerous_into_kernel_connection().unwrap();
        let (server_secrets, _) = server.dangerous_into_kernel_connection().unwrap();
        let mut encrypter = rustls_encrypter(suite, client_secrets.tx.1);
        for seq in [0x0102_0304_0506_0708, 0xffff_ffff_ffff_fffe] {
            let mut sealer = Protection::new(version(suite), &server_secrets.rx.1, seq).unwrap();
            let plaintext = b"far along";
            let theirs = seal_rustls(
                encrypter.as_mut(),
                ContentType::ApplicationData,
                plaintext,
                seq,
            );
            let ours = seal_ours(&mut sealer, ContentType::ApplicationData, plaintext);
            assert!(theirs == ours, "{:?} seq {seq:#x}", suite.suite());
        }
    }
}
