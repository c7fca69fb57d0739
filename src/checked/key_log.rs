//! The key log that passes a TLS 1.3 server's application traffic secret to
//! its connection, so that lltls can seal an alert rustls does not send.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::sync::Arc;

use rustls::KeyLog;

use super::leave_secret;

/// rustls's label for the server's first application traffic secret.
const SERVER_TRAFFIC_SECRET_0: &str = "SERVER_TRAFFIC_SECRET_0";

/// Wraps a server's [`KeyLog`]: it also passes the server's application
/// traffic secret to the lltls connection that is calling into rustls, so
/// that a violation lltls detects after rustls changed its sending keys (a
/// handshake record in the clear from a TLS 1.3 client once the server's
/// flight is out) gets its alert sealed with those keys, instead of rustls's
/// bad_record_mac. The wrapped log receives every line it would receive
/// alone; the secret goes nowhere else, and keys are derived from it only
/// when an alert is due. In a client's config it changes nothing: a client
/// never seals with the server's key.
#[derive(Debug)]
pub struct SealingKeyLog {
    inner: Arc<dyn KeyLog>,
}

impl SealingKeyLog {
    /// Wraps `inner` (rustls's `NoKeyLog` to log nothing).
    pub fn new(inner: Arc<dyn KeyLog>) -> Self {
        Self { inner }
    }
}

impl KeyLog for SealingKeyLog {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        if label == SERVER_TRAFFIC_SECRET_0 {
            leave_secret(secret);
        }
        // rustls logs a line only when `will_log` says so: the inner log
        // gets exactly the lines it asked for.
        if self.inner.will_log(label) {
            self.inner.log(label, client_random, secret);
        }
    }

    fn will_log(&self, label: &str) -> bool {
        label == SERVER_TRAFFIC_SECRET_0 || self.inner.will_log(label)
    }
}
