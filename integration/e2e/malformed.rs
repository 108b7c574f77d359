//! Malformed and untranslatable packets written straight into the TUN device: each must
//! be dropped under its own reason, and the translator must survive them all.

use super::scripts::INJECT;
use super::*;
use crate::lab::{TUN, TunSetup, addr};
use std::net::{Ipv4Addr, Ipv6Addr};

/// RFC 1071 Internet checksum of `data` (folded, complemented).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let hi = u32::from(pair[0]) << 8;
        let lo = pair.get(1).map_or(0, |&b| u32::from(b));
        sum += hi | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn v4(a: &str) -> [u8; 4] {
    a.parse::<Ipv4Addr>().unwrap().octets()
}

fn v6(a: &str) -> [u8; 16] {
    a.parse::<Ipv6Addr>().unwrap().octets()
}

/// A UDP header + payload with the checksum over the given pseudo-header prefix
/// (addresses only; length and protocol are appended here).
fn udp(pseudo_addrs: &[u8], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut seg = Vec::new();
    seg.extend_from_slice(&sport.to_be_bytes());
    seg.extend_from_slice(&dport.to_be_bytes());
    seg.extend_from_slice(&len.to_be_bytes());
    seg.extend_from_slice(&[0, 0]);
    seg.extend_from_slice(payload);
    let mut pseudo = pseudo_addrs.to_vec();
    if pseudo_addrs.len() == 8 {
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&len.to_be_bytes());
    } else {
        pseudo.extend_from_slice(&u32::from(len).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 17]);
    }
    pseudo.extend_from_slice(&seg);
    let c = checksum(&pseudo);
    seg[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    seg
}

/// A well-formed IPv4/UDP packet from the server to the client (RFC 791 header,
/// correct header checksum), with `id` to tell copies apart.
fn ipv4_udp(id: u16) -> Vec<u8> {
    let (src, dst) = (v4(addr::SRV4), v4(addr::CLI4));
    let seg = udp(&[src, dst].concat(), 5000, 6000, b"xlat64 lab");
    let total = (20 + seg.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let c = checksum(&p);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&seg);
    p
}

/// RFC 791: the header checksum does not verify (one bit flipped after computing it).
fn ipv4_bad_checksum(id: u16) -> Vec<u8> {
    let mut p = ipv4_udp(id);
    p[11] ^= 0x01;
    p
}

/// RFC 791: IHL 4 (16 bytes) is below the minimum of 5; checksum valid over 20 bytes so
/// that only the IHL is wrong.
fn ipv4_bad_ihl(id: u16) -> Vec<u8> {
    let mut p = ipv4_udp(id);
    p[0] = 0x44;
    p[10..12].copy_from_slice(&[0, 0]);
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

/// An IPv6 header from the client to the server with the given payload.
fn ipv6(next: u8, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next, hop_limit]);
    p.extend_from_slice(&v6(addr::CLI6));
    p.extend_from_slice(&v6(addr::SRV6));
    p.extend_from_slice(payload);
    p
}

/// RFC 8200 §3: fewer than the 40 bytes of a fixed IPv6 header.
fn ipv6_truncated(len: usize) -> Vec<u8> {
    let (src, dst) = (v6(addr::CLI6), v6(addr::SRV6));
    let seg = udp(&[src, dst].concat(), 5000, 6000, b"xlat64 lab");
    let mut p = ipv6(17, 64, &seg);
    p.truncate(len);
    p
}

/// RFC 7915 §5.1: a Routing header (RFC 8200 §4.4, type 0 with one address) with
/// Segments Left 1: must not be translated.
fn ipv6_routing_header() -> Vec<u8> {
    let (src, dst) = (v6(addr::CLI6), v6(addr::SRV6));
    let seg = udp(&[src, dst].concat(), 5000, 6000, b"xlat64 lab");
    let mut ext = vec![17, 2, 0, 1, 0, 0, 0, 0];
    ext.extend_from_slice(&dst);
    ext.extend_from_slice(&seg);
    ipv6(43, 64, &ext)
}

/// RFC 4861 §4.3 Neighbor Solicitation (unicast, valid ICMPv6 checksum): ND is
/// single-hop, and RFC 7915 §5.2 says ICMPv6 types it does not list are silently dropped.
fn icmpv6_neighbor_solicitation() -> Vec<u8> {
    let (src, dst) = (v6(addr::CLI6), v6(addr::SRV6));
    let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&dst);
    let mut pseudo = [src, dst].concat();
    pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(&icmp);
    let c = checksum(&pseudo);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    ipv6(58, 255, &icmp)
}

fn tun_tx_packets(lab: &Lab) -> u64 {
    let path = format!("/sys/class/net/{TUN}/statistics/tx_packets");
    let out = run_ok(lab, Node::Xlt, &["cat", &path]);
    out.stdout.trim().parse().unwrap()
}

fn hex(p: &[u8]) -> String {
    p.iter().map(|b| format!("{b:02x}")).collect()
}

/// RFC 7915 §4.1 / §5.1 input validation and §5.2 ICMPv6 filtering: 3 IPv4 packets with
/// a bad header checksum, 2 with IHL < 5, 4 truncated IPv6 headers, 1 IPv6 packet with a
/// Routing header whose Segments Left ≠ 0 and 5 Neighbor Solicitations go straight into
/// the TUN (AF_PACKET, bypassing the kernel's checks). The translator must still be
/// running afterwards, and its counters must show exactly these drops.
#[test]
fn rfc7915_malformed_packets_dropped_and_counted() {
    require_root();
    let mut lab = Lab::new().unwrap();
    // Quiet TUN: no kernel IPv6 chatter (MLD reports) to skew the counts.
    lab.start_translator_with(&translator(&[]), TunSetup::Quiet)
        .unwrap();

    let mut packets = Vec::new();
    packets.extend((1..=3).map(ipv4_bad_checksum));
    packets.extend((4..=5).map(ipv4_bad_ihl));
    packets.extend([1, 20, 30, 39].map(ipv6_truncated));
    packets.push(ipv6_routing_header());
    packets.extend((0..5).map(|_| icmpv6_neighbor_solicitation()));
    let hexes: Vec<String> = packets.iter().map(|p| hex(p)).collect();
    let mut argv = vec!["python3", "-c", INJECT, TUN];
    argv.extend(hexes.iter().map(String::as_str));
    let tx_before = tun_tx_packets(&lab);
    run_ok(&lab, Node::Xlt, &argv);
    // The TUN's tx counter counts what it handed to its reader: proves the injection
    // itself worked. (More is fine: an ICMP error the translator sends back towards
    // 192.0.2.0/24 is routed into the TUN again.)
    let handed = tun_tx_packets(&lab) - tx_before;
    assert!(
        handed >= packets.len() as u64,
        "the TUN passed only {handed} of {} injected packets to the translator",
        packets.len()
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        lab.translator_alive(),
        "the translator died on malformed input"
    );
    let counters = finish(&mut lab);
    let expected = [
        ("ipv4_bad_checksum", 3),
        ("ipv4_bad_ihl", 2),
        ("ipv6_truncated", 4),
        ("ipv6_routing_header", 1),
        ("icmp_untranslatable", 5),
    ];
    let mut wrong = Vec::new();
    for (name, want) in expected {
        let got = counters.get(name).copied().unwrap_or(0);
        if got != want {
            wrong.push(format!("{name}: expected {want}, got {got}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "drop counters differ:\n{}\nall counters: {counters:?}",
        wrong.join("\n")
    );
}
