//! Hop limit / TTL expiry: ICMP Time Exceeded from the translator and from beyond it.

use super::*;
use crate::lab::addr;

/// Pings with the given hop limit until a Time Exceeded arrives (3 probes at most: a
/// single ICMP error can be lost to rate limiting) and returns ping's output.
fn ping_hop_limit(lab: &Lab, hops: &str) -> String {
    let mut all = String::new();
    for _ in 0..3 {
        let out = lab
            .run(
                Node::Cli,
                &["ping", "-n", "-c", "1", "-W", "2", "-t", hops, addr::SRV6],
            )
            .unwrap();
        all.push_str(&out.stdout);
        all.push_str(&out.stderr);
        if out.stdout.contains("Time exceeded") {
            return out.stdout;
        }
    }
    all
}

/// Every hop counts, including the translator box's own kernel, which forwards each
/// packet twice (IPv6 into the TUN, IPv4 out of it):
/// - hop limit 2: the xlt kernel makes it 1, the translator would make it 0. RFC 7915 §5.1
///   (hop limit decremented; at zero: drop, ICMPv6 Time Exceeded Code 0) → the error comes
///   from the translator's own address 2001:db8:64::cb00:7101.
/// - hop limit 3: the translated packet leaves the TUN with TTL 1 and expires in the xlt
///   kernel's IPv4 forwarding; its ICMPv4 error from 198.51.100.1 is translated (RFC 7915
///   §4.2, Type 11 → Type 3; §4.1 source by RFC 6052) → 2001:db8:64::c633:6401.
/// - hop limit 4: expires at the IPv4 router 198.51.100.126 → 2001:db8:64::c633:647e.
///
/// Over XDP the box's kernel forwards nothing it translates: the translator is its only
/// hop, so hop limit 1 expires in the translator and 2 at the IPv4 router.
#[test]
fn rfc7915_s5_1_s4_2_time_exceeded_from_translator_and_ipv4_hops() {
    let mut lab = lab_with_translator(&[]);
    // Warm up neighbour caches so the single probes below are not lost to resolution.
    ping(&lab, Node::Cli, addr::SRV6, 1);

    if using_xdp() {
        for (hops, from, who) in [
            ("1", addr::XLAT_IPV6, "the translator itself"),
            ("2", addr::RTR6, "the IPv4 router (198.51.100.126)"),
        ] {
            let out = ping_hop_limit(&lab, hops);
            assert!(
                out.contains(&format!("From {from} ")) && out.contains("Time exceeded"),
                "hop limit {hops}: expected Time Exceeded from {from}, {who}:\n{out}"
            );
        }
        finish(&mut lab);
        return;
    }
    for (hops, from, who) in [
        ("2", addr::XLAT_IPV6, "the translator itself"),
        (
            "3",
            "2001:db8:64::c633:6401",
            "the translator box's IPv4 side (198.51.100.1)",
        ),
        ("4", addr::RTR6, "the IPv4 router (198.51.100.126)"),
    ] {
        let out = ping_hop_limit(&lab, hops);
        assert!(
            out.contains(&format!("From {from} ")) && out.contains("Time exceeded"),
            "hop limit {hops}: expected Time Exceeded from {from}, {who}:\n{out}"
        );
    }
    finish(&mut lab);
}
