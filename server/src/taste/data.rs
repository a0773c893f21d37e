//! Feedback rows folded into (user, garment) weights with dense indices.
//!
//! A like counts +1, a save +2 (a stronger signal: the user wants it back),
//! a dislike -1; the net weight of a pair is clamped to ±[`MAX_WEIGHT`]. Only
//! pairs with a positive net weight are preferences for the fit; negative
//! ones stay in the model as "neighbours disliked this".

use std::collections::HashMap;

use crate::store::FeedbackAction;

/// Largest absolute net weight of one (user, garment) pair, so one user
/// repeating a like a thousand times cannot dominate the fit.
pub(super) const MAX_WEIGHT: f32 = 5.0;
/// Garments taken from one feedback row; an outfit has at most six, so this
/// only matters for rows written by something other than the API.
pub(super) const MAX_GARMENTS_PER_ROW: usize = 16;

/// The weight one action adds to each garment of its outfit.
pub fn action_weight(action: FeedbackAction) -> f32 {
    match action {
        FeedbackAction::Like => 1.0,
        FeedbackAction::Save => 2.0,
        FeedbackAction::Dislike => -1.0,
    }
}

/// Interactions accumulated from feedback rows; callers bound how many rows they push.
#[derive(Debug, Default)]
pub struct Interactions {
    /// Dense user index → user id.
    pub(super) users: Vec<i64>,
    user_index: HashMap<i64, u32>,
    /// Dense garment index → garment id.
    pub(super) garments: Vec<i64>,
    garment_index: HashMap<i64, u32>,
    /// Net weight per (user index, garment index).
    cells: HashMap<(u32, u32), f32>,
    rows: usize,
}

impl Interactions {
    pub fn new() -> Interactions {
        Interactions::default()
    }

    /// Adds one feedback row: `action` on each of `garment_ids`.
    pub fn push(&mut self, user_id: i64, action: FeedbackAction, garment_ids: &[i64]) {
        self.rows += 1;
        let w = action_weight(action);
        let u = intern(&mut self.users, &mut self.user_index, user_id);
        for &g in garment_ids.iter().take(MAX_GARMENTS_PER_ROW) {
            let i = intern(&mut self.garments, &mut self.garment_index, g);
            let cell = self.cells.entry((u, i)).or_insert(0.0);
            *cell = (*cell + w).clamp(-MAX_WEIGHT, MAX_WEIGHT);
        }
    }

    /// Feedback rows pushed.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Distinct users seen.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Distinct garments seen.
    pub fn garments(&self) -> usize {
        self.garments.len()
    }

    /// Distinct (user, garment) pairs.
    pub fn pairs(&self) -> usize {
        self.cells.len()
    }

    /// Every non-zero pair as (user index, garment index, net weight), sorted,
    /// so a fit over the same rows is the same whatever the hash order.
    pub(super) fn sorted_cells(&self) -> Vec<(u32, u32, f32)> {
        let mut cells: Vec<(u32, u32, f32)> = self
            .cells
            .iter()
            .filter(|&(_, &w)| w != 0.0)
            .map(|(&(u, i), &w)| (u, i, w))
            .collect();
        cells.sort_unstable_by_key(|&(u, i, _)| (u, i));
        cells
    }
}

/// Index of `id`, adding it when new. Indices stay below `u32::MAX`: the
/// caller bounds the rows, and so the ids, long before that.
fn intern(ids: &mut Vec<i64>, index: &mut HashMap<i64, u32>, id: i64) -> u32 {
    *index.entry(id).or_insert_with(|| {
        ids.push(id);
        (ids.len() - 1) as u32
    })
}
