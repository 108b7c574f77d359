//! Expiry: one FIFO per lifetime class, threaded through the sessions' own links.
//!
//! UDP and ICMP packets only write `last_seen`; TCP moves a session to another FIFO
//! only when its state changes class. The sweeper looks at a head once it has waited
//! a quarter of its timeout: idle past the timeout, it is freed (or, when ESTABLISHED,
//! moved to TRANS with a probe event); otherwise it goes back to the tail (second
//! chance). So the packet path never reorders a queue, an idle session lives between
//! 1 and 1.25 times its timeout, and the work per `expire` call is bounded by its
//! budget: no table is ever scanned.
//!
//! The 1.25 holds only if the sweeper keeps up: a flood creates sessions far faster
//! than a fixed budget per timer tick frees them (256 per second would take an hour for
//! a million). So `expire` says when it stopped on its budget with due heads left
//! ([`Expired::due`]), and the caller calls it again at once, between its packets,
//! until nothing due is left: the backlog drains at the speed of the CPU in bounded
//! steps, never in one stop-the-world pass.

use super::super::config::Proto;
use super::super::tcp::{self, Lifetime, OnTimeout, Side, TcpState};
use super::super::types::Event;
use super::{NIL, Shard};

/// Expiry classes (`Sess::class`): one FIFO each.
const C_UDP: u8 = 0;
const C_ICMP: u8 = 1;
const C_TCP_EST: u8 = 2;
const C_TCP_TRANS: u8 = 3;
const C_TCP_SYN: u8 = 4;
pub(super) const NCLASS: usize = 5;
/// `Sess::class` of a free slot: in no FIFO, on the session free list.
pub(super) const C_FREE: u8 = 255;

/// A queue is looked at every `timeout / CHECKS` per session, so an idle session lives
/// between its timeout and 1.25 × it.
const CHECKS: u32 = 4;

/// Looks the sweeper takes at a session that stays idle until it is freed: one per
/// quarter of its timeout (three second chances, then the free). A caller creating
/// sessions budgets this much expiry work per new session to keep up with them
/// (`dataplane::nat64::expire_budget`).
pub const LOOKS_PER_SESSION: usize = CHECKS as usize;

/// What one [`Shard::expire`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Expired {
    /// Sessions freed.
    pub freed: usize,
    /// The budget ran out with work already due (a queue head or a held SYN past its
    /// time): call again soon, without waiting for the next timer tick, or sessions
    /// outlive their timeout and keep their pool4 ports and quotas.
    pub due: bool,
}

/// Head and tail of one class's queue, linked through `Sess::q_prev`/`q_next`.
#[derive(Clone, Copy)]
pub(super) struct Fifo {
    pub(super) head: u32,
    pub(super) tail: u32,
}

impl Fifo {
    pub(super) const EMPTY: Fifo = Fifo {
        head: NIL,
        tail: NIL,
    };
}

/// The FIFO a session of `proto` in `state` waits in.
pub(super) fn class_of(proto: Proto, state: TcpState) -> u8 {
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
    /// The packet path on an existing session: UDP/ICMP write `last_seen` only; TCP
    /// runs §3.5.2.2 and moves queues only when the lifetime class changes.
    #[inline]
    pub(super) fn touch(&mut self, s: u32, proto: Proto, side: Side, flags: u8, now32: u32) {
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

    /// Appends session `s` to `class`'s queue, stamped `now32`.
    pub(super) fn q_push(&mut self, s: u32, class: u8, now32: u32) {
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

    /// Takes session `s` out of its queue.
    pub(super) fn q_unlink(&mut self, s: u32) {
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

    /// Frees what has timed out, looking at no more than `budget` queue heads and held
    /// SYNs; returns how many sessions were freed and whether due work is left. Events
    /// (ICMP errors to send, probes) go to `on_event`. Call it on every timer tick with
    /// a small budget, and again at once while [`Expired::due`]: the work per call is
    /// bounded and no table is ever scanned.
    pub fn expire(&mut self, now: u64, budget: usize, mut on_event: impl FnMut(Event)) -> Expired {
        let now32 = now as u32;
        self.clock = now;
        self.expire_blocks(now, budget);
        let mut work = 0;
        self.expire_held(now32, budget, &mut work, &mut on_event);
        let mut freed = 0;
        // Start with a different queue each call so no class starves.
        for k in 0..NCLASS {
            let class = (self.next_class + k) % NCLASS;
            freed += self.expire_class(class as u8, now32, budget, &mut work, &mut on_event);
        }
        self.next_class = (self.next_class + 1) % NCLASS;
        // Below its budget every loop stopped at a head not yet due, and what a call
        // re-queues is stamped `now`: nothing due is left then.
        let due = work >= budget && self.expiry_due(now32);
        Expired { freed, due }
    }

    /// Whether a held SYN or a queue head is due for a look.
    fn expiry_due(&self, now32: u32) -> bool {
        self.held_due(now32)
            || (0..NCLASS).any(|class| {
                let s = self.queues[class].head;
                s != NIL
                    && now32.wrapping_sub(self.sessions[s as usize].queued)
                        >= self.check_interval(class as u8)
            })
    }

    /// How long a session waits in `class`'s queue before the sweeper looks at it.
    fn check_interval(&self, class: u8) -> u32 {
        (self.timeout[class as usize] / CHECKS).max(1)
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
        let interval = self.check_interval(class);
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
}
