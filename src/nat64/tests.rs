//! Behaviour of a shard on a fake clock, per RFC section, and a concurrent stress test.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::tcp::{FIN, RST, SYN};
use super::*;
use crate::dataplane::nat64::{TICK, expire_budget};

const ACK: u8 = 0x10;
const MIN: u64 = 60_000;

fn c6(i: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, i, 0, 0, 0, 0, 1)
}
const R1: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const R2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const P4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn cfg() -> ShardConfig {
    ShardConfig::new(Pool4::new(vec![P4, Ipv4Addr::new(192, 0, 2, 2)]), 1000)
}

fn shard(c: ShardConfig) -> Shard {
    Shard::new(c, 0x1234).unwrap()
}

/// The flow of the IPv6 host `v6` (address, port) with the IPv4 peer `remote`.
fn t6(proto: Proto, v6: (Ipv6Addr, u16), remote: (Ipv4Addr, u16)) -> Tuple6 {
    Tuple6 {
        proto,
        v6: Endpoint6::new(v6.0, v6.1),
        remote: Endpoint4::new(remote.0, remote.1),
    }
}

/// The flow of the IPv4 peer `remote` (address, port) with the pool4 address `pool4`.
fn t4(proto: Proto, remote: (Ipv4Addr, u16), pool4: (Ipv4Addr, u16)) -> Tuple4 {
    Tuple4 {
        proto,
        remote: Endpoint4::new(remote.0, remote.1),
        pool4: Endpoint4::new(pool4.0, pool4.1),
    }
}

fn fwd(r: V4Lookup) -> Inbound {
    match r {
        V4Lookup::Forward(i) => i,
        other => panic!("expected Forward, got {other:?}"),
    }
}

fn sweep(s: &mut Shard, now: u64) -> Vec<Event> {
    let mut ev = Vec::new();
    s.expire(now, usize::MAX, |e| ev.push(e));
    ev
}

fn state_of(s: &Shard, now: u64) -> Option<TcpState> {
    s.sessions(now).next().and_then(|i| i.state)
}

#[test]
fn endpoint_independent_mapping_rfc6146_3_5_1_rfc4787_req1() {
    let mut s = shard(cfg());
    let a = s
        .lookup_or_create_v6(t6(Proto::Udp, (c6(1), 5000), (R1, 53)), 0, 0)
        .unwrap();
    let b = s
        .lookup_or_create_v6(t6(Proto::Udp, (c6(1), 5000), (R2, 123)), 0, 0)
        .unwrap();
    assert_eq!((a.src, a.sport), (b.src, b.sport));
    let c = s
        .lookup_or_create_v6(t6(Proto::Udp, (c6(1), 5001), (R1, 53)), 0, 0)
        .unwrap();
    assert_ne!((a.src, a.sport), (c.src, c.sport));
    assert_eq!(c.src, a.src, "paired pooling (RFC 4787 REQ-2)");
    assert_eq!(s.session_count(), 3);
    assert_eq!(s.bib_count(), 2);
    s.check_invariants();
}

#[test]
fn binding_with_many_sessions_finds_each_rfc6146_3_5_1() {
    let mut s = shard(cfg());
    for round in 0..2 {
        for k in 0..12u8 {
            let dst = Ipv4Addr::new(198, 51, 100, k);
            s.lookup_or_create_v6(t6(Proto::Udp, (c6(1), 5000), (dst, 53)), 0, round)
                .unwrap();
        }
        assert_eq!(s.session_count(), 12, "round {round}: no duplicates");
    }
    s.check_invariants();
}

/// RFC 6146 §3.5.2.2, CLOSED state, a V4 SYN to a binding: under address-dependent
/// filtering, a SYN from a peer the client never contacted is not refused outright but
/// kept for TCP_INCOMING_SYN like a SYN with no binding (the reading of the reference
/// implementation, Jool, which stores it): if the client opens the same connection in
/// that time, it is a simultaneous open; otherwise the peer gets Port Unreachable.
#[test]
fn rfc6146_3_5_2_2_v4_syn_filtered_by_adf_is_held_for_a_simultaneous_open() {
    let mut c = cfg();
    c.filtering = Filtering::AddressDependent;
    let mut s = shard(c);
    let o = s
        .lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 5000), (R1, 80)), SYN, 0)
        .unwrap();
    let from_r2 = t4(Proto::Tcp, (R2, 7000), (o.src, o.sport));
    assert_eq!(s.lookup_v4(from_r2, SYN, 1), V4Lookup::Held);
    // The client opens the same connection: the held SYN completes it.
    let again = s
        .lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 5000), (R2, 7000)), SYN, 2)
        .unwrap();
    assert!(again.simultaneous_open);
    // Another peer's SYN is held and, without a V6 SYN, expires into Port Unreachable.
    let r3 = Ipv4Addr::new(198, 51, 100, 3);
    let from_r3 = t4(Proto::Tcp, (r3, 7001), (o.src, o.sport));
    assert_eq!(s.lookup_v4(from_r3, SYN, 3), V4Lookup::Held);
    let hold = s.config().timeouts.tcp_incoming_syn;
    let ev = sweep(&mut s, 3 + hold);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::HeldSynExpired { src, .. } if *src == r3)),
        "{ev:?}"
    );
    s.check_invariants();
}

/// RFC 6146 §3.5.2.2, CLOSED state, any other packet: a TCP segment that is not a SYN,
/// from IPv4 to a binding with no session for it, is translated when the filtering
/// allows (as the reference implementation does), and opens no session; under
/// address-dependent filtering from an unknown peer it is dropped.
#[test]
fn rfc6146_3_5_2_2_non_syn_to_a_binding_passes_without_a_session() {
    let mut s = shard(cfg());
    let o = s
        .lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 5000), (R1, 80)), SYN, 0)
        .unwrap();
    let stray = t4(Proto::Tcp, (R2, 80), (o.src, o.sport));
    let i = fwd(s.lookup_v4(stray, RST | ACK, 1));
    assert_eq!((i.dst, i.dport), (c6(1), 5000));
    assert_eq!(s.session_count(), 1, "nothing opened");
    let mut c = cfg();
    c.filtering = Filtering::AddressDependent;
    let mut s = shard(c);
    let o = s
        .lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 5000), (R1, 80)), SYN, 0)
        .unwrap();
    let stray = t4(Proto::Tcp, (R2, 80), (o.src, o.sport));
    assert_eq!(
        s.lookup_v4(stray, ACK, 1),
        V4Lookup::Refused(Refusal::NoSession)
    );
    s.check_invariants();
}

#[test]
fn reply_maps_back_rfc6146_3_5_1() {
    let mut s = shard(cfg());
    let o = s
        .lookup_or_create_v6(t6(Proto::Udp, (c6(1), 5000), (R1, 53)), 0, 0)
        .unwrap();
    let i = fwd(s.lookup_v4(t4(Proto::Udp, (R1, 53), (o.src, o.sport)), 0, 1));
    assert_eq!((i.dst, i.dport), (c6(1), 5000));
    assert_eq!(s.session_count(), 1);
    assert_eq!(
        s.lookup_v4(t4(Proto::Udp, (R1, 53), (o.src, o.sport ^ 2)), 0, 1),
        V4Lookup::Refused(Refusal::NoMapping)
    );
}

#[test]
fn endpoint_independent_filtering_default_rfc4787_req8() {
    let mut s = shard(cfg());
    let o = s
        .lookup_or_create_v6(t6(Proto::Udp, (c6(1), 5000), (R1, 53)), 0, 0)
        .unwrap();
    let i = fwd(s.lookup_v4(t4(Proto::Udp, (R2, 999), (o.src, o.sport)), 0, 1));
    assert_eq!(i.dst, c6(1));
    assert_eq!(s.session_count(), 2, "the new peer got its own session");
    s.check_invariants();
}

#[test]
fn address_dependent_filtering_option_rfc4787_req8() {
    let mut c = cfg();
    c.filtering = Filtering::AddressDependent;
    let mut s = shard(c);
    let o = s
        .lookup_or_create_v6(t6(Proto::Udp, (c6(1), 5000), (R1, 53)), 0, 0)
        .unwrap();
    assert_eq!(
        s.lookup_v4(t4(Proto::Udp, (R2, 53), (o.src, o.sport)), 0, 1),
        V4Lookup::Refused(Refusal::Filtered)
    );
    // Same address, another port: allowed (address-, not address-and-port-dependent).
    fwd(s.lookup_v4(t4(Proto::Udp, (R1, 5353), (o.src, o.sport)), 0, 1));
    assert_eq!(s.counters().refused(Refusal::Filtered), 1);
    s.check_invariants();
}

#[test]
fn icmp_identifier_is_the_port_rfc6146_3_5_3() {
    let mut s = shard(cfg());
    let o = s
        .lookup_or_create_v6(t6(Proto::Icmp, (c6(1), 77), (R1, 77)), 0, 0)
        .unwrap();
    let i = fwd(s.lookup_v4(t4(Proto::Icmp, (R1, o.sport), (o.src, o.sport)), 0, 1));
    assert_eq!((i.dst, i.dport), (c6(1), 77));
    assert_eq!(s.session_count(), 1);
    let info = s.sessions(1).next().unwrap();
    assert_eq!(
        (info.proto, info.remote_port, info.state),
        (Proto::Icmp, 0, None)
    );
    // ICMP_DEFAULT 60 s.
    sweep(&mut s, 60_000);
    sweep(&mut s, 75_001);
    assert_eq!(s.session_count(), 0);
}

#[test]
fn tcp_v6_open_and_close_rfc6146_3_5_2_2() {
    let mut s = shard(cfg());
    let t = |s: &mut Shard, now| state_of(s, now).unwrap();
    assert_eq!(
        s.lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 40000), (R1, 80)), ACK, 0),
        Err(Refusal::NoSession),
        "CLOSED: only a SYN opens"
    );
    let o = s
        .lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 40000), (R1, 80)), SYN, 0)
        .unwrap();
    assert_eq!(o.sport & 1, 0, "parity kept");
    assert_eq!(t(&mut s, 0), TcpState::V6Init);
    fwd(s.lookup_v4(t4(Proto::Tcp, (R1, 80), (o.src, o.sport)), SYN | ACK, 1));
    assert_eq!(t(&mut s, 1), TcpState::Established);
    s.lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 40000), (R1, 80)), FIN | ACK, 2)
        .unwrap();
    assert_eq!(t(&mut s, 2), TcpState::V6FinRcv);
    fwd(s.lookup_v4(t4(Proto::Tcp, (R1, 80), (o.src, o.sport)), FIN | ACK, 3));
    assert_eq!(t(&mut s, 3), TcpState::V4FinV6FinRcv);
    s.check_invariants();
    // TCP_TRANS (4 min) from the second FIN; later packets do not refresh it.
    s.lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 40000), (R1, 80)), ACK, 3 * MIN)
        .unwrap();
    sweep(&mut s, 3 * MIN);
    assert_eq!(s.session_count(), 1);
    sweep(&mut s, 5 * MIN + 3);
    assert_eq!(s.session_count(), 0);
    assert_eq!(
        s.bib_count(),
        0,
        "the dynamic binding goes with its last session"
    );
    s.check_invariants();
}

#[test]
fn tcp_rst_goes_to_trans_and_data_revives_rfc6146_3_5_2_2() {
    let mut s = shard(cfg());
    let o = s
        .lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 40000), (R1, 80)), SYN, 0)
        .unwrap();
    fwd(s.lookup_v4(t4(Proto::Tcp, (R1, 80), (o.src, o.sport)), SYN | ACK, 1));
    fwd(s.lookup_v4(t4(Proto::Tcp, (R1, 80), (o.src, o.sport)), RST, 2));
    assert_eq!(state_of(&s, 2), Some(TcpState::Trans));
    s.lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 40000), (R1, 80)), ACK, 3)
        .unwrap();
    assert_eq!(state_of(&s, 3), Some(TcpState::Established));
    // Established sessions outlive TCP_TRANS.
    sweep(&mut s, 60 * MIN);
    assert_eq!(s.session_count(), 1);
    s.check_invariants();
}

#[test]
fn established_timeout_probes_then_trans_rfc6146_3_5_2_2() {
    let mut s = shard(cfg());
    let o = s
        .lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 40000), (R1, 80)), SYN, 0)
        .unwrap();
    fwd(s.lookup_v4(t4(Proto::Tcp, (R1, 80), (o.src, o.sport)), SYN | ACK, 0));
    let est = Timeouts::default().tcp_est;
    assert!(sweep(&mut s, est - 1).is_empty());
    let mut ev = sweep(&mut s, est);
    ev.extend(sweep(&mut s, est + est / 4));
    assert!(matches!(ev.as_slice(), [Event::TcpProbe(i)] if i.v4_port == o.sport));
    assert_eq!(state_of(&s, est + est / 4), Some(TcpState::Trans));
    // No answer to the probe: gone after TCP_TRANS.
    let later = est + est / 4 + Timeouts::default().tcp_trans * 5 / 4 + 1;
    sweep(&mut s, later);
    assert_eq!(s.session_count(), 0);
}

#[test]
fn v4_syn_without_mapping_held_then_port_unreachable_rfc6146_3_5_2_2() {
    let mut s = shard(cfg());
    assert_eq!(
        s.lookup_v4(t4(Proto::Tcp, (R1, 80), (P4, 3000)), SYN, 0),
        V4Lookup::Held
    );
    assert_eq!(
        s.lookup_v4(t4(Proto::Tcp, (R1, 80), (P4, 3000)), SYN, 1000),
        V4Lookup::Held,
        "retransmission"
    );
    assert!(sweep(&mut s, 5999).is_empty());
    let ev = sweep(&mut s, 6000);
    assert_eq!(
        ev,
        vec![Event::HeldSynExpired {
            src: R1,
            sport: 80,
            dst: P4,
            dport: 3000
        }]
    );
    assert_eq!(s.session_count(), 0);
    // Non-SYN: no mapping, nothing held.
    assert_eq!(
        s.lookup_v4(t4(Proto::Tcp, (R1, 80), (P4, 3000)), ACK, 0),
        V4Lookup::Refused(Refusal::NoMapping)
    );
}

/// RFC 6146 §3.5.2.2 holds the SYN for TCP_INCOMING_SYN; the operator may change it
/// (`tcp-incoming-syn-timeout`), and the hold follows.
#[test]
fn v4_syn_hold_follows_configured_incoming_syn_timeout_rfc6146_3_5_2_2() {
    let mut c = cfg();
    c.timeouts.tcp_incoming_syn = 2000;
    let mut s = shard(c);
    assert_eq!(
        s.lookup_v4(t4(Proto::Tcp, (R1, 80), (P4, 3000)), SYN, 0),
        V4Lookup::Held
    );
    assert!(sweep(&mut s, 1999).is_empty());
    assert_eq!(sweep(&mut s, 2000).len(), 1);
    assert_eq!(s.counters().held_syns_expired, 1);
}

/// RFC 6146 §3.5.2.2, ESTABLISHED: a FIN moves the state to V4/V6 FIN RCV but does not
/// set the lifetime; in FIN RCV "any other packet" (the ACK of the FIN) sets TCP_EST.
#[test]
fn fin_changes_state_but_not_lifetime_rfc6146_3_5_2_2() {
    let mut s = shard(cfg());
    let o = s
        .lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 40000), (R1, 80)), SYN, 0)
        .unwrap();
    fwd(s.lookup_v4(t4(Proto::Tcp, (R1, 80), (o.src, o.sport)), SYN | ACK, 0));
    let est = Timeouts::default().tcp_est;
    let left = |s: &Shard, now| s.sessions(now).next().unwrap().expires_in_ms;
    s.lookup_or_create_v6(
        t6(Proto::Tcp, (c6(1), 40000), (R1, 80)),
        FIN | ACK,
        est - 1000,
    )
    .unwrap();
    assert_eq!(state_of(&s, est - 1000), Some(TcpState::V6FinRcv));
    assert_eq!(
        left(&s, est - 1000),
        1000,
        "the FIN left the lifetime alone"
    );
    fwd(s.lookup_v4(t4(Proto::Tcp, (R1, 80), (o.src, o.sport)), ACK, est - 500));
    assert_eq!(left(&s, est - 500), est, "the ACK set TCP_EST");
    s.check_invariants();
}

#[test]
fn simultaneous_open_completes_held_syn_rfc6146_3_5_2_2() {
    let mut c = cfg();
    c.pool = Pool4::new(vec![P4]);
    c.pool.tcp = PortRange::new(3000, 3000);
    let mut s = shard(c);
    assert_eq!(
        s.lookup_v4(t4(Proto::Tcp, (R1, 80), (P4, 3000)), SYN, 0),
        V4Lookup::Held
    );
    let o = s
        .lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 4000), (R1, 80)), SYN, 2000)
        .unwrap();
    assert_eq!((o.src, o.sport), (P4, 3000));
    assert!(o.simultaneous_open);
    assert_eq!(state_of(&s, 2000), Some(TcpState::Established));
    assert!(
        sweep(&mut s, 10_000).is_empty(),
        "no ICMP for a completed open"
    );
    assert_eq!(s.counters().simultaneous_opens, 1);
}

#[test]
fn v4_syn_to_existing_binding_is_v4_init_rfc6146_3_5_2_2() {
    let mut s = shard(cfg());
    let o = s
        .lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 40000), (R1, 80)), SYN, 0)
        .unwrap();
    fwd(s.lookup_v4(t4(Proto::Tcp, (R2, 5555), (o.src, o.sport)), SYN, 1));
    let st: Vec<_> = s
        .sessions(1)
        .filter(|i| i.remote == R2)
        .map(|i| i.state)
        .collect();
    assert_eq!(st, vec![Some(TcpState::V4Init)]);
    // The IPv6 side answers: ESTABLISHED.
    s.lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 40000), (R2, 5555)), SYN | ACK, 2)
        .unwrap();
    let st: Vec<_> = s
        .sessions(2)
        .filter(|i| i.remote == R2)
        .map(|i| i.state)
        .collect();
    assert_eq!(st, vec![Some(TcpState::Established)]);
    // Without the answer, V4 INIT lasts TCP_INCOMING_SYN.
    fwd(s.lookup_v4(t4(Proto::Tcp, (R1, 81), (o.src, o.sport)), SYN, 10));
    sweep(&mut s, 10 + 6000 + 1500);
    assert!(s.sessions(8000).all(|i| i.remote_port != 81));
    s.check_invariants();
}

#[test]
fn drop_externally_initiated_tcp_policy_rfc6146_3_5_2_2() {
    let mut c = cfg();
    c.drop_externally_initiated_tcp = true;
    let mut s = shard(c);
    assert_eq!(
        s.lookup_v4(t4(Proto::Tcp, (R1, 80), (P4, 3000)), SYN, 0),
        V4Lookup::Refused(Refusal::Filtered)
    );
    let o = s
        .lookup_or_create_v6(t6(Proto::Tcp, (c6(1), 40000), (R1, 80)), SYN, 0)
        .unwrap();
    assert_eq!(
        s.lookup_v4(t4(Proto::Tcp, (R2, 80), (o.src, o.sport)), SYN, 0),
        V4Lookup::Refused(Refusal::Filtered)
    );
}

#[test]
fn udp_expiry_fake_clock_rfc6146_3_5_1() {
    let mut s = shard(cfg());
    let o = s
        .lookup_or_create_v6(t6(Proto::Udp, (c6(1), 5000), (R1, 53)), 0, 0)
        .unwrap();
    s.lookup_or_create_v6(t6(Proto::Udp, (c6(2), 5000), (R1, 53)), 0, 0)
        .unwrap();
    // Flow 1 keeps talking every minute; flow 2 goes quiet.
    for m in 1..=20 {
        s.lookup_v4(t4(Proto::Udp, (R1, 53), (o.src, o.sport)), 0, m * MIN);
        sweep(&mut s, m * MIN);
        let live = s.session_count();
        if m < 5 {
            assert_eq!(live, 2, "minute {m}");
        }
        if m >= 7 {
            assert_eq!(live, 1, "minute {m}: idle > 1.25 × 5 min");
        }
    }
    assert_eq!(s.sessions(20 * MIN).next().unwrap().v6, c6(1));
    assert!(s.counters().requeued > 0, "second chance used");
    s.check_invariants();
}

#[test]
fn configurable_udp_timeout_rfc6146_3_5_1() {
    let mut c = cfg();
    c.timeouts.udp = 2 * MIN;
    let mut s = shard(c);
    s.lookup_or_create_v6(t6(Proto::Udp, (c6(1), 5000), (R1, 53)), 0, 0)
        .unwrap();
    sweep(&mut s, 2 * MIN - 1);
    assert_eq!(s.session_count(), 1);
    sweep(&mut s, 2 * MIN + MIN / 2);
    assert_eq!(s.session_count(), 0);
}

#[test]
fn expire_work_is_bounded() {
    let mut c = cfg();
    c.max_subscribers = 1000;
    let mut s = shard(c);
    for p in 0..500 {
        s.lookup_or_create_v6(t6(Proto::Udp, (c6(p), 5000), (R1, 53)), 0, 0)
            .unwrap();
    }
    let n = s.expire(10 * MIN, 10, |_| {});
    assert_eq!(n.freed, 10);
    assert!(n.due, "stopped on its budget with due sessions left");
    assert_eq!(s.session_count(), 490);
    let mut calls = 0;
    while s.expire(10 * MIN, 64, |_| {}).due {
        calls += 1;
    }
    assert_eq!(
        calls,
        490 / 64,
        "each call but the last did its whole budget"
    );
    assert_eq!(s.session_count(), 0);
    assert_eq!(s.expire(10 * MIN, 64, |_| {}), Expired::default());
    s.check_invariants();
}

/// A worker's timer as `dataplane::nat64` runs it: one expiry call per turn of the
/// loop with `expire_budget` of the sessions created since the last call; an idle
/// worker calls again at once while due work is left (`Engine::park` is then false),
/// else it sleeps one `TICK`.
#[derive(Default)]
struct Timer {
    created_seen: u64,
}

impl Timer {
    /// One turn's expiry call; whether due work is left.
    fn turn(&mut self, s: &mut Shard, now: u64) -> bool {
        let created = s.counters().sessions_created;
        let budget = expire_budget(created - self.created_seen);
        self.created_seen = created;
        let e = s.expire(now, budget, |_| {});
        assert!(e.freed <= budget, "one call stays within its budget");
        e.due
    }

    /// An idle worker's wake-up: turns until nothing due is left.
    fn idle(&mut self, s: &mut Shard, now: u64) {
        while self.turn(s, now) {}
    }
}

/// A flood as a worker sees it: `per_turn` new UDP sessions per turn of its loop, one
/// turn every `every` ms from `start`, each session its own host port (so its own
/// binding and pool4 port), 4000 per host. `check` sees the shard after each turn's
/// new sessions, with the turns so far. Returns each turn's time.
fn flood(
    s: &mut Shard,
    timer: &mut Timer,
    (n, per_turn): (usize, usize),
    (start, every): (u64, u64),
    mut check: impl FnMut(&Shard, &[u64]),
) -> Vec<u64> {
    let mut turns = Vec::new();
    for (k, first) in (0..n).step_by(per_turn).enumerate() {
        let now = start + k as u64 * every;
        for i in first..(first + per_turn).min(n) {
            let host = (c6((i / 4000) as u16), 1024 + (i % 4000) as u16);
            s.lookup_or_create_v6(t6(Proto::Udp, host, (R1, 53)), 0, now)
                .unwrap_or_else(|r| panic!("flow {i} at {now} ms refused: {r:?}"));
        }
        turns.push(now);
        check(s, &turns);
        timer.turn(s, now);
    }
    turns
}

/// The bound of `nat64`'s "Expiry": at `now`, every session of the flood whose turn
/// was at `turns[k]` is alive while idle less than `timeout` (RFC 6146 §3.5.1: a UDP
/// session lives at least its lifetime, UDP_Min or more) and gone once idle
/// 1.25 × `timeout`.
fn check_lifetimes(s: &Shard, turns: &[u64], per_turn: usize, timeout: u64, now: u64) {
    let alive_at_least = turns.iter().filter(|&&t| now - t < timeout).count() * per_turn;
    let alive_at_most = turns
        .iter()
        .filter(|&&t| now - t < timeout + timeout / 4)
        .count()
        * per_turn;
    let n = s.session_count();
    assert!(
        (alive_at_least..=alive_at_most).contains(&n),
        "{n} sessions at {now} ms; expected {alive_at_least} to {alive_at_most}"
    );
}

/// RFC 6146 §3.5.1 and §4 (session lifetimes; UDP_Min 2 min): a million UDP sessions
/// created in 10 s, then nothing. Each goes between 1 and 1.25 × its lifetime, with its
/// pool4 port and its quotas: a second flood of the same size, from the same hosts,
/// is then admitted whole (it would be refused by max-sessions, the per-host quota
/// and the pool4 ports otherwise). Expiry runs as an idle worker runs it, so no single
/// call does more than its budget.
#[test]
fn flood_expires_within_its_lifetime_rfc6146_3_5_1_and_4() {
    const N: usize = 1_000_000;
    let timeout = 2 * MIN;
    // 20 addresses × 64 512 ports: 1.29 M, fewer than two floods.
    let pool = Pool4::new((1..=20).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect());
    let mut c = ShardConfig::new(pool, N);
    c.timeouts.udp = timeout;
    (c.max_sessions_per_addr, c.max_sessions_per_prefix) = (4000, 4000);
    let mut s = shard(c);
    let mut timer = Timer::default();
    // 100 000 new sessions/s, in batches of 64 (a busy worker's turns).
    let turns = flood(
        &mut s,
        &mut timer,
        (N, 64),
        (0, 64 * 1000 / 100_000),
        |_, _| {},
    );
    assert_eq!(s.session_count(), N);
    let end = *turns.last().unwrap() + timeout + timeout / 4;
    let mut now = turns.last().unwrap() + TICK.as_millis() as u64;
    while now <= end + TICK.as_millis() as u64 {
        timer.idle(&mut s, now);
        check_lifetimes(&s, &turns, 64, timeout, now);
        now += TICK.as_millis() as u64;
    }
    assert_eq!((s.session_count(), s.bib_count()), (0, 0));
    assert_eq!(s.counters().sessions_expired, N as u64);
    flood(
        &mut s,
        &mut timer,
        (N, 64),
        (now, 64 * 1000 / 100_000),
        |_, _| {},
    );
    assert_eq!(s.session_count(), N);
    assert_eq!(s.counters().refused, [0; Refusal::COUNT]);
}

/// RFC 6146 §3.5.1: the same bound while the worker never idles. Each turn of its
/// loop creates 320 sessions (a batch of 64 reads and 256 parcels handed over by
/// other workers) and makes one expiry call; over 200 s at 2 000 new sessions/s, past
/// 1.25 × the 2-minute lifetime, the sweeper keeps up turn by turn.
#[test]
fn busy_worker_expiry_keeps_up_with_creation_rfc6146_3_5_1() {
    const N: usize = 400_000;
    const PER_TURN: usize = 64 + 256;
    let timeout = 2 * MIN;
    let pool = Pool4::new((1..=8).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect());
    let mut c = ShardConfig::new(pool, N);
    c.timeouts.udp = timeout;
    let mut s = shard(c);
    let mut timer = Timer::default();
    // 320 sessions every 160 ms: 2 000/s.
    flood(&mut s, &mut timer, (N, PER_TURN), (0, 160), |s, turns| {
        let now = *turns.last().unwrap();
        check_lifetimes(s, turns, PER_TURN, timeout, now);
    });
    assert!(s.counters().sessions_expired > N as u64 / 4);
    s.check_invariants();
}

#[test]
fn max_sessions_refuses_new_flows_only() {
    let mut c = cfg();
    c.max_sessions = 3;
    let mut s = shard(c);
    for p in 0..3 {
        s.lookup_or_create_v6(t6(Proto::Udp, (c6(p), 5000), (R1, 53)), 0, 0)
            .unwrap();
    }
    assert_eq!(
        s.lookup_or_create_v6(t6(Proto::Udp, (c6(9), 5000), (R1, 53)), 0, 0),
        Err(Refusal::TableFull)
    );
    assert!(
        s.lookup_or_create_v6(t6(Proto::Udp, (c6(1), 5000), (R1, 53)), 0, 1)
            .is_ok()
    );
    assert_eq!(s.counters().refused(Refusal::TableFull), 1);
}

#[test]
fn per_address_and_per_prefix_limits() {
    let mut c = cfg();
    c.max_sessions_per_addr = 2;
    c.max_sessions_per_prefix = 3;
    let mut s = shard(c);
    let a1 = Ipv6Addr::new(0x2001, 0xdb8, 7, 7, 0, 0, 0, 1);
    let a2 = Ipv6Addr::new(0x2001, 0xdb8, 7, 7, 0, 0, 0, 2);
    s.lookup_or_create_v6(t6(Proto::Udp, (a1, 1), (R1, 53)), 0, 0)
        .unwrap();
    s.lookup_or_create_v6(t6(Proto::Udp, (a1, 2), (R1, 53)), 0, 0)
        .unwrap();
    assert_eq!(
        s.lookup_or_create_v6(t6(Proto::Udp, (a1, 3), (R1, 53)), 0, 0),
        Err(Refusal::AddrLimit)
    );
    s.lookup_or_create_v6(t6(Proto::Udp, (a2, 1), (R1, 53)), 0, 0)
        .unwrap();
    assert_eq!(
        s.lookup_or_create_v6(t6(Proto::Udp, (a2, 2), (R1, 53)), 0, 0),
        Err(Refusal::PrefixLimit)
    );
    // Another /64 is not affected; existing flows carry on.
    s.lookup_or_create_v6(t6(Proto::Udp, (c6(1), 1), (R1, 53)), 0, 0)
        .unwrap();
    assert!(
        s.lookup_or_create_v6(t6(Proto::Udp, (a1, 1), (R1, 53)), 0, 1)
            .is_ok()
    );
    // IPv4-initiated sessions count against the subscriber too.
    let o = s
        .lookup_or_create_v6(t6(Proto::Udp, (c6(2), 1), (R1, 53)), 0, 0)
        .unwrap();
    fwd(s.lookup_v4(t4(Proto::Udp, (R2, 1), (o.src, o.sport)), 0, 0));
    let i = s
        .lookup_or_create_v6(t6(Proto::Udp, (a1, 1), (R1, 53)), 0, 0)
        .unwrap();
    assert_eq!(
        s.lookup_v4(t4(Proto::Udp, (R2, 1), (i.src, i.sport)), 0, 0),
        V4Lookup::Refused(Refusal::AddrLimit)
    );
    // When sessions expire the quota frees.
    sweep(&mut s, 30 * MIN);
    assert!(
        s.lookup_or_create_v6(t6(Proto::Udp, (a1, 3), (R1, 53)), 0, 30 * MIN)
            .is_ok()
    );
}

#[test]
fn subscriber_table_full() {
    let mut c = cfg();
    c.max_subscribers = 2;
    let mut s = shard(c);
    s.lookup_or_create_v6(t6(Proto::Udp, (c6(1), 1), (R1, 53)), 0, 0)
        .unwrap();
    s.lookup_or_create_v6(t6(Proto::Udp, (c6(2), 1), (R1, 53)), 0, 0)
        .unwrap();
    assert_eq!(
        s.lookup_or_create_v6(t6(Proto::Udp, (c6(3), 1), (R1, 53)), 0, 0),
        Err(Refusal::SubscriberTableFull)
    );
}

#[test]
fn pool_exhaustion_refuses_rfc6146_3_5_1_1() {
    let mut c = cfg();
    c.pool = Pool4::new(vec![P4]);
    c.pool.udp = PortRange::new(2000, 2003);
    let mut s = shard(c);
    let mut ports = Vec::new();
    for p in 0..4 {
        ports.push(
            s.lookup_or_create_v6(t6(Proto::Udp, (c6(p), 6000), (R1, 53)), 0, 0)
                .unwrap()
                .sport,
        );
    }
    ports.sort();
    assert_eq!(ports, vec![2000, 2001, 2002, 2003]);
    assert_eq!(
        s.lookup_or_create_v6(t6(Proto::Udp, (c6(9), 6000), (R1, 53)), 0, 0),
        Err(Refusal::PoolExhausted)
    );
    // Expiry gives the ports back.
    sweep(&mut s, 30 * MIN);
    assert!(
        s.lookup_or_create_v6(t6(Proto::Udp, (c6(9), 6000), (R1, 53)), 0, 30 * MIN)
            .is_ok()
    );
}

/// A pool4 address added while the shard runs (RFC 6146 §3.5.1.1: a mapping is
/// refused only when no address of pool4 has a free port): the existing mappings keep
/// their address, a new flow gets a port of the new one, and its replies find it. In
/// `block` mode too.
#[test]
fn pool4_addition_serves_new_flows_rfc6146_3_5_1_1() {
    for mode in [PortAllocation::Session, PortAllocation::Block] {
        let mut c = cfg();
        c.pool = Pool4::new(vec![P4]);
        c.pool.udp = PortRange::new(2000, 2003);
        c.blocks.mode = mode;
        c.blocks.size = 4;
        c.pool.tcp = c.pool.udp;
        c.pool.icmp = c.pool.udp;
        let mut s = shard(c);
        let first = (0..4)
            .map_while(|p| {
                s.lookup_or_create_v6(t6(Proto::Udp, (c6(0), 6000 + p), (R1, 53)), 0, 0)
                    .ok()
            })
            .count();
        assert!(first > 0, "{mode:?}");
        assert!(
            s.lookup_or_create_v6(t6(Proto::Udp, (c6(1), 6000), (R1, 53)), 0, 0)
                .is_err(),
            "{mode:?}: the pool is full"
        );
        let new = Ipv4Addr::new(192, 0, 2, 9);
        s.add_pool4(&[new, P4]).unwrap();
        assert!(s.is_pool4(new));
        let o = s
            .lookup_or_create_v6(t6(Proto::Udp, (c6(1), 6000), (R1, 53)), 0, 1)
            .unwrap();
        assert_eq!(o.src, new, "{mode:?}");
        let i = fwd(s.lookup_v4(t4(Proto::Udp, (R1, 53), (new, o.sport)), 0, 2));
        assert_eq!(i.dst, c6(1));
        assert_eq!(s.usage().ports.len(), 2);
        s.check_invariants();
    }
    let mut c = cfg();
    c.blocks.mode = PortAllocation::Deterministic;
    c.blocks.subscribers = Some(("2001:db8:100::".parse().unwrap(), 48));
    if let Ok(mut s) = Shard::new(c, 1) {
        assert!(s.add_pool4(&[Ipv4Addr::new(192, 0, 2, 9)]).is_err());
    }
}

#[test]
fn static_bib_forwards_ipv4_initiated_flows_rfc6146_3_5_2_2() {
    let mut c = cfg();
    c.filtering = Filtering::AddressDependent;
    let mut s = shard(c);
    let server: Ipv6Addr = "2001:db8:80::80".parse().unwrap();
    let st = StaticBib {
        proto: Proto::Tcp,
        v6: server,
        v6_port: 8080,
        v4: P4,
        v4_port: 1080,
    };
    s.add_static(&st).unwrap();
    assert_eq!(s.add_static(&st), Err(Refusal::StaticConflict));
    let i = fwd(s.lookup_v4(t4(Proto::Tcp, (R1, 50000), (P4, 1080)), SYN, 0));
    assert_eq!((i.dst, i.dport), (server, 8080));
    let o = s
        .lookup_or_create_v6(t6(Proto::Tcp, (server, 8080), (R1, 50000)), SYN | ACK, 1)
        .unwrap();
    assert_eq!((o.src, o.sport), (P4, 1080));
    assert_eq!(state_of(&s, 1), Some(TcpState::Established));
    // The server's own outgoing flows use the same binding (EIM).
    let o2 = s
        .lookup_or_create_v6(t6(Proto::Tcp, (server, 8080), (R2, 25)), SYN, 2)
        .unwrap();
    assert_eq!((o2.src, o2.sport), (P4, 1080));
    // The static binding outlives its sessions, and its port is never handed out.
    // (ESTABLISHED first times out into TRANS with a probe, then goes.)
    assert!(matches!(
        sweep(&mut s, 1000 * MIN).as_slice(),
        [Event::TcpProbe(_)]
    ));
    sweep(&mut s, 1010 * MIN);
    assert_eq!((s.session_count(), s.bib_count()), (0, 1));
    fwd(s.lookup_v4(t4(Proto::Tcp, (R2, 1), (P4, 1080)), SYN, 1010 * MIN));
    s.check_invariants();
}

/// A reload changes the manual BIB entries (RFC 6146 §3.5.1: "manually configured")
/// all or nothing: an entry clashing with a mapping refuses the whole change, and an
/// entry still used by sessions is not removed.
#[test]
fn static_bib_changes_all_or_nothing_rfc6146_3_5_1() {
    let mut s = shard(cfg());
    let server: Ipv6Addr = "2001:db8:80::80".parse().unwrap();
    let st = StaticBib {
        proto: Proto::Tcp,
        v6: server,
        v6_port: 8080,
        v4: P4,
        v4_port: 1080,
    };
    s.change_statics(&[], &[st]).unwrap();
    fwd(s.lookup_v4(t4(Proto::Tcp, (R1, 50000), (P4, 1080)), SYN, 0));
    let e = s.change_statics(&[st], &[]).unwrap_err();
    assert!(e.contains("holds sessions"), "{e}");
    let other = StaticBib {
        v6_port: 8081,
        v4_port: 1081,
        ..st
    };
    let clash = StaticBib { v6_port: 9, ..st };
    let e = s.change_statics(&[], &[other, clash]).unwrap_err();
    assert!(e.contains("already mapped") && e.contains(":1080"), "{e}");
    assert_eq!(
        s.bib_count(),
        1,
        "the entry added before the clash is undone"
    );
    sweep(&mut s, 1000 * MIN);
    sweep(&mut s, 1010 * MIN);
    assert_eq!(s.session_count(), 0);
    // Replacing an entry by one on the same port: removed first, then added.
    s.change_statics(&[st], &[clash, other]).unwrap();
    assert_eq!(s.bib_count(), 2);
    let i = fwd(s.lookup_v4(t4(Proto::Tcp, (R2, 1), (P4, 1080)), SYN, 1010 * MIN));
    assert_eq!((i.dst, i.dport), (server, 9));
    s.check_invariants();
}

#[test]
fn sessions_listing_shows_both_sides_and_time_left() {
    let mut s = shard(cfg());
    let o = s
        .lookup_or_create_v6(t6(Proto::Udp, (c6(1), 5000), (R1, 53)), 0, 1000)
        .unwrap();
    let l: Vec<_> = s.sessions(61_000).collect();
    assert_eq!(l.len(), 1);
    let i = l[0];
    assert_eq!(
        (i.v6, i.v6_port, i.v4, i.v4_port),
        (c6(1), 5000, o.src, o.sport)
    );
    assert_eq!(
        (i.remote, i.remote_port, i.expires_in_ms),
        (R1, 53, 4 * MIN)
    );
}

#[test]
fn randomised_operations_keep_tables_consistent() {
    let mut c = cfg();
    c.max_sessions = 300;
    c.pool.udp = PortRange::new(1024, 1300);
    let mut s = shard(c);
    let mut x = 99u64;
    let mut now = 0u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut mappings = Vec::new();
    for step in 0..30_000 {
        let r = rnd();
        now += r % 500;
        let proto = Proto::ALL[(r >> 8) as usize % 3];
        let flags = [SYN, ACK, FIN, RST, SYN | ACK][(r >> 12) as usize % 5];
        match (r >> 16) % 4 {
            0 | 1 => {
                let c = c6((r >> 20) as u16 % 40);
                let sp = (r >> 28) as u16 % 8;
                let dst = Ipv4Addr::new(198, 51, 100, (r >> 32) as u8 % 4);
                if let Ok(o) = s.lookup_or_create_v6(t6(proto, (c, sp), (dst, 7)), flags, now) {
                    mappings.push((proto, c, sp, o));
                }
            }
            2 if !mappings.is_empty() => {
                let (p, c, sp, o) = mappings[(r >> 20) as usize % mappings.len()];
                let src = Ipv4Addr::new(198, 51, 100, (r >> 32) as u8 % 6);
                if let V4Lookup::Forward(i) =
                    s.lookup_v4(t4(p, (src, 7), (o.src, o.sport)), flags, now)
                {
                    // Whatever answers, a binding maps to one client (or a newer one
                    // after expiry reused the port, which we then see in the list).
                    let cur = s
                        .sessions(now)
                        .any(|e| e.proto == p && e.v4_port == o.sport && e.v6 == i.dst);
                    assert!(cur || (i.dst, i.dport) == (c, sp));
                }
            }
            _ => {
                s.expire(now, (r >> 20) as usize % 50, |_| {});
            }
        }
        if step % 1000 == 0 {
            s.check_invariants();
        }
    }
    s.check_invariants();
}

mod stress {
    //! Workers on threads, each owning a shard; IPv6 packets go to the owner of their
    //! source, IPv4 replies arrive at a random worker and are handed to the owner of
    //! their destination port through SPSC rings. Every reply must map back to the
    //! flow that created it while that flow cannot have expired.

    use super::*;
    use crate::dataplane::ring::{Consumer, Producer, ring};
    use std::collections::VecDeque;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

    #[derive(Clone, Copy)]
    enum Msg {
        V6 {
            c: Ipv6Addr,
            sp: u16,
            dst: Ipv4Addr,
            dp: u16,
        },
        Reply {
            src: Ipv4Addr,
            sp: u16,
            dst: Ipv4Addr,
            dp: u16,
            want: (Ipv6Addr, u16),
            at: u64,
        },
    }

    const W: usize = 3;

    #[test]
    fn workers_with_handoff_rings_stay_consistent() {
        let iters: u64 = std::env::var("NAT64_STRESS_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40_000);
        let pool = Pool4::new(vec![P4, Ipv4Addr::new(192, 0, 2, 2)]);
        let sharding = Arc::new(Sharding::new(&pool, W, 64, 77));
        let clock = Arc::new(AtomicU64::new(0));
        let in_flight = Arc::new(AtomicI64::new(0));
        let generating = Arc::new(AtomicI64::new(W as i64));
        let failed = Arc::new(AtomicBool::new(false));
        // rings[i][j]: from worker i to worker j.
        let mut producers: Vec<Vec<Option<Producer<Msg>>>> =
            (0..W).map(|_| (0..W).map(|_| None).collect()).collect();
        let mut consumers: Vec<Vec<Consumer<Msg>>> = (0..W).map(|_| Vec::new()).collect();
        for (i, row) in producers.iter_mut().enumerate() {
            for (j, slot) in row.iter_mut().enumerate() {
                if i != j {
                    let (p, c) = ring(256);
                    *slot = Some(p);
                    consumers[j].push(c);
                }
            }
        }
        let mut handles = Vec::new();
        for (me, (prods, cons)) in producers.into_iter().zip(consumers).enumerate() {
            let mut c = ShardConfig::new(pool.clone(), 20_000);
            c.worker = me;
            c.workers = W;
            c.timeouts.udp = 2 * MIN;
            let (sharding, clock, in_flight, generating, failed) = (
                sharding.clone(),
                clock.clone(),
                in_flight.clone(),
                generating.clone(),
                failed.clone(),
            );
            handles.push(std::thread::spawn(move || {
                let mut shard = Shard::new(c, 1000 + me as u64).unwrap();
                let mut w = Worker {
                    me,
                    prods,
                    backlog: (0..W).map(|_| VecDeque::new()).collect(),
                    rng: 0x9e37 + me as u64,
                    in_flight: &in_flight,
                };
                let mut cons = cons;
                let mut checked = 0u64;
                for i in 0..iters {
                    // Worker 0 drives the shared fake clock: 10 ms per turn, so a
                    // run covers many UDP lifetimes.
                    if me == 0 {
                        clock.fetch_add(10, Ordering::Relaxed);
                    }
                    let now = clock.load(Ordering::Relaxed);
                    let r = w.rand();
                    let m = Msg::V6 {
                        c: c6((r % 300) as u16),
                        sp: 1000 + (r >> 16) as u16 % 20,
                        dst: Ipv4Addr::new(198, 51, 100, (r >> 24) as u8 % 8),
                        dp: 53,
                    };
                    w.route(m, &sharding, &mut shard, now, &mut checked, &failed);
                    w.drain(&mut cons, &sharding, &mut shard, now, &mut checked, &failed);
                    if i % 8 == 0 {
                        shard.expire(now, 32, |_| {});
                    }
                }
                generating.fetch_sub(1, Ordering::SeqCst);
                while generating.load(Ordering::SeqCst) > 0 || in_flight.load(Ordering::SeqCst) > 0
                {
                    let now = clock.load(Ordering::Relaxed);
                    w.drain(&mut cons, &sharding, &mut shard, now, &mut checked, &failed);
                    std::thread::yield_now();
                }
                shard.check_invariants();
                (checked, shard.counters().sessions_expired)
            }));
        }
        let mut total = 0;
        let mut expired = 0;
        for h in handles {
            let (c, e) = h.join().unwrap();
            total += c;
            expired += e;
        }
        assert!(
            !failed.load(Ordering::SeqCst),
            "a reply mapped to the wrong client"
        );
        assert!(total > 1000, "checked only {total} replies");
        assert!(expired > 0, "the run should expire sessions");
    }

    struct Worker<'a> {
        me: usize,
        prods: Vec<Option<Producer<Msg>>>,
        backlog: Vec<VecDeque<Msg>>,
        rng: u64,
        in_flight: &'a AtomicI64,
    }

    impl Worker<'_> {
        fn rand(&mut self) -> u64 {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            self.rng
        }

        fn send(&mut self, to: usize, m: Msg) {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            self.backlog[to].push_back(m);
            self.flush(to);
        }

        fn flush(&mut self, to: usize) {
            let Some(p) = self.prods[to].as_mut() else {
                return;
            };
            while let Some(m) = self.backlog[to].pop_front() {
                if let Err(m) = p.push(m) {
                    self.backlog[to].push_front(m);
                    break;
                }
            }
        }

        /// Processes `m` here if this worker owns it, else hands it to the owner.
        fn route(
            &mut self,
            m: Msg,
            sh: &Sharding,
            shard: &mut Shard,
            now: u64,
            checked: &mut u64,
            failed: &AtomicBool,
        ) {
            let owner = match m {
                Msg::V6 { c, sp, .. } => sh.owner_of_v6(Proto::Udp, c, sp),
                Msg::Reply { dst, dp, .. } => sh.owner_of_v4(Proto::Udp, dst, dp).unwrap(),
            };
            if owner != self.me {
                self.send(owner, m);
                return;
            }
            match m {
                Msg::V6 { c, sp, dst, dp } => {
                    if let Ok(o) =
                        shard.lookup_or_create_v6(t6(Proto::Udp, (c, sp), (dst, dp)), 0, now)
                    {
                        // Consistent in the other direction right away.
                        if shard.lookup_v4(t4(Proto::Udp, (dst, dp), (o.src, o.sport)), 0, now)
                            != V4Lookup::Forward(Inbound { dst: c, dport: sp })
                        {
                            failed.store(true, Ordering::SeqCst);
                        }
                        // The reply arrives on a random queue.
                        let at = (self.rand() % W as u64) as usize;
                        let reply = Msg::Reply {
                            src: dst,
                            sp: dp,
                            dst: o.src,
                            dp: o.sport,
                            want: (c, sp),
                            at: now,
                        };
                        if at == self.me {
                            self.route(reply, sh, shard, now, checked, failed);
                        } else {
                            self.send(at, reply);
                        }
                    }
                }
                Msg::Reply {
                    src,
                    sp,
                    dst,
                    dp,
                    want,
                    at,
                } => {
                    let got = shard.lookup_v4(t4(Proto::Udp, (src, sp), (dst, dp)), 0, now);
                    // Refreshed at `at`; it cannot have expired before at + 2 min.
                    if now < at + 2 * MIN - 1000 {
                        *checked += 1;
                        if got
                            != V4Lookup::Forward(Inbound {
                                dst: want.0,
                                dport: want.1,
                            })
                        {
                            failed.store(true, Ordering::SeqCst);
                        }
                    }
                }
            }
        }

        fn drain(
            &mut self,
            cons: &mut [Consumer<Msg>],
            sh: &Sharding,
            shard: &mut Shard,
            now: u64,
            checked: &mut u64,
            failed: &AtomicBool,
        ) {
            for to in 0..W {
                self.flush(to);
            }
            for c in cons.iter_mut() {
                for _ in 0..64 {
                    let Some(m) = c.pop() else { break };
                    // A message handed here from elsewhere: "arrived" on this worker.
                    self.route(m, sh, shard, now, checked, failed);
                    self.in_flight.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }
    }
}
