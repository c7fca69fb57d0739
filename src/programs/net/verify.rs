//! `--verify-async`: certificate checks on worker threads, their verdicts
//! fed back into the mio loop through a [`Waker`], so the loop goes on
//! serving other connections while a check runs (or waits on IO).

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use log::debug;
use mio::Waker;

use crate::verify::PeerCertificates;

/// The check a worker runs on a presented chain: the verifier normal mode
/// would have called.
pub type Check = Arc<dyn Fn(&PeerCertificates) -> Result<(), rustls::Error> + Send + Sync>;

/// A verdict for the connection with this id.
pub type Verdict = (usize, Result<(), rustls::Error>);

/// Worker threads taking chains to check, by connection id.
pub struct VerifyPool {
    jobs: Sender<(usize, PeerCertificates)>,
    verdicts: Receiver<Verdict>,
}

impl VerifyPool {
    /// Starts `threads` workers that run `check`, each after `delay` (a
    /// stand-in for a slow check, for tests), and wake `waker` with each
    /// verdict. They end when the pool is dropped.
    pub fn spawn(threads: usize, check: Check, delay: Duration, waker: Arc<Waker>) -> Self {
        let (jobs, queue) = mpsc::channel::<(usize, PeerCertificates)>();
        let (results, verdicts) = mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..threads.max(1) {
            let (queue, results, check, waker) =
                (queue.clone(), results.clone(), check.clone(), waker.clone());
            thread::spawn(move || loop {
                // The lock is held only while taking a job.
                let job = queue.lock().map(|queue| queue.recv());
                let Ok(Ok((id, certificates))) = job else {
                    return;
                };
                if !delay.is_zero() {
                    thread::sleep(delay);
                }
                let verdict = check(&certificates);
                debug!("verification of connection {id}: {verdict:?}");
                if results.send((id, verdict)).is_err() || waker.wake().is_err() {
                    return;
                }
            });
        }
        Self { jobs, verdicts }
    }

    /// Queues the chain connection `id` presented. Fails only when every
    /// worker is gone: the caller rejects the chain then.
    pub fn submit(&self, id: usize, certificates: PeerCertificates) -> Result<(), rustls::Error> {
        self.jobs
            .send((id, certificates))
            .map_err(|_| rustls::Error::General("certificate verification workers gone".into()))
    }

    /// The verdicts ready now.
    pub fn verdicts(&self) -> impl Iterator<Item = Verdict> + '_ {
        self.verdicts.try_iter()
    }
}
