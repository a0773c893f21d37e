//! The "similar taste" model: users who like the same garments see outfits
//! nudged toward what their nearest neighbours liked.
//!
//! Behind the `taste_model` feature flag, off by default. With the flag off
//! nothing of this module runs: no [`Taste`] is built, no task is spawned, no
//! metric is registered, and the outfits handler never reaches a model (it
//! holds an `Option<Arc<Taste>>` that is `None`). [`activity`] counts, process-wide,
//! every trainer started, retrain, model built and bias lookup, so tests can
//! prove those stay at zero.
//!
//! The original server's experimental model leaked a few bytes per call. This
//! one is built so that it cannot grow:
//! - a retrain reads at most `taste.max_interactions` of the newest feedback
//!   rows, page by page, so its data and its fit are bounded;
//! - the fit runs on a blocking thread and yields one immutable [`TasteModel`]
//!   made of a fixed number of flat allocations (no per-user boxes);
//! - the new model *replaces* the old one behind one `RwLock<Option<Arc<..>>>`
//!   swap; the old one is freed when the last request using it finishes;
//! - the only cache (per-user bias lists) lives inside the swapped value, is
//!   capped at `taste.cache_users` entries, and goes away with its model.
//!
//! Layout:
//! - `data`: [`Interactions`], feedback rows folded into bounded (user, garment) weights;
//! - `model`: [`TasteModel`], the implicit-ALS fit, neighbour search and taste scores;
//! - `service`: [`Taste`], the retrain schedule, the atomic swap, the bias
//!   handed to the engine, and the `taste_model_*` metrics;
//! - [`synthetic`]: users with planted taste clusters and the offline
//!   hit-rate evaluation against a popularity baseline (used by
//!   `examples/taste_eval.rs` and the tests).

mod data;
mod model;
mod service;
pub mod synthetic;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

pub use data::{Interactions, action_weight};
pub use model::{FitParams, TasteModel};
pub use service::{RetrainReport, Taste};

/// Why a retrain failed. The current model (if any) stays in place.
#[derive(Debug, thiserror::Error)]
pub enum TasteError {
    #[error("reading feedback")]
    Store(#[from] crate::store::StoreError),
    #[error("the fitting thread stopped before finishing")]
    FitAborted(#[source] tokio::task::JoinError),
    #[error("registering the taste model metrics")]
    Metrics(#[from] prometheus::Error),
}

/// Process-wide counts of what the taste model did (for tests and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Activity {
    /// Background retrain tasks spawned.
    pub trainers_started: u64,
    /// Retrains attempted (scheduled or called directly).
    pub retrains: u64,
    /// Models fitted.
    pub models_built: u64,
    /// Models alive right now (fitted and not yet dropped).
    pub models_live: i64,
    /// Per-request bias lookups.
    pub bias_lookups: u64,
}

static TRAINERS_STARTED: AtomicU64 = AtomicU64::new(0);
static RETRAINS: AtomicU64 = AtomicU64::new(0);
static MODELS_BUILT: AtomicU64 = AtomicU64::new(0);
static MODELS_LIVE: AtomicI64 = AtomicI64::new(0);
static BIAS_LOOKUPS: AtomicU64 = AtomicU64::new(0);

/// What the taste model has done in this process so far.
pub fn activity() -> Activity {
    Activity {
        trainers_started: TRAINERS_STARTED.load(Relaxed),
        retrains: RETRAINS.load(Relaxed),
        models_built: MODELS_BUILT.load(Relaxed),
        models_live: MODELS_LIVE.load(Relaxed),
        bias_lookups: BIAS_LOOKUPS.load(Relaxed),
    }
}
