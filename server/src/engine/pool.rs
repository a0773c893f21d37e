//! Per-slot candidate pools: compact hot records sorted by price, plus an
//! alias table for O(1) draws weighted by each candidate's unary score.

use super::color::ABSENT;
use super::rng::{WyRand, reduce};

/// Sharpness of the unary-weighted sampling: weight = exp(TEMP · unary).
const ALIAS_TEMP: f64 = 3.0;
/// Unary score by class bits: 1 = style liked by the user, 2 = suits the
/// occasion, 4 = both via one shared tag, 8 = favourite colour.
pub(super) const UNARY: [f32; 16] = {
    let mut t = [0.0; 16];
    let mut c = 0;
    while c < 16 {
        t[c] = 0.45 * (c & 1) as f32
            + 0.45 * ((c >> 1) & 1) as f32
            + 0.10 * ((c >> 2) & 1) as f32
            + 0.25 * ((c >> 3) & 1) as f32;
        c += 1;
    }
    t
};
/// Alias-sampling weight per class: exp(ALIAS_TEMP · unary), computed once.
static UNARY_WEIGHT: std::sync::LazyLock<[f64; 16]> =
    std::sync::LazyLock::new(|| UNARY.map(|u| (ALIAS_TEMP * f64::from(u)).exp()));
/// Alias-sampling weight of a candidate of unary `class` with an extra score
/// `bias`: exp(ALIAS_TEMP · (unary + bias)), from the table when there is no bias.
pub(super) fn sampling_weight(class: u8, bias: f32) -> f64 {
    let w = UNARY_WEIGHT[usize::from(class & 15)];
    if bias == 0.0 {
        w
    } else {
        w * (ALIAS_TEMP * f64::from(bias)).exp()
    }
}

/// What the hot loop needs about one candidate (16 bytes, 4 per cache line).
#[derive(Debug, Clone, Copy)]
pub(super) struct Hot {
    pub(super) price: u64,
    /// Style match with the profile and occasion plus favourite-colour bonus, about 0..1.25.
    pub(super) unary: f32,
    pub(super) styles: u16,
    /// Quantised main colour; [`ABSENT`] for an empty position.
    pub(super) color: u8,
    pub(super) loud: u8,
}

pub(super) const EMPTY: Hot = Hot {
    price: 0,
    unary: 0.0,
    styles: 0,
    color: ABSENT,
    loud: 0,
};

/// One alias-table column (Vose): keep this index when 32 random bits are `<= keep`, else take `other`.
#[derive(Debug, Clone, Copy)]
struct Alias {
    keep: u32,
    other: u32,
}

/// The candidates of one slot, sorted by price (then catalog index).
#[derive(Debug, Default)]
pub(super) struct Pool {
    pub(super) hot: Vec<Hot>,
    /// Catalog index of each candidate (cold).
    pub(super) garment: Vec<u32>,
    alias: Vec<Alias>,
}

impl Pool {
    /// `items`: (catalog index, record, sampling weight from [`sampling_weight`]),
    /// already in (price, index) order.
    pub(super) fn build(items: &[(u32, Hot, f64)]) -> Pool {
        debug_assert!(items.is_sorted_by_key(|&(g, h, _)| (h.price, g)));
        let weights: Vec<f64> = items.iter().map(|&(_, _, w)| w).collect();
        Pool {
            hot: items.iter().map(|&(_, h, _)| h).collect(),
            garment: items.iter().map(|&(g, _, _)| g).collect(),
            alias: alias_table(&weights, items.len()),
        }
    }

    pub(super) fn min_price(&self) -> Option<u64> {
        self.hot.first().map(|h| h.price)
    }

    /// Weighted draw; the pool must be non-empty.
    #[inline(always)]
    pub(super) fn sample(&self, rng: &mut WyRand) -> (u32, Hot) {
        let r = rng.next_u64();
        let i = reduce(r as u32, self.alias.len());
        let a = self.alias[i];
        let j = if (r >> 32) as u32 <= a.keep {
            i
        } else {
            a.other as usize
        };
        (j as u32, self.hot[j])
    }
}

/// Vose's alias method over `weights` (all finite and positive).
fn alias_table(weights: &[f64], n: usize) -> Vec<Alias> {
    let total: f64 = weights.iter().sum();
    let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
    let mut table = vec![
        Alias {
            keep: u32::MAX,
            other: 0
        };
        n
    ];
    let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| scaled[i] < 1.0);
    while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
        table[s] = Alias {
            keep: (scaled[s] * 4_294_967_296.0).min(u32::MAX as f64) as u32,
            other: l as u32,
        };
        scaled[l] -= 1.0 - scaled[s];
        if scaled[l] < 1.0 {
            large.pop();
            small.push(l);
        }
    }
    // Leftovers (numerical slack) keep themselves: `table` already says so.
    table
}
