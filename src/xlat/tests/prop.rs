//! Properties: no panic and self-consistent output on arbitrary and mutated packets in
//! both directions; IPv6 → IPv4 → IPv6 preserves what RFC 7915 preserves.

use proptest::prelude::*;

use super::*;
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
