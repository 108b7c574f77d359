//! TUN offloads: partial checksums (virtio spec §5.1.6.2 NEEDS_CSUM), GSO super-packets
//! (TCPV4/TCPV6/UDP_L4) and MSS clamping (RFC 9293 §3.7.1).
//!
//! Inputs are built by hand; partial sums are the pseudo-header sums Linux writes
//! (RFC 793/768/8200 §8.1 pseudo-headers, with the transport length or with 0). The
//! property test checks that "a super-packet translated whole equals its segments
//! translated one by one" with the software GSO and comparison of `selfcheck` (shared
//! with the `offload_segments` fuzz target).

use proptest::prelude::*;

use super::*;
use crate::wire::vnet::{FLAG_NEEDS_CSUM, Offload, gso};
use crate::xlat::DropReason;
use crate::xlat::selfcheck::{PartialLen, check_gso_equivalence, soft_gso};

const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

fn tcp_hdr(seq: u32, flags: u8, opts: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&40000u16.to_be_bytes());
    t[2..4].copy_from_slice(&443u16.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&7u32.to_be_bytes());
    t[12] = (((20 + opts.len()) / 4) as u8) << 4;
    t[13] = flags;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t.extend_from_slice(opts);
    t
}

fn udp_hdr() -> Vec<u8> {
    let mut u = vec![0u8; 8];
    u[0..2].copy_from_slice(&40000u16.to_be_bytes());
    u[2..4].copy_from_slice(&443u16.to_be_bytes());
    u
}

fn payload(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn csum_at(proto: u8) -> usize {
    if proto == 6 { 16 } else { 6 }
}

/// Transport bytes with the UDP length set and the partial sum in the checksum field.
fn finish_l4(mut l4: Vec<u8>, proto: u8, pseudo: impl Fn(u32) -> u16, pl: PartialLen) -> Vec<u8> {
    let n = l4.len();
    if proto == 17 {
        l4[4..6].copy_from_slice(&(n as u16).to_be_bytes());
    }
    let len = match pl {
        PartialLen::Zero => 0,
        PartialLen::Full => n as u32,
    };
    let at = csum_at(proto);
    l4[at..at + 2].copy_from_slice(&pseudo(len).to_be_bytes());
    l4
}

fn ip6(tc: u8, hop: u8, nh: u8, src: [u8; 16], dst: [u8; 16], rest: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60 | (tc >> 4), tc << 4, 0, 0];
    v.extend_from_slice(&(rest.len() as u16).to_be_bytes());
    v.extend_from_slice(&[nh, hop]);
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
    v.extend_from_slice(rest);
    v
}

fn ip4(tos: u8, ttl: u8, proto: u8, id: u16, df: bool, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![0x45, tos];
    v.extend_from_slice(&((20 + rest.len()) as u16).to_be_bytes());
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&[if df { 0x40 } else { 0 }, 0, ttl, proto, 0, 0]);
    v.extend_from_slice(&SERVER4);
    v.extend_from_slice(&CLIENT4);
    v.extend_from_slice(rest);
    fix_v4_checksum(&mut v);
    v
}

/// IPv6 CLIENT6 → SERVER6 carrying `l4hdr` + `data` with a partial checksum.
fn partial6(tc: u8, hop: u8, proto: u8, l4hdr: Vec<u8>, data: &[u8], pl: PartialLen) -> Vec<u8> {
    let mut l4 = l4hdr;
    l4.extend_from_slice(data);
    let l4 = finish_l4(
        l4,
        proto,
        |n| checksum::pseudo_v6(CLIENT6, SERVER6, IpProtocol(proto), n),
        pl,
    );
    ip6(tc, hop, proto, CLIENT6, SERVER6, &l4)
}

/// IPv4 SERVER4 → CLIENT4 carrying `l4hdr` + `data` with a partial checksum.
#[allow(clippy::too_many_arguments)]
fn partial4(
    tos: u8,
    ttl: u8,
    proto: u8,
    id: u16,
    df: bool,
    l4hdr: Vec<u8>,
    data: &[u8],
    pl: PartialLen,
) -> Vec<u8> {
    let mut l4 = l4hdr;
    l4.extend_from_slice(data);
    let l4 = finish_l4(
        l4,
        proto,
        |n| checksum::pseudo_v4(SERVER4, CLIENT4, IpProtocol(proto), n as u16),
        pl,
    );
    ip4(tos, ttl, proto, id, df, &l4)
}

fn vnet(gso_type: u8, l4_off: usize, th: usize, gso_size: usize, proto: u8) -> Offload {
    Offload {
        flags: FLAG_NEEDS_CSUM,
        gso_type,
        hdr_len: (l4_off + th) as u16,
        gso_size: gso_size as u16,
        csum_start: l4_off as u16,
        csum_offset: csum_at(proto) as u16,
    }
}

struct OffRun {
    verdict: Verdict,
    frames: Vec<Vec<u8>>,
    offloads: Vec<Offload>,
}

fn run_off(t: &Translator, input: &[u8], off: Offload) -> OffRun {
    let mut pkt = PacketBuf::from_packet(input);
    let mut out = Output::new();
    let verdict = t.translate_offload(&mut pkt, off, &mut out, 0);
    OffRun {
        verdict,
        frames: (0..out.frames().len())
            .map(|i| out.frame_bytes(i, &pkt))
            .collect(),
        offloads: out.frames().iter().map(|f| f.offload).collect(),
    }
}

fn field(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[at], f[at + 1]])
}

/// Completes a partial checksum the way the kernel does (sum from csum_start, stored
/// complemented at csum_start + csum_offset), for packets without GSO.
fn complete(mut f: Vec<u8>, off: &Offload) -> Vec<u8> {
    let s = usize::from(off.csum_start);
    let at = s + usize::from(off.csum_offset);
    let c = match !checksum::ones_sum(&f[s..]) {
        0 => 0xffff,
        c => c,
    };
    f[at..at + 2].copy_from_slice(&c.to_be_bytes());
    f
}

// ---------------------------------------------------------------------------------
// NEEDS_CSUM without GSO.

// virtio §5.1.6.2 partial checksum, RFC 7915 §5.5: TCP from IPv6, partial sum with the
// full length (as Linux writes it): the new partial sum is the IPv4 pseudo-header sum,
// csum_start moves back by 20, and completing it gives a valid RFC 793 checksum.
#[test]
fn rfc7915_s5_5_needs_csum_tcp_v6_to_v4() {
    let data = payload(1000, 1);
    let input = partial6(
        0,
        64,
        6,
        tcp_hdr(1, ACK | PSH, &[]),
        &data,
        PartialLen::Full,
    );
    let off = vnet(gso::NONE, 40, 20, 0, 6);
    let r = run_off(&test_translator(), &input, off);
    assert_eq!(r.verdict, Verdict::V6ToV4);
    let f = &r.frames[0];
    let o = r.offloads[0];
    assert_eq!((o.flags, o.gso_type), (FLAG_NEEDS_CSUM, gso::NONE));
    assert_eq!((o.csum_start, o.csum_offset, o.hdr_len), (20, 16, 40));
    assert_eq!(
        field(f, 36),
        checksum::pseudo_v4(CLIENT4, SERVER4, IpProtocol(6), 1020)
    );
    check_emitted(&complete(f.clone(), &o)).unwrap();
    // The payload is exactly what came in (nothing summed into it).
    assert_eq!(&f[40..], &data[..]);
}

// RFC 7915 §4.5: UDP from IPv4 with a partial sum of 0 (stored as 0xffff, the same
// one's-complement value), which must not be mistaken for "no checksum".
#[test]
fn rfc7915_s4_5_needs_csum_udp_v4_to_v6_and_zero_sum() {
    let data = payload(300, 2);
    let input = partial4(0, 64, 17, 9, true, udp_hdr(), &data, PartialLen::Full);
    let off = vnet(gso::NONE, 20, 8, 0, 17);
    let r = run_off(&test_translator(), &input, off);
    assert_eq!(r.verdict, Verdict::V4ToV6);
    let o = r.offloads[0];
    assert_eq!((o.csum_start, o.csum_offset, o.hdr_len), (40, 6, 48));
    assert_eq!(
        field(&r.frames[0], 46),
        checksum::pseudo_v6(SERVER6, CLIENT6, IpProtocol(17), 308)
    );
    check_emitted(&complete(r.frames[0].clone(), &o)).unwrap();
    // Partial sum 0: translated like 0xffff.
    let mut z = input.clone();
    z[26..28].copy_from_slice(&[0, 0]);
    let r = run_off(&test_translator(), &z, off);
    assert_eq!(r.verdict, Verdict::V4ToV6);
}

// RFC 7915 §5.1: extension headers are skipped; csum_start moves by 20 + their length
// (here an 8-byte Destination Options header) and hdr_len with it.
#[test]
fn rfc7915_s5_1_needs_csum_with_extension_header() {
    let data = payload(200, 3);
    let plain = partial6(0, 64, 6, tcp_hdr(5, ACK, &[]), &data, PartialLen::Full);
    let input = insert_ext(&plain, 60, &[6, 0, 1, 4, 0, 0, 0, 0]);
    let off = vnet(gso::NONE, 48, 20, 0, 6);
    let r = run_off(&test_translator(), &input, off);
    assert_eq!(r.verdict, Verdict::V6ToV4);
    let o = r.offloads[0];
    assert_eq!((o.csum_start, o.hdr_len), (20, 40));
    check_emitted(&complete(r.frames[0].clone(), &o)).unwrap();
}

// RFC 7915 §5.1: a Routing header with Segments Left ≠ 0 is not translated and gets an
// ICMPv6 Parameter Problem (type 4 code 0) pointing at Segments Left. A GSO super-packet
// gets it too, for its first segment (as each segment would on its own), instead of a
// silent offload_unsupported drop.
#[test]
fn rfc7915_s5_1_gso_routing_header_segments_left_parameter_problem() {
    let data = payload(3000, 9);
    let plain = partial6(0, 64, 6, tcp_hdr(5, ACK, &[]), &data, PartialLen::Zero);
    let input = insert_ext(&plain, 43, &[6, 0, 0, 1, 0, 0, 0, 0]);
    let off = vnet(gso::TCPV6, 48, 20, 1000, 6);
    let r = run_off(&test_translator(), &input, off);
    assert_eq!(r.verdict, Verdict::Drop(DropReason::Ipv6RoutingHeader));
    assert_eq!(r.frames.len(), 1);
    let f = &r.frames[0];
    check_emitted(f).unwrap();
    assert_eq!((f[40], f[41]), (4, 0));
    // Pointer: byte 3 of the Routing header, 40 + 3 from the quoted IPv6 header.
    assert_eq!(u32::from_be_bytes([f[44], f[45], f[46], f[47]]), 43);
    // The quote is the first segment: 8 + 20 + 1000 bytes of IPv6 payload.
    assert_eq!(field(f, 48 + 4), 8 + 20 + 1000);
}

// RFC 7915 §4.1: DF=0 and larger than lowest-ipv6-mtu → IPv6 fragments, which carry a
// full checksum (the kernel cannot finish a checksum spread over fragments).
#[test]
fn rfc7915_s4_1_needs_csum_fragments_get_full_checksum() {
    let data = payload(1400, 4);
    let input = partial4(0, 64, 17, 0x4242, false, udp_hdr(), &data, PartialLen::Full);
    let r = run_off(&test_translator(), &input, vnet(gso::NONE, 20, 8, 0, 17));
    assert_eq!(r.verdict, Verdict::V4ToV6);
    assert_eq!(r.frames.len(), 2);
    assert!(r.offloads.iter().all(|o| o.is_none()));
    let mut l4 = Vec::new();
    for f in &r.frames {
        check_lengths_ok(f);
        l4.extend_from_slice(&f[48..]);
    }
    let ph = checksum::pseudo_v6(SERVER6, CLIENT6, IpProtocol(17), l4.len() as u32);
    assert_eq!(checksum::add(ph, checksum::ones_sum(&l4)), 0xffff);
}

fn check_lengths_ok(f: &[u8]) {
    crate::xlat::selfcheck::check_lengths(f).unwrap();
}

// RFC 7915 §4.2 echo with a partial checksum (csum_start at the ICMP header): completed
// in software, then translated as a plain packet.
#[test]
fn rfc7915_s4_2_needs_csum_icmp_completed_in_software() {
    let mut input = echo4(SERVER4, CLIENT4, 64, &payload(56, 5));
    input[22..24].copy_from_slice(&[0, 0]);
    let off = Offload {
        flags: FLAG_NEEDS_CSUM,
        csum_start: 20,
        csum_offset: 2,
        ..Offload::NONE
    };
    let r = run_off(&test_translator(), &input, off);
    assert_eq!(r.verdict, Verdict::V4ToV6);
    assert!(r.offloads[0].is_none());
    check_emitted(&r.frames[0]).unwrap();
}

// ---------------------------------------------------------------------------------
// GSO super-packets.

// RFC 7915 §5.1 on a TCPv6 GSO super-packet of 10 × 1440 bytes: one IPv4 header for the
// whole, DF=1 and ID 0 (segments are 1480 > 1260 bytes), TCPV4, gso_size kept,
// csum_start 20, partial sum = IPv4 pseudo-header sum with length 0.
#[test]
fn rfc7915_s5_1_gso_tcpv6_super_packet() {
    let data = payload(14400, 6);
    let input = partial6(0, 64, 6, tcp_hdr(1000, ACK, &[]), &data, PartialLen::Zero);
    let off = vnet(gso::TCPV6, 40, 20, 1440, 6);
    let r = run_off(&test_translator(), &input, off);
    assert_eq!(r.verdict, Verdict::V6ToV4);
    assert_eq!(r.frames.len(), 1);
    let f = &r.frames[0];
    let ip = parse4(f);
    assert_eq!(usize::from(ip.total_len), 20 + 20 + 14400);
    assert_eq!(f.len(), 20 + 20 + 14400);
    assert!(ip.dont_fragment && !ip.more_fragments);
    assert_eq!((ip.identification, ip.time_to_live), (0, 63));
    assert_eq!(checksum::ones_sum(&f[..20]), 0xffff);
    let o = r.offloads[0];
    assert_eq!(
        o,
        Offload {
            flags: FLAG_NEEDS_CSUM,
            gso_type: gso::TCPV4,
            hdr_len: 40,
            gso_size: 1440,
            csum_start: 20,
            csum_offset: 16,
        }
    );
    assert_eq!(
        field(f, 36),
        checksum::pseudo_v4(CLIENT4, SERVER4, IpProtocol(6), 0)
    );
    assert_eq!(&f[40..], &data[..]);
    for s in soft_gso(f, &o, PartialLen::Zero) {
        assert_eq!(s.len(), 1480);
        check_emitted(&s).unwrap();
    }
}

// RFC 7915 §4.1 on a TCPv4 GSO super-packet (ECN): TCPV6 | ECN, gso_size lowered by
// the 20 bytes the header grows, so 1500-byte IPv4 segments stay 1500-byte IPv6
// segments; partial sum = IPv6 pseudo-header sum with length 0.
#[test]
fn rfc7915_s4_1_gso_tcpv4_super_packet_lowers_gso_size() {
    let data = payload(1460 * 8 + 100, 7);
    let input = partial4(
        0,
        64,
        6,
        0,
        true,
        tcp_hdr(9, ACK | PSH, &[]),
        &data,
        PartialLen::Zero,
    );
    let off = vnet(gso::TCPV4 | gso::ECN, 20, 20, 1460, 6);
    let r = run_off(&test_translator(), &input, off);
    assert_eq!(r.verdict, Verdict::V4ToV6);
    let f = &r.frames[0];
    assert_eq!(f.len(), 40 + 20 + data.len());
    check_lengths_ok(f);
    let o = r.offloads[0];
    assert_eq!(o.gso_type, gso::TCPV6 | gso::ECN);
    assert_eq!((o.gso_size, o.csum_start, o.hdr_len), (1440, 40, 60));
    assert_eq!(
        field(f, 56),
        checksum::pseudo_v6(SERVER6, CLIENT6, IpProtocol(6), 0)
    );
    for s in soft_gso(f, &o, PartialLen::Zero) {
        assert!(s.len() <= 1500);
        check_emitted(&s).unwrap();
    }
}

// DF=0 TCP from IPv4: segments are cut to lowest-ipv6-mtu (RFC 7915 §4.1 would
// fragment them; TCP can simply use smaller segments).
#[test]
fn rfc7915_s4_1_gso_tcpv4_df0_fits_lowest_ipv6_mtu() {
    let data = payload(1460 * 3, 8);
    let input = partial4(
        0,
        64,
        6,
        5,
        false,
        tcp_hdr(9, ACK, &[]),
        &data,
        PartialLen::Full,
    );
    let r = run_off(
        &test_translator(),
        &input,
        vnet(gso::TCPV4, 20, 20, 1460, 6),
    );
    assert_eq!(r.verdict, Verdict::V4ToV6);
    let o = r.offloads[0];
    assert_eq!(o.gso_size, 1280 - 60);
    for s in soft_gso(&r.frames[0], &o, PartialLen::Full) {
        assert!(s.len() <= 1280);
        check_emitted(&s).unwrap();
    }
}

// UDP_L4 (USO) both ways: gso_size kept (datagram boundaries), type kept.
#[test]
fn rfc7915_s4_5_s5_5_gso_udp_l4_both_directions() {
    let data = payload(1200 * 5 + 7, 9);
    let input = partial6(0, 64, 17, udp_hdr(), &data, PartialLen::Full);
    let r = run_off(
        &test_translator(),
        &input,
        vnet(gso::UDP_L4, 40, 8, 1200, 17),
    );
    assert_eq!(r.verdict, Verdict::V6ToV4);
    let o = r.offloads[0];
    assert_eq!(
        (o.gso_type, o.gso_size, o.csum_start),
        (gso::UDP_L4, 1200, 20)
    );
    let segs = soft_gso(&r.frames[0], &o, PartialLen::Full);
    assert_eq!(segs.len(), 6);
    segs.iter().for_each(|s| check_emitted(s).unwrap());

    let input = partial4(0, 64, 17, 1, true, udp_hdr(), &data, PartialLen::Zero);
    let r = run_off(
        &test_translator(),
        &input,
        vnet(gso::UDP_L4, 20, 8, 1200, 17),
    );
    assert_eq!(r.verdict, Verdict::V4ToV6);
    let o = r.offloads[0];
    assert_eq!(
        (o.gso_type, o.gso_size, o.csum_start),
        (gso::UDP_L4, 1200, 40)
    );
    for s in soft_gso(&r.frames[0], &o, PartialLen::Zero) {
        check_emitted(&s).unwrap();
    }
}

// Size checks apply to the segment (RFC 7915 §4.1/§5.1 per packet on the wire):
// Packet Too Big / Fragmentation Needed quote the first segment and name the usual MTU;
// UDP with DF=0 that would need IPv6 fragments is dropped with its own reason.
#[test]
fn rfc7915_segment_size_checks() {
    let t = test_translator();
    let input = partial6(
        0,
        64,
        6,
        tcp_hdr(1, ACK, &[]),
        &payload(1480 * 4, 10),
        PartialLen::Zero,
    );
    let r = run_off(&t, &input, vnet(gso::TCPV6, 40, 20, 1480, 6));
    assert_eq!(r.verdict, Verdict::Drop(DropReason::Ipv6PacketTooBig));
    assert_eq!(r.frames.len(), 1);
    assert!(r.offloads[0].is_none());
    let e = &r.frames[0];
    assert_eq!((e[40], field(e, 46)), (2, 1520));
    // ... while the same super-packet with 1440-byte segments is fine.
    let r = run_off(&t, &input, vnet(gso::TCPV6, 40, 20, 1440, 6));
    assert_eq!(r.verdict, Verdict::V6ToV4);

    let input = partial4(
        0,
        64,
        6,
        1,
        true,
        tcp_hdr(1, ACK, &[]),
        &payload(1500 * 3, 11),
        PartialLen::Zero,
    );
    let r = run_off(&t, &input, vnet(gso::TCPV4, 20, 20, 1500, 6));
    assert_eq!(
        r.verdict,
        Verdict::Drop(DropReason::Ipv4FragmentationNeeded)
    );
    assert_eq!((r.frames[0][20], field(&r.frames[0], 26)), (3, 1480));

    let input = partial4(
        0,
        64,
        17,
        1,
        false,
        udp_hdr(),
        &payload(1400 * 3, 12),
        PartialLen::Zero,
    );
    let r = run_off(&t, &input, vnet(gso::UDP_L4, 20, 8, 1400, 17));
    assert_eq!(
        r.verdict,
        Verdict::Drop(DropReason::OffloadNeedsFragmentation)
    );
    assert!(r.frames.is_empty());
}

// A 65535-byte IPv6 payload would make a 65555-byte IPv4 packet (RFC 791 Total Length
// is 16 bits).
#[test]
fn rfc791_gso_super_packet_too_long_for_ipv4() {
    let data = payload(65535 - 20, 13);
    let input = partial6(0, 64, 6, tcp_hdr(1, ACK, &[]), &data, PartialLen::Zero);
    let r = run_off(
        &test_translator(),
        &input,
        vnet(gso::TCPV6, 40, 20, 1440, 6),
    );
    assert_eq!(r.verdict, Verdict::Drop(DropReason::OffloadTooLong));
    assert!(r.frames.is_empty());
}

#[test]
fn gso_metadata_that_does_not_match_is_refused() {
    let t = test_translator();
    let input = partial6(
        0,
        64,
        6,
        tcp_hdr(1, ACK, &[]),
        &payload(3000, 14),
        PartialLen::Zero,
    );
    let unsupported = Verdict::Drop(DropReason::OffloadUnsupported);
    let good = vnet(gso::TCPV6, 40, 20, 1440, 6);
    for bad in [
        Offload { flags: 0, ..good },
        Offload {
            gso_type: gso::TCPV4,
            ..good
        },
        Offload {
            gso_type: gso::UDP,
            ..good
        },
        Offload {
            gso_type: gso::UDP_L4,
            ..good
        },
        Offload {
            gso_type: 9,
            ..good
        },
        Offload {
            csum_start: 41,
            ..good
        },
        Offload {
            csum_offset: 6,
            ..good
        },
        Offload {
            gso_size: 0,
            ..good
        },
    ] {
        assert_eq!(run_off(&t, &input, bad).verdict, unsupported, "{bad:?}");
    }
}

// ---------------------------------------------------------------------------------
// MSS clamping (RFC 9293 §3.7.1 option, RFC 1624 checksum update).

fn mss_of(f: &[u8], l4_off: usize) -> u16 {
    field(f, l4_off + 22)
}

#[test]
fn rfc9293_mss_clamped_on_syn_v6_to_v4() {
    let t = translator_with(|c| c.mtu = 1400);
    let mut v = Vec::new();
    PacketBuilder::ipv6(CLIENT6, SERVER6, 64)
        .tcp(40000, 443, 1, 64240)
        .syn()
        .options(&[etherparse::TcpOptionElement::MaximumSegmentSize(1440)])
        .unwrap()
        .write(&mut v, &[])
        .unwrap();
    let f = one_with(&t, &v, Verdict::V6ToV4);
    assert_eq!(mss_of(&f, 20), 1400 - 40);
    let off = translator_with(|c| {
        c.mtu = 1400;
        c.mss_clamp = false;
    });
    assert_eq!(mss_of(&one_with(&off, &v, Verdict::V6ToV4), 20), 1440);
}

#[test]
fn rfc9293_mss_clamped_on_syn_ack_v4_to_v6() {
    let mut v = Vec::new();
    PacketBuilder::ipv4(SERVER4, CLIENT4, 64)
        .tcp(443, 40000, 1, 64240)
        .syn()
        .ack(2)
        .options(&[
            etherparse::TcpOptionElement::Noop,
            etherparse::TcpOptionElement::MaximumSegmentSize(1460),
        ])
        .unwrap()
        .write(&mut v, &[])
        .unwrap();
    let f = one(&v, Verdict::V4ToV6);
    // Behind one NOP: the value sits at an odd offset (bytes 23..25 of the header).
    assert_eq!(field(&f, 40 + 23), 1500 - 60);
}

// A SYN with a partial checksum: MSS lowered, the partial sum still only the
// pseudo-header's (the kernel sums the clamped header later).
#[test]
fn rfc9293_mss_clamp_with_needs_csum() {
    let opts = [2, 4, 0x05, 0xb4];
    let input = partial6(0, 64, 6, tcp_hdr(1, SYN, &opts), &[], PartialLen::Full);
    let t = translator_with(|c| c.mtu = 1400);
    let r = run_off(&t, &input, vnet(gso::NONE, 40, 24, 0, 6));
    assert_eq!(r.verdict, Verdict::V6ToV4);
    let f = &r.frames[0];
    assert_eq!(mss_of(f, 20), 1360);
    assert_eq!(
        field(f, 36),
        checksum::pseudo_v4(CLIENT4, SERVER4, IpProtocol(6), 24)
    );
    check_emitted(&complete(f.clone(), &r.offloads[0])).unwrap();
}

// ---------------------------------------------------------------------------------
// Property: translated whole then segmented == segmented then translated one by one.

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

#[allow(clippy::too_many_arguments)]
fn super_input(
    v6_in: bool,
    udp: bool,
    gso_size: usize,
    n: usize,
    flags: u8,
    seq: u32,
    tos: u8,
    ttl: u8,
    df: bool,
    pl: PartialLen,
    seed: u64,
) -> (Vec<u8>, Offload) {
    let data = payload(n, seed);
    let (proto, hdr, th) = if udp {
        (17, udp_hdr(), 8)
    } else {
        // Timestamps-like options so the header is not the minimum.
        (
            6,
            tcp_hdr(seq, flags, &[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]),
            32,
        )
    };
    let ty = match (udp, v6_in) {
        (true, _) => gso::UDP_L4,
        (false, true) => gso::TCPV6 | (flags & 0x40) << 1,
        (false, false) => gso::TCPV4 | (flags & 0x40) << 1,
    };
    if v6_in {
        let p = partial6(tos, ttl, proto, hdr, &data, pl);
        (p, vnet(ty, 40, th, gso_size, proto))
    } else {
        let p = partial4(tos, ttl, proto, 0x1234, df, hdr, &data, pl);
        (p, vnet(ty, 20, th, gso_size, proto))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn gso_whole_equals_segments_translated_one_by_one(
        v6_in in any::<bool>(), udp in any::<bool>(), gso_size in 64usize..1400,
        nseg in 1usize..10, tail in 0usize..1400, flags in any::<u8>(), seq in any::<u32>(),
        tos in any::<u8>(), ttl in 2u8..=255, df in any::<bool>(), full_len in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let flags = (flags & !SYN) | ACK;
        let pl = if full_len { PartialLen::Full } else { PartialLen::Zero };
        let n = (nseg - 1) * gso_size + tail % gso_size;
        let (input, off) = super_input(v6_in, udp, gso_size, n, flags, seq, tos, ttl, df, pl, seed);
        let t = test_translator();
        // Only UDP with DF=0 from IPv4 may be dropped (every full-sized datagram would be
        // fragmented one by one); the rest must translate.
        let whole = run_off(&t, &input, off);
        prop_assert!(
            !matches!(whole.verdict, Verdict::Drop(_)) || (udp && !v6_in && !df),
            "{:?}", whole.verdict
        );
        let r = check_gso_equivalence(&t, &input, off, pl);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    // The fuzz entry on near-valid inputs: a real super-packet and its metadata, with a
    // few header bytes and metadata bytes flipped.
    #[test]
    fn offload_fuzz_entry_on_mutated_super_packets(
        v6_in in any::<bool>(), udp in any::<bool>(), gso_size in 1usize..2000,
        n in 0usize..4000, ctl in any::<u8>(), seed in any::<u64>(),
        meta_flips in proptest::collection::vec((0usize..10, any::<u8>()), 0..3),
        flips in proptest::collection::vec((0usize..80, any::<u8>()), 0..3),
    ) {
        let (input, off) = super_input(v6_in, udp, gso_size, n, ACK, 1, 0, 64, true, PartialLen::Zero, seed);
        let mut data = vec![0u8; 10];
        off.emit(&mut data);
        for (i, x) in meta_flips {
            data[i] ^= x;
        }
        let mut p = input;
        for (i, x) in flips {
            if let Some(b) = p.get_mut(i) {
                *b ^= x;
            }
        }
        data.extend_from_slice(&p);
        data.push(ctl);
        crate::xlat::selfcheck::fuzz_offload(&data);
    }

    #[test]
    fn offload_fuzz_entry_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        crate::xlat::selfcheck::fuzz_offload(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    // The `offload_segments` fuzz entry (issue #4) on random bytes: whatever super-packet
    // they describe, whole and one by one agree.
    #[test]
    fn offload_segments_fuzz_entry_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        crate::xlat::selfcheck::fuzz_offload_segments(&data);
    }
}

// RFC 7915 §4.1 with a UDP super-packet of DF=0 datagrams: 1400-byte datagrams become
// 1448-byte IPv6 packets, above lowest-ipv6-mtu (1280), so each must be fragmented,
// which one offload header cannot describe. The packet is split first: each datagram
// equals what the kernel's segmentation would produce, and translates to two IPv6
// fragments. DF=1 datagrams (the Fragmentation Needed case) and small ones need no split.
#[test]
fn rfc7915_s4_1_udp_super_packet_of_df0_datagrams_is_split() {
    let t = test_translator();
    let data = payload(3 * 1392 + 500, 9);
    for pl in [PartialLen::Full, PartialLen::Zero] {
        let input = partial4(0, 64, 17, 0x1234, false, udp_hdr(), &data, pl);
        let off = vnet(gso::UDP_L4, 20, 8, 1392, 17);
        assert!(t.udp_needs_split(&input, off));
        let expected = soft_gso(&input, &off, pl);
        assert_eq!(expected.len(), 4);
        let mut seg = PacketBuf::new();
        for (i, want) in expected.iter().enumerate() {
            assert!(Translator::udp_datagram(&input, off, i, &mut seg));
            assert_eq!(seg.data(), &want[..], "datagram {i}");
            check_emitted(seg.data()).unwrap();
            let mut out = Output::new();
            let v = t.translate(&mut seg, &mut out, 0);
            assert_eq!(v, Verdict::V4ToV6);
            let frags = if want.len() - 20 + 40 > 1280 { 2 } else { 1 };
            assert_eq!(out.frames().len(), frags, "datagram {i}");
        }
        assert!(!Translator::udp_datagram(&input, off, 4, &mut seg));
        let df = partial4(0, 64, 17, 0x1234, true, udp_hdr(), &data, pl);
        assert!(!t.udp_needs_split(&df, off));
        let small = vnet(gso::UDP_L4, 20, 8, 1200, 17);
        assert!(!t.udp_needs_split(&input, small));
    }
}

// RFC 7915 §5.1: IPv6 datagrams that become DF=0 IPv4 packets (≤ 1260 bytes) larger
// than the MTU are fragmented, so their super-packet is split too.
#[test]
fn rfc7915_s5_1_udp_super_packet_above_a_small_mtu_is_split() {
    let mut cfg = test_translator().config().clone();
    cfg.mtu = 1000;
    let t = Translator::new(cfg);
    let data = payload(2 * 1200, 10);
    let input = partial6(0, 64, 17, udp_hdr(), &data, PartialLen::Full);
    let off = vnet(gso::UDP_L4, 40, 8, 1200, 17);
    assert!(t.udp_needs_split(&input, off));
    assert!(!test_translator().udp_needs_split(&input, off));
    let expected = soft_gso(&input, &off, PartialLen::Full);
    let mut seg = PacketBuf::new();
    for (i, want) in expected.iter().enumerate() {
        assert!(Translator::udp_datagram(&input, off, i, &mut seg));
        assert_eq!(seg.data(), &want[..]);
        let mut out = Output::new();
        assert_eq!(t.translate(&mut seg, &mut out, 0), Verdict::V6ToV4);
        assert_eq!(out.frames().len(), 2);
    }
}
