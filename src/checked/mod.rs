//! Checks of the handshake that rustls 0.23 leaves to its caller, as
//! wrappers around the caller's certificate resolver and client certificate
//! verifier, so that a peer rustls would refuse late, or with another alert,
//! gets the answer RFC 8446 and RFC 5246 ask for.
//!
//! They read only what rustls hands its resolvers and verifiers (no second
//! parse of any handshake message): [`CheckedCertResolver`] refuses a TLS
//! 1.3 ClientHello whose signature schemes the server's key cannot sign
//! with, before the ServerHello (rustls would send it and fail at its
//! CertificateVerify), and [`CheckedClientVerifier`] refuses an empty
//! certificate entry and names a TLS 1.3 ECDSA CertificateVerify whose
//! scheme does not fit the certificate's key as illegal_parameter.
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
mod resolver;
#[cfg(feature = "std")]
mod verifier;

#[cfg(feature = "std")]
pub use resolver::CheckedCertResolver;
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

/// Leaves `note` for the connection calling into rustls on this thread.
#[cfg(feature = "std")]
fn leave(note: Note) {
    NOTE.with(|slot| slot.set(Some(note)));
}

/// Takes the note a wrapper left on this thread, if any. A connection
/// takes it before each call into rustls (so nothing left by a config used
/// elsewhere on this thread carries over) and after a call that failed.
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
