//! Configuration of the NAT64 state: pool4, timers, filtering, limits.

use std::fmt;
use std::net::Ipv4Addr;

use super::blocks::{BlockConfig, PortAllocation};
use super::events::EventConfig;

/// The three kinds of flow RFC 6146 keeps state for (ICMP: queries, the echo
/// identifier standing in for the port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp = 0,
    Udp = 1,
    Icmp = 2,
}

impl Proto {
    pub const ALL: [Proto; 3] = [Proto::Tcp, Proto::Udp, Proto::Icmp];

    pub(crate) fn from_u8(v: u8) -> Proto {
        match v {
            0 => Proto::Tcp,
            1 => Proto::Udp,
            _ => Proto::Icmp,
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        })
    }
}

/// An inclusive range of ports (or ICMP identifiers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub const fn new(first: u16, last: u16) -> Self {
        PortRange { first, last }
    }

    pub fn len(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    pub fn is_empty(&self) -> bool {
        self.last < self.first
    }

    pub fn contains(&self, p: u16) -> bool {
        self.first <= p && p <= self.last
    }
}

/// The IPv4 side of the translator: addresses × a port range per protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool4 {
    pub addrs: Vec<Ipv4Addr>,
    pub tcp: PortRange,
    pub udp: PortRange,
    pub icmp: PortRange,
}

impl Pool4 {
    /// The default ranges: 1024–65535 for TCP and UDP (the well-known ports stay with
    /// the host), every ICMP identifier.
    pub fn new(addrs: Vec<Ipv4Addr>) -> Self {
        Pool4 {
            addrs,
            tcp: PortRange::new(1024, 65535),
            udp: PortRange::new(1024, 65535),
            icmp: PortRange::new(0, 65535),
        }
    }

    pub fn range(&self, proto: Proto) -> PortRange {
        match proto {
            Proto::Tcp => self.tcp,
            Proto::Udp => self.udp,
            Proto::Icmp => self.icmp,
        }
    }
}

/// The two port classes RFC 6146 §3.5.1.1 (after RFC 4787 REQ-3) keeps apart: a flow
/// from a well-known source port gets a well-known pool4 port when it can, and a flow
/// from any other port never gets one.
pub const PORT_CLASSES: [PortRange; 2] = [PortRange::new(0, 1023), PortRange::new(1024, 65535)];

/// The class of `port`: 0 for well-known (0–1023), 1 for the rest.
#[inline]
pub fn port_class(port: u16) -> usize {
    usize::from(port > PORT_CLASSES[0].last)
}

const EMPTY: PortRange = PortRange { first: 1, last: 0 };

/// Worker `w`'s ports of `range`: its slice of each class (well-known, then the rest),
/// every class cut into `workers` contiguous pieces, so that every worker can keep a
/// flow in its class. Replies find their owner by the slice their destination port
/// falls in ([`owner_of_port`]), so both must use these functions.
pub fn port_slices(range: PortRange, worker: usize, workers: usize) -> [PortRange; 2] {
    PORT_CLASSES.map(|c| intersect(range, c).map_or(EMPTY, |r| port_slice(r, worker, workers)))
}

/// Worker `w`'s piece of `range` cut into `workers` contiguous pieces.
pub fn port_slice(range: PortRange, worker: usize, workers: usize) -> PortRange {
    let n = range.len() as usize;
    let w = workers.max(1);
    let lo = n * worker / w;
    let hi = n * (worker + 1) / w;
    let first = u32::from(range.first) + lo as u32;
    if hi == lo {
        // More workers than ports: an empty slice.
        return EMPTY;
    }
    PortRange {
        first: first as u16,
        last: (u32::from(range.first) + hi as u32 - 1) as u16,
    }
}

/// Inverse of [`port_slices`]: which worker's slice holds `port`.
pub fn owner_of_port(range: PortRange, workers: usize, port: u16) -> Option<usize> {
    let part = intersect(range, PORT_CLASSES[port_class(port)])?;
    slice_owner(part, workers, port)
}

/// Inverse of [`port_slice`].
fn slice_owner(range: PortRange, workers: usize, port: u16) -> Option<usize> {
    if !range.contains(port) {
        return None;
    }
    let n = range.len() as usize;
    let off = usize::from(port - range.first);
    let w = workers.max(1);
    // Smallest worker whose slice end passes `off`.
    let mut guess = off * w / n;
    while n * (guess + 1) / w <= off {
        guess += 1;
    }
    while guess > 0 && n * guess / w > off {
        guess -= 1;
    }
    Some(guess)
}

/// The ports two ranges share.
pub fn intersect(a: PortRange, b: PortRange) -> Option<PortRange> {
    let first = a.first.max(b.first);
    let last = a.last.min(b.last);
    (first <= last).then_some(PortRange { first, last })
}

/// Session lifetimes in milliseconds (RFC 6146 §4 defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// UDP_Min is 2 min (§3.5.1); the default, 5 min, is RFC 4787 REQ-5's.
    pub udp: u64,
    /// TCP_EST: 2 h 4 min (§3.5.2.2, after RFC 5382).
    pub tcp_est: u64,
    /// TCP_TRANS: 4 min.
    pub tcp_trans: u64,
    /// TCP_INCOMING_SYN: how long an IPv4 SYN waits for a simultaneous open (6 s).
    pub tcp_incoming_syn: u64,
    /// ICMP_DEFAULT: 60 s (§3.5.3).
    pub icmp: u64,
}

pub const UDP_MIN_MS: u64 = 2 * 60 * 1000;

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            udp: 5 * 60 * 1000,
            tcp_est: (2 * 60 + 4) * 60 * 1000,
            tcp_trans: 4 * 60 * 1000,
            tcp_incoming_syn: 6 * 1000,
            icmp: 60 * 1000,
        }
    }
}

/// How unsolicited IPv4 packets to an existing mapping are treated (RFC 4787 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filtering {
    /// Anyone may reach a mapping once it exists (REQ-8's recommendation when
    /// transparency matters most).
    EndpointIndependent,
    /// Only IPv4 hosts the IPv6 side has already sent to.
    AddressDependent,
}

/// Everything one shard needs. `worker`/`workers` decide its slice of pool4 ports.
#[derive(Clone, Debug)]
pub struct ShardConfig {
    pub pool: Pool4,
    pub worker: usize,
    pub workers: usize,
    pub timeouts: Timeouts,
    pub filtering: Filtering,
    /// Drop IPv4-initiated TCP instead of holding/creating (RFC 6146 §3.5.2.2's
    /// "security policy" switch).
    pub drop_externally_initiated_tcp: bool,
    /// Sessions this shard can hold; all tables are sized for it up front.
    pub max_sessions: usize,
    /// Static BIB entries this shard can hold.
    pub max_static: usize,
    /// Distinct subscribers (addresses, prefixes) tracked for quotas.
    pub max_subscribers: usize,
    /// Sessions per IPv6 address.
    pub max_sessions_per_addr: u32,
    /// Sessions per subscriber prefix.
    pub max_sessions_per_prefix: u32,
    /// Length of the subscriber prefix (≤ 64), e.g. 64 or 56.
    pub subscriber_prefix_len: u8,
    /// IPv4 SYNs held for simultaneous open at once (RFC 6146 asks for a limit).
    pub max_held_syns: usize,
    /// Port allocation per session, per block or by formula (`blocks`).
    pub blocks: BlockConfig,
    /// NAT event records (`events`).
    pub events: EventConfig,
}

impl ShardConfig {
    /// One worker, defaults everywhere, `max_sessions` sessions.
    pub fn new(pool: Pool4, max_sessions: usize) -> Self {
        ShardConfig {
            pool,
            worker: 0,
            workers: 1,
            timeouts: Timeouts::default(),
            filtering: Filtering::EndpointIndependent,
            drop_externally_initiated_tcp: false,
            max_sessions,
            max_static: 1024,
            max_subscribers: (max_sessions / 16).max(64),
            max_sessions_per_addr: 8192,
            max_sessions_per_prefix: 16384,
            subscriber_prefix_len: 64,
            max_held_syns: 1024,
            blocks: BlockConfig::default(),
            events: EventConfig::default(),
        }
    }

    /// Checks the values a shard relies on; errors name the key and the expected form.
    pub fn validate(&self) -> Result<(), ShardConfigError> {
        use ShardConfigError as E;
        let t = &self.timeouts;
        if t.udp < UDP_MIN_MS {
            return Err(E::UdpTimeoutBelowMin { ms: t.udp });
        }
        for (key, v) in [
            ("nat64.udp-timeout", t.udp),
            ("nat64.tcp-est-timeout", t.tcp_est),
            ("nat64.tcp-trans-timeout", t.tcp_trans),
            ("nat64.tcp-incoming-syn-timeout", t.tcp_incoming_syn),
            ("nat64.icmp-timeout", t.icmp),
        ] {
            if v == 0 || v >= 1 << 31 {
                return Err(E::TimeoutOutOfRange { key, ms: v });
            }
        }
        if self.pool.addrs.is_empty() {
            return Err(E::Pool4Empty);
        }
        if self.pool.addrs.len() > 65535 {
            return Err(E::Pool4TooLarge);
        }
        for p in Proto::ALL {
            if self.pool.range(p).is_empty() {
                return Err(E::PortRangeEmpty(p));
            }
        }
        if self.workers == 0 || self.worker >= self.workers {
            return Err(E::WorkerOutOfRange {
                worker: self.worker,
                workers: self.workers,
            });
        }
        if self.max_sessions == 0 || self.max_sessions + self.max_static >= u32::MAX as usize / 2 {
            return Err(E::MaxSessionsOutOfRange);
        }
        if self.subscriber_prefix_len == 0 || self.subscriber_prefix_len > 64 {
            return Err(E::SubscriberPrefixLenOutOfRange(self.subscriber_prefix_len));
        }
        let b = &self.blocks;
        if b.mode != PortAllocation::Session && (b.size == 0 || b.max_per_subscriber == 0) {
            return Err(E::BlockSizeOutOfRange);
        }
        if b.mode == PortAllocation::Deterministic
            && b.subscribers
                .is_none_or(|(_, len)| len > self.subscriber_prefix_len)
        {
            return Err(E::DeterministicRangeMissing);
        }
        Ok(())
    }
}

/// A [`ShardConfig`] value a shard cannot run with. `Display` names the configuration
/// key and the expected form, for the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardConfigError {
    /// `timeouts.udp` is below UDP_Min (RFC 6146 §3.5.1).
    UdpTimeoutBelowMin {
        ms: u64,
    },
    /// A timeout (named by its key) is 0 or does not fit the wrapping 31-bit clock.
    TimeoutOutOfRange {
        key: &'static str,
        ms: u64,
    },
    Pool4Empty,
    /// More pool4 addresses than a binding's 16-bit pool index can name.
    Pool4TooLarge,
    PortRangeEmpty(Proto),
    WorkerOutOfRange {
        worker: usize,
        workers: usize,
    },
    /// `max_sessions` is 0, or `max_sessions + max_static` does not fit a slab index.
    MaxSessionsOutOfRange,
    SubscriberPrefixLenOutOfRange(u8),
    /// `port-block-size` or `max-blocks-per-subscriber` is 0.
    BlockSizeOutOfRange,
    /// `deterministic` without a range of subscribers to number.
    DeterministicRangeMissing,
}

impl fmt::Display for ShardConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ShardConfigError::UdpTimeoutBelowMin { ms } => write!(
                f,
                "nat64.udp-timeout: {ms} ms is below RFC 6146's 2-minute minimum; use at least {UDP_MIN_MS}"
            ),
            ShardConfigError::TimeoutOutOfRange { key, ms } => write!(
                f,
                "{key}: expected milliseconds between 1 and {} (24 days), got {ms}",
                (1u64 << 31) - 1
            ),
            ShardConfigError::Pool4Empty => {
                f.write_str("nat64.pool4: expected at least one IPv4 address")
            }
            ShardConfigError::Pool4TooLarge => f.write_str("nat64.pool4: at most 65535 addresses"),
            ShardConfigError::PortRangeEmpty(p) => write!(
                f,
                "nat64.pool4.{p}-ports: expected FIRST-LAST with FIRST <= LAST"
            ),
            ShardConfigError::WorkerOutOfRange { worker, workers } => write!(
                f,
                "nat64.workers: worker {worker} of {workers} is out of range"
            ),
            ShardConfigError::MaxSessionsOutOfRange => {
                f.write_str("nat64.max-sessions: expected 1 to 2^31 - 1")
            }
            ShardConfigError::SubscriberPrefixLenOutOfRange(len) => write!(
                f,
                "nat64.subscriber-prefix-len: expected 1 to 64, got {len}"
            ),
            ShardConfigError::BlockSizeOutOfRange => f.write_str(
                "nat64.port-block-size / max-blocks-per-subscriber: expected at least 1",
            ),
            ShardConfigError::DeterministicRangeMissing => f.write_str(
                "nat64.deterministic-subscribers: port-allocation = \"deterministic\" needs IPV6/LEN with LEN <= subscriber-prefix-len",
            ),
        }
    }
}

impl std::error::Error for ShardConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_partition_the_range() {
        for workers in [1usize, 2, 3, 7, 16] {
            for range in [
                PortRange::new(1024, 65535),
                PortRange::new(0, 65535),
                PortRange::new(5, 9),
            ] {
                for (class, part) in PORT_CLASSES.iter().enumerate() {
                    let Some(part) = intersect(range, *part) else {
                        continue;
                    };
                    let mut next = u32::from(part.first);
                    for w in 0..workers {
                        let s = port_slices(range, w, workers)[class];
                        if s.is_empty() {
                            continue;
                        }
                        assert_eq!(u32::from(s.first), next);
                        next = u32::from(s.last) + 1;
                        for p in [s.first, s.last, s.first + (s.last - s.first) / 2] {
                            assert_eq!(owner_of_port(range, workers, p), Some(w));
                        }
                    }
                    assert_eq!(next, u32::from(part.last) + 1);
                }
            }
        }
        assert_eq!(owner_of_port(PortRange::new(1024, 65535), 4, 80), None);
        // RFC 6146 §3.5.1.1: with the well-known ports in the range, every worker has
        // some of both classes.
        for w in 0..4 {
            let [low, high] = port_slices(PortRange::new(1, 65535), w, 4);
            assert!(!low.is_empty() && low.last <= 1023 && high.first >= 1024);
        }
    }

    #[test]
    fn udp_timeout_floor_rfc6146_3_5_1() {
        let mut c = ShardConfig::new(Pool4::new(vec![Ipv4Addr::new(192, 0, 2, 1)]), 100);
        assert!(c.validate().is_ok());
        c.timeouts.udp = 60_000;
        let e = c.validate().unwrap_err();
        assert_eq!(e, ShardConfigError::UdpTimeoutBelowMin { ms: 60_000 });
        assert!(e.to_string().contains("nat64.udp-timeout"), "{e}");
    }

    /// Each error names its configuration key and the expected form, for the
    /// operator; the texts are the ones `xlat64` has always printed.
    #[test]
    fn errors_name_the_key_and_the_expected_form() {
        let check = |spoil: fn(&mut ShardConfig), want: &str| {
            let mut c = ShardConfig::new(Pool4::new(vec![Ipv4Addr::new(192, 0, 2, 1)]), 100);
            spoil(&mut c);
            assert_eq!(c.validate().unwrap_err().to_string(), want);
        };
        check(
            |c| c.timeouts.udp = 1000,
            "nat64.udp-timeout: 1000 ms is below RFC 6146's 2-minute minimum; use at least 120000",
        );
        check(
            |c| c.timeouts.tcp_trans = 0,
            "nat64.tcp-trans-timeout: expected milliseconds between 1 and 2147483647 (24 days), got 0",
        );
        check(
            |c| c.pool.addrs.clear(),
            "nat64.pool4: expected at least one IPv4 address",
        );
        check(
            |c| c.pool.addrs = vec![Ipv4Addr::UNSPECIFIED; 65536],
            "nat64.pool4: at most 65535 addresses",
        );
        check(
            |c| c.pool.udp = PortRange::new(9, 8),
            "nat64.pool4.udp-ports: expected FIRST-LAST with FIRST <= LAST",
        );
        check(
            |c| c.worker = 2,
            "nat64.workers: worker 2 of 1 is out of range",
        );
        check(
            |c| c.max_sessions = 0,
            "nat64.max-sessions: expected 1 to 2^31 - 1",
        );
        check(
            |c| c.subscriber_prefix_len = 65,
            "nat64.subscriber-prefix-len: expected 1 to 64, got 65",
        );
    }
}
