//! Stopping: a [`Stop`] is a shared flag plus one `mio::Waker` per worker. The signal
//! thread (see `control`) calls [`Stop::request`], which sets the flag and wakes every
//! registered worker out of `poll`; a busy worker also checks the flag between batches.
//! So the loop blocks in `poll` with no timeout and no periodic wake-ups, yet stops
//! within one batch of the signal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use mio::Waker;

/// A stop request shared by the signal handler thread and the workers.
#[derive(Clone, Default)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    wakers: Arc<Mutex<Vec<Arc<Waker>>>>,
}

impl Stop {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every worker to stop. Safe to call from any thread, any number of times.
    pub fn request(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let wakers = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        for w in wakers.iter() {
            // A failed wake only delays the stop to the next batch or packet.
            let _ = w.wake();
        }
    }

    pub fn is_requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    pub(super) fn attach(&self, w: Arc<Waker>) {
        self.wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(w);
    }
}
