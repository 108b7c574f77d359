//! ICMP type/code and pointer mappings (RFC 7915 §4.2, §5.2, Figures 3 and 6), the RFC
//! 1191 plateau table, and in-place echo translation.

use crate::wire::checksum;

/// What goes into the translated error's 4-byte "rest of header".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rest {
    /// Unused: zero.
    Zero,
    /// Parameter Problem pointer (already mapped).
    Pointer(u32),
    /// Packet Too Big / Fragmentation Needed: the MTU is computed by the caller.
    Mtu,
}

/// RFC 7915 §4.2, ICMPv4 error → ICMPv6 (type, code, rest). `None`: drop silently.
pub(super) fn map_v4_error(ty: u8, code: u8, pointer: u8) -> Option<(u8, u8, Rest)> {
    match ty {
        // Destination Unreachable.
        3 => match code {
            // Net/host unreachable, source route failed, and the codes the RFC maps to
            // "no route to destination".
            0 | 1 | 5 | 6 | 7 | 8 | 11 | 12 => Some((1, 0, Rest::Zero)),
            // Protocol unreachable → Parameter Problem, unrecognized Next Header,
            // pointing at the Next Header field (offset 6).
            2 => Some((4, 1, Rest::Pointer(6))),
            // Port unreachable.
            3 => Some((1, 4, Rest::Zero)),
            // Fragmentation needed → Packet Too Big.
            4 => Some((2, 0, Rest::Mtu)),
            // Administratively prohibited (9, 10, 13) and precedence cutoff (15).
            9 | 10 | 13 | 15 => Some((1, 1, Rest::Zero)),
            // 14 (host precedence violation) and unknown codes: drop.
            _ => None,
        },
        // Time Exceeded: code unchanged.
        11 => Some((3, code, Rest::Zero)),
        // Parameter Problem: codes 0 and 2 with the pointer mapped per Figure 3;
        // code 1 (missing required option) and others dropped.
        12 => match code {
            0 | 2 => pointer_v4_to_v6(pointer).map(|p| (4, 0, Rest::Pointer(p))),
            _ => None,
        },
        // Source Quench, Redirect, Alternate Host Address and unknown errors: drop.
        _ => None,
    }
}

/// RFC 7915 Figure 3: IPv4 header byte → IPv6 header byte. `None` = "n/a": drop.
pub(super) fn pointer_v4_to_v6(p: u8) -> Option<u32> {
    match p {
        0 => Some(0),        // Version/IHL → Version/Traffic Class
        1 => Some(1),        // Type of Service → Traffic Class/Flow Label
        2 | 3 => Some(4),    // Total Length → Payload Length
        8 => Some(7),        // Time to Live → Hop Limit
        9 => Some(6),        // Protocol → Next Header
        12..=15 => Some(8),  // Source Address
        16..=19 => Some(24), // Destination Address
        _ => None,           // Identification, Flags/Offset, Checksum, options
    }
}

/// RFC 7915 §5.2, ICMPv6 error → ICMPv4 (type, code, rest). `None`: drop silently.
pub(super) fn map_v6_error(ty: u8, code: u8, pointer: u32) -> Option<(u8, u8, Rest)> {
    match ty {
        1 => match code {
            // No route, beyond scope of source address, address unreachable → host
            // unreachable.
            0 | 2 | 3 => Some((3, 1, Rest::Zero)),
            // Administratively prohibited → communication with destination host
            // administratively prohibited.
            1 => Some((3, 10, Rest::Zero)),
            // Port unreachable.
            4 => Some((3, 3, Rest::Zero)),
            _ => None,
        },
        2 => Some((3, 4, Rest::Mtu)),
        3 => Some((11, code, Rest::Zero)),
        4 => match code {
            0 => pointer_v6_to_v4(pointer).map(|p| (12, 0, Rest::Pointer(p << 24))),
            // Unrecognized Next Header → protocol unreachable.
            1 => Some((3, 2, Rest::Zero)),
            // Unrecognized IPv6 option and unknown codes: drop.
            _ => None,
        },
        _ => None,
    }
}

/// RFC 7915 Figure 6: IPv6 header byte → IPv4 header byte. `None` = "n/a": drop.
pub(super) fn pointer_v6_to_v4(p: u32) -> Option<u32> {
    match p {
        0 => Some(0),        // Version/Traffic Class → Version/IHL, Type of Service
        1 => Some(1),        // Traffic Class/Flow Label → Type of Service
        4 | 5 => Some(2),    // Payload Length → Total Length
        6 => Some(9),        // Next Header → Protocol
        7 => Some(8),        // Hop Limit → Time to Live
        8..=23 => Some(12),  // Source Address
        24..=39 => Some(16), // Destination Address
        _ => None,           // Flow Label (2, 3) and beyond the fixed header
    }
}

/// RFC 1191 §7 plateau table.
const PLATEAUS: [u16; 11] = [
    65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68,
];

/// RFC 7915 §4.2 / RFC 1191 §5: an ICMPv4 Fragmentation Needed with MTU 0 comes from a
/// router that predates RFC 1191; estimate with the greatest plateau less than the
/// quoted Total Length (68, the IPv4 minimum, if none is smaller).
pub(super) fn plateau_below(total_len: u16) -> u16 {
    PLATEAUS
        .iter()
        .copied()
        .find(|&p| p < total_len)
        .unwrap_or(68)
}

#[inline(always)]
fn word(ty: u8, code: u8) -> u16 {
    u16::from_be_bytes([ty, code])
}

/// ICMPv4 echo (8/0) → ICMPv6 echo (128/129) in place: new type, and the checksum gains
/// the IPv6 pseudo-header (`pseudo6`, the pseudo-header sum with the ICMP length) — an
/// incremental update, the payload is not summed again (RFC 7915 §4.2, RFC 1624).
/// `icmp` must hold at least the 4 bytes up to the checksum. Returns false otherwise or
/// for a non-echo type.
#[inline]
pub(super) fn echo_v4_to_v6(icmp: &mut [u8], pseudo6: u16) -> bool {
    let Some(h) = icmp.get_mut(..4) else {
        return false;
    };
    let ty6 = match h[0] {
        8 => 128,
        0 => 129,
        _ => return false,
    };
    let cs = u16::from_be_bytes([h[2], h[3]]);
    let old = word(h[0], h[1]);
    let new = checksum::add(word(ty6, h[1]), pseudo6);
    let n = checksum::update(cs, old, new);
    h[0] = ty6;
    h[2..4].copy_from_slice(&n.to_be_bytes());
    true
}

/// ICMPv6 echo (128/129) → ICMPv4 echo (8/0) in place: the checksum loses the IPv6
/// pseudo-header and takes the new type (RFC 7915 §5.2, RFC 1624).
#[inline]
pub(super) fn echo_v6_to_v4(icmp: &mut [u8], pseudo6: u16) -> bool {
    let Some(h) = icmp.get_mut(..4) else {
        return false;
    };
    let ty4 = match h[0] {
        128 => 8,
        129 => 0,
        _ => return false,
    };
    let cs = u16::from_be_bytes([h[2], h[3]]);
    let old = checksum::add(word(h[0], h[1]), pseudo6);
    let new = word(ty4, h[1]);
    let n = checksum::update(cs, old, new);
    h[0] = ty4;
    h[2..4].copy_from_slice(&n.to_be_bytes());
    true
}

/// RFC 7915 Figure 3: IPv4 Parameter Problem pointer → ICMPv6 pointer (None: "n/a",
/// the error is dropped). Shared by the unit and end-to-end tests.
#[cfg(test)]
pub(crate) const RFC7915_FIGURE3: [(u8, Option<u8>); 20] = [
    (0, Some(0)),
    (1, Some(1)),
    (2, Some(4)),
    (3, Some(4)),
    (4, None),
    (5, None),
    (6, None),
    (7, None),
    (8, Some(7)),
    (9, Some(6)),
    (10, None),
    (11, None),
    (12, Some(8)),
    (13, Some(8)),
    (14, Some(8)),
    (15, Some(8)),
    (16, Some(24)),
    (17, Some(24)),
    (18, Some(24)),
    (19, Some(24)),
];

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7915 §4.2 "Destination Unreachable (Type 3)" code table, row by row.
    #[test]
    fn rfc7915_s4_2_dest_unreachable_codes() {
        for c in [0, 1, 5, 6, 7, 8, 11, 12] {
            assert_eq!(map_v4_error(3, c, 0), Some((1, 0, Rest::Zero)), "code {c}");
        }
        assert_eq!(map_v4_error(3, 2, 0), Some((4, 1, Rest::Pointer(6))));
        assert_eq!(map_v4_error(3, 3, 0), Some((1, 4, Rest::Zero)));
        assert_eq!(map_v4_error(3, 4, 0), Some((2, 0, Rest::Mtu)));
        for c in [9, 10, 13, 15] {
            assert_eq!(map_v4_error(3, c, 0), Some((1, 1, Rest::Zero)), "code {c}");
        }
        assert_eq!(map_v4_error(3, 14, 0), None);
        assert_eq!(map_v4_error(3, 16, 0), None);
    }

    // RFC 7915 §4.2: Time Exceeded keeps its code; Parameter Problem codes 0/2 map the
    // pointer, code 1 is dropped; Source Quench, Redirect, Alt Host dropped.
    #[test]
    fn rfc7915_s4_2_other_errors() {
        assert_eq!(map_v4_error(11, 0, 0), Some((3, 0, Rest::Zero)));
        assert_eq!(map_v4_error(11, 1, 0), Some((3, 1, Rest::Zero)));
        assert_eq!(map_v4_error(12, 0, 9), Some((4, 0, Rest::Pointer(6))));
        assert_eq!(map_v4_error(12, 2, 16), Some((4, 0, Rest::Pointer(24))));
        assert_eq!(map_v4_error(12, 1, 0), None);
        assert_eq!(map_v4_error(12, 0, 4), None);
        for t in [4, 5, 6, 13, 14, 15, 16, 17, 18, 9, 10, 99] {
            assert_eq!(map_v4_error(t, 0, 0), None, "type {t}");
        }
    }

    // RFC 7915 Figure 3, every row.
    #[test]
    fn rfc7915_figure3_pointers() {
        for (p, e) in RFC7915_FIGURE3 {
            assert_eq!(pointer_v4_to_v6(p), e.map(u32::from), "pointer {p}");
        }
        assert_eq!(pointer_v4_to_v6(20), None);
    }

    // RFC 7915 §5.2 ICMPv6 → ICMPv4 table.
    #[test]
    fn rfc7915_s5_2_error_table() {
        assert_eq!(map_v6_error(1, 0, 0), Some((3, 1, Rest::Zero)));
        assert_eq!(map_v6_error(1, 1, 0), Some((3, 10, Rest::Zero)));
        assert_eq!(map_v6_error(1, 2, 0), Some((3, 1, Rest::Zero)));
        assert_eq!(map_v6_error(1, 3, 0), Some((3, 1, Rest::Zero)));
        assert_eq!(map_v6_error(1, 4, 0), Some((3, 3, Rest::Zero)));
        assert_eq!(map_v6_error(1, 5, 0), None);
        assert_eq!(map_v6_error(2, 0, 1500), Some((3, 4, Rest::Mtu)));
        assert_eq!(map_v6_error(3, 0, 0), Some((11, 0, Rest::Zero)));
        assert_eq!(map_v6_error(3, 1, 0), Some((11, 1, Rest::Zero)));
        assert_eq!(map_v6_error(4, 0, 7), Some((12, 0, Rest::Pointer(8 << 24))));
        assert_eq!(map_v6_error(4, 1, 40), Some((3, 2, Rest::Zero)));
        assert_eq!(map_v6_error(4, 2, 0), None);
        assert_eq!(map_v6_error(4, 0, 2), None);
        assert_eq!(map_v6_error(0, 0, 0), None);
        assert_eq!(map_v6_error(100, 0, 0), None);
    }

    // RFC 7915 Figure 6, every row.
    #[test]
    fn rfc7915_figure6_pointers() {
        let expect: [(u32, Option<u32>); 9] = [
            (0, Some(0)),
            (1, Some(1)),
            (2, None),
            (3, None),
            (4, Some(2)),
            (5, Some(2)),
            (6, Some(9)),
            (7, Some(8)),
            (40, None),
        ];
        for (p, e) in expect {
            assert_eq!(pointer_v6_to_v4(p), e, "pointer {p}");
        }
        for p in 8..24 {
            assert_eq!(pointer_v6_to_v4(p), Some(12));
        }
        for p in 24..40 {
            assert_eq!(pointer_v6_to_v4(p), Some(16));
        }
    }

    // RFC 1191 §7 table; RFC 7915 §4.2 "greatest plateau value that is less than the
    // returned Total Length".
    #[test]
    fn rfc1191_plateaus() {
        assert_eq!(plateau_below(1500), 1492);
        assert_eq!(plateau_below(1492), 1006);
        assert_eq!(plateau_below(1493), 1492);
        assert_eq!(plateau_below(65535), 32000);
        assert_eq!(plateau_below(576), 508);
        assert_eq!(plateau_below(68), 68);
        assert_eq!(plateau_below(0), 68);
    }

    // Echo rewrite round trip: v4 → v6 → v4 restores the original checksum value.
    #[test]
    fn rfc7915_echo_incremental() {
        let mut m = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1, 1, 2, 3];
        let c = checksum::checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        let orig = m;
        let ph = checksum::pseudo_v6([1; 16], [2; 16], 58, m.len() as u32);
        assert!(echo_v4_to_v6(&mut m, ph));
        assert_eq!(m[0], 128);
        assert_eq!(checksum::add(ph, checksum::ones_sum(&m)), 0xffff);
        assert!(echo_v6_to_v4(&mut m, ph));
        assert_eq!(checksum::ones_sum(&m), 0xffff);
        assert_eq!(m[0], orig[0]);
        assert!(!echo_v6_to_v4(&mut m, ph));
        assert!(!echo_v4_to_v6(&mut m[..3], ph));
    }
}
