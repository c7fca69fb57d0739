//! Checks of the handshake that rustls 0.23 leaves to its caller, as
//! wrappers around the caller's certificate resolver and client certificate
//! verifier, so that a peer rustls would refuse late, or with another alert,
//! gets the answer RFC 8446 and RFC 5246 ask for.
//!
//! They read only what rustls hands its resolvers and verifiers (no second
//! parse of any handshake message): [`CheckedCertResolver`] refuses a
//! ClientHello whose signature schemes the server's key cannot sign with,
//! before the ServerHello (rustls would send it and fail at its
//! CertificateVerify in TLS 1.3, or send nothing in TLS 1.2), and [`CheckedClientVerifier`] refuses an empty
//! certificate entry and names a TLS 1.3 ECDSA CertificateVerify whose
//! scheme does not fit the certificate's key as illegal_parameter.
//! [`SealingKeyLog`] passes a TLS 1.3 server's traffic secret to its
//! connection, which seals the alert of a rule it checks once rustls's keys
//! changed (a handshake record in the clear after the server's flight).
//!
//! Some of those answers need a different alert than the one rustls sends
//! for the refusal (access_denied for a resolver's `None`, bad_certificate
//! for an unreadable certificate). The wrappers leave a note on the calling
//! thread, and the connection, which called rustls on that thread a moment
//! before, corrects the alert rustls wrote, when it went out in the clear
//! (a plaintext record lltls reads entirely; a sealed alert is never
//! touched). So the wrappers belong to the core, next to that correction:
//! any caller of lltls can install them (`llserver` does).
//!
//! Without std there is no thread to leave a note on: the wrappers are left
//! out.

#[cfg(feature = "std")]
use alloc::vec::Vec;

#[cfg(feature = "std")]
mod key_log;
#[cfg(feature = "std")]
mod resolver;
mod seal;
#[cfg(feature = "std")]
mod verifier;

#[cfg(feature = "std")]
pub use key_log::SealingKeyLog;
#[cfg(feature = "std")]
pub use resolver::CheckedCertResolver;
pub(crate) use seal::AlertKey;
#[cfg(feature = "std")]
pub use verifier::CheckedClientVerifier;

/// What a wrapper refused, for the connection to correct rustls's alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// Without std no wrapper leaves one; the correction still names them.
#[cfg_attr(not(feature = "std"), allow(dead_code))]
pub(crate) enum Note {
    /// The resolver refused: the client offered no signature scheme the
    /// key can sign with (rustls sends access_denied; RFC 8446 §4.4.2.2
    /// and RFC 5246 §7.4.1.4.1 call for handshake_failure).
    NoUsableScheme,
    /// The client's Certificate held an empty certificate entry (rustls
    /// sends bad_certificate; the syntax `ASN.1Cert<1..2^24-1>` makes it a
    /// decode_error).
    EmptyCertificateEntry,
}

#[cfg(feature = "std")]
std::thread_local! {
    /// The last refusal of a wrapper on this thread, until a connection
    /// takes it.
    static NOTE: core::cell::Cell<Option<Note>> = const { core::cell::Cell::new(None) };
}

#[cfg(feature = "std")]
std::thread_local! {
    /// The server application traffic secret a [`SealingKeyLog`] saw on
    /// this thread, until a connection takes it.
    static SECRET: core::cell::RefCell<Option<Vec<u8>>> = const { core::cell::RefCell::new(None) };
}

/// Leaves `secret` for the connection calling into rustls on this thread.
#[cfg(feature = "std")]
fn leave_secret(secret: &[u8]) {
    SECRET.with(|slot| *slot.borrow_mut() = Some(secret.to_vec()));
}

/// Takes the secret a `SealingKeyLog` left on this thread, if any.
fn take_secret() -> Option<alloc::vec::Vec<u8>> {
    #[cfg(feature = "std")]
    {
        SECRET.with(|slot| slot.borrow_mut().take())
    }
    #[cfg(not(feature = "std"))]
    {
        None
    }
}

/// Drops whatever a wrapper left on this thread outside the call a
/// connection is about to make into rustls (a config used elsewhere on this
/// thread): only what that call leaves is the connection's.
pub(crate) fn clear() {
    take_note();
    take_secret();
}

/// Leaves `note` for the connection calling into rustls on this thread.
#[cfg(feature = "std")]
fn leave(note: Note) {
    NOTE.with(|slot| slot.set(Some(note)));
}

/// Takes the note a wrapper left on this thread, if any (after a call
/// into rustls that failed).
pub(crate) fn take_note() -> Option<Note> {
    #[cfg(feature = "std")]
    {
        NOTE.with(|slot| slot.take())
    }
    #[cfg(not(feature = "std"))]
    {
        None
    }
}
