//! ICMP error translation with the packet quoted inside (RFC 7915 §4.2/§4.3 and
//! §5.2/§5.3).
//!
//! The translated error changes size (the quoted header grows or shrinks by 20 bytes),
//! so it is built whole in the output scratch: outer header, ICMP header, translated
//! quoted header, then as many quoted transport bytes as fit under 1280 (IPv6) or 576
//! (IPv4) bytes. The quoted packet is translated like a normal one except that its TTL
//! is not decremented and no error is ever generated about it. It is usually truncated:
//! its length fields keep the values of the original datagram, and its transport
//! checksum is updated incrementally whenever the checksum field was quoted.
//!
//! RFC 4884 extensions are not carried over: when the error has a non-zero length
//! field, only the original-datagram part is translated and the length field of the
//! result is zero (a valid RFC 4884 message without extensions).

use core::ops::Range;

use crate::wire::checksum;
use crate::wire::icmpv4;
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use crate::wire::ipv6ext::{self, FragRepr};

use super::common::{
    DF_THRESHOLD, ICMPV4_ERROR_MAX, ICMPV6_ERROR_MAX, IPV6_MIN_MTU, addr_sum_v4, addr_sum_v6,
    fix_l4_checksum, ipv4_ident,
};
use super::ctx::MapCtx;
use super::icmp::{self, Rest};
use super::{DropReason, Output, Translator};

use DropReason as R;

/// Outer IPv6 header fields of an ICMPv4 error being translated.
pub(super) struct OuterV6 {
    pub src6: [u8; 16],
    pub dst6: [u8; 16],
    pub tc: u8,
    pub hop: u8,
}

/// Outer IPv4 header fields of an ICMPv6 error being translated.
pub(super) struct OuterV4 {
    pub src4: [u8; 4],
    pub dst4: [u8; 4],
    pub tos: u8,
    pub ttl: u8,
}

/// ICMPv4 error `icmp` (the whole ICMP message) → a complete IPv6 packet in `out`'s
/// scratch; returns its range. `hairpin`: the outer packet is hairpinned, so the quoted
/// destination is translated with RFC 6052 only (RFC 7757 §4, mirror rule).
pub(super) fn v4_to_v6<M: MapCtx>(
    t: &Translator,
    m: &mut M,
    icmp: &[u8],
    mut o: OuterV6,
    hairpin: bool,
    out: &mut Output,
) -> Result<Range<usize>, DropReason> {
    let (ty, code) = (icmp[0], icmp[1]);
    let (ty6, code6, rest) = icmp::map_v4_error(ty, code, icmp[4]).ok_or(R::IcmpUntranslatable)?;
    let mut quoted = icmp.get(8..).unwrap_or(&[]);
    // RFC 4884 §4.1: a non-zero length (32-bit words) delimits the original datagram.
    if icmp[5] != 0 {
        quoted = &quoted[..quoted.len().min(usize::from(icmp[5]) * 4)];
    }
    let inner = Ipv4Packet::new_checked_header(quoted).map_err(|_| R::IcmpInnerUntranslatable)?;
    let rest6: u32 = match rest {
        Rest::Zero => 0,
        Rest::Pointer(p) => p,
        Rest::Mtu => {
            // RFC 7915 §4.2: min(advertised + 20, IPv6 next-hop MTU, IPv4 next-hop MTU
            // + 20) — both next hops are our device here — with RFC 1191 plateaus when
            // the router sent 0, and never below 1280 (RFC 8200 §5 minimum; such PTBs
            // would be ignored, RFC 8201 §4).
            let mut m4 = u16::from_be_bytes([icmp[6], icmp[7]]);
            if m4 == 0 {
                m4 = icmp::plateau_below(inner.total_len());
            }
            (u32::from(m4) + 20)
                .min(u32::from(t.cfg.mtu))
                .max(IPV6_MIN_MTU as u32)
        }
    };
    let r = out
        .alloc_scratch(ICMPV6_ERROR_MAX)
        .ok_or(R::OutputOverflow)?;
    let buf = &mut out.scratch_mut()[r.clone()];
    let (n, s6, d6) = inner_v4_to_v6(t, m, quoted, &mut buf[48..], hairpin)?;
    m.error_outer_v6(&mut o, s6, d6);
    let len = 48 + n;
    buf[40..44].copy_from_slice(&[ty6, code6, 0, 0]);
    buf[44..48].copy_from_slice(&rest6.to_be_bytes());
    Icmpv6Packet::new_unchecked(&mut buf[40..len]).fill_checksum(o.src6, o.dst6);
    let ip = Ipv6Repr {
        traffic_class: o.tc,
        flow_label: 0,
        payload_len: (len - 40) as u16,
        next_header: 58,
        hop_limit: o.hop,
        src: o.src6,
        dst: o.dst6,
    };
    ip.emit(buf);
    Ok(r.start..r.start + len)
}

/// The IPv4 packet quoted in an ICMPv4 error → IPv6 header(s) and quoted transport
/// bytes in `dst`; returns the bytes written and the inner addresses.
fn inner_v4_to_v6<M: MapCtx>(
    t: &Translator,
    m: &mut M,
    quoted: &[u8],
    dst: &mut [u8],
    hairpin: bool,
) -> Result<(usize, [u8; 16], [u8; 16]), DropReason> {
    let ip = Ipv4Packet::new_checked_header(quoted).map_err(|_| R::IcmpInnerUntranslatable)?;
    let hl = ip.header_len();
    let first = ip.frag_offset() == 0;
    let is_frag = ip.is_fragment();
    let proto = ip.protocol();
    let l4 = ip.payload();
    if proto == 1 && first && l4.first().is_some_and(|&t| icmpv4::is_error(t)) {
        return Err(R::IcmpErrorInError);
    }
    let (s4, d4) = (ip.src_addr(), ip.dst_addr());
    let payload = if first { l4 } else { &[] };
    let (src6, dst6, rewrite) = m
        .inner_v4(t, s4, d4, hairpin, proto, payload)
        .ok_or(R::IcmpInnerUntranslatable)?;
    let proto6 = if proto == 1 { 58 } else { proto };
    // Length of the original datagram's payload, from its own header (not what was
    // quoted).
    let claimed = usize::from(ip.total_len()).saturating_sub(hl);
    let hdr_len = if is_frag { 48 } else { 40 };
    if dst.len() < hdr_len {
        return Err(R::OutputOverflow);
    }
    let repr = Ipv6Repr {
        traffic_class: if t.cfg.reset_traffic_class {
            0
        } else {
            ip.tos()
        },
        flow_label: 0,
        payload_len: (claimed + hdr_len - 40).min(0xffff) as u16,
        next_header: if is_frag { 44 } else { proto6 },
        hop_limit: ip.ttl(),
        src: src6,
        dst: dst6,
    };
    repr.emit(dst);
    if is_frag {
        let fr = FragRepr {
            next_header: proto6,
            offset: ip.frag_offset(),
            more: ip.more_frags(),
            ident: u32::from(ip.ident()),
        };
        fr.emit(&mut dst[40..]);
    }
    let n = l4.len().min(dst.len() - hdr_len);
    let body = &mut dst[hdr_len..hdr_len + n];
    body.copy_from_slice(&l4[..n]);
    if first {
        if let Some(rw) = rewrite {
            rw.apply(body);
        }
        if proto == 1 {
            if !is_frag {
                icmp::echo_v4_to_v6(body, checksum::pseudo_v6(src6, dst6, 58, claimed as u32));
            }
        } else {
            fix_l4_checksum(body, proto, addr_sum_v4(s4, d4), addr_sum_v6(src6, dst6));
        }
    }
    Ok((hdr_len + n, src6, dst6))
}

/// ICMPv6 error `icmp` (the whole ICMPv6 message) → a complete IPv4 packet in `out`'s
/// scratch; returns its range.
pub(super) fn v6_to_v4<M: MapCtx>(
    t: &Translator,
    m: &mut M,
    icmp: &[u8],
    mut o: OuterV4,
    out: &mut Output,
) -> Result<Range<usize>, DropReason> {
    let (ty, code) = (icmp[0], icmp[1]);
    let word = u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]);
    let (ty4, code4, rest) = icmp::map_v6_error(ty, code, word).ok_or(R::IcmpUntranslatable)?;
    let mut quoted = icmp.get(8..).unwrap_or(&[]);
    // RFC 4884 §4.1: for Destination Unreachable and Time Exceeded a non-zero length
    // (64-bit words) delimits the original datagram.
    if (ty == icmpv6::ty::DEST_UNREACHABLE || ty == icmpv6::ty::TIME_EXCEEDED) && icmp[4] != 0 {
        quoted = &quoted[..quoted.len().min(usize::from(icmp[4]) * 8)];
    }
    let r = out
        .alloc_scratch(ICMPV4_ERROR_MAX)
        .ok_or(R::OutputOverflow)?;
    let buf = &mut out.scratch_mut()[r.clone()];
    let (n, quoted_frag_hdr, s4, d4) = inner_v6_to_v4(t, m, quoted, &mut buf[28..])?;
    m.error_outer_v4(&mut o, s4, d4);
    let len = 28 + n;
    let rest4: [u8; 4] = match rest {
        Rest::Zero => [0; 4],
        Rest::Pointer(p) => p.to_be_bytes(),
        Rest::Mtu => {
            // RFC 7915 §5.2: min(advertised − 20, IPv4 next-hop MTU, IPv6 next-hop MTU
            // − 20), subtracting 28 instead of 20 when the quoted packet has a Fragment
            // header: such IPv4 packets grow by 28 on both IPv6 paths, the one that
            // advertised the MTU and our own next hop. Kept at or above the IPv4 minimum.
            let sub = if quoted_frag_hdr { 28 } else { 20 };
            let mtu = u32::from(t.cfg.mtu);
            let m = word
                .saturating_sub(sub)
                .min(mtu)
                .min(mtu.saturating_sub(sub))
                .clamp(68, 0xffff) as u16;
            let b = m.to_be_bytes();
            [0, 0, b[0], b[1]]
        }
    };
    buf[20..24].copy_from_slice(&[ty4, code4, 0, 0]);
    buf[24..28].copy_from_slice(&rest4);
    let c = checksum::checksum(&buf[20..len]);
    buf[22..24].copy_from_slice(&c.to_be_bytes());
    let ip = Ipv4Repr {
        tos: o.tos,
        total_len: len as u16,
        ident: ipv4_ident(o.src4, o.dst4, 1, &buf[20..28]),
        df: false,
        mf: false,
        frag_offset: 0,
        ttl: o.ttl,
        protocol: 1,
        src: o.src4,
        dst: o.dst4,
    };
    ip.emit(buf);
    Ok(r.start..r.start + len)
}

/// The IPv6 packet quoted in an ICMPv6 error → IPv4 header and quoted transport bytes in
/// `dst`; returns the bytes written, whether the quoted packet had a Fragment header,
/// and the inner IPv4 addresses.
fn inner_v6_to_v4<M: MapCtx>(
    t: &Translator,
    m: &mut M,
    quoted: &[u8],
    dst: &mut [u8],
) -> Result<(usize, bool, [u8; 4], [u8; 4]), DropReason> {
    let ip = Ipv6Packet::new_checked_header(quoted).map_err(|_| R::IcmpInnerUntranslatable)?;
    let chain = ipv6ext::walk(quoted).map_err(|_| R::IcmpInnerUntranslatable)?;
    let end = (40 + usize::from(ip.payload_len())).min(quoted.len());
    let l4 = quoted.get(chain.upper_off..end).unwrap_or(&[]);
    let upper = chain.upper_proto;
    let with_transport = chain.has_transport_header();
    if upper == 58 && with_transport && l4.first().is_some_and(|&t| icmpv6::is_error(t)) {
        return Err(R::IcmpErrorInError);
    }
    let (s6, d6) = (ip.src_addr(), ip.dst_addr());
    let payload = if with_transport { l4 } else { &[] };
    let (s4, d4, rewrite) = m
        .inner_v6(t, s6, d6, upper, payload)
        .ok_or(R::IcmpInnerUntranslatable)?;
    let proto4 = if upper == 58 { 1 } else { upper };
    let claimed = (40 + usize::from(ip.payload_len())).saturating_sub(chain.upper_off);
    let total4 = 20 + claimed;
    let (ident, df, mf, off) = match chain.frag {
        Some(f) => (f.ident as u16, false, f.more, f.offset),
        None if total4 <= DF_THRESHOLD => (ipv4_ident(s4, d4, proto4, l4), false, false, 0),
        None => (0, true, false, 0),
    };
    if dst.len() < 20 {
        return Err(R::OutputOverflow);
    }
    let repr = Ipv4Repr {
        tos: if t.cfg.reset_tos {
            0
        } else {
            ip.traffic_class()
        },
        total_len: total4.min(0xffff) as u16,
        ident,
        df,
        mf,
        frag_offset: off,
        ttl: ip.hop_limit(),
        protocol: proto4,
        src: s4,
        dst: d4,
    };
    repr.emit(dst);
    let n = l4.len().min(dst.len() - 20);
    let body = &mut dst[20..20 + n];
    body.copy_from_slice(&l4[..n]);
    if with_transport {
        if let Some(rw) = rewrite {
            rw.apply(body);
        }
        if upper == 58 {
            if !chain.is_fragment() {
                icmp::echo_v6_to_v4(body, checksum::pseudo_v6(s6, d6, 58, claimed as u32));
            }
        } else {
            fix_l4_checksum(body, upper, addr_sum_v6(s6, d6), addr_sum_v4(s4, d4));
        }
    }
    Ok((20 + n, chain.frag.is_some(), s4, d4))
}
