//! The RFC's answers where rustls 0.23 gives none or another, each shown a
//! hand-built hostile peer: the exact alert on the wire, the connection's
//! error, nothing sent after the alert, and the same config serving a
//! normal client afterwards.
//!
//! - a TLS 1.3 ClientHello offering no signature scheme the server's key can
//!   sign with: handshake_failure in the clear, before any ServerHello
//!   (`lltls::checked::CheckedCertResolver`);
//! - a TLS 1.3 ClientHello without key_share: missing_extension;
//! - a client whose first handshake message is not a ClientHello:
//!   unexpected_message;
//! - a client certificate list with an empty entry (TLS 1.2): decode_error;
//!   a TLS 1.3 CertificateVerify whose ECDSA scheme does not fit the
//!   certificate's curve: illegal_parameter, sealed by rustls and opened by
//!   the client (`lltls::checked::CheckedClientVerifier`).

mod harness;

use std::sync::{Arc, Mutex};

use harness::configs::{client_config, load_certs, load_key, provider, roots, Pki};
use harness::hostile::hello::*;
use harness::pair::{records, transfer, Endpoint, Pair};
use lltls::checked::{CheckedCertResolver, CheckedClientVerifier, SealingKeyLog};
use lltls::{Error, LlServerConnection};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, Signer, SigningKey, SingleCertAndKey};
use rustls::{
    AlertDescription, ClientConfig, PeerIncompatible, PeerMisbehaved, ServerConfig,
    SignatureAlgorithm, SignatureScheme, SupportedProtocolVersion,
};

const HANDSHAKE_FAILURE: u8 = 40;
const MISSING_EXTENSION: u8 = 109;
const UNEXPECTED_MESSAGE: u8 = 10;
const DECODE_ERROR: u8 = 50;

/// A fatal alert in the clear, as rustls and lltls write it.
fn plaintext_alert(description: u8) -> Vec<u8> {
    vec![21, 3, 3, 0, 2, 2, description]
}

fn certified_key(pki: Pki, provider: &CryptoProvider) -> Arc<CertifiedKey> {
    let dir = pki.dir();
    Arc::new(
        CertifiedKey::from_der(
            load_certs(&format!("{dir}/fullchain.pem")),
            load_key(&format!("{dir}/server.key")),
            provider,
        )
        .unwrap(),
    )
}

/// A server with the checked resolver and verifier, as llserver builds it.
fn checked_server(
    pki: Pki,
    versions: &[&'static SupportedProtocolVersion],
    client_auth: bool,
) -> Arc<ServerConfig> {
    let provider = provider();
    let resolver = CheckedCertResolver::new(
        Arc::new(SingleCertAndKey::from(certified_key(pki, &provider))),
        &provider,
        versions,
    );
    let verifier = match client_auth {
        true => WebPkiClientVerifier::builder_with_provider(Arc::new(roots(pki)), provider.clone())
            .build()
            .unwrap(),
        false => WebPkiClientVerifier::no_client_auth(),
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_client_cert_verifier(Arc::new(CheckedClientVerifier::new(verifier)))
        .with_cert_resolver(Arc::new(resolver));
    config.enable_secret_extraction = true;
    Arc::new(config)
}

const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];
const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// Delivers `input` to `end` as a transport would: as much as its buffer
/// has room for, processing in between; stops at an error.
fn deliver<C: lltls::Side>(end: &mut Endpoint<C>, mut input: &[u8]) {
    while !input.is_empty() && end.error.is_none() {
        let room = end.incoming.unfilled();
        let n = room.len().min(input.len());
        room[..n].copy_from_slice(&input[..n]);
        end.incoming.advance(n);
        input = &input[n..];
        end.pump();
    }
}

/// A fresh server connection on `config` shown `input` (delivered `chunk`
/// bytes at a time): its error and everything it wrote.
fn answer(config: &Arc<ServerConfig>, input: &[u8], chunk: usize) -> (Option<Error>, Vec<u8>) {
    let mut server = Endpoint::new(LlServerConnection::new(config.clone()).unwrap());
    let mut wrote = Vec::new();
    for piece in input.chunks(chunk) {
        deliver(&mut server, piece);
        wrote.extend_from_slice(server.outgoing.filled());
        let n = server.outgoing.len();
        server.outgoing.discard(n);
        if server.error.is_some() {
            break;
        }
    }
    (server.error.clone(), wrote)
}

/// A normal client completes a handshake with `config`, after the hostile
/// ones: nothing they did carried over.
fn serves_others(config: &Arc<ServerConfig>, pki: Pki, tls12: bool) {
    let mut pair = Pair::from_arcs(Arc::new(client_config(pki, tls12)), config.clone());
    pair.connect();
}

/// What the server sent reaches the client, whose connection ends with
/// `alert`.
fn client_gets(pair: &mut Pair, alert: AlertDescription, context: &str) {
    transfer(&mut pair.server, &mut pair.client);
    pair.client.pump();
    client_got(pair, alert, context);
}

/// The client's connection ended with the server's `alert`.
fn client_got(pair: &Pair, alert: AlertDescription, context: &str) {
    let error = pair.client.error.as_ref().and_then(Error::rustls_error);
    assert!(
        error == Some(&rustls::Error::AlertReceived(alert)),
        "{context}: the client got {:?}, not {alert:?}",
        pair.client.error
    );
}

fn alert_sent(error: &Option<Error>) -> Option<AlertDescription> {
    match error {
        Some(Error::Tls { alert_sent, .. }) => *alert_sent,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[test]
fn tls13_hello_without_a_scheme_the_key_signs_with_gets_handshake_failure_first() {
    let cases: [(&str, Pki, &[u16]); 6] = [
        (
            "only rsa_pkcs1 for an ECDSA key",
            Pki::Ecdsa,
            &[RSA_PKCS1_SHA256],
        ),
        (
            "only rsa_pkcs1 for an RSA key",
            Pki::Rsa,
            &[RSA_PKCS1_SHA256, RSA_PKCS1_SHA1],
        ),
        (
            "only SHA-1 and SHA-224 schemes",
            Pki::Ecdsa,
            &[ECDSA_SHA1, ECDSA_SHA224, RSA_SHA224],
        ),
        (
            "rsa_pss_pss for an rsa_pss_rsae key",
            Pki::Rsa,
            &[RSA_PSS_PSS_SHA256, RSA_PSS_PSS_SHA384],
        ),
        (
            "another curve than the key's",
            Pki::Ecdsa,
            &[ECDSA_SECP384R1_SHA384, ECDSA_SECP521R1_SHA512],
        ),
        ("Ed25519 for an ECDSA key", Pki::Ecdsa, &[ED25519]),
    ];
    for versions in [TLS13, BOTH] {
        for (what, pki, schemes) in cases {
            let config = checked_server(pki, versions, false);
            let mut hello = Hello::tls13(schemes);
            if versions.len() == 2 {
                // A client offering both versions: rustls picks TLS 1.3.
                hello.versions = Some(vec![0x0304, 0x0303]);
                hello.suites.push(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256);
                hello.suites.push(TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
            }
            for chunk in [usize::MAX, 1] {
                let (error, wrote) = answer(&config, &hello.record(), chunk);
                assert_eq!(
                    wrote,
                    plaintext_alert(HANDSHAKE_FAILURE),
                    "{what}: only the alert, no ServerHello"
                );
                assert!(
                    matches!(
                        &error,
                        Some(Error::Tls {
                            error: rustls::Error::PeerIncompatible(
                                PeerIncompatible::NoSignatureSchemesInCommon
                            ),
                            alert_sent: Some(AlertDescription::HandshakeFailure),
                        })
                    ),
                    "{what}: {error:?}"
                );
            }
            serves_others(&config, pki, false);
        }
    }
}

/// TLS 1.2: a client offering only schemes the key cannot sign with (the
/// P-256 key with ecdsa_secp384r1_sha384) gets handshake_failure before the
/// ServerHello; rustls alone fails building its ServerKeyExchange and sends
/// nothing at all.
#[test]
fn tls12_hello_without_a_scheme_the_key_signs_with_gets_handshake_failure() {
    let hello = Hello::tls12(
        &[TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256],
        &[ECDSA_SECP384R1_SHA384],
    );
    let plain = Arc::new(harness::configs::server_config(Pki::Ecdsa, true));
    let (error, wrote) = answer(&plain, &hello.record(), usize::MAX);
    assert!(wrote.is_empty(), "rustls alone: {wrote:?}");
    assert_eq!(alert_sent(&error), None);
    for versions in [TLS12, BOTH] {
        let config = checked_server(Pki::Ecdsa, versions, false);
        let (error, wrote) = answer(&config, &hello.record(), usize::MAX);
        assert_eq!(wrote, plaintext_alert(HANDSHAKE_FAILURE), "{error:?}");
        assert_eq!(alert_sent(&error), Some(AlertDescription::HandshakeFailure));
        serves_others(&config, Pki::Ecdsa, true);
    }
}

/// The TLS 1.3 rules are for TLS 1.3 only: the same schemes in a TLS 1.2 hello
/// (no TLS 1.3 suite offered) are left to rustls, which signs with
/// rsa_pkcs1 there; and a usable scheme among unusable ones is enough.
#[test]
fn schemes_the_key_can_use_are_not_refused() {
    let config = checked_server(Pki::Rsa, BOTH, false);
    let hello = Hello::tls12(
        &[TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256],
        &[RSA_PKCS1_SHA256],
    );
    let (error, wrote) = answer(&config, &hello.record(), usize::MAX);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(wrote.first(), Some(&22), "a ServerHello flight");
    // A server without TLS 1.3 negotiates TLS 1.2 with a client offering
    // both.
    let config = checked_server(Pki::Rsa, TLS12, false);
    let mut hello = Hello::tls13(&[RSA_PKCS1_SHA256]);
    hello.versions = Some(vec![0x0304, 0x0303]);
    hello.suites.push(TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256);
    let (error, wrote) = answer(&config, &hello.record(), usize::MAX);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(wrote.first(), Some(&22), "a TLS 1.2 ServerHello flight");
    let config = checked_server(Pki::Ecdsa, TLS13, false);
    let hello = Hello::tls13(&[RSA_PKCS1_SHA256, ECDSA_SHA1, ECDSA_SECP256R1_SHA256]);
    let (error, wrote) = answer(&config, &hello.record(), usize::MAX);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(wrote.first(), Some(&22), "a ServerHello");
}

/// Without the checked resolver rustls sends its ServerHello and fails at
/// its CertificateVerify; a resolver that refuses for another reason (no
/// certificate for the name) keeps rustls's access_denied, also right
/// after a checked resolver refused on this thread outside lltls.
#[test]
fn the_correction_needs_the_checked_resolver_refusal() {
    let hello = Hello::tls13(&[RSA_PKCS1_SHA256]);
    let plain = Arc::new(harness::configs::server_config(Pki::Ecdsa, false));
    let (error, wrote) = answer(&plain, &hello.record(), usize::MAX);
    assert_eq!(
        records(&wrote)[0].0,
        22,
        "rustls alone: a ServerHello first"
    );
    assert!(
        matches!(
            error.as_ref().and_then(Error::rustls_error),
            Some(rustls::Error::PeerIncompatible(
                PeerIncompatible::NoSignatureSchemesInCommon
            ))
        ),
        "{error:?}"
    );

    // rustls's own connection, on this thread, with the checked resolver.
    let checked = checked_server(Pki::Ecdsa, TLS13, false);
    let mut outside = rustls::ServerConnection::new(checked).unwrap();
    outside.read_tls(&mut &hello.record()[..]).unwrap();
    assert!(outside.process_new_packets().is_err());

    #[derive(Debug)]
    struct Nothing;
    impl rustls::server::ResolvesServerCert for Nothing {
        fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            None
        }
    }
    let provider = provider();
    let resolver = CheckedCertResolver::new(Arc::new(Nothing), &provider, TLS13);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(TLS13)
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.enable_secret_extraction = true;
    let (error, wrote) = answer(&Arc::new(config), &hello.record(), usize::MAX);
    assert_eq!(wrote, plaintext_alert(49), "access_denied: {error:?}");
    assert_eq!(alert_sent(&error), Some(AlertDescription::AccessDenied));
}

/// A key that would sign with a legacy scheme (its `choose_scheme` takes
/// ecdsa_sha1) is still refused for TLS 1.3, which forbids SHA-1.
#[test]
fn tls13_refuses_legacy_schemes_a_key_would_take() {
    let provider = provider();
    let p256 = certified_key(Pki::Ecdsa, &provider);
    let legacy = Arc::new(Misnamed {
        inner: p256.key.clone(),
        inner_scheme: SignatureScheme::ECDSA_NISTP256_SHA256,
        scheme: SignatureScheme::ECDSA_SHA1_Legacy,
    });
    let key = Arc::new(CertifiedKey::new(p256.cert.clone(), legacy));
    let resolver =
        CheckedCertResolver::new(Arc::new(SingleCertAndKey::from(key)), &provider, TLS13);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(TLS13)
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.enable_secret_extraction = true;
    let (error, wrote) = answer(
        &Arc::new(config),
        &Hello::tls13(&[ECDSA_SHA1]).record(),
        usize::MAX,
    );
    assert_eq!(wrote, plaintext_alert(HANDSHAKE_FAILURE), "{error:?}");
}

#[test]
fn tls13_hello_without_key_share_gets_missing_extension() {
    for config in [
        Arc::new(harness::configs::server_config(Pki::Ecdsa, false)),
        checked_server(Pki::Ecdsa, BOTH, false),
    ] {
        let hello = Hello {
            key_share: None,
            ..Hello::tls13(&[ECDSA_SECP256R1_SHA256])
        };
        for chunk in [usize::MAX, 3] {
            let (error, wrote) = answer(&config, &hello.record(), chunk);
            assert_eq!(wrote, plaintext_alert(MISSING_EXTENSION), "{error:?}");
            assert!(
                matches!(
                    &error,
                    Some(Error::Tls {
                        error: rustls::Error::PeerIncompatible(
                            PeerIncompatible::KeyShareExtensionRequired
                        ),
                        alert_sent: Some(AlertDescription::MissingExtension),
                    })
                ),
                "{error:?}"
            );
        }
        // An empty share list is no missing extension: a HelloRetryRequest.
        let hello = Hello {
            key_share: Some(false),
            ..Hello::tls13(&[ECDSA_SECP256R1_SHA256])
        };
        let (error, wrote) = answer(&config, &hello.record(), usize::MAX);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(wrote.first(), Some(&22), "a HelloRetryRequest");
        serves_others(&config, Pki::Ecdsa, false);
    }
}

#[test]
fn first_handshake_message_must_be_a_client_hello() {
    let config = Arc::new(harness::configs::server_config(Pki::Ecdsa, false));
    let cases: [(&str, Vec<u8>); 5] = [
        // rustls parses the body first and answers this one with
        // decode_error.
        ("a Certificate", handshake(11, &[0; 7])),
        ("a ServerHello", handshake(2, &[0; 40])),
        ("a Finished", handshake(20, &[0; 32])),
        ("a HelloRequest", handshake(0, &[])),
        ("an unknown type", handshake(99, &[1, 2, 3])),
    ];
    for (what, message) in cases {
        for chunk in [usize::MAX, 1, 5, 6] {
            let (error, wrote) = answer(&config, &plaintext_record(22, &message), chunk);
            assert_eq!(
                wrote,
                plaintext_alert(UNEXPECTED_MESSAGE),
                "{what}, chunks of {chunk}: {error:?}"
            );
            assert!(
                matches!(
                    &error,
                    Some(Error::Tls {
                        error: rustls::Error::InappropriateHandshakeMessage { .. },
                        alert_sent: Some(AlertDescription::UnexpectedMessage),
                    })
                ),
                "{what}: {error:?}"
            );
        }
    }
    // The header is checked first: an oversized one is record_overflow,
    // whatever type byte follows, and is refused before that byte comes.
    for input in [&[22, 3, 1, 0xff, 0xff, 11][..], &[22, 3, 1, 0xff, 0xff]] {
        let (error, wrote) = answer(&config, input, usize::MAX);
        assert_eq!(wrote, plaintext_alert(22), "record_overflow: {error:?}");
    }
    serves_others(&config, Pki::Ecdsa, false);
}

/// The check reads the type byte of the first handshake record only: a
/// ClientHello whose first record carries one byte of it is served.
#[test]
fn client_hello_fragmented_from_its_first_byte_is_served() {
    let config = Arc::new(harness::configs::server_config(Pki::Ecdsa, false));
    let mut pair = Pair::from_arcs(Arc::new(client_config(Pki::Ecdsa, false)), config);
    pair.client.pump();
    let hello = pair.client.outgoing.filled().to_vec();
    let n = hello.len();
    pair.client.outgoing.discard(n);
    assert_eq!(records(&hello), vec![(22, n)], "one ClientHello record");
    let message = &hello[5..];
    let mut split = plaintext_record(22, &message[..1]);
    split.extend_from_slice(&plaintext_record(22, &message[1..]));
    for piece in split.chunks(4) {
        deliver(&mut pair.server, piece);
        assert!(pair.server.error.is_none(), "{:?}", pair.server.error);
    }
    pair.connect();
}

/// A signing key that names `scheme` for what its inner key signs: a
/// client signing its CertificateVerify with a scheme its certificate's key
/// does not have.
#[derive(Debug)]
struct Misnamed {
    inner: Arc<dyn SigningKey>,
    inner_scheme: SignatureScheme,
    scheme: SignatureScheme,
}

#[derive(Debug)]
struct MisnamedSigner(Box<dyn Signer>, SignatureScheme);

impl Signer for MisnamedSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.0.sign(message)
    }

    fn scheme(&self) -> SignatureScheme {
        self.1
    }
}

impl SigningKey for Misnamed {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        if !offered.contains(&self.scheme) {
            return None;
        }
        let signer = self.inner.choose_scheme(&[self.inner_scheme])?;
        Some(Box::new(MisnamedSigner(signer, self.scheme)))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.inner.algorithm()
    }
}

/// A client config presenting `chain` with `key`.
fn client_with(
    versions: &[&'static SupportedProtocolVersion],
    chain: Vec<CertificateDer<'static>>,
    key: Arc<dyn SigningKey>,
) -> Arc<ClientConfig> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots(Pki::Ecdsa))
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(CertifiedKey::new(
            chain, key,
        ))));
    config.enable_secret_extraction = true;
    Arc::new(config)
}

fn client_key(provider: &CryptoProvider) -> Arc<dyn SigningKey> {
    provider
        .key_provider
        .load_private_key(load_key("certs/client.key"))
        .unwrap()
}

/// The last record the server put on the wire, after which it sent
/// nothing: `(content type, length)`.
fn last_record(pair: &Pair) -> (u8, usize) {
    assert!(pair.server.outgoing.is_empty(), "nothing left to send");
    *records(&pair.server.wire).last().unwrap()
}

#[test]
fn tls13_ecdsa_signature_with_another_curve_gets_illegal_parameter() {
    let provider = provider();
    let key = Arc::new(Misnamed {
        inner: client_key(&provider),
        inner_scheme: SignatureScheme::ECDSA_NISTP256_SHA256,
        scheme: SignatureScheme::ECDSA_NISTP384_SHA384,
    });
    let server = checked_server(Pki::Ecdsa, TLS13, true);
    let client = client_with(TLS13, load_certs("certs/client-fullchain.pem"), key);
    let mut pair = Pair::from_arcs(client, server.clone());
    pair.drive();
    assert!(
        matches!(
            &pair.server.error,
            Some(Error::Tls {
                error: rustls::Error::PeerMisbehaved(PeerMisbehaved::SignedKxWithWrongAlgorithm),
                alert_sent: Some(AlertDescription::IllegalParameter),
            })
        ),
        "{:?}",
        pair.server.error
    );
    // rustls sealed it with the server's application keys; the client
    // opened it with the keys it holds.
    assert_eq!(last_record(&pair), (23, 5 + 2 + 1 + 16));
    client_got(&pair, AlertDescription::IllegalParameter, "");
    // The same client signing honestly is served.
    let honest = client_with(
        TLS13,
        load_certs("certs/client-fullchain.pem"),
        client_key(&provider),
    );
    Pair::from_arcs(honest, server).connect();
}

#[test]
fn empty_client_certificate_entry_gets_decode_error_in_tls12() {
    let provider = provider();
    let mut chain = load_certs("certs/client-fullchain.pem");
    for (what, at) in [("end-entity", 0), ("intermediate", 1)] {
        let mut chain = chain.clone();
        chain[at] = CertificateDer::from(Vec::new());
        let server = checked_server(Pki::Ecdsa, TLS12, true);
        let client = client_with(TLS12, chain, client_key(&provider));
        let mut pair = Pair::from_arcs(client, server.clone());
        pair.drive();
        assert!(
            matches!(
                &pair.server.error,
                Some(Error::Tls {
                    alert_sent: Some(AlertDescription::DecodeError),
                    ..
                })
            ),
            "{what}: {:?}",
            pair.server.error
        );
        let wire = &pair.server.wire;
        assert!(
            wire.ends_with(&plaintext_alert(DECODE_ERROR)),
            "{what}: the last record is the alert, in the clear"
        );
        assert_eq!(last_record(&pair), (21, 7));
        client_got(&pair, AlertDescription::DecodeError, what);
        let honest = client_with(
            TLS12,
            load_certs("certs/client-fullchain.pem"),
            client_key(&provider),
        );
        Pair::from_arcs(honest, server).connect();
    }
    // TLS 1.3: rustls seals its bad_certificate, which lltls leaves alone.
    chain[0] = CertificateDer::from(Vec::new());
    let server = checked_server(Pki::Ecdsa, TLS13, true);
    let mut pair = Pair::from_arcs(client_with(TLS13, chain, client_key(&provider)), server);
    pair.drive();
    assert_eq!(last_record(&pair), (23, 5 + 2 + 1 + 16));
    client_got(&pair, AlertDescription::BadCertificate, "");
}

/// The labels a key log was given, and whether it asks for lines.
#[derive(Debug)]
struct Lines {
    labels: Mutex<Vec<String>>,
    wanted: bool,
}

impl Lines {
    fn new(wanted: bool) -> Arc<Self> {
        Arc::new(Self {
            labels: Mutex::new(Vec::new()),
            wanted,
        })
    }

    fn labels(&self) -> Vec<String> {
        self.labels.lock().unwrap().clone()
    }
}

impl rustls::KeyLog for Lines {
    fn log(&self, label: &str, _client_random: &[u8], _secret: &[u8]) {
        self.labels.lock().unwrap().push(label.to_owned());
    }

    fn will_log(&self, _label: &str) -> bool {
        self.wanted
    }
}

/// A TLS 1.3 server on `suite`, its key log wrapped in a `SealingKeyLog`
/// when `sealing`; and a client for it.
fn key_log_pair(
    suite: rustls::SupportedCipherSuite,
    key_log: Arc<dyn rustls::KeyLog>,
    sealing: bool,
) -> Pair {
    let (client, server) = key_log_configs(suite, key_log, sealing);
    Pair::from_arcs(client, server)
}

/// The configs of [`key_log_pair`].
fn key_log_configs(
    suite: rustls::SupportedCipherSuite,
    key_log: Arc<dyn rustls::KeyLog>,
    sealing: bool,
) -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites = vec![suite];
    let provider = Arc::new(provider);
    let mut server = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(TLS13)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            load_certs("certs/fullchain.pem"),
            load_key("certs/server.key"),
        )
        .unwrap();
    server.enable_secret_extraction = true;
    server.key_log = match sealing {
        true => Arc::new(SealingKeyLog::new(key_log)),
        false => key_log,
    };
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(TLS13)
        .unwrap()
        .with_root_certificates(roots(Pki::Ecdsa))
        .with_no_client_auth();
    client.enable_secret_extraction = true;
    (Arc::new(client), Arc::new(server))
}

/// Runs the handshake up to the client's second flight, which is dropped;
/// the server is shown `instead`. Returns the server's answer.
fn replace_second_flight(pair: &mut Pair, instead: &[u8]) -> Vec<u8> {
    pair.client.pump();
    transfer(&mut pair.client, &mut pair.server);
    pair.server.pump();
    transfer(&mut pair.server, &mut pair.client);
    pair.client.pump();
    assert!(pair.client.error.is_none(), "{:?}", pair.client.error);
    let dropped = pair.client.outgoing.len();
    assert!(dropped > 0, "the client's Finished");
    pair.client.outgoing.discard(dropped);
    deliver(&mut pair.server, instead);
    pair.server.pump();
    pair.server.outgoing.filled().to_vec()
}

#[test]
fn cleartext_handshake_after_the_servers_key_change_gets_a_sealed_unexpected_message() {
    use rustls::crypto::aws_lc_rs::cipher_suite::*;
    let finished = plaintext_record(22, &handshake(20, &[0; 32]));
    for suite in [
        TLS13_AES_128_GCM_SHA256,
        TLS13_AES_256_GCM_SHA384,
        TLS13_CHACHA20_POLY1305_SHA256,
    ] {
        let lines = Lines::new(true);
        let mut pair = key_log_pair(suite, lines.clone(), true);
        let answer = replace_second_flight(&mut pair, &finished);
        assert!(
            matches!(
                &pair.server.error,
                Some(Error::Tls {
                    error: rustls::Error::InappropriateMessage { .. },
                    alert_sent: Some(AlertDescription::UnexpectedMessage),
                })
            ),
            "{suite:?}: {:?}",
            pair.server.error
        );
        // One sealed alert, which the client opens with the keys it holds.
        assert_eq!(records(&answer), vec![(23, 24)], "{suite:?}");
        client_gets(
            &mut pair,
            AlertDescription::UnexpectedMessage,
            &format!("{suite:?}"),
        );
        // The connection ended with it: nothing of rustls's follows.
        let again = pair
            .server
            .conn
            .process(&mut pair.server.incoming, &mut pair.server.outgoing);
        assert!(again.is_err());
        assert!(pair.server.outgoing.is_empty());
        // The wrapped log got its lines.
        assert!(lines
            .labels()
            .contains(&"SERVER_TRAFFIC_SECRET_0".to_owned()));
    }
}

/// A framing rule broken after the key change (an alert record longer than
/// 2^14 bytes, which rustls would not refuse by itself) gets its alert
/// sealed, where it went out with none.
#[test]
fn framing_violation_after_the_key_change_gets_a_sealed_alert() {
    let suite = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384;
    for (sealing, expected) in [
        (true, Some(AlertDescription::RecordOverflow)),
        (false, None),
    ] {
        let mut pair = key_log_pair(suite, Lines::new(false), sealing);
        let oversized = plaintext_record(21, &[0; (1 << 14) + 1]);
        let answer = replace_second_flight(&mut pair, &oversized);
        assert_eq!(
            alert_sent(&pair.server.error),
            expected,
            "sealing: {sealing}"
        );
        transfer(&mut pair.server, &mut pair.client);
        pair.client.pump();
        match expected {
            Some(alert) => {
                assert_eq!(records(&answer), vec![(23, 24)]);
                assert!(
                    matches!(
                        pair.client.error.as_ref().and_then(Error::rustls_error),
                        Some(rustls::Error::AlertReceived(received)) if *received == alert
                    ),
                    "{:?}",
                    pair.client.error
                );
            }
            None => assert!(answer.is_empty(), "{answer:?}"),
        }
    }
}

/// After the handshake (rustls's record layer kept) the server may have
/// changed keys with a KeyUpdate, which no key log tells: nothing is sealed
/// with the first traffic key then.
#[test]
fn nothing_is_sealed_after_the_handshake() {
    let suite = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256;
    let (client, server) = key_log_configs(suite, Lines::new(false), true);
    let mut pair = Pair::with_record_layer(client, server, lltls::RecordLayer::Rustls);
    pair.connect();
    let server = &mut pair.server;
    assert!(server
        .conn
        .refresh_traffic_keys(&mut server.incoming, &mut server.outgoing)
        .unwrap());
    pair.drive();
    let n = pair.server.outgoing.len();
    pair.server.outgoing.discard(n);
    let oversized = plaintext_record(21, &[0; (1 << 14) + 1]);
    deliver(&mut pair.server, &oversized);
    assert_eq!(alert_sent(&pair.server.error), None);
    assert!(pair.server.outgoing.is_empty());
}

/// Without the sealing key log, rustls's own answer stays: it tries to open
/// the record and seals bad_record_mac.
#[test]
fn without_the_sealing_key_log_rustls_answers_bad_record_mac() {
    let suite = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256;
    let mut pair = key_log_pair(suite, Lines::new(true), false);
    let answer = replace_second_flight(&mut pair, &plaintext_record(22, &handshake(20, &[0; 32])));
    assert_eq!(records(&answer), vec![(23, 24)]);
    client_gets(&mut pair, AlertDescription::BadRecordMac, "");
}

/// The wrapped key log gets exactly the lines it gets alone, and normal
/// exchanges put the same records on the wire.
#[test]
fn sealing_key_log_passes_exactly_the_wrapped_logs_lines() {
    let suite = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256;
    for wanted in [true, false] {
        let mut runs = Vec::new();
        for sealing in [false, true] {
            let lines = Lines::new(wanted);
            let mut pair = key_log_pair(suite, lines.clone(), sealing);
            pair.client.to_send = b"ping".to_vec();
            pair.server.to_send = b"pong".to_vec();
            pair.client.close_after_send = true;
            pair.server.close_after_send = true;
            pair.drive();
            pair.assert_clean_exchange("with a key log");
            // The server's flight varies by a byte or two with its ECDSA
            // signature's encoding: its record types are compared.
            let server_types: Vec<u8> = records(&pair.server.wire).iter().map(|r| r.0).collect();
            runs.push((lines.labels(), records(&pair.client.wire), server_types));
        }
        assert_eq!(runs[0], runs[1], "wanted: {wanted}");
        assert_eq!(runs[0].0.is_empty(), !wanted);
    }
}

/// A key log that keeps the secrets (of the client, in these tests).
#[derive(Debug, Default)]
struct Secrets(Mutex<Vec<(String, Vec<u8>)>>);

impl rustls::KeyLog for Secrets {
    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .push((label.to_owned(), secret.to_vec()));
    }
}

impl Secrets {
    fn get(&self, label: &str) -> Vec<u8> {
        let secrets = self.0.lock().unwrap();
        let found = secrets.iter().find(|(name, _)| name == label);
        found.expect("secret logged").1.clone()
    }
}

/// HKDF-Expand-Label(secret, label, "", out.len()) with SHA-384, for the
/// client's handshake keys of TLS13_AES_256_GCM_SHA384 (RFC 8446 §7.1).
fn expand_label_sha384(secret: &[u8], label: &[u8], out: &mut [u8]) {
    let rustls::SupportedCipherSuite::Tls13(suite) =
        rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384
    else {
        unreachable!("a TLS 1.3 suite")
    };
    let out_len = (out.len() as u16).to_be_bytes();
    let label_len = [(6 + label.len()) as u8];
    suite
        .hkdf_provider
        .expander_for_okm(&rustls::crypto::tls13::OkmBlock::new(secret))
        .expand_slice(&[&out_len, &label_len, b"tls13 ", label, &[0]], out)
        .unwrap();
}

/// A sealer of records as the client would send them under its handshake
/// keys (TLS13_AES_256_GCM_SHA384), from the first sequence number.
fn client_handshake_sealer(secrets: &Secrets) -> harness::hostile::records::PeerSealer {
    let secret = secrets.get("CLIENT_HANDSHAKE_TRAFFIC_SECRET");
    let mut key = [0u8; 32];
    expand_label_sha384(&secret, b"key", &mut key);
    let mut iv = [0u8; 12];
    expand_label_sha384(&secret, b"iv", &mut iv);
    let keys = rustls::ConnectionTrafficSecrets::Aes256Gcm {
        key: key.into(),
        iv: iv.into(),
    };
    harness::hostile::records::PeerSealer::new(&keys, 0, true)
}

/// A pair on TLS13_AES_256_GCM_SHA384 run to the client's second flight,
/// which is dropped; the server is shown `records(sealer)` instead, sealed
/// with the client's handshake keys. Returns the server's answer.
fn replace_second_flight_sealed(
    sealing: bool,
    records: impl FnOnce(&mut harness::hostile::records::PeerSealer) -> Vec<u8>,
) -> (Pair, Vec<u8>) {
    let suite = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384;
    let (client, server) = key_log_configs(suite, Lines::new(false), sealing);
    let secrets = Arc::new(Secrets::default());
    let mut client = Arc::unwrap_or_clone(client);
    client.key_log = secrets.clone();
    let mut pair = Pair::from_arcs(Arc::new(client), server);
    replace_second_flight(&mut pair, &[]);
    let mut sealer = client_handshake_sealer(&secrets);
    let input = records(&mut sealer);
    deliver(&mut pair.server, &input);
    let answer = pair.server.outgoing.filled().to_vec();
    (pair, answer)
}

/// A record the client sealed with its handshake keys whose inner plaintext
/// is all zeros (no content type, RFC 8446 §5.4): rustls ends the connection
/// sending nothing; with the sealing key log the client gets
/// unexpected_message.
#[test]
fn tls13_record_without_a_content_type_gets_a_sealed_unexpected_message() {
    for sealing in [true, false] {
        let (mut pair, answer) =
            replace_second_flight_sealed(sealing, |sealer| sealer.seal(0, &[0, 0]));
        assert!(
            matches!(
                pair.server.error.as_ref().and_then(Error::rustls_error),
                Some(rustls::Error::PeerMisbehaved(
                    PeerMisbehaved::IllegalTlsInnerPlaintext
                ))
            ),
            "{:?}",
            pair.server.error
        );
        transfer(&mut pair.server, &mut pair.client);
        pair.client.pump();
        match sealing {
            true => {
                assert_eq!(records(&answer), vec![(23, 24)]);
                assert_eq!(
                    alert_sent(&pair.server.error),
                    Some(AlertDescription::UnexpectedMessage)
                );
                client_got(&pair, AlertDescription::UnexpectedMessage, "");
            }
            false => {
                assert!(answer.is_empty(), "rustls alone sends nothing");
                assert_eq!(alert_sent(&pair.server.error), None);
            }
        }
        // Nothing follows.
        let server = &mut pair.server;
        assert!(server
            .conn
            .process(&mut server.incoming, &mut server.outgoing)
            .is_err());
        assert!(server.outgoing.is_empty());
    }
}

/// Sealed application data between two fragments of the client's sealed
/// Finished (RFC 8446 §5.1: handshake messages MUST NOT be interleaved):
/// rustls ends the connection sending nothing; with the sealing key log
/// the client gets unexpected_message.
#[test]
fn record_interleaved_with_a_sealed_handshake_fragment_gets_a_sealed_unexpected_message() {
    let (mut pair, answer) = replace_second_flight_sealed(true, |sealer| {
        let finished = handshake(20, &[0; 48]);
        let mut records = sealer.seal(22, &finished[..10]);
        records.extend(sealer.seal(23, b"data"));
        records.extend(sealer.seal(22, &finished[10..]));
        records
    });
    assert_eq!(
        alert_sent(&pair.server.error),
        Some(AlertDescription::UnexpectedMessage),
        "{:?}",
        pair.server.error
    );
    assert_eq!(records(&answer), vec![(23, 24)]);
    client_gets(&mut pair, AlertDescription::UnexpectedMessage, "");
}

/// A zero-length alert sealed by the client: rustls seals decode_error
/// (RFC 8446 wants unexpected_message), and lltls leaves it: a second
/// alert would need rustls's sequence number again.
#[test]
fn zero_length_sealed_alert_keeps_rustlss_sealed_decode_error() {
    let (mut pair, answer) = replace_second_flight_sealed(true, |sealer| sealer.seal(21, &[]));
    assert_eq!(records(&answer), vec![(23, 24)], "one alert only");
    client_gets(&mut pair, AlertDescription::DecodeError, "");
}

/// A client that offered 0-RTT to a server that rejects it: the server
/// skips what it cannot open until a handshake message starts; an
/// undecryptable record after a sealed fragment of the client's Finished
/// is a bad record (RFC 8446 §4.2.10: bad_record_mac). rustls ends the
/// connection sending nothing; with the sealing key log the client gets
/// bad_record_mac.
#[test]
fn undecryptable_record_inside_a_handshake_message_after_rejected_early_data() {
    let suite = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384;
    for sealing in [true, false] {
        let (client, server) = key_log_configs(suite, Lines::new(false), sealing);
        let secrets = Arc::new(Secrets::default());
        let mut client = Arc::unwrap_or_clone(client);
        client.key_log = secrets.clone();
        client.enable_early_data = true;
        let client = Arc::new(client);
        let mut accepting = Arc::unwrap_or_clone(server);
        accepting.max_early_data_size = 16_384;
        // The same session cache, no early data: 0-RTT is rejected.
        let mut rejecting = accepting.clone();
        rejecting.max_early_data_size = 0;

        let mut first = Pair::from_arcs(client.clone(), Arc::new(accepting));
        first.client.to_send = b"ticket".to_vec();
        first.server.to_send = b"ticket".to_vec();
        first.client.close_after_send = true;
        first.server.close_after_send = true;
        first.drive();
        first.assert_clean_exchange("the first connection");
        secrets.0.lock().unwrap().clear();

        let mut pair = Pair::from_arcs(client, Arc::new(rejecting));
        replace_second_flight(&mut pair, &[]);
        let info = pair.server.conn.handshake_info();
        assert!(info.resumed, "resumed: {info:?}");
        let mut sealer = client_handshake_sealer(&secrets);
        let finished = handshake(20, &[0; 48]);
        let mut input = sealer.seal(22, &finished[..10]);
        input.extend_from_slice(&[23, 3, 3, 0, 20]);
        input.extend_from_slice(&[0x5a; 20]);
        deliver(&mut pair.server, &input);
        let answer = pair.server.outgoing.filled().to_vec();
        assert!(
            matches!(
                pair.server.error.as_ref().and_then(Error::rustls_error),
                Some(rustls::Error::PeerMisbehaved(
                    PeerMisbehaved::RejectedEarlyDataInterleavedWithHandshakeMessage
                ))
            ),
            "{:?}",
            pair.server.error
        );
        match sealing {
            true => {
                assert_eq!(records(&answer), vec![(23, 24)]);
                assert_eq!(
                    alert_sent(&pair.server.error),
                    Some(AlertDescription::BadRecordMac)
                );
                client_gets(&mut pair, AlertDescription::BadRecordMac, "");
            }
            false => {
                assert!(answer.is_empty(), "rustls alone sends nothing");
                assert_eq!(alert_sent(&pair.server.error), None);
            }
        }
    }
}
