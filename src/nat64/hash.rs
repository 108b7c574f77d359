//! Keyed hashing for the session tables.
//!
//! Tuples are chosen by whoever sends packets, so a fixed hash function would let an
//! attacker pile every flow into one probe chain. The key comes from the caller (drawn
//! from the OS random source once per process), which keeps tests deterministic.

/// A keyed 64-bit hash built on the folded 128-bit multiply: fast (one `mul` per
/// 64 bits of input) and, with a secret key, not steerable from outside.
#[derive(Clone, Copy, Debug)]
pub struct Hasher {
    k0: u64,
    k1: u64,
    k2: u64,
}

const PI0: u64 = 0x243f_6a88_85a3_08d3;
const PI1: u64 = 0x1319_8a2e_0370_7344;
const PI2: u64 = 0xa409_3822_299f_31d0;

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a).wrapping_mul(u128::from(b));
    (p as u64) ^ ((p >> 64) as u64)
}

/// SplitMix64 step: spreads a 64-bit seed into independent-looking keys.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Hasher {
    pub fn new(seed: u64) -> Self {
        let mut s = seed;
        Hasher {
            k0: splitmix(&mut s) ^ PI0,
            k1: splitmix(&mut s) ^ PI1,
            k2: splitmix(&mut s) ^ PI2,
        }
    }

    /// The keys, and the constant `h2` folds with last: for a copy of `h2` elsewhere
    /// (the TUN steering program computes the owner of an IPv6 packet in the kernel).
    pub fn h2_params(&self) -> ([u64; 3], u64) {
        ([self.k0, self.k1, self.k2], PI0)
    }

    /// Hash of two words.
    #[inline]
    pub fn h2(&self, a: u64, b: u64) -> u64 {
        let h = fold(a ^ self.k0, b ^ self.k1);
        fold(h ^ self.k2, PI0)
    }

    /// Hash of three words.
    #[inline]
    pub fn h3(&self, a: u64, b: u64, c: u64) -> u64 {
        let h = fold(a ^ self.k0, b ^ self.k1);
        fold(h ^ c ^ self.k2, PI1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_changes_hash() {
        let a = Hasher::new(1);
        let b = Hasher::new(2);
        assert_ne!(a.h2(1, 2), b.h2(1, 2));
        assert_eq!(a.h2(1, 2), Hasher::new(1).h2(1, 2));
    }

    #[test]
    fn low_bits_spread_over_sequential_keys() {
        // Sequential ports must not land in sequential buckets only.
        let h = Hasher::new(7);
        let mut buckets = [0u32; 64];
        for port in 0..64 * 64u64 {
            buckets[(h.h3(0x2001_0db8, 1, port) & 63) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (20..=120).contains(&n)),
            "{buckets:?}"
        );
    }
}
