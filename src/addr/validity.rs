//! Addresses a translator never emits and never translates, in either family.
//!
//! RFC 7915 §1.4 leaves address validity to the router rules, and a translator is a
//! router: RFC 1812 §5.3.7 (martian addresses) for IPv4, RFC 4291 §2.5.2, §2.5.3,
//! §2.5.6 and §2.7 for IPv6. RFC 6890 marks the same IPv4 blocks "Forwardable: False".
//! The rules are one table per family ([`IPV4_NEVER`], [`IPV6_NEVER`]), the same for
//! sources and destinations, and they apply to every header the translator reads or
//! writes, whatever mapped it (RFC 6052 prefix of any length, EAM, NAT64 pool6 and
//! pool4, the RFC 6791 pool): an IPv4 packet with such an address is not translated,
//! an IPv6 packet whose addresses would map to one is not translated, and the same
//! holds for the packet an ICMP error quotes (RFC 7915 §4.3/§5.3 translate it "by
//! invoking the function that translated the outer IP headers").
//!
//! Decisions:
//! - All of 240.0.0.0/4 is refused, not only 255.255.255.255: RFC 1812 §5.3.7 calls
//!   Class E destinations invalid and RFC 6890 says none of it is forwardable, and an
//!   address nobody may route is no address to translate to or from.
//! - All of 0.0.0.0/8 is refused as a destination too (RFC 1812 §5.3.7: a router
//!   "SHOULD NOT forward any packet that has ... a destination address on network 0").
//! - Multicast is refused both ways: SIIT and NAT64 have no multicast address mapping,
//!   and a unicast translation of a group address would be wrong.
//! - Link-local fe80::/10 never leaves its link (RFC 4291 §2.5.6). 169.254.0.0/16 is
//!   left to the mapping rules (RFC 6052 §3.1 strict mode refuses it with the
//!   well-known prefix).
//!
//! The predicates are four masked compares on an integer, OR-ed without branches (the
//! tables are consts, so the folds unroll): cheap enough for every packet.

use std::net::{Ipv4Addr, Ipv6Addr};

/// One range of the table: `prefix/len`, and where the rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Never<A> {
    pub prefix: A,
    pub len: u8,
    pub rule: &'static str,
}

/// IPv4 addresses that are neither emitted nor translated, as source or destination.
pub const IPV4_NEVER: [Never<Ipv4Addr>; 4] = [
    Never {
        prefix: Ipv4Addr::new(0, 0, 0, 0),
        len: 8,
        rule: "\"this network\" (RFC 1122 §3.2.1.3; RFC 1812 §5.3.7 network 0)",
    },
    Never {
        prefix: Ipv4Addr::new(127, 0, 0, 0),
        len: 8,
        rule: "loopback (RFC 1122 §3.2.1.3; RFC 1812 §5.3.7 network 127)",
    },
    Never {
        prefix: Ipv4Addr::new(224, 0, 0, 0),
        len: 4,
        rule: "multicast (RFC 5771; RFC 1812 §5.3.7 sources \"not a unicast address\")",
    },
    Never {
        prefix: Ipv4Addr::new(240, 0, 0, 0),
        len: 4,
        rule: "reserved Class E and limited broadcast 255.255.255.255 (RFC 1812 §5.3.7; RFC 6890)",
    },
];

/// IPv6 addresses that are neither emitted nor translated, as source or destination.
pub const IPV6_NEVER: [Never<Ipv6Addr>; 4] = [
    Never {
        prefix: Ipv6Addr::UNSPECIFIED,
        len: 128,
        rule: "unspecified :: (RFC 4291 §2.5.2)",
    },
    Never {
        prefix: Ipv6Addr::LOCALHOST,
        len: 128,
        rule: "loopback ::1 (RFC 4291 §2.5.3)",
    },
    Never {
        prefix: Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        len: 8,
        rule: "multicast (RFC 4291 §2.7)",
    },
    Never {
        prefix: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        len: 10,
        rule: "link-local unicast (RFC 4291 §2.5.6)",
    },
];

impl Never<Ipv4Addr> {
    #[inline(always)]
    const fn contains(&self, a: u32) -> bool {
        let mask = u32::MAX << (32 - self.len as u32);
        a & mask == self.prefix.to_bits()
    }
}

impl Never<Ipv6Addr> {
    #[inline(always)]
    const fn contains(&self, a: u128) -> bool {
        let mask = u128::MAX << (128 - self.len as u32);
        a & mask == self.prefix.to_bits()
    }
}

/// Whether `a` is in [`IPV4_NEVER`].
#[inline]
pub fn ipv4_is_never_translated(a: Ipv4Addr) -> bool {
    let bits = a.to_bits();
    // `|`, not `any`: no branch but the caller's (measurably cheaper per packet).
    IPV4_NEVER
        .iter()
        .fold(false, |hit, r| hit | r.contains(bits))
}

/// Whether `a` is in [`IPV6_NEVER`].
#[inline]
pub fn ipv6_is_never_translated(a: Ipv6Addr) -> bool {
    let bits = a.to_bits();
    IPV6_NEVER
        .iter()
        .fold(false, |hit, r| hit | r.contains(bits))
}

/// Whether a packet to `a` belongs to its link and no router forwards it: multicast of
/// interface-local or link-local scope (RFC 4291 §2.7, scop 1 and 2, any flags) and
/// link-local unicast (RFC 4291 §2.5.6). The kernel sends such packets into the TUN on
/// its own (MLD reports for ff02::2 when forwarding is on, router solicitations): they
/// are the link's housekeeping, not traffic to translate or a fault to count as a drop.
#[inline]
pub fn ipv6_is_link_scope(a: Ipv6Addr) -> bool {
    let o = a.octets();
    (o[0] == 0xff && matches!(o[1] & 0x0f, 1 | 2)) || (o[0] == 0xfe && o[1] & 0xc0 == 0x80)
}

/// Whether a packet to `a` belongs to its link: the Local Network Control Block
/// 224.0.0.0/24 (RFC 5771 §4: "not forwarded by routers"; IGMP reports, OSPF, VRRP).
#[inline]
pub fn ipv4_is_link_scope(a: Ipv4Addr) -> bool {
    a.octets()[..3] == [224, 0, 0]
}

/// Whether either address of an IPv4 header is in [`IPV4_NEVER`].
#[inline]
pub fn ipv4_header_refused(src: Ipv4Addr, dst: Ipv4Addr) -> bool {
    ipv4_is_never_translated(src) || ipv4_is_never_translated(dst)
}

/// Whether either address of an IPv6 header is in [`IPV6_NEVER`].
#[inline]
pub fn ipv6_header_refused(src: Ipv6Addr, dst: Ipv6Addr) -> bool {
    ipv6_is_never_translated(src) || ipv6_is_never_translated(dst)
}

/// [`ipv4_is_never_translated`], named for call sites that check a source.
#[inline]
pub fn ipv4_source_is_illegal(a: Ipv4Addr) -> bool {
    ipv4_is_never_translated(a)
}

/// [`ipv4_is_never_translated`], named for call sites that check a destination.
#[inline]
pub fn ipv4_destination_is_illegal(a: Ipv4Addr) -> bool {
    ipv4_is_never_translated(a)
}

/// [`ipv6_is_never_translated`], named for call sites that check a source.
#[inline]
pub fn ipv6_source_is_illegal(a: Ipv6Addr) -> bool {
    ipv6_is_never_translated(a)
}

/// [`ipv6_is_never_translated`], named for call sites that check a destination.
#[inline]
pub fn ipv6_destination_is_illegal(a: Ipv6Addr) -> bool {
    ipv6_is_never_translated(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// RFC 1812 §5.3.7: "A router SHOULD NOT forward any packet that has an invalid IP
    /// source address or a source address on network 0. A router SHOULD NOT forward,
    /// except over a loopback interface, any packet that has a source address on
    /// network 127." and the same for destinations; "An IP destination address is
    /// invalid if it ... is a Class E address", and a source "if it ... is not a
    /// unicast address". Each range is tested at both edges. (The reserved ranges are
    /// the subject, so non-documentation addresses appear; nothing is sent.)
    #[test]
    fn rfc1812_5_3_7_martian_ipv4_addresses() {
        for s in [
            "0.0.0.0",
            "0.0.0.1",
            "0.255.255.255",
            "127.0.0.0",
            "127.0.0.1",
            "127.255.255.255",
            "224.0.0.0",
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.0",
            "240.0.0.1",
            "255.255.255.254",
            "255.255.255.255",
        ] {
            assert!(ipv4_source_is_illegal(v4(s)), "{s}");
            assert!(ipv4_destination_is_illegal(v4(s)), "{s}");
            assert!(ipv4_header_refused(v4(s), v4("192.0.2.1")), "{s}");
            assert!(ipv4_header_refused(v4("192.0.2.1"), v4(s)), "{s}");
        }
        for s in [
            "1.0.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "192.0.2.1",
            "198.51.100.255",
            "203.0.113.0",
            "223.255.255.255",
        ] {
            assert!(!ipv4_is_never_translated(v4(s)), "{s}");
        }
        assert!(!ipv4_header_refused(v4("192.0.2.1"), v4("198.51.100.1")));
    }

    /// RFC 4291 §2.5.2 "An IPv6 packet with a source address of unspecified must never
    /// be forwarded by an IPv6 router", §2.5.3 "An IPv6 packet with a destination address
    /// of loopback must never be sent outside of a single node and must never be
    /// forwarded by an IPv6 router", §2.7 multicast, §2.5.6 "Routers must not forward any
    /// packets with Link-Local source or destination addresses to other links."
    #[test]
    fn rfc4291_never_translated_ipv6_addresses() {
        for s in [
            "::",
            "::1",
            "ff00::",
            "ff02::1",
            "ff0e::101",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe80::",
            "fe80::1",
            "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            assert!(ipv6_source_is_illegal(v6(s)), "{s}");
            assert!(ipv6_destination_is_illegal(v6(s)), "{s}");
            assert!(ipv6_header_refused(v6(s), v6("2001:db8::1")), "{s}");
            assert!(ipv6_header_refused(v6("2001:db8::1"), v6(s)), "{s}");
        }
        for s in [
            "2001:db8::1",
            "::2",
            "::0.0.0.2",
            "fec0::1",
            "fe7f:ffff::1",
            "feff::1",
            "64:ff9b::192.0.2.1",
        ] {
            assert!(!ipv6_is_never_translated(v6(s)), "{s}");
        }
        assert!(!ipv6_header_refused(v6("2001:db8::1"), v6("2001:db8::2")));
    }

    /// The table as the issue states it: 0/8, 127/8, 224/4, 240/4; ::, ::1, ff00::/8,
    /// fe80::/10, with no host bits set.
    #[test]
    fn tables_are_the_stated_ranges() {
        let four: Vec<String> = IPV4_NEVER
            .iter()
            .map(|r| format!("{}/{}", r.prefix, r.len))
            .collect();
        assert_eq!(
            four,
            ["0.0.0.0/8", "127.0.0.0/8", "224.0.0.0/4", "240.0.0.0/4"]
        );
        let six: Vec<String> = IPV6_NEVER
            .iter()
            .map(|r| format!("{}/{}", r.prefix, r.len))
            .collect();
        assert_eq!(six, ["::/128", "::1/128", "ff00::/8", "fe80::/10"]);
        for r in IPV4_NEVER {
            let net = ipnet::Ipv4Net::new(r.prefix, r.len).unwrap();
            assert_eq!(net.trunc().addr(), r.prefix);
        }
        for r in IPV6_NEVER {
            let net = ipnet::Ipv6Net::new(r.prefix, r.len).unwrap();
            assert_eq!(net.trunc().addr(), r.prefix);
        }
    }
}
