//! Index-only open-addressing hash table: slots hold `u32` slab indices, the keys live
//! in the slab. Linear probing with backward-shift deletion (no tombstones), so probe
//! chains never degrade as flows come and go. Sized once: it never resizes, because
//! rehashing millions of entries would stall every packet behind it.

const EMPTY: u32 = u32::MAX;

pub struct IndexTable {
    slots: Box<[u32]>,
    mask: usize,
}

impl IndexTable {
    /// A table for up to `max_entries`, kept at most 3/4 full so that a probe always
    /// reaches an empty slot quickly.
    pub fn new(max_entries: usize) -> Self {
        let want = max_entries.saturating_mul(4) / 3 + 1;
        let n = want.next_power_of_two().max(8);
        IndexTable {
            slots: vec![EMPTY; n].into_boxed_slice(),
            mask: n - 1,
        }
    }

    pub fn bytes(&self) -> usize {
        self.slots.len() * 4
    }

    #[inline]
    fn home(&self, hash: u64) -> usize {
        (hash as usize) & self.mask
    }

    /// The first entry on `hash`'s chain for which `eq` holds.
    #[inline]
    pub fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = self.home(hash);
        loop {
            let v = self.slots[i];
            if v == EMPTY {
                return None;
            }
            if eq(v) {
                return Some(v);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds `idx`; the caller has checked it is absent and the table is below its size.
    pub fn insert(&mut self, hash: u64, idx: u32) {
        let mut i = self.home(hash);
        while self.slots[i] != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = idx;
    }

    /// Removes `idx` (found on `hash`'s chain); `hash_of` recomputes the hash of the
    /// entries that may shift back into the hole.
    pub fn remove(&mut self, hash: u64, idx: u32, hash_of: impl Fn(u32) -> u64) -> bool {
        let mut i = self.home(hash);
        loop {
            let v = self.slots[i];
            if v == EMPTY {
                return false;
            }
            if v == idx {
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
            let home = self.home(hash_of(v));
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
        let hh = |k: u32| u64::from(k.wrapping_mul(2_654_435_761) >> 20);
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
