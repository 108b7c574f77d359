//! What the NAT64 core sends on its own: the keepalive probe of an ESTABLISHED session
//! whose lifetime expired (RFC 6146 §3.5.2.2), and the Time Exceeded it gives only to
//! IPv4 packets bound for a mapping.

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

use super::super::{Generated, Nat64Core, Output, Verdict};
use super::nat64::{C1, POOL4, SERVER4, SERVER6, nat64};
use super::{a4, a6};
use crate::nat64::{Pool4, Proto, Shard, ShardConfig, TcpState};
use crate::wire::buf::PacketBuf;
use crate::wire::vnet::Offload;
use crate::xlat::reassembly::Limits;

fn tcp(v6_to_v4: bool, syn: bool, ack: bool, port4: u16) -> Vec<u8> {
    let mut v = Vec::new();
    if v6_to_v4 {
        let b = PacketBuilder::ipv6(a6(C1), a6(SERVER6), 64).tcp(40000, 443, 1, 1000);
        let b = if syn { b.syn() } else { b };
        let b = if ack { b.ack(1) } else { b };
        b.write(&mut v, &[]).unwrap();
    } else {
        let b = PacketBuilder::ipv4(a4(SERVER4), a4(POOL4), 64).tcp(443, port4, 7, 1000);
        let b = if syn { b.syn() } else { b };
        let b = if ack { b.ack(2) } else { b };
        b.write(&mut v, &[]).unwrap();
    }
    v
}

/// RFC 6146 §3.5.2.2: "If the lifetime expires, then the NAT64 SHOULD send a probe
/// packet ... to at least one of the endpoints of the TCP connection ... The state is
/// moved to TRANS." An established session left idle past TCP_EST gets the probe towards
/// its IPv6 endpoint, and the session survives in TRANS.
#[test]
fn rfc6146_3_5_2_2_established_timeout_sends_the_probe() {
    let t = nat64(false);
    let mut cfg = ShardConfig::new(Pool4::new(vec![POOL4.parse().unwrap()]), 64);
    cfg.timeouts.tcp_est = 8_000;
    let limits = Limits {
        slots: 64,
        slot_len: 1500,
        timeout_ms: 2000,
        subscriber_prefix_len: 64,
    };
    let mut core = Nat64Core::new(&t, Shard::new(cfg, 3).unwrap(), limits);
    let mut out = Output::new();
    let mut run = |core: &mut Nat64Core<'_>, p: Vec<u8>, now| {
        let mut pkt = PacketBuf::from_packet(&p);
        core.translate(&mut pkt, Offload::NONE, &mut out, now, true)
    };
    assert_eq!(
        run(&mut core, tcp(true, true, false, 0), 0),
        Verdict::V6ToV4
    );
    let port4 = core.shard().sessions(0).next().unwrap().v4_port;
    assert_eq!(
        run(&mut core, tcp(false, true, true, port4), 1),
        Verdict::V4ToV6
    );
    assert_eq!(
        run(&mut core, tcp(true, false, true, 0), 2),
        Verdict::V6ToV4
    );
    let state = |c: &Nat64Core<'_>| c.shard().sessions(0).next().unwrap().state;
    assert_eq!(state(&core), Some(TcpState::Established));
    let mut sent = Vec::new();
    let mut out = Output::new();
    for now in (1000..=12_000).step_by(1000) {
        core.expire(now, 256, &mut out, |o, what| {
            let f = o.frame_bytes(0, &PacketBuf::new());
            sent.push((what, f));
        });
    }
    assert_eq!(sent.len(), 1, "one probe");
    let (what, f) = &sent[0];
    assert_eq!(*what, Generated::Probe);
    let p = SlicedPacket::from_ip(f).unwrap();
    let Some(NetSlice::Ipv6(ip)) = p.net else {
        panic!("not IPv6")
    };
    assert_eq!(
        ip.header().destination_addr(),
        C1.parse::<std::net::Ipv6Addr>().unwrap()
    );
    let Some(TransportSlice::Tcp(seg)) = p.transport else {
        panic!("not TCP")
    };
    assert_eq!((seg.source_port(), seg.destination_port()), (443, 40000));
    assert!(seg.ack() && seg.sequence_number() == 0 && seg.acknowledgment_number() == 0);
    assert_eq!(state(&core), Some(TcpState::Trans));
    assert_eq!(core.shard().sessions(0).next().unwrap().proto, Proto::Tcp);
}

/// A pool4 scan must not turn the translator into an ICMP source (`icmp-on-refusal` is
/// off): an IPv4 packet whose TTL expires here gets Time Exceeded (RFC 1812 §5.3.1) only
/// if its pool4 transport address has a binding; to an unmapped port it is dropped
/// silently.
#[test]
fn time_exceeded_only_for_packets_to_a_mapping() {
    let t = nat64(false);
    let limits = Limits {
        slots: 64,
        slot_len: 1500,
        timeout_ms: 2000,
        subscriber_prefix_len: 64,
    };
    let mut core = Nat64Core::new(&t, super::nat64::shard(), limits);
    let mut out = Output::new();
    let udp4 = |core: &mut Nat64Core<'_>, port: u16, out: &mut Output| {
        let mut v = Vec::new();
        PacketBuilder::ipv4(a4(SERVER4), a4(POOL4), 1)
            .udp(53, port)
            .write(&mut v, b"x")
            .unwrap();
        let mut pkt = PacketBuf::from_packet(&v);
        let verdict = core.translate(&mut pkt, Offload::NONE, out, 0, true);
        (verdict, out.frames().len())
    };
    let (v, frames) = udp4(&mut core, 4000, &mut out);
    assert_eq!(v, Verdict::Drop(crate::xlat::DropReason::Ipv4TtlExceeded));
    assert_eq!(frames, 0, "no error for an unmapped port");
    let mut q = Vec::new();
    PacketBuilder::ipv6(a6(C1), a6(SERVER6), 64)
        .udp(5000, 53)
        .write(&mut q, b"q")
        .unwrap();
    let mut pkt = PacketBuf::from_packet(&q);
    core.translate(&mut pkt, Offload::NONE, &mut out, 0, true);
    let port = core.shard().sessions(0).next().unwrap().v4_port;
    let (v, frames) = udp4(&mut core, port, &mut out);
    assert_eq!(v, Verdict::Drop(crate::xlat::DropReason::Ipv4TtlExceeded));
    assert_eq!(frames, 1, "Time Exceeded for a mapped port");
}
