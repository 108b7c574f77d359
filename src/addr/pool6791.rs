//! RFC 6791 pool: IPv4 source addresses for ICMPv4 errors translated from ICMPv6 errors
//! whose IPv6 source (a router) has no IPv4 mapping.
//!
//! RFC 6791 §4 suggests picking an address at random, so that traceroute through the
//! translator shows distinct hops rather than one address. We stay sans-IO and
//! deterministic: the caller passes a hash of the packet (e.g. of the original IPv6
//! source) and the same router keeps the same IPv4 address.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// The configured prefixes with a running count of usable addresses, for an O(prefixes)
/// pick without allocation.
#[derive(Debug, Clone, Default)]
pub struct Pool6791 {
    /// (first usable address, number of usable addresses, running total before it).
    ranges: Vec<(u32, u64, u64)>,
    total: u64,
}

impl Pool6791 {
    /// Builds the pool; host bits in `nets` are ignored. Network and broadcast addresses
    /// are skipped for prefixes shorter than /31 (RFC 3021 makes both /31 addresses
    /// usable, and a /32 is one host).
    pub fn new(nets: &[Ipv4Net]) -> Self {
        let mut ranges = Vec::with_capacity(nets.len());
        let mut total = 0u64;
        for net in nets {
            let net = net.trunc();
            let first = u32::from(net.network());
            let size = 1u64 << (32 - u32::from(net.prefix_len()));
            let (first, count) = if net.prefix_len() < 31 {
                (first.wrapping_add(1), size - 2)
            } else {
                (first, size)
            };
            ranges.push((first, count, total));
            total += count;
        }
        Pool6791 { ranges, total }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Chooses an address from `hash`; `None` when the pool is empty.
    #[inline]
    pub fn pick(&self, hash: u32) -> Option<Ipv4Addr> {
        if self.total == 0 {
            return None;
        }
        let idx = u64::from(hash) % self.total;
        // Ranges are few (usually one); a linear walk is cheapest.
        let &(first, _, before) = self
            .ranges
            .iter()
            .find(|&&(_, count, before)| idx < before + count)?;
        // idx - before < count <= 2^32, and first + offset stays inside the prefix.
        let offset = (idx - before) as u32;
        Some(Ipv4Addr::from(first.wrapping_add(offset)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(list: &[&str]) -> Pool6791 {
        let nets: Vec<Ipv4Net> = list.iter().map(|s| s.parse().unwrap()).collect();
        Pool6791::new(&nets)
    }

    #[test]
    fn empty_pool_picks_nothing() {
        assert_eq!(pool(&[]).pick(7), None);
        assert!(pool(&[]).is_empty());
    }

    /// RFC 6791 §4: any pool address may be chosen; network and broadcast addresses of
    /// a /24 are never chosen.
    #[test]
    fn rfc6791_4_skips_network_and_broadcast() {
        let p = pool(&["198.51.100.0/24"]);
        let mut seen = std::collections::HashSet::new();
        for h in 0..1000u32 {
            let a = p.pick(h).unwrap();
            assert_ne!(a, Ipv4Addr::new(198, 51, 100, 0));
            assert_ne!(a, Ipv4Addr::new(198, 51, 100, 255));
            assert_eq!(a.octets()[..3], [198, 51, 100]);
            seen.insert(a);
        }
        assert_eq!(seen.len(), 254, "every usable address is reachable");
    }

    #[test]
    fn deterministic_for_a_hash() {
        let p = pool(&["192.0.2.0/28", "203.0.113.7/32"]);
        assert_eq!(p.pick(12345), p.pick(12345));
        assert_eq!(p.pick(u32::MAX), p.pick(u32::MAX));
    }

    #[test]
    fn slash_31_and_32_use_every_address() {
        let p = pool(&["192.0.2.6/31", "203.0.113.9/32"]);
        let got: Vec<_> = (0..3).map(|h| p.pick(h).unwrap()).collect();
        assert_eq!(
            got,
            [
                Ipv4Addr::new(192, 0, 2, 6),
                Ipv4Addr::new(192, 0, 2, 7),
                Ipv4Addr::new(203, 0, 113, 9)
            ]
        );
        assert_eq!(p.pick(3), Some(Ipv4Addr::new(192, 0, 2, 6)));
    }

    #[test]
    fn host_bits_in_config_are_ignored() {
        let p = pool(&["192.0.2.77/30"]);
        let got: Vec<_> = (0..2).map(|h| p.pick(h).unwrap()).collect();
        assert_eq!(
            got,
            [Ipv4Addr::new(192, 0, 2, 77), Ipv4Addr::new(192, 0, 2, 78)]
        );
    }
}
