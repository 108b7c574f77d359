//! Index-only open-addressing hash table: slots hold `u32` slab indices, the keys live
//! in the slab. Linear probing with backward-shift deletion (no tombstones), so probe
//! chains never degrade as flows come and go. Sized once: it never resizes, because
//! rehashing millions of entries would stall every packet behind it.
//!
//! A slot holds `index + 1` in its low bits (0 is empty, so the table starts as
//! zero pages the kernel has not mapped yet: huge-page advice given after `new` still
//! applies) and, in the bits the index does not need, a tag taken from the hash. A
//! lookup compares tags before it reads the slab, so a probe past a foreign entry costs
//! no memory round trip: at 60 % load a hit passes 0.75 foreign entries on average,
//! each a DRAM miss without the tag. Tables of up to 2^24 entries keep 8 tag bits
//! (1 foreign entry in 256 reaches the slab); larger ones keep fewer, down to none.

const EMPTY: u32 = 0;

pub struct IndexTable {
    slots: Box<[u32]>,
    mask: usize,
    /// Low bits of a slot: the slab index + 1.
    idx_mask: u32,
}

impl IndexTable {
    /// A table for up to `max_entries` (below 2^32 - 1), kept at most 3/4 full so that
    /// a probe always reaches an empty slot quickly.
    pub fn new(max_entries: usize) -> Self {
        let want = max_entries.saturating_mul(4) / 3 + 1;
        let n = want.next_power_of_two().max(8);
        IndexTable {
            // Zeroed: comes straight from fresh (untouched) pages for large tables.
            slots: vec![EMPTY; n].into_boxed_slice(),
            mask: n - 1,
            idx_mask: idx_mask_for(max_entries),
        }
    }

    pub fn bytes(&self) -> usize {
        self.slots.len() * 4
    }

    /// The slot array, for huge-page advice.
    pub fn region(&self) -> (*const u8, usize) {
        (self.slots.as_ptr().cast(), self.bytes())
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        (hash as usize) & self.mask
    }

    /// The tag bits of `hash`: the high half, where `home` does not look.
    #[inline]
    fn tag(&self, hash: u64) -> u32 {
        ((hash >> 32) as u32) & !self.idx_mask
    }

    /// Starts loading `hash`'s home slot into the cache, for a lookup a little later.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if let Some(slot) = self.slots.get(self.home(hash)) {
            prefetch_read(slot);
        }
    }

    /// The first entry on `hash`'s chain for which `eq` holds.
    #[inline]
    pub fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let tag = self.tag(hash);
        let mut i = self.home(hash);
        loop {
            let v = self.slots[i];
            if v == EMPTY {
                return None;
            }
            if v & !self.idx_mask == tag {
                let idx = (v & self.idx_mask).wrapping_sub(1);
                if eq(idx) {
                    return Some(idx);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds `idx`; the caller has checked it is absent and the table is below its size.
    pub fn insert(&mut self, hash: u64, idx: u32) {
        debug_assert!(idx < self.idx_mask);
        let v = self.tag(hash) | (idx.wrapping_add(1) & self.idx_mask);
        let mut i = self.home(hash);
        while self.slots[i] != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = v;
    }

    /// Repoints the entry for `old` (on `hash`'s chain) to `new`, which takes its key.
    pub fn replace(&mut self, hash: u64, old: u32, new: u32) -> bool {
        let want = old.wrapping_add(1) & self.idx_mask;
        let mut i = self.home(hash);
        loop {
            let v = self.slots[i];
            if v == EMPTY {
                return false;
            }
            if v & self.idx_mask == want {
                self.slots[i] = (v & !self.idx_mask) | (new.wrapping_add(1) & self.idx_mask);
                return true;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Removes `idx` (found on `hash`'s chain); `hash_of` recomputes the hash of the
    /// entries that may shift back into the hole.
    pub fn remove(&mut self, hash: u64, idx: u32, hash_of: impl Fn(u32) -> u64) -> bool {
        let want = idx.wrapping_add(1) & self.idx_mask;
        let mut i = self.home(hash);
        loop {
            let v = self.slots[i];
            if v == EMPTY {
                return false;
            }
            if v & self.idx_mask == want {
                break;
            }
            i = (i + 1) & self.mask;
        }
        let mut hole = i;
        let mut j = (hole + 1) & self.mask;
        loop {
            let v = self.slots[j];
            if v == EMPTY {
                break;
            }
            let home = self.home(hash_of((v & self.idx_mask).wrapping_sub(1)));
            // `v` may move into the hole when the hole lies on its probe path
            // [home, j), measured cyclically.
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.slots[hole] = v;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.slots[hole] = EMPTY;
        true
    }
}

/// Enough low bits for `max_entries` itself, the largest value a slot stores (index + 1).
fn idx_mask_for(max_entries: usize) -> u32 {
    let bits = (usize::BITS - max_entries.leading_zeros()).min(32);
    u32::MAX.checked_shr(32 - bits).unwrap_or(0)
}

/// A hint to the CPU; no-op where we have no prefetch instruction.
#[inline]
fn prefetch_read<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCH only hints the cache; it never faults nor changes memory, and
    // `r` is a live reference anyway. SSE (which has it) is part of the x86_64 baseline.
    unsafe {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>((r as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys equal to their index; a deliberately bad hash puts many on one chain.
    fn h(k: u32) -> u64 {
        u64::from(k % 5)
    }

    #[test]
    fn insert_find_remove_with_collisions() {
        let mut t = IndexTable::new(40);
        for k in 0..40 {
            t.insert(h(k), k);
        }
        for k in 0..40 {
            assert_eq!(t.find(h(k), |v| v == k), Some(k));
        }
        for k in (0..40).step_by(3) {
            assert!(t.remove(h(k), k, h));
        }
        for k in 0..40 {
            let want = if k % 3 == 0 { None } else { Some(k) };
            assert_eq!(t.find(h(k), |v| v == k), want, "key {k}");
        }
        assert!(!t.remove(h(0), 0, h));
    }

    #[test]
    fn tag_bits_are_what_the_index_leaves() {
        assert_eq!(idx_mask_for(40), 0x3f);
        assert_eq!(idx_mask_for(63), 0x3f);
        assert_eq!(idx_mask_for(64), 0x7f);
        assert_eq!(idx_mask_for(10_000_000), 0x00ff_ffff);
        assert_eq!(idx_mask_for(u32::MAX as usize / 2), 0x7fff_ffff);
        assert_eq!(idx_mask_for(u32::MAX as usize - 1), u32::MAX);
    }

    #[test]
    fn foreign_tags_never_reach_the_slab() {
        // Same home slot, different high hash bits: `eq` sees only the matching tag.
        let mut t = IndexTable::new(40);
        let hash = |k: u32| u64::from(k) << 58 | 3;
        for k in 0..20 {
            t.insert(hash(k), k);
        }
        for k in 0..20 {
            let mut seen = Vec::new();
            let got = t.find(hash(k), |v| {
                seen.push(v);
                v == k
            });
            assert_eq!(got, Some(k));
            assert_eq!(seen, [k]);
        }
        // A miss on an unused tag reads no entry at all.
        assert_eq!(t.find(hash(40), |_| panic!("slab read")), None);
    }

    #[test]
    fn replace_keeps_the_key_and_changes_the_index() {
        let mut t = IndexTable::new(40);
        for k in 0..10 {
            t.insert(h(k), k);
        }
        assert!(t.replace(h(7), 7, 30));
        assert_eq!(t.find(h(7), |v| v == 7), None);
        assert_eq!(t.find(h(7), |v| v == 30), Some(30));
        assert!(!t.replace(h(7), 7, 31));
        assert!(t.remove(h(7), 30, |v| if v == 30 { h(7) } else { h(v) }));
        for k in (0..10).filter(|&k| k != 7) {
            assert_eq!(t.find(h(k), |v| v == k), Some(k));
        }
    }

    #[test]
    fn wraps_around_the_end() {
        let mut t = IndexTable::new(5);
        let last = t.mask as u64;
        for k in 0..5 {
            t.insert(last, k);
        }
        assert!(t.remove(last, 1, |_| last));
        for k in [0, 2, 3, 4] {
            assert_eq!(t.find(last, |v| v == k), Some(k));
        }
    }

    #[test]
    fn random_ops_match_a_model() {
        use std::collections::HashSet;
        let mut t = IndexTable::new(300);
        let mut model = HashSet::new();
        let mut x = 12345u64;
        // Few home bits and few tag bits: long chains with equal tags.
        let hh = |k: u32| {
            let m = u64::from(k.wrapping_mul(2_654_435_761));
            (m >> 20) | (m & 0x3) << 62
        };
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = (x % 400) as u32;
            if model.contains(&k) {
                assert!(t.remove(hh(k), k, hh));
                model.remove(&k);
            } else if model.len() < 300 {
                t.insert(hh(k), k);
                model.insert(k);
            }
            let probe = ((x >> 32) % 400) as u32;
            assert_eq!(
                t.find(hh(probe), |v| v == probe).is_some(),
                model.contains(&probe)
            );
        }
    }
}
