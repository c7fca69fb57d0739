//! Call orders where rustls's state machine and lltls's meet: what a caller
//! does right after the handshake (before `process` lets the in-place record
//! layer take over), a connection driven from inside another's callback,
//! and what may be asked of a connection whose peer awaits a verdict.

mod harness;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use harness::configs::{client_config, load_certs, provider, roots, server_config, Pki};
use harness::pair::records;
use lltls::{
    DeferredClientConfig, Error, IncomingTls, LlClientConnection, LlConnection, LlServerConnection,
    OutgoingTls, PeerCertificates, RecordLayer, Side, Status,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientSessionMemoryCache, WebPkiServerVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

const ALERT: u8 = 21;
const APPLICATION_DATA: u8 = 23;

struct End<C: Side> {
    conn: LlConnection<C>,
    incoming: IncomingTls,
    outgoing: OutgoingTls,
    received: Vec<u8>,
    /// Every byte this side transmitted.
    wire: Vec<u8>,
}

impl<C: Side> End<C> {
    fn new(conn: LlConnection<C>) -> Self {
        Self {
            conn,
            // Room for any flight, so the test can deliver whole flights.
            incoming: IncomingTls::with_capacity(1 << 16),
            outgoing: OutgoingTls::new(),
            received: Vec::new(),
            wire: Vec::new(),
        }
    }

    /// Runs `process` until it waits, taking plaintext; the last status.
    fn pump(&mut self) -> Result<&'static str, Error> {
        for _ in 0..1000 {
            match self.conn.process(&mut self.incoming, &mut self.outgoing)? {
                Status::AppDataAvailable(mut records) => {
                    while let Some(record) = records.next_record() {
                        self.received.extend_from_slice(record?);
                    }
                }
                Status::NeedsMoreTlsData | Status::MustTransmitTlsData => return Ok("waits"),
                Status::Closed => return Ok("closed"),
                Status::AwaitingVerdict => return Ok("awaiting verdict"),
                _ => {}
            }
        }
        panic!("process never waits")
    }

    fn encrypt(&mut self, data: &[u8]) -> Result<usize, Error> {
        self.conn
            .encrypt(data, &mut self.incoming, &mut self.outgoing)
    }

    fn close(&mut self) -> Result<bool, Error> {
        self.conn
            .queue_close_notify(&mut self.incoming, &mut self.outgoing)
    }

    /// Moves everything this side wrote into `to`'s incoming buffer.
    fn send_to<P: Side>(&mut self, to: &mut End<P>) -> usize {
        let bytes = self.outgoing.filled().to_vec();
        self.outgoing.discard(bytes.len());
        self.wire.extend_from_slice(&bytes);
        assert!(to.incoming.unfilled().len() >= bytes.len(), "no room");
        to.incoming.unfilled()[..bytes.len()].copy_from_slice(&bytes);
        to.incoming.advance(bytes.len());
        bytes.len()
    }
}

fn name() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

type Client = End<rustls::client::UnbufferedClientConnection>;
type Server = End<rustls::server::UnbufferedServerConnection>;

fn pair(tls12: bool, record_layer: RecordLayer) -> (Client, Server) {
    let mut client = client_config(Pki::Ecdsa, tls12);
    client.enable_secret_extraction = true;
    let mut server = server_config(Pki::Ecdsa, tls12);
    server.enable_secret_extraction = true;
    (
        End::new(
            LlClientConnection::with_record_layer(Arc::new(client), name(), record_layer).unwrap(),
        ),
        End::new(LlServerConnection::with_record_layer(Arc::new(server), record_layer).unwrap()),
    )
}

/// Runs both sides, flight by flight, until the handshake is over (the
/// client's ClientHello first; what the client already put in the server's
/// buffer goes along).
fn handshake(client: &mut Client, server: &mut Server) {
    for _ in 0..4 {
        client.pump().unwrap();
        client.send_to(server);
        server.pump().unwrap();
        server.send_to(client);
    }
    assert!(!client.conn.is_handshaking() && !server.conn.is_handshaking());
}

/// A TLS 1.2 peer sealing with the sending keys of a side taken out of
/// rustls's record layer, to forge what that side never sent.
fn sealer_of(secrets: rustls::ExtractedSecrets) -> harness::hostile::records::PeerSealer {
    let (seq, tx) = secrets.tx;
    harness::hostile::records::PeerSealer::new(&tx, seq, false)
}

/// The records a side put on the wire, after the first `skip` bytes.
fn record_types(wire: &[u8], skip: usize) -> Vec<u8> {
    records(&wire[skip..])
        .into_iter()
        .map(|(typ, _)| typ)
        .collect()
}

/// The side that completes its handshake last (a TLS 1.3 server, a TLS 1.2
/// client) is handed the record that completes it and, instead of calling
/// `process`, calls `encrypt` and then `queue_close_notify`: both go out
/// through rustls, before the switch. The switch that follows must know the
/// close_notify was sent: nothing more is sealed, one close_notify in all,
/// and once the peer's close_notify arrives both report `Closed`.
#[test]
fn close_notify_queued_before_the_switch_is_final_after_it() {
    for tls12 in [false, true] {
        let what = if tls12 { "TLS 1.2" } else { "TLS 1.3" };
        let (mut client, mut server) = pair(tls12, RecordLayer::InPlace);
        // ClientHello; the server's flight.
        client.pump().unwrap();
        client.send_to(&mut server);
        server.pump().unwrap();
        server.send_to(&mut client);
        if tls12 {
            // The client's key exchange and Finished; the server's
            // Finished completes the client's handshake.
            client.pump().unwrap();
            client.send_to(&mut server);
            server.pump().unwrap();
            server.send_to(&mut client);
            let mark = client.wire.len();
            check_closed_before_switch(&mut client, &mut server, mark, what);
        } else {
            // The client's Finished completes the server's handshake.
            client.pump().unwrap();
            client.send_to(&mut server);
            let mark = server.wire.len();
            check_closed_before_switch(&mut server, &mut client, mark, what);
        }
    }
}

fn check_closed_before_switch<A: Side, B: Side>(
    last: &mut End<A>,
    other: &mut End<B>,
    mark: usize,
    what: &str,
) {
    // The first calls after the completing record: rustls's record layer.
    assert_eq!(last.encrypt(b"before").unwrap(), 6, "{what}");
    assert!(last.close().unwrap(), "{what}: close_notify queued");
    assert!(last.conn.close_notify_sent(), "{what}");
    // Now `process` switches; nothing more may go out.
    last.pump().unwrap();
    assert_eq!(last.conn.record_layer(), RecordLayer::InPlace, "{what}");
    assert!(
        last.conn.close_notify_sent(),
        "{what}: forgotten at the switch"
    );
    assert_eq!(
        last.encrypt(b"after").unwrap(),
        0,
        "{what}: data after close_notify"
    );
    assert!(
        last.close().unwrap(),
        "{what}: a second call queues nothing"
    );
    assert!(
        !last
            .conn
            .refresh_traffic_keys(&mut last.incoming, &mut last.outgoing)
            .unwrap(),
        "{what}: KeyUpdate after close_notify"
    );
    last.send_to(other);
    let sent = record_types(&last.wire, mark);
    // Whatever the handshake still had to say, then the data and the
    // close_notify, and nothing after it.
    let tail = &sent[sent.len() - 2..];
    let expected_tail = [
        APPLICATION_DATA,
        if what == "TLS 1.2" {
            ALERT
        } else {
            APPLICATION_DATA
        },
    ];
    assert_eq!(tail, expected_tail, "{what}: {sent:?}");
    assert!(
        sent.len() <= 4,
        "{what}: more records than the flight, data and close: {sent:?}"
    );
    // The peer reads the data and the close, and answers with its own.
    assert_eq!(other.pump().unwrap(), "waits", "{what}");
    assert_eq!(other.received, b"before", "{what}");
    assert!(
        other.conn.peer_closed(),
        "{what}: peer saw our close_notify"
    );
    assert!(other.close().unwrap(), "{what}");
    other.send_to(last);
    assert_eq!(other.pump().unwrap(), "closed", "{what}: peer");
    assert_eq!(
        last.pump().unwrap(),
        "closed",
        "{what}: the side that closed first"
    );
    // Nothing was sent in reply to the peer's close_notify.
    let before = last.wire.len();
    last.send_to(other);
    assert_eq!(last.wire.len(), before, "{what}: sent after close_notify");
}

/// A verifier that, once, drives a whole second connection from inside the
/// first one's call into rustls (as a caller's verifier, session store or
/// key log might), then delegates.
#[derive(Debug)]
struct Nested {
    inner: Arc<dyn ServerCertVerifier>,
    nested_config: Arc<rustls::ClientConfig>,
    done: AtomicBool,
    outcome: Arc<Mutex<Option<Result<(), String>>>>,
}

impl ServerCertVerifier for Nested {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if !self.done.swap(true, Ordering::SeqCst) {
            *self.outcome.lock().unwrap() = Some(nested_handshake(&self.nested_config));
        }
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A normal-mode client on the deferred config's rustls config, against a
/// server its roots do not trust; whether its handshake completed.
fn nested_handshake(config: &Arc<rustls::ClientConfig>) -> Result<(), String> {
    let mut client = End::new(LlClientConnection::new(config.clone(), name()).unwrap());
    let mut server_config = server_config(Pki::Rsa, false);
    server_config.enable_secret_extraction = true;
    let mut server = End::new(LlServerConnection::new(Arc::new(server_config)).unwrap());
    for _ in 0..20 {
        client.pump().map_err(|e| e.to_string())?;
        client.encrypt(b"secret").map_err(|e| e.to_string())?;
        client.send_to(&mut server);
        server.pump().map_err(|e| e.to_string())?;
        server.send_to(&mut client);
        if !server.received.is_empty() {
            return Ok(());
        }
    }
    Err("never completed".into())
}

fn webpki(pki: Pki) -> Arc<dyn ServerCertVerifier> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots(pki)), provider())
        .build()
        .unwrap()
}

fn deferred_config(verifier: Arc<dyn ServerCertVerifier>) -> DeferredClientConfig {
    let mut config = client_config(Pki::Ecdsa, false);
    config.enable_secret_extraction = true;
    DeferredClientConfig::new(config, verifier, Arc::new(ClientSessionMemoryCache::new(8))).unwrap()
}

fn ecdsa_server() -> Server {
    let mut config = server_config(Pki::Ecdsa, false);
    config.enable_secret_extraction = true;
    End::new(LlServerConnection::new(Arc::new(config)).unwrap())
}

/// Drives a deferred client until it hands out the server's chain; the
/// chains handed out.
fn until_verify_peer(client: &mut Client, server: &mut Server) -> Vec<PeerCertificates> {
    let mut presented = Vec::new();
    for _ in 0..20 {
        loop {
            match client
                .conn
                .process(&mut client.incoming, &mut client.outgoing)
                .unwrap()
            {
                Status::VerifyPeer(certificates) => {
                    presented.push(certificates);
                    return presented;
                }
                Status::NeedsMoreTlsData
                | Status::MustTransmitTlsData
                | Status::AwaitingVerdict => break,
                _ => {}
            }
        }
        client.send_to(server);
        server.pump().unwrap();
        server.send_to(client);
    }
    presented
}

/// The verification slot names the connection calling into rustls, or
/// none: a normal-mode connection that shares a deferred config and is
/// driven from inside a deferred connection's callback fails closed, as it
/// does anywhere else, and the outer connection sees its own chain only.
#[test]
fn nested_connection_on_a_deferred_config_fails_closed() {
    let outcome = Arc::new(Mutex::new(None));
    // The nested connection uses a deferred config of the same kind.
    let shared = deferred_config(webpki(Pki::Ecdsa));
    let outer_config = deferred_config(Arc::new(Nested {
        inner: webpki(Pki::Ecdsa),
        nested_config: shared.rustls().clone(),
        done: AtomicBool::new(false),
        outcome: outcome.clone(),
    }));
    let mut client = End::new(LlClientConnection::deferred(&outer_config, name()).unwrap());
    let mut server = ecdsa_server();
    let presented = until_verify_peer(&mut client, &mut server);

    let nested = outcome
        .lock()
        .unwrap()
        .clone()
        .expect("the nested handshake ran");
    let error = nested.expect_err("the nested connection completed a handshake unverified");
    assert!(error.contains("outside a deferred"), "{error}");
    assert_eq!(presented.len(), 1, "one chain, the outer connection's own");
    let ecdsa_leaf = load_certs(&format!("{}/fullchain.pem", Pki::Ecdsa.dir())).remove(0);
    assert_eq!(
        presented[0].end_entity, ecdsa_leaf,
        "the nested chain leaked in"
    );
}

/// rustls's connection is not handed out while the peer's chain awaits the
/// verdict: its handshake took that chain unverified.
#[test]
fn rustls_connection_is_withheld_until_the_verdict() {
    let deferred = deferred_config(webpki(Pki::Ecdsa));
    let mut client = End::new(LlClientConnection::deferred(&deferred, name()).unwrap());
    let mut server = ecdsa_server();
    assert_eq!(until_verify_peer(&mut client, &mut server).len(), 1);
    assert_eq!(
        client.conn.record_layer(),
        RecordLayer::Rustls,
        "before the switch"
    );
    assert!(client.conn.rustls().is_none());
    assert!(matches!(
        client.conn.into_rustls(),
        Err(Error::AwaitingVerdict)
    ));

    // Without a pending verdict, it is handed out before the switch...
    let (client, _) = pair(false, RecordLayer::InPlace);
    assert!(client.conn.rustls().is_some());
    assert!(client.conn.into_rustls().is_ok());
    // ...and refused after it.
    let (mut client, mut server) = pair(false, RecordLayer::InPlace);
    handshake(&mut client, &mut server);
    assert_eq!(client.conn.record_layer(), RecordLayer::InPlace);
    assert!(matches!(
        client.conn.into_rustls(),
        Err(Error::RecordLayerSwitched)
    ));
}

/// A peer may send four warning alerts (rustls's allowance, after
/// BoringSSL) in all, not four before the switch and four more after it:
/// the ones rustls counted during the handshake carry over.
#[test]
fn warning_alerts_of_the_handshake_count_after_the_switch() {
    for warnings_during_handshake in [0, 2] {
        // The client keeps rustls's record layer, to hand over its keys.
        let (mut client, _) = pair(true, RecordLayer::Rustls);
        let mut server_config = server_config(Pki::Ecdsa, true);
        server_config.enable_secret_extraction = true;
        let mut server = End::new(LlServerConnection::new(Arc::new(server_config)).unwrap());
        client.pump().unwrap();
        client.send_to(&mut server);
        // user_canceled warnings in the clear, right after the ClientHello.
        for _ in 0..warnings_during_handshake {
            let warning = [ALERT, 3, 3, 0, 2, 1, 90];
            server.incoming.unfilled()[..7].copy_from_slice(&warning);
            server.incoming.advance(7);
        }
        handshake(&mut client, &mut server);
        assert_eq!(server.conn.record_layer(), RecordLayer::InPlace);
        // The client's keys, to seal post-handshake warnings with.
        let mut sealer = sealer_of(
            client
                .conn
                .into_rustls()
                .unwrap()
                .dangerous_into_kernel_connection()
                .unwrap()
                .0,
        );
        let mut accepted = 0;
        let error = loop {
            let record = sealer.seal(ALERT, &[1, 90]);
            server.incoming.unfilled()[..record.len()].copy_from_slice(&record);
            server.incoming.advance(record.len());
            match server.pump() {
                Ok(_) => accepted += 1,
                Err(error) => break error,
            }
            assert!(accepted < 10, "warnings never refused");
        };
        assert_eq!(
            accepted + warnings_during_handshake,
            4,
            "warnings after {warnings_during_handshake} during the handshake"
        );
        assert_eq!(
            error.rustls_error(),
            Some(&rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::TooManyWarningAlertsReceived
            ))
        );
    }
}

/// With rustls's record layer too, nothing follows our close_notify: not
/// the KeyUpdate rustls owes the peer's request (rustls holds it until it
/// seals something else, and after close_notify nothing else is sealed:
/// `sending_inputs_take_nothing_after_our_close_notify`). The fatal alert
/// rustls would seal for a forged record is not tried here: rustls takes its
/// close_notify for a fatal alert and, in debug builds, asserts it sends no
/// second one (rustls/rustls#959).
#[test]
fn rustls_record_layer_sends_nothing_after_our_close_notify() {
    let (mut client, mut server) = pair(false, RecordLayer::Rustls);
    handshake(&mut client, &mut server);
    assert!(!client.conn.is_handshaking() && !server.conn.is_handshaking());
    assert!(client.close().unwrap());
    let closed_at = client.outgoing.len();
    assert!(closed_at > 0, "close_notify queued");
    // The server asks for a KeyUpdate and sends data.
    assert!(server
        .conn
        .refresh_traffic_keys(&mut server.incoming, &mut server.outgoing)
        .unwrap());
    assert_eq!(server.encrypt(b"after the update").unwrap(), 16);
    server.pump().unwrap();
    server.send_to(&mut client);
    assert_eq!(client.pump().unwrap(), "waits");
    assert_eq!(client.received, b"after the update");
    assert_eq!(
        client.outgoing.len(),
        closed_at,
        "a KeyUpdate answer after close_notify"
    );
}

/// TLS 1.2, rustls's record layer: the renegotiation refusal rustls queues
/// for a HelloRequest that arrives after our close_notify is not sent.
#[test]
fn rustls_record_layer_sends_no_renegotiation_refusal_after_our_close_notify() {
    let (mut client, mut server) = pair(true, RecordLayer::Rustls);
    handshake(&mut client, &mut server);
    assert!(client.close().unwrap());
    let closed_at = client.outgoing.len();
    // The server's keys, to seal a HelloRequest with.
    let mut sealer = sealer_of(
        server
            .conn
            .into_rustls()
            .unwrap()
            .dangerous_into_kernel_connection()
            .unwrap()
            .0,
    );
    let record = sealer.seal(22, &[0, 0, 0, 0]);
    client.incoming.unfilled()[..record.len()].copy_from_slice(&record);
    client.incoming.advance(record.len());
    client.pump().unwrap();
    assert_eq!(
        client.outgoing.len(),
        closed_at,
        "a no_renegotiation warning after close_notify"
    );
}

/// Nothing the caller offers after our close_notify is sealed, on rustls's
/// record layer (whose own `encrypt` takes data after its close_notify) as
/// on lltls's, and before the switch: `encrypt` takes 0, `record_room`
/// gives no room, `refresh_traffic_keys` sends no KeyUpdate, and nothing is
/// added to what is waiting to be sent.
#[test]
fn sending_inputs_take_nothing_after_our_close_notify() {
    for tls12 in [false, true] {
        for record_layer in [RecordLayer::Rustls, RecordLayer::InPlace] {
            let what = format!("TLS1.2={tls12} {record_layer:?}");
            let (mut client, mut server) = pair(tls12, record_layer);
            handshake(&mut client, &mut server);
            assert!(client.close().unwrap(), "{what}");
            check_nothing_taken(&mut client, &what);
        }
        // Before the switch: a TLS 1.3 server closes with the record that
        // completes its handshake still unprocessed by `process`.
        let (mut client, mut server) = pair(false, RecordLayer::InPlace);
        client.pump().unwrap();
        client.send_to(&mut server);
        server.pump().unwrap();
        server.send_to(&mut client);
        client.pump().unwrap();
        client.send_to(&mut server);
        assert_eq!(server.encrypt(b"before").unwrap(), 6);
        assert!(server.close().unwrap());
        assert_eq!(
            server.conn.record_layer(),
            RecordLayer::Rustls,
            "before the switch"
        );
        check_nothing_taken(&mut server, "before the switch");
    }
}

fn check_nothing_taken<C: Side>(end: &mut End<C>, what: &str) {
    let closed_at = end.outgoing.len();
    assert_eq!(end.encrypt(b"after close").unwrap(), 0, "{what}: encrypt");
    let room = end
        .conn
        .record_room(&mut end.incoming, &mut end.outgoing)
        .unwrap();
    assert!(room.is_none(), "{what}: record_room");
    assert!(
        !end.conn
            .refresh_traffic_keys(&mut end.incoming, &mut end.outgoing)
            .unwrap(),
        "{what}: refresh_traffic_keys"
    );
    assert_eq!(
        end.conn
            .echo_app_data(&mut end.incoming, &mut end.outgoing)
            .unwrap(),
        0,
        "{what}: echo"
    );
    assert!(end.close().unwrap(), "{what}: a second close");
    assert_eq!(
        end.outgoing.len(),
        closed_at,
        "{what}: sealed after close_notify"
    );
}
