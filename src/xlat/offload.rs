//! Packets with TUN offload metadata (virtio_net_hdr, IFF_VNET_HDR): partial checksums
//! (NEEDS_CSUM) and GSO super-packets (TCPV4, TCPV6, UDP_L4).
//!
//! The payload is never read. Both kinds reuse the plain translator for every RFC 7915
//! decision and then repair what differs:
//! - A partial checksum field holds the *uncomplemented* pseudo-header sum; the kernel
//!   adds the transport header and payload later. Linux puts the full transport length
//!   in it (`__tcp_v4_send_check`, `udp4_hwcsum` use `skb->len`), NIC drivers use 0;
//!   TCP/UDP lengths and protocol numbers are the same in IPv4 and IPv6, so either way
//!   only the address part changes: P' = P − old addresses + new addresses. The plain
//!   translator's incremental update of that field (and its MSS-clamp update) is
//!   overwritten with P', so clamping needs no special case.
//! - A super-packet is translated as its first segment: the IP length field and buffer
//!   bounds are cut to one segment (headers + gso_size) before the plain translator
//!   runs, so every size check (Packet Too Big, Fragmentation Needed, lowest-ipv6-mtu,
//!   the 1260-byte DF rule) and every ICMP error applies to a segment, exactly as if the
//!   segments had arrived one by one. Afterwards the length field and the frame are
//!   stretched back over the whole payload.
//!
//! Choices:
//! - TCP IPv4→IPv6 lowers gso_size by 20 so segments keep their size. With DF=0 it is
//!   lowered further to fit min(lowest-ipv6-mtu, mtu): TCP may re-segment freely, and
//!   smaller segments beat IPv6 fragments.
//! - UDP keeps gso_size (segments are datagrams). A UDP super-packet whose datagrams
//!   would need fragmenting cannot be described by one header: the caller asks
//!   [`udp_needs_split`] first and then translates the datagrams one by one
//!   ([`udp_datagram`], the kernel's segmentation in software), each fragmented per
//!   RFC 7915. Reaching this module anyway, it is dropped
//!   (`offload_needs_fragmentation`). With DF=1 the per-datagram Fragmentation
//!   Needed/Packet Too Big is sent.
//! - IPv6→IPv4 segments follow the plain 1260-byte rule: DF=1 and ID 0 above it,
//!   DF=0 and the hashed ID below, decided on the first (full) segment; the kernel then
//!   numbers segments ID, ID+1, ... A short last segment therefore keeps DF=1 where on
//!   its own it would get DF=0 (one header serves all segments).
//! - hdr_len moves with the header size change (clamped to the packet); other flags
//!   (DATA_VALID) are not carried over.
//! - A partial checksum the fast path cannot carry over (not TCP/UDP, csum_start not at
//!   the transport header, an IPv4/IPv6 fragment) is completed in software first, as the
//!   kernel's `skb_checksum_help` would, and the packet is translated plainly.
//! - Fragments and ICMP errors are always emitted with full checksums and
//!   [`Offload::NONE`]. An ICMP error quoting a NEEDS_CSUM packet quotes its partial
//!   checksum, and one about a UDP super-packet quotes the super-packet's UDP Length
//!   (only the IP length is cut to the first segment); receivers match quoted packets
//!   by addresses and ports.
//! - GSO without NEEDS_CSUM, UFO (gso_type UDP) and unknown types are dropped
//!   (`offload_unsupported`).

use crate::wire::buf::PacketBuf;
use crate::wire::checksum;
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::ipv6ext;
use crate::wire::tcp;
use crate::wire::udp::{self, UdpPacket};
use crate::wire::vnet::{FLAG_NEEDS_CSUM, Offload, gso};
use crate::wire::{field16_mut, try_be16, try_put16};

use super::common::{DF_THRESHOLD, HEADER_GROWTH};
use super::{DropReason, Output, Translator, Verdict};

use DropReason as R;

/// Entry point behind [`Translator::translate_offload`] (and the NAT64 equivalent) for
/// anything but `Offload::NONE`. `plain` translates a packet without offload metadata:
/// SIIT's or NAT64's translator, so that both get every rule here; `t` gives the
/// settings (MTUs) segment sizes depend on.
pub(super) fn translate<F: FnMut(&mut PacketBuf, &mut Output) -> Verdict>(
    t: &Translator,
    pkt: &mut PacketBuf,
    off: Offload,
    out: &mut Output,
    mut plain: F,
) -> Verdict {
    let needs_csum = off.flags & FLAG_NEEDS_CSUM != 0;
    let kind = off.gso_type & !gso::ECN;
    if kind == gso::NONE {
        return if needs_csum {
            partial(pkt, off, out, &mut plain)
        } else {
            plain(pkt, out)
        };
    }
    out.clear();
    if !needs_csum {
        return Verdict::Drop(R::OffloadUnsupported);
    }
    super_packet(t, pkt, off, kind, out, &mut plain)
}

/// Where an input packet's transport header is, as far as offloads care.
struct Located {
    v4: bool,
    /// Transport header offset from the packet start.
    l4_off: usize,
    /// IP length (bytes past it are link padding).
    total: usize,
    proto: IpProtocol,
    fragment: bool,
    dont_frag: bool,
    /// Sum of the pseudo-header addresses.
    addr_sum: u16,
}

fn locate(d: &[u8]) -> Option<Located> {
    match d.first()? >> 4 {
        4 => {
            let ip = Ipv4Packet::new_checked(d).ok()?;
            Some(Located {
                v4: true,
                l4_off: ip.header_len(),
                total: usize::from(ip.total_len()),
                proto: ip.protocol(),
                fragment: ip.is_fragment(),
                dont_frag: ip.dont_frag(),
                addr_sum: addr_sum(d)?,
            })
        }
        6 => {
            let ip = Ipv6Packet::new_checked(d).ok()?;
            let total = ip.total_len();
            let (l4_off, proto, fragment) = match ip.next_header() {
                p @ (IpProtocol::TCP | IpProtocol::UDP) => (ipv6::HEADER_LEN, p, false),
                _ => {
                    let c = ipv6ext::walk(d.get(..total)?).ok()?;
                    (c.upper_off, c.upper_proto, c.is_fragment())
                }
            };
            Some(Located {
                v4: false,
                l4_off,
                total,
                proto,
                fragment,
                dont_frag: true,
                addr_sum: addr_sum(d)?,
            })
        }
        _ => None,
    }
}

/// Sum of the source and destination addresses of the IP header at the start of `hdr`.
fn addr_sum(hdr: &[u8]) -> Option<u16> {
    let addrs = match hdr.first()? >> 4 {
        4 => hdr.get(ipv4::field::SRC.start..ipv4::field::DST.end)?,
        6 => hdr.get(ipv6::field::SRC.start..ipv6::field::DST.end)?,
        _ => return None,
    };
    Some(checksum::ones_sum(addrs))
}

/// Offset of the checksum field in a TCP or UDP header, and the minimum header size.
fn csum_field(proto: IpProtocol) -> Option<(usize, usize)> {
    match proto {
        IpProtocol::TCP => Some((tcp::field::CHECKSUM.start, tcp::HEADER_LEN)),
        IpProtocol::UDP => Some((udp::field::CHECKSUM.start, udp::HEADER_LEN)),
        _ => None,
    }
}

/// Length of the TCP header at `at` in `b` by its data offset; 0 if that byte is not in
/// `b` (the rest of the header need not be: callers compare the length with theirs).
fn tcp_header_len(b: &[u8], at: usize) -> usize {
    b.get(at + tcp::field::DATA_OFF)
        .map_or(0, |&o| usize::from(o >> 4) * 4)
}

/// The input, if `off` describes a TCP/UDP checksum at its transport header that a
/// pseudo-header update can carry over.
fn matching(d: &[u8], off: &Offload) -> Option<Located> {
    let loc = locate(d)?;
    let (field, min) = csum_field(loc.proto)?;
    let ok = !loc.fragment
        && usize::from(off.csum_start) == loc.l4_off
        && usize::from(off.csum_offset) == field
        && loc.total >= loc.l4_off + min;
    ok.then_some(loc)
}

/// Reads the partial sum at raw offset `at`. A sum of 0 is stored as 0xffff (the same
/// one's-complement value), so the plain translator's "UDP checksum 0 means none" rules
/// never fire on it.
fn take_partial(pkt: &mut PacketBuf, at: usize) -> u16 {
    let Some(f) = field16_mut(pkt.raw_mut(), at) else {
        return 0xffff;
    };
    let p = match u16::from_be_bytes(*f) {
        0 => 0xffff,
        p => p,
    };
    *f = p.to_be_bytes();
    p
}

/// The one zero-copy frame the plain translator emitted for a forwarded packet, if
/// that is what `out` holds and its body contains raw offsets `from..to`.
fn single_body(out: &Output, from: usize, to: usize) -> Option<(usize, usize)> {
    match out.frames() {
        [f] if f.head_range().is_empty() && f.body_range().start <= from => {
            let r = f.body_range();
            (to <= r.end).then_some((r.start, r.end))
        }
        _ => None,
    }
}

/// New `hdr_len`: moved by the header size change, kept inside the packet.
fn moved_hdr_len(hdr_len: u16, delta: isize, len: usize) -> u16 {
    let v = (hdr_len as isize).saturating_add(delta);
    v.clamp(0, len.min(0xffff) as isize) as u16
}

/// NEEDS_CSUM without GSO.
fn partial<F: FnMut(&mut PacketBuf, &mut Output) -> Verdict>(
    pkt: &mut PacketBuf,
    off: Offload,
    out: &mut Output,
    plain: &mut F,
) -> Verdict {
    let Some(loc) = matching(pkt.data(), &off) else {
        return complete_then_translate(pkt, off, out, plain);
    };
    let l4_at = pkt.start() + loc.l4_off;
    let field = l4_at + usize::from(off.csum_offset);
    let p = take_partial(pkt, field);
    let v = plain(pkt, out);
    if matches!(v, Verdict::Drop(_)) {
        return v;
    }
    if let Some((start, end)) = single_body(out, l4_at, field + 2) {
        let raw = pkt.raw_mut();
        let Some(new_sum) = raw.get(start..).and_then(addr_sum) else {
            out.clear();
            return Verdict::Drop(R::OffloadUnsupported);
        };
        try_put16(raw, field, checksum::update(p, new_sum, loc.addr_sum));
        let csum_start = l4_at - start;
        let delta = csum_start as isize - loc.l4_off as isize;
        out.set_last_offload(Offload {
            flags: FLAG_NEEDS_CSUM,
            gso_type: gso::NONE,
            hdr_len: moved_hdr_len(off.hdr_len, delta, end - start),
            gso_size: 0,
            csum_start: csum_start as u16,
            csum_offset: off.csum_offset,
        });
        return v;
    }
    // Fragmented: the first fragment carries the transport header, which must now hold
    // the complete checksum over the whole datagram (all fragments' bodies).
    if finish_fragmented(pkt, out, l4_at, field, p, loc.addr_sum, loc.proto) {
        v
    } else {
        out.clear();
        Verdict::Drop(R::OffloadUnsupported)
    }
}

/// Completes the checksum of a fragmented translation whose transport header is at raw
/// offset `l4_at` (fragment bodies are contiguous slices of the untouched payload).
fn finish_fragmented(
    pkt: &mut PacketBuf,
    out: &Output,
    l4_at: usize,
    field: usize,
    p: u16,
    old_sum: u16,
    proto: IpProtocol,
) -> bool {
    let Some(first) = out.frames().first() else {
        return false;
    };
    let hdr = if first.head_range().is_empty() {
        pkt.raw().get(first.body_range())
    } else {
        out.scratch().get(first.head_range())
    };
    let Some(new_sum) = hdr.and_then(addr_sum) else {
        return false;
    };
    let end = out.frames().iter().map(|f| f.body_range().end).max();
    let raw = pkt.raw_mut();
    let Some(l4) = end.and_then(|e| raw.get_mut(l4_at..e)) else {
        return false;
    };
    let at = field - l4_at;
    if at + 2 > l4.len() {
        return false;
    }
    try_put16(l4, at, checksum::update(p, new_sum, old_sum));
    let c = match !checksum::ones_sum(l4) {
        0 if proto == IpProtocol::UDP => 0xffff,
        c => c,
    };
    try_put16(l4, at, c);
    true
}

/// A partial checksum the fast path cannot carry over: complete it as the kernel would
/// (sum from csum_start to the end, stored at csum_start + csum_offset), then translate
/// the packet as a plain one. Touches the payload; only odd packets come here.
fn complete_then_translate<F: FnMut(&mut PacketBuf, &mut Output) -> Verdict>(
    pkt: &mut PacketBuf,
    off: Offload,
    out: &mut Output,
    plain: &mut F,
) -> Verdict {
    let d = pkt.data_mut();
    let v6_payload = try_be16(d, ipv6::field::PAYLOAD_LEN.start);
    let ip_len = match d.first().map(|b| b >> 4) {
        Some(4) => try_be16(d, ipv4::field::LENGTH.start).map(usize::from),
        Some(6) => v6_payload.map(|p| ipv6::HEADER_LEN + usize::from(p)),
        _ => None,
    };
    let end = ip_len.unwrap_or(d.len()).min(d.len());
    let start = usize::from(off.csum_start);
    let at = start + usize::from(off.csum_offset);
    if at + 2 > end {
        out.clear();
        return Verdict::Drop(R::OffloadUnsupported);
    }
    let c = match !checksum::ones_sum(&d[start..end]) {
        0 => 0xffff,
        c => c,
    };
    try_put16(d, at, c);
    plain(pkt, out)
}

/// GSO super-packet (NEEDS_CSUM set, `kind` without the ECN bit).
fn super_packet<F: FnMut(&mut PacketBuf, &mut Output) -> Verdict>(
    t: &Translator,
    pkt: &mut PacketBuf,
    off: Offload,
    kind: u8,
    out: &mut Output,
    plain: &mut F,
) -> Verdict {
    let Some(loc) = matching(pkt.data(), &off) else {
        return routing_header_refused(pkt, off, out, plain);
    };
    let tcp = match (kind, loc.proto, loc.v4) {
        (gso::TCPV4, IpProtocol::TCP, true) | (gso::TCPV6, IpProtocol::TCP, false) => true,
        (gso::UDP_L4, IpProtocol::UDP, _) => false,
        _ => return Verdict::Drop(R::OffloadUnsupported),
    };
    let start = pkt.start();
    let l4_at = start + loc.l4_off;
    let l4len = loc.total - loc.l4_off;
    let th = if tcp {
        tcp_header_len(pkt.raw(), l4_at)
    } else {
        udp::HEADER_LEN
    };
    if (tcp && th < tcp::HEADER_LEN) || th > l4len {
        return Verdict::Drop(R::TransportTruncated);
    }
    let gso_size = match segment_size(t, &loc, tcp, th, off.gso_size) {
        Ok(g) => g,
        Err(r) => return Verdict::Drop(r),
    };
    let seg_len = loc.l4_off + th + (l4len - th).min(usize::from(gso_size));
    cut_to(pkt, &loc, seg_len);
    let field = l4_at + usize::from(off.csum_offset);
    let p = take_partial(pkt, field);

    let v = plain(pkt, out);
    if matches!(v, Verdict::Drop(_)) {
        return v;
    }
    let Some((new_start, _)) = single_body(out, l4_at, start + seg_len) else {
        // The segment was fragmented (UDP with DF=0, or an MTU below 1260).
        out.clear();
        return Verdict::Drop(R::OffloadNeedsFragmentation);
    };
    let csum_start = l4_at - new_start;
    let new_len = csum_start + l4len;
    let end = start + loc.total;
    let raw = pkt.raw_mut();
    let Some(new_sum) = raw.get(new_start..).and_then(addr_sum) else {
        out.clear();
        return Verdict::Drop(R::OffloadUnsupported);
    };
    let v6_out = raw.get(new_start).is_some_and(|b| b >> 4 == 6);
    if !stretch(&mut raw[new_start..], v6_out, new_len) {
        out.clear();
        return Verdict::Drop(R::OffloadTooLong);
    }
    try_put16(raw, field, checksum::update(p, new_sum, loc.addr_sum));
    out.set_last_body_end(end);
    pkt.set_bounds(new_start, end);
    let gso_type = match (tcp, v6_out) {
        (true, true) => gso::TCPV6 | (off.gso_type & gso::ECN),
        (true, false) => gso::TCPV4 | (off.gso_type & gso::ECN),
        (false, _) => off.gso_type,
    };
    let delta = csum_start as isize - loc.l4_off as isize;
    out.set_last_offload(Offload {
        flags: FLAG_NEEDS_CSUM,
        gso_type,
        hdr_len: moved_hdr_len(off.hdr_len, delta, new_len),
        gso_size,
        csum_start: csum_start as u16,
        csum_offset: off.csum_offset,
    });
    v
}

/// A super-packet `matching` turned down. If its IPv6 Routing header has Segments
/// Left ≠ 0, every segment on its own gets the RFC 7915 §5.1 Parameter Problem, so the
/// first segment (csum_start + transport header + gso_size) gets it here; anything
/// else is `offload_unsupported`.
fn routing_header_refused<F: FnMut(&mut PacketBuf, &mut Output) -> Verdict>(
    pkt: &mut PacketBuf,
    off: Offload,
    out: &mut Output,
    plain: &mut F,
) -> Verdict {
    let d = pkt.data_mut();
    let payload_len = try_be16(d, ipv6::field::PAYLOAD_LEN.start).unwrap_or(0);
    let total = ipv6::HEADER_LEN + usize::from(payload_len);
    let refused = d.first().is_some_and(|b| b >> 4 == 6)
        && d.get(..total).is_some_and(|p| {
            matches!(
                ipv6ext::walk(p),
                Err(ipv6ext::ChainError::SegmentsLeft { .. })
            )
        });
    let l4 = usize::from(off.csum_start);
    let th = match off.gso_type & !gso::ECN {
        gso::TCPV6 => tcp_header_len(d, l4),
        _ => udp::HEADER_LEN,
    };
    if !refused || off.gso_size == 0 || l4 < ipv6::HEADER_LEN || l4 + th > total {
        return Verdict::Drop(R::OffloadUnsupported);
    }
    let seg_len = total.min(l4 + th + usize::from(off.gso_size));
    let seg_payload = (seg_len - ipv6::HEADER_LEN) as u16;
    try_put16(d, ipv6::field::PAYLOAD_LEN.start, seg_payload);
    let start = pkt.start();
    pkt.set_bounds(start, start + seg_len);
    match plain(pkt, out) {
        v @ Verdict::Drop(_) => v,
        _ => {
            out.clear();
            Verdict::Drop(R::OffloadUnsupported)
        }
    }
}

/// Payload bytes per output segment. TCP from IPv4 (the output is IPv6: the header
/// grows by 20) gives the growth back; with DF=0 the segments must also fit
/// min(lowest-ipv6-mtu, mtu), which TCP can do without fragments.
fn segment_size(
    t: &Translator,
    loc: &Located,
    tcp: bool,
    th: usize,
    gso_size: u16,
) -> Result<u16, DropReason> {
    if gso_size == 0 {
        return Err(R::OffloadUnsupported);
    }
    if !tcp || !loc.v4 {
        return Ok(gso_size);
    }
    let mut g = usize::from(gso_size).saturating_sub(HEADER_GROWTH);
    if !loc.dont_frag {
        let limit = usize::from(t.cfg.lowest_ipv6_mtu.min(t.cfg.mtu));
        g = g.min(limit.saturating_sub(ipv6::HEADER_LEN + th));
    }
    if g == 0 {
        return Err(R::OffloadNeedsFragmentation);
    }
    Ok(g as u16)
}

/// Makes the packet look like its first segment: IP length field (IPv4 header checksum
/// updated incrementally, so a bad one stays bad) and buffer bounds.
fn cut_to(pkt: &mut PacketBuf, loc: &Located, seg_len: usize) {
    let start = pkt.start();
    let d = pkt.data_mut();
    if loc.v4 {
        use ipv4::field::{CHECKSUM, LENGTH};
        let old = try_be16(d, LENGTH.start).unwrap_or(0);
        let new = seg_len as u16;
        try_put16(d, LENGTH.start, new);
        let cs = try_be16(d, CHECKSUM.start).unwrap_or(0);
        try_put16(d, CHECKSUM.start, checksum::update(cs, old, new));
    } else {
        let payload_len = (seg_len - ipv6::HEADER_LEN) as u16;
        try_put16(d, ipv6::field::PAYLOAD_LEN.start, payload_len);
    }
    pkt.set_bounds(start, start + seg_len);
}

/// Sets the translated header's length field for the whole super-packet (`len` bytes
/// from the header start); false if it does not fit the field.
fn stretch(hdr: &mut [u8], v6: bool, len: usize) -> bool {
    if v6 {
        let Some(p) = len.checked_sub(ipv6::HEADER_LEN).filter(|&p| p <= 0xffff) else {
            return false;
        };
        try_put16(hdr, ipv6::field::PAYLOAD_LEN.start, p as u16);
        return true;
    }
    if len > 0xffff {
        return false;
    }
    let Ok(mut ip) = Ipv4Packet::new_checked_header(hdr) else {
        return false;
    };
    ip.set_total_len(len as u16);
    ip.fill_checksum();
    true
}

/// True if `pkt`, a UDP super-packet (UDP_L4 with NEEDS_CSUM), carries datagrams that
/// RFC 7915 fragments once translated: DF=0 IPv4 datagrams above lowest-ipv6-mtu (§4.1),
/// or IPv6 datagrams that become DF=0 IPv4 (1260 bytes or less) above the MTU (§5.1).
/// One header cannot describe fragments, so the caller splits such a packet with
/// [`udp_datagram`] and translates each datagram plainly. (Datagrams that would be
/// answered with Packet Too Big / Fragmentation Needed need no split: the error for the
/// first one is what the sender gets either way.)
pub(super) fn udp_needs_split(t: &Translator, pkt: &[u8], off: Offload) -> bool {
    if off.gso_type & !gso::ECN != gso::UDP_L4 || off.flags & FLAG_NEEDS_CSUM == 0 {
        return false;
    }
    let Some(loc) = matching(pkt, &off) else {
        return false;
    };
    let l4 = (udp::HEADER_LEN + usize::from(off.gso_size)).min(loc.total - loc.l4_off);
    let mtu = usize::from(t.cfg.mtu);
    if loc.v4 {
        let limit = usize::from(t.cfg.lowest_ipv6_mtu).min(mtu);
        !loc.dont_frag && ipv6::HEADER_LEN + l4 > limit
    } else {
        let total4 = ipv4::HEADER_LEN + l4;
        total4 <= DF_THRESHOLD && total4 > mtu
    }
}

/// Writes datagram `i` of the UDP super-packet `pkt` into `dst` as a packet of its own,
/// as the kernel's segmentation would: its IP and UDP lengths, IPv4 Identification + i
/// (header checksum recomputed), and the full UDP checksum. False past the last datagram
/// or if `pkt` is not a UDP super-packet `off` describes. Reads the payload: the slow
/// path for super-packets that must be fragmented.
pub(super) fn udp_datagram(pkt: &[u8], off: Offload, i: usize, dst: &mut PacketBuf) -> bool {
    let Some(loc) = matching(pkt, &off).filter(|l| l.proto == IpProtocol::UDP) else {
        return false;
    };
    let g = usize::from(off.gso_size).max(1);
    let payload = loc.total - loc.l4_off - udp::HEADER_LEN;
    let from = i.saturating_mul(g);
    if from >= payload.max(1) {
        return false;
    }
    let to = (from + g).min(payload);
    let head = loc.l4_off + udp::HEADER_LEN;
    let len = head + (to - from);
    let (Some(hdr), Some(chunk)) = (pkt.get(..head), pkt.get(head + from..head + to)) else {
        return false;
    };
    let area = dst.receive_area();
    let Some(d) = area.get_mut(..len) else {
        return false;
    };
    d[..head].copy_from_slice(hdr);
    d[head..].copy_from_slice(chunk);
    let ulen = (len - loc.l4_off) as u16;
    let pseudo = if loc.v4 {
        let Ok(mut ip) = Ipv4Packet::new_checked_header(&mut *d) else {
            return false;
        };
        ip.set_total_len(len as u16);
        ip.set_ident(ip.ident().wrapping_add(i as u16));
        ip.fill_checksum();
        checksum::pseudo_v4(ip.src_addr(), ip.dst_addr(), IpProtocol::UDP, ulen)
    } else {
        let Ok(mut ip) = Ipv6Packet::new_checked_header(&mut *d) else {
            return false;
        };
        ip.set_payload_len((len - ipv6::HEADER_LEN) as u16);
        checksum::pseudo_v6(ip.src_addr(), ip.dst_addr(), IpProtocol::UDP, ulen.into())
    };
    let Ok(mut udp) = UdpPacket::new_checked(&mut d[loc.l4_off..]) else {
        return false;
    };
    udp.set_len(ulen);
    udp.fill_checksum(pseudo);
    dst.set_received(len);
    true
}
