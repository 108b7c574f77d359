//! Pool4 ports for dynamic bindings under the three `port-allocation` modes, and the
//! NAT event records they make (`nat64::events`): per mapping in `session` mode, per
//! block in `block` mode, none in `deterministic` mode (session records with the
//! remote end only when asked for, in any mode).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::super::blocks::{BlockChange, BlockRefusal, PortAllocation};
use super::super::config::{PortRange, Proto};
use super::super::events::{NatEvent, NatEventKind};
use super::super::types::Refusal;
use super::Shard;
use super::bib::{Bib, NO_POOL};

/// Appends a record to the shard's bounded buffer, or counts it lost.
fn push(events: &mut Vec<NatEvent>, lost: &mut u64, ev: NatEvent) {
    if events.len() < events.capacity() {
        events.push(ev);
    } else {
        *lost += 1;
    }
}

impl Shard {
    /// The pool4 address (index) and port for a new binding of `src6:sport`.
    pub(super) fn allocate_port(
        &mut self,
        proto: Proto,
        src6: &[u8; 16],
        sport: u16,
    ) -> Result<(usize, u16), Refusal> {
        let a = u128::from_be_bytes(*src6);
        // Paired pooling (RFC 4787 REQ-2): the IPv6 host's address picks its IPv4
        // address.
        let pref = (self.hasher.h2(a as u64, (a >> 64) as u64 ^ 0x2)
            % self.pool_sorted.len() as u64) as usize;
        self.rand_ctr = self.rand_ctr.wrapping_add(1);
        let (seed, hasher) = (self.rand_ctr, self.hasher);
        let mut k = 0u64;
        let mut rand = move || {
            k += 1;
            hasher.h2(seed, 0x6056 ^ k << 20)
        };
        match self.cfg.blocks.mode {
            PortAllocation::Session => self
                .ports
                .allocate(proto, sport, pref, rand)
                .ok_or(Refusal::PoolExhausted),
            PortAllocation::Deterministic => {
                let det = self.det[proto as usize].as_ref();
                let (v4, block) = det
                    .and_then(|d| d.block_of(Ipv6Addr::from(*src6)))
                    .ok_or(Refusal::PoolExhausted)?;
                let pool = usize::from(
                    self.pool_index(u32::from(v4))
                        .ok_or(Refusal::PoolExhausted)?,
                );
                let port = self
                    .ports
                    .allocate_in(proto, pool, block, sport, rand)
                    .ok_or(Refusal::PrefixLimit)?;
                Ok((pool, port))
            }
            PortAllocation::Block => self.allocate_from_blocks(proto, src6, sport, pref, &mut rand),
        }
    }

    fn allocate_from_blocks(
        &mut self,
        proto: Proto,
        src6: &[u8; 16],
        sport: u16,
        pref: usize,
        rand: &mut impl FnMut() -> u64,
    ) -> Result<(usize, u16), Refusal> {
        let Some(blocks) = self.blocks.as_mut() else {
            return Err(Refusal::PoolExhausted);
        };
        let prefix = u128::from_be_bytes(*src6) & self.prefix_mask;
        let (ports, events, lost) = (&mut self.ports, &mut self.events, &mut self.events_lost);
        let (addrs, now, len, log) = (
            &self.cfg.pool.addrs,
            self.clock,
            self.cfg.subscriber_prefix_len,
            self.cfg.events.enabled,
        );
        let seed = rand();
        let mut k = 0u64;
        let hasher = self.hasher;
        blocks
            .allocate(
                proto,
                prefix,
                pref,
                &mut *rand,
                |addr, block| {
                    ports.allocate_in(proto, addr, block, sport, || {
                        k += 1;
                        hasher.h2(seed, k)
                    })
                },
                |c| {
                    if log {
                        let ev = block_event(NatEventKind::BlockAlloc, c, addrs, now, len, *src6);
                        push(events, lost, ev);
                    }
                },
            )
            .map_err(|e| match e {
                BlockRefusal::Limit => Refusal::PrefixLimit,
                BlockRefusal::Exhausted => Refusal::PoolExhausted,
                BlockRefusal::Full => Refusal::SubscriberTableFull,
            })
    }

    /// Gives back the pool4 port of binding `e` (dynamic or static) and, for a
    /// dynamic one, its share of its block; records the mapping's end.
    pub(super) fn release_port(&mut self, e: &Bib, is_static: bool) {
        if e.pool == NO_POOL {
            return;
        }
        let proto = Proto::from_u8(e.proto);
        let pool = usize::from(e.pool);
        self.ports.release(proto, pool, e.port4);
        if is_static {
            return;
        }
        if self.cfg.blocks.mode == PortAllocation::Session {
            self.log_bib(NatEventKind::BibDelete, e);
            return;
        }
        let (events, lost) = (&mut self.events, &mut self.events_lost);
        let (addrs, now, len, log) = (
            &self.cfg.pool.addrs,
            self.clock,
            self.cfg.subscriber_prefix_len,
            self.cfg.events.enabled,
        );
        if let Some(b) = self.blocks.as_mut() {
            b.release(proto, pool, e.port4, now, |c| {
                if log {
                    let v6 = c.prefix.to_be_bytes();
                    let ev = block_event(NatEventKind::BlockRelease, c, addrs, now, len, v6);
                    push(events, lost, ev);
                }
            });
        }
    }

    /// Releases port blocks whose hold time has passed.
    pub(super) fn expire_blocks(&mut self, now: u64, budget: usize) {
        let (events, lost) = (&mut self.events, &mut self.events_lost);
        let (addrs, len, log) = (
            &self.cfg.pool.addrs,
            self.cfg.subscriber_prefix_len,
            self.cfg.events.enabled,
        );
        if let Some(b) = self.blocks.as_mut() {
            b.expire(now, budget, |c| {
                if log {
                    let v6 = c.prefix.to_be_bytes();
                    let ev = block_event(NatEventKind::BlockRelease, c, addrs, now, len, v6);
                    push(events, lost, ev);
                }
            });
        }
    }

    /// A mapping record (`session` mode only: blocks and the formula say it all).
    pub(super) fn log_bib(&mut self, kind: NatEventKind, e: &Bib) {
        if !self.cfg.events.enabled || self.cfg.blocks.mode != PortAllocation::Session {
            return;
        }
        let ev = NatEvent {
            kind,
            time_ms: self.clock,
            proto: Proto::from_u8(e.proto),
            v6: Ipv6Addr::from(e.src6),
            v6_port: e.port6,
            prefix_len: self.cfg.subscriber_prefix_len,
            v4: Ipv4Addr::from(e.v4),
            port_first: e.port4,
            port_last: e.port4,
            remote: None,
        };
        push(&mut self.events, &mut self.events_lost, ev);
    }

    /// A session record with the remote end (`nat-log-remote`), in any mode.
    pub(super) fn log_session(&mut self, kind: NatEventKind, bib: u32, raddr: u32, rport: u16) {
        if !self.cfg.events.enabled || !self.cfg.events.remote {
            return;
        }
        let e = self.bibs[bib as usize];
        let ev = NatEvent {
            kind,
            time_ms: self.clock,
            proto: Proto::from_u8(e.proto),
            v6: Ipv6Addr::from(e.src6),
            v6_port: e.port6,
            prefix_len: self.cfg.subscriber_prefix_len,
            v4: Ipv4Addr::from(e.v4),
            port_first: e.port4,
            port_last: e.port4,
            remote: Some((Ipv4Addr::from(raddr), rport)),
        };
        push(&mut self.events, &mut self.events_lost, ev);
    }

    /// Hands every buffered record to `f`, oldest first (the worker moves them to its
    /// queue to the logging thread). Times are this shard's clock.
    pub fn drain_events(&mut self, f: impl FnMut(NatEvent)) {
        self.events.drain(..).for_each(f);
    }

    /// Records waiting for [`drain_events`](Self::drain_events).
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    /// Records the shard's buffer had no room for.
    pub fn events_lost(&self) -> u64 {
        self.events_lost
    }

    /// Port blocks held by subscribers (`block` mode).
    pub fn blocks_in_use(&self) -> usize {
        self.blocks.as_ref().map_or(0, |b| b.in_use())
    }

    /// Each held port block: (proto, subscriber prefix, pool4 address, ports,
    /// bindings using it). A control-path call.
    pub fn port_blocks(&self) -> Vec<(Proto, Ipv6Addr, Ipv4Addr, PortRange, u32)> {
        let Some(b) = self.blocks.as_ref() else {
            return Vec::new();
        };
        b.blocks()
            .map(|(p, prefix, a, r, used)| {
                (p, Ipv6Addr::from(prefix), self.cfg.pool.addrs[a], r, used)
            })
            .collect()
    }
}

fn block_event(
    kind: NatEventKind,
    c: BlockChange,
    addrs: &[Ipv4Addr],
    now: u64,
    prefix_len: u8,
    v6: [u8; 16],
) -> NatEvent {
    NatEvent {
        kind,
        time_ms: now,
        proto: c.proto,
        v6: Ipv6Addr::from(v6),
        v6_port: 0,
        prefix_len,
        v4: addrs[c.addr],
        port_first: c.ports.first,
        port_last: c.ports.last,
        remote: None,
    }
}
