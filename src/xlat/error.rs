//! ICMP errors the translator itself originates (RFC 7915 §4.4 and §5.4, RFC 1812 §4.3.2,
//! RFC 4443 §2.4): Time Exceeded, Fragmentation Needed / Packet Too Big, Source Route
//! Failed, Parameter Problem.
//!
//! The error is built whole in the output scratch (it quotes at most 548 / 1232 bytes
//! of the offending packet, a rare path where a copy is fine). No error is sent about an
//! ICMP error, a non-first fragment, or a packet whose source cannot receive one
//! (multicast, broadcast, loopback, unspecified...).

use crate::addr::validity;
use crate::wire::icmpv4::{self, Icmpv4Packet};
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use crate::wire::ipv6ext;

use super::common::{ICMPV4_ERROR_MAX, ICMPV6_ERROR_MAX, ipv4_ident, v4, v6};
use super::{Output, Translator};

/// Hop limit / TTL of generated errors (RFC 1700 default, as Linux uses).
const ERROR_TTL: u8 = 64;

/// Headers in front of the quoted packet.
const V4_QUOTE_AT: usize = ipv4::HEADER_LEN + icmpv4::HEADER_LEN;
const V6_QUOTE_AT: usize = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;

/// Queues the ICMPv4 error `msg` with `rest` (the 4 bytes after the checksum) about
/// `orig`, a complete IPv4 packet as received. Silently does nothing when RFC 1812
/// §4.3.2.7 forbids an error or the scratch is full.
pub(super) fn icmpv4(
    t: &Translator,
    out: &mut Output,
    orig: &[u8],
    msg: icmpv4::ErrorMessage,
    rest: [u8; 4],
) {
    let Ok(ip) = Ipv4Packet::new_checked_header(orig) else {
        return;
    };
    if ip.frag_offset() != 0 {
        return;
    }
    if ip.protocol() == IpProtocol::ICMP
        && orig
            .get(ip.header_len() + icmpv4::field::TYPE)
            .is_some_and(|&t| icmpv4::Message::from(t).is_error())
    {
        return;
    }
    if validity::ipv4_source_is_illegal(v4(ip.src_addr()))
        || validity::ipv4_destination_is_illegal(v4(ip.dst_addr()))
    {
        return;
    }
    let len = (V4_QUOTE_AT + orig.len()).min(ICMPV4_ERROR_MAX);
    let Some(r) = out.alloc_scratch(len) else {
        return;
    };
    let src = t.cfg.ipv4_addr.octets();
    let dst = ip.src_addr();
    let buf = &mut out.scratch_mut()[r.clone()];
    buf[V4_QUOTE_AT..].copy_from_slice(&orig[..len - V4_QUOTE_AT]);
    let Ok(mut icmp) = Icmpv4Packet::new_checked(&mut buf[ipv4::HEADER_LEN..]) else {
        return;
    };
    icmp.set_error(msg);
    icmp.set_rest(rest);
    icmp.fill_checksum();
    let ident = ipv4_ident(
        src,
        dst,
        IpProtocol::ICMP,
        &buf[ipv4::HEADER_LEN..V4_QUOTE_AT],
    );
    let repr = Ipv4Repr {
        tos: 0,
        total_len: len as u16,
        ident,
        df: false,
        mf: false,
        frag_offset: 0,
        ttl: ERROR_TTL,
        protocol: IpProtocol::ICMP,
        src,
        dst,
    };
    repr.emit(buf);
    out.push(r, 0..0);
}

/// Queues the ICMPv6 error `msg` with `rest` about `orig`, a complete IPv6 packet as
/// received. `chain` is its extension-header walk when it succeeded (used to recognise
/// ICMPv6 errors and non-first fragments). RFC 4443 §2.4(e) restrictions apply.
pub(super) fn icmpv6(
    t: &Translator,
    out: &mut Output,
    orig: &[u8],
    chain: Option<&ipv6ext::ExtChain>,
    msg: icmpv6::ErrorMessage,
    rest: [u8; 4],
) {
    let Ok(ip) = Ipv6Packet::new_checked_header(orig) else {
        return;
    };
    if let Some(c) = chain {
        if !c.has_transport_header() {
            return;
        }
        let about_error = || {
            orig.get(c.upper_off + icmpv6::field::TYPE)
                .is_some_and(|&t| icmpv6::Message::from(t).is_error())
        };
        if c.upper_proto == IpProtocol::ICMPV6 && about_error() {
            return;
        }
    }
    // §2.4(e.2): nor about a packet sent to a multicast address.
    if validity::ipv6_source_is_illegal(v6(ip.src_addr())) || v6(ip.dst_addr()).is_multicast() {
        return;
    }
    let len = (V6_QUOTE_AT + orig.len()).min(ICMPV6_ERROR_MAX);
    let Some(r) = out.alloc_scratch(len) else {
        return;
    };
    let src = t.cfg.ipv6_addr.octets();
    let dst = ip.src_addr();
    let buf = &mut out.scratch_mut()[r.clone()];
    buf[V6_QUOTE_AT..].copy_from_slice(&orig[..len - V6_QUOTE_AT]);
    let Ok(mut icmp) = Icmpv6Packet::new_checked(&mut buf[ipv6::HEADER_LEN..]) else {
        return;
    };
    icmp.set_error(msg);
    icmp.set_rest(rest);
    icmp.fill_checksum(src, dst);
    let repr = Ipv6Repr {
        traffic_class: 0,
        flow_label: 0,
        payload_len: (len - ipv6::HEADER_LEN) as u16,
        next_header: IpProtocol::ICMPV6,
        hop_limit: ERROR_TTL,
        src,
        dst,
    };
    repr.emit(buf);
    out.push(r, 0..0);
}
