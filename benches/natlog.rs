//! NAT logging figures for the closing note of issue 11, from the sans-IO shard on a
//! fake clock (no network, so they are exact counts, not noisy rates), plus one rate:
//! - records and bytes of log per 100 000 sessions, and per subscriber-hour, under
//!   `session`, `block` and `deterministic` allocation: 1 000 subscribers (one /64
//!   each) open 100 UDP sessions each (one source port per session, so one mapping
//!   each) at random times over one hour; sessions live until the 5-minute UDP timeout
//!   after their last packet; the run goes on until every session has expired, so
//!   deletes are counted too. Bytes: JSON lines as `nat-log-file` writes them, and IPFIX
//!   messages as `ipfix-collector` gets them;
//! - pool4 port use with blocks: 100 000 flows open at once from 1 000 subscribers:
//!   ports mapped / ports in the blocks handed out, for several block sizes;
//! - new sessions per second of on-CPU time with records off and on (the shard's
//!   share of logging: making the record and moving it to a bounded queue that another
//!   thread empties into a JSON-lines file), per allocation mode.
//!
//! Run: `cargo bench --bench natlog`.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use xlat64::control::natlog::{ipfix, json};
use xlat64::nat64::{
    BlockConfig, Endpoint4, Endpoint6, EventConfig, NatEvent, Pool4, PortAllocation, Proto, Shard,
    ShardConfig, Tuple6,
};

const SUBSCRIBERS: u32 = 1000;
const PER_SUB: u32 = 100;
/// Sessions per subscriber-hour in the records table: a light and a busier user.
const PER_SUB_HOUR: [u32; 2] = [100, 1000];
const HOUR_MS: u64 = 3_600_000;

fn config(mode: PortAllocation, size: u16, log: bool) -> ShardConfig {
    let addrs = (16..24).map(|i| Ipv4Addr::new(203, 0, 113, i)).collect();
    let mut c = ShardConfig::new(Pool4::new(addrs), 400_000);
    c.max_subscribers = 4096;
    c.max_sessions_per_prefix = 100_000;
    c.max_sessions_per_addr = 100_000;
    c.blocks = BlockConfig {
        mode,
        size,
        max_per_subscriber: 64,
        hold_ms: 0,
        subscribers: Some(("2001:db8:100::".parse().unwrap(), 48)),
    };
    c.events = EventConfig {
        enabled: log,
        remote: false,
        buffer: 1 << 20,
    };
    c
}

fn sub(i: u32) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0x100, i as u16, 0, 0, 0, 1)
}

fn tuple(i: u32, sport: u16) -> Tuple6 {
    Tuple6 {
        proto: Proto::Udp,
        v6: Endpoint6::new(sub(i), sport),
        remote: Endpoint4::new(Ipv4Addr::new(198, 51, 100, 7), 53),
    }
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// One hour of 100 sessions per subscriber at random times, then until all expired.
fn hour(mode: PortAllocation, hold_ms: u32, per_sub: u32) -> (Vec<NatEvent>, u64) {
    let mut c = config(mode, 128, true);
    c.blocks.hold_ms = hold_ms;
    let mut s = Shard::new(c, 7).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut arrivals: Vec<(u64, u32, u16)> = (0..SUBSCRIBERS)
        .flat_map(|i| (0..per_sub).map(move |k| (i, 10_000 + k as u16)))
        .map(|(i, p)| (xorshift(&mut x) % HOUR_MS, i, p))
        .collect();
    arrivals.sort_unstable();
    let mut events = Vec::new();
    let mut created = 0u64;
    let mut next_sweep = 0;
    for (t, i, p) in arrivals {
        while next_sweep <= t {
            s.expire(next_sweep, usize::MAX, |_| {});
            next_sweep += 1000;
        }
        if s.lookup_or_create_v6(tuple(i, p), 0, t).is_ok() {
            created += 1;
        }
        s.drain_events(|e| events.push(e));
    }
    let end = HOUR_MS + 20 * 60_000;
    while next_sweep <= end {
        s.expire(next_sweep, usize::MAX, |_| {});
        next_sweep += 1000;
    }
    s.drain_events(|e| events.push(e));
    assert_eq!(s.session_count(), 0);
    (events, created)
}

fn log_figures() {
    for per_sub in PER_SUB_HOUR {
        log_figures_for(per_sub);
    }
}

fn log_figures_for(per_sub: u32) {
    println!(
        "records and bytes of log: {SUBSCRIBERS} subscribers x {per_sub} UDP sessions over one \
         hour (5-minute timeout), all expired at the end"
    );
    println!(
        "{:<14} {:>10} {:>14} {:>14} {:>18} {:>18}",
        "allocation",
        "sessions",
        "records/100k",
        "JSON B/100k",
        "JSON B/sub-hour",
        "IPFIX B/sub-hour"
    );
    // `port-block-hold` keeps an emptied block for the subscriber's next session, so a
    // light user's block is not released and allocated again between two sessions.
    for (mode, hold_ms, label) in [
        (PortAllocation::Session, 0, "session"),
        (PortAllocation::Block, 0, "block"),
        (PortAllocation::Block, 300_000, "block hold300"),
        (PortAllocation::Deterministic, 0, "deterministic"),
    ] {
        let (events, created) = hour(mode, hold_ms, per_sub);
        let json_bytes: usize = events.iter().map(|e| json::to_line(e).len() + 1).sum();
        let mut enc = ipfix::Encoder::new(1);
        // The records of each second in one flush (the logging thread flushes every
        // 50 ms, so this is a lower bound on messages), templates every 60 s.
        let mut ipfix_bytes = 0usize;
        let mut sec = 0u64;
        let mut batch = Vec::new();
        for e in &events {
            if e.time_ms / 1000 != sec && !batch.is_empty() {
                ipfix_bytes += enc.encode(&batch, sec).iter().map(Vec::len).sum::<usize>();
                batch.clear();
            }
            sec = e.time_ms / 1000;
            batch.push(*e);
        }
        ipfix_bytes += enc.encode(&batch, sec).iter().map(Vec::len).sum::<usize>();
        let per100k = |v: f64| v * 100_000.0 / created as f64;
        println!(
            "{:<14} {:>10} {:>14.0} {:>14.0} {:>18.1} {:>18.1}",
            label,
            created,
            per100k(events.len() as f64),
            per100k(json_bytes as f64),
            json_bytes as f64 / f64::from(SUBSCRIBERS),
            ipfix_bytes as f64 / f64::from(SUBSCRIBERS),
        );
    }
    println!();
}

/// 100 000 flows at once from 1 000 subscribers: ports mapped / ports in blocks.
fn utilisation() {
    println!("pool4 port use with blocks: 100 000 flows open at once from 1 000 subscribers");
    println!(
        "{:<12} {:>10} {:>12} {:>14} {:>12}",
        "block size", "flows", "blocks", "block ports", "use"
    );
    for size in [64u16, 128, 256, 512] {
        let mut s = Shard::new(config(PortAllocation::Block, size, false), 3).unwrap();
        let mut flows = 0u64;
        for i in 0..SUBSCRIBERS {
            for k in 0..PER_SUB {
                if s.lookup_or_create_v6(tuple(i, 10_000 + k as u16), 0, 0)
                    .is_ok()
                {
                    flows += 1;
                }
            }
        }
        let blocks = s.blocks_in_use() as u64;
        let ports = blocks * u64::from(size);
        println!(
            "{size:<12} {flows:>10} {blocks:>12} {ports:>14} {:>11.1}%",
            100.0 * flows as f64 / ports as f64
        );
    }
}

fn on_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// New sessions per second of on-CPU time, records off and on.
fn rates() {
    const N: u32 = 200_000;
    println!(
        "\nnew sessions per second of on-CPU time ({N} sessions, 2000 subscribers; records \
         moved to a bounded queue, a thread writes them to a file), median of 5"
    );
    println!(
        "{:<14} {:>14} {:>14} {:>8}",
        "allocation", "records off", "records on", "on/off"
    );
    for mode in [PortAllocation::Session, PortAllocation::Block] {
        let mut figures = [Vec::new(), Vec::new()];
        for _ in 0..5 {
            for (k, log) in [false, true].into_iter().enumerate() {
                figures[k].push(new_session_rate(mode, log, N));
            }
        }
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (off, on) = (med(&mut figures[0]), med(&mut figures[1]));
        println!(
            "{:<14} {:>12.2} M {:>12.2} M {:>8.3}",
            mode.name(),
            off / 1e6,
            on / 1e6,
            on / off
        );
    }
}

fn new_session_rate(mode: PortAllocation, log: bool, n: u32) -> f64 {
    let mut c = config(mode, 128, log);
    c.events.buffer = 16_384;
    let mut s = Shard::new(c, 11).unwrap();
    let (tx, rx) = sync_channel::<NatEvent>(65_536);
    let writer = std::thread::spawn(move || {
        let path = std::env::temp_dir().join(format!("xlat64-natlog-bench-{}", std::process::id()));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for e in rx {
            let _ = writeln!(f, "{}", json::to_line(&e));
        }
        drop(f);
        let _ = std::fs::remove_file(path);
    });
    let tuples: Vec<Tuple6> = (0..n)
        .map(|k| tuple(k % 2000, 1024 + (k / 2000) as u16))
        .collect();
    let (t0, c0) = (Instant::now(), on_cpu_ns());
    let mut lost = 0u64;
    for (k, t) in tuples.iter().enumerate() {
        let _ = std::hint::black_box(s.lookup_or_create_v6(*t, 0, 1));
        // The worker drains after each batch of packets (64 here).
        if k % 64 == 63 {
            s.drain_events(|e| {
                if tx.try_send(e).is_err() {
                    lost += 1;
                }
            });
        }
    }
    s.drain_events(|e| {
        if tx.try_send(e).is_err() {
            lost += 1;
        }
    });
    let ns = match (c0, on_cpu_ns()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => t0.elapsed().as_nanos() as u64,
    };
    drop(tx);
    writer.join().unwrap();
    std::hint::black_box(lost);
    f64::from(n) / (ns as f64 / 1e9)
}

/// What one logging thread sustains: records formatted as JSON lines and written to a
/// file, and encoded as IPFIX messages, per second of wall time.
fn sink_rates() {
    let (events, _) = hour(PortAllocation::Session, 0, 100);
    let path = std::env::temp_dir().join(format!("xlat64-natlog-sink-{}", std::process::id()));
    let t0 = Instant::now();
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for e in &events {
            let _ = writeln!(f, "{}", json::to_line(e));
        }
    }
    let json_rate = events.len() as f64 / t0.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    let mut enc = ipfix::Encoder::new(1);
    let t0 = Instant::now();
    let mut bytes = 0usize;
    for chunk in events.chunks(4096) {
        bytes += enc.encode(chunk, 1).iter().map(Vec::len).sum::<usize>();
    }
    let ipfix_rate = events.len() as f64 / t0.elapsed().as_secs_f64();
    std::hint::black_box(bytes);
    println!(
        "\none logging thread: {:.2} M records/s as JSON lines to a file, {:.1} M records/s \
         encoded as IPFIX ({} records)",
        json_rate / 1e6,
        ipfix_rate / 1e6,
        events.len()
    );
}

fn main() {
    log_figures();
    utilisation();
    rates();
    sink_rates();
}
