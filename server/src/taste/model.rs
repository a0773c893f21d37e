//! The fitted model: user embeddings from implicit ALS, each user's own
//! feedback, a brute-force cosine neighbour search, and taste scores.
//!
//! Why implicit ALS (Hu, Koren and Volinsky 2008) rather than BPR: the fit is
//! deterministic for a seed and converges in ~10-15 sweeps with no learning
//! rate or negative sampling to tune, so a scheduled retrain on fresh data
//! needs no babysitting; it treats every unobserved (user, garment) pair as a
//! weak negative, which is what makes the user vectors good for *cosine
//! neighbours* (BPR optimises per-user ranking and leaves vector norms and
//! directions less comparable across users); and `discorec` (no dependencies,
//! builds in seconds) implements it with conjugate-gradient steps, ~4.6 s for
//! 10k users x 5k garments x 500k interactions on one thread.
//!
//! `discorec`'s `Recommender` is not used for serving: it is `!Sync` (lazy
//! norms in a `RefCell`) and its neighbour queries sort with
//! `partial_cmp().unwrap()`, which panics on a NaN. The fit's user vectors are
//! copied out, normalised (non-finite rows become zero, hence neighbourless),
//! and the recommender is dropped. Garment vectors are learned by the fit but
//! not kept: serving ranks by what neighbours *did*, not by predicted scores.
//!
//! A model is a fixed number of flat allocations whatever its size (CSR for
//! the per-user feedback), so a retrain that replaces it cannot leave a trail.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;

use discorec::RecommenderBuilder;

use super::data::Interactions;
use super::{MODELS_BUILT, MODELS_LIVE};

/// Most neighbours one query considers.
pub(super) const MAX_NEIGHBOURS: usize = 256;
/// Neighbours less similar than this (cosine) are ignored.
const MIN_SIMILARITY: f32 = 0.05;
/// Taste scores below this share of the strongest one are dropped.
const MIN_SCORE: f32 = 0.01;

/// How to fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitParams {
    /// Embedding dimensions (at least 1).
    pub factors: u32,
    /// ALS sweeps (each solves users, then garments).
    pub iterations: u32,
    /// Seed of the initial factors, so a fit over the same data is the same.
    pub seed: u64,
}

/// An immutable fitted model; share it behind an `Arc`.
pub struct TasteModel {
    factors: usize,
    /// Model row → user id (only users with at least one positive pair get a row).
    user_ids: Vec<i64>,
    user_rows: HashMap<i64, u32>,
    /// Unit-length user embeddings, `factors` per row (all zero when the fit gave no direction).
    user_vecs: Vec<f32>,
    /// Garment index → garment id.
    garment_ids: Vec<i64>,
    /// CSR over rows: row `r`'s feedback is `feedback[offsets[r]..offsets[r + 1]]`.
    offsets: Vec<u32>,
    /// (garment index, net weight), positive and negative.
    feedback: Vec<(u32, f32)>,
    /// Positive pairs the fit saw.
    positives: usize,
}

impl TasteModel {
    /// Fits a model on `data` (CPU-bound: call it from a blocking thread).
    pub fn fit(data: &Interactions, params: &FitParams) -> TasteModel {
        let cells = data.sorted_cells();
        let positives: Vec<(u32, u32, f32)> =
            cells.iter().copied().filter(|&(_, _, w)| w > 0.0).collect();
        // data user index → model row, for users with a positive pair
        let mut row_of = vec![u32::MAX; data.users.len()];
        let mut user_ids = Vec::new();
        for &(u, _, _) in &positives {
            if row_of[u as usize] == u32::MAX {
                row_of[u as usize] = user_ids.len() as u32;
                user_ids.push(data.users[u as usize]);
            }
        }
        let factors = params.factors.max(1) as usize;
        let mut user_vecs = vec![0.0f32; user_ids.len() * factors];
        if !positives.is_empty() {
            let fitted = RecommenderBuilder::new()
                .factors(factors as u32)
                .iterations(params.iterations.max(1))
                .seed(params.seed)
                .fit_implicit(&positives);
            for (u, &row) in row_of.iter().enumerate() {
                if row == u32::MAX {
                    continue;
                }
                if let Some(v) = fitted.user_factors(&(u as u32)) {
                    let start = row as usize * factors;
                    normalise_into(v, &mut user_vecs[start..start + factors]);
                }
            }
        }
        // CSR of every pair of the users with a row (cells are sorted by user)
        let mut offsets = Vec::with_capacity(user_ids.len() + 1);
        let mut feedback = Vec::new();
        offsets.push(0u32);
        let mut current = None;
        for &(u, i, w) in &cells {
            let row = row_of[u as usize];
            if row == u32::MAX {
                continue;
            }
            if current != Some(row) {
                if current.is_some() {
                    offsets.push(feedback.len() as u32);
                }
                current = Some(row);
            }
            feedback.push((i, w));
        }
        if current.is_some() {
            offsets.push(feedback.len() as u32);
        }
        let user_rows = user_ids
            .iter()
            .enumerate()
            .map(|(row, &id)| (id, row as u32))
            .collect();
        MODELS_BUILT.fetch_add(1, Relaxed);
        MODELS_LIVE.fetch_add(1, Relaxed);
        TasteModel {
            factors,
            user_ids,
            user_rows,
            user_vecs,
            garment_ids: data.garments.clone(),
            offsets,
            feedback,
            positives: positives.len(),
        }
    }

    /// Users with a model row.
    pub fn users(&self) -> usize {
        self.user_ids.len()
    }

    /// Garments the model knows.
    pub fn garments(&self) -> usize {
        self.garment_ids.len()
    }

    /// Positive (user, garment) pairs the fit saw.
    pub fn positives(&self) -> usize {
        self.positives
    }

    /// Whether `user_id` has a model row.
    pub fn has_user(&self, user_id: i64) -> bool {
        self.user_rows.contains_key(&user_id)
    }

    /// Heap bytes held (vectors by capacity, the hash index approximately).
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.user_ids.capacity() * size_of::<i64>()
            + self.user_rows.capacity() * (size_of::<(i64, u32)>() + 1)
            + self.user_vecs.capacity() * size_of::<f32>()
            + self.garment_ids.capacity() * size_of::<i64>()
            + self.offsets.capacity() * size_of::<u32>()
            + self.feedback.capacity() * size_of::<(u32, f32)>()
    }

    /// The `k` users most similar to `user_id` (cosine of embeddings, best
    /// first, only clearly similar ones); empty without a model row.
    pub fn similar_users(&self, user_id: i64, k: usize) -> Vec<(i64, f32)> {
        match self.user_rows.get(&user_id) {
            Some(&row) => self
                .neighbours(row as usize, k)
                .into_iter()
                .map(|(r, s)| (self.user_ids[r as usize], s))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Taste scores of garments for `user_id`: the similarity-weighted sum of
    /// what its `k` nearest neighbours did with each garment, divided by the
    /// largest magnitude (so in -1..=1), strongest `max_garments` first.
    /// `None` when the user has no model row.
    pub fn taste_scores(
        &self,
        user_id: i64,
        k: usize,
        max_garments: usize,
    ) -> Option<Vec<(i64, f32)>> {
        let row = *self.user_rows.get(&user_id)? as usize;
        let neighbours = self.neighbours(row, k);
        let mut acc: Vec<(u32, f32)> = Vec::new();
        for &(n, sim) in &neighbours {
            acc.extend(
                self.feedback_of(n as usize)
                    .iter()
                    .map(|&(i, w)| (i, sim * w)),
            );
        }
        acc.sort_unstable_by_key(|&(i, _)| i);
        let mut merged: Vec<(u32, f32)> = Vec::with_capacity(acc.len());
        for (i, s) in acc {
            match merged.last_mut() {
                Some(last) if last.0 == i => last.1 += s,
                _ => merged.push((i, s)),
            }
        }
        let max = merged.iter().fold(0.0f32, |m, &(_, s)| m.max(s.abs()));
        if !(max.is_finite() && max > 0.0) {
            return Some(Vec::new());
        }
        merged.sort_unstable_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
        Some(
            merged
                .into_iter()
                .map(|(i, s)| (i, s / max))
                .filter(|&(_, s)| s.abs() >= MIN_SCORE)
                .take(max_garments)
                .filter_map(|(i, s)| Some((*self.garment_ids.get(i as usize)?, s)))
                .collect(),
        )
    }

    /// The garments `user_id` itself gave feedback on, with net weights.
    pub fn feedback(&self, user_id: i64) -> Vec<(i64, f32)> {
        let Some(&row) = self.user_rows.get(&user_id) else {
            return Vec::new();
        };
        self.feedback_of(row as usize)
            .iter()
            .filter_map(|&(i, w)| Some((*self.garment_ids.get(i as usize)?, w)))
            .collect()
    }

    fn feedback_of(&self, row: usize) -> &[(u32, f32)] {
        let start = self.offsets.get(row).copied().unwrap_or(0) as usize;
        let end = self.offsets.get(row + 1).copied().unwrap_or(0) as usize;
        self.feedback.get(start..end).unwrap_or(&[])
    }

    fn vec_of(&self, row: usize) -> &[f32] {
        let start = row * self.factors;
        self.user_vecs
            .get(start..start + self.factors)
            .unwrap_or(&[])
    }

    /// Top-`k` rows by cosine similarity to `row`, best first (ties: lower row first).
    fn neighbours(&self, row: usize, k: usize) -> Vec<(u32, f32)> {
        let k = k.min(MAX_NEIGHBOURS);
        let me = self.vec_of(row);
        let mut best: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
        if k == 0 || me.is_empty() {
            return best;
        }
        for (other, v) in self.user_vecs.chunks_exact(self.factors).enumerate() {
            if other == row {
                continue;
            }
            let s: f32 = me.iter().zip(v).map(|(a, b)| a * b).sum();
            // `is_nan` first: a NaN compares false with everything
            if s.is_nan() || s <= MIN_SIMILARITY || (best.len() == k && s <= best[k - 1].1) {
                continue;
            }
            let at = best.partition_point(|&(_, b)| b >= s);
            best.insert(at, (other as u32, s));
            best.truncate(k);
        }
        best
    }
}

/// Copies `v` scaled to unit length into `out`; a zero or non-finite vector gives zeros.
fn normalise_into(v: &[f32], out: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm.is_finite() && norm > f32::EPSILON && v.iter().all(|x| x.is_finite()) {
        for (o, x) in out.iter_mut().zip(v) {
            *o = x / norm;
        }
    } else {
        out.fill(0.0);
    }
}

impl Drop for TasteModel {
    fn drop(&mut self) {
        MODELS_LIVE.fetch_sub(1, Relaxed);
    }
}

impl fmt::Debug for TasteModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TasteModel")
            .field("users", &self.users())
            .field("garments", &self.garments())
            .field("positives", &self.positives)
            .field("factors", &self.factors)
            .field("heap_bytes", &self.heap_bytes())
            .finish()
    }
}
