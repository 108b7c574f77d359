//! Per-worker packet counters.
//!
//! Each worker owns one [`Counters`] and is its only writer, so an increment is a relaxed
//! load plus a relaxed store (no read-modify-write, no lock); readers (the control
//! plane, the final report) take [`Snapshot`]s at any time and add up the workers'. A
//! reader may see a value one batch old, never a torn one. The block is cache-line
//! aligned so that two workers' counters never share a line.

use std::fmt::Write as _;
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

    /// Overwrites the value: for gauges such as the session count. Owner only.
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// One worker's counters.
#[derive(Debug)]
#[repr(align(64))]
pub struct Counters {
    /// Packets read from the TUN device.
    pub rx_packets: Counter,
    pub rx_bytes: Counter,
    /// Frames written to the TUN device.
    pub tx_packets: Counter,
    pub tx_bytes: Counter,
    /// Input packets translated IPv6 → IPv4.
    pub v6_to_v4: Counter,
    /// Input packets translated IPv4 → IPv6.
    pub v4_to_v6: Counter,
    /// Input packets hairpinned (RFC 7757 §4).
    pub hairpinned: Counter,
    /// ICMP errors the translator generated: frames emitted for a dropped packet.
    pub icmp_errors: Counter,
    /// Frames the kernel refused (EINVAL, EMSGSIZE, ENOBUFS, ...). Never fatal.
    pub write_errors: Counter,
    /// Frames whose ranges were out of bounds (a translator bug); not written.
    pub bad_frames: Counter,
    /// Non-fatal read errors.
    pub read_errors: Counter,
    /// Packets read as GSO super-packets (TUN offloads): one count per super-packet.
    pub rx_gso_packets: Counter,
    /// Frames with offload metadata the kernel refused (EINVAL); also in `write_errors`.
    pub offload_write_errors: Counter,
    /// NAT64 sessions held at the last look (a gauge, not a count; 0 in SIIT mode).
    pub sessions: Counter,
    /// NAT64 packets read here and passed to the worker owning their flow.
    pub handed_off: Counter,
    /// UDP super-packets split into datagrams because their datagrams get fragmented.
    pub udp_split: Counter,
    drops: [Counter; DropReason::COUNT],
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            rx_packets: Counter::default(),
            rx_bytes: Counter::default(),
            tx_packets: Counter::default(),
            tx_bytes: Counter::default(),
            v6_to_v4: Counter::default(),
            v4_to_v6: Counter::default(),
            hairpinned: Counter::default(),
            icmp_errors: Counter::default(),
            write_errors: Counter::default(),
            bad_frames: Counter::default(),
            read_errors: Counter::default(),
            rx_gso_packets: Counter::default(),
            offload_write_errors: Counter::default(),
            sessions: Counter::default(),
            handed_off: Counter::default(),
            udp_split: Counter::default(),
            drops: std::array::from_fn(|_| Counter::default()),
        }
    }
}

impl Counters {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one packet dropped for `reason`.
    #[inline]
    pub fn drop(&self, reason: DropReason) {
        // `index()` is below COUNT by construction; `get` keeps even a mismatch panic-free.
        if let Some(c) = self.drops.get(reason.index()) {
            c.add(1);
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            rx_packets: self.rx_packets.get(),
            rx_bytes: self.rx_bytes.get(),
            tx_packets: self.tx_packets.get(),
            tx_bytes: self.tx_bytes.get(),
            v6_to_v4: self.v6_to_v4.get(),
            v4_to_v6: self.v4_to_v6.get(),
            hairpinned: self.hairpinned.get(),
            icmp_errors: self.icmp_errors.get(),
            write_errors: self.write_errors.get(),
            bad_frames: self.bad_frames.get(),
            read_errors: self.read_errors.get(),
            rx_gso_packets: self.rx_gso_packets.get(),
            offload_write_errors: self.offload_write_errors.get(),
            sessions: self.sessions.get(),
            handed_off: self.handed_off.get(),
            udp_split: self.udp_split.get(),
            drops: std::array::from_fn(|i| self.drops[i].get()),
        }
    }
}

/// A plain copy of counters, from one worker or summed over several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub v6_to_v4: u64,
    pub v4_to_v6: u64,
    pub hairpinned: u64,
    pub icmp_errors: u64,
    pub write_errors: u64,
    pub bad_frames: u64,
    pub read_errors: u64,
    pub rx_gso_packets: u64,
    pub offload_write_errors: u64,
    /// NAT64 sessions at the time of the snapshot (summed over workers).
    pub sessions: u64,
    /// NAT64 packets passed from the worker that read them to the one owning their flow.
    pub handed_off: u64,
    /// UDP super-packets split into datagrams (their datagrams were fragmented).
    pub udp_split: u64,
    pub drops: [u64; DropReason::COUNT],
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            rx_packets: 0,
            rx_bytes: 0,
            tx_packets: 0,
            tx_bytes: 0,
            v6_to_v4: 0,
            v4_to_v6: 0,
            hairpinned: 0,
            icmp_errors: 0,
            write_errors: 0,
            bad_frames: 0,
            read_errors: 0,
            rx_gso_packets: 0,
            offload_write_errors: 0,
            sessions: 0,
            handed_off: 0,
            udp_split: 0,
            drops: [0; DropReason::COUNT],
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

    /// The general counters by stable name (drop reasons excluded).
    pub fn fields(&self) -> [(&'static str, u64); 16] {
        [
            ("rx_packets", self.rx_packets),
            ("rx_bytes", self.rx_bytes),
            ("tx_packets", self.tx_packets),
            ("tx_bytes", self.tx_bytes),
            ("translated_v6_to_v4", self.v6_to_v4),
            ("translated_v4_to_v6", self.v4_to_v6),
            ("hairpinned", self.hairpinned),
            ("icmp_errors_sent", self.icmp_errors),
            ("write_errors", self.write_errors),
            ("bad_frames", self.bad_frames),
            ("read_errors", self.read_errors),
            ("rx_gso_packets", self.rx_gso_packets),
            ("offload_write_errors", self.offload_write_errors),
            ("nat64_sessions", self.sessions),
            ("nat64_handed_off", self.handed_off),
            ("rx_udp_gso_split", self.udp_split),
        ]
    }

    fn fields_mut(&mut self) -> [&mut u64; 16] {
        [
            &mut self.rx_packets,
            &mut self.rx_bytes,
            &mut self.tx_packets,
            &mut self.tx_bytes,
            &mut self.v6_to_v4,
            &mut self.v4_to_v6,
            &mut self.hairpinned,
            &mut self.icmp_errors,
            &mut self.write_errors,
            &mut self.bad_frames,
            &mut self.read_errors,
            &mut self.rx_gso_packets,
            &mut self.offload_write_errors,
            &mut self.sessions,
            &mut self.handed_off,
            &mut self.udp_split,
        ]
    }

    /// A table for people: the general counters, the drop total, then the drop reasons
    /// (only the non-zero ones unless `verbose`).
    pub fn render_table(&self, verbose: bool) -> String {
        let mut s = String::new();
        let row = |s: &mut String, name: &str, v: u64| {
            let _ = writeln!(s, "  {name:<34} {v:>16}");
        };
        s.push_str("counters:\n");
        for (name, v) in self.fields() {
            row(&mut s, name, v);
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
    }

    #[test]
    fn kv_lists_every_counter_once() {
        let c = Counters::new();
        c.v4_to_v6.add(7);
        let kv = c.snapshot().render_kv();
        assert!(kv.contains("translated_v4_to_v6=7\n"));
        assert!(kv.contains("drop.unknown_version=0\n"));
        assert_eq!(kv.lines().count(), 16 + 1 + DropReason::COUNT);
        for line in kv.lines() {
            let (k, v) = line.split_once('=').expect("key=value");
            assert!(!k.is_empty());
            v.parse::<u64>().expect("numeric value");
        }
    }
}
