//! RFC 7915 §5.1 / §5.1.1 / §5.5: IPv6 → IPv4 headers and TCP/UDP.

use super::*;
use crate::xlat::DropReason as R;

// §5.1: Version 4, IHL 5, TOS = Traffic Class, Total Length = Payload Length + 20,
// TTL = Hop Limit − 1 (the translator is a router), Protocol = Next Header, addresses
// mapped (EAM source, RFC 6052 destination). §5.5: UDP checksum updated; payload not
// copied (zero-copy frame).
#[test]
fn rfc7915_s5_1_udp_header_fields() {
    let mut p = udp6(
        CLIENT6,
        SERVER6,
        64,
        b"hello world, 64 bytes of payload...............................",
    );
    // Traffic Class 0xb8 and flow label 0x12345 (RFC 8200 §3 layout).
    p[0] = 0x6b;
    p[1] = 0x81;
    p[2] = 0x23;
    p[3] = 0x45;
    let r = run(&p);
    assert_eq!(r.verdict, Verdict::V6ToV4);
    assert_eq!(r.zero_copy, vec![true]);
    let f = &r.frames[0];
    check_emitted(f).unwrap();
    let h = parse4(f);
    assert_eq!(h.ihl(), 5);
    assert_eq!((h.dscp.value(), h.ecn.value()), (0xb8 >> 2, 0));
    assert_eq!(usize::from(h.total_len), p.len() - 20);
    assert_eq!(h.time_to_live, 63);
    assert_eq!(h.protocol, etherparse::IpNumber::UDP);
    assert_eq!(h.source, CLIENT4);
    assert_eq!(h.destination, SERVER4);
    // ≤ 1260 bytes: DF = 0 and a non-zero generated Identification.
    assert!(!h.dont_fragment && !h.more_fragments);
    assert_eq!(h.fragment_offset.value(), 0);
    assert_ne!(h.identification, 0);
    assert_eq!(&f[20..26], &p[40..46]);
    assert_eq!(&f[28..], &p[48..]);
    let u = etherparse::UdpHeader::from_slice(&f[20..]).unwrap().0;
    assert_eq!(u.checksum, u.calc_checksum_ipv4(&h, &f[28..]).unwrap());
}

// §5.1 "Flags": DF = 1 above 1260 bytes; §5.1 "Identification" then 0 (our choice,
// RFC 6864 §4.1 atomic datagrams). TCP checksum updated (§5.5).
#[test]
fn rfc7915_s5_1_tcp_df_above_1260() {
    let p = tcp6(CLIENT6, SERVER6, 10, &[0x5a; 1300]);
    let f = one(&p, Verdict::V6ToV4);
    let h = parse4(&f);
    assert_eq!(usize::from(h.total_len), 1340);
    assert!(h.dont_fragment);
    assert_eq!(h.identification, 0);
    assert_eq!(h.protocol, etherparse::IpNumber::TCP);
    let t = etherparse::TcpHeader::from_slice(&f[20..]).unwrap().0;
    assert_eq!(t.checksum, t.calc_checksum_ipv4(&h, &f[40..]).unwrap());
    // Exactly 1260 bytes of IPv4: still DF = 0.
    let p = tcp6(CLIENT6, SERVER6, 10, &[1; 1260 - 40]);
    let h = parse4(&one(&p, Verdict::V6ToV4));
    assert_eq!(h.total_len, 1260);
    assert!(!h.dont_fragment);
}

// §5.1: Hop-by-Hop, Destination Options and Routing headers (Segments Left 0) are not
// translated; Total Length counts only the upper layer.
#[test]
fn rfc7915_s5_1_extension_headers_skipped() {
    let base = udp6(CLIENT6, SERVER6, 64, b"abcdefgh");
    let ext = [
        60, 0, 1, 4, 0, 0, 0, 0, // Hop-by-Hop → Destination Options (PadN)
        43, 0, 1, 4, 0, 0, 0, 0, // Destination Options → Routing
        17, 0, 0, 0, 0, 0, 0, 0, // Routing, type 0, Segments Left 0 → UDP
    ];
    let p = insert_ext(&base, 0, &ext);
    let f = one(&p, Verdict::V6ToV4);
    let h = parse4(&f);
    assert_eq!(usize::from(h.total_len), 20 + 16);
    assert_eq!(h.protocol, etherparse::IpNumber::UDP);
    assert_eq!(&f[28..], b"abcdefgh");
}

// §5.1: a Routing header with Segments Left ≠ 0 is not translated; ICMPv6 Parameter
// Problem code 0 points at the Segments Left byte (offset 40 + 8 + 3 here).
#[test]
fn rfc7915_s5_1_routing_segments_left_param_problem() {
    let base = udp6(CLIENT6, SERVER6, 64, b"abcdefgh");
    let ext = [43, 0, 1, 4, 0, 0, 0, 0, 17, 0, 0, 2, 0, 0, 0, 0];
    let p = insert_ext(&base, 60, &ext);
    let r = run(&p);
    assert_eq!(r.verdict, Verdict::Drop(R::Ipv6RoutingHeader));
    assert_eq!(r.frames.len(), 1);
    let e = &r.frames[0];
    check_emitted(e).unwrap();
    let h = parse6(e);
    assert_eq!(h.source, XLAT6);
    assert_eq!(h.destination, CLIENT6);
    assert_eq!(&e[40..42], &[4, 0]);
    assert_eq!(u32::from_be_bytes([e[44], e[45], e[46], e[47]]), 51);
    assert_eq!(&e[48..], &p[..]);
}

// §5.1.1: with a Fragment header, Identification = low 16 bits, MF = M, offset copied,
// DF = 0, Protocol = the Fragment header's Next Header, Total Length without the
// Fragment header. Non-first fragments carry no transport header: IP only.
#[test]
fn rfc7915_s5_1_1_fragment_header() {
    let base = udp6(CLIENT6, SERVER6, 64, &[7u8; 64]);
    // Non-first fragment: offset 100 (×8), M = 1, ID 0x12345678, 64 data bytes.
    let mut p = base[..40].to_vec();
    p[6] = 44;
    p.extend_from_slice(&[17, 0, 0x03, 0x21, 0x12, 0x34, 0x56, 0x78]);
    p.extend_from_slice(&[9u8; 64]);
    p[4..6].copy_from_slice(&72u16.to_be_bytes());
    let r = run(&p);
    assert_eq!(r.verdict, Verdict::V6ToV4);
    let f = &r.frames[0];
    check_emitted(f).unwrap();
    let h = parse4(f);
    assert_eq!(h.identification, 0x5678);
    assert!(h.more_fragments && !h.dont_fragment);
    assert_eq!(h.fragment_offset.value(), 100);
    assert_eq!(h.protocol, etherparse::IpNumber::UDP);
    assert_eq!(h.total_len, 84);
    assert_eq!(&f[20..], &[9u8; 64][..]);
}

// RFC 8021 §4 / RFC 7915 §5.1.1: an incoming atomic fragment (offset 0, M = 0) is
// accepted and becomes an ordinary IPv4 packet with DF = 0 and the low ID bits.
#[test]
fn rfc8021_atomic_fragment_accepted() {
    let base = udp6(CLIENT6, SERVER6, 64, b"atomic!!");
    let p = insert_ext(&base, 44, &[17, 0, 0, 0, 0xca, 0xfe, 0xba, 0xbe]);
    let f = one(&p, Verdict::V6ToV4);
    let h = parse4(&f);
    assert_eq!(h.identification, 0xbabe);
    assert!(!h.more_fragments && !h.dont_fragment);
    assert_eq!(h.total_len, 36);
}

// §5.1 (via §5 "the translator MUST behave as a router"): Hop Limit 1 would reach 0:
// dropped with ICMPv6 Time Exceeded code 0 from the translator's address.
#[test]
fn rfc7915_s5_1_hop_limit_exceeded() {
    let p = udp6(CLIENT6, SERVER6, 1, b"ttl");
    let r = run(&p);
    assert_eq!(r.verdict, Verdict::Drop(R::Ipv6HopLimitExceeded));
    let e = &r.frames[0];
    check_emitted(e).unwrap();
    assert_eq!(parse6(e).source, XLAT6);
    assert_eq!(parse6(e).destination, CLIENT6);
    assert_eq!(&e[40..42], &[3, 0]);
    assert_eq!(&e[44..48], &[0, 0, 0, 0]);
    assert_eq!(&e[48..], &p[..]);
    let r = run(&udp6(CLIENT6, SERVER6, 2, b"ttl"));
    assert_eq!(r.verdict, Verdict::V6ToV4);
    assert_eq!(parse4(&r.frames[0]).time_to_live, 1);
}

// §5 (router behaviour): a DF = 1 result above the IPv4 MTU gets Packet Too Big with
// MTU = IPv4 MTU + 20 (what the IPv6 sender may use), never below 1280.
#[test]
fn rfc7915_s5_packet_too_big() {
    let t = translator_with(|c| c.mtu = 1400);
    let p = udp6(CLIENT6, SERVER6, 64, &[0; 1452]);
    let r = run_with(&t, &p);
    assert_eq!(r.verdict, Verdict::Drop(R::Ipv6PacketTooBig));
    let e = &r.frames[0];
    check_emitted(e).unwrap();
    assert_eq!(e.len(), 1280);
    assert_eq!(&e[40..42], &[2, 0]);
    assert_eq!(u32::from_be_bytes([e[44], e[45], e[46], e[47]]), 1420);
    // Exactly the MTU after translation: forwarded.
    let p = udp6(CLIENT6, SERVER6, 64, &[0; 1400 - 28]);
    assert_eq!(run_with(&t, &p).verdict, Verdict::V6ToV4);
}

// §5: DF = 0 results (≤ 1260 bytes, or fragments) above the IPv4 MTU are fragmented by
// the translator; pieces share the Identification, offsets are multiples of 8.
#[test]
fn rfc7915_s5_ipv4_fragmentation_when_df0() {
    let t = translator_with(|c| c.mtu = 600);
    let payload: Vec<u8> = (0..952).map(|i| i as u8).collect();
    let p = udp6(CLIENT6, SERVER6, 64, &payload);
    let r = run_with(&t, &p);
    assert_eq!(r.verdict, Verdict::V6ToV4);
    assert_eq!(r.frames.len(), 2);
    let (h0, h1) = (parse4(&r.frames[0]), parse4(&r.frames[1]));
    assert_eq!((h0.total_len, h1.total_len), (596, 20 + 960 - 576));
    assert!(h0.more_fragments && !h1.more_fragments);
    assert_eq!(
        (h0.fragment_offset.value(), h1.fragment_offset.value()),
        (0, 72)
    );
    assert_eq!(h0.identification, h1.identification);
    assert_ne!(h0.identification, 0);
    for f in &r.frames {
        check_emitted(f).unwrap();
    }
    // Reassemble: the UDP checksum verifies over the IPv4 pseudo-header.
    let mut dgram = r.frames[0][20..].to_vec();
    dgram.extend_from_slice(&r.frames[1][20..]);
    let ph = checksum::pseudo_v4(CLIENT4, SERVER4, IpProtocol(17), dgram.len() as u16);
    assert_eq!(checksum::add(ph, checksum::ones_sum(&dgram)), 0xffff);
    assert_eq!(&dgram[8..], &payload[..]);
}

// Validation (§5.1 leaves it to RFC 8200): truncation, lengths, illegal and unmapped
// addresses, short transport headers.
#[test]
fn rfc7915_s5_1_validation() {
    let p = udp6(CLIENT6, SERVER6, 64, b"12345678");
    assert_eq!(run(&p[..39]).verdict, Verdict::Drop(R::Ipv6Truncated));
    assert_eq!(
        run(&p[..p.len() - 1]).verdict,
        Verdict::Drop(R::Ipv6BadLength)
    );
    // Extra bytes past Payload Length are trimmed.
    let mut long = p.clone();
    long.extend_from_slice(&[0xee; 10]);
    assert_eq!(one(&long, Verdict::V6ToV4).len(), p.len() - 20);
    for bad in ["::1", "::", "ff02::1", "fe80::1"] {
        let q = udp6(a6(bad), SERVER6, 64, b"x");
        assert_eq!(run(&q).verdict, Verdict::Drop(R::Ipv6BadSource), "{bad}");
    }
    for bad in ["ff05::1", "ff0e::1", "::1", "::"] {
        let q = udp6(CLIENT6, a6(bad), 64, b"x");
        assert_eq!(
            run(&q).verdict,
            Verdict::Drop(R::Ipv6BadDestination),
            "{bad}"
        );
    }
    // Packets to the link itself are not translated either, but are no fault: see
    // `rfc4291_link_scope_is_not_a_drop`.
    for link in ["ff02::1", "fe80::1"] {
        let q = udp6(CLIENT6, a6(link), 64, b"x");
        assert_eq!(run(&q).verdict, Verdict::LinkScope, "{link}");
    }
    let q = udp6(CLIENT6, a6("2001:db8:ffff::1"), 64, b"x");
    assert_eq!(run(&q).verdict, Verdict::Drop(R::Ipv6DestinationUnmapped));
    let q = udp6(a6("2001:db8:ffff::1"), SERVER6, 64, b"x");
    assert_eq!(run(&q).verdict, Verdict::Drop(R::Ipv6SourceUnmapped));
    // UDP header cut short (Payload Length 4).
    let mut q = p[..44].to_vec();
    q[4..6].copy_from_slice(&4u16.to_be_bytes());
    assert_eq!(run(&q).verdict, Verdict::Drop(R::TransportTruncated));
    // Truncated extension header.
    let q = insert_ext(&p[..40], 60, &[17, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(run(&q).verdict, Verdict::Drop(R::Ipv6BadExtensionHeader));
    // ICMPv4 inside IPv6 (Next Header 1).
    let mut q = p.clone();
    q[6] = 1;
    assert_eq!(run(&q).verdict, Verdict::Drop(R::Ipv6BadProtocol));
    // Non-IPv4/IPv6 version.
    assert_eq!(run(&[0x50; 40]).verdict, Verdict::Drop(R::UnknownVersion));
    assert_eq!(run(&[]).verdict, Verdict::Drop(R::UnknownVersion));
}

// §5.1 "Type of Service": optionally reset to zero.
#[test]
fn rfc7915_s5_1_reset_tos_option() {
    let t = translator_with(|c| c.reset_tos = true);
    let mut p = udp6(CLIENT6, SERVER6, 64, b"x");
    p[0] = 0x6b;
    p[1] = 0x80;
    let f = one_with(&t, &p, Verdict::V6ToV4);
    assert_eq!(f[1], 0);
}

// §5.1.1: IPv6 fragments → IPv4 fragments, one for one. A UDP datagram of 8 + 1000
// bytes sent by an IPv6 host as two fragments (512 data bytes at offset 0 with M = 1,
// 496 at offset 64 with M = 0, Identification 0xdeadbeef): each becomes an IPv4
// fragment with Identification = the low 16 bits (0xbeef), MF = M, DF = 0, the same
// offset, Protocol = the Fragment header's Next Header, Total Length = 20 + data.
// Reassembled, the UDP datagram equals what an IPv4 stack would have sent natively
// (checksum over the IPv4 pseudo-header, §5.5).
#[test]
fn rfc7915_s5_1_1_ipv6_fragments_to_ipv4_fragments() {
    let payload: Vec<u8> = (0..1000u32).map(|i| (i % 253) as u8).collect();
    let whole = udp6(CLIENT6, SERVER6, 64, &payload);
    let data = &whole[40..];
    let frag = |chunk: &[u8], off: u16, more: bool| {
        let word = (off << 3) | u16::from(more);
        let w = word.to_be_bytes();
        let mut ext = vec![17u8, 0, w[0], w[1], 0xde, 0xad, 0xbe, 0xef];
        ext.extend_from_slice(chunk);
        insert_ext(&whole[..40], 44, &ext)
    };
    let f1 = frag(&data[..512], 0, true);
    let f2 = frag(&data[512..], 64, false);
    let mut dgram = Vec::new();
    for (p, off, mf, len) in [(&f1, 0u16, true, 512usize), (&f2, 64, false, 496)] {
        let o = one(p, Verdict::V6ToV4);
        let h = parse4(&o);
        assert_eq!(h.identification, 0xbeef);
        assert_eq!((h.more_fragments, h.dont_fragment), (mf, false));
        assert_eq!(h.fragment_offset.value(), off);
        assert_eq!(h.protocol, etherparse::IpNumber::UDP);
        assert_eq!(usize::from(h.total_len), 20 + len);
        assert_eq!(
            (h.source, h.destination, h.time_to_live),
            (CLIENT4, SERVER4, 63)
        );
        dgram.extend_from_slice(&o[20..]);
    }
    let mut native = Vec::new();
    PacketBuilder::ipv4(CLIENT4, SERVER4, 63)
        .udp(40000, 53)
        .write(&mut native, &payload)
        .unwrap();
    assert_eq!(dgram, native[20..]);
}

// RFC 4291 §2.7: multicast scop 1 (interface-local) and 2 (link-local) and §2.5.6
// link-local unicast never leave the link, so a router forwards none of them. A kernel
// that forwards joins ff02::2 on every interface, the TUN included, and sends MLDv2
// reports (RFC 3810 §5.2, from :: before the interface has an address) into it: the
// translator neither translates them nor counts them as drops.
#[test]
fn rfc4291_link_scope_is_not_a_drop() {
    // MLDv2 report (type 143) from :: to ff02::16 with Router Alert, as the kernel sends.
    let mut mld = vec![
        0x60, 0, 0, 0, 0, 36, 0, 1, // hop-by-hop next
    ];
    mld.extend_from_slice(&a6("::"));
    mld.extend_from_slice(&a6("ff02::16"));
    // Hop-by-Hop: next ICMPv6, len 0, Router Alert (RFC 2711) value 0 (MLD), PadN.
    mld.extend_from_slice(&[58, 0, 5, 2, 0, 0, 1, 0]);
    // ICMPv6 143, one record: CHANGE_TO_EXCLUDE (4) ff02::2. Checksum irrelevant here.
    mld.extend_from_slice(&[143, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0]);
    mld.extend_from_slice(&a6("ff02::2"));
    assert_eq!(mld.len(), 40 + 36);
    assert_eq!(run(&mld).verdict, Verdict::LinkScope);
    // Interface-local and link-local groups with flags set (ff12::, ff31::), a
    // link-local unicast destination, any source.
    for (src, dst) in [
        ("fe80::1", "ff02::1"),
        ("fe80::1", "ff12::1:ff00:1"),
        ("2001:db8::1", "ff31::1"),
        ("fe80::1", "fe80::2"),
        ("::", "ff02::2"),
    ] {
        let q = udp6(a6(src), a6(dst), 1, b"x");
        assert_eq!(run(&q).verdict, Verdict::LinkScope, "{src} -> {dst}");
    }
    // A wider scope, or a link-local source to a global destination, is a fault.
    let q = udp6(a6("fe80::1"), SERVER6, 64, b"x");
    assert_eq!(run(&q).verdict, Verdict::Drop(R::Ipv6BadSource));
    let q = udp6(a6("fe80::1"), a6("ff05::2"), 64, b"x");
    assert_eq!(run(&q).verdict, Verdict::Drop(R::Ipv6BadSource));
}
