//! Addresses a translator must not translate (RFC 7915 §4.1/§5.1 leave this to the
//! forwarding rules of RFC 1812 §5.3.7 and RFC 4291; these are the usual translator
//! choices). Pure predicates, cheap enough for every packet.
//!
//! Decisions:
//! - 240.0.0.0/4 ("class E", reserved for future use) is *not* illegal, either way:
//!   Linux does not treat it as martian, some operators use it internally, and
//!   translating it can hurt nobody; only its last address, the limited broadcast
//!   255.255.255.255, is refused.
//! - A multicast source is always illegal (RFC 1812 §5.3.7; RFC 4291 §2.7). Multicast
//!   destinations are refused too: SIIT has no multicast address mapping and a unicast
//!   translation of a group address would be wrong.
//! - Link-local (fe80::/10) addresses never leave their link (RFC 4291 §2.5.6), so they
//!   must not be translated to another network. 169.254.0.0/16 is left to the mapping
//!   rules (RFC 6052 §3.1 strict mode refuses it with the well-known prefix).

use std::net::{Ipv4Addr, Ipv6Addr};

/// 0.0.0.0/8 "this network" (RFC 1122 §3.2.1.3: only a host that does not yet know
/// its address uses it, and never beyond the link), 127.0.0.0/8 loopback,
/// 224.0.0.0/4 multicast, 255.255.255.255 limited broadcast.
#[inline]
pub fn ipv4_source_is_illegal(a: Ipv4Addr) -> bool {
    let o0 = a.octets()[0];
    o0 == 0 || o0 == 127 || (224..=239).contains(&o0) || a.is_broadcast()
}

/// 0.0.0.0 unspecified, 127.0.0.0/8 loopback, 224.0.0.0/4 multicast, 255.255.255.255
/// limited broadcast (RFC 1812 §5.3.7 / §4.2.2.11). Other 0/8 addresses are not
/// refused as destinations: RFC 1812 only forbids them as sources.
#[inline]
pub fn ipv4_destination_is_illegal(a: Ipv4Addr) -> bool {
    let o0 = a.octets()[0];
    a.is_unspecified() || o0 == 127 || (224..=239).contains(&o0) || a.is_broadcast()
}

/// :: unspecified, ::1 loopback, ff00::/8 multicast, fe80::/10 link-local.
#[inline]
pub fn ipv6_source_is_illegal(a: Ipv6Addr) -> bool {
    ipv6_is_never_translated(a)
}

/// :: unspecified, ::1 loopback, ff00::/8 multicast, fe80::/10 link-local.
#[inline]
pub fn ipv6_destination_is_illegal(a: Ipv6Addr) -> bool {
    ipv6_is_never_translated(a)
}

#[inline]
fn ipv6_is_never_translated(a: Ipv6Addr) -> bool {
    let bits = u128::from(a);
    bits <= 1 // :: and ::1
        || bits >> 120 == 0xff // ff00::/8
        || bits >> 118 == 0xfe80 >> 6 // fe80::/10
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

    /// RFC 1812 §5.3.7 martian sources; the ranges are tested at their edges. (The
    /// reserved ranges themselves are the subject, so non-documentation addresses
    /// appear; nothing is sent.)
    #[test]
    fn rfc1812_5_3_7_illegal_ipv4_sources() {
        for s in [
            "0.0.0.0",
            "0.255.255.255",
            "127.0.0.1",
            "127.255.255.255",
            "224.0.0.1",
            "239.255.255.255",
            "255.255.255.255",
        ] {
            assert!(ipv4_source_is_illegal(v4(s)), "{s}");
        }
        for s in [
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "240.0.0.1",
            "255.255.255.254",
        ] {
            assert!(!ipv4_source_is_illegal(v4(s)), "{s}");
        }
    }

    #[test]
    fn rfc1812_illegal_ipv4_destinations() {
        for s in [
            "0.0.0.0",
            "127.0.0.1",
            "224.0.0.1",
            "239.1.2.3",
            "255.255.255.255",
        ] {
            assert!(ipv4_destination_is_illegal(v4(s)), "{s}");
        }
        for s in [
            "192.0.2.1",
            "198.51.100.255",
            "203.0.113.0",
            "0.0.0.1",
            "240.0.0.1",
        ] {
            assert!(!ipv4_destination_is_illegal(v4(s)), "{s}");
        }
    }

    /// RFC 4291 §2.5.2 (::), §2.5.3 (::1), §2.7 (ff00::/8), §2.5.6 (fe80::/10).
    #[test]
    fn rfc4291_illegal_ipv6_addresses() {
        for s in [
            "::",
            "::1",
            "ff02::1",
            "ff0e::101",
            "fe80::1",
            "febf:ffff::1",
        ] {
            assert!(ipv6_source_is_illegal(v6(s)), "{s}");
            assert!(ipv6_destination_is_illegal(v6(s)), "{s}");
        }
        for s in [
            "2001:db8::1",
            "::2",
            "fec0::1",
            "fe7f::1",
            "64:ff9b::192.0.2.1",
        ] {
            assert!(!ipv6_source_is_illegal(v6(s)), "{s}");
            assert!(!ipv6_destination_is_illegal(v6(s)), "{s}");
        }
    }
}
