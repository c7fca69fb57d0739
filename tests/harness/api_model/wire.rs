//! An observer of the wire, independent of the code under test: it decrypts every record that
//! crosses, with keys it derives itself from the secrets rustls logs (`KeyLog`), and checks
//! the record-level invariants:
//!
//! - every protected record opens under its direction's current key and the next sequence
//!   number: a record sealed twice under one (direction, key epoch, sequence number), or a
//!   number skipped, does not open and is reported;
//! - TLS 1.2 AES-GCM: no explicit nonce repeats within a direction;
//! - nothing follows a direction's close_notify or fatal alert, and there is at most one
//!   close_notify per direction.
//!
//! It also yields each direction's application-data plaintext (and the client's 0-RTT data),
//! which the model compares with what the sender's API calls accepted.
//!
//! TLS 1.3 (RFC 8446 §5.2, §7): keys from the logged traffic secrets by HKDF-Expand-Label;
//! handshake keys from the first protected record, application keys after the Finished of that
//! direction, the next generation after each KeyUpdate ("traffic upd"); a client's early data
//! opens under the early secret (tried first while the client may still send it). TLS 1.2
//! (RFC 5246 §6.3, RFC 5288, RFC 7905): the key block from the logged master secret and the
//! hello randoms by the PRF; a direction is protected after its ChangeCipherSpec, sequence
//! numbers from 0, additional data with the sequence number.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aws_lc_rs::aead::{
    Aad, Algorithm, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305,
};
use aws_lc_rs::{hkdf, hmac};

/// Which way bytes travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    ClientToServer,
    ServerToClient,
}

impl Dir {
    pub fn index(self) -> usize {
        match self {
            Dir::ClientToServer => 0,
            Dir::ServerToClient => 1,
        }
    }
}

/// The AEAD of the negotiated suite (the model fixes one per run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20,
}

impl Suite {
    fn algorithm(self) -> &'static Algorithm {
        match self {
            Suite::Aes128Gcm => &AES_128_GCM,
            Suite::Aes256Gcm => &AES_256_GCM,
            Suite::Chacha20 => &CHACHA20_POLY1305,
        }
    }

    fn sha384(self) -> bool {
        self == Suite::Aes256Gcm
    }
}

/// Every secret rustls logs, by label and client random (client and server log the same).
#[derive(Debug, Default)]
pub struct KeyLogStore(Mutex<HashMap<LogKey, Vec<u8>>>);

/// (label, client random).
type LogKey = (String, Vec<u8>);

impl rustls::KeyLog for KeyLogStore {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((label.to_owned(), client_random.to_vec()), secret.to_vec());
    }
}

impl KeyLogStore {
    fn get(&self, label: &str, client_random: &[u8]) -> Option<Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(label.to_owned(), client_random.to_vec()))
            .cloned()
    }
}

/// One direction's record protection: the key and what the next record's nonce is made of.
#[derive(Clone)]
struct Keys {
    /// Which key: "early", "handshake", "application N" (TLS 1.3), "tls12".
    epoch: String,
    key: Vec<u8>,
    /// TLS 1.3 and TLS 1.2 ChaCha20: the 12-byte IV; TLS 1.2 GCM: the 4-byte salt.
    iv: Vec<u8>,
    /// TLS 1.3: the secret, for the next generation.
    secret: Vec<u8>,
    seq: u64,
}

/// What a record carried, once opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    AppData(usize),
    EarlyData(usize),
    Alert { level: u8, description: u8 },
    Handshake,
    ChangeCipherSpec,
}

#[derive(Default)]
struct Direction {
    /// Bytes of a record not complete yet.
    partial: Vec<u8>,
    keys: Option<Keys>,
    /// TLS 1.3 client: the early key, tried first until the handshake key takes over.
    early: Option<Keys>,
    /// Handshake messages not complete yet.
    handshake: Vec<u8>,
    /// TLS 1.2: this direction sent ChangeCipherSpec.
    ccs: bool,
    /// TLS 1.3: the next record is sealed with the next key (Finished, KeyUpdate,
    /// EndOfEarlyData seen).
    switch_after_record: Option<&'static str>,
    app_generation: u32,
    pub plaintext: Vec<u8>,
    pub early_plaintext: Vec<u8>,
    pub seen: Vec<Seen>,
    close_notifies: usize,
    /// close_notify or a fatal alert went this way: nothing more may.
    ended_by: Option<String>,
    explicit_nonces: HashSet<[u8; 8]>,
    records: usize,
    /// Bytes of complete records seen this way (where the next record starts).
    offset: usize,
    /// Where the record being read lies: (first byte, one past its last).
    current: (usize, usize),
    /// After the handshake: where each application-data record and each KeyUpdate lies.
    marks: Vec<Mark>,
}

/// A record that matters for the KeyUpdate rule (RFC 8446 §4.6.3: a KeyUpdate with
/// update_requested is answered by a KeyUpdate before the next application data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// Offset of the record's first byte and one past its last, in its direction.
    pub start: usize,
    pub end: usize,
    pub what: Marked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marked {
    AppData,
    KeyUpdate { requested: bool },
}

/// The observer of both directions of one connection.
pub struct Wire {
    tls13: bool,
    suite: Suite,
    keylog: Arc<KeyLogStore>,
    client_random: Option<Vec<u8>>,
    server_random: Option<Vec<u8>>,
    dirs: [Direction; 2],
    bytes_seen: usize,
    /// The first invariant broken, if any.
    pub violation: Option<String>,
}

const HEADER: usize = 5;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APP_DATA: u8 = 23;
const CCS: u8 = 20;

impl Wire {
    pub fn new(tls13: bool, suite: Suite, keylog: Arc<KeyLogStore>) -> Self {
        Self {
            tls13,
            suite,
            keylog,
            client_random: None,
            server_random: None,
            dirs: Default::default(),
            bytes_seen: 0,
            violation: None,
        }
    }

    pub fn bytes_seen(&self) -> usize {
        self.bytes_seen
    }

    pub fn plaintext(&self, dir: Dir) -> &[u8] {
        &self.dirs[dir.index()].plaintext
    }

    pub fn early_plaintext(&self) -> &[u8] {
        &self.dirs[0].early_plaintext
    }

    pub fn seen(&self, dir: Dir) -> &[Seen] {
        &self.dirs[dir.index()].seen
    }

    pub fn tls13(&self) -> bool {
        self.tls13
    }

    /// Bytes of complete records that went `dir`.
    pub fn offset(&self, dir: Dir) -> usize {
        self.dirs[dir.index()].offset
    }

    /// Bytes observed `dir`, complete records or not.
    pub fn observed(&self, dir: Dir) -> usize {
        self.dirs[dir.index()].offset + self.dirs[dir.index()].partial.len()
    }

    /// Application-data records and KeyUpdates that went `dir`, in order.
    pub fn marks(&self, dir: Dir) -> &[Mark] {
        &self.dirs[dir.index()].marks
    }

    /// The sequence number the next protected record `dir` must carry (under the current
    /// key), once protection started.
    pub fn next_seq(&self, dir: Dir) -> Option<u64> {
        let d = &self.dirs[dir.index()];
        match (&d.early, &d.keys) {
            (Some(_), _) => None,
            (None, keys) => keys.as_ref().map(|k| k.seq),
        }
    }

    pub fn close_notified(&self, dir: Dir) -> bool {
        self.dirs[dir.index()].close_notifies > 0
    }

    /// Whether every byte that went `dir` belongs to a complete record.
    pub fn at_record_boundary(&self, dir: Dir) -> bool {
        self.dirs[dir.index()].partial.is_empty()
    }

    /// Whether `dir` ended with close_notify or a fatal alert.
    pub fn ended(&self, dir: Dir) -> bool {
        self.dirs[dir.index()].ended_by.is_some()
    }

    fn violate(&mut self, message: String) {
        if self.violation.is_none() {
            self.violation = Some(message);
        }
    }

    /// Takes bytes delivered `dir`.
    pub fn observe(&mut self, dir: Dir, bytes: &[u8]) {
        self.bytes_seen += bytes.len();
        let d = dir.index();
        self.dirs[d].partial.extend_from_slice(bytes);
        loop {
            let partial = &self.dirs[d].partial;
            if partial.len() < HEADER {
                return;
            }
            let len = usize::from(u16::from_be_bytes([partial[3], partial[4]]));
            if partial.len() < HEADER + len {
                return;
            }
            let record: Vec<u8> = self.dirs[d].partial.drain(..HEADER + len).collect();
            self.record(dir, &record);
        }
    }

    fn record(&mut self, dir: Dir, record: &[u8]) {
        let d = dir.index();
        let start = self.dirs[d].offset;
        self.dirs[d].offset += record.len();
        self.dirs[d].current = (start, start + record.len());
        self.dirs[d].records += 1;
        let number = self.dirs[d].records;
        if let Some(why) = &self.dirs[d].ended_by {
            let why = why.clone();
            self.violate(format!(
                "{dir:?} record #{number} (type {}, {}B) sent after {why}",
                record[0],
                record.len()
            ));
        }
        let outer = record[0];
        if outer == CCS {
            self.dirs[d].seen.push(Seen::ChangeCipherSpec);
            if !self.tls13 {
                self.dirs[d].ccs = true;
                self.tls12_keys(dir);
            }
            return;
        }
        let protected = if self.tls13 {
            outer == APP_DATA
        } else {
            self.dirs[d].ccs
        };
        if !protected {
            self.content(dir, outer, &record[HEADER..], false);
            return;
        }
        if self.tls13 && self.dirs[d].keys.is_none() && self.dirs[d].early.is_none() {
            self.first_tls13_keys(dir);
        }
        match self.open(dir, record) {
            Some((content_type, plaintext, early)) => {
                self.content(dir, content_type, &plaintext, early);
                if let Some(next) = self.dirs[d].switch_after_record.take() {
                    self.tls13_next_keys(dir, next);
                }
            }
            None => {
                let epoch = self.dirs[d]
                    .keys
                    .as_ref()
                    .map(|k| format!("{} seq {}", k.epoch, k.seq));
                self.violate(format!(
                    "{dir:?} record #{number} ({}B) does not open under the expected key and \
                     sequence number ({epoch:?}): a sequence number was reused or skipped, or \
                     the record was sealed with another key",
                    record.len()
                ));
                // Nothing after it can be checked.
                self.dirs[d].ended_by = Some("a record that did not open".into());
            }
        }
    }

    /// Opens a protected record: (content type, plaintext, under the early key).
    fn open(&mut self, dir: Dir, record: &[u8]) -> Option<(u8, Vec<u8>, bool)> {
        let d = dir.index();
        if let Some(early) = &self.dirs[d].early {
            if let Some(opened) = open_with(self.tls13, self.suite, early, record) {
                self.dirs[d].early.as_mut().unwrap().seq += 1;
                return Some((opened.0, opened.1, true));
            }
            // The client moved on to its handshake key (the server rejected 0-RTT, or
            // EndOfEarlyData was sent).
            self.dirs[d].early = None;
            self.tls13_handshake_keys(dir);
        }
        self.dirs[d].keys.as_ref()?;
        if !self.tls13 && self.suite != Suite::Chacha20 {
            let explicit: [u8; 8] = record.get(HEADER..HEADER + 8)?.try_into().ok()?;
            if !self.dirs[d].explicit_nonces.insert(explicit) {
                self.violate(format!(
                    "{dir:?}: TLS 1.2 explicit nonce {explicit:02x?} used twice"
                ));
            }
        }
        let keys = self.dirs[d].keys.as_ref()?;
        let opened = open_with(self.tls13, self.suite, keys, record)?;
        self.dirs[d].keys.as_mut().unwrap().seq += 1;
        Some((opened.0, opened.1, false))
    }

    fn content(&mut self, dir: Dir, content_type: u8, body: &[u8], early: bool) {
        let d = dir.index();
        match content_type {
            APP_DATA if early => {
                self.dirs[d].early_plaintext.extend_from_slice(body);
                self.dirs[d].seen.push(Seen::EarlyData(body.len()));
            }
            APP_DATA => {
                self.mark(dir, Marked::AppData);
                self.dirs[d].plaintext.extend_from_slice(body);
                self.dirs[d].seen.push(Seen::AppData(body.len()));
            }
            ALERT if body.len() == 2 => {
                let (level, description) = (body[0], body[1]);
                self.dirs[d].seen.push(Seen::Alert { level, description });
                if description == 0 {
                    self.dirs[d].close_notifies += 1;
                    if self.dirs[d].close_notifies > 1 {
                        self.violate(format!("{dir:?}: a second close_notify"));
                    }
                    self.dirs[d].ended_by = Some("its close_notify".into());
                } else if level == 2 || (self.tls13 && description != 90) {
                    self.dirs[d].ended_by = Some(format!("its fatal alert {description}"));
                }
            }
            HANDSHAKE => {
                self.dirs[d].seen.push(Seen::Handshake);
                self.dirs[d].handshake.extend_from_slice(body);
                self.handshake_messages(dir);
            }
            _ => {}
        }
    }

    fn mark(&mut self, dir: Dir, what: Marked) {
        let d = &mut self.dirs[dir.index()];
        let (start, end) = d.current;
        d.marks.push(Mark { start, end, what });
    }

    fn handshake_messages(&mut self, dir: Dir) {
        let d = dir.index();
        loop {
            let buf = &self.dirs[d].handshake;
            if buf.len() < 4 {
                return;
            }
            let len = usize::from(buf[1]) << 16 | usize::from(buf[2]) << 8 | usize::from(buf[3]);
            if buf.len() < 4 + len {
                return;
            }
            let message: Vec<u8> = self.dirs[d].handshake.drain(..4 + len).collect();
            let body = &message[4..];
            match (message[0], dir) {
                (1, Dir::ClientToServer) if body.len() >= 34 && self.client_random.is_none() => {
                    self.client_random = Some(body[2..34].to_vec());
                }
                (2, Dir::ServerToClient) if body.len() >= 34 && self.server_random.is_none() => {
                    self.server_random = Some(body[2..34].to_vec());
                }
                (20, _) if self.tls13 => self.dirs[d].switch_after_record = Some("application"),
                (24, _) if self.tls13 => {
                    self.mark(
                        dir,
                        Marked::KeyUpdate {
                            requested: body == [1],
                        },
                    );
                    self.dirs[d].switch_after_record = Some("update");
                }
                (5, _) if self.tls13 => self.dirs[d].switch_after_record = Some("handshake"),
                _ => {}
            }
        }
    }

    fn secret(&self, label: &str) -> Option<Vec<u8>> {
        self.keylog.get(label, self.client_random.as_deref()?)
    }

    fn tls13_keys(&self, epoch: &str, secret: Vec<u8>) -> Keys {
        let key_len = self.suite.algorithm().key_len();
        Keys {
            epoch: epoch.into(),
            key: hkdf_expand_label(self.suite, &secret, b"key", key_len),
            iv: hkdf_expand_label(self.suite, &secret, b"iv", 12),
            secret,
            seq: 0,
        }
    }

    fn first_tls13_keys(&mut self, dir: Dir) {
        if dir == Dir::ClientToServer {
            if let Some(secret) = self.secret("CLIENT_EARLY_TRAFFIC_SECRET") {
                self.dirs[0].early = Some(self.tls13_keys("early", secret));
                return;
            }
        }
        self.tls13_handshake_keys(dir);
    }

    fn tls13_handshake_keys(&mut self, dir: Dir) {
        let label = match dir {
            Dir::ClientToServer => "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            Dir::ServerToClient => "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        };
        match self.secret(label) {
            Some(secret) => {
                self.dirs[dir.index()].keys = Some(self.tls13_keys("handshake", secret))
            }
            None => self.violate(format!(
                "{dir:?}: protected record before {label} was logged"
            )),
        }
    }

    fn tls13_next_keys(&mut self, dir: Dir, next: &str) {
        let d = dir.index();
        match next {
            "handshake" => {
                self.dirs[d].early = None;
                self.tls13_handshake_keys(dir);
            }
            "application" => {
                let label = match dir {
                    Dir::ClientToServer => "CLIENT_TRAFFIC_SECRET_0",
                    Dir::ServerToClient => "SERVER_TRAFFIC_SECRET_0",
                };
                match self.secret(label) {
                    Some(secret) => {
                        self.dirs[d].keys = Some(self.tls13_keys("application 0", secret));
                    }
                    None => self.violate(format!("{dir:?}: Finished before {label} was logged")),
                }
            }
            _ => {
                let Some(current) = &self.dirs[d].keys else {
                    return;
                };
                let len = current.secret.len();
                let secret = hkdf_expand_label(self.suite, &current.secret, b"traffic upd", len);
                self.dirs[d].app_generation += 1;
                let epoch = format!("application {}", self.dirs[d].app_generation);
                self.dirs[d].keys = Some(self.tls13_keys(&epoch, secret));
            }
        }
    }

    fn tls12_keys(&mut self, dir: Dir) {
        let (Some(client_random), Some(server_random)) = (&self.client_random, &self.server_random)
        else {
            self.violate(format!("{dir:?}: ChangeCipherSpec before both hellos"));
            return;
        };
        let Some(master) = self.keylog.get("CLIENT_RANDOM", client_random) else {
            self.violate(format!(
                "{dir:?}: ChangeCipherSpec before the master secret was logged"
            ));
            return;
        };
        let key_len = self.suite.algorithm().key_len();
        let iv_len = if self.suite == Suite::Chacha20 { 12 } else { 4 };
        let mut seed = b"key expansion".to_vec();
        seed.extend_from_slice(server_random);
        seed.extend_from_slice(client_random);
        let block = prf(self.suite.sha384(), &master, &seed, 2 * (key_len + iv_len));
        let (client_key, rest) = block.split_at(key_len);
        let (server_key, rest) = rest.split_at(key_len);
        let (client_iv, server_iv) = rest.split_at(iv_len);
        let (key, iv) = match dir {
            Dir::ClientToServer => (client_key, client_iv),
            Dir::ServerToClient => (server_key, server_iv),
        };
        self.dirs[dir.index()].keys = Some(Keys {
            epoch: "tls12".into(),
            key: key.to_vec(),
            iv: iv.to_vec(),
            secret: Vec::new(),
            seq: 0,
        });
    }

    /// A record of `content_type` holding `body`, sealed as `dir`'s sender would seal its next
    /// record (in the clear before protection starts). The observer's own state does not
    /// move: the real sender does not know of it, so its next record repeats the sequence
    /// number and the receiver must refuse it. `None` unless `dir` is at a record boundary.
    pub fn forge(&self, dir: Dir, content_type: u8, body: &[u8]) -> Option<Vec<u8>> {
        let d = &self.dirs[dir.index()];
        if !d.partial.is_empty() {
            return None;
        }
        let keys = match (&d.early, &d.keys) {
            (Some(early), _) => Some(early),
            (None, keys) => keys.as_ref(),
        };
        let protected = if self.tls13 { keys.is_some() } else { d.ccs };
        if !protected {
            let mut record = vec![content_type, 3, 3];
            record.extend((body.len() as u16).to_be_bytes());
            record.extend_from_slice(body);
            return Some(record);
        }
        let keys = keys?;
        let sealer = LessSafeKey::new(UnboundKey::new(self.suite.algorithm(), &keys.key).ok()?);
        let mut payload = body.to_vec();
        if self.tls13 {
            payload.push(content_type);
            let len = (payload.len() + 16) as u16;
            let header = [APP_DATA, 3, 3, (len >> 8) as u8, len as u8];
            let nonce = xor_seq(&keys.iv, keys.seq);
            let tag = sealer
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(header),
                    &mut payload,
                )
                .ok()?;
            let mut record = header.to_vec();
            record.extend_from_slice(&payload);
            record.extend_from_slice(tag.as_ref());
            return Some(record);
        }
        let mut aad = keys.seq.to_be_bytes().to_vec();
        aad.extend([content_type, 3, 3]);
        aad.extend((body.len() as u16).to_be_bytes());
        let (nonce, explicit) = if self.suite == Suite::Chacha20 {
            (xor_seq(&keys.iv, keys.seq), Vec::new())
        } else {
            // As rustls: the explicit part is the sequence number (XORed with a per-connection
            // value rustls derives; any value opens, the receiver reads it from the record).
            let mut nonce = [0u8; 12];
            nonce[..4].copy_from_slice(&keys.iv);
            nonce[4..].copy_from_slice(&keys.seq.to_be_bytes());
            (nonce, nonce[4..].to_vec())
        };
        let tag = sealer
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad[..]),
                &mut payload,
            )
            .ok()?;
        let len = (explicit.len() + payload.len() + 16) as u16;
        let mut record = vec![content_type, 3, 3, (len >> 8) as u8, len as u8];
        record.extend_from_slice(&explicit);
        record.extend_from_slice(&payload);
        record.extend_from_slice(tag.as_ref());
        Some(record)
    }
}

fn xor_seq(iv: &[u8], seq: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&iv[..12]);
    for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
        *n ^= s;
    }
    nonce
}

/// Opens `record` under `keys` at its sequence number: (content type, plaintext).
fn open_with(tls13: bool, suite: Suite, keys: &Keys, record: &[u8]) -> Option<(u8, Vec<u8>)> {
    let opener = LessSafeKey::new(UnboundKey::new(suite.algorithm(), &keys.key).ok()?);
    let header = &record[..HEADER];
    if tls13 {
        let nonce = xor_seq(&keys.iv, keys.seq);
        let mut payload = record[HEADER..].to_vec();
        let len = opener
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(header),
                &mut payload,
            )
            .ok()?
            .len();
        payload.truncate(len);
        // The inner type is the last non-zero byte; zeros after it are padding.
        let end = payload.iter().rposition(|&b| b != 0)?;
        let content_type = payload[end];
        payload.truncate(end);
        return Some((content_type, payload));
    }
    let explicit_len = if suite == Suite::Chacha20 { 0 } else { 8 };
    let body = record.get(HEADER + explicit_len..)?;
    let plaintext_len = body.len().checked_sub(16)?;
    let nonce = if suite == Suite::Chacha20 {
        xor_seq(&keys.iv, keys.seq)
    } else {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&keys.iv);
        nonce[4..].copy_from_slice(&record[HEADER..HEADER + 8]);
        nonce
    };
    let mut aad = keys.seq.to_be_bytes().to_vec();
    aad.extend([record[0], 3, 3]);
    aad.extend((plaintext_len as u16).to_be_bytes());
    let mut payload = body.to_vec();
    let len = opener
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad[..]),
            &mut payload,
        )
        .ok()?
        .len();
    payload.truncate(len);
    Some((record[0], payload))
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label(secret, label, "", len) (RFC 8446 §7.1).
fn hkdf_expand_label(suite: Suite, secret: &[u8], label: &[u8], len: usize) -> Vec<u8> {
    let algorithm = if suite.sha384() {
        hkdf::HKDF_SHA384
    } else {
        hkdf::HKDF_SHA256
    };
    let prk = hkdf::Prk::new_less_safe(algorithm, secret);
    let length = (len as u16).to_be_bytes();
    let label_len = [(6 + label.len()) as u8];
    let info: [&[u8]; 5] = [&length, &label_len, b"tls13 ", label, &[0]];
    let mut out = vec![0u8; len];
    prk.expand(&info, Len(len))
        .and_then(|okm| okm.fill(&mut out))
        .expect("HKDF output of a valid length");
    out
}

/// The TLS 1.2 PRF, P_SHA256 or P_SHA384 (RFC 5246 §5).
fn prf(sha384: bool, secret: &[u8], seed: &[u8], len: usize) -> Vec<u8> {
    let algorithm = if sha384 {
        hmac::HMAC_SHA384
    } else {
        hmac::HMAC_SHA256
    };
    let key = hmac::Key::new(algorithm, secret);
    let mut out = Vec::with_capacity(len);
    let mut a = hmac::sign(&key, seed).as_ref().to_vec();
    while out.len() < len {
        let mut input = a.clone();
        input.extend_from_slice(seed);
        out.extend_from_slice(hmac::sign(&key, &input).as_ref());
        a = hmac::sign(&key, &a).as_ref().to_vec();
    }
    out.truncate(len);
    out
}
