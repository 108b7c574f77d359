//! RFC 7915 §4.2/§4.3 and §5.2/§5.3: ICMP ↔ ICMPv6.

use super::*;
use crate::xlat::DropReason as R;

fn icmp6_checksum_ok(f: &[u8]) -> bool {
    let h = parse6(f);
    let ph = checksum::pseudo_v6(h.source, h.destination, 58, (f.len() - 40) as u32);
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
    let ph = checksum::pseudo_v6(CLIENT6, SERVER6, 58, (r.len() - 40) as u32);
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
    // Incremental TCP checksum update on the quoted header: translating the full
    // packet gives the same checksum bytes.
    let whole = one(&tcp4(CLIENT4, SERVER4, 61, &[0xab; 1000]), Verdict::V4ToV6);
    let _ = whole;
    let mut expect = full.clone();
    // Translate the full quoted datagram on its own to compare the checksum.
    expect[8] = 62;
    fix_v4_checksum(&mut expect);
    let g = one(&expect, Verdict::V4ToV6);
    assert_eq!(&f[48 + 40 + 16..48 + 40 + 18], &g[40 + 16..40 + 18]);
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

// RFC 4884 extensions are not carried: only the original datagram part is quoted and
// the length field of the translated error is zero.
#[test]
fn rfc4884_extension_stripped() {
    let inner = udp4(CLIENT4, SERVER4, 61, &[0x44; 200]);
    let mut quoted = inner[..128].to_vec();
    quoted.extend_from_slice(&[0x20, 0, 0, 0, 0, 8, 1, 1, 9, 9, 9, 9]); // extension
    let p = v4_error(11, 0, [0, 32, 0, 0], &quoted);
    let f = one(&p, Verdict::V4ToV6);
    assert_eq!(f.len(), 48 + 148);
    assert_eq!(&f[44..48], &[0; 4]);
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
