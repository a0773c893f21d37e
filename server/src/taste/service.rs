//! [`Taste`]: the retrain schedule, the atomic model swap, the per-user bias
//! handed to the engine, and the `taste_model_*` metrics.
//!
//! Metrics are registered on the server's registry only when the flag is on
//! (with it off, `/metrics` has no `taste_model_*` series at all and
//! `feature_enabled{name="taste_model"} 0` says why).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use prometheus::{Gauge, IntCounter, IntGauge};

use super::{
    BIAS_LOOKUPS, RETRAINS, TRAINERS_STARTED, TasteError,
    data::Interactions,
    model::{FitParams, TasteModel},
};
use crate::{config::TasteSettings, engine::Catalog, store::Db, telemetry::Metrics};

/// Feedback rows fetched per query (each page takes and returns a pooled connection).
const PAGE_ROWS: usize = 2_000;
/// Seed of every fit, so the same feedback gives the same model.
const FIT_SEED: u64 = 0x7a57_e5ee_d000_0001;
/// Shortest retrain interval honoured, whatever the settings say.
const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// The taste model service; exists only when the `taste_model` flag is on.
#[derive(Debug)]
pub struct Taste {
    settings: TasteSettings,
    /// The model in use; replaced whole by each retrain, never grown.
    current: RwLock<Option<Arc<Fitted>>>,
    metrics: TasteMetrics,
}

/// A user's taste scores: (garment id, score in -1..=1), strongest first.
type Scores = Arc<[(i64, f32)]>;

/// A model plus the bias cache that belongs to it (and goes with it on a swap).
#[derive(Debug)]
struct Fitted {
    model: TasteModel,
    /// User id → taste scores; at most `cap` entries.
    cache: Mutex<HashMap<i64, Scores>>,
    cap: usize,
}

#[derive(Debug, Clone)]
struct TasteMetrics {
    retrains: IntCounter,
    failures: IntCounter,
    users: IntGauge,
    garments: IntGauge,
    pairs: IntGauge,
    fit_seconds: Gauge,
    model_bytes: IntGauge,
}

/// What one retrain did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrainReport {
    /// Feedback rows read (at most `taste.max_interactions`).
    pub feedback_rows: usize,
    /// Rows the store could not decode (skipped, counted in the bound).
    pub skipped_rows: usize,
    pub users: usize,
    pub garments: usize,
    /// Positive (user, garment) pairs fitted.
    pub positives: usize,
    pub fit_seconds: f64,
    pub model_bytes: usize,
}

impl Taste {
    /// A service with no model yet; registers its metrics on `metrics`.
    pub fn new(settings: TasteSettings, metrics: &Metrics) -> Result<Arc<Taste>, TasteError> {
        let m = TasteMetrics {
            retrains: IntCounter::new(
                "taste_model_retrains_total",
                "Taste model retrains that swapped in a new model",
            )?,
            failures: IntCounter::new(
                "taste_model_retrain_failures_total",
                "Taste model retrains that failed (the previous model stayed)",
            )?,
            users: IntGauge::new("taste_model_users", "Users with a row in the taste model")?,
            garments: IntGauge::new("taste_model_garments", "Garments the taste model knows")?,
            pairs: IntGauge::new(
                "taste_model_interactions",
                "Positive (user, garment) pairs the current taste model was fitted on",
            )?,
            fit_seconds: Gauge::new(
                "taste_model_fit_seconds",
                "Wall time of the last taste model fit",
            )?,
            model_bytes: IntGauge::new(
                "taste_model_bytes",
                "Heap bytes of the current taste model",
            )?,
        };
        metrics.register(Box::new(m.retrains.clone()))?;
        metrics.register(Box::new(m.failures.clone()))?;
        metrics.register(Box::new(m.users.clone()))?;
        metrics.register(Box::new(m.garments.clone()))?;
        metrics.register(Box::new(m.pairs.clone()))?;
        metrics.register(Box::new(m.fit_seconds.clone()))?;
        metrics.register(Box::new(m.model_bytes.clone()))?;
        Ok(Arc::new(Taste {
            settings,
            current: RwLock::new(None),
            metrics: m,
        }))
    }

    /// Retrains every `taste.retrain_interval_ms` (the first right away) until the task is aborted.
    /// Fits never overlap: the next one starts only after the previous one ended.
    pub fn spawn(self: &Arc<Self>, db: Db) -> tokio::task::JoinHandle<()> {
        TRAINERS_STARTED.fetch_add(1, Relaxed);
        let taste = self.clone();
        let period = Duration::from_millis(self.settings.retrain_interval_ms).max(MIN_INTERVAL);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match taste.retrain(&db).await {
                    Ok(r) => tracing::debug!(
                        users = r.users,
                        garments = r.garments,
                        rows = r.feedback_rows,
                        fit_s = r.fit_seconds,
                        "taste model retrained"
                    ),
                    Err(e) => {
                        tracing::warn!(error = %e, "taste model retrain failed; keeping the current model")
                    }
                }
            }
        })
    }

    /// Reads the newest feedback (bounded), fits on a blocking thread, and swaps the result in.
    pub async fn retrain(&self, db: &Db) -> Result<RetrainReport, TasteError> {
        RETRAINS.fetch_add(1, Relaxed);
        let result = self.retrain_inner(db).await;
        if result.is_err() {
            self.metrics.failures.inc();
        }
        result
    }

    async fn retrain_inner(&self, db: &Db) -> Result<RetrainReport, TasteError> {
        let (data, fetched, skipped) = self.read(db).await?;
        let params = FitParams {
            factors: self.settings.factors,
            iterations: self.settings.iterations,
            seed: FIT_SEED,
        };
        let started = Instant::now();
        let model = tokio::task::spawn_blocking(move || TasteModel::fit(&data, &params))
            .await
            .map_err(TasteError::FitAborted)?;
        let fit_seconds = started.elapsed().as_secs_f64();
        let report = RetrainReport {
            feedback_rows: fetched,
            skipped_rows: skipped,
            users: model.users(),
            garments: model.garments(),
            positives: model.positives(),
            fit_seconds,
            model_bytes: model.heap_bytes(),
        };
        self.install(model);
        self.metrics.fit_seconds.set(fit_seconds);
        Ok(report)
    }

    /// Swaps `model` in (the old one is freed once no request uses it) and
    /// updates the gauges. Retrains call this; so can a test or an offline fit.
    pub fn install(&self, model: TasteModel) {
        let m = &self.metrics;
        m.users.set(model.users() as i64);
        m.garments.set(model.garments() as i64);
        m.pairs.set(model.positives() as i64);
        m.model_bytes.set(model.heap_bytes() as i64);
        let fitted = Arc::new(Fitted {
            model,
            cache: Mutex::new(HashMap::new()),
            cap: self.settings.cache_users,
        });
        let old = self
            .current
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .replace(fitted);
        // freed here, outside the lock (or later, by the last request still using it)
        drop(old);
        m.retrains.inc();
    }

    /// The newest `max_interactions` feedback rows, folded; with rows fetched and skipped.
    async fn read(&self, db: &Db) -> Result<(Interactions, usize, usize), TasteError> {
        let max = self.settings.max_interactions;
        let mut data = Interactions::new();
        let (mut fetched, mut skipped) = (0, 0);
        let mut before = None;
        while fetched < max {
            let want = (max - fetched).min(PAGE_ROWS);
            let page = db
                .feedback_page(before, u32::try_from(want).unwrap_or(u32::MAX))
                .await?;
            fetched += page.rows;
            skipped += page.skipped;
            for e in &page.events {
                data.push(e.user_id, e.action, &e.garment_ids);
            }
            match page.last_id {
                Some(id) if page.rows >= want => before = Some(id),
                _ => break,
            }
        }
        Ok((data, fetched, skipped))
    }

    /// Per-garment bias (dense, by catalog index) for `user_id`'s outfits, or
    /// `None` when there is no model, the user has no row in it, or its
    /// neighbours liked nothing in this catalog.
    pub fn bias(&self, user_id: i64, catalog: &Catalog) -> Option<Vec<f32>> {
        BIAS_LOOKUPS.fetch_add(1, Relaxed);
        let fitted = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let scores = fitted.scores(
            user_id,
            self.settings.neighbours,
            self.settings.max_bias_garments,
        )?;
        let strength = self.settings.strength;
        let mut dense = vec![0.0f32; catalog.len()];
        let mut any = false;
        for &(garment, score) in scores.iter() {
            if let Some(i) = catalog.index_of(garment) {
                dense[i] = score * strength;
                any = true;
            }
        }
        any.then_some(dense)
    }

    /// Runs `f` on the current model, if there is one.
    pub fn with_model<R>(&self, f: impl FnOnce(&TasteModel) -> R) -> Option<R> {
        let fitted = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        Some(f(&fitted.model))
    }

    /// Users whose bias lists are cached right now.
    pub fn cached_users(&self) -> usize {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |f| {
                f.cache.lock().unwrap_or_else(|p| p.into_inner()).len()
            })
    }
}

impl Fitted {
    /// Taste scores of `user`, from the cache or computed (and cached, bounded).
    fn scores(&self, user: i64, k: usize, max: usize) -> Option<Scores> {
        let lock = || self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = lock().get(&user) {
            return Some(hit.clone());
        }
        let computed: Scores = self.model.taste_scores(user, k, max)?.into();
        if self.cap > 0 {
            let mut cache = lock();
            if cache.len() >= self.cap {
                // bounded, not clever: start over rather than track recency
                cache.clear();
            }
            cache.insert(user, computed.clone());
        }
        Some(computed)
    }
}
