//! Properties: no panic and self-consistent output on arbitrary and mutated packets in
//! both directions; IPv6 → IPv4 → IPv6 preserves what RFC 7915 preserves.

use proptest::prelude::*;

use super::validity::{
    GOOD4, NAT64_CLIENT, NAT64_POOL4, PREFIXES, embed, nat64, run64, shard_on, siit,
};
use super::*;
use crate::addr::validity::ipv4_is_never_translated;
use crate::xlat::selfcheck::fuzz_one;

/// Valid packets of every kind the translator handles, both directions.
fn valid_packet(kind: u8, payload: &[u8]) -> Vec<u8> {
    let n = payload.len();
    match kind % 14 {
        0 => udp6(CLIENT6, SERVER6, 64, payload),
        1 => tcp6(CLIENT6, SERVER6, 64, payload),
        2 => echo6(CLIENT6, SERVER6, 64, payload),
        3 => udp4(SERVER4, CLIENT4, 64, payload),
        4 => tcp4(SERVER4, CLIENT4, 64, payload),
        5 => echo4(SERVER4, CLIENT4, 64, payload),
        6 => {
            let mut p = udp4(SERVER4, CLIENT4, 64, payload);
            set_v4_frag(&mut p, 77, false, n.is_multiple_of(2), (n % 5) as u16);
            p
        }
        7 => insert_ext(
            &udp6(CLIENT6, SERVER6, 64, payload),
            44,
            &[17, 0, 0, (n % 3) as u8, 0, 0, 1, 2],
        ),
        8 => icmp4_raw(
            SERVER4,
            CLIENT4,
            3,
            (n % 16) as u8,
            [0, 0, 5, 0],
            &udp4(CLIENT4, SERVER4, 9, payload),
        ),
        9 => icmp4_raw(
            SERVER4,
            CLIENT4,
            11,
            0,
            [0; 4],
            &echo4(CLIENT4, SERVER4, 9, payload),
        ),
        10 => icmp6_raw(
            a6("2001:db8:ffff::1"),
            SERVER6,
            (n % 4) as u8 + 1,
            0,
            [0, 0, 5, 0],
            &udp6(SERVER6, CLIENT6, 9, payload),
        ),
        11 => icmp6_raw(
            CLIENT6,
            SERVER6,
            3,
            0,
            [0; 4],
            &echo6(SERVER6, CLIENT6, 9, payload),
        ),
        12 => udp6(CLIENT6, a6("2001:db8:64::c000:203"), 64, payload),
        _ => insert_ext(
            &tcp6(CLIENT6, SERVER6, 64, payload),
            0,
            &[43, 0, 1, 4, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0],
        ),
    }
}

/// An IPv4 address, three times in four from 0/8, 127/8 or 224.0.0.0–255.255.255.255.
fn v4_often_never_emitted() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        any::<u32>(),
        0u32..1 << 24,
        (127u32 << 24)..(128 << 24),
        (224u32 << 24)..=u32::MAX,
    ]
    .prop_map(Ipv4Addr::from)
}

/// A packet that carries `a` (kind % 8): as the embedded IPv6 destination (UDP, echo)
/// or source (TCP), in the quote of an ICMPv6 error, as IPv4 source or destination, or
/// in an ICMPv4 error (quoted destination, or the error's source). `client6`/`client4`
/// are the IPv6 client and its IPv4 form (EAM address, or pool4 in NAT64).
fn carrying(
    kind: u8,
    prefix: &str,
    a: Ipv4Addr,
    (client6, client4): ([u8; 16], [u8; 4]),
    hop: u8,
    payload: &[u8],
) -> Vec<u8> {
    let at = embed(prefix, &a.to_string());
    let server6 = embed(prefix, GOOD4);
    let (a4, server4) = (a.octets(), super::a4(GOOD4));
    match kind % 8 {
        0 => udp6(client6, at, hop, payload),
        1 => echo6(client6, at, hop, payload),
        2 => tcp6(at, server6, hop, payload),
        3 => icmp6_raw(
            client6,
            server6,
            1,
            4,
            [0; 4],
            &udp6(at, client6, 9, payload),
        ),
        4 => udp4(a4, client4, hop, payload),
        5 => udp4(server4, a4, hop, payload),
        6 => icmp4_raw(
            server4,
            client4,
            3,
            3,
            [0; 4],
            &udp4(client4, a4, 9, payload),
        ),
        _ => icmp4_raw(
            a4,
            client4,
            11,
            0,
            [0; 4],
            &udp4(client4, server4, 9, payload),
        ),
    }
}

/// 512 cases by default (CI); `PROPTEST_CASES` raises it for longer local runs.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_bytes_never_panic(first in prop_oneof![Just(0x45u8), Just(0x46), Just(0x4f), Just(0x60), any::<u8>()],
                                rest in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut d = vec![first];
        d.extend_from_slice(&rest);
        fuzz_one(&d);
    }

    #[test]
    fn mutated_valid_packets_stay_consistent(kind in any::<u8>(),
                                             payload in proptest::collection::vec(any::<u8>(), 0..1600),
                                             flips in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..4),
                                             cut in any::<u16>()) {
        let mut p = valid_packet(kind, &payload);
        // Unmutated: must translate (or be refused) consistently.
        fuzz_one(&p);
        for (at, x) in flips {
            let i = usize::from(at) % p.len();
            p[i] ^= x;
        }
        fuzz_one(&p);
        let keep = usize::from(cut) % (p.len() + 1);
        fuzz_one(&p[..keep]);
    }

    // Issue 9 (RFC 1812 §5.3.7, RFC 6890; RFC 4291 for IPv6; RFC 7915 §4.3/§5.3 for
    // quoted packets): whatever IPv4 address a packet carries or embeds, in SIIT or
    // NAT64, with any RFC 6052 prefix length, no emitted packet (errors included) has a
    // source or destination in 0/8, 127/8, 224/4 or 240/4 or an IPv6 one in ::, ::1,
    // ff00::/8 or fe80::/10 (`check_emitted`), and a packet carrying such an address is
    // dropped. NAT64 first opens a session to `a`, so that later packets find one.
    #[test]
    fn never_emitted_addresses_stay_unemitted(nat in any::<bool>(), len in 0usize..6,
                                               a in v4_often_never_emitted(), kind in any::<u8>(),
                                               hop in 1u8..=3,
                                               payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let prefix = PREFIXES[len];
        let bad = ipv4_is_never_translated(a);
        let verdict = if nat {
            let (t, mut s) = (nat64(prefix), shard_on(NAT64_POOL4));
            let client = (super::a6(NAT64_CLIENT), super::a4(NAT64_POOL4));
            let open = udp6(client.0, embed(prefix, &a.to_string()), 64, &payload);
            let (v, _) = run64(&t, &mut s, &open);
            prop_assert_eq!(matches!(v, Verdict::Drop(_)), bad);
            run64(&t, &mut s, &carrying(kind, prefix, a, client, hop, &payload)).0
        } else {
            let t = siit(prefix, &[]);
            let r = run_with(&t, &carrying(kind, prefix, a, (CLIENT6, CLIENT4), hop, &payload));
            for f in &r.frames {
                prop_assert!(check_emitted(f).is_ok(), "{:?}: {:02x?}", check_emitted(f), f);
            }
            r.verdict
        };
        if bad {
            prop_assert!(matches!(verdict, Verdict::Drop(_)), "{} kind {}: {:?}", a, kind % 8, verdict);
        }
    }

    // RFC 7915 §5.1 then §4.1: addresses come back (EAM source, RFC 6052 destination),
    // Traffic Class survives, Flow Label becomes 0, each translation consumes one hop,
    // and the transport bytes come back with a checksum that verifies.
    #[test]
    fn rfc7915_round_trip_v6_v4_v6(kind in 0u8..3, tc in any::<u8>(), flow in 0u32..0x10_0000, hop in 3u8..=255,
                                   payload in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let mut p = match kind {
            0 => udp6(CLIENT6, SERVER6, hop, &payload),
            1 => tcp6(CLIENT6, SERVER6, hop, &payload),
            _ => echo6(CLIENT6, SERVER6, hop, &payload),
        };
        let w = (6u32 << 28) | (u32::from(tc) << 20) | flow;
        p[..4].copy_from_slice(&w.to_be_bytes());
        let v4 = one(&p, Verdict::V6ToV4);
        // The IPv4 packet, seen from the IPv4 side, maps back to the same addresses.
        let back = one(&v4, Verdict::V4ToV6);
        let h = parse6(&back);
        prop_assert_eq!(h.source, CLIENT6);
        prop_assert_eq!(h.destination, SERVER6);
        prop_assert_eq!(h.traffic_class, tc);
        prop_assert_eq!(u32::from(h.flow_label), 0);
        prop_assert_eq!(h.hop_limit, hop - 2);
        prop_assert_eq!(back.len(), p.len());
        let cs = match kind { 0 => 46..48, 1 => 56..58, _ => 42..44 };
        prop_assert_eq!(&back[40..cs.start], &p[40..cs.start]);
        prop_assert_eq!(&back[cs.end..], &p[cs.end..]);
    }
}
