//! Values the control plane replaces while the workers run: the stateless translator
//! when a CLAT learns a new PLAT prefix (RFC 8781, RFC 7050) or a reloaded configuration
//! brings new EAMs; NAT64's [`Sharding`](crate::nat64::Sharding) when a reload changes
//! the static BIB entries or adds pool4 addresses.
//!
//! The workers must not wait for the control plane, nor take a lock per packet. A
//! [`Follower`] keeps its own `Arc` of the current value and compares one generation
//! counter per use: a load of a cache line that changes only when the value does, so
//! it stays shared in every core's cache and costs about a nanosecond. Only when the
//! generation moved does the follower take the lock, once, to fetch the new value.
//! Packets that were being translated finish with the old value; the next one uses the
//! new. No stop-the-world, no dropped packet, and the old value is freed when the last
//! follower lets go of it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// A value that may be replaced at any time; see the module documentation.
pub struct Live<T> {
    generation: AtomicU64,
    current: Mutex<Arc<T>>,
}

impl<T> Live<T> {
    pub fn new(value: T) -> Arc<Self> {
        Arc::new(Live {
            generation: AtomicU64::new(0),
            current: Mutex::new(Arc::new(value)),
        })
    }

    /// Makes `value` the current one; followers use it from their next access.
    pub fn replace(&self, value: T) {
        let mut cur = self.lock();
        *cur = Arc::new(value);
        // Published after the value: a follower that sees the new generation finds
        // the new value (or a newer one) under the lock.
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// The current value.
    pub fn current(&self) -> Arc<T> {
        Arc::clone(&self.lock())
    }

    /// How many times the value was replaced.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A follower for one worker.
    pub fn follow(self: &Arc<Self>) -> Follower<T> {
        let seen = self.generation();
        Follower {
            value: self.current(),
            live: Arc::clone(self),
            seen,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Arc<T>> {
        // The guarded value is a whole `Arc`, replaced in one store: a panic elsewhere
        // while the lock was held cannot have left it half-written.
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One worker's view of a [`Live`] value.
pub struct Follower<T> {
    live: Arc<Live<T>>,
    seen: u64,
    value: Arc<T>,
}

impl<T> Follower<T> {
    /// The current value, fetched anew only if it was replaced since the last call.
    #[inline]
    pub fn get(&mut self) -> &T {
        let g = self.live.generation.load(Ordering::Acquire);
        if g != self.seen {
            self.refresh(g);
        }
        &self.value
    }

    #[cold]
    fn refresh(&mut self, generation: u64) {
        self.value = self.live.current();
        self.seen = generation;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followers_see_a_replacement_at_their_next_access() {
        let live = Live::new(1u32);
        let mut a = live.follow();
        let mut b = live.follow();
        assert_eq!((*a.get(), *b.get()), (1, 1));
        live.replace(2);
        assert_eq!(*a.get(), 2);
        live.replace(3);
        assert_eq!((*a.get(), *b.get()), (3, 3));
        assert_eq!(live.generation(), 2);
    }

    #[test]
    fn the_old_value_is_freed_when_the_last_follower_moves_on() {
        let live = Live::new(vec![0u8; 16]);
        let mut f = live.follow();
        let old = Arc::downgrade(&live.current());
        live.replace(vec![1u8; 16]);
        assert!(old.upgrade().is_some(), "the follower still holds it");
        assert_eq!(f.get()[0], 1);
        assert!(old.upgrade().is_none());
    }

    #[test]
    fn a_follower_on_another_thread_picks_up_the_value() {
        let live = Live::new(0u64);
        let mut f = live.follow();
        let writer = {
            let live = Arc::clone(&live);
            std::thread::spawn(move || {
                for v in 1..=1000 {
                    live.replace(v);
                }
            })
        };
        let mut last = 0;
        while last < 1000 {
            let v = *f.get();
            assert!(v >= last, "values go forward only");
            last = v;
        }
        writer.join().unwrap();
    }
}
