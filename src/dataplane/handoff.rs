//! Hand-off of NAT64 packets to the worker that owns their flow.
//!
//! The kernel spreads packets over the TUN queues by its own flow hash, which knows
//! nothing of our shards, so with N workers about (N−1)/N of the packets arrive on a
//! worker that does not own their session. That worker moves the whole packet buffer
//! (not a copy) to the owner through a lock-free single-producer single-consumer ring,
//! one per ordered pair of workers; the owner translates it and writes it on its own
//! queue (any queue of the device may write any packet). The owner sends the buffer it
//! swapped out back on a second ring, so each worker keeps a fixed stock of buffers and
//! nothing is allocated after start.
//!
//! Waking: a worker with nothing to read blocks in `poll`. Before it does, it raises its
//! `parked` flag and looks at its inbound rings once more; a sender that pushes a packet
//! and then sees the flag lowers it and wakes the owner (an eventfd write). Both sides
//! put a SeqCst fence between their store and their load, so either the owner sees the
//! packet or the sender sees the flag. A busy owner is never woken: it serves its rings
//! after every batch of reads.
//!
//! A full ring (the owner is overloaded) drops the packet, counted as
//! `nat64_handoff_full`, rather than blocking the sender: no worker ever waits for
//! another. So that one source flooding an owner (a subscriber opening flows as fast as
//! it can) cannot fill the ring and push everyone else's packets out, each source (its
//! subscriber prefix or IPv4 address, hashed into [`SHARE_BUCKETS`]) may hold at most a
//! quarter of a ring's slots; beyond that its packets are dropped as
//! `nat64_handoff_share` while others still get through. The sender keeps the count
//! itself, from a shadow of what it pushed and the consumer's index, which it reads only
//! when a source reaches its share.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering, fence};

use mio::Waker;

use super::ring::{Consumer, Producer, ring};
use crate::wire::buf::PacketBuf;
use crate::wire::vnet::Offload;

/// A packet on its way to its owner, with the offload metadata it was read with.
pub struct Parcel {
    pub buf: PacketBuf,
    pub offload: Offload,
}

/// What other workers need to reach one worker.
#[repr(align(64))]
struct Door {
    parked: AtomicBool,
    waker: Arc<Waker>,
}

/// One worker's ends of the rings to and from every other worker.
pub struct Handoff {
    out: Outbox,
    inbox: Inbox,
}

/// Buckets sources are hashed into for their share of a ring.
pub const SHARE_BUCKETS: usize = 256;

/// Why a packet could not be handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The ring to the owner (or the stock of spare buffers) is full.
    Full,
    /// The packet's source holds its share of that ring already.
    Share,
}

/// What one source holds of one ring, kept by the sender: which bucket each pushed
/// slot went to, and the counts per bucket not yet known to be taken.
struct Shares {
    shadow: Box<[u8]>,
    held: Box<[u16; SHARE_BUCKETS]>,
    /// Consumer position up to which `held` is up to date.
    seen: usize,
    /// Slots one bucket may hold.
    limit: u16,
}

impl Shares {
    fn new(capacity: usize) -> Self {
        Shares {
            shadow: vec![0; capacity].into_boxed_slice(),
            held: Box::new([0; SHARE_BUCKETS]),
            seen: 0,
            limit: (capacity / 4).max(1) as u16,
        }
    }

    fn bucket(source: u32) -> u8 {
        (source.wrapping_mul(0x9e37_79b1) >> 24) as u8
    }

    /// Whether `bucket` may push one more, catching up with the consumer first when
    /// the count says no.
    fn admit(&mut self, ring: &mut Producer<Parcel>, bucket: u8) -> bool {
        if self.held[usize::from(bucket)] < self.limit {
            return true;
        }
        let taken = ring.taken();
        let mask = self.shadow.len() - 1;
        while self.seen != taken {
            let b = self.shadow[self.seen & mask];
            self.held[usize::from(b)] = self.held[usize::from(b)].saturating_sub(1);
            self.seen = self.seen.wrapping_add(1);
        }
        self.held[usize::from(bucket)] < self.limit
    }

    fn pushed(&mut self, at: usize, bucket: u8) {
        let mask = self.shadow.len() - 1;
        self.shadow[at & mask] = bucket;
        self.held[usize::from(bucket)] += 1;
    }
}

/// The sending side: rings to every other worker, and the stock of spare buffers.
pub struct Outbox {
    me: usize,
    doors: Arc<[Door]>,
    to: Vec<Option<Producer<Parcel>>>,
    /// Per destination: what each source holds of that ring.
    shares: Vec<Option<Shares>>,
    /// Buffers coming back from the workers we sent parcels to.
    returned: Vec<Option<Consumer<PacketBuf>>>,
    free: Vec<PacketBuf>,
}

/// The receiving side: rings from every other worker.
struct Inbox {
    from: Vec<Option<Consumer<Parcel>>>,
    /// Buffers going back to the worker that sent us a parcel.
    give_back: Vec<Option<Producer<PacketBuf>>>,
    /// Round-robin start of [`Handoff::serve`], so no inbound ring starves.
    next: usize,
}

/// Builds the rings between `wakers.len()` workers: `slots` parcels per ordered pair,
/// and `slots` buffers of `buf_cap` bytes in stock per peer. Element `i` of the result
/// belongs to the worker woken by `wakers[i]`.
pub fn mesh(wakers: &[Arc<Waker>], slots: usize, buf_cap: usize) -> Vec<Handoff> {
    let n = wakers.len();
    let doors: Arc<[Door]> = wakers
        .iter()
        .map(|w| Door {
            parked: AtomicBool::new(false),
            waker: Arc::clone(w),
        })
        .collect();
    let mut hs: Vec<Handoff> = (0..n)
        .map(|me| Handoff {
            out: Outbox {
                me,
                doors: Arc::clone(&doors),
                to: (0..n).map(|_| None).collect(),
                shares: (0..n).map(|_| None).collect(),
                returned: (0..n).map(|_| None).collect(),
                // Room for buffers that migrate between workers (see `serve`).
                free: Vec::with_capacity(2 * slots * n),
            },
            inbox: Inbox {
                from: (0..n).map(|_| None).collect(),
                give_back: (0..n).map(|_| None).collect(),
                next: 0,
            },
        })
        .collect();
    for a in 0..n {
        for b in (0..n).filter(|&b| b != a) {
            let (p, c) = ring::<Parcel>(slots);
            hs[a].out.shares[b] = Some(Shares::new(p.capacity()));
            hs[a].out.to[b] = Some(p);
            hs[b].inbox.from[a] = Some(c);
            let (p, c) = ring::<PacketBuf>(slots);
            hs[b].inbox.give_back[a] = Some(p);
            hs[a].out.returned[b] = Some(c);
        }
        let stock = slots * n.saturating_sub(1);
        hs[a]
            .out
            .free
            .extend((0..stock).map(|_| PacketBuf::with_capacity(buf_cap)));
    }
    hs
}

impl Outbox {
    /// This worker's index.
    pub fn me(&self) -> usize {
        self.me
    }

    /// Moves the packet in `pkt` (from `source`, see [`Steering`]) to worker `to`, leaving
    /// an empty buffer in `pkt` (a packet viewed in a device's frame is copied instead
    /// and stays in `pkt`), and wakes it if it sleeps. Refused if its ring is full,
    /// no buffer is free, or the source holds its share of the ring: the packet then
    /// stays in `pkt`, to be dropped.
    ///
    /// [`Steering`]: crate::xlat::Steering
    pub fn send(
        &mut self,
        to: usize,
        pkt: &mut PacketBuf,
        offload: Offload,
        source: u32,
    ) -> Result<(), Refused> {
        if self.free.is_empty() {
            self.reclaim();
        }
        let (Some(Some(ring)), Some(Some(shares))) = (self.to.get_mut(to), self.shares.get_mut(to))
        else {
            return Err(Refused::Full);
        };
        let bucket = Shares::bucket(source);
        if !shares.admit(ring, bucket) {
            return Err(Refused::Share);
        }
        let Some(mut spare) = self.free.pop() else {
            return Err(Refused::Full);
        };
        let at = ring.pushed();
        // A packet viewed in a device's frame (XDP) stays on this thread: the frame goes
        // back to the device at its next flush, so the owner gets a copy.
        let copied = pkt.is_external();
        if copied {
            let Some(area) = spare.receive_area().get_mut(..pkt.len()) else {
                self.free.push(spare);
                return Err(Refused::Full);
            };
            area.copy_from_slice(pkt.data());
            spare.set_received(pkt.len());
        } else {
            std::mem::swap(pkt, &mut spare);
        }
        match ring.push(Parcel {
            buf: spare,
            offload,
        }) {
            Ok(()) => {
                shares.pushed(at, bucket);
                self.wake(to);
                Ok(())
            }
            Err(back) => {
                let mut buf = back.buf;
                if !copied {
                    std::mem::swap(pkt, &mut buf);
                }
                self.free.push(buf);
                Err(Refused::Full)
            }
        }
    }

    fn wake(&self, to: usize) {
        let Some(door) = self.doors.get(to) else {
            return;
        };
        fence(Ordering::SeqCst);
        if door.parked.load(Ordering::Relaxed) && door.parked.swap(false, Ordering::Relaxed) {
            // A failed wake leaves the packet for the owner's next batch or 1 s tick.
            let _ = door.waker.wake();
        }
    }

    /// Takes back the buffers owners have returned.
    fn reclaim(&mut self) {
        for c in self.returned.iter_mut().flatten() {
            while let Some(b) = c.pop() {
                self.free.push(b);
            }
        }
    }
}

impl Handoff {
    /// This worker's index.
    pub fn me(&self) -> usize {
        self.out.me
    }

    /// The sending side, to pass packets on while serving parcels or packets read.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.out
    }

    /// See [`Outbox::send`].
    pub fn send(
        &mut self,
        to: usize,
        pkt: &mut PacketBuf,
        offload: Offload,
        source: u32,
    ) -> Result<(), Refused> {
        self.out.send(to, pkt, offload, source)
    }

    /// Hands up to `budget` parcels from other workers to `f`, which must leave in
    /// `Parcel::buf` a buffer to give back (it swaps in its own), and may pass packets
    /// on through the [`Outbox`] (a datagram reassembled here that another worker
    /// owns). Returns how many.
    pub fn serve(&mut self, budget: usize, mut f: impl FnMut(&mut Parcel, &mut Outbox)) -> usize {
        let inbox = &mut self.inbox;
        let n = inbox.from.len();
        let mut done = 0;
        for k in 0..n {
            let i = (inbox.next + k) % n;
            let (Some(Some(c)), Some(back)) = (inbox.from.get_mut(i), inbox.give_back.get_mut(i))
            else {
                continue;
            };
            while done < budget {
                let Some(mut parcel) = c.pop() else { break };
                f(&mut parcel, &mut self.out);
                done += 1;
                // The return ring cannot be full (it holds at most the buffers that
                // sender lent us); were it so, the buffer simply becomes ours.
                let kept = match back {
                    Some(p) => p.push(parcel.buf).err(),
                    None => Some(parcel.buf),
                };
                if let Some(b) = kept {
                    self.out.free.push(b);
                }
            }
        }
        inbox.next = (inbox.next + 1) % n.max(1);
        done
    }

    /// Raises the parked flag before the worker blocks; false (flag lowered again) if a
    /// parcel is already waiting, so the worker must not block.
    pub fn park(&self) -> bool {
        let Some(door) = self.out.doors.get(self.out.me) else {
            return true;
        };
        door.parked.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if self.inbox.from.iter().flatten().any(|c| !c.is_empty()) {
            door.parked.store(false, Ordering::Relaxed);
            return false;
        }
        true
    }

    pub fn unpark(&self) {
        if let Some(door) = self.out.doors.get(self.out.me) {
            door.parked.store(false, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};
    use std::time::Duration;

    fn pair(slots: usize) -> (Vec<Poll>, Vec<Handoff>) {
        let polls: Vec<Poll> = (0..2).map(|_| Poll::new().unwrap()).collect();
        let wakers: Vec<Arc<Waker>> = polls
            .iter()
            .map(|p| Arc::new(Waker::new(p.registry(), Token(1)).unwrap()))
            .collect();
        (polls, mesh(&wakers, slots, 2048))
    }

    fn packet(tag: u8) -> PacketBuf {
        PacketBuf::from_packet(&[0x45, tag, 1, 2, 3])
    }

    #[test]
    fn parcels_arrive_in_order_and_buffers_come_back() {
        let (_polls, mut hs) = pair(4);
        let (a, b) = hs.split_at_mut(1);
        let (a, b) = (&mut a[0], &mut b[0]);
        for round in 0..10u8 {
            for i in 0..4u8 {
                let mut p = packet(round * 4 + i);
                assert!(a.send(1, &mut p, Offload::NONE, u32::from(i)).is_ok());
            }
            let mut p = packet(99);
            assert_eq!(a.send(1, &mut p, Offload::NONE, 99), Err(Refused::Full));
            assert_eq!(p.data()[1], 99, "a refused packet stays with the sender");
            let mut got = Vec::new();
            let mut mine = PacketBuf::with_capacity(2048);
            let n = b.serve(16, |parcel, _| {
                std::mem::swap(&mut mine, &mut parcel.buf);
                got.push(mine.data()[1]);
            });
            assert_eq!(n, 4);
            assert_eq!(got, (0..4).map(|i| round * 4 + i).collect::<Vec<_>>());
        }
        // Every buffer is somewhere: 4 in stock per side, nothing lost in 40 hand-offs.
        a.out.reclaim();
        assert_eq!(a.out.free.len(), 4);
    }

    /// A source flooding one owner holds at most a quarter of the ring; other sources
    /// still get through, and the flooder gets room again as the owner catches up.
    #[test]
    fn one_source_cannot_fill_the_ring() {
        let (_polls, mut hs) = pair(16);
        let (a, b) = hs.split_at_mut(1);
        let (a, b) = (&mut a[0], &mut b[0]);
        let send = |a: &mut Handoff, source: u32| {
            let mut p = packet(1);
            a.send(1, &mut p, Offload::NONE, source)
        };
        let flood: Vec<_> = (0..10).map(|_| send(a, 0xdead)).collect();
        assert_eq!(flood.iter().filter(|r| r.is_ok()).count(), 4);
        assert!(flood[4..].iter().all(|r| *r == Err(Refused::Share)));
        for source in 1..=8 {
            assert_eq!(send(a, source * 7919), Ok(()), "innocent {source}");
        }
        let mut mine = PacketBuf::with_capacity(2048);
        assert_eq!(
            b.serve(64, |p, _| std::mem::swap(&mut mine, &mut p.buf)),
            12
        );
        assert_eq!(send(a, 0xdead), Ok(()));
    }

    /// A parked owner is woken by the first parcel; a busy one (not parked) is not.
    #[test]
    fn sender_wakes_a_parked_owner_once() {
        let (mut polls, mut hs) = pair(8);
        let mut events = Events::with_capacity(4);
        assert!(hs[1].park());
        let mut p = packet(1);
        assert!(hs[0].send(1, &mut p, Offload::NONE, 7).is_ok());
        let mut p = packet(2);
        assert!(hs[0].send(1, &mut p, Offload::NONE, 7).is_ok());
        polls[1]
            .poll(&mut events, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(events.iter().count(), 1, "woken");
        hs[1].unpark();
        // Parcels are waiting: parking refuses, so the loop will not block.
        assert!(!hs[1].park());
        assert_eq!(hs[1].serve(16, |_, _| {}), 2);
        assert!(hs[1].park());
        hs[1].unpark();
        // Not parked: no wake-up.
        let mut p = packet(3);
        assert!(hs[0].send(1, &mut p, Offload::NONE, 7).is_ok());
        polls[1]
            .poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        assert_eq!(events.iter().count(), 0);
    }
}
