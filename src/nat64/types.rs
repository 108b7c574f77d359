//! What the shard hands back to the translator and the control plane.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::config::Proto;
use super::tcp::TcpState;

/// IPv6→IPv4: the IPv4 source to write into the translated packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outbound {
    pub src: Ipv4Addr,
    /// Source port, or ICMP identifier.
    pub sport: u16,
    /// This V6 SYN completed a simultaneous open with an IPv4 SYN that was held
    /// ([`V4Lookup::Held`]): translate and send the held SYN now.
    pub simultaneous_open: bool,
}

/// IPv4→IPv6: the IPv6 destination (the client) to write into the translated packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inbound {
    pub dst: Ipv6Addr,
    /// Destination port, or ICMP identifier.
    pub dport: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum V4Lookup {
    Forward(Inbound),
    /// An IPv4 SYN with no mapping, kept for a simultaneous open (RFC 6146 §3.5.2.2).
    /// The caller keeps the packet; it later gets either an
    /// [`Outbound::simultaneous_open`] or an [`Event::HeldSynExpired`].
    Held,
    Refused(Refusal),
}

/// Why a packet gets no mapping. New flows are refused; existing ones carry on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// TCP without SYN and without a session (RFC 6146 §3.5.2.2: only SYNs open).
    NoSession,
    /// IPv4 packet for a transport address with no BIB entry.
    NoMapping,
    /// Refused by filtering (address-dependent filtering, or the policy of dropping
    /// IPv4-initiated TCP).
    Filtered,
    /// The shard holds `max_sessions` sessions.
    TableFull,
    /// This IPv6 address holds `max_sessions_per_addr` sessions.
    AddrLimit,
    /// This subscriber prefix holds `max_sessions_per_prefix` sessions.
    PrefixLimit,
    /// The quota tables track `max_subscribers` subscribers already.
    SubscriberTableFull,
    /// No pool4 port is free in this shard's slice.
    PoolExhausted,
    /// `max_held_syns` IPv4 SYNs are already waiting.
    HeldTableFull,
    /// A static entry clashes with an existing one, or its port belongs to another
    /// shard's slice.
    StaticConflict,
}

impl Refusal {
    pub const COUNT: usize = 10;

    pub fn name(self) -> &'static str {
        match self {
            Refusal::NoSession => "no-session",
            Refusal::NoMapping => "no-mapping",
            Refusal::Filtered => "filtered",
            Refusal::TableFull => "table-full",
            Refusal::AddrLimit => "addr-limit",
            Refusal::PrefixLimit => "prefix-limit",
            Refusal::SubscriberTableFull => "subscriber-table-full",
            Refusal::PoolExhausted => "pool-exhausted",
            Refusal::HeldTableFull => "held-table-full",
            Refusal::StaticConflict => "static-conflict",
        }
    }
}

/// Things that happen on the clock, reported by `Shard::expire`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A held IPv4 SYN saw no simultaneous open in TCP_INCOMING_SYN: answer it with
    /// ICMP Port Unreachable (type 3, code 3) quoting the stored packet.
    HeldSynExpired {
        src: Ipv4Addr,
        sport: u16,
        dst: Ipv4Addr,
        dport: u16,
    },
    /// An ESTABLISHED session timed out and moved to TRANS; the caller may send a
    /// probe (an ACK with sequence and acknowledgment 0) to both ends (§3.5.2.2).
    TcpProbe(SessionInfo),
}

/// One session, for `xlat64 sessions` and for probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub proto: Proto,
    pub v6: Ipv6Addr,
    pub v6_port: u16,
    pub v4: Ipv4Addr,
    pub v4_port: u16,
    /// The IPv4 peer (the IPv6 side reaches it through its pool6-embedded address).
    pub remote: Ipv4Addr,
    /// 0 for ICMP.
    pub remote_port: u16,
    /// None for UDP and ICMP.
    pub state: Option<TcpState>,
    pub expires_in_ms: u64,
    pub is_static: bool,
}

/// An operator's mapping: an IPv4 address:port forwarded to an IPv6 server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticBib {
    pub proto: Proto,
    pub v6: Ipv6Addr,
    pub v6_port: u16,
    pub v4: Ipv4Addr,
    pub v4_port: u16,
}

/// As the operator writes it (`static-bib` key): `PROTO IPV4:PORT [IPV6]:PORT`.
impl std::fmt::Display for StaticBib {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}:{} [{}]:{}",
            self.proto, self.v4, self.v4_port, self.v6, self.v6_port
        )
    }
}

/// Per-shard counters; plain integers, the shard has one owner. (The worker's
/// atomic counters, read by the control plane, are `dataplane::Counters`.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardCounters {
    pub sessions_created: u64,
    pub sessions_expired: u64,
    pub bibs_created: u64,
    pub held_syns: u64,
    pub held_syns_expired: u64,
    pub simultaneous_opens: u64,
    pub tcp_probes: u64,
    pub requeued: u64,
    pub refused: [u64; Refusal::COUNT],
}

impl ShardCounters {
    pub fn refused(&self, r: Refusal) -> u64 {
        self.refused[r as usize]
    }
}
