//! Fragment reassembly for stateful NAT64 (RFC 6146 §3.4, §3.5), sans-IO and bounded.
//!
//! A NAT64 needs the transport header to find a fragment's session, and only the first
//! fragment carries it. RFC 6146 §3.4 asks a NAT64 to handle fragments arriving out of
//! order, within a configurable time of at least FRAGMENT_MIN (2 s), with the resources
//! it spends on them limited against denial of service. Two designs do that:
//!
//! - **virtual reassembly** (VPP): hold the non-first fragments until the first one
//!   names the session, then translate every fragment on its own;
//! - **full reassembly** (this module): collect every fragment, rebuild the datagram,
//!   and give the translator one whole packet.
//!
//! Full reassembly is chosen because the rest then needs nothing new: the session is
//! looked up once, the checksum of a UDP datagram sent with checksum 0 can be computed
//! (RFC 6146 §3.4 requires it, and only a whole datagram allows it), ICMP echo messages
//! of any size translate (their checksum covers the whole message), and RFC 7915's
//! rules for the output, including fragmenting again for the other side's MTU, are the
//! translator's existing ones. The datagram comes out as the fragments' datagram: an
//! IPv4 datagram keeps its Identification with DF=0, so the IPv6 side gets Fragment
//! headers with the same Identification (RFC 7915 §4.1); an IPv6 datagram keeps an
//! atomic Fragment header with its Identification, so the IPv4 side gets DF=0 and that
//! Identification and is fragmented to the IPv4 MTU (RFC 7915 §5.1.1). The price is a
//! copy of each fragment (two when the datagram completes), tens of nanoseconds against
//! the microseconds a packet costs in the kernel.
//!
//! Memory is fixed at start: `slots` fragment buffers of `slot_len` bytes (one device
//! MTU each; the pages are untouched until used), and as many datagram entries. A
//! source (the IPv6 subscriber prefix, or the IPv4 source address) may hold at most a
//! share of the slots, so one host cannot fill the table; a datagram at most
//! [`MAX_FRAGMENTS_PER_DATAGRAM`]. At a limit the oldest datagram gives way (the
//! source's own oldest at its share, the oldest of all when every slot is taken), as
//! Linux's reassembly does above its memory threshold: a datagram whose last fragment
//! was lost (a full queue, an Identification reused) then costs room only until newer
//! ones need it, instead of blocking its source until its timeout. Datagrams not
//! complete within the timeout are dropped, oldest first, a bounded number per call.
//!
//! Bad input (RFC 5722, RFC 8200 §4.5, RFC 7112, RFC 1858): overlapping fragments abandon
//! the whole datagram, and later fragments of it are dropped until its timeout; an exact
//! duplicate is dropped alone; a first fragment without the whole transport header, a
//! zero-length fragment, a non-last fragment whose length is not a multiple of 8, or one
//! reaching past 65 535 bytes is dropped; each is counted under its own reason.

use std::collections::HashMap;

use crate::wire::buf::PacketBuf;
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::ipv6ext::{self, FRAG_HEADER_LEN};
use crate::wire::{icmpv4, put16, tcp, udp};

use super::DropReason;

use DropReason as R;

/// Fragments one datagram may have: 65 535 bytes in fragments of 576-byte IPv4 links
/// take 120.
pub const MAX_FRAGMENTS_PER_DATAGRAM: u16 = 128;

/// Datagrams whose timeout is checked per [`Reassembly::expire`] call at most.
pub const EXPIRE_BUDGET: usize = 256;

const NIL: u32 = u32::MAX;

/// What [`Reassembly::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not a fragment: translate it as it is.
    Whole,
    /// A fragment, kept until the rest of its datagram arrives.
    Queued,
    /// The last missing fragment: the packet buffer now holds the whole datagram.
    Complete,
    /// Dropped for this reason.
    Drop(DropReason),
}

/// Sizes and rules, fixed at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fragments held at most (this worker's share of `max-fragments`).
    pub slots: usize,
    /// Bytes a held fragment may have: the device MTU (fragments never come larger).
    pub slot_len: usize,
    /// How long a datagram may take to complete (`fragment-timeout`), in ms.
    pub timeout_ms: u64,
    /// Length of the IPv6 prefix that is one subscriber (the per-source share's key).
    pub subscriber_prefix_len: u8,
}

impl Limits {
    /// Fragments one source may hold: an eighth of the slots, so that at least eight
    /// sources always find room.
    pub fn share(&self) -> usize {
        (self.slots / 8).max(1)
    }
}

/// Datagram identity (RFC 791: source, destination, protocol, Identification; RFC 8200
/// §4.5: source, destination, Identification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: u128,
    dst: u128,
    id: u32,
    proto: u8,
    v6: bool,
}

/// A held fragment: where its payload sits in the datagram and in its slot.
#[derive(Debug, Clone, Copy)]
struct Frag {
    next: u32,
    /// Payload offset in the datagram, and length, in bytes.
    off: u32,
    len: u32,
    /// Where the payload starts in the slot (after the fragment's own headers).
    at: u32,
}

#[derive(Debug, Clone, Copy)]
struct Dgram {
    key: Key,
    source: u128,
    /// Held fragments, sorted by offset.
    head: u32,
    frags: u16,
    /// Payload length once the last fragment (M=0) is known, else 0.
    total: u32,
    have: u32,
    born: u64,
    /// Creation-order list, for timeouts and eviction at the total limit.
    older: u32,
    newer: u32,
    /// The same order among the datagrams of its source, for eviction at the source's
    /// share.
    src_older: u32,
    src_newer: u32,
    /// Why the datagram was given up (overlapping fragments, RFC 5722; inconsistent
    /// lengths; too many fragments): its later fragments are dropped for the same reason
    /// until its timeout. An abandoned entry counts as one fragment of its source's
    /// share, so that giving up costs an attacker room too.
    abandoned: Option<DropReason>,
}

/// Counts the worker publishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Fragments kept for later.
    pub queued: u64,
    /// Datagrams rebuilt whole.
    pub reassembled: u64,
    /// Fragments dropped because their datagram did not complete in time.
    pub timed_out: u64,
    /// Fragments dropped with the oldest datagram of a source that needed room within
    /// its share.
    pub evicted_share: u64,
    /// Fragments dropped with the oldest datagram of all when every slot was taken.
    pub evicted_limit: u64,
}

/// What one source holds: fragments (and abandoned datagrams, one each), and its
/// datagrams oldest to newest.
#[derive(Debug, Clone, Copy)]
struct Source {
    held: u32,
    oldest: u32,
    newest: u32,
}

/// One worker's fragments in flight.
pub struct Reassembly {
    limits: Limits,
    prefix_mask: u128,
    bytes: Box<[u8]>,
    frags: Vec<Frag>,
    free_frags: Vec<u32>,
    dgrams: Vec<Dgram>,
    free_dgrams: Vec<u32>,
    index: HashMap<Key, u32>,
    per_source: HashMap<u128, Source>,
    oldest: u32,
    newest: u32,
    held: usize,
    counts: Counts,
}

/// What a fragment says about itself.
struct Parsed {
    key: Key,
    source: u128,
    /// Payload offset in the datagram and length.
    off: u32,
    len: u32,
    more: bool,
    /// Where the payload starts in the packet (its headers' length).
    at: usize,
}

impl Reassembly {
    /// Allocates everything for `limits` now (the fragment buffers as untouched memory).
    pub fn new(limits: Limits) -> Self {
        let slots = limits.slots.max(1);
        let len = u32::from(limits.subscriber_prefix_len.clamp(1, 128));
        Reassembly {
            limits,
            prefix_mask: u128::MAX << (128 - len),
            bytes: vec![0u8; slots * limits.slot_len].into_boxed_slice(),
            frags: vec![
                Frag {
                    next: NIL,
                    off: 0,
                    len: 0,
                    at: 0
                };
                slots
            ],
            free_frags: (0..slots as u32).rev().collect(),
            dgrams: Vec::with_capacity(slots),
            free_dgrams: Vec::with_capacity(slots),
            index: HashMap::with_capacity(2 * slots),
            per_source: HashMap::with_capacity(2 * slots),
            oldest: NIL,
            newest: NIL,
            held: 0,
            counts: Counts::default(),
        }
    }

    /// Fragments held now.
    pub fn held(&self) -> usize {
        self.held
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Bytes reserved (the fragment buffers and tables), for the start-up log.
    pub fn reserved_bytes(&self) -> usize {
        self.bytes.len()
            + self.frags.capacity() * size_of::<Frag>()
            + self.dgrams.capacity() * size_of::<Dgram>()
    }

    /// Takes one packet. A fragment is kept; the one that completes its datagram leaves
    /// the whole datagram in `pkt`.
    pub fn push(&mut self, pkt: &mut PacketBuf, now: u64) -> Outcome {
        let p = match parse(pkt.data(), self.prefix_mask) {
            None => return Outcome::Whole,
            Some(Err(r)) => return Outcome::Drop(r),
            Some(Ok(p)) => p,
        };
        if pkt.len() > self.limits.slot_len {
            return Outcome::Drop(R::FragmentTooBig);
        }
        let current = self.index.get(&p.key).copied();
        if !self.room_for_source(p.source, current) {
            return Outcome::Drop(R::FragmentSourceLimit);
        }
        let d = match current {
            Some(d) => d,
            None => match self.create(&p, now) {
                Ok(d) => d,
                Err(r) => return Outcome::Drop(r),
            },
        };
        match self.add(d, &p, pkt.data()) {
            Err(r) => Outcome::Drop(r),
            Ok(false) => {
                self.counts.queued += 1;
                Outcome::Queued
            }
            Ok(true) if self.assemble(d, pkt) => {
                self.counts.reassembled += 1;
                Outcome::Complete
            }
            Ok(true) => Outcome::Drop(R::FragmentTooBig),
        }
    }

    /// Drops datagrams older than the timeout, at most [`EXPIRE_BUDGET`] per call;
    /// returns how many fragments went with them.
    pub fn expire(&mut self, now: u64) -> usize {
        let mut dropped = 0;
        for _ in 0..EXPIRE_BUDGET {
            let d = self.oldest;
            let Some(g) = self.dgrams.get(d as usize) else {
                break;
            };
            if now.saturating_sub(g.born) < self.limits.timeout_ms {
                break;
            }
            dropped += usize::from(g.frags);
            self.remove(d);
        }
        self.counts.timed_out += dropped as u64;
        dropped
    }

    /// Whether a datagram's timeout has passed (work for the next [`expire`](Self::expire)
    /// call: the worker keeps calling while this holds, instead of waiting for its tick).
    pub fn due(&self, now: u64) -> bool {
        self.dgrams
            .get(self.oldest as usize)
            .is_some_and(|g| now.saturating_sub(g.born) >= self.limits.timeout_ms)
    }

    /// A new datagram entry for `p`, if the limits allow one.
    fn create(&mut self, p: &Parsed, now: u64) -> Result<u32, DropReason> {
        while self.free_frags.is_empty()
            || (self.free_dgrams.is_empty() && self.dgrams.len() >= self.limits.slots.max(1))
        {
            if !self.evict_oldest(NIL) {
                return Err(R::FragmentLimit);
            }
        }
        let src = self.per_source.get(&p.source).map_or(NIL, |s| s.newest);
        let g = Dgram {
            key: p.key,
            source: p.source,
            head: NIL,
            frags: 0,
            total: 0,
            have: 0,
            born: now,
            older: self.newest,
            newer: NIL,
            src_older: src,
            src_newer: NIL,
            abandoned: None,
        };
        let d = match self.free_dgrams.pop() {
            Some(d) => {
                self.dgrams[d as usize] = g;
                d
            }
            None if self.dgrams.len() < self.limits.slots.max(1) => {
                self.dgrams.push(g);
                (self.dgrams.len() - 1) as u32
            }
            None => return Err(R::FragmentLimit),
        };
        match self.dgrams.get_mut(self.newest as usize) {
            Some(n) => n.newer = d,
            None => self.oldest = d,
        }
        self.newest = d;
        match self.dgrams.get_mut(src as usize) {
            Some(n) => n.src_newer = d,
            None => {
                let e = Source {
                    held: 0,
                    oldest: d,
                    newest: d,
                };
                self.per_source.insert(p.source, e);
            }
        }
        if let Some(e) = self.per_source.get_mut(&p.source) {
            e.newest = d;
        }
        self.index.insert(p.key, d);
        Ok(d)
    }

    /// Makes room for one more fragment of `source` within its share, dropping its
    /// oldest datagrams if need be (never `current`, the fragment's own). False if the
    /// share is taken by `current` alone.
    fn room_for_source(&mut self, source: u128, current: Option<u32>) -> bool {
        let share = self.limits.share() as u32;
        loop {
            let Some(e) = self.per_source.get(&source).copied() else {
                return true;
            };
            if e.held < share {
                return true;
            }
            // The oldest other than the fragment's own datagram.
            let victim = match current {
                Some(c) if c == e.oldest => self.dgrams[c as usize].src_newer,
                _ => e.oldest,
            };
            if victim == NIL {
                return false;
            }
            let n = self.charge(victim);
            self.counts.evicted_share += u64::from(n);
            self.remove(victim);
        }
    }

    /// Drops the oldest datagram of all unless it is `keep`; false if there is none to
    /// drop.
    fn evict_oldest(&mut self, keep: u32) -> bool {
        let d = self.oldest;
        if d == NIL || d == keep {
            return false;
        }
        let n = self.charge(d);
        self.counts.evicted_limit += u64::from(n);
        self.remove(d);
        true
    }

    /// What datagram `d` holds of its source's share.
    fn charge(&self, d: u32) -> u32 {
        let g = &self.dgrams[d as usize];
        u32::from(g.frags) + u32::from(g.abandoned.is_some())
    }

    /// Adds the fragment to datagram `d`; true when the datagram is now complete.
    fn add(&mut self, d: u32, p: &Parsed, pkt: &[u8]) -> Result<bool, DropReason> {
        let g = self.dgrams[d as usize];
        if let Some(r) = g.abandoned {
            return Err(r);
        }
        if g.frags >= MAX_FRAGMENTS_PER_DATAGRAM {
            return Err(self.abandon(d, R::FragmentTooMany));
        }
        let end = p.off + p.len;
        let total = if p.more { g.total } else { end };
        if (g.total != 0 && (end > g.total || (!p.more && end != g.total)))
            || (!p.more && self.reaches_past(d, end))
        {
            // Two different ends, or data past the end: no consistent datagram.
            return Err(self.abandon(d, R::FragmentBadLength));
        }
        let prev = match self.place(d, p.off, p.len) {
            Ok(prev) => prev,
            Err(R::FragmentOverlap) => return Err(self.abandon(d, R::FragmentOverlap)),
            Err(r) => return Err(r),
        };
        while self.free_frags.is_empty() {
            if !self.evict_oldest(d) {
                return Err(R::FragmentLimit);
            }
        }
        let Some(f) = self.free_frags.pop() else {
            return Err(R::FragmentLimit);
        };
        let slot = f as usize * self.limits.slot_len;
        self.bytes[slot..slot + pkt.len()].copy_from_slice(pkt);
        let next = match prev {
            NIL => g.head,
            pf => self.frags[pf as usize].next,
        };
        self.frags[f as usize] = Frag {
            next,
            off: p.off,
            len: p.len,
            at: p.at as u32,
        };
        match prev {
            NIL => self.dgrams[d as usize].head = f,
            pf => self.frags[pf as usize].next = f,
        }
        if let Some(e) = self.per_source.get_mut(&g.source) {
            e.held += 1;
        }
        self.held += 1;
        let g = &mut self.dgrams[d as usize];
        g.frags += 1;
        g.have += p.len;
        g.total = total;
        let first_here = self.frags[g.head as usize].off == 0;
        Ok(g.total != 0 && g.have == g.total && first_here)
    }

    /// Whether a held fragment of `d` reaches past `end`.
    fn reaches_past(&self, d: u32, end: u32) -> bool {
        let mut f = self.dgrams[d as usize].head;
        while let Some(x) = self.frags.get(f as usize) {
            if x.off + x.len > end {
                return true;
            }
            f = x.next;
        }
        false
    }

    /// The fragment after which `off..off+len` goes (NIL: at the head), or why it may
    /// not go in: an exact duplicate (dropped alone) or an overlap (RFC 5722).
    fn place(&self, d: u32, off: u32, len: u32) -> Result<u32, DropReason> {
        let (mut prev, mut f) = (NIL, self.dgrams[d as usize].head);
        while let Some(x) = self.frags.get(f as usize) {
            if x.off == off && x.len == len {
                return Err(R::FragmentDuplicate);
            }
            if off < x.off + x.len && x.off < off + len {
                return Err(R::FragmentOverlap);
            }
            if x.off > off {
                break;
            }
            prev = f;
            f = x.next;
        }
        Ok(prev)
    }

    /// Gives datagram `d` up for `why`: frees its fragments but keeps its entry until its
    /// timeout, charged to its source as one fragment. Returns `why`.
    fn abandon(&mut self, d: u32, why: DropReason) -> DropReason {
        self.free_fragments(d);
        let g = &mut self.dgrams[d as usize];
        g.abandoned = Some(why);
        let source = g.source;
        if let Some(e) = self.per_source.get_mut(&source) {
            e.held += 1;
        }
        why
    }

    /// Returns the fragments of `d` to the free slots.
    fn free_fragments(&mut self, d: u32) {
        let g = self.dgrams[d as usize];
        let mut f = g.head;
        while let Some(x) = self.frags.get(f as usize) {
            self.free_frags.push(f);
            f = x.next;
        }
        self.held -= usize::from(g.frags);
        self.release_source(g.source, u32::from(g.frags));
        let g = &mut self.dgrams[d as usize];
        g.head = NIL;
        g.frags = 0;
        g.have = 0;
    }

    fn release_source(&mut self, source: u128, n: u32) {
        if let Some(e) = self.per_source.get_mut(&source) {
            e.held = e.held.saturating_sub(n);
        }
    }

    /// Forgets `d` entirely.
    fn remove(&mut self, d: u32) {
        self.free_fragments(d);
        let g = self.dgrams[d as usize];
        if g.abandoned.is_some() {
            self.release_source(g.source, 1);
        }
        match self.dgrams.get_mut(g.older as usize) {
            Some(o) => o.newer = g.newer,
            None => self.oldest = g.newer,
        }
        match self.dgrams.get_mut(g.newer as usize) {
            Some(n) => n.older = g.older,
            None => self.newest = g.older,
        }
        self.unlink_source(&g);
        self.index.remove(&g.key);
        self.free_dgrams.push(d);
    }

    /// Takes datagram `g` out of its source's list, and the source out of the table
    /// once it holds nothing.
    fn unlink_source(&mut self, g: &Dgram) {
        let (older, newer) = (g.src_older, g.src_newer);
        if let Some(o) = self.dgrams.get_mut(older as usize) {
            o.src_newer = newer;
        }
        if let Some(n) = self.dgrams.get_mut(newer as usize) {
            n.src_older = older;
        }
        let Some(e) = self.per_source.get_mut(&g.source) else {
            return;
        };
        if older == NIL {
            e.oldest = newer;
        }
        if newer == NIL {
            e.newest = older;
        }
        if e.oldest == NIL {
            self.per_source.remove(&g.source);
        }
    }

    /// Writes datagram `d` into `pkt`: the first fragment's headers, every payload in
    /// order, then the length and fragment fields of a whole datagram. False (and the
    /// datagram forgotten) if `pkt` cannot hold it.
    fn assemble(&mut self, d: u32, pkt: &mut PacketBuf) -> bool {
        let g = self.dgrams[d as usize];
        let first = &self.frags[g.head as usize];
        let hdr_len = first.at as usize;
        let len = hdr_len + g.total as usize;
        let area = pkt.receive_area();
        if area.len() < len {
            self.remove(d);
            return false;
        }
        let slot = g.head as usize * self.limits.slot_len;
        area[..hdr_len].copy_from_slice(&self.bytes[slot..slot + hdr_len]);
        let mut f = g.head;
        while let Some(x) = self.frags.get(f as usize) {
            let s = f as usize * self.limits.slot_len + x.at as usize;
            let o = hdr_len + x.off as usize;
            area[o..o + x.len as usize].copy_from_slice(&self.bytes[s..s + x.len as usize]);
            f = x.next;
        }
        if g.key.v6 {
            whole_v6(&mut area[..len], hdr_len);
        } else {
            whole_v4(&mut area[..len]);
        }
        pkt.set_received(len);
        self.remove(d);
        true
    }
}

/// An IPv4 datagram's header after reassembly: its full length, no MF, offset 0 (DF and
/// Identification stay what the fragments had).
fn whole_v4(b: &mut [u8]) {
    let len = b.len() as u16;
    let mut ip = Ipv4Packet::new_unchecked(&mut *b);
    let df = ip.dont_frag();
    ip.set_total_len(len);
    ip.set_frag(df, false, 0);
    ip.fill_checksum();
}

/// An IPv6 datagram after reassembly: its payload length, and its Fragment header (the
/// last header before the payload) made atomic (offset 0, M 0), so that the
/// Identification reaches the IPv4 side (RFC 7915 §5.1.1).
fn whole_v6(b: &mut [u8], hdr_len: usize) {
    let payload = (b.len() - ipv6::HEADER_LEN) as u16;
    Ipv6Packet::new_unchecked(&mut *b).set_payload_len(payload);
    put16(b, hdr_len - FRAG_HEADER_LEN + 2, 0);
}

/// What a fragment says about itself; None when `pkt` is no fragment (or not a packet
/// reassembly can read: the translator then drops it for what it is).
fn parse(pkt: &[u8], prefix_mask: u128) -> Option<Result<Parsed, DropReason>> {
    match pkt.first()? >> 4 {
        4 => parse_v4(pkt),
        6 => parse_v6(pkt, prefix_mask),
        _ => None,
    }
}

fn parse_v4(pkt: &[u8]) -> Option<Result<Parsed, DropReason>> {
    let ip = Ipv4Packet::new_checked(pkt).ok()?;
    if !ip.is_fragment() || !ip.verify_checksum() {
        return None;
    }
    let at = ip.header_len();
    let payload = ip.payload();
    let p = Parsed {
        key: Key {
            src: u128::from(u32::from_be_bytes(ip.src_addr())),
            dst: u128::from(u32::from_be_bytes(ip.dst_addr())),
            id: u32::from(ip.ident()),
            proto: ip.protocol().0,
            v6: false,
        },
        source: u128::from(u32::from_be_bytes(ip.src_addr())),
        off: u32::from(ip.frag_offset()) * 8,
        len: payload.len() as u32,
        more: ip.more_frags(),
        at,
    };
    Some(check(
        p,
        ip.protocol(),
        payload,
        (usize::from(u16::MAX) - at) as u32,
    ))
}

fn parse_v6(pkt: &[u8], prefix_mask: u128) -> Option<Result<Parsed, DropReason>> {
    let ip = Ipv6Packet::new_checked(pkt).ok()?;
    let pkt = pkt.get(..ip.total_len())?;
    let chain = ipv6ext::walk(pkt).ok()?;
    let fh = chain.frag.filter(|_| chain.is_fragment())?;
    let at = chain.upper_off;
    let payload = pkt.get(at..)?;
    let src = u128::from_be_bytes(ip.src_addr());
    let p = Parsed {
        key: Key {
            src,
            dst: u128::from_be_bytes(ip.dst_addr()),
            id: fh.ident,
            proto: 0,
            v6: true,
        },
        source: src & prefix_mask,
        off: u32::from(fh.offset) * 8,
        len: payload.len() as u32,
        more: fh.more,
        at,
    };
    // The rebuilt datagram keeps its (atomic) Fragment header, and its Payload Length
    // must still fit 16 bits: 8 bytes less than RFC 8200 §4.5 allows a datagram.
    let room = usize::from(u16::MAX) + ipv6::HEADER_LEN - at;
    Some(check(p, chain.upper_proto, payload, room as u32))
}

/// The length rules every fragment must meet, and the transport header in the first.
fn check(p: Parsed, proto: IpProtocol, payload: &[u8], room: u32) -> Result<Parsed, DropReason> {
    if p.len == 0 || (p.more && !p.len.is_multiple_of(8)) || p.off + p.len > room {
        return Err(R::FragmentBadLength);
    }
    // RFC 7112 (IPv6) and RFC 1858 (IPv4 tiny fragments): the first fragment holds the
    // whole transport header, or the datagram cannot be filtered or mapped.
    let need = match proto {
        IpProtocol::TCP => tcp::HEADER_LEN,
        IpProtocol::UDP => udp::HEADER_LEN,
        IpProtocol::ICMP | IpProtocol::ICMPV6 => icmpv4::HEADER_LEN,
        _ => 0,
    };
    if p.off == 0 && payload.len() < need {
        return Err(R::FragmentTinyFirst);
    }
    Ok(p)
}
