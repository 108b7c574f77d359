//! The CLAT (RFC 6877) through the SIIT core: its mapping (`clat::ClatMapping`) in
//! the translator, packets both ways, and what it refuses.

use super::*;
use crate::clat::ClatMapping;
use crate::xlat::DropReason;

const HOST: [u8; 4] = [192, 0, 0, 1];
const SRV: [u8; 4] = [198, 51, 100, 130];

fn clat(plat: Option<&str>) -> Translator {
    let m = ClatMapping {
        v4: "192.0.0.1/32".parse().unwrap(),
        v6: "2001:db8:a::c1a7/128".parse().unwrap(),
    };
    translator_with(|c| {
        c.map = m.mapper(plat.map(|p| p.parse().unwrap()), true).unwrap();
        c.ipv4_addr = crate::clat::XLAT_V4;
        c.ipv6_addr = m.own_v6();
    })
}

/// RFC 6877 §6.3 / RFC 7915 §4.1: the host's packet leaves from the CLAT's IPv6
/// address to the server's address in the PLAT prefix, hop limit = TTL − 1.
#[test]
fn rfc6877_6_3_host_packet_to_the_plat() {
    let t = clat(Some("2001:db8:64::/96"));
    let out = one_with(&t, &udp4(HOST, SRV, 64, b"hi"), Verdict::V4ToV6);
    assert_eq!(out[8..24], a6("2001:db8:a::c1a7"));
    assert_eq!(out[24..40], a6("2001:db8:64::c633:6482"));
    assert_eq!(out[7], 63);
}

/// RFC 7915 §5.1: the reply to the CLAT's address goes to 192.0.0.1 as IPv4. The
/// EAM names an IPv4-side host here, so it is not RFC 7757 §4 hairpinning.
#[test]
fn rfc7915_5_1_reply_to_the_clat_address_is_translated_not_hairpinned() {
    let t = clat(Some("2001:db8:64::/96"));
    let reply = udp6(
        a6("2001:db8:64::c633:6482"),
        a6("2001:db8:a::c1a7"),
        60,
        b"yo",
    );
    let out = one_with(&t, &reply, Verdict::V6ToV4);
    assert_eq!(out[12..16], SRV);
    assert_eq!(out[16..20], HOST);
}

/// Bad input from the host (RFC 1812 §5.3.7; RFC 7335's /29 stays local): dropped and
/// counted by reason; and with no PLAT prefix known nothing is translated.
#[test]
fn bad_destinations_and_no_prefix_are_dropped_with_reasons() {
    let t = clat(Some("2001:db8:64::/96"));
    for (dst, why) in [
        ([239, 1, 2, 3], DropReason::Ipv4BadDestination),
        ([255, 255, 255, 255], DropReason::Ipv4BadDestination),
        ([127, 0, 0, 1], DropReason::Ipv4BadDestination),
        ([192, 0, 0, 7], DropReason::Ipv4DestinationUnmapped),
    ] {
        let r = run_with(&t, &udp4(HOST, dst, 64, b"x"));
        assert_eq!(r.verdict, Verdict::Drop(why), "{dst:?}");
        assert!(r.frames.is_empty());
    }
    let r = run_with(&clat(None), &udp4(HOST, SRV, 64, b"x"));
    assert_eq!(
        r.verdict,
        Verdict::Drop(DropReason::Ipv4DestinationUnmapped)
    );
}

/// RFC 7915 §4.2 / RFC 792: TTL 1 from the host is answered by the CLAT itself with
/// Time Exceeded from 192.0.0.2 (RFC 7335).
#[test]
fn rfc7915_4_ttl_expiry_answered_from_192_0_0_2() {
    let t = clat(Some("2001:db8:64::/96"));
    let r = run_with(&t, &udp4(HOST, SRV, 1, b"x"));
    assert_eq!(r.verdict, Verdict::Drop(DropReason::Ipv4TtlExceeded));
    assert_eq!(r.frames.len(), 1);
    let e = &r.frames[0];
    assert_eq!((e[9], e[20]), (1, 11), "ICMPv4 Time Exceeded");
    assert_eq!(e[12..16], [192, 0, 0, 2]);
    assert_eq!(e[16..20], HOST);
}
