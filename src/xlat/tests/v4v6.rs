//! RFC 7915 §4.1 / §4.5: IPv4 → IPv6 headers and TCP/UDP.

use super::*;
use crate::xlat::DropReason as R;

// §4.1: Version 6, Traffic Class = TOS, Flow Label 0, Payload Length = Total Length −
// IHL×4, Next Header = Protocol, Hop Limit = TTL − 1, addresses mapped. DF = 1 and the
// packet fits: no Fragment header. §4.5: UDP checksum updated incrementally.
#[test]
fn rfc7915_s4_1_udp_header_fields() {
    let mut p = udp4(SERVER4, CLIENT4, 64, b"0123456789abcdef");
    p[1] = 0xb8;
    fix_v4_checksum(&mut p);
    let r = run(&p);
    assert_eq!(r.verdict, Verdict::V4ToV6);
    assert_eq!(r.zero_copy, vec![true]);
    let f = &r.frames[0];
    check_emitted(f).unwrap();
    let h = parse6(f);
    assert_eq!(h.traffic_class, 0xb8);
    assert_eq!(u32::from(h.flow_label), 0);
    assert_eq!(usize::from(h.payload_length), p.len() - 20);
    assert_eq!(h.next_header, etherparse::IpNumber::UDP);
    assert_eq!(h.hop_limit, 63);
    assert_eq!(h.source, SERVER6);
    assert_eq!(h.destination, CLIENT6);
    let u = etherparse::UdpHeader::from_slice(&f[40..]).unwrap().0;
    assert_eq!(u.checksum, u.calc_checksum_ipv6(&h, &f[48..]).unwrap());
    assert_eq!(&f[48..], b"0123456789abcdef");
}

// §4.1 with RFC 8021: DF = 0 but small enough → no Fragment header (no atomic
// fragments). §4.5 TCP checksum.
#[test]
fn rfc8021_no_atomic_fragments_generated() {
    let mut p = tcp4(SERVER4, CLIENT4, 64, &[3; 100]);
    set_v4_frag(&mut p, 0x4242, false, false, 0);
    let f = one(&p, Verdict::V4ToV6);
    let h = parse6(&f);
    assert_eq!(h.next_header, etherparse::IpNumber::TCP);
    assert_eq!(f.len(), 40 + 20 + 100);
    let t = etherparse::TcpHeader::from_slice(&f[40..]).unwrap().0;
    assert_eq!(t.checksum, t.calc_checksum_ipv6(&h, &f[60..]).unwrap());
}

// §4.1: an IPv4 fragment gets a Fragment header: Identification = IPv4 ID (upper 16
// bits zero), offset and M copied, Next Header = Protocol, Payload Length + 8.
#[test]
fn rfc7915_s4_1_fragment_header_for_ipv4_fragments() {
    let payload = [0x11u8; 200];
    let full = udp4(SERVER4, CLIENT4, 64, &payload);
    // Fragment 1: UDP header + 96 bytes (MF = 1); fragment 2: the rest at offset 13.
    let mut f1 = full[..20 + 104].to_vec();
    f1[2..4].copy_from_slice(&124u16.to_be_bytes());
    set_v4_frag(&mut f1, 0xabcd, false, true, 0);
    let mut f2 = full[..20].to_vec();
    f2.extend_from_slice(&full[20 + 104..]);
    let l2 = f2.len() as u16;
    f2[2..4].copy_from_slice(&l2.to_be_bytes());
    set_v4_frag(&mut f2, 0xabcd, false, false, 13);
    let o1 = one(&f1, Verdict::V4ToV6);
    let o2 = one(&f2, Verdict::V4ToV6);
    for (o, off, m, len) in [(&o1, 0u16, true, 104usize), (&o2, 13, false, 104)] {
        let h = parse6(o);
        assert_eq!(usize::from(h.payload_length), 8 + len);
        assert_eq!(frag6(o), (17, off, m, 0xabcd));
    }
    // The first fragment's UDP checksum covers the whole datagram: reassembled, it
    // verifies over the IPv6 pseudo-header.
    let mut dgram = o1[48..].to_vec();
    dgram.extend_from_slice(&o2[48..]);
    let ph = checksum::pseudo_v6(SERVER6, CLIENT6, IpProtocol(17), dgram.len() as u32);
    assert_eq!(checksum::add(ph, checksum::ones_sum(&dgram)), 0xffff);
}

// §4.1: DF = 0 and larger than lowest-ipv6-mtu after translation → IPv6 fragments of at
// most lowest-ipv6-mtu bytes, offsets multiples of 8, payload not copied.
#[test]
fn rfc7915_s4_1_df0_fragmented_to_lowest_ipv6_mtu() {
    let payload: Vec<u8> = (0..1472u32).map(|i| (i * 7) as u8).collect();
    let mut p = udp4(SERVER4, CLIENT4, 64, &payload);
    set_v4_frag(&mut p, 0x0102, false, false, 0);
    let r = run(&p);
    assert_eq!(r.verdict, Verdict::V4ToV6);
    assert_eq!(r.frames.len(), 2);
    let mut dgram = Vec::new();
    let mut expect_off = 0;
    for (i, f) in r.frames.iter().enumerate() {
        check_emitted(f).unwrap();
        assert!(f.len() <= 1280);
        let (nh, off, m, id) = frag6(f);
        assert_eq!(usize::from(off) * 8, expect_off);
        assert_eq!((nh, m, id), (17, i == 0, 0x0102));
        expect_off += f.len() - 48;
        dgram.extend_from_slice(&f[48..]);
    }
    assert_eq!(r.frames[0].len(), 1280);
    let ph = checksum::pseudo_v6(SERVER6, CLIENT6, IpProtocol(17), dgram.len() as u32);
    assert_eq!(checksum::add(ph, checksum::ones_sum(&dgram)), 0xffff);
    assert_eq!(&dgram[8..], &payload[..]);
}

// §4.1: an IPv4 fragment that must be split again: offsets continue from the
// fragment's own offset, and every piece keeps MF = 1 when the original had it.
#[test]
fn rfc7915_s4_1_fragment_of_fragment_offsets_combine() {
    let mut p = udp4(SERVER4, CLIENT4, 64, &[0u8; 1472]);
    set_v4_frag(&mut p, 7, false, true, 185);
    let r = run(&p);
    assert_eq!(r.verdict, Verdict::V4ToV6);
    assert_eq!(r.frames.len(), 2);
    let hdrs: Vec<_> = r.frames.iter().map(|f| frag6(f)).collect();
    assert_eq!(
        hdrs,
        vec![(17, 185, true, 7), (17, 185 + 1232 / 8, true, 7)]
    );
    assert_eq!(r.frames[1].len(), 48 + 1480 - 1232);
}

// §4.1: DF = 1 and too big for the IPv6 next hop → ICMPv4 Fragmentation Needed with
// the MTU the IPv4 sender must use (IPv6 MTU − 20), from the translator's address.
#[test]
fn rfc7915_s4_1_df1_fragmentation_needed() {
    let p = udp4(SERVER4, CLIENT4, 64, &[0u8; 1472]);
    let r = run(&p);
    assert_eq!(r.verdict, Verdict::Drop(R::Ipv4FragmentationNeeded));
    let e = &r.frames[0];
    check_emitted(e).unwrap();
    let h = parse4(e);
    assert_eq!(h.source, XLAT4);
    assert_eq!(h.destination, SERVER4);
    assert_eq!(e.len(), 576);
    assert_eq!(&e[20..22], &[3, 4]);
    assert_eq!(u16::from_be_bytes([e[26], e[27]]), 1480);
    assert_eq!(&e[28..], &p[..548]);
}

// §4.1 "Hop Limit": TTL 1 → ICMPv4 Time Exceeded code 0.
#[test]
fn rfc7915_s4_1_ttl_exceeded() {
    let p = udp4(SERVER4, CLIENT4, 1, b"x");
    let r = run(&p);
    assert_eq!(r.verdict, Verdict::Drop(R::Ipv4TtlExceeded));
    let e = &r.frames[0];
    check_emitted(e).unwrap();
    assert_eq!(parse4(e).destination, SERVER4);
    assert_eq!(&e[20..22], &[11, 0]);
    assert_eq!(&e[28..], &p[..]);
}

fn with_options(p: &[u8], opts: &[u8]) -> Vec<u8> {
    let mut v = p[..20].to_vec();
    v.extend_from_slice(opts);
    v.extend_from_slice(&p[20..]);
    v[0] = 0x40 | ((20 + opts.len()) / 4) as u8;
    let tl = v.len() as u16;
    v[2..4].copy_from_slice(&tl.to_be_bytes());
    fix_v4_checksum(&mut v);
    v
}

// §4.1: IPv4 options are ignored, except an unexpired LSRR/SSRR: dropped with ICMPv4
// Destination Unreachable, Source Route Failed (3/5).
#[test]
fn rfc7915_s4_1_options() {
    let base = udp4(SERVER4, CLIENT4, 64, b"options!");
    // Record Route (type 7): ignored, and the header shrinks by the options too.
    let p = with_options(&base, &[7, 7, 4, 0, 0, 0, 0, 0]);
    let f = one(&p, Verdict::V4ToV6);
    assert_eq!(f.len(), 40 + 16);
    // Expired LSRR (pointer past length): translated.
    let p = with_options(&base, &[131, 7, 8, 192, 0, 2, 9, 0]);
    one(&p, Verdict::V4ToV6);
    // Unexpired SSRR.
    let p = with_options(&base, &[137, 7, 4, 192, 0, 2, 9, 0]);
    let r = run(&p);
    assert_eq!(r.verdict, Verdict::Drop(R::Ipv4SourceRoute));
    check_emitted(&r.frames[0]).unwrap();
    assert_eq!(&r.frames[0][20..22], &[3, 5]);
}

// §4.5: IPv4 UDP checksum zero: dropped by default; computed when configured for
// unfragmented packets; a fragment with checksum zero is always dropped.
#[test]
fn rfc7915_s4_5_udp_checksum_zero() {
    let mut p = udp4(SERVER4, CLIENT4, 64, b"zero checksum");
    p[26] = 0;
    p[27] = 0;
    assert_eq!(run(&p).verdict, Verdict::Drop(R::UdpChecksumZero));
    let t = translator_with(|c| c.amend_udp_checksum_zero = true);
    let f = one_with(&t, &p, Verdict::V4ToV6);
    assert_ne!(&f[46..48], &[0, 0]);
    let mut q = p.clone();
    set_v4_frag(&mut q, 1, false, true, 0);
    assert_eq!(run_with(&t, &q).verdict, Verdict::Drop(R::UdpChecksumZero));
}

// §4.1 "Traffic Class": optionally zero.
#[test]
fn rfc7915_s4_1_reset_traffic_class_option() {
    let t = translator_with(|c| c.reset_traffic_class = true);
    let mut p = udp4(SERVER4, CLIENT4, 64, b"x");
    p[1] = 0xb8;
    fix_v4_checksum(&mut p);
    assert_eq!(parse6(&one_with(&t, &p, Verdict::V4ToV6)).traffic_class, 0);
}

// IPv4 validation: header checksum, IHL, Total Length, illegal and unmapped addresses.
#[test]
fn rfc7915_s4_1_validation() {
    let p = udp4(SERVER4, CLIENT4, 64, b"12345678");
    assert_eq!(run(&p[..19]).verdict, Verdict::Drop(R::Ipv4Truncated));
    let mut q = p.clone();
    q[10] ^= 1;
    assert_eq!(run(&q).verdict, Verdict::Drop(R::Ipv4BadChecksum));
    let mut q = p.clone();
    q[0] = 0x44;
    assert_eq!(run(&q).verdict, Verdict::Drop(R::Ipv4BadIhl));
    assert_eq!(
        run(&p[..p.len() - 1]).verdict,
        Verdict::Drop(R::Ipv4BadLength)
    );
    let mut long = p.clone();
    long.extend_from_slice(&[0xee; 7]);
    assert_eq!(one(&long, Verdict::V4ToV6).len(), p.len() + 20);
    for bad in ["127.0.0.1", "0.1.2.3", "224.0.0.1", "255.255.255.255"] {
        assert_eq!(
            run(&udp4(a4(bad), CLIENT4, 64, b"x")).verdict,
            Verdict::Drop(R::Ipv4BadSource),
            "{bad}"
        );
    }
    for bad in ["127.0.0.1", "0.0.0.0", "239.1.1.1", "255.255.255.255"] {
        assert_eq!(
            run(&udp4(SERVER4, a4(bad), 64, b"x")).verdict,
            Verdict::Drop(R::Ipv4BadDestination),
            "{bad}"
        );
    }
    // Without pool6 only EAM addresses map.
    let t = translator_with(|c| {
        c.map = crate::addr::AddrMapper::new(
            None,
            &[(
                "2001:db8:1::/120".parse().unwrap(),
                "192.0.2.0/24".parse().unwrap(),
            )],
            false,
        )
        .unwrap()
    });
    assert_eq!(
        run_with(&t, &p).verdict,
        Verdict::Drop(R::Ipv4SourceUnmapped)
    );
    let q = udp4(CLIENT4, SERVER4, 64, b"x");
    assert_eq!(
        run_with(&t, &q).verdict,
        Verdict::Drop(R::Ipv4DestinationUnmapped)
    );
    // TCP header cut short.
    let mut q = tcp4(SERVER4, CLIENT4, 64, b"")[..30].to_vec();
    q[2..4].copy_from_slice(&30u16.to_be_bytes());
    fix_v4_checksum(&mut q);
    assert_eq!(run(&q).verdict, Verdict::Drop(R::TransportTruncated));
    // Protocol numbers that are IPv6 extension headers; IGMP (§4.2).
    for (proto, reason) in [
        (0u8, R::Ipv4BadProtocol),
        (44, R::Ipv4BadProtocol),
        (2, R::IcmpUntranslatable),
    ] {
        let mut q = p.clone();
        q[9] = proto;
        fix_v4_checksum(&mut q);
        assert_eq!(run(&q).verdict, Verdict::Drop(reason), "{proto}");
    }
    // Unknown protocols are carried through (§4.1 "Next Header").
    let mut q = p.clone();
    q[9] = 253;
    fix_v4_checksum(&mut q);
    assert_eq!(
        parse6(&one(&q, Verdict::V4ToV6)).next_header,
        etherparse::IpNumber(253)
    );
}

// §4.1: a DF = 0 IPv4 datagram of 2000 bytes (UDP, 1972 payload bytes) exceeds
// lowest-ipv6-mtu (1280): it is split into IPv6 fragments of at most 1280 bytes, each
// with a Fragment header (Next Header UDP, Identification = IPv4 ID with the high 16
// bits zero), offsets in 8-octet units counting the fragmentable part, M = 1 on all
// but the last. 1980 transport bytes, 1280 − 48 = 1232 per fragment: 1232 + 748, the
// second at offset 1232 / 8 = 154. Reassembled, the UDP datagram equals the one an
// IPv6 stack would have sent natively (checksum over the IPv6 pseudo-header, §4.5).
#[test]
fn rfc7915_s4_1_df0_2000_bytes_udp_fragments() {
    let payload: Vec<u8> = (0..1972u32).map(|i| (i % 251) as u8).collect();
    let mut p = udp4(SERVER4, CLIENT4, 64, &payload);
    assert_eq!(p.len(), 2000);
    set_v4_frag(&mut p, 0xbeef, false, false, 0);
    let r = run(&p);
    assert_eq!(r.verdict, Verdict::V4ToV6);
    assert_eq!(r.frames.len(), 2);
    let want = [
        (17u8, 0u16, true, 0xbeefu32, 1232usize),
        (17, 154, false, 0xbeef, 748),
    ];
    let mut dgram = Vec::new();
    for (f, (nh, off, m, id, len)) in r.frames.iter().zip(want) {
        check_emitted(f).unwrap();
        let h = parse6(f);
        assert_eq!(
            (h.source, h.destination, h.hop_limit),
            (SERVER6, CLIENT6, 63)
        );
        assert_eq!(usize::from(h.payload_length), 8 + len);
        assert!(f.len() <= 1280);
        assert_eq!(frag6(f), (nh, off, m, id));
        dgram.extend_from_slice(&f[48..]);
    }
    let mut native = Vec::new();
    PacketBuilder::ipv6(SERVER6, CLIENT6, 63)
        .udp(53, 40000)
        .write(&mut native, &payload)
        .unwrap();
    assert_eq!(dgram, native[40..]);
}
