//! Nanoseconds per packet for the translation hot path, and a check that it allocates
//! nothing.
//!
//! Each translation rewrites its buffer in place, so every iteration first restores the
//! original packet (a memcpy of the packet bytes). The restore alone is timed too and
//! reported, so `translate` = `restore+translate` − `restore`.
//!
//! Run: `cargo bench --bench translate` (or `cargo xtask bench`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use etherparse::{Icmpv4Type, PacketBuilder, icmpv4::DestUnreachableHeader};
use xlat64::addr::AddrMapper;
use xlat64::wire::buf::PacketBuf;
use xlat64::wire::checksum;
use xlat64::wire::ip::IpProtocol;
use xlat64::wire::vnet::{FLAG_NEEDS_CSUM, Offload, gso};
use xlat64::xlat::{Output, Translator, Verdict, XlatConfig};

struct CountingAlloc;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

const CLIENT6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
// 2001:db8:64::198.51.100.130
const SERVER6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 198, 51, 100, 130,
];
const CLIENT4: [u8; 4] = [192, 0, 2, 2];
const SERVER4: [u8; 4] = [198, 51, 100, 130];

fn translator() -> Translator {
    let map = AddrMapper::new(
        Some("2001:db8:64::/96".parse().unwrap()),
        &[(
            "2001:db8:1::/120".parse().unwrap(),
            "192.0.2.0/24".parse().unwrap(),
        )],
        true,
    )
    .expect("bench mapping");
    Translator::new(XlatConfig {
        map,
        ipv4_addr: "203.0.113.1".parse().unwrap(),
        ipv6_addr: "2001:db8:64::cb00:7101".parse().unwrap(),
        pool6791: Vec::new(),
        // Large enough that the 1500-byte IPv4 packet translates without an error.
        mtu: 9000,
        lowest_ipv6_mtu: 1280,
        amend_udp_checksum_zero: false,
        ..XlatConfig::default()
    })
}

fn udp6_64() -> Vec<u8> {
    let b = PacketBuilder::ipv6(CLIENT6, SERVER6, 64).udp(40000, 5001);
    let mut v = Vec::new();
    b.write(&mut v, &[0xab; 64]).unwrap();
    v
}

fn tcp4_1500() -> Vec<u8> {
    let b = PacketBuilder::ipv4(SERVER4, CLIENT4, 64).tcp(80, 40000, 1, 65535);
    let payload = vec![0x5a; 1500 - 20 - 20];
    let mut v = Vec::new();
    b.write(&mut v, &payload).unwrap();
    v
}

/// ICMPv4 port unreachable from the server about a UDP datagram the client sent.
fn icmp4_error() -> Vec<u8> {
    let inner = {
        let b = PacketBuilder::ipv4(CLIENT4, SERVER4, 63).udp(40000, 5001);
        let mut v = Vec::new();
        b.write(&mut v, &[0xcd; 64]).unwrap();
        v
    };
    let b = PacketBuilder::ipv4(SERVER4, CLIENT4, 64).icmpv4(Icmpv4Type::DestinationUnreachable(
        DestUnreachableHeader::Port,
    ));
    let mut v = Vec::new();
    b.write(&mut v, &inner).unwrap();
    v
}

/// A 64 KB TCPv6 GSO super-packet (45 × 1440-byte segments) as TUN hands it over with
/// IFF_VNET_HDR: NEEDS_CSUM, the checksum field holding the pseudo-header sum with
/// length 0.
fn tcp6_gso_64k() -> (Vec<u8>, Offload) {
    let b = PacketBuilder::ipv6(CLIENT6, SERVER6, 64).tcp(40000, 5001, 1, 65535);
    let mut v = Vec::new();
    b.write(&mut v, &vec![0x5a; 45 * 1440]).unwrap();
    let partial = checksum::pseudo_v6(CLIENT6, SERVER6, IpProtocol::TCP, 0);
    v[56..58].copy_from_slice(&partial.to_be_bytes());
    let off = Offload {
        flags: FLAG_NEEDS_CSUM,
        gso_type: gso::TCPV6,
        hdr_len: 60,
        gso_size: 1440,
        csum_start: 40,
        csum_offset: 16,
    };
    (v, off)
}

struct Case {
    name: &'static str,
    packet: Vec<u8>,
    expect: Verdict,
    /// Offload metadata (`Offload::NONE`: the plain `translate` entry point).
    offload: Offload,
    /// Bytes restored before each iteration: translation rewrites headers only, so a
    /// super-packet needs only its headers back (copying 64 KB would drown the figure).
    restore_len: usize,
}

/// Median of `samples` batches of `batch` iterations, in ns per iteration.
fn median_ns(samples: usize, batch: usize, mut f: impl FnMut()) -> f64 {
    let mut v: Vec<f64> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                f();
            }
            t.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    // `cargo test --benches` runs bench targets with --test-threads etc.: do a short run.
    let quick = std::env::args().any(|a| a == "--test" || a.starts_with("--test-"));
    let (samples, batch) = if quick { (5, 100) } else { (201, 2000) };
    let xl = translator();
    let plain = |name, packet: Vec<u8>, expect| Case {
        name,
        restore_len: packet.len(),
        packet,
        expect,
        offload: Offload::NONE,
    };
    let (gso_pkt, gso_off) = tcp6_gso_64k();
    let cases = [
        plain("ipv6->ipv4 udp 64B payload", udp6_64(), Verdict::V6ToV4),
        plain("ipv4->ipv6 tcp 1500B", tcp4_1500(), Verdict::V4ToV6),
        plain(
            "ipv4->ipv6 icmp error + inner udp",
            icmp4_error(),
            Verdict::V4ToV6,
        ),
        Case {
            name: "ipv6->ipv4 tcp gso 64KB (45 segs)",
            packet: gso_pkt,
            expect: Verdict::V6ToV4,
            offload: gso_off,
            restore_len: 128,
        },
    ];
    println!(
        "{:<36} {:>10} {:>10} {:>12} {:>8}",
        "case", "total ns", "restore ns", "translate ns", "allocs"
    );
    let mut worst_allocs = 0;
    for c in &cases {
        let mut pkt = PacketBuf::new();
        let mut out = Output::new();
        let n = c.packet.len();
        pkt.receive_area()[..n].copy_from_slice(&c.packet);
        let r = c.restore_len;
        let restore = |pkt: &mut PacketBuf| {
            pkt.receive_area()[..r].copy_from_slice(&c.packet[..r]);
            pkt.set_received(n);
        };
        let translate = |pkt: &mut PacketBuf, out: &mut Output| {
            if c.offload.is_none() {
                xl.translate(pkt, out, 0)
            } else {
                xl.translate_offload(pkt, c.offload, out, 0)
            }
        };
        restore(&mut pkt);
        let v = translate(&mut pkt, &mut out);
        assert_eq!(v, c.expect, "{}: unexpected verdict", c.name);
        let before = ALLOCS.load(Ordering::Relaxed);
        for _ in 0..batch {
            restore(&mut pkt);
            black_box(translate(black_box(&mut pkt), &mut out));
        }
        let allocs = ALLOCS.load(Ordering::Relaxed) - before;
        let total = median_ns(samples, batch, || {
            restore(&mut pkt);
            black_box(translate(black_box(&mut pkt), &mut out));
        });
        let restore_only = median_ns(samples, batch, || {
            restore(black_box(&mut pkt));
        });
        worst_allocs = worst_allocs.max(allocs);
        println!(
            "{:<36} {:>10.1} {:>10.1} {:>12.1} {:>8}",
            c.name,
            total,
            restore_only,
            (total - restore_only).max(0.0),
            allocs
        );
    }
    println!("hot path allocations: {worst_allocs} (must be 0)");
    if worst_allocs != 0 {
        std::process::exit(1);
    }
}
