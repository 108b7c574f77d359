//! NAT64 state table: bytes per session (real allocation, counted by a global
//! allocator), new sessions per second and lookups per second on one thread.
//!
//! Worst case for memory: every session has its own binding (one source port per
//! flow, as TCP clients do). 64 flows per subscriber, each subscriber its own /64.
//!
//! Lookups read their keys from a pre-built array, in order, as a worker reads packet
//! headers from its receive batch (already in cache): what is timed is the table.
//! Each lookup figure is the median (and best) of several passes over random flows.
//! Rates are per second of on-CPU time (/proc/thread-self/schedstat), which keeps
//! other processes' time slices on this shared machine out of the figures.
//! "one at a time" calls the lookup alone per packet; "batch of 16" first calls
//! `prefetch_v6`/`prefetch_v4` for 16 packets, then looks them up.
//!
//! Run: `cargo bench --bench nat64_table` (10 million sessions; set
//! `NAT64_BENCH_SESSIONS` for another size, e.g. 1000000, and `NAT64_BENCH_HUGEPAGES=0`
//! to measure without the huge-page advice).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use xlat64::dataplane::nat64::{EXPIRE_BUDGET, advise_shard_hugepages};
use xlat64::nat64::{
    Endpoint4, Endpoint6, Pool4, Proto, Shard, ShardConfig, Tuple4, Tuple6, V4Lookup,
};

struct CountingAlloc;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts bytes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const FLOWS_PER_SUB: usize = 64;

fn client(i: usize) -> (Ipv6Addr, u16) {
    let sub = i / FLOWS_PER_SUB;
    let a = Ipv6Addr::new(0x2001, 0xdb8, (sub >> 16) as u16, sub as u16, 0, 0, 0, 1);
    (a, 1024 + (i % FLOWS_PER_SUB) as u16 * 7)
}

fn server(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, (i % 251) as u8)
}

/// Every flow is UDP to port 443 of its server.
const SERVER_PORT: u16 = 443;

/// The IPv6 side of a flow: client `c:sp`, server `s`.
fn flow6(c: Ipv6Addr, sp: u16, s: Ipv4Addr) -> Tuple6 {
    Tuple6 {
        proto: Proto::Udp,
        v6: Endpoint6::new(c, sp),
        remote: Endpoint4::new(s, SERVER_PORT),
    }
}

/// The IPv4 side of a flow: server `s`, the client's pool4 address `a:p`.
fn flow4(s: Ipv4Addr, a: Ipv4Addr, p: u16) -> Tuple4 {
    Tuple4 {
        proto: Proto::Udp,
        remote: Endpoint4::new(s, SERVER_PORT),
        pool4: Endpoint4::new(a, p),
    }
}

fn rng(mut x: u64) -> impl FnMut() -> u64 {
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Lookups per pass, passes per figure.
const PASS: usize = 2_000_000;
const PASSES: usize = 5;
const BATCH: usize = 16;

/// Nanoseconds this thread has spent on a CPU (Linux schedstat), so that time slices
/// given to other processes on this shared machine do not count as ours.
fn on_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Seconds `f` took: on-CPU time where the kernel tells it, wall time otherwise.
fn timed(f: impl FnOnce()) -> f64 {
    let (t, c) = (Instant::now(), on_cpu_ns());
    f();
    match (c, on_cpu_ns()) {
        (Some(a), Some(b)) => (b - a) as f64 / 1e9,
        _ => t.elapsed().as_secs_f64(),
    }
}

/// Median and best rate (M/s) over `PASSES` runs of `pass`, which does `PASS` lookups.
fn rate(mut pass: impl FnMut(usize)) -> (f64, f64) {
    let mut r: Vec<f64> = (0..PASSES)
        .map(|k| PASS as f64 / timed(|| pass(k)) / 1e6)
        .collect();
    r.sort_by(f64::total_cmp);
    (r[PASSES / 2], r[PASSES - 1])
}

fn anon_huge_mb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let l = s.lines().find(|l| l.starts_with("AnonHugePages:"))?;
    let kb: u64 = l.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb >> 10)
}

fn run(n: usize, hugepages: bool) {
    let pool = Pool4::new((0..=255).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect());
    let cfg = ShardConfig::new(pool, n);
    // Where each flow's replies go: kept outside the measured allocation.
    let mut out: Vec<(Ipv4Addr, u16)> = Vec::with_capacity(n);
    let before = LIVE.load(Ordering::Relaxed);
    let seed = 0x5eed; // a real process draws this from the OS
    let mut shard = Shard::new(cfg, seed).expect("config");
    if hugepages && let Err(e) = advise_shard_hugepages(&shard) {
        println!("  (no huge pages: {e})");
    }
    let now = 1_000;
    let insert_s = timed(|| {
        for i in 0..n {
            let (c, sp) = client(i);
            let o = shard
                .lookup_or_create_v6(flow6(c, sp, server(i)), 0, now)
                .expect("create");
            out.push((o.src, o.sport));
        }
    });
    // `out` was allocated before `before` was read: this is the shard alone.
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    assert_eq!(shard.session_count(), n);

    // One receive batch after another: PASSES arrays of random flows' headers.
    let mut r = rng(0x1234_5678);
    let mut flows = || -> Vec<usize> { (0..PASS).map(|_| (r() % n as u64) as usize).collect() };
    let v6_keys: Vec<Vec<(Ipv6Addr, u16, Ipv4Addr)>> = (0..PASSES)
        .map(|_| {
            flows()
                .into_iter()
                .map(|i| {
                    let (c, sp) = client(i);
                    (c, sp, server(i))
                })
                .collect()
        })
        .collect();
    let v4_keys: Vec<Vec<(Ipv4Addr, Ipv4Addr, u16)>> = (0..PASSES)
        .map(|_| {
            flows()
                .into_iter()
                .map(|i| (server(i), out[i].0, out[i].1))
                .collect()
        })
        .collect();
    drop(out);

    let v6_one = rate(|k| {
        for &(c, sp, s) in &v6_keys[k] {
            black_box(
                shard
                    .lookup_or_create_v6(flow6(c, sp, s), 0, now + 1)
                    .is_ok(),
            );
        }
    });
    let v4_one = rate(|k| {
        for &(s, a, p) in &v4_keys[k] {
            black_box(matches!(
                shard.lookup_v4(flow4(s, a, p), 0, now + 2),
                V4Lookup::Forward(_)
            ));
        }
    });
    let v6_batch = rate(|k| {
        for batch in v6_keys[k].chunks(BATCH) {
            for &(c, sp, s) in batch {
                shard.prefetch_v6(flow6(c, sp, s));
            }
            for &(c, sp, s) in batch {
                black_box(
                    shard
                        .lookup_or_create_v6(flow6(c, sp, s), 0, now + 3)
                        .is_ok(),
                );
            }
        }
    });
    let v4_batch = rate(|k| {
        for batch in v4_keys[k].chunks(BATCH) {
            for &(s, a, p) in batch {
                shard.prefetch_v4(flow4(s, a, p));
            }
            for &(s, a, p) in batch {
                black_box(matches!(
                    shard.lookup_v4(flow4(s, a, p), 0, now + 4),
                    V4Lookup::Forward(_)
                ));
            }
        }
    });

    println!("nat64 table, {n} sessions (one binding each), one thread:");
    println!(
        "  memory:   {:.1} bytes/session allocated ({} MB; tables reserve {} MB)",
        bytes as f64 / n as f64,
        bytes >> 20,
        shard.reserved_bytes() >> 20
    );
    match (hugepages, anon_huge_mb()) {
        (false, _) => println!("  pages:    no huge-page advice (NAT64_BENCH_HUGEPAGES=0)"),
        (true, Some(mb)) => println!("  pages:    huge pages advised; {mb} MB are huge pages"),
        (true, None) => println!("  pages:    huge pages advised"),
    }
    println!(
        "  inserts:  {:.2} M new sessions/s",
        n as f64 / insert_s / 1e6
    );
    let line = |what: &str, (median, best): (f64, f64)| {
        println!("  lookups:  {median:.2} M/s {what} (median of {PASSES}; best {best:.2})");
    };
    line("IPv6→IPv4 hit, one at a time", v6_one);
    line("IPv4→IPv6 hit, one at a time", v4_one);
    line("IPv6→IPv4 hit, batch of 16 prefetched", v6_batch);
    line("IPv4→IPv6 hit, batch of 16 prefetched", v4_batch);
    drop((v6_keys, v4_keys));
    let mut freed = 0;
    let late = now + 60 * 60 * 1000;
    // As a worker drains a backlog: its budget per call, called again while due.
    let expire_s = timed(|| {
        loop {
            let e = shard.expire(late, EXPIRE_BUDGET, |_| {});
            freed += e.freed;
            if !e.due {
                break;
            }
        }
    });
    assert_eq!(freed, n, "every session expired");
    println!(
        "  expiry:   {:.2} M sessions freed/s, {:.0} ns each (budget {EXPIRE_BUDGET} per call, \
         again while due)",
        freed as f64 / expire_s / 1e6,
        expire_s * 1e9 / freed as f64
    );
}

fn main() {
    let n = std::env::var("NAT64_BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let hugepages = std::env::var("NAT64_BENCH_HUGEPAGES").map_or(true, |v| v != "0");
    run(n, hugepages);
}
