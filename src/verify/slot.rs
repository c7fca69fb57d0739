//! The per-thread slot naming the deferred connection that is calling into
//! rustls, and each connection's verification stage behind it.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::boxed::Box;
use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

use log::debug;

use super::PeerCertificates;

/// Where one connection's verification stands.
#[derive(Debug, Default)]
enum Stage {
    /// No certificate presented yet (or none at all: resumption, or a client
    /// that sent none).
    #[default]
    NotAsked,
    /// Recorded by the verifier, not handed to the caller yet.
    Presented(PeerCertificates),
    /// Handed to the caller; no verdict yet.
    Pending,
    Accepted,
    /// Rejected; the alert is sent at the next `process`.
    Rejected(rustls::Error),
    /// The rejection's alert was sent.
    Done,
}

/// Sessions stored while a verdict is pending, each committing itself to
/// the caller's store when run.
pub(super) type Held = Box<dyn FnOnce() + Send>;

/// One connection's verification, shared with the verifiers and stores
/// while the connection calls into rustls.
#[derive(Default)]
pub(crate) struct Verification {
    stage: Stage,
    held: Vec<Held>,
}

impl Verification {
    /// The verifier saw a chain. `false` if one was seen before (rustls
    /// verifies once per handshake).
    pub(super) fn present(&mut self, certificates: PeerCertificates) -> bool {
        if !matches!(self.stage, Stage::NotAsked) {
            return false;
        }
        self.stage = Stage::Presented(certificates);
        true
    }

    /// Keeps `commit` until the verdict if one is due; runs it now if the
    /// peer is trusted (or nothing was asked: a resumed session, verified
    /// when it was made); drops it after a rejection.
    pub(super) fn store(&mut self, commit: Held) {
        match self.stage {
            Stage::Presented(_) | Stage::Pending => self.held.push(commit),
            Stage::NotAsked | Stage::Accepted => commit(),
            Stage::Rejected(_) | Stage::Done => debug!("peer rejected: session not stored"),
        }
    }
}

/// A connection's handle on its [`Verification`].
#[derive(Clone, Default)]
pub(crate) struct Deferred(Arc<Mutex<Verification>>);

thread_local! {
    /// The verification of the connection calling into rustls on this
    /// thread, if it is in deferred mode.
    static ARMED: RefCell<Option<Deferred>> = const { RefCell::new(None) };
}

/// Names a connection in this thread's slot until dropped, then restores
/// what the slot held before.
pub(crate) struct Armed(Option<Deferred>);

impl Drop for Armed {
    fn drop(&mut self) {
        let previous = self.0.take();
        ARMED.with(|slot| *slot.borrow_mut() = previous);
    }
}

/// Runs `f` on the verification of the connection calling into rustls, if
/// any is named in this thread's slot.
pub(super) fn with_armed<R>(f: impl FnOnce(&mut Verification) -> R) -> Option<R> {
    ARMED.with(|slot| {
        slot.borrow()
            .as_ref()
            .map(|deferred| f(&mut deferred.lock()))
    })
}

impl Deferred {
    fn lock(&self) -> MutexGuard<'_, Verification> {
        // A panic elsewhere cannot leave a stage half-written.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The chain just presented, once: it becomes pending.
    pub(crate) fn take_presented(&self) -> Option<PeerCertificates> {
        let mut verification = self.lock();
        match core::mem::replace(&mut verification.stage, Stage::Pending) {
            Stage::Presented(certificates) => Some(certificates),
            other => {
                verification.stage = other;
                None
            }
        }
    }

    /// Whether a chain was presented and not handed out yet.
    pub(crate) fn presented(&self) -> bool {
        matches!(self.lock().stage, Stage::Presented(_))
    }

    /// Whether trust-dependent work must wait: a chain was presented and the
    /// caller has not accepted it.
    pub(crate) fn withholds(&self) -> bool {
        !matches!(self.lock().stage, Stage::NotAsked | Stage::Accepted)
    }

    /// Whether the caller rejected the peer (its alert sent or due).
    pub(crate) fn rejected(&self) -> bool {
        matches!(self.lock().stage, Stage::Rejected(_) | Stage::Done)
    }

    /// The rejection whose alert is due, once.
    pub(crate) fn take_rejection(&self) -> Option<rustls::Error> {
        let mut verification = self.lock();
        match core::mem::replace(&mut verification.stage, Stage::Done) {
            Stage::Rejected(error) => Some(error),
            other => {
                verification.stage = other;
                None
            }
        }
    }

    /// Records the caller's verdict. `false` if none was asked for (no
    /// chain handed out, or a verdict given already).
    pub(crate) fn settle(&self, verdict: Result<(), rustls::Error>) -> bool {
        let held = {
            let mut verification = self.lock();
            // Only a chain handed out with `VerifyPeer` gets a verdict.
            if !matches!(verification.stage, Stage::Pending) {
                return false;
            }
            let held = core::mem::take(&mut verification.held);
            match verdict {
                Ok(()) => {
                    verification.stage = Stage::Accepted;
                    held
                }
                Err(error) => {
                    debug!("peer rejected: {error}; {} session(s) dropped", held.len());
                    verification.stage = Stage::Rejected(error);
                    Vec::new()
                }
            }
        };
        // Outside the lock: the caller's store may take its own locks.
        for commit in held {
            commit();
        }
        true
    }
}

/// Names the connection calling into rustls in this thread's slot until the
/// guard is dropped (also when unwinding): its verification in deferred
/// mode, and no verification otherwise, so that a connection driven from
/// inside another's callback never records into the outer one.
pub(crate) fn arm(deferred: &Option<Deferred>) -> Armed {
    let previous = ARMED.with(|slot| slot.replace(deferred.clone()));
    Armed(previous)
}
