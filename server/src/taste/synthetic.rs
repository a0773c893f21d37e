//! Synthetic users with planted taste clusters, and the offline evaluation:
//! hit-rate@k of held-out likes for the model against a popularity baseline.
//!
//! Garment `g` belongs to cluster `g % clusters`, user `u` to cluster
//! `u % clusters`. Each user likes `likes_per_user` distinct garments, each
//! drawn from its own cluster (Zipf-popular within it) with probability
//! `in_cluster`, else from the whole catalog (Zipf-popular overall, which is
//! what a popularity baseline can exploit). Likes come in outfits of up to
//! three garments, some as saves; every user also dislikes two garments of
//! other clusters. One like per user is held out.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::{FitParams, Interactions, TasteModel};
use crate::{engine::WyRand, store::FeedbackAction};

/// Garments per synthetic outfit row.
const OUTFIT_SIZE: usize = 3;
/// Zipf exponent of garment popularity.
const ZIPF: f64 = 0.8;

/// Shape of the planted data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlantedParams {
    pub users: usize,
    pub garments: usize,
    pub clusters: usize,
    pub likes_per_user: usize,
    /// Probability that a like comes from the user's own cluster.
    pub in_cluster: f32,
    pub seed: u64,
}

impl Default for PlantedParams {
    fn default() -> Self {
        PlantedParams {
            users: 3_000,
            garments: 2_000,
            clusters: 20,
            likes_per_user: 12,
            in_cluster: 0.8,
            seed: 7,
        }
    }
}

/// Generated feedback and what was held out.
#[derive(Debug, Clone)]
pub struct Planted {
    /// Feedback rows for training: (user id, action, garment ids).
    pub train: Vec<(i64, FeedbackAction, Vec<i64>)>,
    /// One held-out liked garment per user: (user id, garment id).
    pub held_out: Vec<(i64, i64)>,
}

/// A Zipf-weighted sampler over `items` (popularity follows the given order).
struct Zipf {
    items: Vec<i64>,
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(items: Vec<i64>) -> Zipf {
        let mut total = 0.0;
        let cumulative = (0..items.len())
            .map(|r| {
                total += 1.0 / ((r + 1) as f64).powf(ZIPF);
                total
            })
            .collect();
        Zipf { items, cumulative }
    }

    fn draw(&self, rng: &mut WyRand) -> Option<i64> {
        let total = *self.cumulative.last()?;
        let x = f64::from(rng.unit_f32()) * total;
        let i = self.cumulative.partition_point(|&c| c <= x);
        self.items.get(i.min(self.items.len() - 1)).copied()
    }
}

/// Shuffles `v` in place (Fisher-Yates).
fn shuffle(v: &mut [i64], rng: &mut WyRand) {
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i + 1));
    }
}

/// Users with planted taste clusters (ids from 1; garment ids from 1).
pub fn planted(p: &PlantedParams) -> Planted {
    let mut rng = WyRand::new(p.seed);
    let clusters = p.clusters.max(1);
    let mut all: Vec<i64> = (1..=p.garments as i64).collect();
    shuffle(&mut all, &mut rng);
    let global = Zipf::new(all);
    let per_cluster: Vec<Zipf> = (0..clusters)
        .map(|c| {
            let mut items: Vec<i64> = (0..p.garments)
                .filter(|g| g % clusters == c)
                .map(|g| g as i64 + 1)
                .collect();
            shuffle(&mut items, &mut rng);
            Zipf::new(items)
        })
        .collect();
    let mut train = Vec::new();
    let mut held_out = Vec::new();
    for u in 0..p.users {
        let user = u as i64 + 1;
        let cluster = u % clusters;
        let mut likes: Vec<i64> = Vec::with_capacity(p.likes_per_user);
        for _ in 0..p.likes_per_user * 20 {
            if likes.len() >= p.likes_per_user {
                break;
            }
            let from = if rng.chance(p.in_cluster) {
                &per_cluster[cluster]
            } else {
                &global
            };
            if let Some(g) = from.draw(&mut rng)
                && !likes.contains(&g)
            {
                likes.push(g);
            }
        }
        if likes.len() >= 2 {
            let out = likes.swap_remove(rng.below(likes.len()));
            held_out.push((user, out));
        }
        for outfit in likes.chunks(OUTFIT_SIZE) {
            let action = if rng.chance(0.15) {
                FeedbackAction::Save
            } else {
                FeedbackAction::Like
            };
            train.push((user, action, outfit.to_vec()));
        }
        let other = &per_cluster[(cluster + 1 + rng.below(clusters.max(2) - 1)) % clusters];
        for _ in 0..2 {
            if let Some(g) = other.draw(&mut rng) {
                train.push((user, FeedbackAction::Dislike, vec![g]));
            }
        }
    }
    Planted { train, held_out }
}

/// Hit-rates of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalReport {
    /// Users with a held-out like.
    pub users: usize,
    /// Share of users whose held-out like is in the model's top k.
    pub model_hit_rate: f64,
    /// Share of users whose held-out like is among the k most popular garments they had not seen.
    pub popularity_hit_rate: f64,
    pub fit_seconds: f64,
    pub model_users: usize,
}

/// Fits on `data.train` and measures hit-rate@`k` on `data.held_out`, for the
/// model (ranked by the same taste scores the server biases outfits with,
/// over `neighbours` neighbours) and for a popularity baseline. Garments a
/// user already gave feedback on are never counted as recommendations.
pub fn evaluate(data: &Planted, params: &FitParams, neighbours: usize, k: usize) -> EvalReport {
    let mut interactions = Interactions::new();
    let mut seen: HashMap<i64, HashSet<i64>> = HashMap::new();
    let mut popularity: HashMap<i64, f32> = HashMap::new();
    for (user, action, garments) in &data.train {
        interactions.push(*user, *action, garments);
        seen.entry(*user)
            .or_default()
            .extend(garments.iter().copied());
        if *action != FeedbackAction::Dislike {
            for g in garments {
                *popularity.entry(*g).or_default() += super::action_weight(*action);
            }
        }
    }
    let started = Instant::now();
    let model = TasteModel::fit(&interactions, params);
    let fit_seconds = started.elapsed().as_secs_f64();
    let mut popular: Vec<(i64, f32)> = popularity.into_iter().collect();
    popular.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));

    let no_seen = HashSet::new();
    let (mut model_hits, mut pop_hits) = (0usize, 0usize);
    for &(user, target) in &data.held_out {
        let seen = seen.get(&user).unwrap_or(&no_seen);
        let mut scores = model
            .taste_scores(user, neighbours, usize::MAX)
            .unwrap_or_default();
        scores.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        model_hits += usize::from(
            scores
                .iter()
                .filter(|(g, s)| *s > 0.0 && !seen.contains(g))
                .take(k)
                .any(|&(g, _)| g == target),
        );
        pop_hits += usize::from(
            popular
                .iter()
                .filter(|(g, _)| !seen.contains(g))
                .take(k)
                .any(|&(g, _)| g == target),
        );
    }
    let n = data.held_out.len().max(1) as f64;
    EvalReport {
        users: data.held_out.len(),
        model_hit_rate: model_hits as f64 / n,
        popularity_hit_rate: pop_hits as f64 / n,
        fit_seconds,
        model_users: model.users(),
    }
}
