//! Bounded single-producer single-consumer ring, for packets that arrive on a worker
//! that does not own their flow. Lock-free: the producer owns `tail`, the consumer
//! owns `head`; each publishes its index with Release and reads the other's with
//! Acquire, which orders the slot write before the consumer's read and the slot read
//! before the producer's reuse.

use std::mem::MaybeUninit;

use sync::{Arc, AtomicUsize, Ordering, UnsafeCell};

/// std's primitives, or loom's in tests under `--cfg loom` (loom is a dev-dependency)
/// so the model checker sees every atomic access and every slot access (`loom_tests`).
#[cfg(all(test, loom))]
mod sync {
    pub use ::loom::cell::UnsafeCell;
    pub use ::loom::sync::Arc;
    pub use ::loom::sync::atomic::{AtomicUsize, Ordering};
}

#[cfg(not(all(test, loom)))]
mod sync {
    pub use std::sync::Arc;
    pub use std::sync::atomic::{AtomicUsize, Ordering};

    /// std's `UnsafeCell` behind loom's closure API (`with`/`with_mut`), so the slot
    /// accesses are written once for both.
    pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub fn new(v: T) -> Self {
            Self(std::cell::UnsafeCell::new(v))
        }

        #[inline(always)]
        pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline(always)]
        pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// Keeps the two indices on separate cache lines (no false sharing).
#[repr(align(64))]
struct Padded(AtomicUsize);

struct Ring<T> {
    head: Padded,
    tail: Padded,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
}

// SAFETY: a slot is accessed by one side at a time, as the head/tail protocol hands it
// over (see push/pop); values of T cross threads, hence `T: Send`.
unsafe impl<T: Send> Sync for Ring<T> {}
// SAFETY: as above; the ring owns its T values.
unsafe impl<T: Send> Send for Ring<T> {}

pub struct Producer<T> {
    ring: Arc<Ring<T>>,
    /// Last head seen: refreshed only when the ring looks full.
    head_cache: usize,
}

pub struct Consumer<T> {
    ring: Arc<Ring<T>>,
    tail_cache: usize,
}

/// A ring of `capacity` (rounded up to a power of two) slots.
pub fn ring<T: Send>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let n = capacity.max(1).next_power_of_two();
    let slots = (0..n)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let r = Arc::new(Ring {
        head: Padded(AtomicUsize::new(0)),
        tail: Padded(AtomicUsize::new(0)),
        slots,
        mask: n - 1,
    });
    (
        Producer {
            ring: r.clone(),
            head_cache: 0,
        },
        Consumer {
            ring: r,
            tail_cache: 0,
        },
    )
}

impl<T> Producer<T> {
    /// Slots of the ring.
    pub fn capacity(&self) -> usize {
        self.ring.mask + 1
    }

    /// Values pushed so far (a wrapping count).
    pub fn pushed(&self) -> usize {
        self.ring.tail.0.load(Ordering::Relaxed)
    }

    /// Values the consumer has taken so far (a wrapping count): reads its index, so
    /// call it only when the answer matters.
    pub fn taken(&mut self) -> usize {
        self.head_cache = self.ring.head.0.load(Ordering::Acquire);
        self.head_cache
    }

    /// Adds `v`, or gives it back when the ring is full.
    pub fn push(&mut self, v: T) -> Result<(), T> {
        let r = &*self.ring;
        let tail = r.tail.0.load(Ordering::Relaxed);
        if tail.wrapping_sub(self.head_cache) > r.mask {
            self.head_cache = r.head.0.load(Ordering::Acquire);
            if tail.wrapping_sub(self.head_cache) > r.mask {
                return Err(v);
            }
        }
        let slot = &r.slots[tail & r.mask];
        // SAFETY: tail - head <= mask, so this slot is outside [head, tail): the consumer
        // has finished reading it (its Release store of head, our Acquire load) and will
        // not touch it until we publish tail + 1. We are the only producer.
        slot.with_mut(|p| unsafe { (*p).write(v) });
        r.tail.0.store(tail.wrapping_add(1), Ordering::Release);
        Ok(())
    }
}

impl<T> Consumer<T> {
    pub fn pop(&mut self) -> Option<T> {
        let r = &*self.ring;
        let head = r.head.0.load(Ordering::Relaxed);
        if head == self.tail_cache {
            self.tail_cache = r.tail.0.load(Ordering::Acquire);
            if head == self.tail_cache {
                return None;
            }
        }
        let slot = &r.slots[head & r.mask];
        // SAFETY: head < tail, so the producer wrote this slot and published it with its
        // Release store of tail, which our Acquire load saw; it will not write the slot
        // again until we publish head + 1. We are the only consumer, and we move the
        // value out exactly once.
        let v = slot.with(|p| unsafe { (*p).assume_init_read() });
        r.head.0.store(head.wrapping_add(1), Ordering::Release);
        Some(v)
    }

    pub fn is_empty(&self) -> bool {
        let r = &*self.ring;
        r.head.0.load(Ordering::Relaxed) == r.tail.0.load(Ordering::Acquire)
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // `&mut self`: both sides are gone, and the Arc's release/acquire on the last
        // reference made their index stores visible, so Relaxed loads suffice.
        let head = self.head.0.load(Ordering::Relaxed);
        let tail = self.tail.0.load(Ordering::Relaxed);
        let mut i = head;
        while i != tail {
            // SAFETY: slots in [head, tail) hold values pushed and never popped; we have
            // `&mut self`, so neither side can run, and each is dropped once.
            self.slots[i & self.mask].with_mut(|p| unsafe { (*p).assume_init_drop() });
            i = i.wrapping_add(1);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn fifo_order_and_capacity() {
        let (mut p, mut c) = ring::<u32>(3);
        for i in 0..4 {
            p.push(i).unwrap();
        }
        assert_eq!(p.push(9), Err(9));
        assert_eq!(c.pop(), Some(0));
        p.push(4).unwrap();
        assert_eq!(
            (1..5).map(|_| c.pop().unwrap()).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(c.pop(), None);
        assert!(c.is_empty());
    }

    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct D;
    impl Drop for D {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn unread_items_dropped_once() {
        let (mut p, mut c) = ring::<D>(8);
        for _ in 0..5 {
            assert!(p.push(D).is_ok());
        }
        drop(c.pop());
        drop(p);
        drop(c);
        assert_eq!(DROPS.load(Ordering::Relaxed), 5);
    }

    /// Two threads, many wrap-arounds, boxed values (a lost or doubled handover would
    /// show up as a wrong sequence, a double free or a leak under Miri/ASan).
    #[test]
    fn threaded_stress_keeps_order() {
        const N: u64 = 2_000_000;
        let (mut p, mut c) = ring::<Box<u64>>(64);
        let prod = std::thread::spawn(move || {
            let mut x = 1u64;
            for i in 0..N {
                let mut v = Box::new(i);
                loop {
                    match p.push(v) {
                        Ok(()) => break,
                        Err(back) => {
                            v = back;
                            std::hint::spin_loop();
                        }
                    }
                }
                // Random bursts and pauses shift the relative speed of the two sides.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if x.is_multiple_of(1024) {
                    std::thread::yield_now();
                }
            }
        });
        let mut next = 0u64;
        let mut y = 7u64;
        while next < N {
            if let Some(v) = c.pop() {
                assert_eq!(*v, next);
                next += 1;
            } else {
                std::hint::spin_loop();
            }
            y ^= y << 13;
            y ^= y >> 7;
            y ^= y << 17;
            if y.is_multiple_of(4096) {
                std::thread::yield_now();
            }
        }
        prod.join().unwrap();
        assert_eq!(c.pop(), None);
    }
}

/// Model checking with loom: every interleaving (and every weak-memory outcome loom
/// models) of one producer and one consumer thread. Run with
/// `RUSTFLAGS="--cfg loom" cargo test --release --lib dataplane::ring::loom`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use ::loom::thread;

    /// Pushes `v`, yielding to the other thread while the ring is full.
    fn push_retrying<T>(p: &mut Producer<T>, mut v: T) {
        while let Err(back) = p.push(v) {
            v = back;
            thread::yield_now();
        }
    }

    /// Three values through a ring of two slots (one wrap-around, one full ring):
    /// they arrive in order, each exactly once, and nothing is left behind.
    #[test]
    fn three_through_two_slots_in_order() {
        ::loom::model(|| {
            let (mut p, mut c) = ring::<Box<u32>>(2);
            let prod = thread::spawn(move || {
                for i in 0..3 {
                    push_retrying(&mut p, Box::new(i));
                }
            });
            let mut got = Vec::new();
            while got.len() < 3 {
                match c.pop() {
                    Some(v) => got.push(*v),
                    None => thread::yield_now(),
                }
            }
            prod.join().unwrap();
            assert_eq!(got, [0, 1, 2]);
            assert!(c.is_empty());
            assert_eq!(c.pop(), None);
        });
    }

    /// Counts its drops, so a lost value (leak) or a doubled one (double drop) shows.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Producer and consumer dropped on different threads, racing with a push and a
    /// pop: whichever side goes last frees the unread values, each exactly once.
    #[test]
    fn unread_values_dropped_once_by_the_last_side() {
        ::loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let (mut p, mut c) = ring::<Counted>(2);
            assert!(p.push(Counted(drops.clone())).is_ok());
            let d = drops.clone();
            let prod = thread::spawn(move || {
                // The second value always fits; the third only if the pop came first
                // and was seen (else it comes back and is dropped here).
                assert!(p.push(Counted(d.clone())).is_ok());
                let _ = p.push(Counted(d));
                drop(p);
            });
            let cons = thread::spawn(move || {
                drop(c.pop());
                drop(c);
            });
            prod.join().unwrap();
            cons.join().unwrap();
            assert_eq!(drops.load(Ordering::Relaxed), 3);
        });
    }
}
