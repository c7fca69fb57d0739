//! Deferred certificate verification (`lltls::verify`), in memory: the same
//! records as normal mode on success, the right alert and no plaintext on
//! rejection, nothing released while the verdict waits, no session that
//! outlives a rejection, and chains that reach the right connection when
//! many share one config on one thread.

mod harness;

use std::sync::Arc;

use harness::configs::{
    client_config, client_config_with_auth, load_certs, load_key, provider, roots, server_config,
    server_config_requiring_auth, server_config_with_verifier, versions, Pki,
};
use harness::pair::{records, Pair};
use lltls::verify::DeferredClientVerifier;
use lltls::{
    DeferredClientConfig, DeferredServerConfig, Error, IncomingTls, LlClientConnection,
    LlServerConnection, OutgoingTls, Status,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::{ClientSessionMemoryCache, WebPkiServerVerifier};
use rustls::pki_types::ServerName;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{AlertDescription, CertificateError, ClientConfig, ServerConfig};

fn name(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_owned()).unwrap()
}

fn server_verifier(pki: Pki) -> Arc<dyn ServerCertVerifier> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots(pki)), provider())
        .build()
        .unwrap()
}

fn client_verifier(pki: Pki) -> Arc<dyn ClientCertVerifier> {
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots(pki)), provider())
        .build()
        .unwrap()
}

/// A deferred client over `config`, with a session store of its own.
fn deferred_client(config: ClientConfig, pki: Pki) -> DeferredClientConfig {
    let sessions = Arc::new(ClientSessionMemoryCache::new(32));
    DeferredClientConfig::with_client_auth(config, server_verifier(pki), sessions).unwrap()
}

/// A deferred server requiring client certificates (stateful sessions, the
/// rustls default).
fn deferred_server(pki: Pki, tls12: bool) -> DeferredServerConfig {
    let verifier = Arc::new(DeferredClientVerifier::new(client_verifier(pki)));
    DeferredServerConfig::new(server_config_with_verifier(pki, tls12, verifier)).unwrap()
}

/// Both sides verify through the webpki verifiers normal mode uses.
fn verify_normally(pair: &mut Pair, pki: Pki) {
    let server = server_verifier(pki);
    pair.client.verdict = Some(Box::new(move |c| c.verify_server(&*server)));
    let client = client_verifier(pki);
    pair.server.verdict = Some(Box::new(move |c| c.verify_client(&*client)));
}

fn exchange(pair: &mut Pair) {
    pair.client.to_send = (0..40_000u32).map(|i| i as u8).collect();
    pair.server.to_send = (0..30_000u32).map(|i| (i * 7) as u8).collect();
    pair.client.close_after_send = true;
    pair.server.close_after_send = true;
    pair.drive();
}

fn version(tls12: bool) -> &'static str {
    if tls12 {
        "TLS1.2"
    } else {
        "TLS1.3"
    }
}

#[test]
fn accepted_peers_exchange_the_same_records_as_normal_mode() {
    // RSA: its signatures have one length, so record sizes repeat exactly.
    let pki = Pki::Rsa;
    for tls12 in [false, true] {
        let what = version(tls12);
        let mut normal = Pair::new(
            client_config_with_auth(pki, tls12),
            server_config_requiring_auth(pki, tls12),
        );
        exchange(&mut normal);
        normal.assert_clean_exchange(what);

        let client = deferred_client(client_config_with_auth(pki, tls12), pki);
        let server = deferred_server(pki, tls12);
        let mut pair = Pair::from_conns(
            LlClientConnection::deferred(&client, name("localhost")).unwrap(),
            LlServerConnection::deferred(&server).unwrap(),
        );
        verify_normally(&mut pair, pki);
        exchange(&mut pair);
        pair.assert_clean_exchange(what);

        assert_eq!(
            records(&pair.client.wire),
            records(&normal.client.wire),
            "{what}: client records"
        );
        assert_eq!(
            records(&pair.server.wire),
            records(&normal.server.wire),
            "{what}: server records"
        );
        let server_cert = &load_certs(&format!("{}/server.pem", pki.dir()))[0];
        let client_cert = &load_certs(&format!("{}/client.pem", pki.dir()))[0];
        assert_eq!(pair.client.presented.len(), 1, "{what}");
        assert_eq!(&pair.client.presented[0].end_entity, server_cert, "{what}");
        assert_eq!(
            pair.client.presented[0].server_name,
            Some(name("localhost")),
            "{what}"
        );
        assert_eq!(pair.server.presented.len(), 1, "{what}");
        assert_eq!(&pair.server.presented[0].end_entity, client_cert, "{what}");
        for end in [&pair.client.transcript, &pair.server.transcript] {
            let at = |status| end.iter().position(|s| *s == status);
            assert!(
                at("VerifyPeer") < at("HandshakeComplete") && at("VerifyPeer").is_some(),
                "{what}: VerifyPeer comes before HandshakeComplete: {end:?}"
            );
        }
    }
}

/// Each rejection reason, the alert rustls sends for it in normal mode.
fn reasons() -> Vec<(rustls::Error, AlertDescription)> {
    use CertificateError as C;
    vec![
        (C::UnknownIssuer.into(), AlertDescription::UnknownCA),
        (C::Expired.into(), AlertDescription::CertificateExpired),
        (C::NotValidForName.into(), AlertDescription::BadCertificate),
        (C::Revoked.into(), AlertDescription::CertificateRevoked),
        (
            C::ApplicationVerificationFailure.into(),
            AlertDescription::AccessDenied,
        ),
        (
            rustls::Error::General("policy".into()),
            AlertDescription::HandshakeFailure,
        ),
    ]
}

fn assert_rejected(
    what: &str,
    rejecting: &Option<Error>,
    rejected: &Option<Error>,
    reason: &rustls::Error,
    alert: AlertDescription,
) {
    match rejecting {
        Some(Error::Tls { error, alert_sent }) => {
            assert_eq!(error, reason, "{what}: error");
            assert_eq!(*alert_sent, Some(alert), "{what}: alert sent");
        }
        other => panic!("{what}: the rejecting side ended with {other:?}"),
    }
    assert_eq!(
        rejected.as_ref().and_then(Error::alert_received),
        Some(alert),
        "{what}: the peer reads the alert ({rejected:?})"
    );
}

#[test]
fn a_rejection_sends_its_alert_and_releases_no_plaintext() {
    let pki = Pki::Ecdsa;
    for tls12 in [false, true] {
        for (reason, alert) in reasons() {
            // The client rejects the server, which sends data as early as it
            // may (a TLS 1.3 server: right after its Finished).
            let what = format!("{}: client rejects with {reason:?}", version(tls12));
            let client = deferred_client(client_config(pki, tls12), pki);
            let mut pair = Pair::from_conns(
                LlClientConnection::deferred(&client, name("localhost")).unwrap(),
                LlServerConnection::new(Arc::new(server_config(pki, tls12))).unwrap(),
            );
            let given = reason.clone();
            pair.client.verdict = Some(Box::new(move |_| Err(given.clone())));
            exchange(&mut pair);
            assert_rejected(
                &what,
                &pair.client.error,
                &pair.server.error,
                &reason,
                alert,
            );
            assert!(pair.client.received.is_empty(), "{what}: client got data");
            assert!(pair.server.received.is_empty(), "{what}: server got data");
            assert_eq!(pair.client.sent, 0, "{what}: client encrypted data");

            // The server rejects the client, which sends data right after
            // its Finished.
            let what = format!("{}: server rejects with {reason:?}", version(tls12));
            let server = deferred_server(pki, tls12);
            let mut pair = Pair::from_conns(
                LlClientConnection::new(
                    Arc::new(client_config_with_auth(pki, tls12)),
                    name("localhost"),
                )
                .unwrap(),
                LlServerConnection::deferred(&server).unwrap(),
            );
            let given = reason.clone();
            pair.server.verdict = Some(Box::new(move |_| Err(given.clone())));
            exchange(&mut pair);
            assert_rejected(
                &what,
                &pair.server.error,
                &pair.client.error,
                &reason,
                alert,
            );
            assert!(pair.server.received.is_empty(), "{what}: server got data");
            assert!(pair.client.received.is_empty(), "{what}: client got data");
            assert_eq!(pair.server.sent, 0, "{what}: server encrypted data");
        }
    }
}

#[test]
fn without_a_verdict_nothing_moves_and_process_does_not_spin() {
    let pki = Pki::Ecdsa;
    for tls12 in [false, true] {
        let what = version(tls12);
        let client = deferred_client(client_config(pki, tls12), pki);
        let mut pair = Pair::from_conns(
            LlClientConnection::deferred(&client, name("localhost")).unwrap(),
            LlServerConnection::new(Arc::new(server_config(pki, tls12))).unwrap(),
        );
        // `drive` returns only once neither side makes progress.
        exchange(&mut pair);
        let end = &mut pair.client;
        assert_eq!(end.transcript.last(), Some(&"AwaitingVerdict"), "{what}");
        assert_eq!(end.presented.len(), 1, "{what}");
        assert!(
            end.handshake.is_none(),
            "{what}: HandshakeComplete withheld"
        );
        assert!(!end.conn.wants_read(), "{what}");
        assert_eq!(end.sent, 0, "{what}: nothing encrypted");
        assert!(end.received.is_empty(), "{what}: nothing delivered");
        assert!(pair.server.received.is_empty(), "{what}");
        // The server's data waits in the client's buffer, unopened (as
        // much as the buffer takes: a record at least).
        assert_eq!(pair.server.sent, 30_000, "{what}");
        let held = end.incoming.filled().len();
        assert!(held > 16_384, "{what}: server data held: {held}B");
        for _ in 0..1000 {
            assert!(matches!(
                end.conn.process(&mut end.incoming, &mut end.outgoing),
                Ok(Status::AwaitingVerdict)
            ));
            assert_eq!(
                end.conn
                    .encrypt(b"x", &mut end.incoming, &mut end.outgoing)
                    .unwrap(),
                0
            );
            assert!(!end
                .conn
                .queue_close_notify(&mut end.incoming, &mut end.outgoing)
                .unwrap());
        }
        assert_eq!(end.incoming.filled().len(), held, "{what}");
        assert!(end.outgoing.is_empty(), "{what}");

        // The verdict releases everything.
        let certs = end.presented[0].clone();
        end.conn
            .peer_verified(certs.verify_server(&*server_verifier(pki)))
            .unwrap();
        assert!(matches!(
            end.conn.peer_verified(Ok(())),
            Err(Error::NoVerdictPending)
        ));
        pair.drive();
        pair.assert_clean_exchange(what);
        assert!(pair.client.handshake.is_some(), "{what}");
    }
}

#[test]
fn no_session_outlives_a_rejection() {
    let pki = Pki::Ecdsa;
    let reject =
        || -> harness::pair::Verdict { Box::new(|_| Err(CertificateError::UnknownIssuer.into())) };
    for tls12 in [false, true] {
        // The client side: one deferred config (and store), one server config.
        let client = deferred_client(client_config(pki, tls12), pki);
        let server_config = Arc::new(server_config(pki, tls12));
        let connect = |verdict: harness::pair::Verdict| {
            let mut pair = Pair::from_conns(
                LlClientConnection::deferred(&client, name("localhost")).unwrap(),
                LlServerConnection::new(server_config.clone()).unwrap(),
            );
            pair.client.verdict = Some(verdict);
            exchange(&mut pair);
            pair
        };
        let what = format!("{}: client rejects, then accepts", version(tls12));
        let first = connect(reject());
        assert!(first.client.error.is_some(), "{what}");
        let accept = server_verifier(pki);
        let second = connect(Box::new(move |c| c.verify_server(&*accept)));
        second.assert_clean_exchange(&what);
        let info = second.client.handshake.as_ref().unwrap();
        assert!(
            !info.resumed,
            "{what}: a full handshake after the rejection"
        );
        assert_eq!(second.client.presented.len(), 1, "{what}");
        // Control: what the accepted server gave does resume.
        let third = connect(reject());
        third.assert_clean_exchange(&what);
        assert!(third.client.handshake.as_ref().unwrap().resumed, "{what}");
        assert!(
            third.client.presented.is_empty(),
            "{what}: nothing to verify"
        );

        // The server side: one deferred config, one client config.
        let server = deferred_server(pki, tls12);
        let client_config = Arc::new(client_config_with_auth(pki, tls12));
        let connect = |verdict: harness::pair::Verdict| {
            let mut pair = Pair::from_conns(
                LlClientConnection::new(client_config.clone(), name("localhost")).unwrap(),
                LlServerConnection::deferred(&server).unwrap(),
            );
            pair.server.verdict = Some(verdict);
            exchange(&mut pair);
            pair
        };
        let what = format!("{}: server rejects, then accepts", version(tls12));
        let first = connect(reject());
        assert!(first.server.error.is_some(), "{what}");
        let accept = client_verifier(pki);
        let second = connect(Box::new(move |c| c.verify_client(&*accept)));
        second.assert_clean_exchange(&what);
        assert!(!second.server.handshake.as_ref().unwrap().resumed, "{what}");
        assert_eq!(second.server.presented.len(), 1, "{what}");
        let third = connect(reject());
        third.assert_clean_exchange(&what);
        assert!(third.server.handshake.as_ref().unwrap().resumed, "{what}");
        assert!(third.server.presented.is_empty(), "{what}");
    }
}

#[test]
fn chains_reach_their_own_connection_when_many_share_a_config() {
    let pki = Pki::Ecdsa;
    let server = deferred_server(pki, false);
    let identities = ["client", "revoked-client"];
    let names = ["localhost", "127.0.0.1"];
    let revoked = load_certs("certs/revoked-client.pem").remove(0);
    // One deferred config (verifier and sessions) per client identity, each
    // shared by 8 connections; one deferred server config shared by all.
    let clients = identities.map(|identity| {
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions(false))
            .unwrap()
            .with_root_certificates(roots(pki))
            .with_client_auth_cert(
                load_certs(&format!("certs/{identity}.pem")),
                load_key(&format!("certs/{identity}.key")),
            )
            .unwrap();
        deferred_client(harness::configs::in_place_client(config), pki)
    });
    let mut pairs: Vec<Pair> = (0..16)
        .map(|i| {
            let client = &clients[i % 2];
            let mut pair = Pair::from_conns(
                LlClientConnection::deferred(client, name(names[i / 2 % 2])).unwrap(),
                LlServerConnection::deferred(&server).unwrap(),
            );
            let verifier = client_verifier(pki);
            let revoked = revoked.clone();
            pair.server.verdict = Some(Box::new(move |c| {
                if c.end_entity == revoked {
                    return Err(CertificateError::Revoked.into());
                }
                c.verify_client(&*verifier)
            }));
            let verifier = server_verifier(pki);
            pair.client.verdict = Some(Box::new(move |c| c.verify_server(&*verifier)));
            pair.client.to_send = vec![i as u8; 1000 + i];
            pair.client.close_after_send = true;
            pair.server.close_after_send = true;
            pair
        })
        .collect();
    // One step of each in turn: every connection's calls into rustls are
    // interleaved with the others' on this thread.
    let mut progress = true;
    while progress {
        progress = false;
        for pair in &mut pairs {
            progress |= pair.step();
        }
    }
    for (i, pair) in pairs.iter().enumerate() {
        let what = format!("connection {i}");
        let identity = identities[i % 2];
        let cert = load_certs(&format!("certs/{identity}.pem")).remove(0);
        assert_eq!(pair.server.presented.len(), 1, "{what}");
        assert_eq!(
            pair.server.presented[0].end_entity, cert,
            "{what}: server saw its own client"
        );
        assert_eq!(
            pair.client.presented[0].server_name,
            Some(name(names[i / 2 % 2])),
            "{what}: client saw its own name"
        );
        if i % 2 == 0 {
            pair.assert_clean_exchange(&what);
            assert_eq!(pair.server.received, vec![i as u8; 1000 + i], "{what}");
        } else {
            let alert = AlertDescription::CertificateRevoked;
            assert_rejected(
                &what,
                &pair.server.error,
                &pair.client.error,
                &CertificateError::Revoked.into(),
                alert,
            );
            assert!(pair.server.received.is_empty(), "{what}");
        }
    }
}

#[test]
fn the_mode_fails_closed_and_refuses_what_would_weaken_it() {
    let pki = Pki::Ecdsa;
    let client = deferred_client(client_config(pki, false), pki);
    // The deferred config used by a connection not in deferred mode: the
    // verifier refuses rather than let an unchecked chain through.
    let mut pair = Pair::from_conns(
        LlClientConnection::new(client.rustls().clone(), name("localhost")).unwrap(),
        LlServerConnection::new(Arc::new(server_config(pki, false))).unwrap(),
    );
    exchange(&mut pair);
    let error = pair.client.error.as_ref().expect("handshake refused");
    assert!(
        error
            .to_string()
            .contains("outside a deferred lltls connection"),
        "{error}"
    );
    assert_eq!(
        pair.server.error.as_ref().and_then(Error::alert_received),
        Some(AlertDescription::HandshakeFailure)
    );
    assert!(pair.server.received.is_empty());

    // A client certificate would reach a server not yet verified.
    let refused = DeferredClientConfig::new(
        client_config_with_auth(pki, false),
        server_verifier(pki),
        Arc::new(ClientSessionMemoryCache::new(8)),
    );
    assert!(matches!(refused, Err(Error::Config(_))), "{refused:?}");
    // The record layer that seals the rejection needs the secrets.
    let mut no_secrets = client_config(pki, false);
    no_secrets.enable_secret_extraction = false;
    let refused = DeferredClientConfig::new(
        no_secrets,
        server_verifier(pki),
        Arc::new(ClientSessionMemoryCache::new(8)),
    );
    assert!(matches!(refused, Err(Error::SecretExtractionDisabled)));
    // Stateless tickets could not be withdrawn after a rejection.
    let mut with_tickets = server_config_requiring_auth(pki, false);
    with_tickets.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().unwrap();
    let server = DeferredServerConfig::new(with_tickets).unwrap();
    assert!(!server.rustls().ticketer.enabled());
    // No verdict before a chain was handed out, nor outside deferred mode.
    let mut early = LlClientConnection::deferred(&client, name("localhost")).unwrap();
    assert!(matches!(
        early.peer_verified(Ok(())),
        Err(Error::NoVerdictPending)
    ));
    let mut conn =
        LlClientConnection::new(Arc::new(client_config(pki, false)), name("localhost")).unwrap();
    assert!(matches!(
        conn.peer_verified(Ok(())),
        Err(Error::NoVerdictPending)
    ));
    let (mut incoming, mut outgoing) = (IncomingTls::new(), OutgoingTls::new());
    assert!(conn.process(&mut incoming, &mut outgoing).is_ok());
}

#[test]
fn early_data_goes_only_to_an_accepted_server_and_its_resend_waits() {
    let pki = Pki::Ecdsa;
    let early: &[u8] = b"early data";
    let mut client_config = client_config(pki, false);
    client_config.enable_early_data = true;
    let client = deferred_client(client_config, pki);
    let server_with_early_data = || {
        let mut config = server_config(pki, false);
        config.max_early_data_size = 16_384;
        Arc::new(config)
    };
    let server = server_with_early_data();
    let connect = |server: &Arc<ServerConfig>, first: &[u8]| {
        let mut conn = LlClientConnection::deferred(&client, name("localhost")).unwrap();
        let mut pair_in = IncomingTls::new();
        let mut pair_out = OutgoingTls::new();
        let taken = conn
            .encrypt_early_data(first, &mut pair_in, &mut pair_out)
            .unwrap();
        let mut pair = Pair::from_conns(conn, LlServerConnection::new(server.clone()).unwrap());
        pair.client.incoming = pair_in;
        pair.client.outgoing = pair_out;
        (pair, taken)
    };
    let accept = || -> harness::pair::Verdict {
        let verifier = server_verifier(pki);
        Box::new(move |c| c.verify_server(&*verifier))
    };

    // Rejected: the client keeps no ticket, so no early data next time.
    let (mut pair, taken) = connect(&server, early);
    assert_eq!(taken, 0, "no ticket yet");
    pair.client.verdict = Some(Box::new(|_| Err(CertificateError::UnknownIssuer.into())));
    exchange(&mut pair);
    assert!(pair.client.error.is_some());
    let (mut pair, taken) = connect(&server, early);
    assert_eq!(taken, 0, "no early data after a rejection");
    pair.client.verdict = Some(accept());
    exchange(&mut pair);
    pair.assert_clean_exchange("accepted");

    // Accepted: the next connection resumes with early data, no verdict due.
    let (mut pair, taken) = connect(&server, early);
    assert_eq!(taken, early.len(), "early data to the accepted server");
    exchange(&mut pair);
    pair.assert_clean_exchange("resumed");
    assert!(pair.client.presented.is_empty());
    assert_eq!(pair.server.early_received, early);

    // A server that does not know the session: full handshake, early data
    // refused, and its resend waits for the verdict.
    let stranger = server_with_early_data();
    let (mut pair, taken) = connect(&stranger, early);
    assert_eq!(taken, early.len());
    exchange(&mut pair);
    assert_eq!(pair.client.transcript.last(), Some(&"AwaitingVerdict"));
    assert!(pair.server.early_received.is_empty());
    assert!(pair.server.received.is_empty(), "resend held");
    let certs = pair.client.presented[0].clone();
    pair.client
        .conn
        .peer_verified(certs.verify_server(&*server_verifier(pki)))
        .unwrap();
    pair.drive();
    pair.assert_clean_exchange("resend after the verdict");
}

/// The verdict comes late: the peer's application data (and, in TLS 1.3, its
/// tickets) arrived and waits in `IncomingTls` while the connection awaits
/// it, and then the caller rejects. The alert goes out, sealed with the
/// current keys; nothing held is ever opened or delivered; sessions are
/// dropped.
#[test]
fn a_delayed_rejection_opens_nothing_that_was_held() {
    let pki = Pki::Ecdsa;
    for tls12 in [false, true] {
        for (reason, alert) in reasons() {
            // The client rejects the server.
            let what = format!("{}: client rejects late with {reason:?}", version(tls12));
            let client = deferred_client(client_config(pki, tls12), pki);
            let server_config = Arc::new(server_config(pki, tls12));
            let connect = || {
                Pair::from_conns(
                    LlClientConnection::deferred(&client, name("localhost")).unwrap(),
                    LlServerConnection::new(server_config.clone()).unwrap(),
                )
            };
            let mut pair = connect();
            exchange(&mut pair);
            let held = reject_late(&what, &mut pair.client, &reason);
            pair.drive();
            assert_rejected(
                &what,
                &pair.client.error,
                &pair.server.error,
                &reason,
                alert,
            );
            check_nothing_released(&what, &pair.client, held);
            assert!(pair.server.received.is_empty(), "{what}: server got data");
            // The next connection with the same store is a full handshake.
            let mut next = connect();
            verify_normally(&mut next, pki);
            exchange(&mut next);
            next.assert_clean_exchange(&what);
            assert!(!next.client.handshake.as_ref().unwrap().resumed, "{what}");
            assert_eq!(next.client.presented.len(), 1, "{what}");

            // The server rejects the client.
            let what = format!("{}: server rejects late with {reason:?}", version(tls12));
            let server = deferred_server(pki, tls12);
            let client_config = Arc::new(client_config_with_auth(pki, tls12));
            let connect = || {
                Pair::from_conns(
                    LlClientConnection::new(client_config.clone(), name("localhost")).unwrap(),
                    LlServerConnection::deferred(&server).unwrap(),
                )
            };
            let mut pair = connect();
            exchange(&mut pair);
            let held = reject_late(&what, &mut pair.server, &reason);
            pair.drive();
            assert_rejected(
                &what,
                &pair.server.error,
                &pair.client.error,
                &reason,
                alert,
            );
            check_nothing_released(&what, &pair.server, held);
            assert!(pair.client.received.is_empty(), "{what}: client got data");
            // The client offers what the server gave it; the server holds
            // no such session and runs a full handshake.
            let mut next = connect();
            verify_normally(&mut next, pki);
            exchange(&mut next);
            next.assert_clean_exchange(&what);
            assert!(!next.server.handshake.as_ref().unwrap().resumed, "{what}");
            assert_eq!(next.server.presented.len(), 1, "{what}");
        }
    }
}

/// What the rejecting side holds when it rejects: the peer's records,
/// unopened, and where it stands.
struct Held {
    bytes: Vec<u8>,
    /// Receive sequence number.
    rx: Option<u64>,
    wire_len: usize,
}

/// Checks the side waits for a verdict with the peer's data held, then
/// rejects with `reason`.
fn reject_late<C: lltls::Side>(
    what: &str,
    end: &mut harness::pair::Endpoint<C>,
    reason: &rustls::Error,
) -> Held {
    assert_eq!(
        end.transcript.last(),
        Some(&"AwaitingVerdict"),
        "{what}: {:?}",
        end.transcript
    );
    assert_eq!(end.presented.len(), 1, "{what}");
    assert!(end.error.is_none(), "{what}: {:?}", end.error);
    let bytes = end.incoming.filled().to_vec();
    // More than a full record of the peer's data arrived and waits.
    assert!(bytes.len() > 16_384, "{what}: {}B held", bytes.len());
    assert_eq!(bytes[0], 23, "{what}: a protected record waits first");
    assert!(end.received.is_empty(), "{what}: data before the verdict");
    let held = Held {
        bytes,
        rx: end.conn.sequence_numbers().map(|(_, rx)| rx),
        wire_len: end.wire.len(),
    };
    end.conn.peer_verified(Err(reason.clone())).unwrap();
    held
}

/// After the rejection: no `AppDataAvailable` ever, no plaintext, the held
/// records still unopened (opening decrypts them where they lie), the
/// receive sequence number where it was, and one record (the alert) sent.
fn check_nothing_released<C: lltls::Side>(
    what: &str,
    end: &harness::pair::Endpoint<C>,
    held: Held,
) {
    assert!(
        !end.transcript.contains(&"AppDataAvailable"),
        "{what}: {:?}",
        end.transcript
    );
    assert!(end.received.is_empty(), "{what}: plaintext delivered");
    assert!(end.handshake.is_none(), "{what}: HandshakeComplete");
    assert!(
        end.incoming.filled().starts_with(&held.bytes),
        "{what}: the held records were opened"
    );
    assert_eq!(
        end.conn.sequence_numbers().map(|(_, rx)| rx),
        held.rx,
        "{what}: records were opened"
    );
    let after = &end.wire[held.wire_len..];
    assert_eq!(
        records(after).len(),
        1,
        "{what}: only the alert goes out after the verdict"
    );
}
