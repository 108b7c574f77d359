//! ICMP errors the translator itself originates (RFC 7915 §4.4 and §5.4, RFC 1812 §4.3.2,
//! RFC 4443 §2.4): Time Exceeded, Fragmentation Needed / Packet Too Big, Source Route
//! Failed, Parameter Problem.
//!
//! The error is built whole in the output scratch (it quotes at most 548 / 1232 bytes
//! of the offending packet, a rare path where a copy is fine). No error is sent about an
//! ICMP error, a non-first fragment, or a packet whose source cannot receive one
//! (multicast, broadcast, loopback, unspecified...).

use crate::addr::validity;
use crate::wire::checksum;
use crate::wire::icmpv4;
use crate::wire::icmpv6;
use crate::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6::{Ipv6Packet, Ipv6Repr};
use crate::wire::ipv6ext;

use super::common::{ICMPV4_ERROR_MAX, ICMPV6_ERROR_MAX, ipv4_ident, v4, v6};
use super::{Output, Translator};

/// Hop limit / TTL of generated errors (RFC 1700 default, as Linux uses).
const ERROR_TTL: u8 = 64;

/// Queues an ICMPv4 error `ty`/`code` with `rest` (bytes 4..8) about `orig`, a complete
/// IPv4 packet as received. Silently does nothing when RFC 1812 §4.3.2.7 forbids an
/// error or the scratch is full.
pub(super) fn icmpv4(
    t: &Translator,
    out: &mut Output,
    orig: &[u8],
    ty: u8,
    code: u8,
    rest: [u8; 4],
) {
    let Ok(ip) = Ipv4Packet::new_checked_header(orig) else {
        return;
    };
    if ip.frag_offset() != 0 {
        return;
    }
    if ip.protocol() == 1
        && orig
            .get(ip.header_len())
            .is_some_and(|&t| icmpv4::is_error(t))
    {
        return;
    }
    if validity::ipv4_source_is_illegal(v4(ip.src_addr()))
        || validity::ipv4_destination_is_illegal(v4(ip.dst_addr()))
    {
        return;
    }
    let len = (28 + orig.len()).min(ICMPV4_ERROR_MAX);
    let Some(r) = out.alloc_scratch(len) else {
        return;
    };
    let src = t.cfg.ipv4_addr.octets();
    let dst = ip.src_addr();
    let buf = &mut out.scratch_mut()[r.clone()];
    buf[20..24].copy_from_slice(&[ty, code, 0, 0]);
    buf[24..28].copy_from_slice(&rest);
    buf[28..].copy_from_slice(&orig[..len - 28]);
    let c = checksum::checksum(&buf[20..]);
    buf[22..24].copy_from_slice(&c.to_be_bytes());
    let repr = Ipv4Repr {
        tos: 0,
        total_len: len as u16,
        ident: ipv4_ident(src, dst, 1, &buf[20..28]),
        df: false,
        mf: false,
        frag_offset: 0,
        ttl: ERROR_TTL,
        protocol: 1,
        src,
        dst,
    };
    repr.emit(buf);
    out.push(r, 0..0);
}

/// Queues an ICMPv6 error about `orig`, a complete IPv6 packet as received. `chain` is
/// its extension-header walk when it succeeded (used to recognise ICMPv6 errors and
/// non-first fragments). RFC 4443 §2.4(e) restrictions apply.
pub(super) fn icmpv6(
    t: &Translator,
    out: &mut Output,
    orig: &[u8],
    chain: Option<&ipv6ext::ExtChain>,
    ty: u8,
    code: u8,
    rest: [u8; 4],
) {
    let Ok(ip) = Ipv6Packet::new_checked_header(orig) else {
        return;
    };
    if let Some(c) = chain {
        if !c.has_transport_header() {
            return;
        }
        if c.upper_proto == 58 && orig.get(c.upper_off).is_some_and(|&t| icmpv6::is_error(t)) {
            return;
        }
    }
    if validity::ipv6_source_is_illegal(v6(ip.src_addr())) || ip.dst_addr()[0] == 0xff {
        return;
    }
    let len = (48 + orig.len()).min(ICMPV6_ERROR_MAX);
    let Some(r) = out.alloc_scratch(len) else {
        return;
    };
    let src = t.cfg.ipv6_addr.octets();
    let dst = ip.src_addr();
    let buf = &mut out.scratch_mut()[r.clone()];
    buf[40..44].copy_from_slice(&[ty, code, 0, 0]);
    buf[44..48].copy_from_slice(&rest);
    buf[48..].copy_from_slice(&orig[..len - 48]);
    icmpv6::Icmpv6Packet::new_unchecked(&mut buf[40..]).fill_checksum(src, dst);
    let repr = Ipv6Repr {
        traffic_class: 0,
        flow_label: 0,
        payload_len: (len - 40) as u16,
        next_header: 58,
        hop_limit: ERROR_TTL,
        src,
        dst,
    };
    repr.emit(buf);
    out.push(r, 0..0);
}
