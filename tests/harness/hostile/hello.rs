//! Hand-built ClientHellos: a hostile client chooses every extension, so a
//! server can be shown hellos no real client library would send (no
//! key_share, only legacy signature schemes, a scheme list no key fits).
//! Encoded from RFC 8446 §4.1.2 and §4.2 and RFC 5246 §7.4.1.2 directly.

/// TLS 1.3 cipher suites (RFC 8446 §B.4).
pub const TLS13_AES_128_GCM_SHA256: u16 = 0x1301;
/// TLS 1.2 ECDHE suites (RFC 5289, RFC 7905).
pub const TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: u16 = 0xc02b;
pub const TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: u16 = 0xc02f;

/// Named groups (RFC 8446 §4.2.7).
pub const X25519: u16 = 0x001d;
pub const SECP256R1: u16 = 0x0017;

/// Signature schemes (RFC 8446 §4.2.3).
pub const RSA_PKCS1_SHA256: u16 = 0x0401;
pub const RSA_PKCS1_SHA1: u16 = 0x0201;
pub const ECDSA_SHA1: u16 = 0x0203;
pub const ECDSA_SHA224: u16 = 0x0303;
pub const RSA_SHA224: u16 = 0x0301;
pub const ECDSA_SECP256R1_SHA256: u16 = 0x0403;
pub const ECDSA_SECP384R1_SHA384: u16 = 0x0503;
pub const ECDSA_SECP521R1_SHA512: u16 = 0x0603;
pub const RSA_PSS_RSAE_SHA256: u16 = 0x0804;
pub const RSA_PSS_PSS_SHA256: u16 = 0x0809;
pub const RSA_PSS_PSS_SHA384: u16 = 0x080a;
pub const ED25519: u16 = 0x0807;

/// What a hand-built ClientHello offers. `None` leaves an extension out.
#[derive(Clone, Debug)]
pub struct Hello {
    pub versions: Option<Vec<u16>>,
    pub suites: Vec<u16>,
    pub groups: Option<Vec<u16>>,
    pub schemes: Option<Vec<u16>>,
    /// One X25519 share when `Some(true)`; an empty share list with
    /// `Some(false)`.
    pub key_share: Option<bool>,
}

impl Hello {
    /// A TLS 1.3-only hello with one X25519 share and `schemes`.
    pub fn tls13(schemes: &[u16]) -> Self {
        Self {
            versions: Some(vec![0x0304]),
            suites: vec![TLS13_AES_128_GCM_SHA256],
            groups: Some(vec![X25519, SECP256R1]),
            schemes: Some(schemes.to_vec()),
            key_share: Some(true),
        }
    }

    /// A TLS 1.2-only hello (no supported_versions) with `suites` and
    /// `schemes`.
    pub fn tls12(suites: &[u16], schemes: &[u16]) -> Self {
        Self {
            versions: None,
            suites: suites.to_vec(),
            groups: Some(vec![X25519, SECP256R1]),
            schemes: Some(schemes.to_vec()),
            key_share: None,
        }
    }

    /// The handshake message (type 1 and its 24-bit length included).
    pub fn message(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&[3, 3]); // legacy_version
        body.extend((0..32u8).map(|i| i.wrapping_mul(7).wrapping_add(1))); // random
        body.push(32); // legacy_session_id, as middlebox-compatible clients send
        body.extend((0..32u8).map(|i| 0xa0 ^ i));
        body.extend_from_slice(&u16_list(&self.suites));
        body.extend_from_slice(&[1, 0]); // compression: null only
        let mut extensions = Vec::new();
        if let Some(versions) = &self.versions {
            let mut list = vec![(versions.len() * 2) as u8];
            for version in versions {
                list.extend_from_slice(&version.to_be_bytes());
            }
            extension(&mut extensions, 43, &list);
        }
        if let Some(groups) = &self.groups {
            extension(&mut extensions, 10, &u16_list(groups));
        }
        if let Some(schemes) = &self.schemes {
            extension(&mut extensions, 13, &u16_list(schemes));
        }
        // ec_point_formats: uncompressed (TLS 1.2 ECDHE).
        extension(&mut extensions, 11, &[1, 0]);
        match self.key_share {
            Some(true) => {
                let mut share = Vec::new();
                share.extend_from_slice(&X25519.to_be_bytes());
                // The X25519 base point: a valid public value.
                let mut point = [0u8; 32];
                point[0] = 9;
                share.extend_from_slice(&(point.len() as u16).to_be_bytes());
                share.extend_from_slice(&point);
                let mut shares = (share.len() as u16).to_be_bytes().to_vec();
                shares.extend_from_slice(&share);
                extension(&mut extensions, 51, &shares);
            }
            Some(false) => extension(&mut extensions, 51, &[0, 0]),
            None => {}
        }
        body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        body.extend_from_slice(&extensions);
        handshake(1, &body)
    }

    /// The hello in one plaintext handshake record.
    pub fn record(&self) -> Vec<u8> {
        plaintext_record(22, &self.message())
    }
}

/// A handshake message: type, 24-bit length, body.
pub fn handshake(msg_type: u8, body: &[u8]) -> Vec<u8> {
    let len = body.len() as u32;
    let mut message = vec![msg_type];
    message.extend_from_slice(&len.to_be_bytes()[1..]);
    message.extend_from_slice(body);
    message
}

/// A plaintext record (legacy version 0x0303).
pub fn plaintext_record(content_type: u8, fragment: &[u8]) -> Vec<u8> {
    let mut record = vec![content_type, 3, 3];
    record.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
    record.extend_from_slice(fragment);
    record
}

fn u16_list(items: &[u16]) -> Vec<u8> {
    let mut list = ((items.len() * 2) as u16).to_be_bytes().to_vec();
    for item in items {
        list.extend_from_slice(&item.to_be_bytes());
    }
    list
}

fn extension(extensions: &mut Vec<u8>, kind: u16, data: &[u8]) {
    extensions.extend_from_slice(&kind.to_be_bytes());
    extensions.extend_from_slice(&(data.len() as u16).to_be_bytes());
    extensions.extend_from_slice(data);
}
