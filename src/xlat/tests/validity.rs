//! Addresses that are never emitted nor translated (issue 9), in SIIT and NAT64 mode,
//! with every RFC 6052 prefix length.
//!
//! The rules (`addr::validity`): RFC 1812 §5.3.7 "A router SHOULD NOT forward any
//! packet that has an invalid IP source address or a source address on network 0. A
//! router SHOULD NOT forward, except over a loopback interface, any packet that has a
//! source address on network 127." — the same for destinations, "An IP destination
//! address is invalid if it ... is a Class E address" — and multicast, which neither
//! mode maps: 0/8, 127/8, 224/4, 240/4. On the IPv6 side RFC 4291 §2.5.2 (::), §2.5.3
//! (::1), §2.7 (ff00::/8) and §2.5.6 (fe80::/10). RFC 7915 §4.3: "The translation of
//! the inner IP header can be done by invoking the function that translated the outer
//! IP headers", so a quoted packet obeys the same rules (§5.3 likewise).
//!
//! RFC 6052 §2.2 spreads the IPv4 address around the u-octet (bits 64–71) for prefixes
//! shorter than /64, so each of the six lengths is tried, with the prefixes of the
//! RFC 6052 §2.4 table. NAT64 clients live in 3fff::/20 (RFC 9637 documentation space),
//! outside every one of them. (The reserved ranges are the subject here, so
//! non-documentation IPv4 addresses appear; nothing is sent.)

use std::net::{Ipv4Addr, Ipv6Addr};

use super::super::selfcheck::check_emitted;
use super::super::{DropReason as R, Nat64Translator, Output, Translator, Verdict, XlatConfig};
use super::*;
use crate::addr::{AddrMapper, Prefix6052};
use crate::nat64::{Pool4, Proto, Shard, ShardConfig, StaticBib};

/// RFC 6052 §2.4's prefixes, one per allowed length (§2.2).
pub(super) const PREFIXES: [&str; 6] = [
    "2001:db8::/32",
    "2001:db8:100::/40",
    "2001:db8:122::/48",
    "2001:db8:122:300::/56",
    "2001:db8:122:344::/64",
    "2001:db8:122:344::/96",
];

/// Both edges of each IPv4 range, 255.255.255.255 included.
pub(super) const BAD4: [&str; 12] = [
    "0.0.0.0",
    "0.0.0.1",
    "0.255.255.255",
    "127.0.0.1",
    "127.255.255.255",
    "224.0.0.0",
    "224.0.0.1",
    "239.255.255.255",
    "240.0.0.0",
    "240.0.0.1",
    "255.255.255.254",
    "255.255.255.255",
];

/// ::, ::1, ff00::/8 and fe80::/10 at their edges.
const BAD6: [&str; 6] = ["::", "::1", "ff00::", "ff02::1", "fe80::1", "febf::1"];

/// The IPv4 server used as a good control.
pub(super) const GOOD4: &str = "198.51.100.7";
/// A NAT64 client, outside every prefix of [`PREFIXES`].
pub(super) const NAT64_CLIENT: &str = "3fff::2";
pub(super) const NAT64_POOL4: &str = "203.0.113.10";

pub(super) fn embed(prefix: &str, v4: &str) -> [u8; 16] {
    let p = Prefix6052::new(prefix.parse().unwrap()).unwrap();
    p.embed(v4.parse().unwrap()).unwrap().octets()
}

/// SIIT with `prefix` as pool6 and the standard EAM 2001:db8:1::/120 = 192.0.2.0/24
/// plus `eams`.
pub(super) fn siit(prefix: &str, eams: &[(&str, &str)]) -> Translator {
    let mut all = vec![("2001:db8:1::/120", "192.0.2.0/24")];
    all.extend_from_slice(eams);
    let eams: Vec<_> = all
        .iter()
        .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
        .collect();
    let map = AddrMapper::new(Some(prefix.parse().unwrap()), &eams, false).unwrap();
    translator_with(|c| c.map = map)
}

pub(super) fn nat64(prefix: &str) -> Nat64Translator {
    let map = AddrMapper::new(Some(prefix.parse().unwrap()), &[], false).unwrap();
    let cfg = XlatConfig {
        map,
        ipv4_addr: "203.0.113.1".parse().unwrap(),
        ipv6_addr: "2001:db8:ffff::1".parse().unwrap(),
        ..XlatConfig::default()
    };
    Nat64Translator::new(cfg, false).unwrap()
}

pub(super) fn shard_on(pool4: &str) -> Shard {
    let cfg = ShardConfig::new(Pool4::new(vec![pool4.parse().unwrap()]), 1024);
    Shard::new(cfg, 7).unwrap()
}

/// One NAT64 translation: verdict and emitted frames, each checked by `check_emitted`.
pub(super) fn run64(t: &Nat64Translator, s: &mut Shard, input: &[u8]) -> (Verdict, usize) {
    let mut pkt = PacketBuf::from_packet(input);
    let mut out = Output::new();
    let v = t.translate(s, &mut pkt, &mut out, 0);
    for i in 0..out.frames().len() {
        check_emitted(&out.frame_bytes(i, &pkt)).unwrap();
    }
    (v.verdict, out.frames().len())
}

/// SIIT: the verdict, with every emitted frame checked; asserts none for a drop.
fn verdict(t: &Translator, input: &[u8]) -> Verdict {
    let r = run_with(t, input);
    for f in &r.frames {
        check_emitted(f).unwrap();
    }
    if matches!(r.verdict, Verdict::Drop(_)) {
        assert!(r.frames.is_empty(), "{:?}: {:02x?}", r.verdict, r.frames);
    }
    r.verdict
}

fn v4_of(f: &[u8]) -> ([u8; 4], [u8; 4]) {
    let h = parse4(f);
    (h.source, h.destination)
}

// SIIT, IPv6 → IPv4, each prefix length: pool6 ∘ a never-emitted IPv4 address is
// refused as destination and as source, for UDP, TCP and echo, and with Hop Limit 1 no
// Time Exceeded is sent for it either (the packet is not one we translate). The same
// addresses with a good IPv4 address translate.
#[test]
fn siit_rfc6052_every_prefix_length_refuses_bad_ipv4() {
    for prefix in PREFIXES {
        let t = siit(prefix, &[]);
        let server = embed(prefix, GOOD4);
        let f = one_with(&t, &udp6(CLIENT6, server, 64, b"x"), Verdict::V6ToV4);
        assert_eq!(v4_of(&f), (CLIENT4, a4(GOOD4)), "{prefix}");
        for bad in BAD4 {
            let dst = embed(prefix, bad);
            for p in [
                udp6(CLIENT6, dst, 64, b"x"),
                tcp6(CLIENT6, dst, 64, b"x"),
                echo6(CLIENT6, dst, 64, b"x"),
                udp6(CLIENT6, dst, 1, b"x"),
            ] {
                assert_eq!(
                    verdict(&t, &p),
                    Verdict::Drop(R::MappedIpv4BadDestination),
                    "{prefix} {bad}"
                );
            }
            let src = embed(prefix, bad);
            for p in [udp6(src, server, 64, b"x"), udp6(src, server, 1, b"x")] {
                assert_eq!(
                    verdict(&t, &p),
                    Verdict::Drop(R::MappedIpv4BadSource),
                    "{prefix} {bad}"
                );
            }
        }
    }
}

// NAT64, IPv6 → IPv4, each pool6 length (RFC 6146 §3.5.4: the destination is pool6 ∘
// IPv4): a never-emitted IPv4 destination is refused before any session exists.
#[test]
fn nat64_rfc6052_every_prefix_length_refuses_bad_ipv4() {
    let client = a6(NAT64_CLIENT);
    for prefix in PREFIXES {
        let t = nat64(prefix);
        let mut s = shard_on(NAT64_POOL4);
        for bad in BAD4 {
            let dst = embed(prefix, bad);
            for p in [
                udp6(client, dst, 64, b"x"),
                tcp6(client, dst, 64, b"x"),
                echo6(client, dst, 64, b"x"),
                udp6(client, dst, 1, b"x"),
            ] {
                assert_eq!(
                    run64(&t, &mut s, &p),
                    (Verdict::Drop(R::MappedIpv4BadDestination), 0),
                    "{prefix} {bad}"
                );
            }
        }
        assert_eq!(s.sessions(0).count(), 0, "{prefix}");
        let (v, n) = run64(&t, &mut s, &udp6(client, embed(prefix, GOOD4), 64, b"x"));
        assert_eq!((v, n), (Verdict::V6ToV4, 1), "{prefix}");
        // §3.5: a source inside pool6 is discarded whatever it embeds.
        let src = embed(prefix, "127.0.0.1");
        let p = udp6(src, embed(prefix, GOOD4), 64, b"x");
        assert_eq!(
            run64(&t, &mut s, &p),
            (Verdict::Drop(R::Nat64SourceInPool6), 0),
            "{prefix}"
        );
    }
}

// EAM (RFC 7757 §3.2) is a mapping like any other: an EAM whose IPv4 side is a
// never-emitted range is refused on use, as destination and as source.
#[test]
fn siit_eam_to_bad_ipv4_refused() {
    for v4net in ["127.0.0.0/24", "0.0.0.0/24", "224.0.0.0/24", "240.0.0.0/24"] {
        let t = siit("2001:db8:64::/96", &[("2001:db8:aaaa::/120", v4net)]);
        let eam6 = a6("2001:db8:aaaa::5");
        let server = a6("2001:db8:64::198.51.100.7");
        assert_eq!(
            verdict(&t, &udp6(CLIENT6, eam6, 64, b"x")),
            Verdict::Drop(R::MappedIpv4BadDestination),
            "{v4net}"
        );
        assert_eq!(
            verdict(&t, &udp6(eam6, server, 64, b"x")),
            Verdict::Drop(R::MappedIpv4BadSource),
            "{v4net}"
        );
    }
}

// RFC 7915 §5.1 / RFC 6791: the source of an ICMPv6 error from an unmapped router comes
// from the RFC 6791 pool, which is configuration: a pool in 127/8 emits nothing.
#[test]
fn siit_rfc6791_pool_in_bad_range_refused() {
    let t = translator_with(|c| c.pool6791 = vec!["127.0.0.0/30".parse().unwrap()]);
    let inner = udp6(SERVER6, CLIENT6, 33, b"quoted");
    let router = a6("2001:db8:ffff::1");
    let e = icmp6_raw(router, SERVER6, 1, 4, [0; 4], &inner);
    assert_eq!(verdict(&t, &e), Verdict::Drop(R::MappedIpv4BadSource));
}

// SIIT, IPv4 → IPv6: IPv4 packets with a never-translated source or destination are not
// translated (edges of every range), with TTL 1 no Time Exceeded either.
#[test]
fn siit_bad_ipv4_input_refused() {
    let t = siit("2001:db8:64::/96", &[]);
    for bad in BAD4 {
        for ttl in [64, 1] {
            assert_eq!(
                verdict(&t, &udp4(a4(bad), CLIENT4, ttl, b"x")),
                Verdict::Drop(R::Ipv4BadSource),
                "{bad}"
            );
            assert_eq!(
                verdict(&t, &udp4(SERVER4, a4(bad), ttl, b"x")),
                bad_dst4(bad),
                "{bad}"
            );
        }
    }
}

/// What a packet to a never-translated IPv4 destination gets: not translated either way,
/// but one to the Local Network Control Block (RFC 5771 §4, 224.0.0.0/24: "not
/// forwarded by routers") is the link's own traffic, counted apart from drops.
fn bad_dst4(bad: &str) -> Verdict {
    if bad.starts_with("224.0.0.") {
        Verdict::LinkScope
    } else {
        Verdict::Drop(R::Ipv4BadDestination)
    }
}

// NAT64, IPv4 → IPv6: the same refusals, before any session lookup.
#[test]
fn nat64_bad_ipv4_input_refused() {
    let t = nat64("2001:db8:122:344::/96");
    let mut s = shard_on(NAT64_POOL4);
    let pool4 = a4(NAT64_POOL4);
    for bad in BAD4 {
        assert_eq!(
            run64(&t, &mut s, &udp4(a4(bad), pool4, 64, b"x")).0,
            Verdict::Drop(R::Ipv4BadSource),
            "{bad}"
        );
        assert_eq!(
            run64(&t, &mut s, &udp4(a4(GOOD4), a4(bad), 64, b"x")).0,
            bad_dst4(bad),
            "{bad}"
        );
    }
}

// SIIT, IPv4 → IPv6: the IPv6 side must never be ::, ::1, ff00::/8 or fe80::/10. An
// EAM naming such an IPv6 prefix refuses destinations (with TTL 1 too: no error), and a
// pool6 in ff00::/8 or fe80::/10 (valid RFC 6052 prefixes, u-octet zero) refuses every
// source, at each prefix length.
#[test]
fn siit_mapped_bad_ipv6_refused() {
    for (eam6, eam4, dst4) in [
        ("ff02::/120", "198.51.100.0/24", "198.51.100.1"),
        ("fe80::/120", "198.51.100.0/24", "198.51.100.1"),
        ("::/128", "198.51.100.9/32", "198.51.100.9"),
        ("::1/128", "198.51.100.9/32", "198.51.100.9"),
    ] {
        let t = siit("2001:db8:64::/96", &[(eam6, eam4)]);
        for ttl in [64, 1] {
            assert_eq!(
                verdict(&t, &udp4(a4("203.0.113.5"), a4(dst4), ttl, b"x")),
                Verdict::Drop(R::MappedIpv6BadDestination),
                "{eam6}"
            );
        }
    }
    for len in [32, 40, 48, 56, 64, 96] {
        for base in ["ff0e::", "fe80::"] {
            let prefix = format!("{base}/{len}");
            let t = siit(&prefix, &[]);
            assert_eq!(
                verdict(&t, &udp4(SERVER4, CLIENT4, 64, b"x")),
                Verdict::Drop(R::MappedIpv6BadSource),
                "{prefix}"
            );
        }
    }
}

// NAT64: pool4 and static BIB entries are configuration. A pool4 address in a
// never-emitted range is never the source of an IPv4 packet, and a static BIB entry
// (RFC 6146 §3.5.2.2 / §3.5.1) naming a never-emitted IPv6 address is never a
// destination; a pool6 in ff00::/8 is never an IPv6 source.
#[test]
fn nat64_configured_bad_addresses_refused() {
    let client = a6(NAT64_CLIENT);
    let prefix = "2001:db8:122:344::/96";
    for pool4 in ["127.0.0.1", "240.0.0.1", "0.0.0.1"] {
        let t = nat64(prefix);
        let mut s = shard_on(pool4);
        let p = udp6(client, embed(prefix, GOOD4), 64, b"x");
        assert_eq!(
            run64(&t, &mut s, &p),
            (Verdict::Drop(R::MappedIpv4BadSource), 0),
            "{pool4}"
        );
    }
    for bad in BAD6 {
        let t = nat64(prefix);
        let mut s = shard_on(NAT64_POOL4);
        s.add_static(&StaticBib {
            proto: Proto::Udp,
            v6: bad.parse().unwrap(),
            v6_port: 53,
            v4: NAT64_POOL4.parse().unwrap(),
            v4_port: 5353,
        })
        .unwrap();
        let mut p = Vec::new();
        etherparse::PacketBuilder::ipv4(a4(GOOD4), a4(NAT64_POOL4), 64)
            .udp(40000, 5353)
            .write(&mut p, b"x")
            .unwrap();
        assert_eq!(
            run64(&t, &mut s, &p),
            (Verdict::Drop(R::MappedIpv6BadDestination), 0),
            "{bad}"
        );
    }
    let t = nat64("ff0e::/96");
    let mut s = shard_on(NAT64_POOL4);
    s.add_static(&StaticBib {
        proto: Proto::Udp,
        v6: client.into(),
        v6_port: 53,
        v4: NAT64_POOL4.parse().unwrap(),
        v4_port: 5353,
    })
    .unwrap();
    let mut p = Vec::new();
    etherparse::PacketBuilder::ipv4(a4(GOOD4), a4(NAT64_POOL4), 64)
        .udp(40000, 5353)
        .write(&mut p, b"x")
        .unwrap();
    assert_eq!(
        run64(&t, &mut s, &p),
        (Verdict::Drop(R::MappedIpv6BadSource), 0)
    );
}

// RFC 7915 §5.3 (SIIT), each prefix length: an ICMPv6 error whose quoted packet came
// from pool6 ∘ a never-emitted IPv4 address is about no packet we translated, and is
// dropped; as is one quoting an IPv6 packet with ::1, multicast or link-local addresses.
#[test]
fn siit_rfc7915_5_3_icmpv6_error_quoting_bad_address_dropped() {
    for prefix in PREFIXES {
        let t = siit(prefix, &[]);
        let server = embed(prefix, GOOD4);
        let good = udp6(server, CLIENT6, 33, b"quoted");
        let e = icmp6_raw(CLIENT6, server, 1, 4, [0; 4], &good);
        one_with(&t, &e, Verdict::V6ToV4);
        for bad in BAD4 {
            let inner = udp6(embed(prefix, bad), CLIENT6, 33, b"quoted");
            let e = icmp6_raw(CLIENT6, server, 1, 4, [0; 4], &inner);
            assert_eq!(
                verdict(&t, &e),
                Verdict::Drop(R::IcmpInnerBadAddress),
                "{prefix} {bad}"
            );
        }
    }
    let t = siit("2001:db8:64::/96", &[]);
    for bad in BAD6 {
        let inner = udp6(SERVER6, a6(bad), 33, b"quoted");
        let e = icmp6_raw(CLIENT6, SERVER6, 1, 4, [0; 4], &inner);
        assert_eq!(
            verdict(&t, &e),
            Verdict::Drop(R::IcmpInnerBadAddress),
            "{bad}"
        );
    }
}

// RFC 7915 §4.3 (SIIT): an ICMPv4 error quoting an IPv4 packet to a never-emitted
// address is dropped; so is one whose quoted destination would map (here through an
// EAM naming ff02::/120) to a never-emitted IPv6 address.
#[test]
fn siit_rfc7915_4_3_icmpv4_error_quoting_bad_address_dropped() {
    let t = siit("2001:db8:64::/96", &[]);
    let good = udp4(CLIENT4, SERVER4, 33, b"quoted");
    one_with(
        &t,
        &icmp4_raw(SERVER4, CLIENT4, 3, 3, [0; 4], &good),
        Verdict::V4ToV6,
    );
    for bad in BAD4 {
        let inner = udp4(CLIENT4, a4(bad), 33, b"quoted");
        let e = icmp4_raw(SERVER4, CLIENT4, 3, 3, [0; 4], &inner);
        assert_eq!(
            verdict(&t, &e),
            Verdict::Drop(R::IcmpInnerBadAddress),
            "{bad}"
        );
    }
    let t = siit("2001:db8:64::/96", &[("ff02::/120", "203.0.113.0/24")]);
    let inner = udp4(CLIENT4, a4("203.0.113.7"), 33, b"quoted");
    let e = icmp4_raw(SERVER4, CLIENT4, 3, 3, [0; 4], &inner);
    assert_eq!(verdict(&t, &e), Verdict::Drop(R::IcmpInnerBadAddress));
}

// RFC 6146 §3.4/§3.6.1 map errors through the quoted packet's session, with the RFC 7915
// header rules (§3.7): NAT64 drops an ICMPv6 error quoting pool6 ∘ a never-emitted
// address (each prefix length) and an ICMPv4 error quoting a packet to one, before any
// session lookup.
#[test]
fn nat64_icmp_error_quoting_bad_address_dropped() {
    let client = a6(NAT64_CLIENT);
    for prefix in PREFIXES {
        let t = nat64(prefix);
        let mut s = shard_on(NAT64_POOL4);
        let server = embed(prefix, GOOD4);
        for bad in BAD4 {
            let inner = udp6(embed(prefix, bad), client, 33, b"quoted");
            let e = icmp6_raw(client, server, 1, 4, [0; 4], &inner);
            assert_eq!(
                run64(&t, &mut s, &e),
                (Verdict::Drop(R::IcmpInnerBadAddress), 0),
                "{prefix} {bad}"
            );
            let inner = udp4(a4(NAT64_POOL4), a4(bad), 33, b"quoted");
            let e = icmp4_raw(a4(GOOD4), a4(NAT64_POOL4), 3, 3, [0; 4], &inner);
            assert_eq!(
                run64(&t, &mut s, &e),
                (Verdict::Drop(R::IcmpInnerBadAddress), 0),
                "{prefix} {bad}"
            );
        }
    }
}

/// The table in `addr::validity` and the independent rule of `selfcheck` agree on
/// every address that tests use.
#[test]
fn selfcheck_rule_matches_the_table() {
    use crate::addr::validity;
    for bad in BAD4 {
        assert!(validity::ipv4_is_never_translated(bad.parse().unwrap()));
        let p = udp4(SERVER4, a4(bad), 64, b"x");
        assert!(check_emitted(&p).is_err(), "{bad}");
    }
    for bad in BAD6 {
        let a: Ipv6Addr = bad.parse().unwrap();
        assert!(validity::ipv6_is_never_translated(a));
        assert!(check_emitted(&udp6(CLIENT6, a.octets(), 64, b"x")).is_err());
    }
    let good: Ipv4Addr = GOOD4.parse().unwrap();
    assert!(!validity::ipv4_is_never_translated(good));
}
