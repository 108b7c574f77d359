//! Small helpers shared by both directions.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{DropReason, Verdict};
use crate::addr::validity;
use crate::wire::checksum;
use crate::wire::ip::IpProtocol;
use crate::wire::{field16_mut, ipv4, ipv6, tcp, udp};

/// IPv4 packets translated from IPv6 without a Fragment header get DF=0 and a generated
/// Identification up to this size, DF=1 above (RFC 7915 §5.1 "Flags": 1280 minus the
/// 20 bytes the header shrinks by).
pub(super) const DF_THRESHOLD: usize = 1260;

/// Minimum IPv6 MTU (RFC 8200 §5).
pub(super) const IPV6_MIN_MTU: usize = 1280;

/// Minimum IPv4 MTU: the datagram every module forwards unfragmented (RFC 791 §3.2,
/// "68 octets").
pub(super) const IPV4_MIN_MTU: usize = 68;

/// How much a packet grows from IPv4 to IPv6 (without a Fragment header), and shrinks
/// the other way: the fixed headers' difference.
pub(super) const HEADER_GROWTH: usize = ipv6::HEADER_LEN - ipv4::HEADER_LEN;

/// Largest ICMPv4 error we emit (RFC 1812 §4.3.2.3: at most 576 bytes).
pub(super) const ICMPV4_ERROR_MAX: usize = 576;

/// Largest ICMPv6 error we emit (RFC 4443 §2.4(c): must not exceed the minimum MTU).
pub(super) const ICMPV6_ERROR_MAX: usize = IPV6_MIN_MTU;

#[inline(always)]
pub(super) fn v4(a: [u8; 4]) -> Ipv4Addr {
    Ipv4Addr::from(a)
}

#[inline(always)]
pub(super) fn v6(a: [u8; 16]) -> Ipv6Addr {
    Ipv6Addr::from(a)
}

/// The verdict for a packet with an address no translator touches: the link's own
/// traffic when it is addressed to the link (see [`validity::ipv6_is_link_scope`]),
/// else a drop for `reason`. Only reached for refused addresses, off the hot path.
#[cold]
pub(super) fn link_scope_or_v6(dst: [u8; 16], reason: DropReason) -> Verdict {
    if validity::ipv6_is_link_scope(v6(dst)) {
        Verdict::LinkScope
    } else {
        Verdict::Drop(reason)
    }
}

/// [`link_scope_or_v6`] for IPv4 ([`validity::ipv4_is_link_scope`]).
#[cold]
pub(super) fn link_scope_or_v4(dst: [u8; 4], reason: DropReason) -> Verdict {
    if validity::ipv4_is_link_scope(v4(dst)) {
        Verdict::LinkScope
    } else {
        Verdict::Drop(reason)
    }
}

/// Identification for an IPv4 packet the translator creates without an IPv6 Fragment
/// header to copy from (RFC 7915 §5.1, RFC 6864).
///
/// Stateless on purpose (no counter, clock or lock, so every worker computes it
/// independently): a hash of the IPv4 addresses, the protocol and the first 8 transport
/// bytes (ports plus the TCP sequence number, or the UDP length and checksum, or the
/// ICMP checksum, identifier and sequence). Consecutive datagrams of one flow therefore
/// usually get different values; strict RFC 6864 uniqueness cannot be promised without
/// state, which is acceptable because only packets of at most 1260 bytes get DF=0.
/// Never zero, so it never looks like "no ID".
#[inline]
pub(super) fn ipv4_ident(src: [u8; 4], dst: [u8; 4], proto: IpProtocol, l4: &[u8]) -> u16 {
    let l4w = match l4.first_chunk::<8>() {
        Some(w) => u64::from_be_bytes(*w),
        None => {
            let mut w = [0u8; 8];
            let n = l4.len().min(8);
            w[..n].copy_from_slice(&l4[..n]);
            u64::from_be_bytes(w)
        }
    };
    let addrs = (u64::from(u32::from_be_bytes(src)) << 32) | u64::from(u32::from_be_bytes(dst));
    // Two multiply-xorshift rounds (a multiplicative hash): every input bit reaches the
    // high 16 bits that become the Identification.
    let mut h = (addrs ^ u64::from(proto.0)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h = (h ^ (h >> 29) ^ l4w).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 31;
    let id = (h >> 48) as u16;
    if id == 0 { 1 } else { id }
}

/// RFC 7915 §4.1 "Next Header": ICMPv4 (1) becomes ICMPv6 (58); other protocols are
/// copied.
#[inline(always)]
pub(super) fn next_header_for(proto: IpProtocol) -> IpProtocol {
    match proto {
        IpProtocol::ICMP => IpProtocol::ICMPV6,
        p => p,
    }
}

/// RFC 7915 §5.1 "Protocol": ICMPv6 (58) becomes ICMPv4 (1); other values are copied.
#[inline(always)]
pub(super) fn protocol_for(next_header: IpProtocol) -> IpProtocol {
    match next_header {
        IpProtocol::ICMPV6 => IpProtocol::ICMP,
        p => p,
    }
}

/// Hash of an IPv6 address for choosing an RFC 6791 pool address: the same router keeps
/// the same IPv4 stand-in.
pub(super) fn hash_v6(a: [u8; 16]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in a {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h
}

/// Sum of the two addresses of an IPv4 pseudo-header.
#[inline(always)]
pub(super) fn addr_sum_v4(src: [u8; 4], dst: [u8; 4]) -> u16 {
    checksum::add(checksum::sum_v4_addr(src), checksum::sum_v4_addr(dst))
}

/// Sum of the two addresses of an IPv6 pseudo-header.
#[inline(always)]
pub(super) fn addr_sum_v6(src: [u8; 16], dst: [u8; 16]) -> u16 {
    checksum::add(checksum::sum_v6_addr(src), checksum::sum_v6_addr(dst))
}

/// Rewrites a TCP or UDP checksum in `l4` (the transport bytes, at least up to the
/// checksum field) for a pseudo-header whose address sum changes from `old` to `new`.
/// The length and protocol parts of the pseudo-header are equal in IPv4 and IPv6, so
/// only the addresses matter (RFC 7915 §4.5/§5.5, RFC 1624). A UDP checksum of zero
/// ("none") is left alone; a computed zero is sent as 0xffff (RFC 768). Returns false
/// if the checksum field is not inside `l4`.
///
/// Works on field offsets rather than the TCP/UDP views: a quoted transport header may
/// end right after its checksum field, short of the header the views require.
#[inline(always)]
pub(super) fn fix_l4_checksum(l4: &mut [u8], proto: IpProtocol, old: u16, new: u16) -> bool {
    let (at, udp) = match proto {
        IpProtocol::TCP => (tcp::field::CHECKSUM.start, false),
        IpProtocol::UDP => (udp::field::CHECKSUM.start, true),
        _ => return true,
    };
    let Some(f) = field16_mut(l4, at) else {
        return false;
    };
    let cs = u16::from_be_bytes(*f);
    if udp && cs == 0 {
        return true;
    }
    let mut n = checksum::update(cs, old, new);
    if udp && n == 0 {
        n = 0xffff;
    }
    *f = n.to_be_bytes();
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ident_is_nonzero_and_varies() {
        let a = ipv4_ident(
            [192, 0, 2, 2],
            [198, 51, 100, 2],
            IpProtocol::UDP,
            &[0, 1, 0, 2, 0, 9, 1, 2],
        );
        let b = ipv4_ident(
            [192, 0, 2, 2],
            [198, 51, 100, 2],
            IpProtocol::UDP,
            &[0, 1, 0, 2, 0, 9, 1, 3],
        );
        assert_ne!(a, 0);
        assert_ne!(a, b);
        assert_ne!(ipv4_ident([0; 4], [0; 4], IpProtocol(0), &[]), 0);
    }

    // RFC 7915 §4.1 "Next Header" and §5.1 "Protocol": only ICMP changes number.
    #[test]
    fn rfc7915_protocol_numbers() {
        assert_eq!(next_header_for(IpProtocol(1)), IpProtocol(58));
        assert_eq!(protocol_for(IpProtocol(58)), IpProtocol(1));
        for p in [0u8, 2, 6, 17, 44, 132, 255] {
            assert_eq!(next_header_for(IpProtocol(p)), IpProtocol(p));
        }
        for p in [0u8, 1, 6, 17, 44, 132, 255] {
            assert_eq!(protocol_for(IpProtocol(p)), IpProtocol(p));
        }
        assert_eq!(HEADER_GROWTH, 20);
    }
}
