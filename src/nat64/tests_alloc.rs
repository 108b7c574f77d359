//! Port-allocation modes and NAT event records of a whole shard on a fake clock
//! (RFC 7422 port blocks and deterministic mapping, RFC 8158 events).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;

const R1: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const MIN: u64 = 60_000;

fn sub(i: u16, host: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0x100, i, 0, 0, 0, host)
}

fn udp(src: Ipv6Addr, sport: u16, dport: u16) -> Tuple6 {
    Tuple6 {
        proto: Proto::Udp,
        v6: Endpoint6::new(src, sport),
        remote: Endpoint4::new(R1, dport),
    }
}

fn cfg(mode: PortAllocation) -> ShardConfig {
    let pool = Pool4::new(vec![
        Ipv4Addr::new(192, 0, 2, 1),
        Ipv4Addr::new(192, 0, 2, 2),
    ]);
    let mut c = ShardConfig::new(pool, 200_000);
    c.max_subscribers = 1000;
    c.blocks = BlockConfig {
        mode,
        size: 128,
        max_per_subscriber: 4,
        hold_ms: 0,
        subscribers: Some(("2001:db8:100::".parse().unwrap(), 48)),
    };
    c.events = EventConfig {
        enabled: true,
        remote: false,
        buffer: 100_000,
    };
    c
}

fn drain(s: &mut Shard) -> Vec<NatEvent> {
    let mut v = Vec::new();
    s.drain_events(|e| v.push(e));
    v
}

/// 200 subscribers × 100 flows in `block` mode: one record per block (RFC 7422
/// §1's point), every mapping inside its subscriber's blocks on one address
/// (RFC 4787 REQ-2), blocks released (with a record) when the flows expire.
#[test]
fn block_mode_one_record_per_block_rfc7422() {
    let mut s = Shard::new(cfg(PortAllocation::Block), 5).unwrap();
    let mut owner: HashMap<(Ipv4Addr, u16), u16> = HashMap::new();
    for i in 0..200u16 {
        for f in 0..100u16 {
            let o = s
                .lookup_or_create_v6(udp(sub(i, 1 + f % 3), 10_000 + f, 53), 0, 1000)
                .unwrap();
            assert!(owner.insert((o.src, o.sport), i).is_none());
        }
    }
    let ev = drain(&mut s);
    assert!(ev.iter().all(|e| e.kind == NatEventKind::BlockAlloc));
    assert_eq!(ev.len(), 200, "100 flows fit one block of 128");
    assert_eq!(s.blocks_in_use(), 200);
    for e in &ev {
        let i = u16::from_be_bytes([e.v6.octets()[6], e.v6.octets()[7]]);
        assert_eq!(e.prefix(), sub(i, 0));
        assert_eq!(e.port_last - e.port_first, 127);
        let mine = owner
            .iter()
            .filter(|((a, p), o)| {
                **o == i && *a == e.v4 && (e.port_first..=e.port_last).contains(p)
            })
            .count();
        assert_eq!(
            mine, 100,
            "all of subscriber {i}'s mappings are in its block"
        );
    }
    // A subscriber with more flows than a block gets a second on the same address.
    for f in 0..100u16 {
        s.lookup_or_create_v6(udp(sub(7, 1), 20_000 + f, 53), 0, 1000)
            .unwrap();
    }
    let more = drain(&mut s);
    assert_eq!(more.len(), 1);
    let first = ev.iter().find(|e| e.prefix() == sub(7, 0)).unwrap();
    assert_eq!(more[0].v4, first.v4);
    // Everything expires: one release record per block.
    s.expire(1000 + 10 * MIN, usize::MAX, |_| {});
    let gone = drain(&mut s);
    assert_eq!(gone.len(), 201);
    assert!(gone.iter().all(|e| e.kind == NatEventKind::BlockRelease));
    assert_eq!(s.blocks_in_use(), 0);
}

/// `session` mode logs every mapping (create and delete); `nat-log-remote` adds the
/// session records with the IPv4 peer (RFC 8158 NAT64 session events).
#[test]
fn session_mode_logs_every_mapping() {
    let mut c = cfg(PortAllocation::Session);
    c.events.remote = true;
    let mut s = Shard::new(c, 5).unwrap();
    for f in 0..10u16 {
        s.lookup_or_create_v6(udp(sub(1, 1), 10_000 + f, 53), 0, 0)
            .unwrap();
    }
    let ev = drain(&mut s);
    let count = |k| ev.iter().filter(|e| e.kind == k).count();
    assert_eq!(count(NatEventKind::BibCreate), 10);
    assert_eq!(count(NatEventKind::SessionCreate), 10);
    assert!(
        ev.iter()
            .filter(|e| e.kind == NatEventKind::SessionCreate)
            .all(|e| e.remote == Some((R1, 53)))
    );
    s.expire(10 * MIN, usize::MAX, |_| {});
    let ev = drain(&mut s);
    assert_eq!(ev.len(), 20);
}

/// A full buffer counts what it drops instead of growing (nat_log_lost).
#[test]
fn full_event_buffer_counts_lost_records() {
    let mut c = cfg(PortAllocation::Session);
    c.events.buffer = 4;
    let mut s = Shard::new(c, 5).unwrap();
    for f in 0..10u16 {
        s.lookup_or_create_v6(udp(sub(1, 1), 10_000 + f, 53), 0, 0)
            .unwrap();
    }
    assert_eq!(drain(&mut s).len(), 4);
    assert_eq!(s.events_lost(), 6);
}

/// `deterministic` (RFC 7422 §2): no records at all, and every mapping lies in the
/// block the formula gives its subscriber; the inverse names the subscriber.
#[test]
fn deterministic_mode_follows_the_formula() {
    let c = cfg(PortAllocation::Deterministic);
    let det = Deterministic::new(&c.pool, Proto::Udp, &c.blocks, 64).unwrap();
    let mut s = Shard::new(c, 5).unwrap();
    for i in [0u16, 1, 17, 503, 504, 900] {
        let (v4, r) = det.block_of(sub(i, 1)).unwrap();
        for f in 0..50u16 {
            let o = s
                .lookup_or_create_v6(udp(sub(i, 1), 30_000 + f, 53), 0, 0)
                .unwrap();
            assert_eq!(o.src, v4);
            assert!(r.contains(o.sport));
            let (prefix, len, _) = det.subscriber_of(o.src, o.sport).unwrap();
            assert_eq!((prefix, len), (sub(i, 0), 64));
        }
    }
    assert!(drain(&mut s).is_empty());
    // Beyond the block: refused as the subscriber's limit.
    for f in 0..78u16 {
        s.lookup_or_create_v6(udp(sub(0, 1), 40_000 + f, 53), 0, 0)
            .unwrap();
    }
    assert_eq!(
        s.lookup_or_create_v6(udp(sub(0, 1), 50_000, 53), 0, 0),
        Err(Refusal::PrefixLimit)
    );
    // Outside the numbered range (or beyond the pool's room): no mapping.
    assert_eq!(
        s.lookup_or_create_v6(udp(sub(1008, 1), 1, 53), 0, 0),
        Err(Refusal::PoolExhausted)
    );
}

/// `port-block-hold`: a subscriber whose last flow ended comes back within the hold
/// time to the same block with no new record; after it the block is released (one
/// record) and the next flow takes a fresh block (one record).
#[test]
fn block_hold_time_spares_records() {
    let mut c = cfg(PortAllocation::Block);
    c.blocks.hold_ms = 60_000;
    let mut s = Shard::new(c, 5).unwrap();
    let first = s
        .lookup_or_create_v6(udp(sub(3, 1), 1000, 53), 0, 0)
        .unwrap();
    assert_eq!(drain(&mut s).len(), 1);
    // UDP timeout 5 min: expired by 7 min; held until 8 min.
    s.expire(7 * MIN, usize::MAX, |_| {});
    assert!(drain(&mut s).is_empty(), "held, not released");
    let again = s
        .lookup_or_create_v6(udp(sub(3, 1), 1001, 53), 0, 7 * MIN + 1)
        .unwrap();
    assert_eq!(again.src, first.src);
    assert!(drain(&mut s).is_empty(), "the held block served again");
    // The session goes at the 20-minute sweep; its block is held from then on.
    s.expire(20 * MIN, usize::MAX, |_| {});
    assert!(drain(&mut s).is_empty());
    s.expire(21 * MIN + 1, usize::MAX, |_| {});
    let ev = drain(&mut s);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, NatEventKind::BlockRelease);
    assert_eq!(s.blocks_in_use(), 0);
}
