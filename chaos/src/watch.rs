//! The sampler: scrapes `/metrics` (and the database's view) at an interval
//! while load runs, then hands the samples to the judges.
//!
//! Histograms are kept only on the samples a judge reads them from (the first,
//! the ones at the load's marks, and the latest), so an hour of samples stays
//! small; [`Watch::around_load`] hands the pair the hold and stall judges take.
//!
//! ```no_run
//! # async fn demo() -> Result<(), chaos::watch::WatchError> {
//! use chaos::watch::{Watch, WatchConfig};
//! let watch = Watch::start(WatchConfig::new("http://127.0.0.1:8080")).await?;
//! watch.mark_load_start();
//! // ... drive load ...
//! watch.mark_load_end();
//! watch.wait_settled(std::time::Duration::from_secs(10)).await;
//! let report = watch.finish().await;
//! println!("{report}");
//! # Ok(()) }
//! ```

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use tokio::{sync::watch as signal, task::JoinHandle};

use crate::{
    dbview::{DbError, DbView},
    detect::{self, Budgets, LoadWindow, Report, Status, infer_load_window, settled_or_flat},
    metrics::Sample,
};

/// Where to look and how often.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// The server's base URL (`/metrics` is appended).
    pub target: String,
    /// The server's database URL, for the database's own view (PostgreSQL or MySQL).
    pub database_url: Option<String>,
    /// The server's PostgreSQL `application_name`.
    pub application_name: String,
    pub interval: Duration,
    /// The sampler stops by itself after this, whatever happens.
    pub max_duration: Duration,
    pub budgets: Budgets,
}

impl WatchConfig {
    pub fn new(target: &str) -> WatchConfig {
        WatchConfig {
            target: target.trim_end_matches('/').to_string(),
            database_url: None,
            application_name: "outfit-server".into(),
            interval: Duration::from_millis(500),
            max_duration: Duration::from_secs(3600),
            budgets: Budgets::default(),
        }
    }
}

/// Why a watch could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("cannot read {url}")]
    Scrape {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot read the database's view of connections")]
    Database(#[from] DbError),
}

/// Explicit load markers, in seconds since the watch started.
#[derive(Debug, Default, Clone, Copy)]
struct Marks {
    start: Option<f64>,
    end: Option<f64>,
}

/// The samples so far, histograms stripped from all but the ones judges read.
#[derive(Debug, Default)]
struct Store {
    samples: Vec<Sample>,
    /// Samples whose histograms are kept besides the first and the latest.
    pinned: Vec<usize>,
    /// The latest sample when the load was marked to start.
    load_start: Option<usize>,
}

impl Store {
    fn push(&mut self, sample: Sample) {
        if let Some(prev) = self.samples.len().checked_sub(1)
            && prev > 0
            && !self.pinned.contains(&prev)
        {
            self.samples[prev].strip_histograms();
        }
        self.samples.push(sample);
    }

    /// Keeps the latest sample's histograms; its index.
    fn pin_latest(&mut self) -> Option<usize> {
        let i = self.samples.len().checked_sub(1)?;
        if !self.pinned.contains(&i) {
            self.pinned.push(i);
        }
        Some(i)
    }
}

/// How long [`Watch::wait_settled`] may wait past its bound while the in-use
/// gauges are still coming down (a slow drain is told from a leak by waiting).
pub const EXTRA_SETTLE_WAIT: Duration = Duration::from_secs(20);

/// A running sampler.
#[derive(Debug)]
pub struct Watch {
    store: Arc<Mutex<Store>>,
    marks: Mutex<Marks>,
    started: Instant,
    stop: signal::Sender<bool>,
    task: JoinHandle<()>,
    budgets: Budgets,
}

/// Most samples kept (an hour at 20 per second).
const MAX_SAMPLES: usize = 72_000;

async fn scrape(
    client: &reqwest::Client,
    url: &str,
    db: &mut Option<DbView>,
    at_s: f64,
) -> Result<Sample, WatchError> {
    let text = async {
        client
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .text()
            .await
    }
    .await
    .map_err(|source| WatchError::Scrape {
        url: url.to_string(),
        source,
    })?;
    let mut sample = Sample::from_text(at_s, &text);
    if let Some(view) = db {
        sample.db = Some(view.sample().await?);
    }
    Ok(sample)
}

impl Watch {
    /// Takes a first sample (failing fast when the target or database is
    /// unreachable) and keeps sampling in a task until [`Watch::finish`].
    pub async fn start(config: WatchConfig) -> Result<Watch, WatchError> {
        let client = reqwest::Client::builder()
            .timeout(config.interval.max(Duration::from_secs(2)))
            .build()
            .map_err(WatchError::Client)?;
        let url = format!("{}/metrics", config.target);
        let mut db = match &config.database_url {
            Some(u) => Some(DbView::connect(u, &config.application_name).await?),
            None => None,
        };
        let started = Instant::now();
        let first = scrape(&client, &url, &mut db, 0.0).await?;
        let shared = Arc::new(Mutex::new(Store {
            samples: vec![first],
            ..Store::default()
        }));
        let (stop, mut stopped) = signal::channel(false);
        let store = shared.clone();
        let (interval, max) = (
            config.interval.max(Duration::from_millis(20)),
            config.max_duration,
        );
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            let mut errors = 0u64;
            while started.elapsed() < max {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.wait_for(|s| *s) => break,
                }
                match scrape(&client, &url, &mut db, started.elapsed().as_secs_f64()).await {
                    Ok(s) => {
                        let mut v = lock(&store);
                        if v.samples.len() >= MAX_SAMPLES {
                            break;
                        }
                        v.push(s);
                    }
                    Err(e) => {
                        errors += 1;
                        // an overloaded server may miss a scrape; the judges work on what arrives
                        if errors.is_power_of_two() {
                            tracing::warn!(error = %e, errors, "scrape failed");
                        }
                    }
                }
            }
            if let Some(view) = db {
                view.close().await;
            }
        });
        Ok(Watch {
            store: shared,
            marks: Mutex::new(Marks::default()),
            started,
            stop,
            task,
            budgets: config.budgets,
        })
    }

    pub fn elapsed_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn marks(&self) -> MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Says load starts now (otherwise it is found in the request counter).
    pub fn mark_load_start(&self) {
        self.marks().start = Some(self.elapsed_s());
        let mut store = lock(&self.store);
        store.load_start = store.pin_latest();
    }

    /// Says load has stopped now.
    pub fn mark_load_end(&self) {
        self.marks().end = Some(self.elapsed_s());
        lock(&self.store).pin_latest();
    }

    /// Every sample so far (histograms only on the first, the marked and the latest).
    pub fn samples(&self) -> Vec<Sample> {
        lock(&self.store).samples.clone()
    }

    /// The sample taken just before the load was marked to start (else the
    /// first) and the latest, both with their histograms: what
    /// [`detect::judge_holds`] and [`detect::judge_stalls`] take.
    pub fn around_load(&self) -> Option<(Sample, Sample)> {
        let store = lock(&self.store);
        let before = store.samples.get(store.load_start.unwrap_or(0))?;
        Some((before.clone(), store.samples.last()?.clone()))
    }

    fn window(&self) -> Option<LoadWindow> {
        let m = *self.marks();
        Some(LoadWindow {
            start_s: m.start?,
            end_s: m.end,
        })
    }

    /// After load: waits until connections, tasks and every in-use gauge are
    /// back; true when they are. Gives up after `max` once nothing is moving
    /// any more ([`settled_or_flat`]), at once when the tasks are left behind
    /// (flat and grown with the load) and all else is back, and after `max`
    /// plus [`EXTRA_SETTLE_WAIT`] in any case (a drain still under way).
    pub async fn wait_settled(&self, max: Duration) -> bool {
        let soft = Instant::now() + max;
        let hard = soft + EXTRA_SETTLE_WAIT;
        loop {
            let window = self.window();
            let (back, quiet, tasks_left) = {
                // only the cheap judges (the memory one bootstraps), on the samples in place
                let store = lock(&self.store);
                let samples = &store.samples;
                let window = window.or_else(|| infer_load_window(samples));
                let connections = detect::connections::judge(samples, window, &self.budgets);
                let tasks = detect::tasks::judge(samples, window, &self.budgets);
                let quiet = match window {
                    Some(w) if w.end_s.is_some() => settled_or_flat(samples, w, &self.budgets),
                    _ => true,
                };
                let connections_back = connections.status == Status::Pass;
                (
                    connections_back && tasks.status == Status::Pass && quiet,
                    quiet,
                    quiet && connections_back && tasks.status == Status::Fail,
                )
            };
            if back {
                return true;
            }
            let now = Instant::now();
            if (quiet && (tasks_left || now >= soft)) || now >= hard {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops sampling and judges.
    pub async fn finish(self) -> Report {
        let window = self.window();
        let Watch {
            store,
            stop,
            task,
            budgets,
            ..
        } = self;
        stop.send_replace(true);
        let _ = task.await;
        Report::judge(&lock(&store).samples, window, &budgets)
    }
}

fn lock(m: &Mutex<Store>) -> MutexGuard<'_, Store> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Histogram;

    fn with_histogram(at_s: f64) -> Sample {
        let mut s = Sample {
            at_s,
            ..Sample::default()
        };
        s.scheduler_lag = Some(Histogram::default());
        s
    }

    #[test]
    fn histograms_are_kept_on_the_first_the_marked_and_the_latest_sample_only() {
        let mut store = Store::default();
        for i in 0..4 {
            store.push(with_histogram(f64::from(i)));
        }
        store.load_start = store.pin_latest();
        for i in 4..8 {
            store.push(with_histogram(f64::from(i)));
        }
        let kept: Vec<usize> = store
            .samples
            .iter()
            .enumerate()
            .filter(|(_, s)| s.scheduler_lag.is_some())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(kept, vec![0, 3, 7]);
        assert_eq!(store.load_start, Some(3));
    }
}
