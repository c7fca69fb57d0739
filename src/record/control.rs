//! What the two directions of the record layer share: rustls's kernel
//! connection (it derives both directions' next secrets and stores session
//! tickets), and what the receiving direction asks the sending one to send.
//!
//! A whole connection owns its `Control`. Split halves share one behind a
//! lock ([`Shared`]): the receiving half takes it only for a post-handshake
//! message or an error, the sending half once per call. The one piece of
//! caller code that runs while it is held is a client's session store:
//! rustls stores a NewSessionTicket through the kernel connection, which
//! lives here because the sending half needs it for its key updates.

use alloc::sync::Arc;

use rustls::AlertDescription;
use rustls::Error as TlsError;

use super::cipher::RecordError;
use crate::error::Error;

/// State both directions reach.
pub(crate) struct Control<K> {
    pub(super) kernel: K,
    /// The peer asked for a KeyUpdate; ours goes out right before our next
    /// record (RFC 8446 §4.6.3: before the next application data), one for
    /// any number of requests meanwhile. rustls answers at the same point,
    /// so the records on the wire are the same in both modes.
    pub(super) key_update_owed: bool,
    /// TLS 1.2 renegotiation refusals (warning alerts) owed to the peer.
    pub(super) refusals_owed: u8,
    /// The receiving direction ended the connection; the sending direction
    /// seals the fatal alert due, if any, and stops.
    pub(super) ended: Option<Failure>,
    /// Our close_notify or a fatal alert went out: what the receiving
    /// direction queues is no longer sent.
    pub(super) send_closed: bool,
}

impl<K> Control<K> {
    pub(super) fn new(kernel: K, send_closed: bool) -> Self {
        Self {
            kernel,
            key_update_owed: false,
            refusals_owed: 0,
            ended: None,
            send_closed,
        }
    }
}

/// Why a pass over received records ended the connection.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// The peer broke a rule: send this alert.
    Record(RecordError),
    /// The peer sent this fatal alert: send nothing more.
    Alert(AlertDescription),
    /// lltls could not go on (rustls refused a key update, a lock was
    /// poisoned).
    Local(Error),
}

impl Failure {
    pub(super) fn local(error: TlsError) -> Self {
        Self::Local(Error::tls(error))
    }

    /// The error the receiving direction reports: no alert is sealed yet
    /// (the sending direction does that, and reports it).
    pub(super) fn unsent(&self) -> Error {
        match self {
            Self::Record(error) => Error::Tls {
                error: error.error.clone(),
                alert_sent: None,
            },
            Self::Alert(alert) => Error::Tls {
                error: TlsError::AlertReceived(*alert),
                alert_sent: None,
            },
            Self::Local(error) => error.clone(),
        }
    }
}

impl From<RecordError> for Failure {
    fn from(error: RecordError) -> Self {
        Self::Record(error)
    }
}

/// Reaching the [`Control`]: a whole connection holds it; split halves
/// lock it.
pub(crate) trait Access<K> {
    /// Runs `f` on the control state; fails only when the other half
    /// panicked while holding it.
    fn with<R>(&mut self, f: impl FnOnce(&mut Control<K>) -> R) -> Result<R, Error>;
}

impl<K> Access<K> for Control<K> {
    fn with<R>(&mut self, f: impl FnOnce(&mut Control<K>) -> R) -> Result<R, Error> {
        Ok(f(self))
    }
}

/// The control state of split halves.
///
/// With std it is a `std::sync::Mutex`. Without, a spin lock: it is held
/// for one key derivation, a few record seals or a session store's
/// `insert`; but a half MUST NOT be driven from an interrupt handler, nor
/// from a task of higher priority under a scheduler that lets it spin
/// forever, that may preempt the other half while it holds the lock.
pub(crate) struct Shared<K>(Arc<Lock<Control<K>>>);

#[cfg(feature = "std")]
type Lock<T> = std::sync::Mutex<T>;
#[cfg(not(feature = "std"))]
type Lock<T> = spin::mutex::SpinMutex<T>;

impl<K> Shared<K> {
    pub(super) fn new(control: Control<K>) -> Self {
        Self(Arc::new(Lock::new(control)))
    }

    /// The second handle, for the other half.
    pub(super) fn share(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<K> Access<K> for Shared<K> {
    #[cfg(feature = "std")]
    fn with<R>(&mut self, f: impl FnOnce(&mut Control<K>) -> R) -> Result<R, Error> {
        // A half that panicked may have left a key update half done:
        // nothing is sealed or opened with that state again.
        let mut control = self.0.lock().map_err(|_| Error::OtherHalfPanicked)?;
        Ok(f(&mut control))
    }

    #[cfg(not(feature = "std"))]
    fn with<R>(&mut self, f: impl FnOnce(&mut Control<K>) -> R) -> Result<R, Error> {
        Ok(f(&mut self.0.lock()))
    }
}
