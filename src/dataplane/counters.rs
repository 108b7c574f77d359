//! Per-worker packet counters.
//!
//! Each worker owns one [`Counters`] and is its only writer, so an increment is a relaxed
//! load plus a relaxed store (no read-modify-write, no lock); readers (the control
//! plane, the final report) take [`Snapshot`]s at any time and add up the workers'. A
//! reader may see a value one batch old, never a torn one. The block is cache-line
//! aligned so that two workers' counters never share a line.
//!
//! Every counter is declared once, in the `counters!` list below: its field, the stable
//! name scripts and `xlat64 stats` know it by, and what it counts.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::xlat::DropReason;

/// A monotonically increasing count with a single writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker may call this: two concurrent writers would lose
    /// increments (that is the price of not using an atomic read-modify-write).
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Overwrites the value: for gauges such as the session count, and for counts kept
    /// elsewhere (the NAT64 shard's) that the worker publishes. Owner only.
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Declares [`Counters`] (atomics, one writer) and [`Snapshot`] (plain copies) with the
/// same fields, and the stable name of each.
macro_rules! counters {
    ($($(#[doc = $doc:literal])* $field:ident = $name:literal,)*) => {
        /// One worker's counters.
        #[derive(Debug)]
        #[repr(align(64))]
        pub struct Counters {
            $($(#[doc = $doc])* pub $field: Counter,)*
            drops: [Counter; DropReason::COUNT],
            /// NAT64: ports this worker holds on each pool4 address (gauges, in pool
            /// order), sized on the first publish.
            pool4_ports: OnceLock<Box<[Counter]>>,
        }

        /// A plain copy of counters, from one worker or summed over several.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Snapshot {
            $($(#[doc = $doc])* pub $field: u64,)*
            pub drops: [u64; DropReason::COUNT],
        }

        impl Default for Counters {
            fn default() -> Self {
                Counters {
                    $($field: Counter::default(),)*
                    drops: std::array::from_fn(|_| Counter::default()),
                    pool4_ports: OnceLock::new(),
                }
            }
        }

        impl Default for Snapshot {
            fn default() -> Self {
                Snapshot {
                    $($field: 0,)*
                    drops: [0; DropReason::COUNT],
                }
            }
        }

        /// How many general counters there are (drop reasons excluded).
        pub const FIELDS: usize = [$($name),*].len();

        impl Counters {
            pub fn snapshot(&self) -> Snapshot {
                Snapshot {
                    $($field: self.$field.get(),)*
                    drops: std::array::from_fn(|i| self.drops[i].get()),
                }
            }
        }

        impl Snapshot {
            /// The general counters by stable name (drop reasons excluded).
            pub fn fields(&self) -> [(&'static str, u64); FIELDS] {
                [$(($name, self.$field),)*]
            }

            fn fields_mut(&mut self) -> [&mut u64; FIELDS] {
                [$(&mut self.$field,)*]
            }
        }
    };
}

counters! {
    /// Packets read from the device.
    rx_packets = "rx_packets",
    rx_bytes = "rx_bytes",
    /// Frames written to the device.
    tx_packets = "tx_packets",
    tx_bytes = "tx_bytes",
    /// Input packets translated IPv6 → IPv4.
    v6_to_v4 = "translated_v6_to_v4",
    /// Input packets translated IPv4 → IPv6.
    v4_to_v6 = "translated_v4_to_v6",
    /// Input packets hairpinned (RFC 7757 §4, RFC 6146 §3.8).
    hairpinned = "hairpinned",
    /// Packets addressed to the link itself (link-scope multicast, link-local unicast,
    /// 224.0.0.0/24), such as the MLD reports a forwarding kernel sends into the TUN as
    /// it comes up: never translated, and not drops (no fault of the sender).
    link_scope = "link_scope_ignored",
    /// ICMP errors the translator generated: frames emitted for a dropped packet.
    icmp_errors = "icmp_errors_sent",
    /// ICMP errors the translator generated and did not send: over `icmp-error-rate` /
    /// `icmp-error-burst`, or over `icmp-error-destination-rate` for their destination.
    icmp_errors_rate_limited = "icmp_errors_rate_limited",
    /// Frames the kernel refused (EINVAL, EMSGSIZE, ENOBUFS, ...). Never fatal.
    write_errors = "write_errors",
    /// Frames whose ranges were out of bounds (a translator bug); not written.
    bad_frames = "bad_frames",
    /// Non-fatal read errors.
    read_errors = "read_errors",
    /// Packets read as GSO super-packets (TUN offloads): one count per super-packet.
    rx_gso_packets = "rx_gso_packets",
    /// Frames with offload metadata the kernel refused (EINVAL); also in `write_errors`.
    offload_write_errors = "offload_write_errors",
    /// NAT64 sessions held at the last look (a gauge; 0 in SIIT mode).
    sessions = "nat64_sessions",
    /// NAT64 packets read here and passed to the worker owning their flow.
    handed_off = "nat64_handed_off",
    /// UDP super-packets split into datagrams because their datagrams get fragmented.
    udp_split = "rx_udp_gso_split",
    /// NAT64 BIB entries (bindings) held at the last look (a gauge).
    bibs = "nat64_bibs",
    /// NAT64 sessions created, and freed on expiry (RFC 6146 §3.5.x lifetimes).
    sessions_created = "nat64_sessions_created",
    sessions_expired = "nat64_sessions_expired",
    /// NAT64 bindings created (dynamic ones; static entries at start included).
    bibs_created = "nat64_bibs_created",
    /// IPv4 SYNs held for a simultaneous open (RFC 6146 §3.5.2.2), and those that saw
    /// none in time (answered with ICMP Port Unreachable).
    held_syns = "nat64_held_syns",
    held_syns_expired = "nat64_held_syns_expired",
    /// Simultaneous opens completed with a held SYN.
    simultaneous_opens = "nat64_simultaneous_opens",
    /// Established TCP sessions that timed out into the transitory state.
    tcp_probes = "nat64_tcp_probes",
    /// NAT64 fragments kept for reassembly (RFC 6146 §3.4), datagrams rebuilt whole, and
    /// fragments held at the last look (a gauge).
    fragments_queued = "nat64_fragments_queued",
    fragments_reassembled = "nat64_fragments_reassembled",
    fragments_held = "nat64_fragments_held",
    /// IPv4 UDP datagrams sent with checksum 0 whose checksum the translator computed
    /// (RFC 6146 §3.4; RFC 7915 §4.5 with `amend-udp-checksum-zero`).
    udp_checksum_computed = "udp_checksum_computed",
    /// NAT event records (mapping, session or port block) handed to the logging thread.
    nat_log_records = "nat_log_records",
    /// NAT event records lost: the worker's queue to the logging thread was full (the
    /// sinks could not keep up) or the shard's buffer overflowed between two drains.
    nat_log_lost = "nat_log_lost",
    /// NAT64 port blocks held by subscribers at the last look (a gauge; `block` mode).
    port_blocks = "nat64_port_blocks",
    /// NAT64 sessions and bindings held at the last look, by protocol (gauges).
    sessions_tcp = "nat64_sessions_tcp",
    sessions_udp = "nat64_sessions_udp",
    sessions_icmp = "nat64_sessions_icmp",
    bibs_tcp = "nat64_bibs_tcp",
    bibs_udp = "nat64_bibs_udp",
    bibs_icmp = "nat64_bibs_icmp",
    /// NAT64 sessions refused by a limit: `max-sessions`, `max-sessions-per-address`,
    /// `max-sessions-per-subscriber`, the subscriber table, pool4 ports, held SYNs.
    refused_table_full = "nat64_refused_table_full",
    refused_address_limit = "nat64_refused_address_limit",
    refused_subscriber_limit = "nat64_refused_subscriber_limit",
    refused_subscriber_table_full = "nat64_refused_subscriber_table_full",
    refused_pool_exhausted = "nat64_refused_pool_exhausted",
    refused_held_table_full = "nat64_refused_held_table_full",
}

/// The counters that are gauges (a value at the last look, which may go down); the
/// others only grow. New gauges are named `..._held`, `..._in_use` or `..._active`, or
/// listed here, so that the metrics endpoint types them right without a list of its own.
pub const GAUGES: &[&str] = &[
    "nat64_sessions",
    "nat64_bibs",
    "nat64_sessions_tcp",
    "nat64_sessions_udp",
    "nat64_sessions_icmp",
    "nat64_bibs_tcp",
    "nat64_bibs_udp",
    "nat64_bibs_icmp",
    "nat64_port_blocks",
];

/// Whether the counter named `name` is a gauge (see [`GAUGES`]).
pub fn is_gauge(name: &str) -> bool {
    GAUGES.contains(&name)
        || ["_held", "_in_use", "_active"]
            .iter()
            .any(|s| name.ends_with(s))
}

impl Counters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts `n` packets dropped for `reason` at once (e.g. fragments timed out).
    pub fn drop_many(&self, reason: DropReason, n: u64) {
        if let Some(c) = self.drops.get(reason.index()) {
            c.add(n);
        }
    }

    /// Publishes the ports held on each pool4 address (owner only; the first call
    /// sizes the gauges, off the packet path).
    pub fn set_pool4_ports(&self, held: &[u32]) {
        let gauges = self
            .pool4_ports
            .get_or_init(|| held.iter().map(|_| Counter::default()).collect());
        for (g, &n) in gauges.iter().zip(held) {
            g.set(u64::from(n));
        }
    }

    /// Ports held on each pool4 address, in pool order (empty until published).
    pub fn pool4_ports(&self) -> impl Iterator<Item = u64> + '_ {
        self.pool4_ports
            .get()
            .into_iter()
            .flatten()
            .map(Counter::get)
    }

    /// Counts one packet dropped for `reason`.
    #[inline]
    pub fn drop(&self, reason: DropReason) {
        // `index()` is below COUNT by construction; `get` keeps even a mismatch panic-free.
        if let Some(c) = self.drops.get(reason.index()) {
            c.add(1);
        }
    }
}

impl Snapshot {
    /// Sums the snapshots of several workers.
    pub fn sum<'a>(all: impl IntoIterator<Item = &'a Counters>) -> Snapshot {
        all.into_iter().fold(Snapshot::default(), |mut acc, c| {
            acc.add(&c.snapshot());
            acc
        })
    }

    pub fn add(&mut self, o: &Snapshot) {
        for (a, b) in self.fields_mut().into_iter().zip(o.fields()) {
            *a = a.wrapping_add(b.1);
        }
        for (a, b) in self.drops.iter_mut().zip(o.drops) {
            *a = a.wrapping_add(b);
        }
    }

    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops.get(reason.index()).copied().unwrap_or(0)
    }

    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().fold(0u64, |a, &b| a.wrapping_add(b))
    }

    /// A table for people: the general counters, the drop total, then the drop reasons
    /// (only the non-zero ones, and the NAT64 counters only once one of them is non-zero,
    /// unless `verbose`).
    pub fn render_table(&self, verbose: bool) -> String {
        let mut s = String::new();
        let row = |s: &mut String, name: &str, v: u64| {
            let _ = writeln!(s, "  {name:<34} {v:>16}");
        };
        s.push_str("counters:\n");
        // The NAT64 counters stay zero in SIIT mode: shown once one counts something.
        let nat64 = |name: &str| name.starts_with("nat64_");
        let show_nat64 = verbose || self.fields().iter().any(|&(n, v)| nat64(n) && v != 0);
        for (name, v) in self.fields() {
            if show_nat64 || !nat64(name) {
                row(&mut s, name, v);
            }
        }
        row(&mut s, "dropped", self.dropped_total());
        let shown: Vec<&DropReason> = DropReason::ALL
            .iter()
            .filter(|r| verbose || self.dropped(**r) != 0)
            .collect();
        if !shown.is_empty() {
            s.push_str(if verbose {
                "drop reasons:\n"
            } else {
                "drop reasons (non-zero):\n"
            });
            for r in shown {
                row(&mut s, r.name(), self.dropped(*r));
            }
        }
        s
    }

    /// `key=value` lines for scripts: every counter, always in the same order, drop
    /// reasons as `drop.<reason>`.
    pub fn render_kv(&self) -> String {
        let mut s = String::new();
        for (name, v) in self.fields() {
            let _ = writeln!(s, "{name}={v}");
        }
        let _ = writeln!(s, "dropped={}", self.dropped_total());
        for r in DropReason::ALL {
            let _ = writeln!(s, "drop.{}={}", r.name(), self.dropped(*r));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_snapshots() {
        let c = Counters::new();
        c.rx_packets.add(3);
        c.rx_bytes.add(300);
        c.drop(DropReason::Ipv6BadSource);
        c.drop(DropReason::Ipv6BadSource);
        let s = c.snapshot();
        assert_eq!(s.rx_packets, 3);
        assert_eq!(s.rx_bytes, 300);
        assert_eq!(s.dropped(DropReason::Ipv6BadSource), 2);
        assert_eq!(s.dropped_total(), 2);
    }

    #[test]
    fn sums_over_workers() {
        let a = Counters::new();
        let b = Counters::new();
        a.tx_packets.add(1);
        b.tx_packets.add(2);
        a.drop(DropReason::UnknownVersion);
        b.drop(DropReason::OutputOverflow);
        let s = Snapshot::sum([&a, &b]);
        assert_eq!(s.tx_packets, 3);
        assert_eq!(s.dropped_total(), 2);
        assert_eq!(s.dropped(DropReason::OutputOverflow), 1);
    }

    #[test]
    fn counters_do_not_share_cache_lines() {
        assert_eq!(std::mem::align_of::<Counters>(), 64);
    }

    #[test]
    fn table_shows_nonzero_drops_only_unless_verbose() {
        let c = Counters::new();
        c.drop(DropReason::Ipv4BadChecksum);
        let s = c.snapshot();
        let t = s.render_table(false);
        assert!(t.contains("ipv4_bad_checksum"));
        assert!(!t.contains("unknown_version"));
        assert!(t.contains("rx_packets"));
        let v = s.render_table(true);
        for r in DropReason::ALL {
            assert!(v.contains(r.name()), "{}", r.name());
        }
        let empty = Snapshot::default().render_table(false);
        assert!(!empty.contains("drop reasons"));
        assert!(!empty.contains("nat64_sessions"));
        let c = Counters::new();
        c.sessions_created.set(2);
        let t = c.snapshot().render_table(false);
        assert!(t.contains("nat64_sessions_created"), "{t}");
        assert!(t.contains("nat64_tcp_probes"), "{t}");
    }

    #[test]
    fn kv_lists_every_counter_once() {
        let c = Counters::new();
        c.v4_to_v6.add(7);
        let kv = c.snapshot().render_kv();
        assert!(kv.contains("translated_v4_to_v6=7\n"));
        assert!(kv.contains("drop.unknown_version=0\n"));
        assert_eq!(kv.lines().count(), FIELDS + 1 + DropReason::COUNT);
        for line in kv.lines() {
            let (k, v) = line.split_once('=').expect("key=value");
            assert!(!k.is_empty());
            v.parse::<u64>().expect("numeric value");
        }
    }
}
