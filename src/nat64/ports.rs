//! Allocation of pool4 ports within this shard's slice.
//!
//! Rules, in the order they are given up when ports run short (RFC 6146 §3.5.1.1,
//! RFC 4787 REQ-2/3/4, RFC 6056):
//! 1. the address paired with the IPv6 host (chosen by a keyed hash of its address,
//!    so a host keeps one IPv4 address while that address has room);
//! 2. the port class of the source port: well-known (0–1023) or not (1024–65535). A
//!    well-known source port falls back to the other class when its own is full; a port
//!    above 1023 is never mapped below 1024 (RFC 4787 REQ-3);
//! 3. the parity of the source port (not for ICMP identifiers);
//! 4. within those, a random start and a linear search (RFC 6056 Algorithm 1), so
//!    mappings cannot be predicted from earlier ones.
//!
//! One bitmap per (protocol, class, address) covers the shard's slice of that class:
//! 8 KB per address at most.

use super::config::{PORT_CLASSES, Pool4, PortRange, Proto, intersect, port_class, port_slices};

/// One protocol's ports of one class in this shard: the slice, and a bitmap per
/// address (1 = in use).
struct ClassMap {
    slice: PortRange,
    words: usize,
    bits: Vec<u64>,
}

impl ClassMap {
    fn new(slice: PortRange, naddrs: usize) -> Self {
        let words = if slice.is_empty() {
            0
        } else {
            (slice.len() as usize).div_ceil(64)
        };
        ClassMap {
            slice,
            words,
            bits: vec![0u64; words * naddrs],
        }
    }

    fn bit(&self, addr: usize, port: u16) -> Option<(usize, u64)> {
        if self.slice.is_empty() || !self.slice.contains(port) {
            return None;
        }
        let off = usize::from(port - self.slice.first);
        Some((addr * self.words + off / 64, 1 << (off % 64)))
    }

    /// A free port of `sub` (inside the slice) with the given parity, scanning from a
    /// random point and wrapping.
    fn search(&self, addr: usize, sub: PortRange, parity: Option<u16>, r: u64) -> Option<u16> {
        let bits = self.bits.get(addr * self.words..(addr + 1) * self.words)?;
        let a = usize::from(sub.first - self.slice.first);
        let b = usize::from(sub.last - self.slice.first) + 1; // exclusive
        let start = a + (r % (b - a) as u64) as usize;
        // Bit i is port slice.first + i: its parity flips with slice.first's.
        let par_mask = match parity {
            None => u64::MAX,
            Some(p) if (u16::from(p != 0) ^ (self.slice.first & 1)) == 0 => 0x5555_5555_5555_5555,
            Some(_) => 0xaaaa_aaaa_aaaa_aaaa,
        };
        let found = scan(bits, start, b, par_mask).or_else(|| scan(bits, a, start, par_mask))?;
        Some(self.slice.first + found as u16)
    }
}

pub struct PortAllocator {
    /// Per protocol, per class (well-known, other).
    maps: [[ClassMap; 2]; 3],
    naddrs: usize,
}

impl PortAllocator {
    pub fn new(pool: &Pool4, worker: usize, workers: usize) -> Self {
        let naddrs = pool.addrs.len();
        let maps = Proto::ALL
            .map(|p| port_slices(pool.range(p), worker, workers).map(|s| ClassMap::new(s, naddrs)));
        PortAllocator { maps, naddrs }
    }

    /// Room for `naddrs` addresses (more than now): a reload added pool4 addresses,
    /// numbered after the existing ones, whose ports are all free.
    pub fn grow(&mut self, naddrs: usize) {
        for m in self.maps.iter_mut().flatten() {
            m.bits.resize(m.words * naddrs, 0);
        }
        self.naddrs = self.naddrs.max(naddrs);
    }

    pub fn bytes(&self) -> usize {
        self.maps.iter().flatten().map(|m| m.bits.len() * 8).sum()
    }

    /// Whether `port` is in this shard's slice of `proto`'s range.
    #[cfg(test)]
    pub fn in_slice(&self, proto: Proto, port: u16) -> bool {
        self.maps[proto as usize][port_class(port)]
            .slice
            .contains(port)
    }

    fn bit(&self, proto: Proto, addr: usize, port: u16) -> Option<(&ClassMap, usize, u64)> {
        if addr >= self.naddrs {
            return None;
        }
        let m = &self.maps[proto as usize][port_class(port)];
        m.bit(addr, port).map(|(w, b)| (m, w, b))
    }

    #[cfg(test)]
    pub fn is_used(&self, proto: Proto, addr: usize, port: u16) -> bool {
        self.bit(proto, addr, port)
            .is_some_and(|(m, w, b)| m.bits[w] & b != 0)
    }

    /// Marks a port taken (e.g. by a static entry). False if out of slice or taken.
    pub fn reserve(&mut self, proto: Proto, addr: usize, port: u16) -> bool {
        let Some((_, w, b)) = self.bit(proto, addr, port) else {
            return false;
        };
        let m = &mut self.maps[proto as usize][port_class(port)];
        if m.bits[w] & b != 0 {
            return false;
        }
        m.bits[w] |= b;
        true
    }

    pub fn release(&mut self, proto: Proto, addr: usize, port: u16) {
        if let Some((_, w, b)) = self.bit(proto, addr, port) {
            let m = &mut self.maps[proto as usize][port_class(port)];
            debug_assert!(m.bits[w] & b != 0, "double release");
            m.bits[w] &= !b;
        }
    }

    /// Picks and reserves a free port of `block` (on address `addr`, inside this
    /// shard's slice): the source port's parity first (RFC 4787 REQ-4), from a random
    /// start (RFC 6056 Algorithm 1). Blocks lie above 1023 (`blocks::block_span`).
    pub fn allocate_in(
        &mut self,
        proto: Proto,
        addr: usize,
        block: PortRange,
        sport: u16,
        mut rand: impl FnMut() -> u64,
    ) -> Option<u16> {
        if addr >= self.naddrs {
            return None;
        }
        let m = &self.maps[proto as usize][port_class(block.first)];
        let sub = intersect(m.slice, block)?;
        let parity = (proto != Proto::Icmp).then_some(sport & 1);
        for par in [parity, None] {
            if let Some(port) = m.search(addr, sub, par, rand()) {
                let reserved = self.reserve(proto, addr, port);
                debug_assert!(reserved);
                return Some(port);
            }
        }
        None
    }

    /// Picks and reserves a port for a flow from source port `sport`, trying the
    /// paired address `pref` first. `rand` gives independent random words.
    pub fn allocate(
        &mut self,
        proto: Proto,
        sport: u16,
        pref: usize,
        mut rand: impl FnMut() -> u64,
    ) -> Option<(usize, u16)> {
        if self.naddrs == 0 {
            return None;
        }
        let own = port_class(sport);
        // ICMP identifiers have no classes (RFC 6146 §3.5.3): any free one will do,
        // the identifier's own class first.
        let classes: &[usize] = match (proto, own) {
            (_, 0) => &[0, 1],
            (Proto::Icmp, _) => &[1, 0],
            _ => &[1],
        };
        let parity = (proto != Proto::Icmp).then_some(sport & 1);
        for k in 0..self.naddrs {
            let addr = (pref + k) % self.naddrs;
            // Relax parity first, then the class (RFC 6146 §3.5.1.1 asks for both
            // only "if possible"; a port above 1023 never goes below 1024).
            for &class in classes {
                for par in [parity, None] {
                    if par.is_some() && class != own {
                        continue;
                    }
                    let m = &self.maps[proto as usize][class];
                    let Some(sub) = intersect(m.slice, PORT_CLASSES[class]) else {
                        continue;
                    };
                    if let Some(port) = m.search(addr, sub, par, rand()) {
                        let reserved = self.reserve(proto, addr, port);
                        debug_assert!(reserved);
                        return Some((addr, port));
                    }
                }
            }
        }
        None
    }
}

/// First clear bit in [from, to) whose position is allowed by `par_mask`.
fn scan(bits: &[u64], from: usize, to: usize, par_mask: u64) -> Option<usize> {
    let mut i = from;
    while i < to {
        let w = i / 64;
        let lo = i % 64;
        let hi = (to - w * 64).min(64);
        let range_mask = (u64::MAX << lo) & if hi == 64 { u64::MAX } else { (1u64 << hi) - 1 };
        let free = !bits[w] & range_mask & par_mask;
        if free != 0 {
            return Some(w * 64 + free.trailing_zeros() as usize);
        }
        i = (w + 1) * 64;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn pool(n: u8) -> Pool4 {
        Pool4::new((1..=n).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect())
    }

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn parity_preserved_rfc4787_req4_rfc6146_3_5_1_1() {
        let mut a = PortAllocator::new(&pool(1), 0, 1);
        let mut r = rng(3);
        for sport in [40000u16, 40001, 1025, 1030, 65535] {
            let (_, p) = a.allocate(Proto::Udp, sport, 0, &mut r).unwrap();
            assert_eq!(p & 1, sport & 1, "sport {sport} got {p}");
            assert!(p >= 1024);
        }
    }

    #[test]
    fn range_preserved_when_pool_has_well_known_ports_rfc6146_3_5_1_1() {
        let mut p = pool(1);
        p.udp = PortRange::new(0, 65535);
        let mut a = PortAllocator::new(&p, 0, 1);
        let mut r = rng(5);
        for _ in 0..200 {
            let (_, port) = a.allocate(Proto::Udp, 53, 0, &mut r).unwrap();
            assert!(port < 1024 && port & 1 == 1);
            let (_, port) = a.allocate(Proto::Udp, 5353, 0, &mut r).unwrap();
            assert!(port >= 1024 && port & 1 == 1);
        }
    }

    /// RFC 4787 REQ-3 (RFC 6146 §3.5.1.1): a source port above 1023 is never mapped to
    /// one below 1024, even when the rest is used up; a well-known source port takes a
    /// well-known port first, then falls back to the rest.
    #[test]
    fn rfc4787_req3_high_ports_never_go_below_1024() {
        let mut p = pool(1);
        p.udp = PortRange::new(1020, 1027);
        let mut a = PortAllocator::new(&p, 0, 1);
        let mut r = rng(9);
        let high: Vec<u16> = (0..4)
            .map(|_| a.allocate(Proto::Udp, 40000, 0, &mut r).unwrap().1)
            .collect();
        assert!(high.iter().all(|&x| x >= 1024), "{high:?}");
        assert_eq!(a.allocate(Proto::Udp, 40001, 0, &mut r), None);
        let low: Vec<u16> = (0..4)
            .map(|_| a.allocate(Proto::Udp, 53, 0, &mut r).unwrap().1)
            .collect();
        assert!(low.iter().all(|&x| x < 1024), "{low:?}");
        assert_eq!(a.allocate(Proto::Udp, 53, 0, &mut r), None);
        // A well-known source falls back to the other class when its own is full.
        let mut a = PortAllocator::new(&p, 0, 1);
        for _ in 0..4 {
            a.allocate(Proto::Udp, 123, 0, &mut r).unwrap();
        }
        let (_, x) = a.allocate(Proto::Udp, 123, 0, &mut r).unwrap();
        assert!(x >= 1024);
    }

    /// Every worker gets well-known ports of its own when the range has them.
    #[test]
    fn every_worker_can_keep_a_well_known_source_port() {
        let mut p = pool(1);
        p.udp = PortRange::new(1, 65535);
        let mut r = rng(4);
        for w in 0..4 {
            let mut a = PortAllocator::new(&p, w, 4);
            let (_, x) = a.allocate(Proto::Udp, 53, 0, &mut r).unwrap();
            assert!(x < 1024 && x & 1 == 1, "worker {w}: {x}");
            let (_, y) = a.allocate(Proto::Udp, 50000, 0, &mut r).unwrap();
            assert!(y >= 1024 && y & 1 == 0, "worker {w}: {y}");
        }
    }

    #[test]
    fn allocation_is_randomised_rfc6056() {
        let mut a = PortAllocator::new(&pool(1), 0, 1);
        let mut r = rng(11);
        let ports: Vec<u16> = (0..50)
            .map(|_| a.allocate(Proto::Tcp, 50000, 0, &mut r).unwrap().1)
            .collect();
        // Not sequential: consecutive allocations are not neighbours.
        let adjacent = ports
            .windows(2)
            .filter(|w| w[1].abs_diff(w[0]) <= 2)
            .count();
        assert!(adjacent < 5, "{ports:?}");
        let distinct: std::collections::HashSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), 50);
    }

    #[test]
    fn stays_in_worker_slice_and_paired_address() {
        let p = pool(4);
        let mut a = PortAllocator::new(&p, 1, 3);
        let s = crate::nat64::config::port_slice(p.udp, 1, 3);
        let mut r = rng(7);
        for _ in 0..1000 {
            let (addr, port) = a.allocate(Proto::Udp, 3000, 2, &mut r).unwrap();
            assert_eq!(
                addr, 2,
                "paired address kept while it has room (RFC 4787 REQ-2)"
            );
            assert!(s.contains(port));
        }
    }

    #[test]
    fn exhaustion_relaxes_parity_then_moves_address_then_fails() {
        let mut p = pool(2);
        p.udp = PortRange::new(2000, 2003);
        let mut a = PortAllocator::new(&p, 0, 1);
        let mut r = rng(1);
        let mut got = Vec::new();
        for _ in 0..8 {
            got.push(a.allocate(Proto::Udp, 4000, 0, &mut r).unwrap());
        }
        // The first two are even ports on the paired address, then odd ones.
        assert!(got[..2].iter().all(|&(ad, po)| ad == 0 && po % 2 == 0));
        assert!(got[2..4].iter().all(|&(ad, po)| ad == 0 && po % 2 == 1));
        assert!(got[4..].iter().all(|&(ad, _)| ad == 1));
        assert_eq!(a.allocate(Proto::Udp, 4000, 0, &mut r), None);
        a.release(Proto::Udp, 1, got[7].1);
        assert_eq!(a.allocate(Proto::Udp, 4000, 0, &mut r), Some((1, got[7].1)));
    }

    #[test]
    fn icmp_identifiers_use_whole_range() {
        let p = pool(1);
        let mut a = PortAllocator::new(&p, 0, 1);
        let mut r = rng(2);
        let ids: Vec<u16> = (0..200)
            .map(|_| a.allocate(Proto::Icmp, 7, 0, &mut r).unwrap().1)
            .collect();
        assert!(
            ids.iter().any(|&i| i % 2 == 0),
            "no parity rule for ICMP identifiers"
        );
        assert!(ids.iter().any(|&i| i < 1024) || ids.iter().all(|&i| i >= 1024));
    }
}
