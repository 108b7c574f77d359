//! IPv4 → IPv6 (RFC 7915 §4).
//!
//! The common path parses once, rewrites the transport checksum incrementally, and
//! writes the IPv6 header (plus a Fragment header when needed) into the headroom in
//! front of the unmoved transport header.

use crate::addr::validity;
use crate::wire::WireError;
use crate::wire::buf::PacketBuf;
use crate::wire::checksum;
use crate::wire::icmpv4::{
    DstUnreachable, ErrorMessage as Error4, Icmpv4Packet, Message as Msg4, TimeExceeded,
};
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::{self, Ipv4Packet, option};
use crate::wire::ipv6::{self, Ipv6Repr};
use crate::wire::ipv6ext::{FRAG_HEADER_LEN, FragRepr};
use crate::wire::tcp;
use crate::wire::udp::UdpPacket;

use super::common::{
    HEADER_GROWTH, IPV4_MIN_MTU, addr_sum_v4, addr_sum_v6, fix_l4_checksum, link_scope_or_v4,
    next_header_for, v4, v6,
};
use super::ctx::MapCtx;
use super::{DropReason, Output, Translator, Verdict, error, frag, icmp, icmp_error, mss};

use DropReason as R;

/// Translates the IPv4 packet in `pkt`. `from_hairpin`: the packet is the IPv4 form of
/// an IPv6 packet being hairpinned (RFC 7757 §4): its TTL was already decremented, its
/// source is translated with RFC 6052 only, and no ICMPv4 error is generated (the
/// sender is an IPv6 node).
#[inline]
pub(super) fn translate<M: MapCtx>(
    t: &Translator,
    m: &mut M,
    pkt: &mut PacketBuf,
    out: &mut Output,
    from_hairpin: bool,
) -> Verdict {
    let start = pkt.start();
    let data = pkt.data();
    let ip = match Ipv4Packet::new_checked(data) {
        Ok(p) => p,
        Err(WireError::Truncated) => return Verdict::Drop(R::Ipv4Truncated),
        Err(WireError::BadHeaderLen) => return Verdict::Drop(R::Ipv4BadIhl),
        Err(WireError::BadLength) => return Verdict::Drop(R::Ipv4BadLength),
        Err(WireError::BadVersion) => return Verdict::Drop(R::UnknownVersion),
    };
    if !ip.verify_checksum() {
        return Verdict::Drop(R::Ipv4BadChecksum);
    }
    let hl = ip.header_len();
    // Bytes past Total Length (link padding) are trimmed.
    let total = usize::from(ip.total_len());
    let Some(pkt4) = data.get(..total) else {
        return Verdict::Drop(R::Ipv4BadLength);
    };
    let src4 = ip.src_addr();
    let dst4 = ip.dst_addr();
    if validity::ipv4_source_is_illegal(v4(src4)) {
        return link_scope_or_v4(dst4, R::Ipv4BadSource);
    }
    if validity::ipv4_destination_is_illegal(v4(dst4)) {
        return link_scope_or_v4(dst4, R::Ipv4BadDestination);
    }
    let (src6, mut dst6, hairpin) = match m.v4_addrs(t, src4, dst4, from_hairpin) {
        Ok(a) => a,
        Err(r) => return Verdict::Drop(r),
    };
    // Whatever mapped them (EAM, any RFC 6052 prefix, NAT64 pool6), before any ICMPv4
    // error is sent about the packet; NAT64's destination once its session gives it.
    if validity::ipv6_source_is_illegal(v6(src6)) {
        return Verdict::Drop(R::MappedIpv6BadSource);
    }
    if !M::BIND_SETS_ADDRESS && validity::ipv6_destination_is_illegal(v6(dst6)) {
        return Verdict::Drop(R::MappedIpv6BadDestination);
    }
    // RFC 7915 §4.1: options are ignored, but an unexpired source route is refused
    // with ICMPv4 "source route failed" (type 3, code 5).
    let answer =
        !from_hairpin && m.v4_may_answer(ip.protocol(), dst4, pkt4.get(hl..).unwrap_or(&[]));
    if hl > ipv4::HEADER_LEN && has_unexpired_source_route(ip.options()) {
        if answer {
            let e = Error4::DstUnreachable(DstUnreachable::SrcRouteFailed);
            error::icmpv4(t, out, pkt4, e, [0; 4]);
        }
        return Verdict::Drop(R::Ipv4SourceRoute);
    }
    // The translator is a router (RFC 7915 §4.1 "Hop Limit"): TTL decremented, Time
    // Exceeded (11/0) at zero (RFC 1812 §5.3.1). Hairpinned packets were already
    // decremented on their way in.
    let ttl = ip.ttl();
    let hop = if from_hairpin {
        ttl
    } else {
        if ttl <= 1 {
            if answer {
                let e = Error4::TimeExceeded(TimeExceeded::TtlExpired);
                error::icmpv4(t, out, pkt4, e, [0; 4]);
            }
            return Verdict::Drop(R::Ipv4TtlExceeded);
        }
        ttl - 1
    };
    let tc = if t.cfg.reset_traffic_class {
        0
    } else {
        ip.tos()
    };
    let proto = ip.protocol();
    let is_frag = ip.is_fragment();
    let first = ip.frag_offset() == 0;
    let Some(l4) = pkt4.get(hl..) else {
        return Verdict::Drop(R::Ipv4BadIhl);
    };
    let l4len = l4.len();
    let mut amend_udp = false;
    match proto {
        IpProtocol::ICMP => {
            if is_frag {
                return Verdict::Drop(R::IcmpFragmented);
            }
            let Ok(icmp) = Icmpv4Packet::new_checked(l4) else {
                return Verdict::Drop(R::TransportTruncated);
            };
            match icmp.msg_type() {
                // Echo Request / Reply: in place below.
                Msg4::EchoRequest | Msg4::EchoReply => {}
                Msg4::DstUnreachable | Msg4::TimeExceeded | Msg4::ParamProblem => {
                    let outer = icmp_error::OuterV6 {
                        src6,
                        dst6,
                        tc,
                        hop,
                    };
                    return match icmp_error::v4_to_v6(t, m, icmp, outer, hairpin, out) {
                        Err(r) => Verdict::Drop(r),
                        Ok(range) => {
                            out.push(range, 0..0);
                            if from_hairpin {
                                Verdict::Hairpinned
                            } else {
                                Verdict::V4ToV6
                            }
                        }
                    };
                }
                // RFC 7915 §4.2: information request/reply, timestamp, address mask,
                // router advertisement/solicitation, source quench, redirect,
                // alternate host address and unknown types are dropped.
                _ => return Verdict::Drop(R::IcmpUntranslatable),
            }
        }
        // RFC 7915 §4.2 "IGMP messages": single-hop, dropped.
        IpProtocol::IGMP => return Verdict::Drop(R::IcmpUntranslatable),
        // Protocol numbers that IPv6 reads as extension headers, and ICMPv6 (its
        // checksum would lack the pseudo-header).
        IpProtocol::HOP_BY_HOP
        | IpProtocol::ROUTING
        | IpProtocol::FRAGMENT
        | IpProtocol::ICMPV6
        | IpProtocol::DEST_OPTS => return Verdict::Drop(R::Ipv4BadProtocol),
        IpProtocol::TCP if first && l4len < tcp::HEADER_LEN => {
            return Verdict::Drop(R::TransportTruncated);
        }
        IpProtocol::UDP if first => {
            let Ok(udp) = UdpPacket::new_checked(l4) else {
                return Verdict::Drop(R::TransportTruncated);
            };
            if udp.checksum() == 0 {
                // RFC 7915 §4.5: a zero IPv4 UDP checksum is invalid in IPv6. It can
                // only be computed for a whole datagram, and only if configured.
                if is_frag || !t.cfg.amend_udp_checksum_zero {
                    return Verdict::Drop(R::UdpChecksumZero);
                }
                amend_udp = true;
            }
        }
        _ => {}
    }

    let rewrite = match m.v4_bind(src4, dst4, &mut dst6, proto, l4, is_frag) {
        Ok(rw) => rw,
        Err(r) => return Verdict::Drop(r),
    };
    if M::BIND_SETS_ADDRESS && validity::ipv6_destination_is_illegal(v6(dst6)) {
        return Verdict::Drop(R::MappedIpv6BadDestination);
    }

    let proto6 = next_header_for(proto);
    let mtu = usize::from(t.cfg.mtu);
    let limit = usize::from(t.cfg.lowest_ipv6_mtu).min(mtu);
    // RFC 7915 §4.1: a Fragment header only for IPv4 fragments, or when a DF=0 packet
    // must be fragmented to fit lowest-ipv6-mtu. Never an atomic fragment (RFC 8021).
    let frag_hdr = is_frag || (!ip.dont_frag() && ipv6::HEADER_LEN + l4len > limit);
    if !frag_hdr && ipv6::HEADER_LEN + l4len > mtu {
        // RFC 7915 §4.1 / RFC 1191: Fragmentation Needed with the MTU the IPv4 sender
        // must use, the IPv6 next-hop MTU minus the 20 bytes the header grows by.
        if !from_hairpin {
            let mtu4 = mtu.saturating_sub(HEADER_GROWTH).max(IPV4_MIN_MTU) as u16;
            let m = mtu4.to_be_bytes();
            let e = Error4::DstUnreachable(DstUnreachable::FragRequired);
            error::icmpv4(t, out, pkt4, e, [0, 0, m[0], m[1]]);
        }
        return Verdict::Drop(R::Ipv4FragmentationNeeded);
    }
    let hdr_len = ipv6::HEADER_LEN + if frag_hdr { FRAG_HEADER_LEN } else { 0 };
    let l4_at = start + hl;
    let end = start + total;
    let Some(hdr_at) = l4_at.checked_sub(hdr_len) else {
        return Verdict::Drop(R::OutputOverflow);
    };
    let base = Ipv6Repr {
        traffic_class: tc,
        flow_label: 0,
        payload_len: 0,
        next_header: proto6,
        hop_limit: hop,
        src: src6,
        dst: dst6,
    };
    let fr = FragRepr {
        next_header: proto6,
        offset: ip.frag_offset(),
        more: ip.more_frags(),
        ident: u32::from(ip.ident()),
    };
    let fragment_now = frag_hdr && ipv6::HEADER_LEN + FRAG_HEADER_LEN + l4len > limit;
    if fragment_now && !frag::fits_v6(l4len, limit, fr.offset) {
        return Verdict::Drop(R::FragmentOverflow);
    }
    let pseudo6 = if proto == IpProtocol::ICMP {
        checksum::pseudo_v6(src6, dst6, IpProtocol::ICMPV6, l4len as u32)
    } else {
        0
    };
    let (old_sum, new_sum) = (addr_sum_v4(src4, dst4), addr_sum_v6(src6, dst6));

    // From here on the packet is rewritten: nothing below may fail before emitting,
    // except output space for fragments, which is checked by `fits_v6` above.
    let raw = pkt.raw_mut();
    if first {
        let l4m = &mut raw[l4_at..end];
        if let Some(rw) = rewrite {
            rw.apply(l4m);
        }
        if proto == IpProtocol::ICMP {
            icmp::echo_v4_to_v6(l4m, pseudo6);
        } else if amend_udp {
            // RFC 7915 §4.5: the whole datagram's checksum.
            let ph = checksum::pseudo_v6(src6, dst6, IpProtocol::UDP, l4len as u32);
            if let Ok(mut udp) = UdpPacket::new_checked(l4m) {
                udp.fill_checksum(ph);
                out.note_udp_checksum_computed();
            }
        } else {
            fix_l4_checksum(l4m, proto, old_sum, new_sum);
            if proto == IpProtocol::TCP && t.cfg.mss_clamp {
                let headers = (ipv6::HEADER_LEN + tcp::HEADER_LEN) as u16;
                mss::clamp(l4m, t.cfg.mtu.saturating_sub(headers));
            }
        }
    }
    let verdict = if from_hairpin {
        Verdict::Hairpinned
    } else {
        Verdict::V4ToV6
    };
    if fragment_now {
        return match frag::fragment_v6(out, l4_at..end, &base, &fr, limit) {
            Ok(()) => verdict,
            Err(r) => Verdict::Drop(r),
        };
    }
    let mut repr = base;
    if frag_hdr {
        repr.payload_len = (FRAG_HEADER_LEN + l4len) as u16;
        repr.next_header = IpProtocol::FRAGMENT;
        fr.emit(&mut raw[hdr_at + ipv6::HEADER_LEN..l4_at]);
    } else {
        repr.payload_len = l4len as u16;
    }
    repr.emit(&mut raw[hdr_at..]);
    pkt.set_bounds(hdr_at, end);
    out.push(0..0, hdr_at..end);
    verdict
}

/// RFC 791 §3.1: a Loose or Strict Source Route option whose pointer is not past its
/// length still has hops to visit. Malformed options end the scan.
fn has_unexpired_source_route(opts: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&ty) = opts.get(i) {
        match ty {
            option::END => return false,
            option::NOP => i += 1,
            _ => {
                let Some(&len) = opts.get(i + 1) else {
                    return false;
                };
                if len < 2 {
                    return false;
                }
                let source_route = ty == option::LSRR || ty == option::SSRR;
                if source_route && opts.get(i + 2).is_some_and(|&ptr| ptr <= len) {
                    return true;
                }
                i += usize::from(len);
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 791 §3.1 option layouts: LSRR with one hop left, expired, and behind a NOP.
    #[test]
    fn rfc791_source_route_options() {
        assert!(has_unexpired_source_route(&[131, 7, 4, 192, 0, 2, 9, 0]));
        assert!(!has_unexpired_source_route(&[131, 7, 8, 192, 0, 2, 9, 0]));
        assert!(has_unexpired_source_route(&[1, 137, 7, 4, 192, 0, 2, 9]));
        assert!(!has_unexpired_source_route(&[0, 137, 7, 4, 192, 0, 2, 9]));
        assert!(!has_unexpired_source_route(&[7, 7, 4, 0, 0, 0, 0, 0]));
        assert!(!has_unexpired_source_route(&[131, 1, 4, 0]));
        assert!(!has_unexpired_source_route(&[131]));
    }
}
