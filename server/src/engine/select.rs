//! `generate`: sample (or enumerate) a pool of valid outfits, then pick a
//! diverse top `count` greedily (MMR-style: score minus a penalty for every
//! garment already used by an earlier pick).

use super::catalog::Catalog;
use super::planner::{Planner, Scored};
use super::rng::WyRand;
use crate::domain::{Context, Outfit, Profile, Slot};

/// Most outfits one call returns; larger requests are capped.
pub const MAX_COUNT: usize = 50;
/// Samples drawn per request: `BASE + PER_OUTFIT · count`.
const BASE_SAMPLES: usize = 1024;
const SAMPLES_PER_OUTFIT: usize = 128;
/// Below this many valid samples per requested outfit, top up with budget-aware draws.
const MIN_POOL_PER_OUTFIT: usize = 8;
/// Score penalty per earlier use of each garment of a candidate.
const REUSE_PENALTY: f32 = 0.12;
/// Only the best `POOL_PER_OUTFIT · count` distinct outfits enter the greedy selection.
const POOL_PER_OUTFIT: usize = 24;

/// Generate up to `count` outfits (fewer, possibly zero, when the catalog cannot
/// satisfy the constraints). `count` is capped at [`MAX_COUNT`]. Deterministic
/// for given inputs and `seed`.
pub fn generate(
    catalog: &Catalog,
    profile: &Profile,
    ctx: Context,
    count: usize,
    seed: u64,
) -> Vec<Outfit> {
    generate_biased(catalog, profile, ctx, count, seed, None)
}

/// [`generate`] with a per-garment score bias by catalog index (see
/// [`Planner::with_bias`]); `None` is exactly [`generate`].
pub fn generate_biased(
    catalog: &Catalog,
    profile: &Profile,
    ctx: Context,
    count: usize,
    seed: u64,
    bias: Option<&[f32]>,
) -> Vec<Outfit> {
    let count = count.min(MAX_COUNT);
    if count == 0 {
        return Vec::new();
    }
    let planner = Planner::with_bias(catalog, profile, ctx, bias);
    if !planner.is_feasible() {
        return Vec::new();
    }
    let mut rng = WyRand::new(seed);
    let samples = BASE_SAMPLES + SAMPLES_PER_OUTFIT * count;
    let mut pool = Vec::new();
    if planner.combinations() <= samples as u128 {
        // Small search space: be exact instead of lucky.
        planner.enumerate(&mut pool);
    } else {
        pool.resize(samples, Scored::EMPTY);
        let n = planner.score_batch(&mut rng, &mut pool);
        pool.truncate(n);
        if pool.len() < MIN_POOL_PER_OUTFIT * count {
            // Tight budget: most uniform draws were over it. These never are.
            pool.extend((0..samples).filter_map(|_| planner.sample_capped(&mut rng)));
        }
    }
    select(&planner, pool, count)
        .iter()
        .map(|s| planner.outfit(s))
        .collect()
}

/// Best-first, distinct, then greedy diversity-aware choice of `count`.
fn select(planner: &Planner<'_>, mut pool: Vec<Scored>, count: usize) -> Vec<Scored> {
    pool.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.picks.cmp(&b.picks)));
    // Equal picks have equal scores, hence are adjacent now.
    pool.dedup_by(|a, b| a.picks == b.picks);
    pool.truncate(POOL_PER_OUTFIT * count);

    // Uses per catalog garment index (only pooled garments are ever touched).
    let mut uses = vec![0u16; planner.catalog().len()];
    let garments = |s: &Scored| {
        let s = *s;
        Slot::ALL
            .into_iter()
            .filter_map(move |slot| planner.garment_index(&s, slot))
    };
    let mut taken = vec![false; pool.len()];
    let mut chosen = Vec::with_capacity(count);
    while chosen.len() < count {
        let mut best: Option<(usize, f32)> = None;
        for (i, s) in pool.iter().enumerate() {
            if let Some((_, b)) = best
                && s.score <= b
            {
                // Sorted by score and the penalty only lowers it: nothing later can win.
                break;
            }
            if taken[i] {
                continue;
            }
            let reuse: u32 = garments(s).map(|g| u32::from(uses[g])).sum();
            let adjusted = s.score - REUSE_PENALTY * reuse as f32;
            if best.is_none_or(|(_, b)| adjusted > b) {
                best = Some((i, adjusted));
            }
        }
        let Some((i, _)) = best else { break };
        taken[i] = true;
        for g in garments(&pool[i]) {
            uses[g] = uses[g].saturating_add(1);
        }
        chosen.push(pool[i]);
    }
    chosen
}
