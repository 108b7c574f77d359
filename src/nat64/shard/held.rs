//! IPv4 SYNs held for a simultaneous open (RFC 6146 §3.5.2.2): an IPv4 SYN with no
//! binding waits up to TCP_INCOMING_SYN for an IPv6 SYN of the same flow, then is
//! answered with ICMP Port Unreachable. The caller keeps the packet; the shard keeps
//! its addresses, at most `max_held_syns` of them, oldest first.

use std::net::Ipv4Addr;

use super::super::types::{Event, Refusal, V4Lookup};
use super::Shard;

/// One held SYN: from the IPv4 peer `src:sport` to the pool4 address `dst:dport`.
pub(super) struct Held {
    src: u32,
    sport: u16,
    dst: u32,
    dport: u16,
    /// When it arrived (wrapping ms).
    at: u32,
    /// False once a simultaneous open took it; the entry then waits its turn to be
    /// dropped from the front of the queue without an event.
    live: bool,
}

impl Shard {
    /// Holds a SYN from `src:sport` to `dst:dport` (a repeat of a held one is not held
    /// twice).
    pub(super) fn hold(
        &mut self,
        src: u32,
        sport: u16,
        dst: u32,
        dport: u16,
        now32: u32,
    ) -> V4Lookup {
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
    pub(super) fn take_held(&mut self, b: u32, raddr: u32, rport: u16) -> bool {
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

    /// Whether the oldest held SYN waits to be dropped: past TCP_INCOMING_SYN, or
    /// already taken by a simultaneous open.
    pub(super) fn held_due(&self, now32: u32) -> bool {
        let limit = self.cfg.timeouts.tcp_incoming_syn as u32;
        self.held
            .front()
            .is_some_and(|h| !h.live || now32.wrapping_sub(h.at) >= limit)
    }

    /// Drops the held SYNs older than TCP_INCOMING_SYN, reporting each that no
    /// simultaneous open took, within the `budget` of the current `expire` call.
    pub(super) fn expire_held(
        &mut self,
        now32: u32,
        budget: usize,
        work: &mut usize,
        on_event: &mut impl FnMut(Event),
    ) {
        while *work < budget && self.held_due(now32) {
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
}
