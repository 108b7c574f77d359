//! Bindings (the BIB, RFC 6146 §3.1): the slab of IPv6 ↔ IPv4 transport-address
//! pairs and its two index-only tables, one per side, so that a packet from either
//! side finds its binding by its own transport address in one probe. Dynamic bindings
//! take a pool4 port from this shard's slice; static ones come from the operator.

use super::super::config::Proto;
use super::super::events::NatEventKind;
use super::super::hash::Hasher;
use super::super::types::{Refusal, StaticBib};
use super::{NIL, Shard};

/// `Bib::flags`: the slot is on the free list.
pub(super) const BIB_FREE: u8 = 1;
/// `Bib::flags`: an operator's entry, kept with no sessions and never filtered.
pub(super) const BIB_STATIC: u8 = 2;
/// `Bib::pool` of an address outside pool4 (a static entry's), which has no bitmap.
pub(super) const NO_POOL: u16 = u16::MAX;

/// A binding (RFC 6146 §3.1): IPv6 transport address ↔ IPv4 transport address.
/// 32 bytes, aligned so that one never straddles two cache lines (a lookup then costs
/// one memory round trip, not two).
#[derive(Clone, Copy)]
#[repr(C, align(32))]
pub(super) struct Bib {
    pub(super) src6: [u8; 16],
    pub(super) v4: u32,
    /// First session of this binding; the free-list link while free.
    pub(super) first: u32,
    pub(super) port6: u16,
    pub(super) port4: u16,
    pub(super) proto: u8,
    pub(super) flags: u8,
    /// Index of `v4` in pool4 (for the port bitmap), or NO_POOL.
    pub(super) pool: u16,
}

// The layout the module docs' memory figures and cache-line argument rely on.
const _: () = assert!(size_of::<Bib>() == 32 && align_of::<Bib>() == 32);

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

impl Shard {
    #[inline]
    pub(super) fn h_bib6(&self, proto: Proto, src6: &[u8; 16], port: u16) -> u64 {
        hash_bib6(&self.hasher, proto as u8, src6, port)
    }

    #[inline]
    pub(super) fn h_bib4(&self, proto: Proto, v4: u32, port: u16) -> u64 {
        hash_bib4(&self.hasher, proto as u8, v4, port)
    }

    #[inline]
    pub(super) fn find_bib6(&self, proto: Proto, src6: &[u8; 16], port: u16) -> Option<u32> {
        let bibs = &self.bibs;
        self.bib6.find(self.h_bib6(proto, src6, port), |i| {
            let b = &bibs[i as usize];
            b.port6 == port && b.proto == proto as u8 && b.src6 == *src6
        })
    }

    #[inline]
    pub(super) fn find_bib4(&self, proto: Proto, v4: u32, port: u16) -> Option<u32> {
        let bibs = &self.bibs;
        self.bib4.find(self.h_bib4(proto, v4, port), |i| {
            let b = &bibs[i as usize];
            b.port4 == port && b.v4 == v4 && b.proto == proto as u8
        })
    }

    /// A new binding for `src6:sport` with a pool4 port from this shard's slice.
    pub(super) fn create_dynamic_bib(
        &mut self,
        proto: Proto,
        src6: &[u8; 16],
        sport: u16,
    ) -> Result<u32, Refusal> {
        let (pool, port4) = self.allocate_port(proto, src6, sport)?;
        let v4 = u32::from(self.cfg.pool.addrs[pool]);
        let bib = Bib {
            src6: *src6,
            v4,
            first: NIL,
            port6: sport,
            port4,
            proto: proto as u8,
            flags: 0,
            pool: pool as u16,
        };
        self.log_bib(NatEventKind::BibCreate, &bib);
        Ok(self.insert_bib(bib))
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
        self.usage.add_bib(bib.proto, bib.pool, 1);
        self.counters.bibs_created += 1;
        b
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

    /// A reload's change of the static entries, all or nothing: `remove` (each must
    /// hold no session), then `add`. On a refusal the shard is as it was, and the
    /// message names the entry.
    pub fn change_statics(
        &mut self,
        remove: &[StaticBib],
        add: &[StaticBib],
    ) -> Result<(), String> {
        let mut found = Vec::with_capacity(remove.len());
        for st in remove {
            let b = self
                .find_bib4(st.proto, u32::from(st.v4), st.v4_port)
                .filter(|&b| self.bibs[b as usize].flags & BIB_STATIC != 0)
                .ok_or_else(|| format!("\"{st}\" is not installed"))?;
            if self.bibs[b as usize].first != NIL {
                return Err(format!(
                    "\"{st}\" holds sessions: it can go once they have expired, or at a restart"
                ));
            }
            found.push(b);
        }
        for b in found {
            self.free_bib(b);
        }
        for (i, st) in add.iter().enumerate() {
            if self.add_static(st).is_err() {
                // Undo: the entries added here hold no session yet (this thread
                // translates nothing meanwhile), and the removed ones' ports are free.
                for done in &add[..i] {
                    if let Some(b) = self.find_bib4(done.proto, u32::from(done.v4), done.v4_port) {
                        self.free_bib(b);
                    }
                }
                for st in remove {
                    let _ = self.add_static(st);
                }
                return Err(format!(
                    "\"{st}\": its IPv4 or IPv6 address and port are already mapped"
                ));
            }
        }
        Ok(())
    }

    /// Whether the IPv6 side of `st` already has a mapping here: a static entry pins
    /// it to another worker, where this one's flows would no longer arrive.
    pub fn maps_v6(&self, st: &StaticBib) -> bool {
        self.find_bib6(st.proto, &st.v6.octets(), st.v6_port)
            .is_some()
    }

    pub(super) fn pool_index(&self, v4: u32) -> Option<u16> {
        self.pool_sorted
            .binary_search_by_key(&v4, |&(a, _)| a)
            .ok()
            .map(|i| self.pool_sorted[i].1)
    }

    /// Takes binding `b` (with no sessions left) out of both indexes, gives its pool4
    /// port back and puts its slot on the free list.
    pub(super) fn free_bib(&mut self, b: u32) {
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
        self.release_port(&e, e.flags & BIB_STATIC != 0);
        let slot = &mut self.bibs[b as usize];
        slot.flags = BIB_FREE;
        slot.first = self.bib_free;
        self.bib_free = b;
        self.nbibs -= 1;
        self.usage.add_bib(e.proto, e.pool, -1);
    }
}
