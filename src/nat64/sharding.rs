//! Which worker owns a flow. Shared read-only by all workers (and by whatever steers
//! packets to queues): the IPv6 side by a keyed hash of the subscriber prefix, the IPv4
//! side by the pool4 port slice. A dynamic mapping takes its port from the IPv6 owner's
//! slice, so the reply's destination port leads back to the same worker. Hashing the
//! prefix, not the address, keeps a subscriber on one worker so its quotas are exact.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::blocks::Deterministic;
use super::config::{Pool4, Proto, owner_of_port};
use super::hash::Hasher;
use super::types::StaticBib;

/// Cloned by a reload that changes the static entries: the copy, changed, replaces
/// the one the workers follow (`dataplane::Live`).
#[derive(Clone)]
pub struct Sharding {
    workers: usize,
    pool: Pool4,
    hasher: Hasher,
    prefix_mask: u128,
    /// Static entries pin both directions to the worker holding them.
    static6: HashMap<(Proto, u128, u16), usize>,
    static4: HashMap<(Proto, u32, u16), usize>,
    /// `deterministic` port allocation: a subscriber belongs to the worker whose
    /// slice holds the first port of its block (RFC 7422 formula, TCP's range; the
    /// configuration gives every protocol the same range in this mode).
    det: Option<Deterministic>,
}

impl Sharding {
    /// `seed` must be the same for every user of this `Sharding` (one per process).
    pub fn new(pool: &Pool4, workers: usize, subscriber_prefix_len: u8, seed: u64) -> Self {
        let len = u32::from(subscriber_prefix_len.clamp(1, 128));
        Sharding {
            workers: workers.max(1),
            pool: pool.clone(),
            hasher: Hasher::new(seed ^ 0x0_77e4),
            prefix_mask: u128::MAX << (128 - len),
            static6: HashMap::new(),
            static4: HashMap::new(),
            det: None,
        }
    }

    /// Steers subscribers by the deterministic formula instead of by hash, so that
    /// each lands on the worker owning its fixed block.
    pub fn with_deterministic(mut self, det: Option<Deterministic>) -> Self {
        self.det = det;
        self
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// What a copy of [`owner_of_v6`](Self::owner_of_v6) outside this process needs
    /// (static entries aside): the hash keys and final constant, and the subscriber
    /// prefix mask.
    pub fn v6_owner_params(&self) -> ([u64; 3], u64, u128) {
        let (k, pi) = self.hasher.h2_params();
        (k, pi, self.prefix_mask)
    }

    /// Whether a deterministic (RFC 7422) mapping decides owners of IPv6 packets, which
    /// a copy of the hash alone would not reproduce.
    pub fn is_deterministic(&self) -> bool {
        self.det.is_some()
    }

    /// The pool whose port slices name the owner of an IPv4 packet.
    pub fn pool(&self) -> &Pool4 {
        &self.pool
    }

    /// Owner of an IPv6 packet from `src6:sport`.
    #[inline]
    pub fn owner_of_v6(&self, proto: Proto, src6: Ipv6Addr, sport: u16) -> usize {
        let a = u128::from(src6);
        if !self.static6.is_empty()
            && let Some(&w) = self.static6.get(&(proto, a, sport))
        {
            return w;
        }
        self.owner_of_prefix(a)
    }

    /// The worker that reassembles an IPv6 subscriber's fragments: the owner of its
    /// prefix, where its sessions live too (fragments carry no ports to steer by).
    #[inline]
    pub fn owner_of_subscriber(&self, src6: Ipv6Addr) -> usize {
        self.owner_of_prefix(u128::from(src6))
    }

    /// The worker that collects every fragment of one IPv4 datagram (RFC 791 names it
    /// by source, destination, protocol and Identification). Only the first fragment
    /// has the ports that name the session's owner, so the datagram is rebuilt here and
    /// then handed to that owner.
    #[inline]
    pub fn collector_v4(&self, src: Ipv4Addr, dst: Ipv4Addr, proto: u8, id: u16) -> usize {
        let h = self.hasher.h2(
            u64::from(u32::from(src)) << 32 | u64::from(u32::from(dst)),
            u64::from(id) << 8 | u64::from(proto),
        );
        (h % self.workers as u64) as usize
    }

    /// A 32-bit key of the subscriber (its prefix) that `src6` belongs to.
    #[inline]
    pub fn subscriber_key(&self, src6: Ipv6Addr) -> u32 {
        let p = u128::from(src6) & self.prefix_mask;
        (self.hasher.h2(p as u64, (p >> 64) as u64) >> 32) as u32
    }

    fn owner_of_prefix(&self, a: u128) -> usize {
        if let Some(d) = &self.det
            && let Some((_, r)) = d.block_of(Ipv6Addr::from(a))
            && let Some(w) = owner_of_port(self.pool.tcp, self.workers, r.first)
        {
            return w;
        }
        let p = a & self.prefix_mask;
        let h = self.hasher.h2(p as u64, (p >> 64) as u64);
        ((u128::from(h) * self.workers as u128) >> 64) as usize
    }

    /// Owner of an IPv4 packet to `dst4:dport`; None when no worker can hold a mapping
    /// for it (outside pool4's port range and not a static entry).
    #[inline]
    pub fn owner_of_v4(&self, proto: Proto, dst4: Ipv4Addr, dport: u16) -> Option<usize> {
        if !self.static4.is_empty()
            && let Some(&w) = self.static4.get(&(proto, u32::from(dst4), dport))
        {
            return Some(w);
        }
        owner_of_port(self.pool.range(proto), self.workers, dport)
    }

    /// True if `a` is a pool4 address (an IPv6 packet to pool6 ∘ `a` hairpins, §3.8).
    #[inline]
    pub fn is_pool4(&self, a: Ipv4Addr) -> bool {
        self.pool.addrs.contains(&a)
    }

    /// Registers a static entry and says which worker's shard must hold it
    /// (`Shard::add_static` there): the owner of its pool4 port if it has one, else
    /// the owner of the server's prefix.
    pub fn add_static(&mut self, st: &StaticBib) -> usize {
        let in_pool = self.pool.addrs.contains(&st.v4);
        let w = match owner_of_port(self.pool.range(st.proto), self.workers, st.v4_port) {
            Some(w) if in_pool => w,
            _ => self.owner_of_prefix(u128::from(st.v6)),
        };
        self.static6
            .insert((st.proto, u128::from(st.v6), st.v6_port), w);
        self.static4
            .insert((st.proto, u32::from(st.v4), st.v4_port), w);
        w
    }

    /// A reload added pool4 addresses (`pool` is the old one with them appended; the
    /// port ranges, which name the IPv4 owners, do not change).
    pub fn set_pool(&mut self, pool: Pool4) {
        self.pool = pool;
    }

    /// Forgets a static entry; returns the worker whose shard holds it, None if it was
    /// not registered.
    pub fn remove_static(&mut self, st: &StaticBib) -> Option<usize> {
        self.static6
            .remove(&(st.proto, u128::from(st.v6), st.v6_port));
        self.static4
            .remove(&(st.proto, u32::from(st.v4), st.v4_port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Pool4 {
        Pool4::new(vec![Ipv4Addr::new(192, 0, 2, 1)])
    }

    #[test]
    fn subscriber_prefix_stays_on_one_worker() {
        let s = Sharding::new(&pool(), 8, 64, 42);
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(
            s.owner_of_v6(Proto::Udp, a, 1),
            s.owner_of_v6(Proto::Tcp, b, 2)
        );
        let mut seen = [0; 8];
        for i in 0..800u16 {
            let x = Ipv6Addr::new(0x2001, 0xdb8, i, 0, 0, 0, 0, 1);
            seen[s.owner_of_v6(Proto::Udp, x, 1)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }

    #[test]
    fn v4_owner_is_port_slice_owner() {
        let s = Sharding::new(&pool(), 4, 64, 1);
        let d = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(s.owner_of_v4(Proto::Udp, d, 1024), Some(0));
        assert_eq!(s.owner_of_v4(Proto::Udp, d, 65535), Some(3));
        assert_eq!(s.owner_of_v4(Proto::Udp, d, 80), None);
        assert_eq!(s.owner_of_v4(Proto::Icmp, d, 0), Some(0));
    }

    /// RFC 7422 deterministic allocation with several workers: a subscriber is steered
    /// to the worker whose port slice holds its block, so its replies (steered by port)
    /// come home.
    #[test]
    fn deterministic_subscribers_go_to_their_blocks_worker() {
        use crate::nat64::{BlockConfig, PortAllocation};
        let cfg = BlockConfig {
            mode: PortAllocation::Deterministic,
            subscribers: Some(("2001:db8:100::".parse().unwrap(), 48)),
            ..BlockConfig::default()
        };
        let det = Deterministic::new(&pool(), Proto::Tcp, &cfg, 64).unwrap();
        let s = Sharding::new(&pool(), 4, 64, 3).with_deterministic(Some(det.clone()));
        for i in [0u16, 1, 125, 126, 300, 503] {
            let a = Ipv6Addr::new(0x2001, 0xdb8, 0x100, i, 0, 0, 0, 1);
            let (v4, r) = det.block_of(a).unwrap();
            let w = s.owner_of_v6(Proto::Udp, a, 5000);
            assert_eq!(
                s.owner_of_v4(Proto::Udp, v4, r.first),
                Some(w),
                "subscriber {i}"
            );
            assert_eq!(
                s.owner_of_v4(Proto::Udp, v4, r.last),
                Some(w),
                "subscriber {i}"
            );
            assert_eq!(s.owner_of_subscriber(a), w);
        }
    }

    #[test]
    fn static_entries_pin_both_directions() {
        let mut s = Sharding::new(&pool(), 4, 64, 1);
        let st = StaticBib {
            proto: Proto::Tcp,
            v6: "2001:db8::80".parse().unwrap(),
            v6_port: 80,
            v4: Ipv4Addr::new(192, 0, 2, 1),
            v4_port: 80,
        };
        let w = s.add_static(&st);
        assert_eq!(s.owner_of_v4(Proto::Tcp, st.v4, 80), Some(w));
        assert_eq!(s.owner_of_v6(Proto::Tcp, st.v6, 80), w);
        let st2 = StaticBib {
            v4_port: 60000,
            v6_port: 8080,
            ..st
        };
        let w2 = s.add_static(&st2);
        assert_eq!(w2, 3, "a pool4 port belongs to its slice's owner");
        assert_eq!(s.owner_of_v6(Proto::Tcp, st.v6, 8080), 3);
        assert_eq!(s.remove_static(&st2), Some(3));
        assert_eq!(s.remove_static(&st2), None);
        assert_eq!(
            s.owner_of_v6(Proto::Tcp, st.v6, 8080),
            s.owner_of_subscriber(st.v6),
            "back to the prefix's owner"
        );
    }
}
