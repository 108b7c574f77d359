//! NAT64 state table: bytes per session (real allocation, counted by a global
//! allocator), new sessions per second and lookups per second on one thread.
//!
//! Worst case for memory: every session has its own binding (one source port per
//! flow, as TCP clients do). 64 flows per subscriber, each subscriber its own /64.
//!
//! Run: `cargo bench --bench nat64_table` (10 million sessions; set
//! `NAT64_BENCH_SESSIONS` for another size, e.g. 1000000).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use xlat64::nat64::{Pool4, Proto, Shard, ShardConfig, V4Lookup};

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

fn rng(mut x: u64) -> impl FnMut() -> u64 {
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

fn run(n: usize) {
    let pool = Pool4::new((0..=255).map(|i| Ipv4Addr::new(192, 0, 2, i)).collect());
    let cfg = ShardConfig::new(pool, n);
    // Where each flow's replies go: kept outside the measured allocation.
    let mut out: Vec<(Ipv4Addr, u16)> = Vec::with_capacity(n);
    let before = LIVE.load(Ordering::Relaxed);
    let seed = 0x5eed; // a real process draws this from the OS
    let mut shard = Shard::new(cfg, seed).expect("config");
    let now = 1_000;
    let t = Instant::now();
    for i in 0..n {
        let (c, sp) = client(i);
        let o = shard
            .lookup_or_create_v6(Proto::Udp, c, sp, server(i), 443, 0, now)
            .expect("create");
        out.push((o.src, o.sport));
    }
    let insert_s = t.elapsed().as_secs_f64();
    // `out` was allocated before `before` was read: this is the shard alone.
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    assert_eq!(shard.session_count(), n);

    let m = 5_000_000usize;
    let mut r = rng(0x1234_5678);
    let t = Instant::now();
    for _ in 0..m {
        let i = (r() % n as u64) as usize;
        let (c, sp) = client(i);
        black_box(
            shard
                .lookup_or_create_v6(Proto::Udp, c, sp, server(i), 443, 0, now + 1)
                .is_ok(),
        );
    }
    let v6_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..m {
        let i = (r() % n as u64) as usize;
        let (a, p) = out[i];
        black_box(matches!(
            shard.lookup_v4(Proto::Udp, server(i), 443, a, p, 0, now + 2),
            V4Lookup::Forward(_)
        ));
    }
    let v4_s = t.elapsed().as_secs_f64();

    println!("nat64 table, {n} sessions (one binding each), one thread:");
    println!(
        "  memory:   {:.1} bytes/session allocated ({} MB; tables reserve {} MB)",
        bytes as f64 / n as f64,
        bytes >> 20,
        shard.reserved_bytes() >> 20
    );
    println!(
        "  inserts:  {:.2} M new sessions/s",
        n as f64 / insert_s / 1e6
    );
    println!(
        "  lookups:  {:.2} M/s IPv6→IPv4 (hit)",
        m as f64 / v6_s / 1e6
    );
    println!(
        "  lookups:  {:.2} M/s IPv4→IPv6 (hit)",
        m as f64 / v4_s / 1e6
    );
    let t = Instant::now();
    let mut freed = 0;
    let late = now + 60 * 60 * 1000;
    loop {
        let f = shard.expire(late, 4096, |_| {});
        if f == 0 {
            break;
        }
        freed += f;
    }
    println!(
        "  expiry:   {:.2} M sessions freed/s (budget 4096 per call)",
        freed as f64 / t.elapsed().as_secs_f64() / 1e6
    );
}

fn main() {
    let n = std::env::var("NAT64_BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    run(n);
}
