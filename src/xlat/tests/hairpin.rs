//! RFC 7757 §4: hairpinning between EAM-mapped IPv6 nodes.

use super::*;

const B6: &str = "2001:db8:1::3";
/// B's IPv4 address (192.0.2.3) as the client sees it, through pool6.
const B_VIA_POOL6: &str = "2001:db8:64::c000:203";
/// The client's IPv4 address (192.0.2.2) through pool6.
const A_VIA_POOL6: &str = "2001:db8:64::c000:202";

// §4.2.2: A (2001:db8:1::2 = 192.0.2.2) sends to pool6(192.0.2.3); 192.0.2.3 is in an
// EAM, so the packet comes straight back as IPv6: source pool6(192.0.2.2) (RFC 6052
// only), destination EAM(192.0.2.3) = 2001:db8:1::3. One hop is consumed.
#[test]
fn rfc7757_s4_udp_hairpinned() {
    let p = udp6(CLIENT6, a6(B_VIA_POOL6), 64, b"hairpin");
    let f = one(&p, Verdict::Hairpinned);
    let h = parse6(&f);
    assert_eq!(h.source, a6(A_VIA_POOL6));
    assert_eq!(h.destination, a6(B6));
    assert_eq!(h.hop_limit, 63);
    assert_eq!(&f[48..], b"hairpin");
    // B's reply goes back the same way.
    let reply = udp6(a6(B6), a6(A_VIA_POOL6), 64, b"reply");
    let g = one(&reply, Verdict::Hairpinned);
    assert_eq!(parse6(&g).source, a6(B_VIA_POOL6));
    assert_eq!(parse6(&g).destination, CLIENT6);
}

#[test]
fn rfc7757_s4_echo_hairpinned() {
    let p = echo6(CLIENT6, a6(B_VIA_POOL6), 64, b"ping");
    let f = one(&p, Verdict::Hairpinned);
    assert_eq!(f[40], 128);
}

// §4 with an ICMP error: B reports Port Unreachable about A's packet; the quoted packet
// is mapped with the mirror rule so it matches what A sent.
#[test]
fn rfc7757_s4_icmp_error_hairpinned() {
    let quoted = udp6(a6(A_VIA_POOL6), a6(B6), 63, b"hairpin");
    let p = icmp6_raw(a6(B6), a6(A_VIA_POOL6), 1, 4, [0; 4], &quoted);
    let f = one(&p, Verdict::Hairpinned);
    let h = parse6(&f);
    assert_eq!((h.source, h.destination), (a6(B_VIA_POOL6), CLIENT6));
    assert_eq!(&f[40..42], &[1, 4]);
    let ih = parse6(&f[48..]);
    assert_eq!((ih.source, ih.destination), (CLIENT6, a6(B_VIA_POOL6)));
    check_emitted(&f[48..]).unwrap();
}

// §4.2.1 simple hairpinning: an IPv4 packet between two EAM addresses (routed back to
// us by another box) has its source translated with RFC 6052 only.
#[test]
fn rfc7757_s4_2_1_simple_hairpinning() {
    let p = udp4(CLIENT4, a4("192.0.2.3"), 64, b"simple");
    let f = one(&p, Verdict::V4ToV6);
    let h = parse6(&f);
    assert_eq!((h.source, h.destination), (a6(A_VIA_POOL6), a6(B6)));
}
