//! Stateful NAT64 (RFC 6146) golden packets. Expected values come from the RFC rules:
//! the IPv4 source is the session's pool4 transport address, the IPv6 source of
//! IPv4→IPv6 packets is pool6 ∘ the IPv4 source (§3.5.4), the peer's port is never
//! changed, and every checksum verifies (checked by `check_emitted` and etherparse).
//! The pool4 port a session gets is the shard's choice (RFC 6056 randomised), so tests
//! read it from the shard's session list and check the packets against it.
//!
//! pool6 is the well-known prefix 64:ff9b::/96 (not strict, so documentation IPv4
//! addresses embed), pool4 is 203.0.113.10.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

use super::super::selfcheck::{check_emitted, check_lengths};
use super::super::{DropReason, Nat64Translator, Nat64Verdict, Output, Verdict, XlatConfig};
use super::{a4, a6};
use crate::addr::AddrMapper;
use crate::nat64::{Pool4, Proto, SessionInfo, Shard, ShardConfig};
use crate::wire::buf::PacketBuf;
use crate::wire::ip::IpProtocol;

pub(super) const C1: &str = "2001:db8:1::1";
pub(super) const C2: &str = "2001:db8:1::2";
pub(super) const SERVER4: &str = "198.51.100.7";
pub(super) const SERVER6: &str = "64:ff9b::c633:6407";
pub(super) const POOL4: &str = "203.0.113.10";

pub(super) fn nat64(icmp_on_refusal: bool) -> Nat64Translator {
    let map = AddrMapper::new(Some("64:ff9b::/96".parse().unwrap()), &[], false).unwrap();
    Nat64Translator::new(
        XlatConfig {
            map,
            ipv4_addr: "203.0.113.1".parse().unwrap(),
            ipv6_addr: "2001:db8:ffff::1".parse().unwrap(),
            ..XlatConfig::default()
        },
        icmp_on_refusal,
    )
    .unwrap()
}

pub(super) fn shard() -> Shard {
    let cfg = ShardConfig::new(Pool4::new(vec![POOL4.parse().unwrap()]), 1024);
    Shard::new(cfg, 7).unwrap()
}

struct Run {
    v: Nat64Verdict,
    frames: Vec<Vec<u8>>,
}

fn run(t: &Nat64Translator, s: &mut Shard, input: &[u8], now: u64) -> Run {
    let mut pkt = PacketBuf::from_packet(input);
    let mut out = Output::new();
    let v = t.translate(s, &mut pkt, &mut out, now);
    let frames: Vec<Vec<u8>> = (0..out.frames().len())
        .map(|i| out.frame_bytes(i, &pkt))
        .collect();
    for f in &frames {
        check_emitted(f).unwrap();
    }
    Run { v, frames }
}

fn one(t: &Nat64Translator, s: &mut Shard, input: &[u8], now: u64, verdict: Verdict) -> Vec<u8> {
    let r = run(t, s, input, now);
    assert_eq!(r.v.verdict, verdict);
    assert_eq!(r.frames.len(), 1);
    r.frames.into_iter().next().unwrap()
}

pub(super) fn session(s: &Shard, proto: Proto, client: &str, port: u16) -> SessionInfo {
    let c: Ipv6Addr = client.parse().unwrap();
    s.sessions(0)
        .find(|x| x.proto == proto && x.v6 == c && x.v6_port == port)
        .expect("session")
}

fn udp6(src: &str, sport: u16, dst: &str, dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(a6(src), a6(dst), 64)
        .udp(sport, dport)
        .write(&mut v, b"hello nat64")
        .unwrap();
    v
}

fn udp4(src: &str, sport: u16, dst: &str, dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(a4(src), a4(dst), 64)
        .udp(sport, dport)
        .write(&mut v, b"reply")
        .unwrap();
    v
}

fn tcp6(src: &str, sport: u16, dst: &str, dport: u16, syn: bool) -> Vec<u8> {
    let mut v = Vec::new();
    let b = PacketBuilder::ipv6(a6(src), a6(dst), 64).tcp(sport, dport, 1000, 8192);
    let b = if syn { b.syn() } else { b.ack(1) };
    b.write(&mut v, &[]).unwrap();
    v
}

fn tcp4(src: &str, sport: u16, dst: &str, dport: u16, syn: bool) -> Vec<u8> {
    let mut v = Vec::new();
    let b = PacketBuilder::ipv4(a4(src), a4(dst), 64).tcp(sport, dport, 5000, 8192);
    let b = if syn { b.syn() } else { b.ack(1) };
    b.write(&mut v, &[]).unwrap();
    v
}

/// (src, dst, sport, dport) of an IPv4 TCP/UDP packet, parsed by etherparse.
fn ends4(f: &[u8]) -> (Ipv4Addr, Ipv4Addr, u16, u16) {
    let p = SlicedPacket::from_ip(f).unwrap();
    let Some(NetSlice::Ipv4(ip)) = p.net else {
        panic!("not ipv4")
    };
    let (sp, dp) = ports(p.transport.as_ref().unwrap());
    (
        ip.header().source_addr(),
        ip.header().destination_addr(),
        sp,
        dp,
    )
}

fn ends6(f: &[u8]) -> (Ipv6Addr, Ipv6Addr, u16, u16) {
    let p = SlicedPacket::from_ip(f).unwrap();
    let Some(NetSlice::Ipv6(ip)) = p.net else {
        panic!("not ipv6")
    };
    let (sp, dp) = ports(p.transport.as_ref().unwrap());
    (
        ip.header().source_addr(),
        ip.header().destination_addr(),
        sp,
        dp,
    )
}

fn ports(t: &TransportSlice) -> (u16, u16) {
    match t {
        TransportSlice::Udp(u) => (u.source_port(), u.destination_port()),
        TransportSlice::Tcp(u) => (u.source_port(), u.destination_port()),
        _ => panic!("no ports"),
    }
}

fn ip4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn ip6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

// RFC 6146 §3.5.1 (UDP session created by the IPv6 packet), §3.6.1 (outgoing tuple:
// source = the BIB's IPv4 transport address, destination = the IPv4 address extracted
// from pool6 with the port unchanged), §3.5.4 (reply source = pool6 ∘ IPv4 source).
#[test]
fn rfc6146_3_5_1_udp_both_ways() {
    let (t, mut s) = (nat64(false), shard());
    let out = one(
        &t,
        &mut s,
        &udp6(C1, 40000, SERVER6, 53),
        0,
        Verdict::V6ToV4,
    );
    let se = session(&s, Proto::Udp, C1, 40000);
    assert_eq!(se.v4, ip4(POOL4));
    assert_eq!(se.remote, ip4(SERVER4));
    assert_eq!(ends4(&out), (ip4(POOL4), ip4(SERVER4), se.v4_port, 53));
    // RFC 7915 §5.1: TTL = Hop Limit − 1.
    assert_eq!(out[8], 63);

    let reply = udp4(SERVER4, 53, POOL4, se.v4_port);
    let back = one(&t, &mut s, &reply, 1, Verdict::V4ToV6);
    assert_eq!(back[7], 63);
    assert_eq!(ends6(&back), (ip6(SERVER6), ip6(C1), 53, 40000));
    // The same flow keeps its mapping (RFC 4787 REQ-1 endpoint-independent mapping).
    let again = one(
        &t,
        &mut s,
        &udp6(C1, 40000, SERVER6, 53),
        2,
        Verdict::V6ToV4,
    );
    assert_eq!(ends4(&again).2, se.v4_port);
}

// RFC 6146 §3.5.2.2: an IPv6 SYN creates the session (V6 INIT); the IPv4 SYN-ACK finds
// it; ports rewritten both ways, checksums updated (RFC 1624) and verified.
#[test]
fn rfc6146_3_5_2_tcp_both_ways() {
    let (t, mut s) = (nat64(false), shard());
    let out = one(
        &t,
        &mut s,
        &tcp6(C1, 50000, SERVER6, 80, true),
        0,
        Verdict::V6ToV4,
    );
    let se = session(&s, Proto::Tcp, C1, 50000);
    assert_eq!(ends4(&out), (ip4(POOL4), ip4(SERVER4), se.v4_port, 80));
    let mut synack = Vec::new();
    PacketBuilder::ipv4(a4(SERVER4), a4(POOL4), 64)
        .tcp(80, se.v4_port, 9000, 8192)
        .syn()
        .ack(1001)
        .write(&mut synack, &[])
        .unwrap();
    let back = one(&t, &mut s, &synack, 1, Verdict::V4ToV6);
    assert_eq!(ends6(&back), (ip6(SERVER6), ip6(C1), 80, 50000));
    let info = session(&s, Proto::Tcp, C1, 50000);
    assert_eq!(info.state, Some(crate::nat64::TcpState::Established));
}

// RFC 6146 §3.5.2.2: a TCP segment other than SYN without a session is dropped.
#[test]
fn rfc6146_3_5_2_2_non_syn_without_session_dropped() {
    let (t, mut s) = (nat64(false), shard());
    let r = run(&t, &mut s, &tcp6(C1, 50000, SERVER6, 80, false), 0);
    assert_eq!(r.v.verdict, Verdict::Drop(DropReason::Nat64NoSession));
    assert!(r.frames.is_empty());
}

fn echo6(src: &str, dst: &str, id: u16, reply: bool) -> Vec<u8> {
    let mut v = Vec::new();
    let b = PacketBuilder::ipv6(a6(src), a6(dst), 64);
    let b = if reply {
        b.icmpv6_echo_reply(id, 1)
    } else {
        b.icmpv6_echo_request(id, 1)
    };
    b.write(&mut v, b"ping").unwrap();
    v
}

fn echo4(src: &str, dst: &str, id: u16, reply: bool) -> Vec<u8> {
    let mut v = Vec::new();
    let b = PacketBuilder::ipv4(a4(src), a4(dst), 64);
    let b = if reply {
        b.icmpv4_echo_reply(id, 1)
    } else {
        b.icmpv4_echo_request(id, 1)
    };
    b.write(&mut v, b"ping").unwrap();
    v
}

// RFC 6146 §3.5.3: the ICMP echo identifier plays the port; §3.6.2: the outgoing
// identifier is the BIB's, and the reply's identifier is mapped back.
#[test]
fn rfc6146_3_5_3_icmp_echo_identifier() {
    let (t, mut s) = (nat64(false), shard());
    let out = one(
        &t,
        &mut s,
        &echo6(C1, SERVER6, 0x1234, false),
        0,
        Verdict::V6ToV4,
    );
    let se = session(&s, Proto::Icmp, C1, 0x1234);
    assert_eq!(&out[12..16], &a4(POOL4));
    assert_eq!(&out[16..20], &a4(SERVER4));
    assert_eq!(out[20], 8, "echo request");
    assert_eq!(u16::from_be_bytes([out[24], out[25]]), se.v4_port);
    let back = one(
        &t,
        &mut s,
        &echo4(SERVER4, POOL4, se.v4_port, true),
        1,
        Verdict::V4ToV6,
    );
    assert_eq!(&back[8..24], &a6(SERVER6));
    assert_eq!(&back[24..40], &a6(C1));
    assert_eq!(back[40], 129, "echo reply");
    assert_eq!(u16::from_be_bytes([back[44], back[45]]), 0x1234);
}

// RFC 6146 §3.4/§3.6.1 with RFC 7915 §4.2/§4.3: an ICMPv4 port unreachable about a
// mapped UDP flow becomes ICMPv6 1/4 to the client that owns the session, its inner
// packet mapped back (inner source = client address:port, inner destination = pool6 ∘
// server); an ICMP error never creates state.
#[test]
fn rfc6146_3_4_icmp_error_to_the_right_client() {
    let (t, mut s) = (nat64(false), shard());
    one(
        &t,
        &mut s,
        &udp6(C1, 40000, SERVER6, 53),
        0,
        Verdict::V6ToV4,
    );
    let out2 = one(
        &t,
        &mut s,
        &udp6(C2, 40000, SERVER6, 53),
        0,
        Verdict::V6ToV4,
    );
    let se2 = session(&s, Proto::Udp, C2, 40000);
    let sessions = s.session_count();
    // What the server received from C2, quoted whole in its port unreachable.
    let mut err = Vec::new();
    PacketBuilder::ipv4(a4(SERVER4), a4(POOL4), 64)
        .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::Port,
        ))
        .write(&mut err, &out2)
        .unwrap();
    let back = one(&t, &mut s, &err, 1, Verdict::V4ToV6);
    assert_eq!(&back[8..24], &a6(SERVER6), "outer source: pool6 ∘ sender");
    assert_eq!(
        &back[24..40],
        &a6(C2),
        "outer destination: the owning client"
    );
    assert_eq!((back[40], back[41]), (1, 4), "port unreachable");
    let inner = &back[48..];
    assert_eq!(inner[0] >> 4, 6);
    assert_eq!(&inner[8..24], &a6(C2));
    assert_eq!(&inner[24..40], &a6(SERVER6));
    assert_eq!(u16::from_be_bytes([inner[40], inner[41]]), 40000);
    assert_eq!(u16::from_be_bytes([inner[42], inner[43]]), 53);
    // The whole datagram was quoted: its UDP checksum must verify for the inner IPv6
    // addresses.
    let ph = crate::wire::checksum::pseudo_v6(
        a6(C2),
        a6(SERVER6),
        IpProtocol(17),
        (inner.len() - 40) as u32,
    );
    assert_eq!(
        crate::wire::checksum::add(ph, crate::wire::checksum::ones_sum(&inner[40..])),
        0xffff
    );
    assert_eq!(s.session_count(), sessions);
    assert_ne!(se2.v4_port, 0);
}

// RFC 6146 §3.6.1 the other way: an ICMPv6 error from the client about a packet from
// the server goes to the server from the client's binding, inner packet mapped.
#[test]
fn rfc6146_3_6_1_icmpv6_error_to_server() {
    let (t, mut s) = (nat64(false), shard());
    one(
        &t,
        &mut s,
        &udp6(C1, 40000, SERVER6, 53),
        0,
        Verdict::V6ToV4,
    );
    let se = session(&s, Proto::Udp, C1, 40000);
    let delivered = one(
        &t,
        &mut s,
        &udp4(SERVER4, 53, POOL4, se.v4_port),
        1,
        Verdict::V4ToV6,
    );
    let mut err = Vec::new();
    PacketBuilder::ipv6(a6(C1), a6(SERVER6), 64)
        .icmpv6(etherparse::Icmpv6Type::DestinationUnreachable(
            etherparse::icmpv6::DestUnreachableCode::Port,
        ))
        .write(&mut err, &delivered)
        .unwrap();
    let out = one(&t, &mut s, &err, 2, Verdict::V6ToV4);
    assert_eq!(&out[12..16], &a4(POOL4));
    assert_eq!(&out[16..20], &a4(SERVER4));
    assert_eq!((out[20], out[21]), (3, 3));
    let inner = &out[28..];
    assert_eq!(&inner[12..16], &a4(SERVER4));
    assert_eq!(&inner[16..20], &a4(POOL4));
    assert_eq!(u16::from_be_bytes([inner[22], inner[23]]), se.v4_port);
}

// RFC 6146 §3.5.1/§3.5.2.2: IPv4 packets without a mapping are dropped and counted;
// with `icmp_on_refusal`, ICMPv4 3/13 (administratively prohibited) goes back.
#[test]
fn rfc6146_3_5_unsolicited_ipv4_dropped() {
    let (t, mut s) = (nat64(false), shard());
    let r = run(&t, &mut s, &udp4(SERVER4, 53, POOL4, 4000), 0);
    assert_eq!(r.v.verdict, Verdict::Drop(DropReason::Nat64NoMapping));
    assert!(r.frames.is_empty());
    assert_eq!(s.counters().refused(crate::nat64::Refusal::NoMapping), 1);
    let r = run(&t, &mut s, &tcp4(SERVER4, 80, POOL4, 4000, false), 0);
    assert_eq!(r.v.verdict, Verdict::Drop(DropReason::Nat64NoMapping));

    let t = nat64(true);
    let r = run(&t, &mut s, &udp4(SERVER4, 53, POOL4, 4000), 0);
    assert_eq!(r.v.verdict, Verdict::Drop(DropReason::Nat64NoMapping));
    assert_eq!(r.frames.len(), 1);
    let e = &r.frames[0];
    assert_eq!(&e[16..20], &a4(SERVER4));
    assert_eq!((e[20], e[21]), (3, 13));
}

// RFC 6146 §3.5.2.2: an IPv4 SYN without a mapping is held; the IPv6 SYN of the same
// 4-tuple (simultaneous open) releases it, and the held SYN then translates to the
// client. (pool4's TCP range is the single port 3000 so the IPv6 SYN's binding is the
// one the IPv4 SYN was sent to.)
#[test]
fn rfc6146_3_5_2_2_held_syn_then_simultaneous_open() {
    let t = nat64(false);
    let mut cfg = ShardConfig::new(Pool4::new(vec![ip4(POOL4)]), 1024);
    cfg.pool.tcp = crate::nat64::PortRange::new(3000, 3000);
    let mut s = Shard::new(cfg, 7).unwrap();
    let held = tcp4(SERVER4, 8080, POOL4, 3000, true);
    let r = run(&t, &mut s, &held, 0);
    assert_eq!(r.v.verdict, Verdict::Drop(DropReason::Nat64HeldSyn));
    assert!(r.frames.is_empty());
    assert_eq!(s.counters().held_syns, 1);

    let r = run(&t, &mut s, &tcp6(C1, 4000, SERVER6, 8080, true), 2000);
    assert_eq!(r.v.verdict, Verdict::V6ToV4);
    assert_eq!(ends4(&r.frames[0]), (ip4(POOL4), ip4(SERVER4), 3000, 8080));
    let key = super::super::HeldSynKey {
        src: ip4(SERVER4),
        sport: 8080,
        dst: ip4(POOL4),
        dport: 3000,
    };
    assert_eq!(r.v.release_held, Some(key));
    let out = one(&t, &mut s, &held, 2001, Verdict::V4ToV6);
    assert_eq!(ends6(&out), (ip6(SERVER6), ip6(C1), 8080, 4000));
    assert_eq!(
        session(&s, Proto::Tcp, C1, 4000).state,
        Some(crate::nat64::TcpState::Established)
    );
}

// RFC 6146 §3.5.2.2: a held SYN with no simultaneous open within 6 s is answered with
// ICMP port unreachable (3/3) quoting it, sent to its IPv4 source.
#[test]
fn rfc6146_3_5_2_2_held_syn_expiry_port_unreachable() {
    let (t, mut s) = (nat64(false), shard());
    let held = tcp4(SERVER4, 8080, POOL4, 3000, true);
    assert_eq!(
        run(&t, &mut s, &held, 0).v.verdict,
        Verdict::Drop(DropReason::Nat64HeldSyn)
    );
    let mut events = Vec::new();
    s.expire(7_000, 64, |e| events.push(e));
    let key = match events.as_slice() {
        [
            crate::nat64::Event::HeldSynExpired {
                src,
                sport,
                dst,
                dport,
            },
        ] => super::super::HeldSynKey {
            src: *src,
            sport: *sport,
            dst: *dst,
            dport: *dport,
        },
        e => panic!("events {e:?}"),
    };
    assert_eq!(key.src, ip4(SERVER4));
    assert_eq!(key.dport, 3000);
    let mut out = Output::new();
    assert!(t.held_syn_unreachable(&held, &mut out));
    let pkt = PacketBuf::from_packet(&[]);
    let e = out.frame_bytes(0, &pkt);
    check_emitted(&e).unwrap();
    assert_eq!(&e[16..20], &a4(SERVER4));
    assert_eq!((e[20], e[21]), (3, 3));
    assert_eq!(&e[28..28 + held.len()], &held[..]);

    let mut out = Output::new();
    assert!(t.held_syn_unreachable_from_key(key, &mut out));
    let e = out.frame_bytes(0, &pkt);
    check_emitted(&e).unwrap();
    assert_eq!((e[20], e[21]), (3, 3));
    assert_eq!(&e[28 + 12..28 + 20], &held[12..20]);
    assert_eq!(&e[28 + 20..28 + 24], &held[20..24]);
}

// RFC 6146 §3.8: C1 sends to pool6 ∘ (C2's binding); the packet comes back as IPv6 to
// C2 with source pool6 ∘ (C1's binding), never leaving as IPv4.
#[test]
fn rfc6146_3_8_hairpinning() {
    let (t, mut s) = (nat64(false), shard());
    one(&t, &mut s, &udp6(C2, 7000, SERVER6, 53), 0, Verdict::V6ToV4);
    let b2 = session(&s, Proto::Udp, C2, 7000);
    let to_b2 = format!("64:ff9b::{}", ip4_hex(b2.v4, b2.v4_port).0);
    let out = one(
        &t,
        &mut s,
        &udp6(C1, 6000, &to_b2, b2.v4_port),
        1,
        Verdict::Hairpinned,
    );
    let b1 = session(&s, Proto::Udp, C1, 6000);
    let (src, dst, sp, dp) = ends6(&out);
    assert_eq!(src, ip6(&format!("64:ff9b::{}", ip4_hex(b1.v4, 0).0)));
    assert_eq!((dst, sp, dp), (ip6(C2), b1.v4_port, 7000));
    // And C2's answer reaches C1 the same way.
    let to_b1 = format!("64:ff9b::{}", ip4_hex(b1.v4, 0).0);
    let back = one(
        &t,
        &mut s,
        &udp6(C2, 7000, &to_b1, b1.v4_port),
        2,
        Verdict::Hairpinned,
    );
    assert_eq!(ends6(&back), (src_of(&b2), ip6(C1), b2.v4_port, 6000));
}

fn src_of(b: &SessionInfo) -> Ipv6Addr {
    ip6(&format!("64:ff9b::{}", ip4_hex(b.v4, 0).0))
}

/// An IPv4 address as the last 32 bits of an IPv6 address text.
fn ip4_hex(a: Ipv4Addr, _port: u16) -> (String,) {
    let o = a.octets();
    (format!(
        "{:x}:{:x}",
        u16::from_be_bytes([o[0], o[1]]),
        u16::from_be_bytes([o[2], o[3]])
    ),)
}

// RFC 6146 §3.5.1.1: two clients using the same source port get distinct IPv4
// transport addresses, and replies go back to the right one.
#[test]
fn rfc6146_3_5_1_1_same_port_distinct_mappings() {
    let (t, mut s) = (nat64(false), shard());
    let o1 = one(&t, &mut s, &udp6(C1, 5353, SERVER6, 53), 0, Verdict::V6ToV4);
    let o2 = one(&t, &mut s, &udp6(C2, 5353, SERVER6, 53), 0, Verdict::V6ToV4);
    let (p1, p2) = (ends4(&o1).2, ends4(&o2).2);
    assert_ne!(p1, p2);
    let r1 = one(
        &t,
        &mut s,
        &udp4(SERVER4, 53, POOL4, p1),
        1,
        Verdict::V4ToV6,
    );
    let r2 = one(
        &t,
        &mut s,
        &udp4(SERVER4, 53, POOL4, p2),
        1,
        Verdict::V4ToV6,
    );
    assert_eq!(ends6(&r1).1, ip6(C1));
    assert_eq!(ends6(&r2).1, ip6(C2));
    assert_eq!(ends6(&r1).3, 5353);
}

// RFC 6146 §3.5: an IPv6 source inside pool6 is discarded; destinations outside pool6
// are not for the NAT64.
#[test]
fn rfc6146_3_5_pool6_source_and_foreign_destination() {
    let (t, mut s) = (nat64(false), shard());
    let r = run(&t, &mut s, &udp6("64:ff9b::c000:201", 1, SERVER6, 53), 0);
    assert_eq!(r.v.verdict, Verdict::Drop(DropReason::Nat64SourceInPool6));
    let r = run(&t, &mut s, &udp6(C1, 1, "2001:db8:9::1", 53), 0);
    assert_eq!(
        r.v.verdict,
        Verdict::Drop(DropReason::Ipv6DestinationUnmapped)
    );
    assert_eq!(s.session_count(), 0);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Never panics on any bytes; whatever is emitted has consistent lengths.
        #[test]
        fn nat64_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..200), v6 in any::<bool>()) {
            let (t, mut s) = (nat64(true), shard());
            let mut d = data;
            if let Some(b) = d.first_mut() {
                *b = (*b & 0x0f) | if v6 { 0x60 } else { 0x45 };
            }
            let mut pkt = PacketBuf::from_packet(&d);
            let mut out = Output::new();
            t.translate(&mut s, &mut pkt, &mut out, 0);
            for i in 0..out.frames().len() {
                let f = out.frame_bytes(i, &pkt);
                prop_assert!(check_lengths(&f).is_ok(), "{:?}", check_lengths(&f));
            }
        }

        // Mutated valid packets (UDP out, then a reply with random bytes flipped).
        #[test]
        fn nat64_mutated_packets(flips in proptest::collection::vec((0usize..80, any::<u8>()), 0..6)) {
            let (t, mut s) = (nat64(true), shard());
            let mut pkt = PacketBuf::from_packet(&udp6(C1, 40000, SERVER6, 53));
            let mut out = Output::new();
            t.translate(&mut s, &mut pkt, &mut out, 0);
            let se = session(&s, Proto::Udp, C1, 40000);
            for base in [udp4(SERVER4, 53, POOL4, se.v4_port), tcp6(C1, 1, SERVER6, 2, true)] {
                let mut d = base;
                for (i, x) in &flips {
                    if let Some(b) = d.get_mut(*i) {
                        *b ^= x;
                    }
                }
                let mut pkt = PacketBuf::from_packet(&d);
                t.translate(&mut s, &mut pkt, &mut out, 1);
                for i in 0..out.frames().len() {
                    let f = out.frame_bytes(i, &pkt);
                    prop_assert!(check_lengths(&f).is_ok());
                }
            }
        }
    }
}

/// Several workers (RFC 6146 state split by owner, see `nat64::Sharding`): the packet
/// that opens a session and every packet that answers or reports on it name the same
/// owner, so each shard sees its whole flow.
mod steer {
    use super::*;
    use crate::nat64::Sharding;
    use crate::xlat::Steering;

    const WORKERS: usize = 4;

    fn sharded() -> (Sharding, Vec<Shard>) {
        let pool = Pool4::new(vec![POOL4.parse().unwrap()]);
        let sharding = Sharding::new(&pool, WORKERS, 64, 99);
        let shards = (0..WORKERS)
            .map(|w| {
                let mut cfg = ShardConfig::new(pool.clone(), 1024);
                cfg.worker = w;
                cfg.workers = WORKERS;
                Shard::new(cfg, w as u64).unwrap()
            })
            .collect();
        (sharding, shards)
    }

    fn owner(t: &Nat64Translator, sh: &Sharding, p: &[u8]) -> usize {
        t.steer(sh, p).owner.expect("an owner")
    }

    /// The IPv4 packet a server sends back for `out` (addresses and ports swapped).
    fn answer4(out: &[u8], tcp: bool) -> Vec<u8> {
        let (src, dst, sp, dp) = ends4(out);
        let (s, d) = (src.to_string(), dst.to_string());
        if tcp {
            tcp4(&d, dp, &s, sp, false)
        } else {
            udp4(&d, dp, &s, sp)
        }
    }

    // RFC 6146 §3.5.1/§3.5.2 with §3.5.1.1 per-worker port slices: UDP and TCP replies
    // from the server, and the server's ICMP errors about them (§3.4, the quoted
    // packet's source port), go to the worker that created the session.
    #[test]
    fn rfc6146_3_5_replies_and_errors_come_home() {
        let t = nat64(false);
        let (sh, mut shards) = sharded();
        let mut seen = [false; WORKERS];
        for i in 0..64u16 {
            let client = format!("2001:db8:{i:x}::1");
            let tcp = i % 2 == 0;
            let p = if tcp {
                tcp6(&client, 1000 + i, SERVER6, 80, true)
            } else {
                udp6(&client, 1000 + i, SERVER6, 53)
            };
            let w = owner(&t, &sh, &p);
            seen[w] = true;
            let out = one(&t, &mut shards[w], &p, 0, Verdict::V6ToV4);
            let reply = answer4(&out, tcp);
            assert_eq!(owner(&t, &sh, &reply), w, "reply of flow {i}");
            if !tcp {
                one(&t, &mut shards[w], &reply, 1, Verdict::V4ToV6);
            }
            let mut err = Vec::new();
            PacketBuilder::ipv4(a4(SERVER4), ends4(&out).0.octets(), 64)
                .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                    etherparse::icmpv4::DestUnreachableHeader::Port,
                ))
                .write(&mut err, &out)
                .unwrap();
            assert_eq!(owner(&t, &sh, &err), w, "ICMPv4 error about flow {i}");
            one(&t, &mut shards[w], &err, 1, Verdict::V4ToV6);
        }
        assert!(
            seen.iter().all(|&s| s),
            "64 subscribers spread over 4 workers"
        );
    }

    // RFC 6146 §3.5.3: ICMP echo replies come home by identifier, and §3.6.1 an ICMPv6
    // error from the client about the server's packet goes to the client's owner.
    #[test]
    fn rfc6146_3_5_3_echo_and_icmpv6_errors_come_home() {
        let t = nat64(false);
        let (sh, mut shards) = sharded();
        for i in 0..16u16 {
            let client = format!("2001:db8:{i:x}::1");
            let p = echo6(&client, SERVER6, 0x4000 + i, false);
            let w = owner(&t, &sh, &p);
            let out = one(&t, &mut shards[w], &p, 0, Verdict::V6ToV4);
            let src = Ipv4Addr::new(out[12], out[13], out[14], out[15]);
            let id = u16::from_be_bytes([out[24], out[25]]);
            let reply = echo4(SERVER4, &src.to_string(), id, true);
            assert_eq!(owner(&t, &sh, &reply), w);
            let back = one(&t, &mut shards[w], &reply, 1, Verdict::V4ToV6);
            // The client says the reply's port is unreachable (any quoted packet).
            let mut err = Vec::new();
            PacketBuilder::ipv6(a6(&client), a6(SERVER6), 64)
                .icmpv6(etherparse::Icmpv6Type::DestinationUnreachable(
                    etherparse::icmpv6::DestUnreachableCode::Port,
                ))
                .write(&mut err, &back)
                .unwrap();
            assert_eq!(owner(&t, &sh, &err), w);
        }
    }

    // RFC 6146 §3.8 across two shards: C1's owner translates to IPv4 only (towards
    // C2's binding); that IPv4 packet, routed back in by the kernel, steers to C2's
    // owner, which delivers it to C2 from pool6 ∘ C1's binding.
    #[test]
    fn rfc6146_3_8_hairpin_across_shards() {
        let t = nat64(false);
        let (sh, mut shards) = sharded();
        let c2 = "2001:db8:2::2";
        let first = udp6(c2, 7000, SERVER6, 53);
        let w2 = owner(&t, &sh, &first);
        one(&t, &mut shards[w2], &first, 0, Verdict::V6ToV4);
        let b2 = session(&shards[w2], Proto::Udp, c2, 7000);
        let to_b2 = format!("64:ff9b::{}", ip4_hex(b2.v4, 0).0);
        let c1 = (1..200u16)
            .map(|i| format!("2001:db8:{:x}::1", 0x100 + i))
            .find(|c| owner(&t, &sh, &udp6(c, 6000, &to_b2, b2.v4_port)) != w2)
            .unwrap();
        let p = udp6(&c1, 6000, &to_b2, b2.v4_port);
        let s: Steering = t.steer(&sh, &p);
        let w1 = s.owner.unwrap();
        assert_eq!(s.hairpin, Some(w2));
        let mut pkt = PacketBuf::from_packet(&p);
        let mut out = Output::new();
        let v = t.translate_steered(&mut shards[w1], &mut pkt, &mut out, 1, false);
        assert_eq!(v.verdict, Verdict::V6ToV4);
        let mid = out.frame_bytes(0, &pkt);
        check_emitted(&mid).unwrap();
        let b1 = session(&shards[w1], Proto::Udp, &c1, 6000);
        assert_eq!(ends4(&mid), (b1.v4, b2.v4, b1.v4_port, b2.v4_port));
        assert_eq!(owner(&t, &sh, &mid), w2);
        let last = one(&t, &mut shards[w2], &mid, 1, Verdict::V4ToV6);
        assert_eq!(ends6(&last), (src_of(&b1), ip6(c2), b1.v4_port, 7000));
    }

    // Packets no shard can own are left to whichever worker read them.
    #[test]
    fn unownable_packets_have_no_owner() {
        let t = nat64(false);
        let (sh, _) = sharded();
        for p in [
            vec![],
            vec![0x45],
            udp4(SERVER4, 53, POOL4, 80), // below pool4's port range
        ] {
            let s = t.steer(&sh, &p);
            assert_eq!((s.owner, s.hairpin), (None, None), "{p:?}");
        }
    }

    // RFC 6146 §3.4: the fragments of one datagram meet at one worker, whatever queue
    // each arrived on: first and non-first IPv4 fragments at their datagram's collector,
    // IPv6 fragments at their subscriber's owner (which owns its sessions too).
    #[test]
    fn rfc6146_3_4_fragments_of_a_datagram_meet_at_one_worker() {
        let t = nat64(false);
        let (sh, _) = sharded();
        let mut first = udp4(SERVER4, 53, POOL4, 2000);
        first[6] = 0x20; // MF
        let mut later = first.clone();
        later[6..8].copy_from_slice(&0x0003u16.to_be_bytes()); // offset 24, last
        let a = t.steer(&sh, &first).owner;
        assert!(a.is_some());
        assert_eq!(t.steer(&sh, &later).owner, a);
        let mut frag6 = udp6(C1, 5000, SERVER6, 53);
        // A Fragment header (offset 8, M=1) in front of the UDP bytes.
        frag6.splice(40..40, [17, 0, 0, 9, 0, 0, 0, 42]);
        frag6[6] = 44;
        let plen = (frag6.len() - 40) as u16;
        frag6[4..6].copy_from_slice(&plen.to_be_bytes());
        assert_eq!(
            t.steer(&sh, &frag6).owner,
            Some(sh.owner_of_subscriber(ip6(C1)))
        );
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            // Reading the owner never panics, and an owner is always a worker index.
            #[test]
            fn steer_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..120), v6 in any::<bool>()) {
                let t = nat64(false);
                let (sh, _) = sharded();
                let mut d = data;
                if let Some(b) = d.first_mut() {
                    *b = (*b & 0x0f) | if v6 { 0x60 } else { 0x45 };
                }
                let s = t.steer(&sh, &d);
                prop_assert!(s.owner.is_none_or(|w| w < WORKERS));
                prop_assert!(s.hairpin.is_none_or(|w| w < WORKERS));
            }
        }
    }
}

/// NAT64 with TUN offloads: a GSO super-packet goes through the session whole.
mod offload {
    use super::*;
    use crate::wire::checksum;
    use crate::wire::vnet::{FLAG_NEEDS_CSUM, Offload, gso};

    /// An IPv6 TCP ACK carrying `n` bytes with the pseudo-header partial sum (length 0,
    /// as virtio GSO packets carry it) in the checksum field.
    fn super6(src: &str, sport: u16, dst: &str, dport: u16, n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv6(a6(src), a6(dst), 64)
            .tcp(sport, dport, 1, 65535)
            .ack(1)
            .write(&mut v, &vec![0x5a; n])
            .unwrap();
        let p = checksum::pseudo_v6(a6(src), a6(dst), IpProtocol(6), 0);
        v[56..58].copy_from_slice(&p.to_be_bytes());
        v
    }

    /// Completes a length-0 partial sum over the whole transport part (as if it were
    /// one segment) and checks the result with etherparse-independent arithmetic.
    fn completes(f: &[u8], l4_at: usize, field_at: usize) -> bool {
        let mut f = f.to_vec();
        let l4len = (f.len() - l4_at) as u16;
        let p = u16::from_be_bytes([f[field_at], f[field_at + 1]]);
        f[field_at..field_at + 2].copy_from_slice(&checksum::add(p, l4len).to_be_bytes());
        let c = !checksum::ones_sum(&f[l4_at..]);
        f[field_at..field_at + 2].copy_from_slice(&c.to_be_bytes());
        check_emitted(&f).is_ok()
    }

    // RFC 6146 §3.5.2 + RFC 7915 §5.1/§5.5 on a TCPv6 super-packet (10 × 1440 bytes):
    // one IPv4 header from the session (pool4 source address and port), TCPV4, the
    // partial sum moved to the IPv4 pseudo-header; and the IPv4 answer the other way
    // (§4.1: gso_size lowered by the 20 bytes the header grows).
    #[test]
    fn rfc6146_3_5_2_gso_super_packets_through_a_session() {
        let (t, mut s) = (nat64(false), shard());
        one(
            &t,
            &mut s,
            &tcp6(C1, 40000, SERVER6, 80, true),
            0,
            Verdict::V6ToV4,
        );
        let se = session(&s, Proto::Tcp, C1, 40000);
        let input = super6(C1, 40000, SERVER6, 80, 14400);
        let off = Offload {
            flags: FLAG_NEEDS_CSUM,
            gso_type: gso::TCPV6,
            hdr_len: 60,
            gso_size: 1440,
            csum_start: 40,
            csum_offset: 16,
        };
        let mut pkt = PacketBuf::from_packet(&input);
        let mut out = Output::new();
        let v = t.translate_offload(&mut s, &mut pkt, off, &mut out, 1, true);
        assert_eq!(v.verdict, Verdict::V6ToV4);
        assert_eq!(out.frames().len(), 1);
        let o = out.frames()[0].offload;
        assert_eq!(
            (o.gso_type, o.gso_size, o.csum_start, o.hdr_len),
            (gso::TCPV4, 1440, 20, 40)
        );
        let f = out.frame_bytes(0, &pkt);
        assert_eq!(f.len(), 40 + 14400);
        assert_eq!(ends4(&f), (se.v4, ip4(SERVER4), se.v4_port, 80));
        assert_eq!(
            u16::from_be_bytes([f[36], f[37]]),
            checksum::pseudo_v4(se.v4.octets(), a4(SERVER4), IpProtocol(6), 0)
        );
        assert!(completes(&f, 20, 36));

        // The server's super-packet back to the binding.
        let mut v4 = Vec::new();
        PacketBuilder::ipv4(a4(SERVER4), se.v4.octets(), 64)
            .tcp(80, se.v4_port, 1, 65535)
            .ack(1)
            .write(&mut v4, &vec![0xa5; 14600])
            .unwrap();
        v4[6] |= 0x40; // DF
        let hc = !checksum::ones_sum(&{
            let mut h = v4[..20].to_vec();
            h[10] = 0;
            h[11] = 0;
            h
        });
        v4[10..12].copy_from_slice(&hc.to_be_bytes());
        let p = checksum::pseudo_v4(a4(SERVER4), se.v4.octets(), IpProtocol(6), 0);
        v4[36..38].copy_from_slice(&p.to_be_bytes());
        let off4 = Offload {
            gso_type: gso::TCPV4,
            hdr_len: 40,
            gso_size: 1460,
            csum_start: 20,
            ..off
        };
        let mut pkt = PacketBuf::from_packet(&v4);
        let v = t.translate_offload(&mut s, &mut pkt, off4, &mut out, 2, true);
        assert_eq!(v.verdict, Verdict::V4ToV6);
        let o = out.frames()[0].offload;
        assert_eq!(
            (o.gso_type, o.gso_size, o.csum_start),
            (gso::TCPV6, 1440, 40)
        );
        let f = out.frame_bytes(0, &pkt);
        assert_eq!(ends6(&f), (ip6(SERVER6), ip6(C1), 80, 40000));
        assert!(completes(&f, 40, 56));
    }
}
