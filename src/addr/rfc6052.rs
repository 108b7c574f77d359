//! RFC 6052 IPv4-embedded IPv6 addresses (§2.2) for the six allowed prefix lengths.
//!
//! The layout is fixed by the prefix length: the IPv4 address fills bits `len..64`, then
//! skips the u-octet (bits 64–71, which RFC 6052 §2.2 reserves and requires to be zero),
//! then continues from bit 72. For /96 it simply fills bits 96–127. All the shifts and
//! masks are precomputed in [`Prefix6052::new`] so the per-packet work is a few integer
//! operations on `u128`.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;

use super::AddrError;

/// The well-known prefix 64:ff9b::/96 (RFC 6052 §2.1), as an integer.
pub const WKP: u128 = 0x0064_ff9b_0000_0000_0000_0000_0000_0000;

/// Bits 64–71 (the u-octet) of an IPv6 address.
const U_OCTET: u128 = 0xff << 56;

/// A validated RFC 6052 prefix with its embed/extract layout precomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix6052 {
    /// Prefix bits (host part zero).
    prefix: u128,
    /// Mask selecting the prefix bits.
    mask: u128,
    len: u8,
    /// Number of IPv4 bits stored after the u-octet (the rest go before it).
    n_lo: u32,
    /// Right shift that brings the post-u-octet IPv4 bits down to bit 0.
    lo_shift: u32,
    /// Refuse non-global IPv4 addresses (only ever set for the well-known prefix).
    refuse_non_global: bool,
    /// IPv4 addresses that live on this side and never behind the prefix (a CLAT's
    /// own 192.0.0.0/29 or LAN prefix): `v4 & local_mask == local_net` refuses. The
    /// default (mask 0, net 1) matches nothing.
    local_mask: u32,
    local_net: u32,
    /// Either rule is on: the one flag a prefix without rules (SIIT's, NAT64's usual
    /// ones) tests per address, as it did before the CLAT's rule existed.
    any_rule: bool,
}

impl Prefix6052 {
    /// Validates `net` as an RFC 6052 prefix (§2.2 lengths, zero host bits, zero u-octet).
    pub fn new(net: Ipv6Net) -> Result<Self, AddrError> {
        let len = net.prefix_len();
        let (n_lo, lo_shift) = match len {
            // Bits before the u-octet: 64 - len; after it: 32 - (64 - len) = len - 32,
            // ending at bit 72 + n_lo, i.e. a right shift of 128 - 72 - n_lo.
            32 | 40 | 48 | 56 | 64 => {
                let n_lo = u32::from(len) - 32;
                (n_lo, 56 - n_lo)
            }
            96 => (32, 0),
            _ => {
                return Err(AddrError(format!(
                    "pool6 {net}: prefix must be /32, /40, /48, /56, /64 or /96, e.g. 64:ff9b::/96 \
                     (RFC 6052 section 2.2)"
                )));
            }
        };
        let mask = u128::MAX << (128 - u32::from(len));
        let bits = u128::from(net.addr());
        if bits & !mask != 0 {
            return Err(AddrError(format!(
                "pool6 {net}: host bits after /{len} must be zero, e.g. {}/{len}",
                net.trunc().addr()
            )));
        }
        if bits & U_OCTET != 0 {
            return Err(AddrError(format!(
                "pool6 {net}: bits 64-71 (the u-octet) must be zero (RFC 6052 section 2.2); \
                 prefix must be /32, /40, /48, /56, /64 or /96, e.g. 64:ff9b::/96"
            )));
        }
        Ok(Prefix6052 {
            prefix: bits,
            mask,
            len,
            n_lo,
            lo_shift,
            refuse_non_global: false,
            local_mask: 0,
            local_net: 1,
            any_rule: false,
        })
    }

    /// Turns on RFC 6052 §3.1 enforcement: with the well-known prefix, non-global IPv4
    /// addresses are neither embedded nor extracted. Has no effect on any other prefix,
    /// network-specific ones (including RFC 8215's 64:ff9b:1::/48) may carry any address.
    pub fn with_wkp_strict(mut self, on: bool) -> Self {
        self.refuse_non_global = on && self.is_wkp();
        self.any_rule |= self.refuse_non_global;
        self
    }

    /// Refuses `local` both ways: a CLAT's own IPv4 prefix (RFC 7335 192.0.0.0/29, or a
    /// CPE's LAN) is on the host side, so no packet may be sent to it through the PLAT
    /// (e.g. the /29's broadcast 192.0.0.7) nor arrive from it out of the PLAT prefix
    /// (a spoofed local source).
    pub fn with_local_v4(mut self, local: ipnet::Ipv4Net) -> Self {
        self.local_mask = u32::from(local.netmask());
        self.local_net = u32::from(local.network());
        self.any_rule = true;
        self
    }

    #[inline(always)]
    fn refuses(&self, v4: Ipv4Addr) -> bool {
        self.any_rule
            && ((self.refuse_non_global && is_non_global_v4(v4))
                | (u32::from(v4) & self.local_mask == self.local_net))
    }

    /// Whether this is the well-known prefix 64:ff9b::/96.
    pub fn is_wkp(&self) -> bool {
        self.len == 96 && self.prefix == WKP
    }

    /// The prefix as configured.
    pub fn net(&self) -> Ipv6Net {
        // len was validated to be <= 128 in new().
        Ipv6Net::new(Ipv6Addr::from(self.prefix), self.len).unwrap_or_default()
    }

    /// Whether `a` starts with this prefix.
    #[inline]
    pub fn contains(&self, a: Ipv6Addr) -> bool {
        u128::from(a) & self.mask == self.prefix
    }

    /// IPv4 → IPv6 (RFC 6052 §2.3). `None` only when the WKP rule refuses `v4`.
    #[inline]
    pub fn embed(&self, v4: Ipv4Addr) -> Option<Ipv6Addr> {
        if self.refuses(v4) {
            return None;
        }
        Some(Ipv6Addr::from(self.embed_bits(u32::from(v4))))
    }

    /// IPv6 → IPv4 (RFC 6052 §2.3). `None` when `a` is outside the prefix or the WKP
    /// rule refuses the embedded address. The u-octet and the suffix are ignored.
    #[inline]
    pub fn extract(&self, a: Ipv6Addr) -> Option<Ipv4Addr> {
        let bits = u128::from(a);
        if bits & self.mask != self.prefix {
            return None;
        }
        let v4 = Ipv4Addr::from(self.extract_bits(bits));
        if self.refuses(v4) {
            return None;
        }
        Some(v4)
    }

    /// Raw embedding, no policy: the u-octet and suffix come out zero.
    #[inline]
    pub fn embed_bits(&self, v4: u32) -> u128 {
        let v = u128::from(v4);
        let lo_mask = low_mask(self.n_lo);
        let hi = v >> self.n_lo; // zero when n_lo == 32 (/64, /96)
        self.prefix | (hi << 64) | ((v & lo_mask) << self.lo_shift)
    }

    /// Raw extraction, no prefix check and no policy.
    #[inline]
    pub fn extract_bits(&self, a: u128) -> u32 {
        let n_hi = 32 - self.n_lo;
        let hi = (a >> 64) & low_mask(n_hi);
        let lo = (a >> self.lo_shift) & low_mask(self.n_lo);
        // At most 32 significant bits by construction; truncation is the intent.
        ((hi << self.n_lo) | lo) as u32
    }
}

/// The `n` lowest bits set (`n <= 32`).
#[inline]
fn low_mask(n: u32) -> u128 {
    (1u128 << n) - 1
}

/// Whether `a` is in an RFC 6890 special-purpose range that is not globally reachable
/// (or is otherwise listed in RFC 5735 §3, which RFC 6052 §3.1 refers to): such addresses
/// must not be represented with the well-known prefix.
///
/// 192.88.99.0/24 (6to4 relay anycast, deprecated by RFC 7526) and 224.0.0.0/4 are in
/// RFC 5735 §3's list, so they are refused too.
#[inline]
pub fn is_non_global_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    match o0 {
        0 | 10 | 127 => true,   // RFC 1122 "this network", RFC 1918, loopback
        100 => o1 & 0xc0 == 64, // 100.64.0.0/10 shared (RFC 6598)
        169 => o1 == 254,       // 169.254.0.0/16 link local
        172 => o1 & 0xf0 == 16, // 172.16.0.0/12 RFC 1918
        192 => matches!((o1, o2), (0, 0) | (0, 2) | (88, 99)) || o1 == 168,
        198 => o1 & 0xfe == 18 || (o1, o2) == (51, 100), // 198.18/15 benchmarking, TEST-NET-2
        203 => (o1, o2) == (0, 113),                     // TEST-NET-3
        224..=255 => true,                               // multicast, reserved, limited broadcast
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix6052 {
        Prefix6052::new(s.parse().unwrap()).unwrap()
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    const V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 33);

    /// RFC 6052 §2.4, table of the network-specific prefix examples, plus the
    /// well-known-prefix row `64:ff9b::/96 | 192.0.2.33 | 64:ff9b::192.0.2.33`.
    const RFC6052_2_4: [(&str, &str); 7] = [
        ("2001:db8::/32", "2001:db8:c000:221::"),
        ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
        ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
        ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
        ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100::"),
        ("2001:db8:122:344::/96", "2001:db8:122:344::192.0.2.33"),
        ("64:ff9b::/96", "64:ff9b::192.0.2.33"),
    ];

    #[test]
    fn rfc6052_2_4_example_table_embed() {
        for (prefix, want) in RFC6052_2_4 {
            assert_eq!(p(prefix).embed(V4), Some(v6(want)), "{prefix}");
        }
    }

    #[test]
    fn rfc6052_2_4_example_table_extract() {
        for (prefix, addr) in RFC6052_2_4 {
            assert_eq!(p(prefix).extract(v6(addr)), Some(V4), "{prefix}");
        }
    }

    /// RFC 6052 §2.2: round trip for every length with addresses that set every bit
    /// position somewhere.
    #[test]
    fn rfc6052_2_2_round_trip_all_lengths() {
        let prefixes = [
            "2001:db8::/32",
            "2001:db8:100::/40",
            "2001:db8:122::/48",
            "2001:db8:122:300::/56",
            "2001:db8:122:344::/64",
            "2001:db8:122:344::/96",
        ];
        let v4s = [
            Ipv4Addr::new(192, 0, 2, 1),
            Ipv4Addr::new(198, 51, 100, 254),
            Ipv4Addr::new(203, 0, 113, 255),
            Ipv4Addr::new(255, 255, 255, 255),
            Ipv4Addr::new(0, 0, 0, 0),
        ];
        for pre in prefixes {
            let px = p(pre);
            for a in v4s {
                let e = px.embed(a).unwrap();
                assert!(px.contains(e));
                // RFC 6052 §2.2: the u-octet is zero in every embedded address.
                assert_eq!(u128::from(e) & U_OCTET, 0, "{pre} {a}");
                assert_eq!(px.extract(e), Some(a), "{pre} {a}");
            }
        }
    }

    /// RFC 6052 §2.2: bits 64–71 "MUST be set to zero"; on extraction we ignore them
    /// rather than drop the packet (they carry no IPv4 bits).
    #[test]
    fn rfc6052_2_2_u_octet_ignored_on_extract() {
        for (prefix, addr) in RFC6052_2_4.iter().take(5) {
            let dirty = Ipv6Addr::from(u128::from(v6(addr)) | U_OCTET);
            assert_eq!(p(prefix).extract(dirty), Some(V4), "{prefix}");
        }
    }

    /// RFC 6052 §2.2: the suffix after the IPv4 bits is ignored on extraction.
    #[test]
    fn rfc6052_2_2_suffix_ignored_on_extract() {
        let px = p("2001:db8:122:344::/64");
        let dirty = Ipv6Addr::from(u128::from(v6("2001:db8:122:344:c0:2:2100::")) | 0xff_ffff);
        assert_eq!(px.extract(dirty), Some(V4));
    }

    #[test]
    fn rfc6052_extract_outside_prefix_is_none() {
        assert_eq!(p("2001:db8:122::/48").extract(v6("2001:db8:123::1")), None);
        assert_eq!(p("64:ff9b::/96").extract(v6("64:ff9b:1::c000:221")), None);
    }

    #[test]
    fn rfc6052_2_2_invalid_lengths_rejected() {
        for s in ["2001:db8::/33", "2001:db8::/80", "2001:db8::/128", "::/0"] {
            let err = Prefix6052::new(s.parse().unwrap()).unwrap_err();
            assert!(
                err.0
                    .contains("prefix must be /32, /40, /48, /56, /64 or /96, e.g. 64:ff9b::/96"),
                "{s}: {err}"
            );
        }
    }

    #[test]
    fn rfc6052_host_bits_rejected() {
        let err = Prefix6052::new("2001:db8::1/96".parse().unwrap()).unwrap_err();
        assert!(err.0.contains("host bits"), "{err}");
        assert!(err.0.contains("2001:db8::/96"), "{err}");
    }

    /// RFC 6052 §2.2: a prefix whose bits 64–71 are set cannot be valid (for /96 the
    /// u-octet lies inside the prefix).
    #[test]
    fn rfc6052_2_2_nonzero_u_octet_rejected() {
        let err = Prefix6052::new("2001:db8:0:0:100::/96".parse().unwrap()).unwrap_err();
        assert!(err.0.contains("u-octet"), "{err}");
    }

    /// RFC 6052 §3.1: with the WKP, non-global IPv4 addresses are refused both ways
    /// when strict; without strict they pass (§2.4's own example uses 192.0.2.33).
    #[test]
    fn rfc6052_3_1_wkp_strict_refuses_non_global() {
        let strict = p("64:ff9b::/96").with_wkp_strict(true);
        assert_eq!(strict.embed(V4), None);
        assert_eq!(strict.extract(v6("64:ff9b::192.0.2.33")), None);
        let lax = p("64:ff9b::/96");
        assert_eq!(lax.embed(V4), Some(v6("64:ff9b::192.0.2.33")));
    }

    /// RFC 6052 §3.1 only restricts the WKP; a global address passes. (A global
    /// address is needed as the counterexample; it is only computed on, never sent.)
    #[test]
    fn rfc6052_3_1_wkp_strict_allows_global() {
        let strict = p("64:ff9b::/96").with_wkp_strict(true);
        let global = Ipv4Addr::new(198, 51, 101, 1); // just past TEST-NET-2
        let e = strict.embed(global).unwrap();
        assert_eq!(e, v6("64:ff9b::198.51.101.1"));
        assert_eq!(strict.extract(e), Some(global));
    }

    /// RFC 8215: 64:ff9b:1::/48 is a network-specific prefix; §3.1 does not apply.
    #[test]
    fn rfc8215_local_use_prefix_not_restricted() {
        let nsp = p("64:ff9b:1::/48").with_wkp_strict(true);
        assert!(!nsp.is_wkp());
        assert!(nsp.embed(V4).is_some());
    }

    /// RFC 6890 special-purpose ranges not globally reachable (RFC 6052 §3.1).
    #[test]
    fn rfc6890_non_global_ranges() {
        let non_global = [
            "0.0.0.0",
            "0.255.255.255",
            "10.1.2.3",
            "100.64.0.0",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.1.1",
            "172.16.0.0",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.33",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.0",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.1",
            "255.255.255.255",
        ];
        for s in non_global {
            assert!(is_non_global_v4(s.parse().unwrap()), "{s}");
        }
        // Boundaries just outside each range (computed on only, never sent).
        let global = [
            "1.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.0.3.1",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.101.1",
            "203.0.114.1",
            "223.255.255.255",
        ];
        for s in global {
            assert!(!is_non_global_v4(s.parse().unwrap()), "{s}");
        }
    }

    proptest::proptest! {
        /// RFC 6052 §2.2: embed then extract is the identity for every allowed length
        /// and any prefix bits (u-octet cleared), and extract never panics.
        #[test]
        fn rfc6052_2_2_round_trip_any_prefix(
            bits in proptest::prelude::any::<u128>(),
            which in 0usize..6,
            a in proptest::prelude::any::<u32>(),
            noise in proptest::prelude::any::<u128>(),
        ) {
            let len = [32u8, 40, 48, 56, 64, 96][which];
            let mask = u128::MAX << (128 - u32::from(len));
            let net = Ipv6Net::new(Ipv6Addr::from(bits & mask & !U_OCTET), len).unwrap();
            let px = Prefix6052::new(net).unwrap();
            let e = px.embed(Ipv4Addr::from(a)).unwrap();
            proptest::prop_assert!(px.contains(e));
            proptest::prop_assert_eq!(px.extract(e), Some(Ipv4Addr::from(a)));
            let _ = px.extract(Ipv6Addr::from(noise));
        }
    }
}
