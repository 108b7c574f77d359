//! One worker's NAT64 state: BIB and session slabs, their index tables, its slice of
//! pool4, the expiry queues, the held SYNs and the subscriber quotas. Single owner,
//! no locks.
//!
//! One struct, [`Shard`], with its methods cut by idea into the files below. A
//! session's intrusive links cross every part (its expiry FIFO, its binding's list,
//! the session index), so the parts are `impl Shard` blocks over the same fields, not
//! separate types: each operation stays a plain field access, with no borrows to
//! split and nothing between the packet path and the memory it reads.
//! - this file: the type, its construction, reports, and the packet path (the
//!   RFC 6146 §3.5 decisions: find, filter, admit under quotas, create);
//! - `bib`: the binding slab and its two indexes, pool4 ports, static entries;
//! - `session`: the session slab, its free list and index, a binding's session kept
//!   at the binding's own index;
//! - `expiry`: the per-class FIFOs, second chance, `expire`;
//! - `held`: IPv4 SYNs held for a simultaneous open (§3.5.2.2);
//! - `invariants`: the cross-reference check the tests run.

mod alloc;
mod bib;
mod expiry;
mod held;
#[cfg(test)]
mod invariants;
mod session;
mod usage;

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::blocks::{BlockTable, Deterministic, PortAllocation};
use super::config::{Filtering, Proto, ShardConfig, ShardConfigError};
use super::events::NatEvent;
use super::hash::Hasher;
use super::index::IndexTable;
use super::ports::PortAllocator;
use super::quota::{QuotaError, QuotaTable};
use super::tcp::{self, Side, TcpState};
use super::tuple::{Endpoint4, Tuple4, Tuple6};
use super::types::{Inbound, Outbound, Refusal, ShardCounters, V4Lookup};
use bib::{BIB_STATIC, Bib};
pub use expiry::{Expired, LOOKS_PER_SESSION};
use expiry::{Fifo, NCLASS};
use held::Held;
use session::{Sess, hash_sess, v4key};
pub use usage::Usage;

/// The end of an intrusive list, and "none" in a slab link.
const NIL: u32 = u32::MAX;

/// One worker's NAT64 tables; [`Shard::new`] sizes all of them for good.
/// What an IPv4 packet that found a binding but no session may do.
enum Opening {
    /// Open a session (V4 INIT for TCP).
    Session,
    /// Be translated, opening nothing (a TCP packet other than a SYN).
    PassOnly,
    /// Wait as a held SYN for the IPv6 side to open the same connection.
    Hold,
}

pub struct Shard {
    cfg: ShardConfig,
    hasher: Hasher,
    bibs: Vec<Bib>,
    bib_free: u32,
    nbibs: usize,
    sessions: Vec<Sess>,
    sess_free: u32,
    nsessions: usize,
    /// Sessions, bindings and pool4 ports held, by protocol and address, for metrics.
    usage: Usage,
    bib6: IndexTable,
    bib4: IndexTable,
    sess_idx: IndexTable,
    ports: PortAllocator,
    addr_quota: QuotaTable,
    prefix_quota: QuotaTable,
    prefix_mask: u128,
    /// Per expiry class (`expiry`): its FIFO and its timeout in ms.
    queues: [Fifo; NCLASS],
    timeout: [u32; NCLASS],
    next_class: usize,
    held: VecDeque<Held>,
    /// Pool4 addresses sorted, with their index, for binary search.
    pool_sorted: Vec<(u32, u16)>,
    rand_ctr: u64,
    counters: ShardCounters,
    /// `block` mode: this worker's blocks and who holds them.
    blocks: Option<BlockTable>,
    /// `deterministic` mode: the formula per protocol.
    det: [Option<Deterministic>; 3],
    /// NAT event records not yet taken by the worker; bounded, never grown.
    events: Vec<NatEvent>,
    events_lost: u64,
    /// The `now` of the current call, for the records.
    clock: u64,
}

impl Shard {
    /// Allocates every table for `cfg.max_sessions` now; nothing grows later.
    /// `seed` keys the hashes and the port randomisation: draw it from the OS.
    pub fn new(cfg: ShardConfig, seed: u64) -> Result<Shard, ShardConfigError> {
        cfg.validate()?;
        let hasher = Hasher::new(seed);
        let max_bibs = cfg.max_sessions + cfg.max_static;
        let t = &cfg.timeouts;
        let timeout = [t.udp, t.icmp, t.tcp_est, t.tcp_trans, t.tcp_incoming_syn].map(|v| v as u32);
        let mut pool_sorted: Vec<(u32, u16)> = cfg
            .pool
            .addrs
            .iter()
            .enumerate()
            .map(|(i, a)| (u32::from(*a), i as u16))
            .collect();
        pool_sorted.sort_unstable();
        let prefix_mask = u128::MAX << (128 - u32::from(cfg.subscriber_prefix_len));
        let blocks = (cfg.blocks.mode == PortAllocation::Block).then(|| {
            BlockTable::new(
                &cfg.pool,
                cfg.worker,
                cfg.workers,
                cfg.blocks,
                cfg.max_subscribers,
            )
        });
        let det = Proto::ALL.map(|p| {
            (cfg.blocks.mode == PortAllocation::Deterministic)
                .then(|| Deterministic::new(&cfg.pool, p, &cfg.blocks, cfg.subscriber_prefix_len))
                .flatten()
        });
        let buffer = if cfg.events.enabled {
            cfg.events.buffer.max(1)
        } else {
            0
        };
        Ok(Shard {
            hasher,
            bibs: Vec::with_capacity(max_bibs),
            bib_free: NIL,
            nbibs: 0,
            sessions: Vec::with_capacity(cfg.max_sessions),
            sess_free: NIL,
            nsessions: 0,
            usage: Usage::new(cfg.pool.addrs.len()),
            bib6: IndexTable::new(max_bibs),
            bib4: IndexTable::new(max_bibs),
            sess_idx: IndexTable::new(cfg.max_sessions),
            ports: PortAllocator::new(&cfg.pool, cfg.worker, cfg.workers),
            addr_quota: QuotaTable::new(cfg.max_subscribers, Hasher::new(seed ^ 0x5a5a)),
            prefix_quota: QuotaTable::new(cfg.max_subscribers, Hasher::new(seed ^ 0xa5a5)),
            prefix_mask,
            queues: [Fifo::EMPTY; NCLASS],
            timeout,
            next_class: 0,
            held: VecDeque::with_capacity(cfg.max_held_syns),
            pool_sorted,
            rand_ctr: seed,
            counters: ShardCounters::default(),
            blocks,
            det,
            events: Vec::with_capacity(buffer),
            events_lost: 0,
            clock: 0,
            cfg,
        })
    }

    pub fn config(&self) -> &ShardConfig {
        &self.cfg
    }

    pub fn counters(&self) -> &ShardCounters {
        &self.counters
    }

    pub fn session_count(&self) -> usize {
        self.nsessions
    }

    pub fn bib_count(&self) -> usize {
        self.nbibs
    }

    /// A reloaded configuration's timeouts and per-subscriber limits, in force from
    /// the next packet and the next expiry step. Each expiry class has one timeout, so
    /// its queue stays in expiry order; sessions over a lowered limit stay until they
    /// expire (only new ones are refused).
    pub fn set_limits(&mut self, t: &super::config::Timeouts, per_addr: u32, per_prefix: u32) {
        self.timeout =
            [t.udp, t.icmp, t.tcp_est, t.tcp_trans, t.tcp_incoming_syn].map(|v| v as u32);
        self.cfg.timeouts = *t;
        self.cfg.max_sessions_per_addr = per_addr;
        self.cfg.max_sessions_per_prefix = per_prefix;
    }

    /// What the shard holds, by protocol and by pool4 address.
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// Bytes reserved by this shard's tables (capacity, not use), for reports.
    pub fn reserved_bytes(&self) -> usize {
        self.bibs.capacity() * size_of::<Bib>()
            + self.sessions.capacity() * size_of::<Sess>()
            + self.bib6.bytes()
            + self.bib4.bytes()
            + self.sess_idx.bytes()
            + self.ports.bytes()
            + self.addr_quota.bytes()
            + self.prefix_quota.bytes()
            + self.blocks.as_ref().map_or(0, |b| b.bytes())
    }

    /// Calls `f(address, length)` for each large table (binding and session slabs at
    /// their full capacity, the three index tables), so that the caller can ask for
    /// huge pages: at millions of sessions every lookup otherwise misses the TLB.
    /// The tables are untouched until sessions arrive, so advice given right after
    /// [`Shard::new`] covers all of them.
    pub fn for_each_table(&self, mut f: impl FnMut(*const u8, usize)) {
        f(
            self.bibs.as_ptr().cast(),
            self.bibs.capacity() * size_of::<Bib>(),
        );
        f(
            self.sessions.as_ptr().cast(),
            self.sessions.capacity() * size_of::<Sess>(),
        );
        for t in [&self.bib6, &self.bib4, &self.sess_idx] {
            let (p, n) = t.region();
            f(p, n);
        }
    }

    /// A reload's new pool4 addresses, numbered after the existing ones (an address
    /// already in the pool is skipped). Allocates: a control-plane step, between
    /// packets. Not with `deterministic` allocation, whose formula numbers the pool.
    pub fn add_pool4(&mut self, addrs: &[Ipv4Addr]) -> Result<(), String> {
        if self.cfg.blocks.mode == PortAllocation::Deterministic {
            return Err("pool4 cannot change with port-allocation = \"deterministic\"".into());
        }
        let fresh: Vec<Ipv4Addr> = addrs
            .iter()
            .copied()
            .filter(|a| !self.cfg.pool.addrs.contains(a))
            .collect();
        if self.cfg.pool.addrs.len() + fresh.len() > usize::from(u16::MAX) {
            return Err("pool4 would hold more than 65535 addresses".into());
        }
        for a in fresh {
            let i = self.cfg.pool.addrs.len() as u16;
            self.cfg.pool.addrs.push(a);
            let at = self.pool_sorted.partition_point(|&(x, _)| x < u32::from(a));
            self.pool_sorted.insert(at, (u32::from(a), i));
        }
        let n = self.cfg.pool.addrs.len();
        self.ports.grow(n);
        if let Some(b) = &mut self.blocks {
            b.grow(n);
        }
        self.usage.grow(n);
        Ok(())
    }

    /// Whether `a` is one of this shard's pool4 addresses (RFC 6146 §3.8: an IPv6
    /// packet to pool6 ∘ pool4 is hairpinned).
    #[inline]
    pub fn is_pool4(&self, a: Ipv4Addr) -> bool {
        self.cfg.pool.addrs.contains(&a)
    }

    /// Whether the pool4 transport address `pool4` has a binding (read-only): an IPv4
    /// packet to one without may not draw an ICMP error from the translator, or a scan
    /// of pool4 would turn it into an ICMP source.
    pub fn has_binding_v4(&self, proto: Proto, pool4: Endpoint4) -> bool {
        self.find_bib4(proto, u32::from(pool4.addr), pool4.port)
            .is_some()
    }

    /// Starts loading the index slot that [`lookup_or_create_v6`](Self::lookup_or_create_v6)
    /// will read for this packet. A worker holding a batch of packets calls this for
    /// all of them first, so that their cache misses overlap instead of queueing.
    #[inline]
    pub fn prefetch_v6(&self, t: Tuple6) {
        self.bib6
            .prefetch(self.h_bib6(t.proto, &t.v6.addr.octets(), t.v6.port));
    }

    /// The IPv4-side twin of [`prefetch_v6`](Self::prefetch_v6), for
    /// [`lookup_v4`](Self::lookup_v4) with the same tuple.
    #[inline]
    pub fn prefetch_v4(&self, t: Tuple4) {
        let Tuple4 {
            proto,
            remote,
            pool4,
        } = t;
        let rport = if proto == Proto::Icmp { 0 } else { remote.port };
        let (v4, raddr) = (u32::from(pool4.addr), u32::from(remote.addr));
        self.bib4.prefetch(self.h_bib4(proto, v4, pool4.port));
        self.sess_idx.prefetch(hash_sess(
            &self.hasher,
            v4key(proto as u8, v4, pool4.port),
            raddr,
            rport,
        ));
    }

    /// IPv6→IPv4: the mapping for this flow, created if the flow may open one
    /// (RFC 6146 §3.5.1 UDP, §3.5.2 TCP, §3.5.3 ICMP queries with `t.v6.port` the
    /// identifier). `tcp_flags` is byte 13 of the TCP header (0 otherwise).
    #[inline]
    pub fn lookup_or_create_v6(
        &mut self,
        t: Tuple6,
        tcp_flags: u8,
        now: u64,
    ) -> Result<Outbound, Refusal> {
        let Tuple6 { proto, v6, remote } = t;
        let (src6, sport, dst4, dport) = (v6.addr, v6.port, remote.addr, remote.port);
        self.lookup_or_create_v6_fields(proto, src6, sport, dst4, dport, tcp_flags, now)
    }

    /// [`lookup_or_create_v6`](Self::lookup_or_create_v6) on the tuple's fields. Loose
    /// arguments travel in registers, where a tuple of this size would go through
    /// memory: with the wrapper inlined, the tuple costs nothing, and the compiler still
    /// sees constant arguments (a caller's fixed protocol) as constants.
    // One caller, the wrapper above, which names every field.
    #[allow(clippy::too_many_arguments)]
    fn lookup_or_create_v6_fields(
        &mut self,
        proto: Proto,
        src6: Ipv6Addr,
        sport: u16,
        dst4: Ipv4Addr,
        dport: u16,
        tcp_flags: u8,
        now: u64,
    ) -> Result<Outbound, Refusal> {
        let now32 = now as u32;
        let src = src6.octets();
        let raddr = u32::from(dst4);
        let rport = if proto == Proto::Icmp { 0 } else { dport };
        let bib = self.find_bib6(proto, &src, sport);
        if let Some(b) = bib
            && let Some(s) = self.find_sess_from_bib(b, raddr, rport)
        {
            self.touch(s, proto, Side::V6, tcp_flags, now32);
            return Ok(self.outbound(b, false));
        }
        if proto == Proto::Tcp && tcp_flags & tcp::SYN == 0 {
            return Err(self.refuse(Refusal::NoSession));
        }
        self.admit(&src).map_err(|r| self.refuse(r))?;
        self.clock = now;
        let b = match bib {
            Some(b) => b,
            None => self
                .create_dynamic_bib(proto, &src, sport)
                .map_err(|r| self.refuse(r))?,
        };
        let mut state = TcpState::V6Init;
        let mut simultaneous = false;
        if proto == Proto::Tcp && self.take_held(b, raddr, rport) {
            // The V4 SYN we held and this V6 SYN: both ends have sent SYN.
            state = TcpState::Established;
            simultaneous = true;
            self.counters.simultaneous_opens += 1;
        }
        self.create_session(b, raddr, rport, state, now32);
        Ok(self.outbound(b, simultaneous))
    }

    /// IPv4→IPv6: the IPv6 endpoint for a packet from the IPv4 peer `t.remote` to the
    /// pool4 transport address `t.pool4`.
    #[inline]
    pub fn lookup_v4(&mut self, t: Tuple4, tcp_flags: u8, now: u64) -> V4Lookup {
        let Tuple4 {
            proto,
            remote,
            pool4,
        } = t;
        let (src4, sport, dst4, dport) = (remote.addr, remote.port, pool4.addr, pool4.port);
        self.lookup_v4_fields(proto, src4, sport, dst4, dport, tcp_flags, now)
    }

    /// [`lookup_v4`](Self::lookup_v4) on the tuple's fields, for the reason given at
    /// [`lookup_or_create_v6_fields`](Self::lookup_or_create_v6_fields).
    // One caller, the wrapper above, which names every field.
    #[allow(clippy::too_many_arguments)]
    fn lookup_v4_fields(
        &mut self,
        proto: Proto,
        src4: Ipv4Addr,
        sport: u16,
        dst4: Ipv4Addr,
        dport: u16,
        tcp_flags: u8,
        now: u64,
    ) -> V4Lookup {
        let now32 = now as u32;
        let raddr = u32::from(src4);
        let rport = if proto == Proto::Icmp { 0 } else { sport };
        let syn = proto == Proto::Tcp && tcp_flags & tcp::SYN != 0;
        // Both probes depend only on the packet, so their cache misses overlap.
        let hs = hash_sess(
            &self.hasher,
            v4key(proto as u8, u32::from(dst4), dport),
            raddr,
            rport,
        );
        let Some(b) = self.find_bib4(proto, u32::from(dst4), dport) else {
            if syn && !self.cfg.drop_externally_initiated_tcp {
                return self.hold(raddr, sport, u32::from(dst4), dport, now32);
            }
            let r = if syn {
                Refusal::Filtered
            } else {
                Refusal::NoMapping
            };
            return V4Lookup::Refused(self.refuse(r));
        };
        if let Some(s) = self.find_sess_hashed(hs, b, raddr, rport) {
            self.touch(s, proto, Side::V4, tcp_flags, now32);
            return V4Lookup::Forward(self.inbound(b));
        }
        match self.may_open_from_v4(b, proto, syn, raddr) {
            Ok(Opening::Session) => {}
            // RFC 6146 §3.5.2.2, CLOSED state: another packet of a connection whose
            // binding exists is translated when the filtering allows it, and opens
            // nothing.
            Ok(Opening::PassOnly) => return V4Lookup::Forward(self.inbound(b)),
            // A SYN the filtering refuses is held like one without a binding: the
            // IPv6 side may open the same connection (simultaneous open).
            Ok(Opening::Hold) => return self.hold(raddr, sport, u32::from(dst4), dport, now32),
            Err(r) => return V4Lookup::Refused(self.refuse(r)),
        }
        let src6 = self.bibs[b as usize].src6;
        if let Err(r) = self.admit(&src6) {
            return V4Lookup::Refused(self.refuse(r));
        }
        self.clock = now;
        self.create_session(b, raddr, rport, TcpState::V4Init, now32);
        V4Lookup::Forward(self.inbound(b))
    }

    /// The mapping of an existing IPv6-side session, without creating, touching or
    /// counting anything: ICMP errors travel on a session but never create or refresh
    /// one (RFC 6146 §3.5, ICMP error messages), so the translator maps their inner
    /// packet with this. `t.remote.port` is ignored for ICMP (the remote "port" is 0).
    pub fn find_v6(&self, t: Tuple6) -> Option<Outbound> {
        let Tuple6 { proto, v6, remote } = t;
        let rport = if proto == Proto::Icmp { 0 } else { remote.port };
        let b = self.find_bib6(proto, &v6.addr.octets(), v6.port)?;
        self.find_sess_from_bib(b, u32::from(remote.addr), rport)?;
        Some(self.outbound(b, false))
    }

    /// The IPv4-side twin of [`find_v6`](Self::find_v6): the IPv6 endpoint of an
    /// existing session between the IPv4 peer `t.remote` and the pool4 transport
    /// address `t.pool4`, read-only.
    pub fn find_v4(&self, t: Tuple4) -> Option<Inbound> {
        let Tuple4 {
            proto,
            remote,
            pool4,
        } = t;
        let rport = if proto == Proto::Icmp { 0 } else { remote.port };
        let b = self.find_bib4(proto, u32::from(pool4.addr), pool4.port)?;
        self.find_sess(b, u32::from(remote.addr), rport)?;
        Some(self.inbound(b))
    }

    /// Filtering for a packet from IPv4 that found a binding but no session: what it
    /// may do.
    fn may_open_from_v4(
        &self,
        b: u32,
        proto: Proto,
        syn: bool,
        raddr: u32,
    ) -> Result<Opening, Refusal> {
        let allowed = self.filter_allows(b, raddr);
        if proto != Proto::Tcp {
            return if allowed {
                Ok(Opening::Session)
            } else {
                Err(Refusal::Filtered)
            };
        }
        if !syn {
            return if allowed {
                Ok(Opening::PassOnly)
            } else {
                Err(Refusal::NoSession)
            };
        }
        if self.cfg.drop_externally_initiated_tcp {
            return Err(Refusal::Filtered);
        }
        Ok(if allowed {
            Opening::Session
        } else {
            Opening::Hold
        })
    }

    /// RFC 4787 filtering of a packet from `raddr` to binding `b`: always under
    /// endpoint-independent filtering (and for static entries), else (REQ-8
    /// address-dependent) only if the IPv6 side has sent to `raddr` from this binding.
    fn filter_allows(&self, b: u32, raddr: u32) -> bool {
        let bib = &self.bibs[b as usize];
        if self.cfg.filtering != Filtering::AddressDependent || bib.flags & BIB_STATIC != 0 {
            return true;
        }
        let mut s = bib.first;
        while s != NIL {
            if self.sessions[s as usize].raddr == raddr {
                return true;
            }
            s = self.sessions[s as usize].b_next;
        }
        false
    }

    fn outbound(&self, b: u32, simultaneous_open: bool) -> Outbound {
        let e = &self.bibs[b as usize];
        Outbound {
            src: Ipv4Addr::from(e.v4),
            sport: e.port4,
            simultaneous_open,
        }
    }

    fn inbound(&self, b: u32) -> Inbound {
        let e = &self.bibs[b as usize];
        Inbound {
            dst: Ipv6Addr::from(e.src6),
            dport: e.port6,
        }
    }

    fn refuse(&mut self, r: Refusal) -> Refusal {
        self.counters.refused[r as usize] += 1;
        r
    }

    /// Checks the table and the subscriber's quotas before anything is allocated.
    fn admit(&self, src6: &[u8; 16]) -> Result<(), Refusal> {
        if self.nsessions >= self.cfg.max_sessions {
            return Err(Refusal::TableFull);
        }
        let a = u128::from_be_bytes(*src6);
        let quota = |r: QuotaError, limit| match r {
            QuotaError::Limit => limit,
            QuotaError::Full => Refusal::SubscriberTableFull,
        };
        self.addr_quota
            .check(a, self.cfg.max_sessions_per_addr)
            .map_err(|e| quota(e, Refusal::AddrLimit))?;
        self.prefix_quota
            .check(a & self.prefix_mask, self.cfg.max_sessions_per_prefix)
            .map_err(|e| quota(e, Refusal::PrefixLimit))?;
        Ok(())
    }
}
