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
//! RFC 4884 extensions (MPLS label stacks, interface information) are carried over
//! when the error has a valid one and the translated type has a length attribute too
//! (RFC 7915 has the translator adjust that attribute): the translated original
//! datagram is padded with zeros to the other protocol's unit (and to 128 bytes), the
//! extension structure follows it unchanged (its checksum covers only itself), and the
//! length attribute is rewritten in the new unit. Under the size limit it is the
//! original datagram that is cut, never the extension; when not even 128 bytes of it
//! would fit, the extension is dropped. Dropped extensions, and trailing bytes that are
//! not a valid extension (see `icmpext::split`), leave the length attribute of the
//! result at zero: a valid RFC 4884 message without extensions.

use core::ops::Range;

use crate::addr::validity;
use crate::wire::checksum;
use crate::wire::icmpext::{self, ICMPV4_LENGTH_UNIT, ICMPV6_LENGTH_UNIT, ORIGINAL_DATAGRAM_MIN};
use crate::wire::icmpv4::{self, Icmpv4Packet};
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::{self, Ipv4Packet, Ipv4Repr};
use crate::wire::ipv6::{self, Ipv6Packet, Ipv6Repr};
use crate::wire::ipv6ext::{self, FRAG_HEADER_LEN, FragRepr};

use super::common::{
    DF_THRESHOLD, HEADER_GROWTH, ICMPV4_ERROR_MAX, ICMPV6_ERROR_MAX, IPV4_MIN_MTU, IPV6_MIN_MTU,
    addr_sum_v4, addr_sum_v6, fix_l4_checksum, ipv4_ident, next_header_for, protocol_for,
};
use super::ctx::MapCtx;
use super::icmp::{self, Rest};
use super::{DropReason, Output, Translator};

use DropReason as R;

/// Outer IPv6 header and ICMPv6 header of a translated error: where its quote starts.
const V6_QUOTE_AT: usize = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
/// Outer IPv4 header and ICMPv4 header of a translated error: where its quote starts.
const V4_QUOTE_AT: usize = ipv4::HEADER_LEN + icmpv4::HEADER_LEN;

/// The original datagram field of an error whose length attribute is `words` (not 0)
/// of `unit` bytes, and the extension structure after it when there is a valid one
/// (`icmpext::split`) and `keep`: the translated type has a length attribute too.
/// Errors with a length attribute are rare, hence out of line, off the common path.
#[cold]
#[inline(never)]
fn split_extension(body: &[u8], words: u8, unit: usize, keep: bool) -> (&[u8], Option<&[u8]>) {
    let (original, ext) = icmpext::split(body, usize::from(words) * unit);
    (original, ext.filter(|_| keep))
}

/// Lays out a translated error's body (`body`, all the room under the size limit)
/// whose translated original datagram took its first `n` bytes, when the error had the
/// extension structure `ext` and the translated type has a length attribute in units of
/// `unit` bytes (RFC 4884 §4: 4 in ICMPv4, 8 in ICMPv6): the datagram cut to a multiple
/// of `unit` that leaves `ext` room, zero padding up to the unit and to 128 bytes, then
/// `ext` unchanged. Returns the body's length and the length attribute; `None` when
/// `ext` would leave less than 128 bytes of datagram: it is dropped and the body is
/// left as it was.
///
/// Cutting after the fact gives the bytes translating into the smaller room would: the
/// quoted headers whose fields translation rewrites lie within the first 128 bytes.
/// Errors with extensions are rare, hence out of line, off the common path.
#[cold]
#[inline(never)]
fn append_extension(body: &mut [u8], n: usize, ext: &[u8], unit: usize) -> (usize, Option<u8>) {
    let Some(room) = body.len().checked_sub(ext.len()).map(|r| r / unit * unit) else {
        return (n, None);
    };
    if room < ORIGINAL_DATAGRAM_MIN {
        return (n, None);
    }
    let n = n.min(room);
    let padded = n.max(ORIGINAL_DATAGRAM_MIN).next_multiple_of(unit);
    let end = padded + ext.len();
    let words = u8::try_from(padded / unit).ok();
    match (body.get_mut(n..end), words) {
        (Some(tail), Some(words)) => {
            let (pad, dst) = tail.split_at_mut(padded - n);
            pad.fill(0);
            dst.copy_from_slice(ext);
            (end, Some(words))
        }
        _ => (n, None),
    }
}

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
    icmp: Icmpv4Packet<&[u8]>,
    mut o: OuterV6,
    hairpin: bool,
    out: &mut Output,
) -> Result<Range<usize>, DropReason> {
    let (error6, rest) = icmp::map_v4_error(icmp.msg_type(), icmp.code(), icmp.pointer())
        .ok_or(R::IcmpUntranslatable)?;
    // RFC 4884 §4: a non-zero length attribute delimits the original datagram (all
    // three translatable ICMPv4 error types have one); an extension after it is kept
    // only if the ICMPv6 type has a length attribute too. §5: zero means none.
    let (quoted, ext) = match icmp.length() {
        0 => (icmp.payload(), None),
        words => {
            let keep = error6.msg_type().has_length_attribute();
            split_extension(icmp.payload(), words, ICMPV4_LENGTH_UNIT, keep)
        }
    };
    let inner = Ipv4Packet::new_checked_header(quoted).map_err(|_| R::IcmpInnerUntranslatable)?;
    let rest6: u32 = match rest {
        Rest::Zero => 0,
        Rest::Pointer(p) => p,
        Rest::Mtu => {
            // RFC 7915 §4.2: min(advertised + 20, IPv6 next-hop MTU, IPv4 next-hop MTU
            // + 20) — both next hops are our device here — with RFC 1191 plateaus when
            // the router sent 0, and never below 1280 (RFC 8200 §5 minimum; such PTBs
            // would be ignored, RFC 8201 §4).
            let mut m4 = icmp.mtu();
            if m4 == 0 {
                m4 = icmp::plateau_below(inner.total_len());
            }
            (u32::from(m4) + HEADER_GROWTH as u32)
                .min(u32::from(t.cfg.mtu))
                .max(IPV6_MIN_MTU as u32)
        }
    };
    let r = out
        .alloc_scratch(ICMPV6_ERROR_MAX)
        .ok_or(R::OutputOverflow)?;
    let buf = &mut out.scratch_mut()[r.clone()];
    let (n, s6, d6) = inner_v4_to_v6(t, m, quoted, &mut buf[V6_QUOTE_AT..], hairpin)?;
    m.error_outer_v6(&mut o, s6, d6);
    let (body, length) = match ext {
        None => (n, None),
        Some(e) => append_extension(&mut buf[V6_QUOTE_AT..], n, e, ICMPV6_LENGTH_UNIT),
    };
    let len = V6_QUOTE_AT + body;
    let mut msg = Icmpv6Packet::new_checked(&mut buf[ipv6::HEADER_LEN..len])
        .map_err(|_| R::OutputOverflow)?;
    msg.set_error(error6);
    msg.set_rest(rest6.to_be_bytes());
    if let Some(words) = length {
        msg.set_length(words);
    }
    msg.fill_checksum(o.src6, o.dst6);
    let ip = Ipv6Repr {
        traffic_class: o.tc,
        flow_label: 0,
        payload_len: (len - ipv6::HEADER_LEN) as u16,
        next_header: IpProtocol::ICMPV6,
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
    let quotes_error = || {
        l4.get(icmpv4::field::TYPE)
            .is_some_and(|&t| icmpv4::Message::from(t).is_error())
    };
    if proto == IpProtocol::ICMP && first && quotes_error() {
        return Err(R::IcmpErrorInError);
    }
    let (s4, d4) = (ip.src_addr(), ip.dst_addr());
    // §4.3: the inner header is translated by the outer header's rules, address
    // validity included, before and after mapping.
    if validity::ipv4_header_refused(s4.into(), d4.into()) {
        return Err(R::IcmpInnerBadAddress);
    }
    let payload = if first { l4 } else { &[] };
    let (src6, dst6, rewrite) = m.inner_v4(t, s4, d4, hairpin, proto, payload)?;
    if validity::ipv6_header_refused(src6.into(), dst6.into()) {
        return Err(R::IcmpInnerBadAddress);
    }
    let proto6 = next_header_for(proto);
    // Length of the original datagram's payload, from its own header (not what was
    // quoted).
    let claimed = usize::from(ip.total_len()).saturating_sub(hl);
    let hdr_len = ipv6::HEADER_LEN + if is_frag { FRAG_HEADER_LEN } else { 0 };
    if dst.len() < hdr_len {
        return Err(R::OutputOverflow);
    }
    let next_header = if is_frag {
        IpProtocol::FRAGMENT
    } else {
        proto6
    };
    let repr = Ipv6Repr {
        traffic_class: if t.cfg.reset_traffic_class {
            0
        } else {
            ip.tos()
        },
        flow_label: 0,
        payload_len: (claimed + hdr_len - ipv6::HEADER_LEN).min(0xffff) as u16,
        next_header,
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
        fr.emit(&mut dst[ipv6::HEADER_LEN..]);
    }
    let n = l4.len().min(dst.len() - hdr_len);
    let body = &mut dst[hdr_len..hdr_len + n];
    body.copy_from_slice(&l4[..n]);
    if first {
        if let Some(rw) = rewrite {
            rw.apply(body);
        }
        if proto == IpProtocol::ICMP {
            if !is_frag {
                let pseudo6 = checksum::pseudo_v6(src6, dst6, IpProtocol::ICMPV6, claimed as u32);
                icmp::echo_v4_to_v6(body, pseudo6);
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
    icmp: Icmpv6Packet<&[u8]>,
    mut o: OuterV4,
    out: &mut Output,
) -> Result<Range<usize>, DropReason> {
    let ty = icmp.msg_type();
    // The 32-bit word after the checksum: the Parameter Problem pointer or the Packet
    // Too Big MTU.
    let word = icmp.pointer();
    let (error4, rest) = icmp::map_v6_error(ty, icmp.code(), word).ok_or(R::IcmpUntranslatable)?;
    // RFC 4884 §4: for Destination Unreachable and Time Exceeded a non-zero length
    // attribute delimits the original datagram; an extension after it is kept only if
    // the ICMPv4 type has a length attribute too. §5: zero means none.
    let (quoted, ext) = match icmp.length() {
        words if words != 0 && ty.has_length_attribute() => {
            let keep = error4.msg_type().has_length_attribute();
            split_extension(icmp.payload(), words, ICMPV6_LENGTH_UNIT, keep)
        }
        _ => (icmp.payload(), None),
    };
    let r = out
        .alloc_scratch(ICMPV4_ERROR_MAX)
        .ok_or(R::OutputOverflow)?;
    let buf = &mut out.scratch_mut()[r.clone()];
    let (n, quoted_frag_hdr, s4, d4) = inner_v6_to_v4(t, m, quoted, &mut buf[V4_QUOTE_AT..])?;
    m.error_outer_v4(&mut o, s4, d4);
    let (body, length) = match ext {
        None => (n, None),
        Some(e) => append_extension(&mut buf[V4_QUOTE_AT..], n, e, ICMPV4_LENGTH_UNIT),
    };
    let len = V4_QUOTE_AT + body;
    let rest4: [u8; 4] = match rest {
        Rest::Zero => [0; 4],
        Rest::Pointer(p) => p.to_be_bytes(),
        Rest::Mtu => {
            // RFC 7915 §5.2: min(advertised − 20, IPv4 next-hop MTU, IPv6 next-hop MTU
            // − 20), subtracting 28 instead of 20 when the quoted packet has a Fragment
            // header: such IPv4 packets grow by 28 on both IPv6 paths, the one that
            // advertised the MTU and our own next hop. Kept at or above the IPv4 minimum.
            let frag_hdr = if quoted_frag_hdr { FRAG_HEADER_LEN } else { 0 };
            let sub = (HEADER_GROWTH + frag_hdr) as u32;
            let mtu = u32::from(t.cfg.mtu);
            let m = word
                .saturating_sub(sub)
                .min(mtu)
                .min(mtu.saturating_sub(sub))
                .clamp(IPV4_MIN_MTU as u32, 0xffff) as u16;
            let b = m.to_be_bytes();
            [0, 0, b[0], b[1]]
        }
    };
    let mut msg = Icmpv4Packet::new_checked(&mut buf[ipv4::HEADER_LEN..len])
        .map_err(|_| R::OutputOverflow)?;
    msg.set_error(error4);
    msg.set_rest(rest4);
    if let Some(words) = length {
        msg.set_length(words);
    }
    msg.fill_checksum();
    let icmp_header = &buf[ipv4::HEADER_LEN..V4_QUOTE_AT];
    let ident = ipv4_ident(o.src4, o.dst4, IpProtocol::ICMP, icmp_header);
    let ip = Ipv4Repr {
        tos: o.tos,
        total_len: len as u16,
        ident,
        df: false,
        mf: false,
        frag_offset: 0,
        ttl: o.ttl,
        protocol: IpProtocol::ICMP,
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
    let end = ip.total_len().min(quoted.len());
    let l4 = quoted.get(chain.upper_off..end).unwrap_or(&[]);
    let upper = chain.upper_proto;
    let with_transport = chain.has_transport_header();
    let quotes_error = || {
        l4.get(icmpv6::field::TYPE)
            .is_some_and(|&t| icmpv6::Message::from(t).is_error())
    };
    if upper == IpProtocol::ICMPV6 && with_transport && quotes_error() {
        return Err(R::IcmpErrorInError);
    }
    let (s6, d6) = (ip.src_addr(), ip.dst_addr());
    // §5.3: as in `inner_v4_to_v6`.
    if validity::ipv6_header_refused(s6.into(), d6.into()) {
        return Err(R::IcmpInnerBadAddress);
    }
    let payload = if with_transport { l4 } else { &[] };
    let (s4, d4, rewrite) = m.inner_v6(t, s6, d6, upper, payload)?;
    if validity::ipv4_header_refused(s4.into(), d4.into()) {
        return Err(R::IcmpInnerBadAddress);
    }
    let proto4 = protocol_for(upper);
    let claimed = ip.total_len().saturating_sub(chain.upper_off);
    let total4 = ipv4::HEADER_LEN + claimed;
    let (ident, df, mf, off) = match chain.frag {
        Some(f) => (f.ident as u16, false, f.more, f.offset),
        None if total4 <= DF_THRESHOLD => (ipv4_ident(s4, d4, proto4, l4), false, false, 0),
        None => (0, true, false, 0),
    };
    if dst.len() < ipv4::HEADER_LEN {
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
    let n = l4.len().min(dst.len() - ipv4::HEADER_LEN);
    let body = &mut dst[ipv4::HEADER_LEN..ipv4::HEADER_LEN + n];
    body.copy_from_slice(&l4[..n]);
    if with_transport {
        if let Some(rw) = rewrite {
            rw.apply(body);
        }
        if upper == IpProtocol::ICMPV6 {
            if !chain.is_fragment() {
                let pseudo6 = checksum::pseudo_v6(s6, d6, IpProtocol::ICMPV6, claimed as u32);
                icmp::echo_v6_to_v4(body, pseudo6);
            }
        } else {
            fix_l4_checksum(body, upper, addr_sum_v6(s6, d6), addr_sum_v4(s4, d4));
        }
    }
    Ok((ipv4::HEADER_LEN + n, chain.frag.is_some(), s4, d4))
}
