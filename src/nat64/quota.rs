//! Per-subscriber session counts, so that one IPv6 host or one customer prefix cannot
//! take the whole pool. Open addressing with inline keys; a count of zero marks an empty
//! slot, and an entry leaves the table when its last session goes.

use super::hash::Hasher;

/// Why a new flow was refused by a quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaError {
    /// This key is at its limit.
    Limit,
    /// The table already tracks as many subscribers as it was sized for.
    Full,
}

pub struct QuotaTable {
    keys: Box<[u128]>,
    counts: Box<[u32]>,
    mask: usize,
    len: usize,
    cap: usize,
    hasher: Hasher,
}

impl QuotaTable {
    pub fn new(cap: usize, hasher: Hasher) -> Self {
        let n = (cap.saturating_mul(4) / 3 + 1).next_power_of_two().max(8);
        QuotaTable {
            keys: vec![0; n].into_boxed_slice(),
            counts: vec![0; n].into_boxed_slice(),
            mask: n - 1,
            len: 0,
            cap,
            hasher,
        }
    }

    pub fn bytes(&self) -> usize {
        self.keys.len() * 20
    }

    #[inline]
    fn home(&self, key: u128) -> usize {
        (self.hasher.h2(key as u64, (key >> 64) as u64) as usize) & self.mask
    }

    /// The slot holding `key`, or the empty slot where it would go.
    fn slot(&self, key: u128) -> usize {
        let mut i = self.home(key);
        while self.counts[i] != 0 && self.keys[i] != key {
            i = (i + 1) & self.mask;
        }
        i
    }

    pub fn get(&self, key: u128) -> u32 {
        self.counts[self.slot(key)]
    }

    /// Whether one more session for `key` stays within `limit`.
    pub fn check(&self, key: u128, limit: u32) -> Result<(), QuotaError> {
        let n = self.get(key);
        if n >= limit {
            Err(QuotaError::Limit)
        } else if n == 0 && self.len >= self.cap {
            Err(QuotaError::Full)
        } else {
            Ok(())
        }
    }

    /// Counts one more session; the caller has passed [`check`](Self::check).
    pub fn incr(&mut self, key: u128) {
        let i = self.slot(key);
        if self.counts[i] == 0 {
            self.keys[i] = key;
            self.len += 1;
        }
        self.counts[i] += 1;
    }

    pub fn decr(&mut self, key: u128) {
        let i = self.slot(key);
        match self.counts[i] {
            0 => debug_assert!(false, "quota underflow"),
            1 => self.remove_at(i),
            _ => self.counts[i] -= 1,
        }
    }

    /// Backward-shift deletion, as in the index tables.
    fn remove_at(&mut self, i: usize) {
        self.len -= 1;
        let mut hole = i;
        let mut j = (hole + 1) & self.mask;
        while self.counts[j] != 0 {
            let home = self.home(self.keys[j]);
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                self.keys[hole] = self.keys[j];
                self.counts[hole] = self.counts[j];
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.counts[hole] = 0;
        self.keys[hole] = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_and_capacity() {
        let mut q = QuotaTable::new(2, Hasher::new(1));
        assert_eq!(q.check(1, 2), Ok(()));
        q.incr(1);
        q.incr(1);
        assert_eq!(q.check(1, 2), Err(QuotaError::Limit));
        q.incr(2);
        assert_eq!(q.check(3, 2), Err(QuotaError::Full));
        q.decr(2);
        assert_eq!(q.check(3, 2), Ok(()));
        q.decr(1);
        assert_eq!(q.get(1), 1);
        q.decr(1);
        assert_eq!(q.get(1), 0);
    }

    #[test]
    fn many_keys_in_and_out() {
        let mut q = QuotaTable::new(1000, Hasher::new(9));
        for k in 0..1000u128 {
            for _ in 0..(k % 3 + 1) {
                q.incr(k << 64 | k);
            }
        }
        for k in (0..1000u128).step_by(2) {
            for _ in 0..(k % 3 + 1) {
                q.decr(k << 64 | k);
            }
        }
        for k in 0..1000u128 {
            let want = if k % 2 == 0 { 0 } else { (k % 3 + 1) as u32 };
            assert_eq!(q.get(k << 64 | k), want);
        }
    }
}
