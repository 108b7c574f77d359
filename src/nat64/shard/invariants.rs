//! The tables' cross-references, checked by walking everything: tests only.

use super::super::config::Proto;
use super::bib::{BIB_FREE, BIB_STATIC, NO_POOL};
use super::expiry::C_FREE;
use super::{NIL, Shard};

impl Shard {
    /// Checks every cross-reference of the tables (tests only: walks everything).
    pub(crate) fn check_invariants(&self) {
        let mut live = 0;
        let mut per_bib = vec![0usize; self.bibs.len()];
        let mut usage = super::Usage::new(self.usage.ports.len());
        for (i, s) in self.sessions.iter().enumerate() {
            if s.class == C_FREE {
                continue;
            }
            live += 1;
            let b = &self.bibs[s.bib as usize];
            usage.sessions[usize::from(b.proto)] += 1;
            assert_eq!(b.flags & BIB_FREE, 0, "session {i} on a free binding");
            per_bib[s.bib as usize] += 1;
            assert_eq!(self.find_sess(s.bib, s.raddr, s.rport), Some(i as u32));
            let p = Proto::from_u8(b.proto);
            assert_eq!(self.find_bib6(p, &b.src6, b.port6), Some(s.bib));
            assert_eq!(self.find_bib4(p, b.v4, b.port4), Some(s.bib));
            if b.pool != NO_POOL && self.ports.in_slice(p, b.port4) {
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
            usage.add_bib(b.proto, b.pool, 1);
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
        assert_eq!(usage, self.usage, "usage by protocol and address");
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
