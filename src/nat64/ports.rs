//! Allocation of pool4 ports within this shard's slice.
//!
//! Rules, in the order they are given up when ports run short (RFC 6146 §3.5.1.1,
//! RFC 4787 REQ-2/3/4, RFC 6056):
//! 1. the address paired with the IPv6 host (chosen by a keyed hash of its address,
//!    so a host keeps one IPv4 address while that address has room);
//! 2. the port range of the source port: well-known (0–1023) or not (1024–65535);
//! 3. the parity of the source port (not for ICMP identifiers);
//! 4. within those, a random start and a linear search (RFC 6056 Algorithm 1), so
//!    mappings cannot be predicted from earlier ones.
//!
//! One bitmap per (protocol, address) covers the slice: 8 KB per address at most.

use super::config::{Pool4, PortRange, Proto, port_slice};

pub struct PortAllocator {
    slices: [PortRange; 3],
    words: [usize; 3],
    /// Per protocol: `addrs × words` bits, 1 = in use.
    bits: [Vec<u64>; 3],
    naddrs: usize,
}

const WELL_KNOWN: PortRange = PortRange::new(0, 1023);
const NOT_WELL_KNOWN: PortRange = PortRange::new(1024, 65535);

impl PortAllocator {
    pub fn new(pool: &Pool4, worker: usize, workers: usize) -> Self {
        let naddrs = pool.addrs.len();
        let slices = Proto::ALL.map(|p| port_slice(pool.range(p), worker, workers));
        let words = slices.map(|s| {
            if s.is_empty() {
                0
            } else {
                (s.len() as usize).div_ceil(64)
            }
        });
        let bits = [0, 1, 2].map(|i| vec![0u64; words[i] * naddrs]);
        PortAllocator {
            slices,
            words,
            bits,
            naddrs,
        }
    }

    pub fn bytes(&self) -> usize {
        self.bits.iter().map(|b| b.len() * 8).sum()
    }

    #[cfg(test)]
    pub fn slice(&self, proto: Proto) -> PortRange {
        self.slices[proto as usize]
    }

    fn bit(&self, proto: Proto, addr: usize, port: u16) -> Option<(usize, u64)> {
        let s = self.slices[proto as usize];
        if s.is_empty() || !s.contains(port) || addr >= self.naddrs {
            return None;
        }
        let off = usize::from(port - s.first);
        Some((
            addr * self.words[proto as usize] + off / 64,
            1 << (off % 64),
        ))
    }

    #[cfg(test)]
    pub fn is_used(&self, proto: Proto, addr: usize, port: u16) -> bool {
        self.bit(proto, addr, port)
            .is_some_and(|(w, m)| self.bits[proto as usize][w] & m != 0)
    }

    /// Marks a port taken (e.g. by a static entry). False if out of slice or taken.
    pub fn reserve(&mut self, proto: Proto, addr: usize, port: u16) -> bool {
        match self.bit(proto, addr, port) {
            Some((w, m)) if self.bits[proto as usize][w] & m == 0 => {
                self.bits[proto as usize][w] |= m;
                true
            }
            _ => false,
        }
    }

    pub fn release(&mut self, proto: Proto, addr: usize, port: u16) {
        if let Some((w, m)) = self.bit(proto, addr, port) {
            debug_assert!(self.bits[proto as usize][w] & m != 0, "double release");
            self.bits[proto as usize][w] &= !m;
        }
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
        let slice = self.slices[proto as usize];
        if slice.is_empty() || self.naddrs == 0 {
            return None;
        }
        let class = if WELL_KNOWN.contains(sport) {
            WELL_KNOWN
        } else {
            NOT_WELL_KNOWN
        };
        let parity = (proto != Proto::Icmp).then_some(sport & 1);
        for k in 0..self.naddrs {
            let addr = (pref + k) % self.naddrs;
            // Relax parity first, then the range class (RFC 6146 §3.5.1.1 asks for
            // both only "if possible").
            let tries = [(Some(class), parity), (Some(class), None), (None, None)];
            for (range, par) in tries {
                let sub = match range {
                    Some(c) => intersect(slice, c),
                    None => Some(slice),
                };
                let Some(sub) = sub else { continue };
                if let Some(port) = self.search(proto, addr, sub, par, rand()) {
                    let reserved = self.reserve(proto, addr, port);
                    debug_assert!(reserved);
                    return Some((addr, port));
                }
            }
        }
        None
    }

    /// A free port in `sub` (inside the slice) with the given parity, scanning from a
    /// random point and wrapping.
    fn search(
        &self,
        proto: Proto,
        addr: usize,
        sub: PortRange,
        parity: Option<u16>,
        r: u64,
    ) -> Option<u16> {
        let slice = self.slices[proto as usize];
        let nw = self.words[proto as usize];
        let bits = &self.bits[proto as usize][addr * nw..(addr + 1) * nw];
        let a = usize::from(sub.first - slice.first);
        let b = usize::from(sub.last - slice.first) + 1; // exclusive
        let start = a + (r % (b - a) as u64) as usize;
        // Bit i is port slice.first + i: its parity flips with slice.first's.
        let par_mask = match parity {
            None => u64::MAX,
            Some(p) if (u16::from(p != 0) ^ (slice.first & 1)) == 0 => 0x5555_5555_5555_5555,
            Some(_) => 0xaaaa_aaaa_aaaa_aaaa,
        };
        let found = scan(bits, start, b, par_mask).or_else(|| scan(bits, a, start, par_mask))?;
        Some(slice.first + found as u16)
    }
}

fn intersect(a: PortRange, b: PortRange) -> Option<PortRange> {
    let first = a.first.max(b.first);
    let last = a.last.min(b.last);
    (first <= last).then_some(PortRange { first, last })
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
        let s = port_slice(p.udp, 1, 3);
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
