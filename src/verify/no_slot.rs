//! Without std there is no deferred mode (see the module's docs): a
//! connection's verification is never there, and naming it is a no-op.

/// Uninhabited: no connection is in deferred mode.
#[derive(Clone)]
pub(crate) enum Deferred {}

/// Nothing to restore.
pub(crate) struct Armed;

pub(crate) fn arm(_deferred: &Option<Deferred>) -> Armed {
    Armed
}

impl Deferred {
    pub(crate) fn take_presented(&self) -> Option<super::PeerCertificates> {
        match *self {}
    }

    pub(crate) fn presented(&self) -> bool {
        match *self {}
    }

    pub(crate) fn withholds(&self) -> bool {
        match *self {}
    }

    pub(crate) fn rejected(&self) -> bool {
        match *self {}
    }

    pub(crate) fn take_rejection(&self) -> Option<rustls::Error> {
        match *self {}
    }

    pub(crate) fn settle(&self, _verdict: Result<(), rustls::Error>) -> bool {
        match *self {}
    }
}
