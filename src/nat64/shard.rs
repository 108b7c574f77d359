//! One worker's NAT64 state: BIB and session slabs, their index tables, its slice of
//! pool4, the expiry queues and the subscriber quotas. Single owner, no locks.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::config::{Filtering, Proto, ShardConfig};
use super::hash::Hasher;
use super::index::IndexTable;
use super::ports::PortAllocator;
use super::quota::{QuotaError, QuotaTable};
use super::tcp::{self, Lifetime, OnTimeout, Side, TcpState};
use super::types::{Counters, Event, Inbound, Outbound, Refusal, SessionInfo, StaticBib, V4Lookup};

const NIL: u32 = u32::MAX;
const BIB_FREE: u8 = 1;
const BIB_STATIC: u8 = 2;
const NO_POOL: u16 = u16::MAX;

/// A binding (RFC 6146 §3.1): IPv6 transport address ↔ IPv4 transport address.
/// 32 bytes, aligned so that one never straddles two cache lines (a lookup then costs
/// one memory round trip, not two).
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct Bib {
    src6: [u8; 16],
    v4: u32,
    /// First session of this binding; the free-list link while free.
    first: u32,
    port6: u16,
    port4: u16,
    proto: u8,
    flags: u8,
    /// Index of `v4` in pool4 (for the port bitmap), or NO_POOL.
    pool: u16,
}

/// A session: binding + IPv4 peer, with intrusive links for its expiry queue and its
/// binding's session list. 36 bytes; what a lookup reads and writes comes first (20
/// bytes), so it mostly sits in one cache line.
#[derive(Clone, Copy)]
#[repr(C)]
struct Sess {
    raddr: u32,
    rport: u16,
    state: u8,
    class: u8,
    b_next: u32,
    /// Milliseconds, wrapping: the only field the packet path writes for UDP/ICMP.
    last_seen: u32,
    bib: u32,
    b_prev: u32,
    q_prev: u32,
    /// Expiry-queue link; the free-list link while free.
    q_next: u32,
    /// When the session last entered its queue (wrapping ms).
    queued: u32,
}

/// Expiry classes: one FIFO each.
const C_UDP: u8 = 0;
const C_ICMP: u8 = 1;
const C_TCP_EST: u8 = 2;
const C_TCP_TRANS: u8 = 3;
const C_TCP_SYN: u8 = 4;
const NCLASS: usize = 5;
const C_FREE: u8 = 255;

/// A queue is looked at every `timeout / CHECKS` per session, so an idle session lives
/// between its timeout and 1.25 × it.
const CHECKS: u32 = 4;

#[derive(Clone, Copy)]
struct Fifo {
    head: u32,
    tail: u32,
}

struct Held {
    src: u32,
    sport: u16,
    dst: u32,
    dport: u16,
    at: u32,
    live: bool,
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
    bib6: IndexTable,
    bib4: IndexTable,
    sess_idx: IndexTable,
    ports: PortAllocator,
    addr_quota: QuotaTable,
    prefix_quota: QuotaTable,
    prefix_mask: u128,
    queues: [Fifo; NCLASS],
    timeout: [u32; NCLASS],
    next_class: usize,
    held: VecDeque<Held>,
    /// Pool4 addresses sorted, with their index, for binary search.
    pool_sorted: Vec<(u32, u16)>,
    rand_ctr: u64,
    counters: Counters,
}

#[inline]
fn hash_bib6(h: &Hasher, proto: u8, src6: &[u8; 16], port: u16) -> u64 {
    let a = u128::from_be_bytes(*src6);
    h.h3(
        a as u64,
        (a >> 64) as u64,
        u64::from(port) | u64::from(proto) << 16,
    )
}

#[inline]
fn hash_bib4(h: &Hasher, proto: u8, v4: u32, port: u16) -> u64 {
    h.h2(
        u64::from(v4) << 32 | u64::from(port) << 8 | u64::from(proto),
        4,
    )
}

#[inline]
fn hash_sess(h: &Hasher, v4key: u64, raddr: u32, rport: u16) -> u64 {
    h.h3(v4key, u64::from(raddr) << 16 | u64::from(rport), 0x5e55)
}

/// The binding's IPv4 transport address as one word. Sessions are hashed by their IPv4
/// view, so an IPv4 packet probes the session index and the binding index at once
/// (two overlapping memory round trips instead of four in a row).
#[inline]
fn v4key(proto: u8, v4: u32, port4: u16) -> u64 {
    u64::from(v4) << 32 | u64::from(port4) << 8 | u64::from(proto)
}

fn class_of(proto: Proto, state: TcpState) -> u8 {
    match proto {
        Proto::Udp => C_UDP,
        Proto::Icmp => C_ICMP,
        Proto::Tcp => match state.lifetime() {
            Lifetime::Est => C_TCP_EST,
            Lifetime::Trans => C_TCP_TRANS,
            Lifetime::IncomingSyn => C_TCP_SYN,
        },
    }
}

impl Shard {
    /// Allocates every table for `cfg.max_sessions` now; nothing grows later.
    /// `seed` keys the hashes and the port randomisation: draw it from the OS.
    pub fn new(cfg: ShardConfig, seed: u64) -> Result<Shard, String> {
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
        Ok(Shard {
            hasher,
            bibs: Vec::with_capacity(max_bibs),
            bib_free: NIL,
            nbibs: 0,
            sessions: Vec::with_capacity(cfg.max_sessions),
            sess_free: NIL,
            nsessions: 0,
            bib6: IndexTable::new(max_bibs),
            bib4: IndexTable::new(max_bibs),
            sess_idx: IndexTable::new(cfg.max_sessions),
            ports: PortAllocator::new(&cfg.pool, cfg.worker, cfg.workers),
            addr_quota: QuotaTable::new(cfg.max_subscribers, Hasher::new(seed ^ 0x5a5a)),
            prefix_quota: QuotaTable::new(cfg.max_subscribers, Hasher::new(seed ^ 0xa5a5)),
            prefix_mask,
            queues: [Fifo {
                head: NIL,
                tail: NIL,
            }; NCLASS],
            timeout,
            next_class: 0,
            held: VecDeque::with_capacity(cfg.max_held_syns),
            pool_sorted,
            rand_ctr: seed,
            counters: Counters::default(),
            cfg,
        })
    }

    pub fn config(&self) -> &ShardConfig {
        &self.cfg
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn session_count(&self) -> usize {
        self.nsessions
    }

    pub fn bib_count(&self) -> usize {
        self.nbibs
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

    /// Starts loading the index slot that [`lookup_or_create_v6`](Self::lookup_or_create_v6)
    /// will read for this packet. A worker holding a batch of packets calls this for
    /// all of them first, so that their cache misses overlap instead of queueing.
    #[inline]
    pub fn prefetch_v6(&self, proto: Proto, src6: Ipv6Addr, sport: u16) {
        self.bib6
            .prefetch(self.h_bib6(proto, &src6.octets(), sport));
    }

    /// The IPv4-side twin of [`prefetch_v6`](Self::prefetch_v6), for
    /// [`lookup_v4`](Self::lookup_v4) with the same arguments.
    #[inline]
    pub fn prefetch_v4(
        &self,
        proto: Proto,
        src4: Ipv4Addr,
        sport: u16,
        dst4: Ipv4Addr,
        dport: u16,
    ) {
        let rport = if proto == Proto::Icmp { 0 } else { sport };
        let (v4, raddr) = (u32::from(dst4), u32::from(src4));
        self.bib4.prefetch(self.h_bib4(proto, v4, dport));
        self.sess_idx.prefetch(hash_sess(
            &self.hasher,
            v4key(proto as u8, v4, dport),
            raddr,
            rport,
        ));
    }

    // ---- hashing -------------------------------------------------------------

    #[inline]
    fn h_bib6(&self, proto: Proto, src6: &[u8; 16], port: u16) -> u64 {
        hash_bib6(&self.hasher, proto as u8, src6, port)
    }

    #[inline]
    fn h_bib4(&self, proto: Proto, v4: u32, port: u16) -> u64 {
        hash_bib4(&self.hasher, proto as u8, v4, port)
    }

    #[inline]
    fn h_sess(&self, bib: u32, raddr: u32, rport: u16) -> u64 {
        let b = &self.bibs[bib as usize];
        hash_sess(&self.hasher, v4key(b.proto, b.v4, b.port4), raddr, rport)
    }

    // ---- lookups -------------------------------------------------------------

    #[inline]
    fn find_bib6(&self, proto: Proto, src6: &[u8; 16], port: u16) -> Option<u32> {
        let bibs = &self.bibs;
        self.bib6.find(self.h_bib6(proto, src6, port), |i| {
            let b = &bibs[i as usize];
            b.port6 == port && b.proto == proto as u8 && b.src6 == *src6
        })
    }

    #[inline]
    fn find_bib4(&self, proto: Proto, v4: u32, port: u16) -> Option<u32> {
        let bibs = &self.bibs;
        self.bib4.find(self.h_bib4(proto, v4, port), |i| {
            let b = &bibs[i as usize];
            b.port4 == port && b.v4 == v4 && b.proto == proto as u8
        })
    }

    #[inline]
    fn find_sess(&self, bib: u32, raddr: u32, rport: u16) -> Option<u32> {
        self.find_sess_hashed(self.h_sess(bib, raddr, rport), bib, raddr, rport)
    }

    /// From the IPv6 side the binding is already in hand: most bindings have one or
    /// two sessions (a TCP client uses a new port per connection), so walking its list
    /// costs one memory round trip where the index costs two. Long lists use the index.
    ///
    /// First of all, the session slot with the binding's own index, where a binding's
    /// first session usually lives (`take_free_session`): its address is known as soon
    /// as the binding's index slot is, so the CPU loads it while the binding is still
    /// on its way from memory: one round trip instead of two.
    #[inline]
    fn find_sess_from_bib(&self, bib: u32, raddr: u32, rport: u16) -> Option<u32> {
        const WALK: usize = 4;
        if let Some(e) = self.sessions.get(bib as usize)
            && e.bib == bib
            && e.raddr == raddr
            && e.rport == rport
            && e.class != C_FREE
        {
            return Some(bib);
        }
        let mut s = self.bibs[bib as usize].first;
        for _ in 0..WALK {
            if s == NIL {
                return None;
            }
            let e = &self.sessions[s as usize];
            if e.raddr == raddr && e.rport == rport {
                return Some(s);
            }
            s = e.b_next;
        }
        if s == NIL {
            return None;
        }
        self.find_sess(bib, raddr, rport)
    }

    #[inline]
    fn find_sess_hashed(&self, h: u64, bib: u32, raddr: u32, rport: u16) -> Option<u32> {
        let ss = &self.sessions;
        self.sess_idx.find(h, |i| {
            let s = &ss[i as usize];
            s.bib == bib && s.raddr == raddr && s.rport == rport
        })
    }

    /// IPv6→IPv4: the mapping for this flow, created if the flow may open one
    /// (RFC 6146 §3.5.1 UDP, §3.5.2 TCP, §3.5.3 ICMP queries with `sport` the
    /// identifier). `tcp_flags` is byte 13 of the TCP header (0 otherwise).
    // The packet's own fields, as the translator has them: no tuple struct to
    // build per packet.
    #[allow(clippy::too_many_arguments)]
    pub fn lookup_or_create_v6(
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

    /// IPv4→IPv6: the IPv6 endpoint for a packet from `src4:sport` to the pool4
    /// address `dst4:dport`.
    // The packet's own fields, as the translator has them: no tuple struct to
    // build per packet.
    #[allow(clippy::too_many_arguments)]
    pub fn lookup_v4(
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
        if let Err(r) = self.may_open_from_v4(b, proto, syn, raddr) {
            return V4Lookup::Refused(self.refuse(r));
        }
        let src6 = self.bibs[b as usize].src6;
        if let Err(r) = self.admit(&src6) {
            return V4Lookup::Refused(self.refuse(r));
        }
        self.create_session(b, raddr, rport, TcpState::V4Init, now32);
        V4Lookup::Forward(self.inbound(b))
    }

    /// The mapping of an existing IPv6-side session, without creating, touching or
    /// counting anything: ICMP errors travel on a session but never create or refresh
    /// one (RFC 6146 §3.5, ICMP error messages), so the translator maps their inner
    /// packet with this. `dport` is ignored for ICMP (the remote "port" is 0).
    pub fn find_v6(
        &self,
        proto: Proto,
        src6: Ipv6Addr,
        sport: u16,
        dst4: Ipv4Addr,
        dport: u16,
    ) -> Option<Outbound> {
        let rport = if proto == Proto::Icmp { 0 } else { dport };
        let b = self.find_bib6(proto, &src6.octets(), sport)?;
        self.find_sess_from_bib(b, u32::from(dst4), rport)?;
        Some(self.outbound(b, false))
    }

    /// The IPv4-side twin of [`find_v6`](Self::find_v6): the IPv6 endpoint of an
    /// existing session between `src4:sport` (the IPv4 peer) and the pool4 address
    /// `dst4:dport`, read-only.
    pub fn find_v4(
        &self,
        proto: Proto,
        src4: Ipv4Addr,
        sport: u16,
        dst4: Ipv4Addr,
        dport: u16,
    ) -> Option<Inbound> {
        let rport = if proto == Proto::Icmp { 0 } else { sport };
        let b = self.find_bib4(proto, u32::from(dst4), dport)?;
        self.find_sess(b, u32::from(src4), rport)?;
        Some(self.inbound(b))
    }

    /// Whether `a` is one of this shard's pool4 addresses (RFC 6146 §3.8: an IPv6
    /// packet to pool6 ∘ pool4 is hairpinned).
    #[inline]
    pub fn is_pool4(&self, a: Ipv4Addr) -> bool {
        self.cfg.pool.addrs.contains(&a)
    }

    /// Filtering for a packet from IPv4 that found a binding but no session.
    fn may_open_from_v4(&self, b: u32, proto: Proto, syn: bool, raddr: u32) -> Result<(), Refusal> {
        if proto == Proto::Tcp {
            if !syn {
                return Err(Refusal::NoSession);
            }
            if self.cfg.drop_externally_initiated_tcp {
                return Err(Refusal::Filtered);
            }
        }
        let bib = &self.bibs[b as usize];
        if self.cfg.filtering == Filtering::AddressDependent && bib.flags & BIB_STATIC == 0 {
            // RFC 4787 REQ-8 address-dependent: the IPv6 side must have sent to this
            // IPv4 address from this binding.
            let mut s = bib.first;
            while s != NIL {
                if self.sessions[s as usize].raddr == raddr {
                    return Ok(());
                }
                s = self.sessions[s as usize].b_next;
            }
            return Err(Refusal::Filtered);
        }
        Ok(())
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

    /// The packet path on an existing session: UDP/ICMP write `last_seen` only; TCP
    /// runs §3.5.2.2 and moves queues only when the lifetime class changes.
    #[inline]
    fn touch(&mut self, s: u32, proto: Proto, side: Side, flags: u8, now32: u32) {
        if proto != Proto::Tcp {
            self.sessions[s as usize].last_seen = now32;
            return;
        }
        let cur = TcpState::from_u8(self.sessions[s as usize].state);
        let step = tcp::on_packet(cur, side, flags);
        if step.next != cur {
            self.sessions[s as usize].state = step.next as u8;
            let class = class_of(Proto::Tcp, step.next);
            if class != self.sessions[s as usize].class {
                self.q_unlink(s);
                self.q_push(s, class, now32);
            }
        }
        if step.refresh {
            self.sessions[s as usize].last_seen = now32;
        }
    }

    // ---- creation --------------------------------------------------------------

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

    fn create_dynamic_bib(
        &mut self,
        proto: Proto,
        src6: &[u8; 16],
        sport: u16,
    ) -> Result<u32, Refusal> {
        // Paired pooling (RFC 4787 REQ-2): the IPv6 host's address picks its IPv4
        // address.
        let a = u128::from_be_bytes(*src6);
        let pref = (self.hasher.h2(a as u64, (a >> 64) as u64 ^ 0x2)
            % self.pool_sorted.len() as u64) as usize;
        let ctr = &mut self.rand_ctr;
        let hasher = self.hasher;
        let (pool, port4) = self
            .ports
            .allocate(proto, sport, pref, || {
                *ctr = ctr.wrapping_add(1);
                hasher.h2(*ctr, 0x6056)
            })
            .ok_or(Refusal::PoolExhausted)?;
        let v4 = u32::from(self.cfg.pool.addrs[pool]);
        Ok(self.insert_bib(Bib {
            src6: *src6,
            v4,
            first: NIL,
            port6: sport,
            port4,
            proto: proto as u8,
            flags: 0,
            pool: pool as u16,
        }))
    }

    fn insert_bib(&mut self, bib: Bib) -> u32 {
        let b = if self.bib_free != NIL {
            let b = self.bib_free;
            self.bib_free = self.bibs[b as usize].first;
            self.bibs[b as usize] = bib;
            b
        } else {
            // Capacity was reserved up front: this push never reallocates.
            self.bibs.push(bib);
            (self.bibs.len() - 1) as u32
        };
        let h6 = self.h_bib6(Proto::from_u8(bib.proto), &bib.src6, bib.port6);
        let h4 = self.h_bib4(Proto::from_u8(bib.proto), bib.v4, bib.port4);
        self.bib6.insert(h6, b);
        self.bib4.insert(h4, b);
        self.nbibs += 1;
        self.counters.bibs_created += 1;
        b
    }

    fn create_session(
        &mut self,
        b: u32,
        raddr: u32,
        rport: u16,
        state: TcpState,
        now32: u32,
    ) -> u32 {
        let proto = Proto::from_u8(self.bibs[b as usize].proto);
        let state = if proto == Proto::Tcp {
            state
        } else {
            TcpState::Closed
        };
        let class = class_of(proto, state);
        let first = self.bibs[b as usize].first;
        let sess = Sess {
            bib: b,
            raddr,
            q_prev: NIL,
            q_next: NIL,
            b_prev: NIL,
            b_next: first,
            last_seen: now32,
            queued: now32,
            rport,
            state: state as u8,
            class: C_FREE,
        };
        let s = self.alloc_session(b);
        self.sessions[s as usize] = sess;
        if first != NIL {
            self.sessions[first as usize].b_prev = s;
        }
        self.bibs[b as usize].first = s;
        let h = self.h_sess(b, raddr, rport);
        self.sess_idx.insert(h, s);
        self.q_push(s, class, now32);
        let a = u128::from_be_bytes(self.bibs[b as usize].src6);
        self.addr_quota.incr(a);
        self.prefix_quota.incr(a & self.prefix_mask);
        self.nsessions += 1;
        self.counters.sessions_created += 1;
        s
    }

    /// A free slot, off the free list, for a new session of binding `b`: slot `b`
    /// itself unless a session of `b` already holds it. Another binding's session in
    /// that slot is moved out first. So every binding with sessions has one at its own
    /// index, where the IPv6 side looks first (see `find_sess_from_bib`).
    fn alloc_session(&mut self, b: u32) -> u32 {
        let bi = b as usize;
        if bi < self.sessions.capacity() {
            while self.sessions.len() <= bi {
                self.push_free_slot();
            }
            let e = &self.sessions[bi];
            if e.class == C_FREE {
                self.free_unlink(b);
                return b;
            }
            if e.bib != b {
                let to = self.alloc_any_session();
                self.relocate_session(b, to);
                return b;
            }
        }
        self.alloc_any_session()
    }

    /// Any free slot, off the free list.
    fn alloc_any_session(&mut self) -> u32 {
        if self.sess_free == NIL {
            // `admit` keeps sessions below the capacity reserved up front, so this
            // push never reallocates.
            self.push_free_slot();
        }
        let s = self.sess_free;
        self.free_unlink(s);
        s
    }

    fn push_free_slot(&mut self) {
        let s = self.sessions.len() as u32;
        self.sessions.push(Sess {
            raddr: 0,
            rport: 0,
            state: 0,
            class: C_FREE,
            b_next: NIL,
            last_seen: 0,
            bib: NIL,
            b_prev: NIL,
            q_prev: NIL,
            q_next: NIL,
            queued: 0,
        });
        self.free_push(s);
    }

    /// Puts slot `s` (already marked C_FREE) at the head of the free list.
    fn free_push(&mut self, s: u32) {
        let head = self.sess_free;
        let slot = &mut self.sessions[s as usize];
        slot.q_prev = NIL;
        slot.q_next = head;
        if head != NIL {
            self.sessions[head as usize].q_prev = s;
        }
        self.sess_free = s;
    }

    /// Takes free slot `s` off the (doubly linked) free list.
    fn free_unlink(&mut self, s: u32) {
        let (prev, next) = {
            let e = &self.sessions[s as usize];
            (e.q_prev, e.q_next)
        };
        if prev == NIL {
            self.sess_free = next;
        } else {
            self.sessions[prev as usize].q_next = next;
        }
        if next != NIL {
            self.sessions[next as usize].q_prev = prev;
        }
    }

    /// Moves live session `from` into slot `to` (free, off the free list) and repoints
    /// every link to it: expiry queue, binding list, session index. Leaves `from` to
    /// the caller. Nobody outside holds session indices, so nothing else can dangle.
    fn relocate_session(&mut self, from: u32, to: u32) {
        let e = self.sessions[from as usize];
        self.sessions[to as usize] = e;
        let q = &mut self.queues[e.class as usize];
        if e.q_prev == NIL {
            q.head = to;
        } else {
            self.sessions[e.q_prev as usize].q_next = to;
        }
        if e.q_next == NIL {
            q.tail = to;
        } else {
            self.sessions[e.q_next as usize].q_prev = to;
        }
        if e.b_prev == NIL {
            self.bibs[e.bib as usize].first = to;
        } else {
            self.sessions[e.b_prev as usize].b_next = to;
        }
        if e.b_next != NIL {
            self.sessions[e.b_next as usize].b_prev = to;
        }
        let h = self.h_sess(e.bib, e.raddr, e.rport);
        let moved = self.sess_idx.replace(h, from, to);
        debug_assert!(moved);
    }

    /// Adds an operator's mapping. Its port is taken out of dynamic allocation when it
    /// lies in this shard's slice of pool4; a pool4 port of another shard's slice is
    /// refused (install it on `Sharding::add_static`'s worker).
    pub fn add_static(&mut self, st: &StaticBib) -> Result<(), Refusal> {
        let v4 = u32::from(st.v4);
        let src6 = st.v6.octets();
        if self.find_bib6(st.proto, &src6, st.v6_port).is_some()
            || self.find_bib4(st.proto, v4, st.v4_port).is_some()
            || self.nbibs >= self.bibs.capacity()
        {
            return Err(Refusal::StaticConflict);
        }
        let pool = self.pool_index(v4);
        if let Some(p) = pool
            && self.cfg.pool.range(st.proto).contains(st.v4_port)
            && !self.ports.reserve(st.proto, usize::from(p), st.v4_port)
        {
            return Err(Refusal::StaticConflict);
        }
        self.insert_bib(Bib {
            src6,
            v4,
            first: NIL,
            port6: st.v6_port,
            port4: st.v4_port,
            proto: st.proto as u8,
            flags: BIB_STATIC,
            pool: pool.unwrap_or(NO_POOL),
        });
        Ok(())
    }

    fn pool_index(&self, v4: u32) -> Option<u16> {
        self.pool_sorted
            .binary_search_by_key(&v4, |&(a, _)| a)
            .ok()
            .map(|i| self.pool_sorted[i].1)
    }

    // ---- held SYNs -------------------------------------------------------------

    fn hold(&mut self, src: u32, sport: u16, dst: u32, dport: u16, now32: u32) -> V4Lookup {
        let dup = self.held.iter().any(|h| {
            h.live && h.src == src && h.sport == sport && h.dst == dst && h.dport == dport
        });
        if dup {
            return V4Lookup::Held;
        }
        if self.held.len() >= self.cfg.max_held_syns {
            return V4Lookup::Refused(self.refuse(Refusal::HeldTableFull));
        }
        self.held.push_back(Held {
            src,
            sport,
            dst,
            dport,
            at: now32,
            live: true,
        });
        self.counters.held_syns += 1;
        V4Lookup::Held
    }

    /// Whether a held V4 SYN waits for the session (binding `b`, peer raddr:rport).
    fn take_held(&mut self, b: u32, raddr: u32, rport: u16) -> bool {
        if self.held.is_empty() {
            return false;
        }
        let (v4, port4) = (self.bibs[b as usize].v4, self.bibs[b as usize].port4);
        for h in self.held.iter_mut() {
            if h.live && h.dst == v4 && h.dport == port4 && h.src == raddr && h.sport == rport {
                h.live = false;
                return true;
            }
        }
        false
    }

    // ---- expiry ----------------------------------------------------------------

    fn q_push(&mut self, s: u32, class: u8, now32: u32) {
        let q = &mut self.queues[class as usize];
        let tail = q.tail;
        if tail == NIL {
            q.head = s;
        }
        q.tail = s;
        if tail != NIL {
            self.sessions[tail as usize].q_next = s;
        }
        let e = &mut self.sessions[s as usize];
        e.q_prev = tail;
        e.q_next = NIL;
        e.class = class;
        e.queued = now32;
    }

    fn q_unlink(&mut self, s: u32) {
        let (prev, next, class) = {
            let e = &self.sessions[s as usize];
            (e.q_prev, e.q_next, e.class)
        };
        let q = &mut self.queues[class as usize];
        if prev == NIL {
            q.head = next;
        } else {
            self.sessions[prev as usize].q_next = next;
        }
        if next == NIL {
            q.tail = prev;
        } else {
            self.sessions[next as usize].q_prev = prev;
        }
    }

    /// Frees what has timed out, looking at no more than `budget` queue heads (plus
    /// held SYNs); returns how many sessions were freed. Events (ICMP errors to send,
    /// probes) go to `on_event`. Call it often (every loop turn or millisecond) with
    /// a small budget: the work per call is bounded and no table is ever scanned.
    pub fn expire(&mut self, now: u64, budget: usize, mut on_event: impl FnMut(Event)) -> usize {
        let now32 = now as u32;
        let mut work = 0;
        self.expire_held(now32, budget, &mut work, &mut on_event);
        let mut freed = 0;
        // Start with a different queue each call so no class starves.
        for k in 0..NCLASS {
            let class = (self.next_class + k) % NCLASS;
            freed += self.expire_class(class as u8, now32, budget, &mut work, &mut on_event);
        }
        self.next_class = (self.next_class + 1) % NCLASS;
        freed
    }

    fn expire_held(
        &mut self,
        now32: u32,
        budget: usize,
        work: &mut usize,
        on_event: &mut impl FnMut(Event),
    ) {
        let limit = self.cfg.timeouts.tcp_incoming_syn as u32;
        while *work < budget {
            let Some(h) = self.held.front() else { break };
            if h.live && now32.wrapping_sub(h.at) < limit {
                break;
            }
            *work += 1;
            let Some(h) = self.held.pop_front() else {
                break;
            };
            if h.live {
                self.counters.held_syns_expired += 1;
                on_event(Event::HeldSynExpired {
                    src: Ipv4Addr::from(h.src),
                    sport: h.sport,
                    dst: Ipv4Addr::from(h.dst),
                    dport: h.dport,
                });
            }
        }
    }

    fn expire_class(
        &mut self,
        class: u8,
        now32: u32,
        budget: usize,
        work: &mut usize,
        on_event: &mut impl FnMut(Event),
    ) -> usize {
        let timeout = self.timeout[class as usize];
        let interval = (timeout / CHECKS).max(1);
        let mut freed = 0;
        while *work < budget {
            let s = self.queues[class as usize].head;
            if s == NIL {
                break;
            }
            let e = self.sessions[s as usize];
            if now32.wrapping_sub(e.queued) < interval {
                break;
            }
            *work += 1;
            self.q_unlink(s);
            if now32.wrapping_sub(e.last_seen) < timeout {
                // Second chance: seen recently, back to the tail.
                self.q_push(s, class, now32);
                self.counters.requeued += 1;
                continue;
            }
            let state = TcpState::from_u8(e.state);
            if class == C_TCP_EST && tcp::on_timeout(state) == OnTimeout::ProbeAndTrans {
                let info = self.info(s, now32);
                self.sessions[s as usize].state = TcpState::Trans as u8;
                self.sessions[s as usize].last_seen = now32;
                self.q_push(s, C_TCP_TRANS, now32);
                self.counters.tcp_probes += 1;
                on_event(Event::TcpProbe(info));
                continue;
            }
            self.free_session(s);
            freed += 1;
        }
        freed
    }

    /// Unlinks a session (already out of its queue) everywhere and frees its binding
    /// when it was the last session of a dynamic one.
    fn free_session(&mut self, s: u32) {
        let e = self.sessions[s as usize];
        let h = self.h_sess(e.bib, e.raddr, e.rport);
        let (ss, bibs, hasher) = (&self.sessions, &self.bibs, self.hasher);
        let removed = self.sess_idx.remove(h, s, |j| {
            let x = &ss[j as usize];
            let b = &bibs[x.bib as usize];
            hash_sess(&hasher, v4key(b.proto, b.v4, b.port4), x.raddr, x.rport)
        });
        debug_assert!(removed);
        if e.b_prev == NIL {
            self.bibs[e.bib as usize].first = e.b_next;
        } else {
            self.sessions[e.b_prev as usize].b_next = e.b_next;
        }
        if e.b_next != NIL {
            self.sessions[e.b_next as usize].b_prev = e.b_prev;
        }
        let bib = self.bibs[e.bib as usize];
        let a = u128::from_be_bytes(bib.src6);
        self.addr_quota.decr(a);
        self.prefix_quota.decr(a & self.prefix_mask);
        // Keep a session of the binding at the binding's own index (`alloc_session`):
        // when the one there goes, another of its sessions moves in.
        let mut hole = s;
        if s == e.bib && bib.first != NIL {
            hole = bib.first;
            self.relocate_session(hole, s);
        }
        self.sessions[hole as usize].class = C_FREE;
        self.free_push(hole);
        self.nsessions -= 1;
        self.counters.sessions_expired += 1;
        if bib.first == NIL && bib.flags & BIB_STATIC == 0 {
            self.free_bib(e.bib);
        }
    }

    fn free_bib(&mut self, b: u32) {
        let (bibs, hasher) = (&self.bibs, self.hasher);
        let e = &bibs[b as usize];
        let (h6, h4) = (
            hash_bib6(&hasher, e.proto, &e.src6, e.port6),
            hash_bib4(&hasher, e.proto, e.v4, e.port4),
        );
        let rehash6 = |j: u32| {
            let x = &bibs[j as usize];
            hash_bib6(&hasher, x.proto, &x.src6, x.port6)
        };
        let removed6 = self.bib6.remove(h6, b, rehash6);
        let rehash4 = |j: u32| {
            let x = &bibs[j as usize];
            hash_bib4(&hasher, x.proto, x.v4, x.port4)
        };
        let removed4 = self.bib4.remove(h4, b, rehash4);
        debug_assert!(removed6 && removed4);
        let e = self.bibs[b as usize];
        if e.pool != NO_POOL {
            self.ports
                .release(Proto::from_u8(e.proto), usize::from(e.pool), e.port4);
        }
        let slot = &mut self.bibs[b as usize];
        slot.flags = BIB_FREE;
        slot.first = self.bib_free;
        self.bib_free = b;
        self.nbibs -= 1;
    }

    // ---- listing ---------------------------------------------------------------

    fn info(&self, s: u32, now32: u32) -> SessionInfo {
        let e = &self.sessions[s as usize];
        let b = &self.bibs[e.bib as usize];
        let proto = Proto::from_u8(b.proto);
        let timeout = self.timeout[e.class as usize];
        SessionInfo {
            proto,
            v6: Ipv6Addr::from(b.src6),
            v6_port: b.port6,
            v4: Ipv4Addr::from(b.v4),
            v4_port: b.port4,
            remote: Ipv4Addr::from(e.raddr),
            remote_port: e.rport,
            state: (proto == Proto::Tcp).then(|| TcpState::from_u8(e.state)),
            expires_in_ms: u64::from(timeout.saturating_sub(now32.wrapping_sub(e.last_seen))),
            is_static: b.flags & BIB_STATIC != 0,
        }
    }

    /// Every live session, for `xlat64 sessions`. Walks the whole slab: a control-path
    /// call, never made per packet.
    pub fn sessions(&self, now: u64) -> impl Iterator<Item = SessionInfo> + '_ {
        let now32 = now as u32;
        (0..self.sessions.len() as u32)
            .filter(|&s| self.sessions[s as usize].class != C_FREE)
            .map(move |s| self.info(s, now32))
    }

    /// Checks every cross-reference of the tables (tests only: walks everything).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let mut live = 0;
        let mut per_bib = vec![0usize; self.bibs.len()];
        for (i, s) in self.sessions.iter().enumerate() {
            if s.class == C_FREE {
                continue;
            }
            live += 1;
            let b = &self.bibs[s.bib as usize];
            assert_eq!(b.flags & BIB_FREE, 0, "session {i} on a free binding");
            per_bib[s.bib as usize] += 1;
            assert_eq!(self.find_sess(s.bib, s.raddr, s.rport), Some(i as u32));
            let p = Proto::from_u8(b.proto);
            assert_eq!(self.find_bib6(p, &b.src6, b.port6), Some(s.bib));
            assert_eq!(self.find_bib4(p, b.v4, b.port4), Some(s.bib));
            if b.pool != NO_POOL && self.ports.slice(p).contains(b.port4) {
                assert!(self.ports.is_used(p, usize::from(b.pool), b.port4));
            }
        }
        assert_eq!(live, self.nsessions);
        let mut nb = 0;
        for (i, b) in self.bibs.iter().enumerate() {
            if b.flags & BIB_FREE != 0 {
                continue;
            }
            nb += 1;
            let mut n = 0;
            let mut s = b.first;
            while s != NIL {
                assert_eq!(self.sessions[s as usize].bib, i as u32);
                n += 1;
                s = self.sessions[s as usize].b_next;
            }
            assert_eq!(n, per_bib[i], "binding {i} list");
            assert!(
                n > 0 || b.flags & BIB_STATIC != 0,
                "empty dynamic binding {i}"
            );
        }
        assert_eq!(nb, self.nbibs);
        let mut queued = 0;
        for (c, q) in self.queues.iter().enumerate() {
            let mut s = q.head;
            let mut prev = NIL;
            while s != NIL {
                let e = &self.sessions[s as usize];
                assert_eq!(e.class as usize, c);
                assert_eq!(e.q_prev, prev);
                queued += 1;
                prev = s;
                s = e.q_next;
            }
            assert_eq!(q.tail, prev);
        }
        assert_eq!(queued, self.nsessions);
        let (mut free, mut prev, mut s) = (0, NIL, self.sess_free);
        while s != NIL {
            let e = &self.sessions[s as usize];
            assert_eq!(e.class, C_FREE, "live session {s} on the free list");
            assert_eq!(e.q_prev, prev, "free list back link of {s}");
            free += 1;
            prev = s;
            s = e.q_next;
        }
        assert_eq!(free + self.nsessions, self.sessions.len());
        for (i, b) in self.bibs.iter().enumerate() {
            if b.flags & BIB_FREE == 0 && b.first != NIL && i < self.sessions.capacity() {
                let e = &self.sessions[i];
                assert!(
                    e.class != C_FREE && e.bib == i as u32,
                    "binding {i} not home"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nat64::config::Pool4;

    /// RFC 6146 §3.5.1 sessions come and go out of order (bindings shared by several
    /// peers, expiry in between): every session stays reachable from the IPv6 side,
    /// the free list stays whole, and most sessions still sit at their binding's index
    /// (the one-round-trip path of `find_sess_from_bib`).
    #[test]
    fn rfc6146_3_5_1_churn_keeps_sessions_at_their_binding() {
        let pool = Pool4::new(vec![Ipv4Addr::new(192, 0, 2, 1)]);
        let mut s = Shard::new(ShardConfig::new(pool, 512), 9).unwrap();
        let step = s.cfg.timeouts.udp / 3;
        let (mut now, mut x) = (0u64, 0x9e37_79b9_u64);
        for _ in 0..60 {
            for _ in 0..150 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let c = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, (x >> 16) as u16 % 48, 1);
                let port = 1024 + (x >> 32) as u16 % 16;
                let peer = Ipv4Addr::new(198, 51, 100, (x & 3) as u8);
                let _ = s.lookup_or_create_v6(Proto::Udp, c, port, peer, 53, 0, now);
            }
            now += step;
            s.expire(now, usize::MAX, |_| {});
            s.check_invariants();
            for i in s.sessions(now) {
                assert!(
                    s.find_v6(i.proto, i.v6, i.v6_port, i.remote, i.remote_port)
                        .is_some()
                );
            }
        }
        // Every binding has a session at its own index (check_invariants).
        assert!(s.session_count() > 200, "{}", s.session_count());
        assert!(s.bib_count() < s.session_count());
    }
}
