//! RFC 7915 §4.2/§4.3 and §5.2/§5.3: ICMP ↔ ICMPv6.

use super::*;
use crate::xlat::DropReason as R;

fn icmp6_checksum_ok(f: &[u8]) -> bool {
    let h = parse6(f);
    let ph = checksum::pseudo_v6(
        h.source,
        h.destination,
        IpProtocol(58),
        (f.len() - 40) as u32,
    );
    checksum::add(ph, checksum::ones_sum(&f[40..])) == 0xffff
}

// §4.2: Echo Request (8) → 128 and Echo Reply (0) → 129; identifier, sequence and data
// unchanged; checksum now includes the IPv6 pseudo-header.
#[test]
fn rfc7915_s4_2_echo() {
    let p = echo4(SERVER4, CLIENT4, 64, b"ping data");
    let f = one(&p, Verdict::V4ToV6);
    assert_eq!(parse6(&f).next_header, etherparse::IpNumber::IPV6_ICMP);
    assert_eq!(&f[40..42], &[128, 0]);
    assert_eq!(&f[44..], &p[24..]);
    assert!(icmp6_checksum_ok(&f));
    let mut r = p.clone();
    r[20] = 0;
    let c = checksum::checksum(&{
        let mut m = r[20..].to_vec();
        m[2] = 0;
        m[3] = 0;
        m
    });
    r[22..24].copy_from_slice(&c.to_be_bytes());
    let f = one(&r, Verdict::V4ToV6);
    assert_eq!(f[40], 129);
}

// §5.2: 128 → 8 and 129 → 0, pseudo-header removed from the checksum.
#[test]
fn rfc7915_s5_2_echo() {
    let p = echo6(CLIENT6, SERVER6, 64, b"ping6 data");
    let f = one(&p, Verdict::V6ToV4);
    assert_eq!(parse4(&f).protocol, etherparse::IpNumber::ICMP);
    assert_eq!(&f[20..22], &[8, 0]);
    assert_eq!(&f[24..], &p[44..]);
    let mut r = p.clone();
    r[40] = 129;
    r[42] = 0;
    r[43] = 0;
    let ph = checksum::pseudo_v6(CLIENT6, SERVER6, IpProtocol(58), (r.len() - 40) as u32);
    let c = !checksum::add(ph, checksum::ones_sum(&r[40..]));
    r[42..44].copy_from_slice(&c.to_be_bytes());
    assert_eq!(one(&r, Verdict::V6ToV4)[20], 0);
}

// §4.2: informational types other than echo, IGMP-like and obsolete errors are
// silently dropped.
#[test]
fn rfc7915_s4_2_dropped_types() {
    for ty in [4u8, 5, 6, 9, 10, 13, 14, 15, 16, 17, 18, 42] {
        let p = icmp4_raw(SERVER4, CLIENT4, ty, 0, [0; 4], &[0; 28]);
        let r = run(&p);
        assert_eq!(r.verdict, Verdict::Drop(R::IcmpUntranslatable), "type {ty}");
        assert!(r.frames.is_empty());
    }
    // Destination Unreachable code 14 (host precedence violation).
    let inner = udp4(CLIENT4, SERVER4, 60, b"quoted");
    let p = icmp4_raw(SERVER4, CLIENT4, 3, 14, [0; 4], &inner);
    assert_eq!(run(&p).verdict, Verdict::Drop(R::IcmpUntranslatable));
}

// §5.2: MLD, Neighbor Discovery, Router Solicitation/Advertisement, Redirect and
// unknown informational types are silently dropped.
#[test]
fn rfc7915_s5_2_dropped_types() {
    for ty in [130u8, 131, 132, 133, 134, 135, 136, 137, 143, 200] {
        let p = icmp6_raw(CLIENT6, SERVER6, ty, 0, [0; 4], &[0; 8]);
        assert_eq!(
            run(&p).verdict,
            Verdict::Drop(R::IcmpUntranslatable),
            "type {ty}"
        );
    }
    let inner = udp6(SERVER6, CLIENT6, 60, b"quoted");
    let p = icmp6_raw(CLIENT6, SERVER6, 4, 2, [0; 4], &inner);
    assert_eq!(run(&p).verdict, Verdict::Drop(R::IcmpUntranslatable));
}

/// An ICMPv4 error from the IPv4 server about a UDP packet the IPv6 client sent.
fn v4_error(ty: u8, code: u8, rest: [u8; 4], inner: &[u8]) -> Vec<u8> {
    icmp4_raw(SERVER4, CLIENT4, ty, code, rest, inner)
}

// §4.2 + §4.3: Port Unreachable → 1/4; the quoted IPv4 packet becomes the IPv6 packet
// the client sent: addresses mapped back, Hop Limit = quoted TTL (not decremented),
// Payload Length from the quoted Total Length, UDP checksum updated.
#[test]
fn rfc7915_s4_3_port_unreachable_inner_packet() {
    let inner = udp4(CLIENT4, SERVER4, 61, b"the original datagram");
    let p = v4_error(3, 3, [0; 4], &inner);
    let f = one(&p, Verdict::V4ToV6);
    let h = parse6(&f);
    assert_eq!((h.source, h.destination), (SERVER6, CLIENT6));
    assert_eq!(h.hop_limit, 63);
    assert_eq!(&f[40..42], &[1, 4]);
    assert!(icmp6_checksum_ok(&f));
    let q = &f[48..];
    let ih = parse6(q);
    assert_eq!((ih.source, ih.destination), (CLIENT6, SERVER6));
    assert_eq!(ih.hop_limit, 61);
    assert_eq!(usize::from(ih.payload_length), inner.len() - 20);
    assert_eq!(ih.next_header, etherparse::IpNumber::UDP);
    check_emitted(q).unwrap();
}

// §4.3: the quoted packet is usually truncated: its length fields keep the original
// values and the transport checksum is still updated when quoted.
#[test]
fn rfc7915_s4_3_truncated_inner_packet() {
    let full = tcp4(CLIENT4, SERVER4, 61, &[0xab; 1000]);
    let p = v4_error(3, 1, [0; 4], &full[..48]);
    let f = one(&p, Verdict::V4ToV6);
    assert_eq!(f.len(), 48 + 40 + 28);
    let ih = parse6(&f[48..]);
    assert_eq!(usize::from(ih.payload_length), 1020);
    // The quoted TCP header (checksum included, updated incrementally for the new
    // pseudo-header) equals the one the IPv6 client's own stack built.
    let mut native = Vec::new();
    PacketBuilder::ipv6(CLIENT6, SERVER6, 61)
        .tcp(80, 40000, 0x01020304, 1000)
        .ack(7)
        .write(&mut native, &[0xab; 1000])
        .unwrap();
    assert_eq!(&f[48..], &native[..68]);
}

// §4.2: Fragmentation Needed → Packet Too Big with min(MTU + 20, IPv6 MTU), RFC 1191
// plateaus when the MTU field is 0, at least 1280.
#[test]
fn rfc7915_s4_2_packet_too_big_mtu() {
    let inner = udp4(CLIENT4, SERVER4, 61, &[0; 1472]);
    let mtu_of = |m: u16, tl: u16| {
        let mut q = inner[..28].to_vec();
        q[2..4].copy_from_slice(&tl.to_be_bytes());
        fix_v4_checksum(&mut q);
        let b = m.to_be_bytes();
        let f = one(&v4_error(3, 4, [0, 0, b[0], b[1]], &q), Verdict::V4ToV6);
        assert_eq!(&f[40..42], &[2, 0]);
        u32::from_be_bytes([f[44], f[45], f[46], f[47]])
    };
    assert_eq!(mtu_of(1400, 1500), 1420);
    assert_eq!(mtu_of(1500, 1500), 1500); // capped by our IPv6 MTU
    assert_eq!(mtu_of(1000, 1500), 1280); // IPv6 minimum
    assert_eq!(mtu_of(0, 1500), 1500); // plateau 1492 + 20 = 1512, capped at 1500
    assert_eq!(mtu_of(0, 1400), 1280); // plateau 1006 + 20 → 1280 floor
    let t = translator_with(|c| c.mtu = 9000);
    let mut q = inner[..28].to_vec();
    q[2..4].copy_from_slice(&9000u16.to_be_bytes());
    fix_v4_checksum(&mut q);
    let f = one_with(&t, &v4_error(3, 4, [0; 4], &q), Verdict::V4ToV6);
    assert_eq!(u32::from_be_bytes([f[44], f[45], f[46], f[47]]), 8166 + 20);
}

// §4.2: Parameter Problem pointer per Figure 3; Protocol Unreachable → 4/1 pointer 6.
#[test]
fn rfc7915_s4_2_param_problem_and_protocol_unreachable() {
    let inner = udp4(CLIENT4, SERVER4, 61, b"quoted");
    let f = one(&v4_error(12, 0, [9, 0, 0, 0], &inner), Verdict::V4ToV6);
    assert_eq!(&f[40..42], &[4, 0]);
    assert_eq!(&f[44..48], &[0, 0, 0, 6]);
    assert_eq!(
        run(&v4_error(12, 0, [4, 0, 0, 0], &inner)).verdict,
        Verdict::Drop(R::IcmpUntranslatable)
    );
    let f = one(&v4_error(3, 2, [0; 4], &inner), Verdict::V4ToV6);
    assert_eq!(&f[40..48], &[4, 1, f[42], f[43], 0, 0, 0, 6]);
    let f = one(&v4_error(11, 1, [0; 4], &inner), Verdict::V4ToV6);
    assert_eq!(&f[40..42], &[3, 1]);
}

// §4.3 / §5.3: an error about an error is dropped; an error quoting an echo request
// has the echo translated too.
#[test]
fn rfc7915_s4_3_inner_icmp() {
    let inner_err = icmp4_raw(
        CLIENT4,
        SERVER4,
        3,
        3,
        [0; 4],
        &udp4(SERVER4, CLIENT4, 9, b"x"),
    );
    assert_eq!(
        run(&v4_error(3, 1, [0; 4], &inner_err)).verdict,
        Verdict::Drop(R::IcmpErrorInError)
    );
    let ping = echo4(CLIENT4, SERVER4, 5, b"quoted ping");
    let f = one(&v4_error(11, 0, [0; 4], &ping), Verdict::V4ToV6);
    assert_eq!(f[48 + 40], 128);
    check_emitted(&f[48..]).unwrap();
    let inner_err6 = icmp6_raw(
        CLIENT6,
        SERVER6,
        1,
        4,
        [0; 4],
        &udp6(SERVER6, CLIENT6, 9, b"x"),
    );
    let p = icmp6_raw(CLIENT6, SERVER6, 1, 0, [0; 4], &inner_err6);
    assert_eq!(run(&p).verdict, Verdict::Drop(R::IcmpErrorInError));
}

// §4.2/§4.3: translated ICMPv6 errors are truncated to 1280 bytes.
#[test]
fn rfc7915_s4_3_truncated_to_1280() {
    let inner = udp4(CLIENT4, SERVER4, 61, &[0x33; 1400]);
    let mut p = v4_error(3, 3, [0; 4], &inner);
    // ICMPv4 quoted more than RFC 1812 asks: still fine, cut at 1280.
    fix_v4_checksum(&mut p);
    let f = one(&p, Verdict::V4ToV6);
    assert_eq!(f.len(), 1280);
}

/// An ICMPv6 error sent by `from` to the IPv4 server's IPv6 address, about a packet
/// the server sent to the client.
fn v6_error(from: [u8; 16], ty: u8, code: u8, rest: [u8; 4], inner: &[u8]) -> Vec<u8> {
    icmp6_raw(from, SERVER6, ty, code, rest, inner)
}

// §5.2 + §5.3: the error and the quoted packet translated; a router source without a
// mapping takes the translator's IPv4 address (empty RFC 6791 pool).
#[test]
fn rfc7915_s5_3_error_from_unmapped_router() {
    let inner = udp6(SERVER6, CLIENT6, 33, b"the quoted datagram");
    let router = a6("2001:db8:ffff::1");
    let f = one(&v6_error(router, 1, 4, [0; 4], &inner), Verdict::V6ToV4);
    let h = parse4(&f);
    assert_eq!((h.source, h.destination), (XLAT4, SERVER4));
    assert_eq!(h.time_to_live, 63);
    assert_eq!(&f[20..22], &[3, 3]);
    let ih = parse4(&f[28..]);
    assert_eq!((ih.source, ih.destination), (SERVER4, CLIENT4));
    assert_eq!(ih.time_to_live, 33);
    assert_eq!(usize::from(ih.total_len), inner.len() - 20);
    check_emitted(&f[28..]).unwrap();
    // With an RFC 6791 pool, the source comes from it.
    let t = translator_with(|c| c.pool6791 = vec!["203.0.113.128/28".parse().unwrap()]);
    let f = one_with(&t, &v6_error(router, 3, 0, [0; 4], &inner), Verdict::V6ToV4);
    let s = parse4(&f).source;
    assert_eq!(&s[..3], &[203, 0, 113]);
    assert!((129..=142).contains(&s[3]));
    assert_eq!(&f[20..22], &[11, 0]);
}

// §5.2: Packet Too Big → Fragmentation Needed with min(MTU − 20, IPv6 MTU − 20), or
// − 28 when the quoted packet has a Fragment header.
#[test]
fn rfc7915_s5_2_packet_too_big_mtu() {
    let inner = udp6(SERVER6, CLIENT6, 33, &[0; 100]);
    let router = a6("2001:db8:ffff::1");
    let mtu_of = |mtu6: u32, q: &[u8]| {
        let f = one(
            &v6_error(router, 2, 0, mtu6.to_be_bytes(), q),
            Verdict::V6ToV4,
        );
        assert_eq!(&f[20..24], &[3, 4, f[22], f[23]]);
        assert_eq!(&f[24..26], &[0, 0]);
        u16::from_be_bytes([f[26], f[27]])
    };
    assert_eq!(mtu_of(1400, &inner), 1380);
    assert_eq!(mtu_of(1600, &inner), 1480);
    assert_eq!(mtu_of(1280, &inner), 1260);
    let fragd = insert_ext(&inner, 44, &[17, 0, 0, 1, 0, 0, 0, 5]);
    assert_eq!(mtu_of(1400, &fragd), 1372);
}

// §5.2: Parameter Problem code 0 → 12/0 with the pointer per Figure 6; code 1 → 3/2;
// Destination Unreachable codes per the table.
#[test]
fn rfc7915_s5_2_param_problem_and_unreachable_codes() {
    let inner = udp6(SERVER6, CLIENT6, 33, b"quoted");
    let f = one(
        &v6_error(CLIENT6, 4, 0, [0, 0, 0, 7], &inner),
        Verdict::V6ToV4,
    );
    assert_eq!(&f[20..22], &[12, 0]);
    assert_eq!(&f[24..28], &[8, 0, 0, 0]);
    assert_eq!(
        run(&v6_error(CLIENT6, 4, 0, [0, 0, 0, 2], &inner)).verdict,
        Verdict::Drop(R::IcmpUntranslatable)
    );
    let f = one(
        &v6_error(CLIENT6, 4, 1, [0, 0, 0, 6], &inner),
        Verdict::V6ToV4,
    );
    assert_eq!(&f[20..22], &[3, 2]);
    assert_eq!(&f[24..28], &[0; 4]);
    for (code, want) in [(0u8, 1u8), (1, 10), (2, 1), (3, 1), (4, 3)] {
        let f = one(&v6_error(CLIENT6, 1, code, [0; 4], &inner), Verdict::V6ToV4);
        assert_eq!(&f[20..22], &[3, want], "code {code}");
        // The client is EAM-mapped: its source is its own IPv4 address.
        assert_eq!(parse4(&f).source, CLIENT4);
    }
}

// §5.2/§5.3: truncated to 576 bytes; quoted echo translated.
#[test]
fn rfc7915_s5_3_truncation_and_inner_echo() {
    let inner = udp6(SERVER6, CLIENT6, 33, &[1; 1000]);
    let f = one(&v6_error(CLIENT6, 1, 4, [0; 4], &inner), Verdict::V6ToV4);
    assert_eq!(f.len(), 576);
    assert_eq!(parse4(&f[28..]).total_len, 1028);
    let ping = echo6(SERVER6, CLIENT6, 33, b"quoted ping");
    let f = one(&v6_error(CLIENT6, 3, 0, [0; 4], &ping), Verdict::V6ToV4);
    assert_eq!(f[48], 8);
    check_emitted(&f[28..]).unwrap();
}

// Fragmented ICMP cannot have its checksum fixed without reassembly: dropped.
#[test]
fn fragmented_icmp_dropped() {
    let mut p = echo4(SERVER4, CLIENT4, 64, &[0; 64]);
    set_v4_frag(&mut p, 3, false, true, 0);
    assert_eq!(run(&p).verdict, Verdict::Drop(R::IcmpFragmented));
    let e = echo6(CLIENT6, SERVER6, 64, &[0; 64]);
    let q = insert_ext(&e, 44, &[58, 0, 0, 1, 0, 0, 0, 9]);
    assert_eq!(run(&q).verdict, Verdict::Drop(R::IcmpFragmented));
}

// §4.3: a quoted IPv4 fragment becomes an IPv6 packet with a Fragment header (ID,
// offset, M), Payload Length including it; a non-first quoted fragment's data is left
// alone.
#[test]
fn rfc7915_s4_3_quoted_fragment() {
    let mut inner = udp4(CLIENT4, SERVER4, 61, &[5; 64]);
    set_v4_frag(&mut inner, 0x7777, false, true, 0);
    let f = one(&v4_error(11, 1, [0; 4], &inner), Verdict::V4ToV6);
    let q = &f[48..];
    let ih = parse6(q);
    assert_eq!(
        ih.next_header,
        etherparse::IpNumber::IPV6_FRAGMENTATION_HEADER
    );
    assert_eq!(usize::from(ih.payload_length), 8 + 72);
    assert_eq!(&q[40..48], &[17, 0, 0, 1, 0, 0, 0x77, 0x77]);
    let mut later = inner.clone();
    set_v4_frag(&mut later, 0x7777, false, false, 9);
    let f = one(&v4_error(11, 1, [0; 4], &later), Verdict::V4ToV6);
    assert_eq!(&f[48 + 48..], &later[20..]);
}

/// An IPv4 router on the path to the server (2001:db8:64::c633:6401 through pool6).
const ROUTER4: [u8; 4] = [198, 51, 100, 1];

/// The UDP packet (ports 53 → 40000, `payload`) the IPv6 client sends to the server,
/// and its IPv4 form as the server side sees it (TTL one less).
fn client_udp(hop: u8, payload: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut v6 = Vec::new();
    PacketBuilder::ipv6(CLIENT6, SERVER6, hop)
        .udp(53, 40000)
        .write(&mut v6, payload)
        .unwrap();
    let mut v4 = Vec::new();
    PacketBuilder::ipv4(CLIENT4, SERVER4, hop)
        .udp(53, 40000)
        .write(&mut v4, payload)
        .unwrap();
    (v6, v4)
}

fn ptb_mtu(f: &[u8]) -> u32 {
    let h = parse6(f);
    let (icmp, body) = etherparse::Icmpv6Header::from_slice(&f[40..]).unwrap();
    assert_eq!(
        icmp.checksum,
        icmp.icmp_type
            .calc_checksum(h.source, h.destination, body)
            .unwrap()
    );
    match icmp.icmp_type {
        etherparse::Icmpv6Type::PacketTooBig { mtu } => mtu,
        t => panic!("not a Packet Too Big: {t:?}"),
    }
}

// §4.2 "Code 4 (Fragmentation Needed and DF was Set)" → ICMPv6 Packet Too Big (2/0):
// MTU = min(advertised + 20, MTU of the IPv6 next hop, MTU of the IPv4 next hop + 20);
// both next hops are our 1500-byte device, so min(1400 + 20, 1500, 1520) = 1420. §4.3:
// the quoted IPv4 header + 8 bytes becomes exactly the IPv6 header + 8 bytes the client
// sent (addresses mapped back, Payload Length from the quoted Total Length, hop limit as
// quoted, UDP checksum as the IPv6 client computed it).
#[test]
fn rfc7915_s4_2_fragmentation_needed_golden() {
    let (native6, inner4) = client_udp(61, &[0x42; 1472]);
    let p = icmp4_raw(ROUTER4, CLIENT4, 3, 4, [0, 0, 0x05, 0x78], &inner4[..28]);
    let f = one(&p, Verdict::V4ToV6);
    let h = parse6(&f);
    assert_eq!(h.source, a6("2001:db8:64::c633:6401"));
    assert_eq!((h.destination, h.hop_limit), (CLIENT6, 63));
    assert_eq!(&f[40..42], &[2, 0]);
    assert_eq!(ptb_mtu(&f), 1420);
    assert_eq!(f.len(), 48 + 48);
    assert_eq!(&f[48..], &native6[..48]);
}

// §4.2: a router that predates RFC 1191 sends MTU 0: use the greatest RFC 1191 plateau
// below the quoted Total Length, then + 20 (IPv6 next hop 9000 here, so no cap); §6
// item 1: a result below 1280 is raised to 1280.
#[test]
fn rfc7915_s4_2_fragmentation_needed_mtu_zero_plateaus() {
    let t = translator_with(|c| c.mtu = 9000);
    for (total, want) in [
        (1500u16, 1492 + 20),
        (1492, 1006 + 20 + (1280 - 1026)), // 1026 → floor 1280
        (2002, 1492 + 20),
        (4000, 2002 + 20),
        (65535, 9000), // 32000 + 20, capped by the IPv6 next hop
    ] {
        let (_, mut inner4) = client_udp(61, &[0; 8]);
        inner4[2..4].copy_from_slice(&total.to_be_bytes());
        fix_v4_checksum(&mut inner4);
        let p = icmp4_raw(ROUTER4, CLIENT4, 3, 4, [0; 4], &inner4);
        let f = one_with(&t, &p, Verdict::V4ToV6);
        assert_eq!(ptb_mtu(&f), want, "total length {total}");
        assert_eq!(parse6(&f[48..]).payload_length, total - 20);
    }
}

// §5.2 "Packet Too Big (Type 2)" → ICMPv4 3/4 with MTU = min(advertised − 20, MTU of
// the IPv4 next hop, MTU of the IPv6 next hop − 20) = min(1380, 1500, 1480) = 1380,
// in the low 16 bits (RFC 1191 §4; the high 16 bits zero). Sent by an unmapped IPv6
// router, so the source is the translator's IPv4 address (RFC 6791 pool empty). §5.3:
// the quoted packet is the IPv4 packet the server sent (1380 > 1260 bytes: DF = 1,
// Identification 0 per §5.1), with the server's own UDP checksum.
#[test]
fn rfc7915_s5_2_packet_too_big_golden() {
    let payload = [0x24u8; 1352];
    let mut inner6 = Vec::new();
    PacketBuilder::ipv6(SERVER6, CLIENT6, 33)
        .udp(40000, 53)
        .write(&mut inner6, &payload)
        .unwrap();
    let mut native4 = Vec::new();
    PacketBuilder::ipv4(SERVER4, CLIENT4, 33)
        .udp(40000, 53)
        .write(&mut native4, &payload)
        .unwrap();
    let p = icmp6_raw(
        a6("2001:db8:ffff::1"),
        SERVER6,
        2,
        0,
        1400u32.to_be_bytes(),
        &inner6[..1232],
    );
    let f = one(&p, Verdict::V6ToV4);
    let h = parse4(&f);
    assert_eq!(
        (h.source, h.destination, h.time_to_live),
        (XLAT4, SERVER4, 63)
    );
    let (icmp, body) = etherparse::Icmpv4Header::from_slice(&f[20..]).unwrap();
    assert_eq!(icmp.checksum, icmp.icmp_type.calc_checksum(body));
    assert_eq!(&f[20..28], &[3, 4, f[22], f[23], 0, 0, 0x05, 0x64]);
    assert_eq!(f.len(), 576);
    let ih = parse4(&f[28..]);
    assert_eq!(
        (ih.source, ih.destination, ih.time_to_live),
        (SERVER4, CLIENT4, 33)
    );
    assert_eq!(ih.total_len, 1380);
    assert!(ih.dont_fragment && !ih.more_fragments);
    assert_eq!(ih.identification, 0);
    assert_eq!(&f[48..56], &native4[20..28]);
}

// §5.2 "taking into account whether or not the packet in error includes a Fragment
// Header": the IPv4 packet grows by 28 bytes (IPv6 + Fragment header), so both the
// advertised MTU and the IPv6 next hop lose 28: min(1600 − 28, 1500, 1500 − 28) = 1472.
#[test]
fn rfc7915_s5_2_packet_too_big_fragment_header_next_hop() {
    let inner = udp6(SERVER6, CLIENT6, 33, &[0; 100]);
    let fragd = insert_ext(&inner, 44, &[17, 0, 0, 1, 0, 0, 0, 5]);
    let p = icmp6_raw(
        a6("2001:db8:ffff::1"),
        SERVER6,
        2,
        0,
        1600u32.to_be_bytes(),
        &fragd,
    );
    let f = one(&p, Verdict::V6ToV4);
    assert_eq!(u16::from_be_bytes([f[26], f[27]]), 1472);
}

// §4.2 Parameter Problem codes 0 and 2, every row of Figure 3, end to end: the pointer
// lands in the first byte of the ICMPv6 pointer's low octet; "n/a" rows are dropped.
#[test]
fn rfc7915_figure3_rows_end_to_end() {
    let (_, inner4) = client_udp(61, b"quoted");
    let rows = crate::xlat::icmp::RFC7915_FIGURE3;
    for code in [0u8, 2] {
        for (p4, p6) in rows {
            let r = run(&v4_error(12, code, [p4, 0, 0, 0], &inner4));
            match p6 {
                Some(p6) => {
                    assert_eq!(r.verdict, Verdict::V4ToV6, "pointer {p4}");
                    assert_eq!(
                        &r.frames[0][40..48],
                        &[4, 0, r.frames[0][42], r.frames[0][43], 0, 0, 0, p6]
                    );
                    check_emitted(&r.frames[0]).unwrap();
                }
                None => assert_eq!(r.verdict, Verdict::Drop(R::IcmpUntranslatable)),
            }
        }
    }
    // Code 1 (missing a required option): dropped.
    assert_eq!(
        run(&v4_error(12, 1, [0; 4], &inner4)).verdict,
        Verdict::Drop(R::IcmpUntranslatable)
    );
}

// §5.2 Parameter Problem code 0, every row of Figure 6, end to end: the ICMPv4 pointer
// is one octet (byte 4); "n/a" rows and pointers past the fixed header are dropped.
#[test]
fn rfc7915_figure6_rows_end_to_end() {
    let inner = udp6(SERVER6, CLIENT6, 33, b"quoted");
    for p6 in 0u32..48 {
        let want: Option<u8> = match p6 {
            0 => Some(0),
            1 => Some(1),
            4 | 5 => Some(2),
            6 => Some(9),
            7 => Some(8),
            8..=23 => Some(12),
            24..=39 => Some(16),
            _ => None,
        };
        let r = run(&v6_error(CLIENT6, 4, 0, p6.to_be_bytes(), &inner));
        match want {
            Some(p4) => {
                assert_eq!(r.verdict, Verdict::V6ToV4, "pointer {p6}");
                assert_eq!(
                    &r.frames[0][20..28],
                    &[12, 0, r.frames[0][22], r.frames[0][23], p4, 0, 0, 0]
                );
                check_emitted(&r.frames[0]).unwrap();
            }
            None => assert_eq!(r.verdict, Verdict::Drop(R::IcmpUntranslatable), "{p6}"),
        }
    }
}
