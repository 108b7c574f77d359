//! NAT event records (RFC 6888 REQ-12, RFC 8158): what the shard tells the logging
//! sinks about mappings and port blocks. Plain data: the shard keeps a bounded buffer
//! of them, the worker moves them to its queue to the logging thread, and counts what
//! does not fit (`nat_log_lost`), so the packet path never blocks or allocates.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::config::Proto;

/// The kinds of record, with their RFC 8158 `natEvent` values (IANA "NAT Event
/// Type" registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NatEventKind {
    SessionCreate,
    SessionDelete,
    BibCreate,
    BibDelete,
    BlockAlloc,
    BlockRelease,
}

impl NatEventKind {
    pub const ALL: [NatEventKind; 6] = [
        NatEventKind::SessionCreate,
        NatEventKind::SessionDelete,
        NatEventKind::BibCreate,
        NatEventKind::BibDelete,
        NatEventKind::BlockAlloc,
        NatEventKind::BlockRelease,
    ];

    /// RFC 8158 §4 / IANA natEvent: 4/5 NAT64 session create/delete, 8/9 NAT64 BIB
    /// create/delete, 14/15 port block allocation/de-allocation.
    pub fn nat_event(self) -> u8 {
        match self {
            NatEventKind::SessionCreate => 4,
            NatEventKind::SessionDelete => 5,
            NatEventKind::BibCreate => 8,
            NatEventKind::BibDelete => 9,
            NatEventKind::BlockAlloc => 14,
            NatEventKind::BlockRelease => 15,
        }
    }

    /// The name in JSON lines and syslog.
    pub fn name(self) -> &'static str {
        match self {
            NatEventKind::SessionCreate => "session-create",
            NatEventKind::SessionDelete => "session-delete",
            NatEventKind::BibCreate => "mapping-create",
            NatEventKind::BibDelete => "mapping-delete",
            NatEventKind::BlockAlloc => "block-alloc",
            NatEventKind::BlockRelease => "block-release",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether the record opens (true) or closes a span of use.
    pub fn is_create(self) -> bool {
        matches!(
            self,
            NatEventKind::SessionCreate | NatEventKind::BibCreate | NatEventKind::BlockAlloc
        )
    }

    pub fn is_block(self) -> bool {
        matches!(self, NatEventKind::BlockAlloc | NatEventKind::BlockRelease)
    }
}

/// One record. `time_ms` is the shard's clock until the worker stamps it with the
/// wall clock (milliseconds since the Unix epoch) on its way to the logging thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatEvent {
    pub kind: NatEventKind,
    pub time_ms: u64,
    pub proto: Proto,
    /// The subscriber's host (for a block: the subscriber prefix's network address
    /// when no single host is meant).
    pub v6: Ipv6Addr,
    /// 0 for block records.
    pub v6_port: u16,
    /// Length of the subscriber prefix `v6` belongs to.
    pub prefix_len: u8,
    pub v4: Ipv4Addr,
    /// The port, or the block's first and last port.
    pub port_first: u16,
    pub port_last: u16,
    /// The IPv4 peer, only in session records (`nat-log-remote`).
    pub remote: Option<(Ipv4Addr, u16)>,
}

impl NatEvent {
    /// The subscriber prefix's network address.
    pub fn prefix(&self) -> Ipv6Addr {
        let len = u32::from(self.prefix_len.min(128));
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        };
        Ipv6Addr::from(u128::from(self.v6) & mask)
    }
}

/// Which records a shard makes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventConfig {
    /// Any sink is configured: make records at all.
    pub enabled: bool,
    /// Session records with the remote end (off by default, for privacy).
    pub remote: bool,
    /// Records the shard buffers between two drains by its worker.
    pub buffer: usize,
}
