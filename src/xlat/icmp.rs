//! ICMP type/code and pointer mappings (RFC 7915 §4.2, §5.2, Figures 3 and 6), the RFC
//! 1191 plateau table, and in-place echo translation.

use crate::wire::icmpv4::{
    self, DstUnreachable as Unreach4, ErrorMessage as Error4, Message as Msg4,
    ParamProblem as Param4,
};
use crate::wire::icmpv6::{
    self, DstUnreachable as Unreach6, ErrorMessage as Error6, Message as Msg6,
    ParamProblem as Param6,
};
use crate::wire::{be16, checksum, ipv6, put16};

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

/// RFC 7915 §4.2, ICMPv4 error → ICMPv6 error and what its rest of header holds, one
/// arm per row of the RFC's list. `None`: "silently drop".
pub(super) fn map_v4_error(ty: Msg4, code: u8, pointer: u8) -> Option<(Error6, Rest)> {
    // "Set the Type to 1 and the Code to ..."
    let unreachable = |c| Some((Error6::DstUnreachable(c), Rest::Zero));
    // "Set the Code to 0 (Erroneous header field encountered) and update the pointer as
    // defined in Figure 3" ("n/a": drop).
    let erroneous_field = || {
        let p = pointer_v4_to_v6(pointer)?;
        Some((
            Error6::ParamProblem(Param6::ErroneousHeaderField),
            Rest::Pointer(p),
        ))
    };
    match ty {
        Msg4::DstUnreachable => match Unreach4::from(code) {
            Unreach4::NetUnreachable | Unreach4::HostUnreachable => unreachable(Unreach6::NoRoute),
            // Parameter Problem, pointing at the IPv6 Next Header field.
            Unreach4::ProtoUnreachable => Some((
                Error6::ParamProblem(Param6::UnrecognizedNextHeader),
                Rest::Pointer(ipv6::field::NEXT_HEADER as u32),
            )),
            Unreach4::PortUnreachable => unreachable(Unreach6::PortUnreachable),
            Unreach4::FragRequired => Some((Error6::PktTooBig, Rest::Mtu)),
            Unreach4::SrcRouteFailed => unreachable(Unreach6::NoRoute),
            Unreach4::DstNetUnknown | Unreach4::DstHostUnknown | Unreach4::SrcHostIsolated => {
                unreachable(Unreach6::NoRoute)
            }
            Unreach4::NetProhibited | Unreach4::HostProhibited => {
                unreachable(Unreach6::AdminProhibit)
            }
            Unreach4::NetUnreachToS | Unreach4::HostUnreachToS => unreachable(Unreach6::NoRoute),
            Unreach4::CommProhibited => unreachable(Unreach6::AdminProhibit),
            Unreach4::HostPrecedViol => None,
            Unreach4::PrecedCutoff => unreachable(Unreach6::AdminProhibit),
            Unreach4::Unknown(_) => None,
        },
        // "The Code is unchanged."
        Msg4::TimeExceeded => Some((Error6::TimeExceeded(code.into()), Rest::Zero)),
        Msg4::ParamProblem => match Param4::from(code) {
            Param4::AtPointer => erroneous_field(),
            Param4::MissingOption => None,
            Param4::BadLength => erroneous_field(),
            Param4::Unknown(_) => None,
        },
        // Source Quench, Redirect, Alternative Host Address and unknown types; the
        // informational types never get here.
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

/// RFC 7915 §5.2, ICMPv6 error → ICMPv4 error and what its rest of header holds, one
/// arm per row of the RFC's list. `None`: "silently drop".
pub(super) fn map_v6_error(ty: Msg6, code: u8, pointer: u32) -> Option<(Error4, Rest)> {
    // "Set the Type to 3 ... Set the Code to ..."
    let unreachable = |c| Some((Error4::DstUnreachable(c), Rest::Zero));
    match ty {
        Msg6::DstUnreachable => match Unreach6::from(code) {
            Unreach6::NoRoute => unreachable(Unreach4::HostUnreachable),
            Unreach6::AdminProhibit => unreachable(Unreach4::HostProhibited),
            Unreach6::BeyondScope => unreachable(Unreach4::HostUnreachable),
            Unreach6::AddrUnreachable => unreachable(Unreach4::HostUnreachable),
            Unreach6::PortUnreachable => unreachable(Unreach4::PortUnreachable),
            _ => None,
        },
        Msg6::PktTooBig => Some((Error4::DstUnreachable(Unreach4::FragRequired), Rest::Mtu)),
        // "The Code is unchanged."
        Msg6::TimeExceeded => Some((Error4::TimeExceeded(code.into()), Rest::Zero)),
        Msg6::ParamProblem => match Param6::from(code) {
            // Type 12, Code 0, the pointer as Figure 6 maps it ("n/a": drop), in the
            // pointer byte (the first of the rest of header).
            Param6::ErroneousHeaderField => {
                let p = pointer_v6_to_v4(pointer)?;
                Some((
                    Error4::ParamProblem(Param4::AtPointer),
                    Rest::Pointer(p << 24),
                ))
            }
            Param6::UnrecognizedNextHeader => unreachable(Unreach4::ProtoUnreachable),
            Param6::UnrecognizedOption => None,
            Param6::Unknown(_) => None,
        },
        // Unknown error messages.
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

/// RFC 7915 §4.2 "Echo and Echo Reply (Type 8 and Type 0)": types 128 and 129.
#[inline(always)]
fn echo_type_v4_to_v6(ty: Msg4) -> Option<Msg6> {
    match ty {
        Msg4::EchoRequest => Some(Msg6::EchoRequest),
        Msg4::EchoReply => Some(Msg6::EchoReply),
        _ => None,
    }
}

/// RFC 7915 §5.2 "Echo Request and Echo Reply (Type 128 and 129)": types 8 and 0.
#[inline(always)]
fn echo_type_v6_to_v4(ty: Msg6) -> Option<Msg4> {
    match ty {
        Msg6::EchoRequest => Some(Msg4::EchoRequest),
        Msg6::EchoReply => Some(Msg4::EchoReply),
        _ => None,
    }
}

/// ICMPv4 echo (8/0) → ICMPv6 echo (128/129) in place: new type, and the checksum gains
/// the IPv6 pseudo-header (`pseudo6`, the pseudo-header sum with the ICMP length) — an
/// incremental update, the payload is not summed again (RFC 7915 §4.2, RFC 1624).
/// `icmp` must hold at least the 4 bytes up to the checksum (it may be a truncated
/// quote, shorter than the header the views require). Returns false otherwise or for a
/// non-echo type.
#[inline]
pub(super) fn echo_v4_to_v6(icmp: &mut [u8], pseudo6: u16) -> bool {
    use icmpv4::field;
    let Some(h) = icmp.get_mut(..field::CHECKSUM.end) else {
        return false;
    };
    let (ty, code) = (h[field::TYPE], h[field::CODE]);
    let Some(ty6) = echo_type_v4_to_v6(Msg4::from(ty)) else {
        return false;
    };
    let ty6 = u8::from(ty6);
    let cs = be16(h, field::CHECKSUM.start);
    let new = checksum::add(word(ty6, code), pseudo6);
    let n = checksum::update(cs, word(ty, code), new);
    h[field::TYPE] = ty6;
    put16(h, field::CHECKSUM.start, n);
    true
}

/// ICMPv6 echo (128/129) → ICMPv4 echo (8/0) in place: the checksum loses the IPv6
/// pseudo-header and takes the new type (RFC 7915 §5.2, RFC 1624).
#[inline]
pub(super) fn echo_v6_to_v4(icmp: &mut [u8], pseudo6: u16) -> bool {
    use icmpv6::field;
    let Some(h) = icmp.get_mut(..field::CHECKSUM.end) else {
        return false;
    };
    let (ty, code) = (h[field::TYPE], h[field::CODE]);
    let Some(ty4) = echo_type_v6_to_v4(Msg6::from(ty)) else {
        return false;
    };
    let ty4 = u8::from(ty4);
    let cs = be16(h, field::CHECKSUM.start);
    let old = checksum::add(word(ty, code), pseudo6);
    let n = checksum::update(cs, old, word(ty4, code));
    h[field::TYPE] = ty4;
    put16(h, field::CHECKSUM.start, n);
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
    use crate::wire::ip::IpProtocol;

    /// The §4.2 table with numbers in and out, as the RFC writes them.
    fn v4(ty: u8, code: u8, pointer: u8) -> Option<(u8, u8, Rest)> {
        map_v4_error(Msg4::from(ty), code, pointer).map(|(e, r)| (e.msg_type().into(), e.code(), r))
    }

    /// The §5.2 table with numbers in and out.
    fn v6(ty: u8, code: u8, pointer: u32) -> Option<(u8, u8, Rest)> {
        map_v6_error(Msg6::from(ty), code, pointer).map(|(e, r)| (e.msg_type().into(), e.code(), r))
    }

    // RFC 7915 §4.2 "Destination Unreachable (Type 3)" code table, row by row.
    #[test]
    fn rfc7915_s4_2_dest_unreachable_codes() {
        for c in [0, 1, 5, 6, 7, 8, 11, 12] {
            assert_eq!(v4(3, c, 0), Some((1, 0, Rest::Zero)), "code {c}");
        }
        assert_eq!(v4(3, 2, 0), Some((4, 1, Rest::Pointer(6))));
        assert_eq!(v4(3, 3, 0), Some((1, 4, Rest::Zero)));
        assert_eq!(v4(3, 4, 0), Some((2, 0, Rest::Mtu)));
        for c in [9, 10, 13, 15] {
            assert_eq!(v4(3, c, 0), Some((1, 1, Rest::Zero)), "code {c}");
        }
        assert_eq!(v4(3, 14, 0), None);
        assert_eq!(v4(3, 16, 0), None);
    }

    // RFC 7915 §4.2: Time Exceeded keeps its code; Parameter Problem codes 0/2 map the
    // pointer, code 1 is dropped; Source Quench, Redirect, Alt Host dropped.
    #[test]
    fn rfc7915_s4_2_other_errors() {
        assert_eq!(v4(11, 0, 0), Some((3, 0, Rest::Zero)));
        assert_eq!(v4(11, 1, 0), Some((3, 1, Rest::Zero)));
        assert_eq!(v4(12, 0, 9), Some((4, 0, Rest::Pointer(6))));
        assert_eq!(v4(12, 2, 16), Some((4, 0, Rest::Pointer(24))));
        assert_eq!(v4(12, 1, 0), None);
        assert_eq!(v4(12, 0, 4), None);
        for t in [4, 5, 6, 13, 14, 15, 16, 17, 18, 9, 10, 99] {
            assert_eq!(v4(t, 0, 0), None, "type {t}");
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
        assert_eq!(v6(1, 0, 0), Some((3, 1, Rest::Zero)));
        assert_eq!(v6(1, 1, 0), Some((3, 10, Rest::Zero)));
        assert_eq!(v6(1, 2, 0), Some((3, 1, Rest::Zero)));
        assert_eq!(v6(1, 3, 0), Some((3, 1, Rest::Zero)));
        assert_eq!(v6(1, 4, 0), Some((3, 3, Rest::Zero)));
        assert_eq!(v6(1, 5, 0), None);
        assert_eq!(v6(2, 0, 1500), Some((3, 4, Rest::Mtu)));
        assert_eq!(v6(3, 0, 0), Some((11, 0, Rest::Zero)));
        assert_eq!(v6(3, 1, 0), Some((11, 1, Rest::Zero)));
        assert_eq!(v6(4, 0, 7), Some((12, 0, Rest::Pointer(8 << 24))));
        assert_eq!(v6(4, 1, 40), Some((3, 2, Rest::Zero)));
        assert_eq!(v6(4, 2, 0), None);
        assert_eq!(v6(4, 0, 2), None);
        assert_eq!(v6(0, 0, 0), None);
        assert_eq!(v6(100, 0, 0), None);
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
        let ph = checksum::pseudo_v6([1; 16], [2; 16], IpProtocol(58), m.len() as u32);
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
