//! RFC 7757 Explicit Address Mapping Table (EAMT).
//!
//! Each entry pairs an IPv6 prefix with an IPv4 prefix of the same number of host bits;
//! an address matching one side maps to the other side's prefix with the host bits
//! copied across (RFC 7757 §3.2, §3.3). Entries may overlap, and RFC 7757 §3 resolves
//! overlap by the longest match, so the lookup is a longest prefix match in each
//! direction.
//!
//! The index keeps one group per prefix length, longest first, each group sorted by
//! prefix for binary search: a handful of entries costs a handful of compares, and
//! thousands cost at most (distinct lengths × log2(group size)) compares. Nothing
//! allocates after construction.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::AddrError;

/// One validated EAM entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eam {
    pub v6: Ipv6Net,
    pub v4: Ipv4Net,
}

/// All prefixes of one length on one side, sorted, with the other side's prefix.
#[derive(Debug, Clone)]
struct Group<K, V> {
    /// Selects the prefix bits of an address of type `K`.
    mask: K,
    /// Sorted prefixes (host bits zero).
    keys: Vec<K>,
    /// `vals[i]` is the other side's prefix for `keys[i]`.
    vals: Vec<V>,
}

/// The Explicit Address Mapping Table.
#[derive(Debug, Clone, Default)]
pub struct EamTable {
    entries: Vec<Eam>,
    by_v6: Vec<Group<u128, u32>>,
    by_v4: Vec<Group<u32, u128>>,
}

impl EamTable {
    /// Validates and indexes `eams`.
    ///
    /// Rejects an entry whose prefixes have different numbers of host bits (this
    /// translator copies the host bits verbatim, so they must match exactly), whose
    /// prefixes have host bits set, or whose IPv6 or IPv4 prefix is already used by
    /// another entry: two entries with the same prefix make the longest match of
    /// RFC 7757 §3 ambiguous. Overlap of *different* lengths is allowed and resolved by
    /// the longest match.
    pub fn new(eams: &[(Ipv6Net, Ipv4Net)]) -> Result<Self, AddrError> {
        let mut entries: Vec<Eam> = Vec::with_capacity(eams.len());
        // Config time only: maps make the duplicate check linear for big tables.
        let mut seen6: HashMap<Ipv6Net, Eam> = HashMap::with_capacity(eams.len());
        let mut seen4: HashMap<Ipv4Net, Eam> = HashMap::with_capacity(eams.len());
        for &(v6, v4) in eams {
            let e = Eam::new(v6, v4)?;
            if let Some(old) = seen6.insert(e.v6, e) {
                return Err(AddrError(format!(
                    "EAM entry {e}: IPv6 prefix {} is already mapped by EAM entry {old}; \
                     each IPv6 prefix may appear in only one entry (RFC 7757 section 3)",
                    e.v6
                )));
            }
            if let Some(old) = seen4.insert(e.v4, e) {
                return Err(AddrError(format!(
                    "EAM entry {e}: IPv4 prefix {} is already mapped by EAM entry {old}; \
                     each IPv4 prefix may appear in only one entry (RFC 7757 section 3)",
                    e.v4
                )));
            }
            entries.push(e);
        }
        let by_v6 = build_groups(
            &entries,
            |e| e.v6.prefix_len(),
            |e| u128::from(e.v6.network()),
            |e| u32::from(e.v4.network()),
            |len| u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0),
        );
        let by_v4 = build_groups(
            &entries,
            |e| e.v4.prefix_len(),
            |e| u32::from(e.v4.network()),
            |e| u128::from(e.v6.network()),
            |len| u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0),
        );
        Ok(EamTable {
            entries,
            by_v6,
            by_v4,
        })
    }

    /// The entries in configuration order.
    pub fn entries(&self) -> &[Eam] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// IPv6 → IPv4 by the longest matching IPv6 prefix (RFC 7757 §3.3).
    #[inline]
    pub fn to_v4(&self, a: Ipv6Addr) -> Option<Ipv4Addr> {
        let a = u128::from(a);
        for g in &self.by_v6 {
            if let Some(v4) = g.find(a & g.mask) {
                // Suffix lengths are equal, so the host part fits in 32 bits.
                let host = (a & !g.mask) as u32;
                return Some(Ipv4Addr::from(v4 | host));
            }
        }
        None
    }

    /// IPv4 → IPv6 by the longest matching IPv4 prefix (RFC 7757 §3.2).
    #[inline]
    pub fn to_v6(&self, a: Ipv4Addr) -> Option<Ipv6Addr> {
        let a = u32::from(a);
        for g in &self.by_v4 {
            if let Some(v6) = g.find(a & g.mask) {
                let host = u128::from(a & !g.mask);
                return Some(Ipv6Addr::from(v6 | host));
            }
        }
        None
    }

    /// Whether `a` is inside some entry's IPv4 prefix.
    #[inline]
    pub fn contains_v4(&self, a: Ipv4Addr) -> bool {
        let a = u32::from(a);
        self.by_v4.iter().any(|g| g.find(a & g.mask).is_some())
    }

    /// Whether `a` is inside some entry's IPv6 prefix.
    #[inline]
    pub fn contains_v6(&self, a: Ipv6Addr) -> bool {
        let a = u128::from(a);
        self.by_v6.iter().any(|g| g.find(a & g.mask).is_some())
    }
}

impl<K: Ord + Copy, V: Copy> Group<K, V> {
    #[inline]
    fn find(&self, key: K) -> Option<V> {
        // A linear scan beats binary search's branch misses on tiny groups.
        let i = if self.keys.len() <= 8 {
            self.keys.iter().position(|&k| k == key)?
        } else {
            self.keys.binary_search(&key).ok()?
        };
        self.vals.get(i).copied()
    }
}

/// Groups `entries` by prefix length (longest first), sorted by key within a group.
fn build_groups<K: Ord + Copy, V: Copy>(
    entries: &[Eam],
    len_of: impl Fn(&Eam) -> u8,
    key_of: impl Fn(&Eam) -> K,
    val_of: impl Fn(&Eam) -> V,
    mask_of: impl Fn(u8) -> K,
) -> Vec<Group<K, V>> {
    let mut sorted: Vec<&Eam> = entries.iter().collect();
    sorted.sort_by(|a, b| len_of(b).cmp(&len_of(a)).then(key_of(a).cmp(&key_of(b))));
    let mut groups: Vec<(u8, Group<K, V>)> = Vec::new();
    for e in sorted {
        let len = len_of(e);
        match groups.last_mut() {
            Some((l, g)) if *l == len => {
                g.keys.push(key_of(e));
                g.vals.push(val_of(e));
            }
            _ => groups.push((
                len,
                Group {
                    mask: mask_of(len),
                    keys: vec![key_of(e)],
                    vals: vec![val_of(e)],
                },
            )),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

impl Eam {
    /// Validates one entry: equal host-bit counts and no host bits set in either prefix.
    pub fn new(v6: Ipv6Net, v4: Ipv4Net) -> Result<Self, AddrError> {
        let e = Eam { v6, v4 };
        let host6 = 128 - u32::from(v6.prefix_len());
        let host4 = 32 - u32::from(v4.prefix_len());
        if host6 != host4 {
            return Err(AddrError(format!(
                "EAM entry {e}: the IPv6 prefix has {host6} host bits but the IPv4 prefix has \
                 {host4}; expected IPV6/LEN=IPV4/LEN with matching host bits \
                 (128 - LEN6 == 32 - LEN4), e.g. 2001:db8:6::/120=192.0.2.0/24"
            )));
        }
        if v6 != v6.trunc() || v4 != v4.trunc() {
            return Err(AddrError(format!(
                "EAM entry {e}: host bits must be zero, e.g. {}={}",
                v6.trunc(),
                v4.trunc()
            )));
        }
        Ok(e)
    }
}

impl std::fmt::Display for Eam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.v6, self.v4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(list: &[(&str, &str)]) -> Result<EamTable, AddrError> {
        let eams: Vec<(Ipv6Net, Ipv4Net)> = list
            .iter()
            .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
            .collect();
        EamTable::new(&eams)
    }

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// RFC 7757 §3.2/§3.3: a single /128 ↔ /32 entry maps exactly one address each way.
    #[test]
    fn rfc7757_3_single_address_mapping() {
        let tb = t(&[("2001:db8:aaaa::5/128", "192.0.2.1/32")]).unwrap();
        assert_eq!(tb.to_v4(v6("2001:db8:aaaa::5")), Some(v4("192.0.2.1")));
        assert_eq!(tb.to_v6(v4("192.0.2.1")), Some(v6("2001:db8:aaaa::5")));
        assert_eq!(tb.to_v4(v6("2001:db8:aaaa::6")), None);
        assert_eq!(tb.to_v6(v4("192.0.2.2")), None);
    }

    /// RFC 7757 §3.2 (IPv4 → IPv6) and §3.3 (IPv6 → IPv4): the suffix (host bits) is
    /// copied unchanged between the prefixes.
    #[test]
    fn rfc7757_3_2_and_3_3_host_bits_copied() {
        let tb = t(&[("2001:db8:6::/120", "198.51.100.0/24")]).unwrap();
        assert_eq!(tb.to_v6(v4("198.51.100.7")), Some(v6("2001:db8:6::7")));
        assert_eq!(tb.to_v4(v6("2001:db8:6::ff")), Some(v4("198.51.100.255")));
        assert_eq!(tb.to_v4(v6("2001:db8:6::100")), None);
    }

    /// RFC 7757 §3: overlapping EAMs resolved by longest match (§3.2/§3.3), both
    /// directions.
    #[test]
    fn rfc7757_longest_prefix_match_both_directions() {
        let tb = t(&[
            ("2001:db8:aaaa::/120", "192.0.2.0/24"),
            ("2001:db8:bbbb::/125", "192.0.2.8/29"),
            ("2001:db8:cccc::1/128", "192.0.2.9/32"),
        ])
        .unwrap();
        assert_eq!(tb.to_v6(v4("192.0.2.9")), Some(v6("2001:db8:cccc::1")));
        assert_eq!(tb.to_v6(v4("192.0.2.10")), Some(v6("2001:db8:bbbb::2")));
        assert_eq!(tb.to_v6(v4("192.0.2.77")), Some(v6("2001:db8:aaaa::4d")));
        // IPv6 side: disjoint prefixes, each picks its own entry.
        assert_eq!(tb.to_v4(v6("2001:db8:aaaa::9")), Some(v4("192.0.2.9")));
        assert_eq!(tb.to_v4(v6("2001:db8:bbbb::1")), Some(v4("192.0.2.9")));
        assert_eq!(tb.to_v4(v6("2001:db8:cccc::1")), Some(v4("192.0.2.9")));

        let tb = t(&[
            ("2001:db8::/120", "192.0.2.0/24"),
            ("2001:db8::10/124", "198.51.100.0/28"),
        ])
        .unwrap();
        assert_eq!(tb.to_v4(v6("2001:db8::13")), Some(v4("198.51.100.3")));
        assert_eq!(tb.to_v4(v6("2001:db8::23")), Some(v4("192.0.2.35")));
    }

    /// RFC 7757 §3.1 example EAMT: entries 1, 2, 3 and 5 (entry 4, 192.0.2.128/26 with
    /// 2001:db8:dddd::/64, has unequal suffix lengths, which this table refuses; see
    /// `unequal_suffix_lengths_rejected_with_form`). Entry 1 is written without
    /// lengths in the RFC: a single address is a /32 and a /128.
    #[test]
    fn rfc7757_3_1_example_table() {
        let tb = t(&[
            ("2001:db8:aaaa::/128", "192.0.2.1/32"),
            ("2001:db8:bbbb::b/128", "192.0.2.2/32"),
            ("2001:db8:cccc::/124", "192.0.2.16/28"),
            ("64:ff9b::/127", "192.0.2.192/31"),
        ])
        .unwrap();
        let pairs = [
            ("192.0.2.1", "2001:db8:aaaa::"),
            ("192.0.2.2", "2001:db8:bbbb::b"),
            ("192.0.2.16", "2001:db8:cccc::"),
            ("192.0.2.24", "2001:db8:cccc::8"),
            ("192.0.2.31", "2001:db8:cccc::f"),
            ("192.0.2.192", "64:ff9b::"),
            ("192.0.2.193", "64:ff9b::1"),
        ];
        for (a4, a6) in pairs {
            assert_eq!(tb.to_v6(v4(a4)), Some(v6(a6)), "{a4}");
            assert_eq!(tb.to_v4(v6(a6)), Some(v4(a4)), "{a6}");
        }
        assert_eq!(tb.to_v6(v4("192.0.2.3")), None);
        assert_eq!(tb.to_v6(v4("192.0.2.32")), None);
        assert_eq!(tb.to_v4(v6("2001:db8:cccc::10")), None);
        assert_eq!(tb.to_v4(v6("64:ff9b::2")), None);
    }

    /// The order of configuration must not matter for the longest match.
    #[test]
    fn rfc7757_longest_match_independent_of_order() {
        let tb = t(&[
            ("2001:db8:cccc::1/128", "192.0.2.9/32"),
            ("2001:db8:aaaa::/120", "192.0.2.0/24"),
        ])
        .unwrap();
        assert_eq!(tb.to_v6(v4("192.0.2.9")), Some(v6("2001:db8:cccc::1")));
    }

    #[test]
    fn unequal_suffix_lengths_rejected_with_form() {
        // RFC 7757 §3.1 example entry 4.
        let err = t(&[("2001:db8:dddd::/64", "192.0.2.128/26")]).unwrap_err();
        assert!(err.0.contains("2001:db8:dddd::/64=192.0.2.128/26"), "{err}");
        assert!(err.0.contains("IPV6/LEN=IPV4/LEN"), "{err}");
    }

    #[test]
    fn host_bits_rejected() {
        let err = t(&[("2001:db8::1/120", "192.0.2.0/24")]).unwrap_err();
        assert!(err.0.contains("host bits must be zero"), "{err}");
        assert!(err.0.contains("2001:db8::/120=192.0.2.0/24"), "{err}");
    }

    /// Same IPv4 or IPv6 prefix twice: the longest match cannot choose, so reject.
    #[test]
    fn duplicate_prefixes_rejected() {
        let err = t(&[
            ("2001:db8:1::/120", "192.0.2.0/24"),
            ("2001:db8:2::/120", "192.0.2.0/24"),
        ])
        .unwrap_err();
        assert!(
            err.0.contains("IPv4 prefix 192.0.2.0/24 is already mapped"),
            "{err}"
        );
        let err = t(&[
            ("2001:db8:1::/120", "192.0.2.0/24"),
            ("2001:db8:1::/120", "198.51.100.0/24"),
        ])
        .unwrap_err();
        assert!(
            err.0.contains("IPv6 prefix 2001:db8:1::/120 is already"),
            "{err}"
        );
    }

    #[test]
    fn contains_both_sides() {
        let tb = t(&[("2001:db8:6::/120", "198.51.100.0/24")]).unwrap();
        assert!(tb.contains_v4(v4("198.51.100.1")));
        assert!(!tb.contains_v4(v4("192.0.2.1")));
        assert!(tb.contains_v6(v6("2001:db8:6::1")));
        assert!(!tb.contains_v6(v6("2001:db8:7::1")));
    }

    /// Many entries of one length exercise the binary-search path: every /32 of the
    /// three documentation ranges, 768 entries.
    #[test]
    fn large_table_binary_search() {
        let bases = [
            Ipv4Addr::new(192, 0, 2, 0),
            Ipv4Addr::new(198, 51, 100, 0),
            Ipv4Addr::new(203, 0, 113, 0),
        ];
        let mut list = Vec::new();
        for (n, base) in bases.iter().enumerate() {
            for host in 0u32..256 {
                let i = (n as u128) << 16 | u128::from(host) << 4;
                let a6 = Ipv6Addr::from(0x2001_0db8_u128 << 96 | i);
                let a4 = Ipv4Addr::from(u32::from(*base) | host);
                list.push((
                    Ipv6Net::new(a6, 128).unwrap(),
                    Ipv4Net::new(a4, 32).unwrap(),
                ));
            }
        }
        let tb = EamTable::new(&list).unwrap();
        for (a6, a4) in &list {
            assert_eq!(tb.to_v4(a6.addr()), Some(a4.addr()));
            assert_eq!(tb.to_v6(a4.addr()), Some(a6.addr()));
        }
        assert_eq!(tb.to_v4(v6("2001:db8::1")), None);
    }

    #[test]
    fn empty_table() {
        let tb = t(&[]).unwrap();
        assert!(tb.is_empty());
        assert_eq!(tb.to_v4(v6("2001:db8::1")), None);
        assert_eq!(tb.to_v6(v4("192.0.2.1")), None);
    }
}
