//! Per-request candidate pools and the hot sampling/scoring loop.
//!
//! A [`Planner`] is built for one (profile, context). It applies every
//! per-garment hard constraint once (availability, gender, size, currency,
//! disliked colour, price that can still fit the budget), precomputes each
//! candidate's user-dependent *unary* score, and lays the candidates of each
//! slot out as a compact array of 16-byte hot records sorted by price
//! (cold data, the catalog index, lives in a parallel array). Sampling uses a
//! per-slot alias table weighted by the unary score, so good garments are
//! drawn more often at O(1) cost. Scoring an outfit is then a handful of
//! loads, ten lookups in the colour pair table and some adds; the only check
//! left per outfit is the budget.

use super::catalog::Catalog;
use super::color::{self, ABSENT};
use super::pool::{EMPTY, Hot, Pool, UNARY, sampling_weight};
use super::rng::WyRand;
use crate::domain::{Context, Gender, Outfit, Placed, Profile, Slot, style_set};

/// Marks an empty slot in [`Scored`] picks.
pub(crate) const NONE: u32 = u32::MAX;
/// Prices above this (≈ 7·10^14 EUR) are treated as unsellable, so sums of six never overflow.
const MAX_PRICE: u64 = 1 << 56;

// Score weights (the score is roughly in 0..1, higher is better).
const W_UNARY: f32 = 0.45;
const W_HARMONY: f32 = 0.35;
const W_COHERENCE: f32 = 0.10;
const W_PRICE: f32 = 0.10;
const W_LOUD: f32 = 0.25;
/// Share of the budget an outfit is "meant" to use; the price term peaks there.
const PRICE_TARGET: f32 = 0.7;
/// Largest per-garment bias [`Planner::with_bias`] applies, either way.
pub const MAX_BIAS: f32 = 1.0;
/// Probability of adding an accessory, when one is affordable.
const ACCESSORY_P: f64 = 0.5;

const TOP: usize = Slot::Top as usize;
const BOTTOM: usize = Slot::Bottom as usize;
const DRESS: usize = Slot::Dress as usize;
const SHOES: usize = Slot::Shoes as usize;
const OUTER: usize = Slot::Outerwear as usize;
const ACC: usize = Slot::Accessory as usize;

/// 1/k for k garments, 1/(k(k-1)/2) for their pairs.
const INV_K: [f32; 6] = [0.0, 1.0, 1.0 / 2.0, 1.0 / 3.0, 1.0 / 4.0, 1.0 / 5.0];
const INV_PAIRS: [f32; 6] = [0.0, 0.0, 1.0, 1.0 / 3.0, 1.0 / 6.0, 1.0 / 10.0];

/// A sampled, scored outfit: candidate index per slot (`Slot::index()`), or `NONE`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub(crate) picks: [u32; 6],
    pub(crate) price: u64,
    pub(crate) score: f32,
}

impl Scored {
    /// A placeholder for scratch buffers.
    pub const EMPTY: Scored = Scored {
        picks: [NONE; 6],
        price: 0,
        score: 0.0,
    };

    pub fn score(&self) -> f32 {
        self.score
    }

    pub fn total_price_cents(&self) -> i64 {
        self.price as i64
    }
}

impl Default for Scored {
    fn default() -> Scored {
        Scored::EMPTY
    }
}

/// Everything needed to sample and score outfits for one (profile, context).
#[derive(Debug)]
pub struct Planner<'c> {
    catalog: &'c Catalog,
    pools: [Pool; 6],
    budget: u64,
    /// 1 / budget (1 when the budget is 0), for the price term.
    inv_budget: f32,
    /// Whether the weather asks for outerwear (then it is required, else never used).
    outerwear: bool,
    /// P(dress instead of top + bottom) scaled to 2^32; 0 or 2^32 when only one mode can fit.
    dress_threshold: u64,
    /// P(add an accessory) scaled to 2^32.
    accessory_threshold: u64,
    feasible: bool,
}

impl<'c> Planner<'c> {
    pub fn new(catalog: &'c Catalog, profile: &Profile, ctx: Context) -> Planner<'c> {
        Planner::with_bias(catalog, profile, ctx, None)
    }

    /// [`Planner::new`] plus a per-garment score bias (the taste model's):
    /// `bias[i]` is added to the unary score of catalog garment `i` (see
    /// [`Catalog::index_of`]) and scales its sampling weight to match, so
    /// favoured garments are both drawn more often and scored higher. Values
    /// are clamped to ±[`MAX_BIAS`]; non-finite values and indices past the
    /// slice count as 0. The bias is folded into the per-candidate records
    /// here, once per request: the hot loop does not change.
    pub fn with_bias(
        catalog: &'c Catalog,
        profile: &Profile,
        ctx: Context,
        bias: Option<&[f32]>,
    ) -> Planner<'c> {
        let outerwear = ctx.weather.needs_outerwear();
        let budget = u64::try_from(profile.budget_cents).ok();
        let user_styles = style_set(&profile.styles);
        let occasion_styles = ctx.occasion.styles();
        let liked = profile
            .favorite_colors
            .iter()
            .fold(0u16, |s, c| s | c.bit());
        let disliked = profile
            .disliked_colors
            .iter()
            .fold(0u16, |s, c| s | c.bit());
        let currency = catalog.currency_id(&profile.currency);

        // Pass 1: every per-garment hard constraint except the budget share.
        let mut raw: [Vec<(u32, Hot, f64)>; 6] = Default::default();
        for slot in Slot::ALL {
            if budget.is_none() || currency.is_none() || (slot == Slot::Outerwear && !outerwear) {
                continue;
            }
            // `None`: no size requirement; `Some(bit)`: the size's bit (0 if nobody stocks it).
            let size = profile
                .sizes
                .for_slot(slot)
                .map(|s| (s, catalog.size_bit(s)));
            let features = &catalog.slot_features[slot.index()];
            for (&gi, f) in catalog.by_slot[slot.index()].iter().zip(features) {
                let ok = Some(f.currency) == currency
                    && Gender::fits(f.gender, profile.gender)
                    && f.color_bit & disliked == 0
                    && (0..=MAX_PRICE as i64).contains(&f.price_cents)
                    && size.is_none_or(|(label, bit)| {
                        f.one_size
                            || f.size_mask & bit != 0
                            || (f.size_overflow && catalog.garments()[gi as usize].has_size(label))
                    });
                if !ok {
                    continue;
                }
                let s = f.styles;
                let class = u8::from(s & user_styles != 0)
                    | u8::from(s & occasion_styles != 0) << 1
                    | u8::from(s & user_styles & occasion_styles != 0) << 2
                    | u8::from(f.color_bit & liked != 0) << 3;
                let b = bias
                    .and_then(|b| b.get(gi as usize))
                    .copied()
                    .filter(|b| b.is_finite())
                    .map_or(0.0, |b| b.clamp(-MAX_BIAS, MAX_BIAS));
                let hot = Hot {
                    price: f.price_cents as u64,
                    unary: UNARY[usize::from(class)] + b,
                    styles: s,
                    color: f.color_code,
                    loud: u8::from(f.loud),
                };
                raw[slot.index()].push((gi, hot, sampling_weight(class, b)));
            }
        }

        // Pass 2: drop garments that cannot fit the budget even with the cheapest companions.
        let budget = budget.unwrap_or(0).min(1 << 60);
        let min: [Option<u64>; 6] =
            std::array::from_fn(|i| raw[i].iter().map(|(_, h, _)| h.price).min());
        let add = |a: Option<u64>, b: Option<u64>| Some(a? + b?);
        let outer_min = if outerwear { min[OUTER] } else { Some(0) };
        let rest = add(min[SHOES], outer_min);
        let upper_tb = add(min[TOP], min[BOTTOM]);
        let upper = [upper_tb, min[DRESS]].into_iter().flatten().min();
        let base_tb = add(upper_tb, rest);
        let base_dress = add(min[DRESS], rest);
        let cheapest = [base_tb, base_dress].into_iter().flatten().min();
        let others = [
            add(min[BOTTOM], rest), // top
            add(min[TOP], rest),    // bottom
            rest,                   // dress
            add(upper, outer_min),  // shoes
            add(upper, min[SHOES]), // outerwear
            cheapest,               // accessory
        ];
        let pools: [Pool; 6] = std::array::from_fn(|i| {
            let cap = others[i].and_then(|o| budget.checked_sub(o));
            let items = std::mem::take(&mut raw[i]);
            match cap {
                // Sorted by price, so the affordable ones are a prefix.
                Some(cap) => {
                    Pool::build(&items[..items.partition_point(|(_, h, _)| h.price <= cap)])
                }
                None => Pool::default(),
            }
        });

        let tb_ok = base_tb.is_some_and(|p| p <= budget);
        let dress_ok = base_dress.is_some_and(|p| p <= budget);
        let (nt, nd) = (pools[TOP].hot.len() as f64, pools[DRESS].hot.len() as f64);
        let p_dress = match (tb_ok, dress_ok) {
            (true, true) => nd / (nd + nt),
            (false, true) => 1.0,
            _ => 0.0,
        };
        let p_acc = if pools[ACC].hot.is_empty() {
            0.0
        } else {
            ACCESSORY_P
        };
        Planner {
            catalog,
            budget,
            inv_budget: 1.0 / budget.max(1) as f32,
            outerwear,
            dress_threshold: (p_dress * 4_294_967_296.0) as u64,
            accessory_threshold: (p_acc * 4_294_967_296.0) as u64,
            feasible: tb_ok || dress_ok,
            pools,
        }
    }

    /// Whether at least one outfit satisfies every hard constraint.
    pub fn is_feasible(&self) -> bool {
        self.feasible
    }

    /// Number of prefiltered candidates for `slot`.
    pub fn candidates(&self, slot: Slot) -> usize {
        self.pools[slot.index()].hot.len()
    }

    pub fn catalog(&self) -> &'c Catalog {
        self.catalog
    }

    /// The hot loop: samples `out.len()` outfits, scores them, and packs the
    /// ones within budget at the front of `out`. Returns how many were valid.
    /// Never allocates.
    pub fn score_batch(&self, rng: &mut WyRand, out: &mut [Scored]) -> usize {
        if !self.feasible {
            return 0;
        }
        let mut n = 0;
        for _ in 0..out.len() {
            let s = self.sample(rng);
            // n <= iterations so far < out.len(): a rejected sample is overwritten later.
            out[n] = s;
            n += usize::from(s.price <= self.budget);
        }
        n
    }

    #[inline(always)]
    fn sample(&self, rng: &mut WyRand) -> Scored {
        let r = rng.next_u64();
        let dress = u64::from(r as u32) < self.dress_threshold;
        let with_acc = (r >> 32) < self.accessory_threshold;
        let mut picks = [NONE; 6];
        let mut hot = [EMPTY; 5];
        let upper = if dress { DRESS } else { TOP };
        (picks[upper], hot[0]) = self.pools[upper].sample(rng);
        if !dress {
            (picks[BOTTOM], hot[1]) = self.pools[BOTTOM].sample(rng);
        }
        (picks[SHOES], hot[2]) = self.pools[SHOES].sample(rng);
        if self.outerwear {
            (picks[OUTER], hot[3]) = self.pools[OUTER].sample(rng);
        }
        if with_acc {
            (picks[ACC], hot[4]) = self.pools[ACC].sample(rng);
        }
        self.score_hot(picks, &hot)
    }

    #[inline(always)]
    fn score_hot(&self, picks: [u32; 6], h: &[Hot; 5]) -> Scored {
        let mut price = 0;
        let mut unary = 0.0;
        let mut k = 0;
        let mut loud = 0u32;
        for x in h {
            price += x.price;
            unary += x.unary;
            k += usize::from(x.color != ABSENT);
            loud += u32::from(x.loud);
        }
        let mut harmony = 0.0;
        let mut shared = 0u32;
        for i in 0..h.len() {
            for j in i + 1..h.len() {
                harmony += color::pair(h[i].color, h[j].color);
                shared += u32::from(h[i].styles & h[j].styles != 0);
            }
        }
        let use_of_budget = price as f32 * self.inv_budget;
        let price_fit = 1.0 - (use_of_budget - PRICE_TARGET).abs();
        let score = W_UNARY * unary * INV_K[k]
            + (W_HARMONY * harmony + W_COHERENCE * shared as f32) * INV_PAIRS[k]
            + W_PRICE * price_fit
            - W_LOUD * loud.saturating_sub(1) as f32;
        Scored {
            picks,
            price,
            score,
        }
    }

    /// Scores explicit picks (candidate indices per slot, `NONE` for empty).
    pub(crate) fn score_picks(&self, picks: [u32; 6]) -> Scored {
        let mut hot = [EMPTY; 5];
        for (slot, &p) in picks.iter().enumerate() {
            if p != NONE {
                let pos = match slot {
                    TOP | DRESS => 0,
                    BOTTOM => 1,
                    SHOES => 2,
                    OUTER => 3,
                    _ => 4,
                };
                hot[pos] = self.pools[slot].hot[p as usize];
            }
        }
        self.score_hot(picks, &hot)
    }

    /// Budget-aware draw that is valid by construction (used when plain sampling
    /// rejects too much): required slots are filled in random order, each drawn
    /// uniformly among the candidates that still leave room for the cheapest
    /// completion. `None` only when infeasible.
    pub(crate) fn sample_capped(&self, rng: &mut WyRand) -> Option<Scored> {
        if !self.feasible {
            return None;
        }
        let r = rng.next_u64();
        let dress = u64::from(r as u32) < self.dress_threshold;
        let mut order = [NONE as usize; 4];
        let mut k = 0;
        let mut push = |slot: usize| {
            order[k] = slot;
            k += 1;
        };
        if dress {
            push(DRESS);
        } else {
            push(TOP);
            push(BOTTOM);
        }
        push(SHOES);
        if self.outerwear {
            push(OUTER);
        }
        for i in (1..k).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let mut rest: u64 = order[..k]
            .iter()
            .map(|&s| self.pools[s].min_price().unwrap_or(MAX_PRICE))
            .sum();
        let mut left = self.budget.checked_sub(rest)?;
        let mut picks = [NONE; 6];
        for &slot in &order[..k] {
            let hot = &self.pools[slot].hot;
            let min = hot.first()?.price;
            rest -= min;
            // Room for this slot: its own minimum plus the slack still unspent.
            let cap = min + left;
            let m = hot.partition_point(|h| h.price <= cap);
            let pick = rng.below(m);
            picks[slot] = pick as u32;
            left -= hot[pick].price - min;
        }
        debug_assert_eq!(rest, 0);
        if (r >> 32) < self.accessory_threshold {
            let m = self.pools[ACC].hot.partition_point(|h| h.price <= left);
            if m > 0 {
                picks[ACC] = rng.below(m) as u32;
            }
        }
        Some(self.score_picks(picks))
    }

    /// Upper bound on the number of distinct outfits (saturating).
    pub(crate) fn combinations(&self) -> u128 {
        let n = |s: usize| self.pools[s].hot.len() as u128;
        let upper = n(TOP).saturating_mul(n(BOTTOM)).saturating_add(n(DRESS));
        let outer = if self.outerwear { n(OUTER) } else { 1 };
        upper
            .saturating_mul(n(SHOES))
            .saturating_mul(outer)
            .saturating_mul(n(ACC) + 1)
    }

    /// Every outfit within budget, appended to `out` (use only when `combinations()` is small).
    pub(crate) fn enumerate(&self, out: &mut Vec<Scored>) {
        if !self.feasible {
            return;
        }
        let len = |s: usize| self.pools[s].hot.len();
        for dress in [false, true] {
            // Radix per slot: candidate count, `1` = "left empty", accessory has "+1" for none.
            let mut radix = [1usize; 6];
            if dress {
                radix[DRESS] = len(DRESS);
            } else {
                radix[TOP] = len(TOP);
                radix[BOTTOM] = len(BOTTOM);
            }
            radix[SHOES] = len(SHOES);
            if self.outerwear {
                radix[OUTER] = len(OUTER);
            }
            radix[ACC] = len(ACC) + 1;
            if radix.contains(&0) {
                continue;
            }
            let used = |s: usize| match s {
                TOP | BOTTOM => !dress,
                DRESS => dress,
                OUTER => self.outerwear,
                _ => true,
            };
            let mut digits = [0usize; 6];
            loop {
                let picks: [u32; 6] = std::array::from_fn(|s| {
                    if !used(s) || (s == ACC && digits[s] == len(ACC)) {
                        NONE
                    } else {
                        digits[s] as u32
                    }
                });
                let scored = self.score_picks(picks);
                if scored.price <= self.budget {
                    out.push(scored);
                }
                let mut s = 0;
                while s < 6 {
                    digits[s] += 1;
                    if digits[s] < radix[s] {
                        break;
                    }
                    digits[s] = 0;
                    s += 1;
                }
                if s == 6 {
                    break;
                }
            }
        }
    }

    /// Catalog index of the garment picked for `slot`, if any.
    pub(crate) fn garment_index(&self, s: &Scored, slot: Slot) -> Option<usize> {
        let p = s.picks[slot.index()];
        (p != NONE).then(|| self.pools[slot.index()].garment[p as usize] as usize)
    }

    /// Turns a scored pick into the public outfit (items in `Slot::ALL` order).
    pub fn outfit(&self, s: &Scored) -> Outfit {
        let items = Slot::ALL
            .into_iter()
            .filter_map(|slot| {
                let gi = self.garment_index(s, slot)?;
                Some(Placed {
                    slot,
                    garment_id: self.catalog.garments()[gi].id,
                })
            })
            .collect();
        Outfit {
            items,
            score: s.score,
            total_price_cents: s.price as i64,
        }
    }
}
