//! Sessions (RFC 6146 §3.1: a binding plus the IPv4 peer): their slab, its free
//! list, and the one index keyed by (binding's IPv4 transport address, peer) that
//! both directions share.
//!
//! A binding with sessions keeps one of them in the session slot with the binding's
//! own index, moving a foreign session out when needed: the IPv6 side can then load
//! that slot in parallel with the binding (one memory round trip instead of two).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::super::config::Proto;
use super::super::events::NatEventKind;
use super::super::hash::Hasher;
use super::super::tcp::TcpState;
use super::super::types::SessionInfo;
use super::bib::BIB_STATIC;
use super::expiry::{C_FREE, class_of};
use super::{NIL, Shard};

/// A session: binding + IPv4 peer, with intrusive links for its expiry queue and its
/// binding's session list. 36 bytes; what a lookup reads and writes comes first (20
/// bytes), so it mostly sits in one cache line.
#[derive(Clone, Copy)]
#[repr(C)]
pub(super) struct Sess {
    pub(super) raddr: u32,
    pub(super) rport: u16,
    pub(super) state: u8,
    pub(super) class: u8,
    pub(super) b_next: u32,
    /// Milliseconds, wrapping: the only field the packet path writes for UDP/ICMP.
    pub(super) last_seen: u32,
    pub(super) bib: u32,
    pub(super) b_prev: u32,
    pub(super) q_prev: u32,
    /// Expiry-queue link; the free-list link while free.
    pub(super) q_next: u32,
    /// When the session last entered its queue (wrapping ms).
    pub(super) queued: u32,
}

// The layout the module docs' memory figures rely on.
const _: () = assert!(size_of::<Sess>() == 36);

#[inline]
pub(super) fn hash_sess(h: &Hasher, v4key: u64, raddr: u32, rport: u16) -> u64 {
    h.h3(v4key, u64::from(raddr) << 16 | u64::from(rport), 0x5e55)
}

/// The binding's IPv4 transport address as one word. Sessions are hashed by their IPv4
/// view, so an IPv4 packet probes the session index and the binding index at once
/// (two overlapping memory round trips instead of four in a row).
#[inline]
pub(super) fn v4key(proto: u8, v4: u32, port4: u16) -> u64 {
    u64::from(v4) << 32 | u64::from(port4) << 8 | u64::from(proto)
}

impl Shard {
    #[inline]
    fn h_sess(&self, bib: u32, raddr: u32, rport: u16) -> u64 {
        let b = &self.bibs[bib as usize];
        hash_sess(&self.hasher, v4key(b.proto, b.v4, b.port4), raddr, rport)
    }

    /// The session of binding `bib` with the peer `raddr:rport`, through the index.
    #[inline]
    pub(super) fn find_sess(&self, bib: u32, raddr: u32, rport: u16) -> Option<u32> {
        self.find_sess_hashed(self.h_sess(bib, raddr, rport), bib, raddr, rport)
    }

    /// From the IPv6 side the binding is already in hand: most bindings have one or
    /// two sessions (a TCP client uses a new port per connection), so walking its list
    /// costs one memory round trip where the index costs two. Long lists use the index.
    ///
    /// First of all, the session slot with the binding's own index, where a binding's
    /// first session usually lives (`alloc_session`): its address is known as soon
    /// as the binding's index slot is, so the CPU loads it while the binding is still
    /// on its way from memory: one round trip instead of two.
    #[inline]
    pub(super) fn find_sess_from_bib(&self, bib: u32, raddr: u32, rport: u16) -> Option<u32> {
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

    /// [`find_sess`](Self::find_sess) with the hash already computed, so that the
    /// IPv4 side can start this probe before it knows the binding.
    #[inline]
    pub(super) fn find_sess_hashed(&self, h: u64, bib: u32, raddr: u32, rport: u16) -> Option<u32> {
        let ss = &self.sessions;
        self.sess_idx.find(h, |i| {
            let s = &ss[i as usize];
            s.bib == bib && s.raddr == raddr && s.rport == rport
        })
    }

    /// A new session of binding `b` with the peer `raddr:rport`, queued for expiry and
    /// counted against its subscriber's quotas (`admit` checked them).
    pub(super) fn create_session(
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
        self.usage.sessions[proto as usize] += 1;
        self.counters.sessions_created += 1;
        self.log_session(NatEventKind::SessionCreate, b, raddr, rport);
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

    /// Grows the slab by one free slot, within the capacity reserved up front.
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

    /// Unlinks a session (already out of its queue) everywhere and frees its binding
    /// when it was the last session of a dynamic one.
    pub(super) fn free_session(&mut self, s: u32) {
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
        self.log_session(NatEventKind::SessionDelete, e.bib, e.raddr, e.rport);
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
        self.usage.sessions[usize::from(bib.proto)] -= 1;
        self.counters.sessions_expired += 1;
        if bib.first == NIL && bib.flags & BIB_STATIC == 0 {
            self.free_bib(e.bib);
        }
    }

    /// Session `s` as the control plane and probes see it.
    pub(super) fn info(&self, s: u32, now32: u32) -> SessionInfo {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nat64::config::{Pool4, ShardConfig};
    use crate::nat64::tuple::{Endpoint4, Endpoint6, Tuple6};

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
                let t = Tuple6 {
                    proto: Proto::Udp,
                    v6: Endpoint6::new(c, port),
                    remote: Endpoint4::new(peer, 53),
                };
                let _ = s.lookup_or_create_v6(t, 0, now);
            }
            now += step;
            s.expire(now, usize::MAX, |_| {});
            s.check_invariants();
            for i in s.sessions(now) {
                let t = Tuple6 {
                    proto: i.proto,
                    v6: Endpoint6::new(i.v6, i.v6_port),
                    remote: Endpoint4::new(i.remote, i.remote_port),
                };
                assert!(s.find_v6(t).is_some());
            }
        }
        // Every binding has a session at its own index (check_invariants).
        assert!(s.session_count() > 200, "{}", s.session_count());
        assert!(s.bib_count() < s.session_count());
    }
}
