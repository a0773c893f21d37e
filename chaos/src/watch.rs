//! The sampler: scrapes `/metrics` (and the database's view) at an interval
//! while load runs, then hands the samples to the judges.
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
    detect::{self, Budgets, LoadWindow, Report, Status, infer_load_window},
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

/// A running sampler.
#[derive(Debug)]
pub struct Watch {
    samples: Arc<Mutex<Vec<Sample>>>,
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
        let samples = Arc::new(Mutex::new(vec![first]));
        let (stop, mut stopped) = signal::channel(false);
        let store = samples.clone();
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
                        if v.len() >= MAX_SAMPLES {
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
            samples,
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
    }

    /// Says load has stopped now.
    pub fn mark_load_end(&self) {
        self.marks().end = Some(self.elapsed_s());
    }

    pub fn samples(&self) -> Vec<Sample> {
        lock(&self.samples).clone()
    }

    fn window(&self) -> Option<LoadWindow> {
        let m = *self.marks();
        Some(LoadWindow {
            start_s: m.start?,
            end_s: m.end,
        })
    }

    /// After load: waits until connections and tasks are back (or `max` passes);
    /// true when they are.
    pub async fn wait_settled(&self, max: Duration) -> bool {
        let deadline = Instant::now() + max;
        loop {
            // only the cheap judges: the memory one bootstraps
            let (samples, window) = (self.samples(), self.window());
            let window = window.or_else(|| infer_load_window(&samples));
            let connections = detect::connections::judge(&samples, window, &self.budgets);
            let tasks = detect::tasks::judge(&samples, window, &self.budgets);
            if connections.status == Status::Pass && tasks.status == Status::Pass {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops sampling and judges.
    pub async fn finish(self) -> Report {
        let window = self.window();
        let Watch {
            samples,
            stop,
            task,
            budgets,
            ..
        } = self;
        stop.send_replace(true);
        let _ = task.await;
        Report::judge(&lock(&samples), window, &budgets)
    }
}

fn lock(m: &Mutex<Vec<Sample>>) -> MutexGuard<'_, Vec<Sample>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
