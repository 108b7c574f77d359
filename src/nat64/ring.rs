//! Bounded single-producer single-consumer ring, for packets that arrive on a worker
//! that does not own their flow. Lock-free: the producer owns `tail`, the consumer
//! owns `head`; each publishes its index with Release and reads the other's with
//! Acquire, which orders the slot write before the consumer's read and the slot read
//! before the producer's reuse.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
        unsafe { (*slot.get()).write(v) };
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
        let v = unsafe { (*slot.get()).assume_init_read() };
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
        let head = *self.head.0.get_mut();
        let tail = *self.tail.0.get_mut();
        let mut i = head;
        while i != tail {
            // SAFETY: slots in [head, tail) hold values pushed and never popped; we have
            // `&mut self`, so neither side can run, and each is dropped once.
            unsafe { (*self.slots[i & self.mask].get()).assume_init_drop() };
            i = i.wrapping_add(1);
        }
    }
}

#[cfg(test)]
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
