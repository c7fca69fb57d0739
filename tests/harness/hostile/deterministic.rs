//! A crypto provider whose handshakes are reproducible: aws-lc-rs with rustls's random source
//! and the X25519 key exchange replaced by seeded streams, one per side.
//!
//! With Ed25519 certificates (deterministic signatures) a fresh connection given the same seed
//! and the same input produces the same handshake byte for byte. That is what lets a recorded
//! exchange be replayed, mutated, against a fresh client or server and reach every state of the
//! real one, encrypted records included. TEST ONLY: the "randomness" is predictable.

use std::cell::Cell;

use ::aws_lc_rs::agreement::{self, UnparsedPublicKey, X25519};
use rustls::crypto::{
    aws_lc_rs, ActiveKeyExchange, CryptoProvider, GetRandomFailed, SecureRandom, SharedSecret,
    SupportedKxGroup,
};
use rustls::NamedGroup;

/// Which connection a stream serves. The client and the server of one in-memory exchange run
/// on the same thread; separate streams keep each side's draws independent of when the other
/// side runs, so replaying one side alone draws exactly what it drew in the recording.
#[derive(Debug, Clone, Copy)]
enum Stream {
    Client = 0,
    Server = 1,
}

thread_local! {
    // Per thread: the test harness runs tests in parallel, each on its own thread.
    static STATE: Cell<[u64; 2]> = const { Cell::new([1, 2]) };
}

/// Restarts both streams from `seed`. Call before creating the connections of one exchange.
pub fn reseed(seed: u64) {
    STATE.with(|state| {
        state.set([
            seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            seed.wrapping_mul(0xc2b2_ae3d_27d4_eb4f) | 1,
        ])
    });
}

fn fill(stream: Stream, out: &mut [u8]) {
    STATE.with(|state| {
        let mut all = state.get();
        let x = &mut all[stream as usize];
        for byte in out.iter_mut() {
            // xorshift64*: plenty for reproducible test keys.
            *x ^= *x >> 12;
            *x ^= *x << 25;
            *x ^= *x >> 27;
            *byte = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
        }
        state.set(all);
    });
}

#[derive(Debug)]
struct SeededRandom(Stream);

impl SecureRandom for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        fill(self.0, buf);
        Ok(())
    }
}

/// X25519 whose ephemeral private keys come from the side's stream (aws-lc-rs draws them from
/// its own generator, which rustls's `SecureRandom` does not reach).
#[derive(Debug)]
struct SeededX25519(Stream);

struct SeededKeyExchange {
    private_key: agreement::PrivateKey,
    public_key: Vec<u8>,
}

impl SupportedKxGroup for SeededX25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let mut scalar = [0u8; 32];
        fill(self.0, &mut scalar);
        let private_key = agreement::PrivateKey::from_private_key(&X25519, &scalar)
            .map_err(|_| rustls::Error::General("x25519 key rejected".into()))?;
        let public_key = private_key
            .compute_public_key()
            .map_err(|_| rustls::Error::General("x25519 public key".into()))?
            .as_ref()
            .to_vec();
        Ok(Box::new(SeededKeyExchange {
            private_key,
            public_key,
        }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

impl ActiveKeyExchange for SeededKeyExchange {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, rustls::Error> {
        agreement::agree(
            &self.private_key,
            UnparsedPublicKey::new(&X25519, peer_pub_key),
            rustls::Error::from(rustls::PeerMisbehaved::InvalidKeyShare),
            |secret| Ok(SharedSecret::from(secret)),
        )
    }

    fn pub_key(&self) -> &[u8] {
        &self.public_key
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

static CLIENT_RANDOM: SeededRandom = SeededRandom(Stream::Client);
static SERVER_RANDOM: SeededRandom = SeededRandom(Stream::Server);
static CLIENT_X25519: SeededX25519 = SeededX25519(Stream::Client);
static SERVER_X25519: SeededX25519 = SeededX25519(Stream::Server);

/// aws-lc-rs's default provider with the client stream.
pub fn client_provider() -> CryptoProvider {
    CryptoProvider {
        secure_random: &CLIENT_RANDOM,
        kx_groups: vec![&CLIENT_X25519],
        ..aws_lc_rs::default_provider()
    }
}

/// aws-lc-rs's default provider with the server stream.
pub fn server_provider() -> CryptoProvider {
    CryptoProvider {
        secure_random: &SERVER_RANDOM,
        kx_groups: vec![&SERVER_X25519],
        ..aws_lc_rs::default_provider()
    }
}
