//! A tiny, fast, seedable PRNG (wyrand) whose output is fixed by this file.
//!
//! We use our own instead of `rand::rngs::SmallRng` because `SmallRng`'s algorithm
//! is explicitly allowed to change between `rand` releases, and both the outfit
//! sequence for a seed and the synthetic catalog must stay reproducible.

/// wyrand: one 64-bit add and one 128-bit multiply per output.
#[derive(Debug, Clone)]
pub struct WyRand {
    state: u64,
}

impl WyRand {
    pub fn new(seed: u64) -> WyRand {
        WyRand {
            state: seed ^ 0x2d35_8dcc_aa6c_78a5,
        }
    }

    #[inline(always)]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.state) * u128::from(self.state ^ 0xe703_7ed1_a0b4_28db);
        (t as u64) ^ ((t >> 64) as u64)
    }

    /// Uniform-ish index in `0..n` (multiply-shift; bias is below 2^-32 for our sizes).
    /// Returns 0 when `n == 0`; callers never index with it then.
    #[inline(always)]
    pub fn below(&mut self, n: usize) -> usize {
        reduce(self.next_u64() as u32, n)
    }

    /// Uniform `f32` in `[0, 1)`.
    #[inline]
    pub fn unit_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// `true` with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f32) -> bool {
        self.unit_f32() < p
    }

    /// Inclusive integer range `lo..=hi` (`lo` when `hi < lo`).
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64 + 1;
        lo + (self.next_u64() % span) as i64
    }

    /// A random element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len()))
    }
}

/// Maps 32 random bits onto `0..n` by multiply-shift (Lemire), without division.
#[inline(always)]
pub(crate) fn reduce(bits: u32, n: usize) -> usize {
    ((u64::from(bits) * n as u64) >> 32) as usize
}
