//! IPv6 → IPv4 (RFC 7915 §5).
//!
//! The common path parses once, rewrites the transport checksum incrementally, and
//! writes the 20-byte IPv4 header right in front of the (unmoved) transport header; the
//! packet start moves forward over what was the IPv6 header and its extension headers.

use crate::addr::validity;
use crate::wire::WireError;
use crate::wire::buf::PacketBuf;
use crate::wire::checksum;
use crate::wire::icmpv6::{
    self, ErrorMessage as Error6, Icmpv6Packet, Message as Msg6, ParamProblem, TimeExceeded,
};
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::{self, Ipv4Repr};
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::ipv6ext::{self, ChainError};
use crate::wire::{tcp, udp};

use super::common::{
    DF_THRESHOLD, HEADER_GROWTH, IPV6_MIN_MTU, addr_sum_v4, addr_sum_v6, fix_l4_checksum,
    ipv4_ident, link_scope_or_v6, protocol_for, v4, v6,
};
use super::ctx::MapCtx;
use super::{DropReason, Output, Translator, Verdict, error, frag, hairpin, icmp, icmp_error, mss};

use DropReason as R;

/// Translates the IPv6 packet in `pkt`.
#[inline]
pub(super) fn translate<M: MapCtx>(
    t: &Translator,
    m: &mut M,
    pkt: &mut PacketBuf,
    out: &mut Output,
) -> Verdict {
    let start = pkt.start();
    let data = pkt.data();
    let ip = match Ipv6Packet::new_checked(data) {
        Ok(p) => p,
        Err(WireError::BadLength) => return Verdict::Drop(R::Ipv6BadLength),
        Err(_) => return Verdict::Drop(R::Ipv6Truncated),
    };
    // Bytes past Payload Length (link padding) are trimmed.
    let total = ip.total_len();
    let Some(pkt6) = data.get(..total) else {
        return Verdict::Drop(R::Ipv6BadLength);
    };
    let src6 = ip.src_addr();
    let dst6 = ip.dst_addr();
    if validity::ipv6_source_is_illegal(v6(src6)) {
        return link_scope_or_v6(dst6, R::Ipv6BadSource);
    }
    if validity::ipv6_destination_is_illegal(v6(dst6)) {
        return link_scope_or_v6(dst6, R::Ipv6BadDestination);
    }
    let Some((dst4, dst_by)) = m.v6_dst(t, dst6) else {
        return Verdict::Drop(R::Ipv6DestinationUnmapped);
    };
    // Whatever mapped them (any RFC 6052 prefix length, EAM, the RFC 6791 pool, NAT64
    // pool6), before any ICMPv6 error is sent about the packet; NAT64's source (pool4)
    // once its session gives it.
    if validity::ipv4_destination_is_illegal(v4(dst4)) {
        return Verdict::Drop(R::MappedIpv4BadDestination);
    }
    let walked = ipv6ext::walk(pkt6);
    let is_icmp_error = walked.as_ref().is_ok_and(|c| {
        c.upper_proto == IpProtocol::ICMPV6
            && c.has_transport_header()
            && pkt6
                .get(c.upper_off + icmpv6::field::TYPE)
                .is_some_and(|&t| Msg6::from(t).is_error())
    });
    let mut src4 = match m.v6_src(t, src6, is_icmp_error) {
        Ok(a) => a,
        Err(r) => return Verdict::Drop(r),
    };
    if !M::BIND_SETS_ADDRESS && validity::ipv4_source_is_illegal(v4(src4)) {
        return Verdict::Drop(R::MappedIpv4BadSource);
    }
    let chain = match walked {
        Ok(c) => c,
        Err(ChainError::SegmentsLeft { pointer }) => {
            // RFC 7915 §5.1: Parameter Problem, code 0, pointing at Segments Left.
            let e = Error6::ParamProblem(ParamProblem::ErroneousHeaderField);
            error::icmpv6(t, out, pkt6, None, e, (pointer as u32).to_be_bytes());
            return Verdict::Drop(R::Ipv6RoutingHeader);
        }
        Err(_) => return Verdict::Drop(R::Ipv6BadExtensionHeader),
    };
    // The translator is a router: Hop Limit is decremented, and at zero the packet is
    // dropped with Time Exceeded (RFC 7915 §5.1 "Time to Live", RFC 4443 §3.3).
    let hop = ip.hop_limit();
    if hop <= 1 {
        let e = Error6::TimeExceeded(TimeExceeded::HopLimitExceeded);
        error::icmpv6(t, out, pkt6, Some(&chain), e, [0; 4]);
        return Verdict::Drop(R::Ipv6HopLimitExceeded);
    }
    let tos = if t.cfg.reset_tos {
        0
    } else {
        ip.traffic_class()
    };
    let upper = chain.upper_proto;
    let Some(l4) = pkt6.get(chain.upper_off..) else {
        return Verdict::Drop(R::Ipv6BadExtensionHeader);
    };
    let l4len = l4.len();
    let with_transport = chain.has_transport_header();
    let hairpin = m.v6_hairpin(t, dst4, dst_by);

    if upper == IpProtocol::ICMP {
        return Verdict::Drop(R::Ipv6BadProtocol);
    }
    if upper == IpProtocol::ICMPV6 {
        if chain.is_fragment() {
            // The ICMPv6 checksum covers a pseudo-header with the whole message length,
            // unknown without reassembly.
            return Verdict::Drop(R::IcmpFragmented);
        }
        let Ok(icmp) = Icmpv6Packet::new_checked(l4) else {
            return Verdict::Drop(R::TransportTruncated);
        };
        match icmp.msg_type() {
            Msg6::EchoRequest | Msg6::EchoReply => {}
            ty if ty.is_error() => {
                let outer = icmp_error::OuterV4 {
                    src4,
                    dst4,
                    tos,
                    ttl: hop - 1,
                };
                return match icmp_error::v6_to_v4(t, m, icmp, outer, out) {
                    Err(r) => Verdict::Drop(r),
                    Ok(range) if hairpin => hairpin::from_scratch(t, m, pkt, out, range),
                    Ok(range) => {
                        out.push(range, 0..0);
                        Verdict::V6ToV4
                    }
                };
            }
            _ => return Verdict::Drop(R::IcmpUntranslatable),
        }
    } else if with_transport {
        let need = match upper {
            IpProtocol::TCP => tcp::HEADER_LEN,
            IpProtocol::UDP => udp::HEADER_LEN,
            _ => 0,
        };
        if l4len < need {
            return Verdict::Drop(R::TransportTruncated);
        }
    }

    let rewrite = match m.v6_bind(src6, &mut src4, dst4, upper, l4, chain.is_fragment()) {
        Ok(rw) => rw,
        Err(r) => return Verdict::Drop(r),
    };
    if M::BIND_SETS_ADDRESS && validity::ipv4_source_is_illegal(v4(src4)) {
        return Verdict::Drop(R::MappedIpv4BadSource);
    }

    let new_total = ipv4::HEADER_LEN + l4len;
    let proto4 = protocol_for(upper);
    // RFC 7915 §5.1.1 with a Fragment header; §5.1 "Identification"/"Flags" without.
    let (ident, df, mf, offset) = match chain.frag {
        Some(f) => (f.ident as u16, false, f.more, f.offset),
        None if new_total <= DF_THRESHOLD => (ipv4_ident(src4, dst4, proto4, l4), false, false, 0),
        None => (0, true, false, 0),
    };
    let too_big = !hairpin && new_total > usize::from(t.cfg.mtu);
    if too_big && df {
        // RFC 7915 §5 (the translator is a router): Packet Too Big. An IPv6 packet S
        // bytes long becomes S − 20 bytes of IPv4, so the IPv6 sender may use mtu + 20;
        // never below the IPv6 minimum (RFC 8201 §4 ignores smaller values anyway, and
        // 1280-byte packets become ≤ 1260-byte DF=0 packets that we fragment).
        let mtu6 = (usize::from(t.cfg.mtu) + HEADER_GROWTH).max(IPV6_MIN_MTU) as u32;
        let rest = mtu6.to_be_bytes();
        error::icmpv6(t, out, pkt6, Some(&chain), Error6::PktTooBig, rest);
        return Verdict::Drop(R::Ipv6PacketTooBig);
    }
    if new_total > 0xffff && !too_big {
        return Verdict::Drop(R::OutputOverflow);
    }
    let pseudo6 = if upper == IpProtocol::ICMPV6 {
        checksum::pseudo_v6(src6, dst6, IpProtocol::ICMPV6, l4len as u32)
    } else {
        0
    };
    let (old_sum, new_sum) = (addr_sum_v6(src6, dst6), addr_sum_v4(src4, dst4));

    // From here on the packet is rewritten: nothing below may fail before emitting.
    let l4_at = start + chain.upper_off;
    let end = start + total;
    let hdr_at = l4_at - ipv4::HEADER_LEN;
    let raw = pkt.raw_mut();
    if with_transport {
        let l4m = &mut raw[l4_at..end];
        if let Some(rw) = rewrite {
            rw.apply(l4m);
        }
        if upper == IpProtocol::ICMPV6 {
            icmp::echo_v6_to_v4(l4m, pseudo6);
        } else {
            fix_l4_checksum(l4m, upper, old_sum, new_sum);
            if upper == IpProtocol::TCP && t.cfg.mss_clamp {
                let headers = (ipv4::HEADER_LEN + tcp::HEADER_LEN) as u16;
                mss::clamp(l4m, t.cfg.mtu.saturating_sub(headers));
            }
        }
    }
    let repr = Ipv4Repr {
        tos,
        total_len: new_total.min(0xffff) as u16,
        ident,
        df,
        mf,
        frag_offset: offset,
        ttl: hop - 1,
        protocol: proto4,
        src: src4,
        dst: dst4,
    };
    repr.emit(&mut raw[hdr_at..l4_at]);
    if hairpin {
        pkt.set_bounds(hdr_at, end);
        return hairpin::from_packet(t, m, pkt, out);
    }
    if too_big {
        return match frag::fragment_v4(out, l4_at..end, &repr, usize::from(t.cfg.mtu)) {
            Ok(()) => Verdict::V6ToV4,
            Err(r) => Verdict::Drop(r),
        };
    }
    pkt.set_bounds(hdr_at, end);
    out.push(0..0, hdr_at..end);
    Verdict::V6ToV4
}
