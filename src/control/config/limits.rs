//! The per-subscriber session limits' defaults, derived from what one worker holds.
//!
//! Each NAT64 worker owns its subscribers and only a slice of every pool4 address's
//! ports, and `max-sessions / workers` sessions (see "Chosen" in [`crate::nat64`]). A
//! subscriber can only ever use its own worker's share, so a fixed limit that is large
//! against that share lets one subscriber exhaust it, and every other subscriber of the
//! same worker loses all new flows while the other workers' ports sit unused. The
//! defaults therefore give one subscriber at most [`FAIR_SHARE`]⁻¹ of its worker's share
//! (so at least that many subscribers at their limit fit in every worker), one address
//! half of its subscriber's, and never more than the fixed limits of large pools.

use ipnet::Ipv4Net;

use super::{Config, Mode, Source};
use crate::nat64::{PortRange, config::port_slices};

/// One subscriber may hold at most 1/`FAIR_SHARE` of its worker's share.
pub const FAIR_SHARE: u64 = 8;

/// The largest default per-subscriber limit: what large pools (and SIIT's
/// `check-config`, which has no pool4) get.
pub const MAX_PER_SUBSCRIBER: u32 = 16384;

/// What one worker can give all of its subscribers together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerShare {
    /// Distinct pool4 addresses.
    pub addrs: u64,
    /// TCP (and UDP) ports of each address in the smallest worker's slice.
    pub ports_per_addr: u64,
    /// Sessions in one worker's table.
    pub sessions: u64,
}

impl WorkerShare {
    pub fn new(pool4: &[Ipv4Net], ports: PortRange, workers: u16, max_sessions: u32) -> Self {
        let workers = usize::from(workers.max(1));
        // The slices differ by one port per class at most; the last is never the
        // smaller.
        let per_addr = port_slices(ports, 0, workers)
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| u64::from(s.len()))
            .sum();
        WorkerShare {
            addrs: distinct_addrs(pool4),
            ports_per_addr: per_addr,
            sessions: u64::from(max_sessions).div_ceil(workers as u64),
        }
    }

    /// TCP (or UDP) mappings the worker can hold: every binding takes a port.
    pub fn ports(&self) -> u64 {
        self.addrs * self.ports_per_addr
    }

    /// The smaller of its ports and its sessions: a subscriber's sessions bound both the
    /// ports it takes and its room in the table.
    pub fn total(&self) -> u64 {
        self.ports().min(self.sessions)
    }
}

/// Pool4 addresses once each, overlapping prefixes counted once.
fn distinct_addrs(pool4: &[Ipv4Net]) -> u64 {
    let mut ranges: Vec<(u64, u64)> = pool4
        .iter()
        .map(|p| {
            (
                u64::from(u32::from(p.network())),
                u64::from(u32::from(p.broadcast())),
            )
        })
        .collect();
    ranges.sort_unstable();
    let mut n = 0;
    let mut next = 0; // first address not yet counted
    for (lo, hi) in ranges {
        let lo = lo.max(next);
        if lo <= hi {
            n += hi - lo + 1;
            next = hi + 1;
        }
    }
    n
}

/// The default `max-sessions-per-subscriber`: 1/[`FAIR_SHARE`] of one worker's share,
/// at least 1, at most [`MAX_PER_SUBSCRIBER`]; [`MAX_PER_SUBSCRIBER`] without pool4.
pub fn default_per_subscriber(
    pool4: &[Ipv4Net],
    ports: PortRange,
    workers: u16,
    max_sessions: u32,
) -> u32 {
    if pool4.is_empty() {
        return MAX_PER_SUBSCRIBER;
    }
    let share = WorkerShare::new(pool4, ports, workers, max_sessions).total() / FAIR_SHARE;
    u32::try_from(share)
        .unwrap_or(u32::MAX)
        .clamp(1, MAX_PER_SUBSCRIBER)
}

/// The default `max-sessions-per-address`: half of the subscriber's limit (one device
/// of a household cannot take its neighbours' sessions), at least 1.
pub fn default_per_address(per_subscriber: u32) -> u32 {
    (per_subscriber / 2).max(1)
}

/// What `run` logs about the limits at start (NAT64 only): the derived values and
/// where they come from, and a warning for each limit given larger than one
/// worker's share. `(warning, text)`.
pub fn notes(cfg: &Config) -> Vec<(bool, String)> {
    if cfg.mode != Mode::Nat64 {
        return Vec::new();
    }
    let share = WorkerShare::new(&cfg.pool4, cfg.pool4_ports, cfg.workers, cfg.max_sessions);
    let whence = format!(
        "each of the {} worker{} holds {} pool4 port{} per protocol ({} address{} × {} \
         port{} of its slice) and {} sessions",
        cfg.workers,
        plural(u64::from(cfg.workers)),
        share.ports(),
        plural(share.ports()),
        share.addrs,
        if share.addrs == 1 { "" } else { "es" },
        share.ports_per_addr,
        plural(share.ports_per_addr),
        share.sessions
    );
    let mut out = Vec::new();
    let limits = [
        (
            "max-sessions-per-subscriber",
            cfg.max_sessions_per_subscriber,
        ),
        ("max-sessions-per-address", cfg.max_sessions_per_address),
    ];
    let derived: Vec<String> = limits
        .iter()
        .filter(|(k, _)| cfg.source(k) == Some(Source::Default))
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    if !derived.is_empty() {
        out.push((
            false,
            format!(
                "nat64 limits: {} (defaults: one subscriber gets at most 1/{FAIR_SHARE} of \
                 its worker's share, one address half of that); {whence}",
                derived.join(", ")
            ),
        ));
    }
    for (k, v) in limits {
        if cfg.source(k) != Some(Source::Default) && u64::from(v) > share.total() {
            out.push((
                true,
                format!(
                    "{k} = {v} is more than one worker can give: {whence}, so one subscriber \
                     can take all of them and refuse every other subscriber of its worker; \
                     the default would be {}",
                    match k {
                        "max-sessions-per-subscriber" => default_per_subscriber(
                            &cfg.pool4,
                            cfg.pool4_ports,
                            cfg.workers,
                            cfg.max_sessions
                        ),
                        _ => default_per_address(cfg.max_sessions_per_subscriber),
                    }
                ),
            ));
        }
    }
    out.extend(deterministic_note(cfg));
    out
}

/// `deterministic`: how many subscribers the formula numbers against how many blocks
/// pool4 has; a warning when some subscribers of the range would get no mapping.
fn deterministic_note(cfg: &Config) -> Option<(bool, String)> {
    let d = cfg.deterministic()?;
    let (range, cap) = (d.subscribers(), d.capacity());
    Some((
        range > cap,
        format!(
            "port-allocation = deterministic: {} blocks of {} ports per address, room for {cap} \
             subscribers; deterministic-subscribers numbers {range}{}",
            d.per_addr(),
            cfg.port_block_size,
            if range > cap {
                format!(
                    ": subscribers {cap} and up get no mapping (add pool4 addresses or use smaller blocks)"
                )
            } else {
                String::new()
            }
        ),
    ))
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::resolve_file;
    use super::*;

    fn nets(v: &[&str]) -> Vec<Ipv4Net> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    const ALL_PORTS: PortRange = PortRange::new(1024, 65535);

    /// RFC 6146 §3.5.1.1 leaves refusing new sessions to the NAT64 when it has no room;
    /// the defaults keep one subscriber from taking a worker's whole room.
    #[test]
    fn per_subscriber_default_is_an_eighth_of_a_workers_share() {
        let d = default_per_subscriber;
        // The small pool: one address, 1024 ports, two workers: 512 ports each.
        let small = nets(&["203.0.113.16/32"]);
        assert_eq!(d(&small, PortRange::new(1024, 2047), 2, 262_144), 64);
        assert_eq!(default_per_address(64), 32);
        // One address, all ports: 32 256 ports per worker.
        assert_eq!(d(&small, ALL_PORTS, 2, 262_144), 4032);
        assert_eq!(d(&small, ALL_PORTS, 8, 262_144), 1008);
        // A /28 on two workers: large enough for the old fixed limits.
        let lab = nets(&["203.0.113.16/28"]);
        assert_eq!(d(&lab, ALL_PORTS, 2, 262_144), 16384);
        assert_eq!(default_per_address(16384), 8192);
        // The table is the smaller share: 16 workers of 16 384 sessions each.
        assert_eq!(d(&lab, ALL_PORTS, 16, 262_144), 2048);
        assert_eq!(d(&lab, ALL_PORTS, 1, 1000), 125);
        // Absurdly small: still one session each.
        assert_eq!(d(&small, PortRange::new(1024, 1027), 4, 262_144), 1);
        assert_eq!(default_per_address(1), 1);
        // Overlapping prefixes count their addresses once.
        let overlap = nets(&["203.0.113.16/31", "203.0.113.16/32", "203.0.113.17/32"]);
        assert_eq!(distinct_addrs(&overlap), 2);
        assert_eq!(d(&overlap, PortRange::new(1024, 2047), 2, 262_144), 128);
        // Without pool4 (SIIT): the fixed values, so that `check-config` shows them.
        assert_eq!(d(&[], ALL_PORTS, 2, 262_144), 16384);
    }

    #[test]
    fn derived_limits_are_logged_and_explicit_large_ones_warned_about() {
        let base = "mode = \"nat64\"\npool4 = [\"203.0.113.16/32\"]\npool4-ports = \"1024-2047\"\n\
                    workers = 2\n";
        let c = resolve_file(base).unwrap();
        assert_eq!(
            (c.max_sessions_per_subscriber, c.max_sessions_per_address),
            (64, 32)
        );
        let sc = c.shard_config();
        assert_eq!(
            (sc.max_sessions_per_prefix, sc.max_sessions_per_addr),
            (64, 32)
        );
        let n = notes(&c);
        assert_eq!(n.len(), 1, "{n:?}");
        assert!(!n[0].0);
        assert_eq!(
            n[0].1,
            "nat64 limits: max-sessions-per-subscriber = 64, max-sessions-per-address = 32 \
             (defaults: one subscriber gets at most 1/8 of its worker's share, one address \
             half of that); each of the 2 workers holds 512 pool4 ports per protocol \
             (1 address × 512 ports of its slice) and 131072 sessions"
        );
        // Explicit values are kept; the one larger than the share is warned about, and
        // the address limit still follows the subscriber's.
        let c = resolve_file(&format!("{base}max-sessions-per-subscriber = 1000\n")).unwrap();
        assert_eq!(
            (c.max_sessions_per_subscriber, c.max_sessions_per_address),
            (1000, 500)
        );
        let n = notes(&c);
        assert_eq!(n.len(), 2, "{n:?}");
        assert!(n[0].1.contains("max-sessions-per-address = 500 (defaults"));
        assert!(n[1].0);
        assert!(
            n[1].1.starts_with(
                "max-sessions-per-subscriber = 1000 is more than one worker can give: each \
                 of the 2 workers holds 512 pool4 ports"
            ) && n[1].1.ends_with("the default would be 64"),
            "{}",
            n[1].1
        );
        let c = resolve_file(&format!(
            "{base}max-sessions-per-subscriber = 100\nmax-sessions-per-address = 100\n"
        ))
        .unwrap();
        assert!(notes(&c).is_empty(), "{:?}", notes(&c));
        // SIIT: nothing to say, and the fixed values.
        let c = resolve_file("").unwrap();
        assert!(notes(&c).is_empty());
        assert_eq!(
            (c.max_sessions_per_subscriber, c.max_sessions_per_address),
            (16384, 8192)
        );
    }
}
