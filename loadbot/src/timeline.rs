//! The run second by second, for `report.html`: what the fleet did (active
//! users, arrivals, answers by outcome, latency percentiles from a per-second
//! HDR histogram) and what the server said (its `/metrics`, scraped twice a
//! second: in-flight and shed requests, the pool, acquire waits, live
//! allocations, RSS), with the leak detectors' verdicts and fitted trend.
//! Saved as `timeline.json` (versioned) so `loadbot report DIR` can redraw.

use std::{
    collections::{BTreeMap, VecDeque},
    path::Path,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use anyhow::Context;
use chaos::{
    Budgets, Report,
    detect::LoadWindow,
    metrics::{Sample, parse},
};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tokio::{sync::watch, task::JoinHandle};

use crate::{outcome::Outcome, slo::percentile_ms};

/// `timeline.json`'s format; a reader refuses any other.
pub(crate) const FORMAT: u32 = 1;
pub(crate) const FILE: &str = "timeline.json";
/// Most seconds recorded (a day); later ones are not charted.
const MAX_SECONDS: usize = 86_400;
/// How often the server's `/metrics` is read.
pub(crate) const SCRAPE_EVERY: Duration = Duration::from_millis(500);
/// Most server samples kept (a day at two per second).
const MAX_SAMPLES: usize = 2 * MAX_SECONDS;
/// After load, how long to wait for the pool to empty before judging.
const SETTLE_MAX: Duration = Duration::from_secs(3);

/// What the fleet saw in one second of the run (by completion time).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct ClientSecond {
    /// Start of the second, seconds since the fleet started.
    pub(crate) t: f64,
    /// Simulated users alive (closed model plus open arrivals on their journey).
    pub(crate) users: Option<f64>,
    pub(crate) arrivals: u64,
    pub(crate) ok: u64,
    pub(crate) shed: u64,
    /// Client, server and connection errors.
    pub(crate) error: u64,
    pub(crate) silent: u64,
    pub(crate) refreshed: u64,
    /// Latency of the 2xx answers finished in this second, ms.
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p95_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
}

/// One scrape of the server's `/metrics`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct ServerPoint {
    /// Seconds since the fleet started (negative: before the load).
    pub(crate) t: f64,
    pub(crate) inflight: Option<f64>,
    /// Shed answers per second since the previous scrape (all reasons).
    pub(crate) shed_per_s: Option<f64>,
    pub(crate) pool_in_use: Option<f64>,
    pub(crate) pool_idle: Option<f64>,
    pub(crate) pool_max: Option<f64>,
    /// Mean wait for a pooled connection since the previous scrape, ms.
    pub(crate) acquire_wait_ms: Option<f64>,
    /// Acquires that gave up, per second since the previous scrape.
    pub(crate) acquire_timeouts_per_s: Option<f64>,
    pub(crate) live_allocations: Option<f64>,
    pub(crate) resident_bytes: Option<f64>,
}

/// A phase or an injected fault on the time axis.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Marker {
    pub(crate) label: String,
    pub(crate) at_s: f64,
}

/// One leak detector's answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Finding {
    /// `pass`, `inconclusive` or `fail`.
    pub(crate) status: String,
    pub(crate) summary: String,
}

/// The leak detectors on the server's samples.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Leaks {
    pub(crate) verdict: String,
    pub(crate) memory: Finding,
    pub(crate) connections: Finding,
    pub(crate) tasks: Finding,
    /// Code sites that held a connection past the leak threshold, with counts.
    pub(crate) held_too_long: Vec<(String, f64)>,
    /// The memory judge's Theil–Sen fit of live allocations against requests,
    /// drawn over the samples it judged: `(t, fitted live allocations)`.
    pub(crate) trend: Vec<(f64, f64)>,
    /// Its slope, live allocations per request.
    pub(crate) trend_slope: Option<f64>,
}

/// `timeline.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Timeline {
    pub(crate) format: u32,
    pub(crate) scenario: String,
    pub(crate) started_at: String,
    pub(crate) target: String,
    /// The run's length, seconds.
    pub(crate) duration_s: f64,
    pub(crate) seconds: Vec<ClientSecond>,
    pub(crate) server: Vec<ServerPoint>,
    /// Why there are no server figures, when there are none.
    pub(crate) server_note: Option<String>,
    pub(crate) phases: Vec<Marker>,
    pub(crate) faults: Vec<Marker>,
    pub(crate) leaks: Option<Leaks>,
}

impl Timeline {
    pub(crate) fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self).context("serializing the timeline")?;
        std::fs::write(dir.join(FILE), json + "\n").context("writing timeline.json")
    }

    /// Reads `timeline.json`, naming the file, line and column of what is wrong.
    pub(crate) fn read(path: &Path) -> Result<Timeline, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let t: Timeline = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: line {}, column {}: {e}",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        if t.format != FORMAT {
            return Err(format!(
                "{}: field `format`: {} is not a timeline format this loadbot reads ({FORMAT})",
                path.display(),
                t.format
            ));
        }
        Ok(t)
    }
}

/// A latency histogram for one second: 2 significant figures are plenty for a chart.
fn second_histogram() -> Histogram<u64> {
    // constant, valid bounds: this cannot fail
    Histogram::new_with_bounds(1, 600_000_000, 2).expect("valid histogram bounds")
}

#[derive(Debug, Default)]
struct Inner {
    seconds: Vec<ClientSecond>,
    /// Histograms of the seconds still open, oldest first.
    open: VecDeque<(usize, Histogram<u64>)>,
    /// Seconds before this have their percentiles; a straggler's latency is not charted.
    closed_before: usize,
}

impl Inner {
    fn second(&mut self, s: usize) -> Option<&mut ClientSecond> {
        if s >= MAX_SECONDS {
            return None;
        }
        while self.seconds.len() <= s {
            let t = self.seconds.len() as f64;
            self.seconds.push(ClientSecond {
                t,
                ..ClientSecond::default()
            });
        }
        self.seconds.get_mut(s)
    }

    /// Computes the percentiles of open seconds before `before`.
    fn close(&mut self, before: usize) {
        while self.open.front().is_some_and(|(s, _)| *s < before) {
            let Some((s, h)) = self.open.pop_front() else {
                break;
            };
            if let Some(c) = self.second(s) {
                c.p50_ms = percentile_ms(&h, 0.50);
                c.p95_ms = percentile_ms(&h, 0.95);
                c.p99_ms = percentile_ms(&h, 0.99);
            }
        }
        self.closed_before = self.closed_before.max(before);
    }
}

/// The fleet's per-second recorder, shared by the workers and the dispatcher.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    inner: Mutex<Inner>,
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A request finished `at` into the run, `latency` after it was due.
    pub(crate) fn request(&self, at: Duration, outcome: Outcome, latency: Duration) {
        let s = at.as_secs() as usize;
        let mut inner = self.lock();
        let Some(c) = inner.second(s) else { return };
        match outcome {
            Outcome::Ok => c.ok += 1,
            Outcome::Shed => c.shed += 1,
            Outcome::Silent => c.silent += 1,
            Outcome::Refreshed => c.refreshed += 1,
            o if o.is_error() => c.error += 1,
            _ => {}
        }
        if outcome != Outcome::Ok || s < inner.closed_before {
            return;
        }
        // answers finish nearly in order: seconds two behind are complete
        inner.close(s.saturating_sub(2));
        let i = match inner.open.iter().position(|(o, _)| *o == s) {
            Some(i) => i,
            None => {
                let at = inner.open.iter().position(|(o, _)| *o > s);
                let at = at.unwrap_or(inner.open.len());
                inner.open.insert(at, (s, second_histogram()));
                at
            }
        };
        if let Some((_, h)) = inner.open.get_mut(i) {
            crate::stats::record(h, latency);
        }
    }

    /// An open-model arrival was scheduled `at` into the run.
    pub(crate) fn arrival(&self, at: Duration) {
        if let Some(c) = self.lock().second(at.as_secs() as usize) {
            c.arrivals += 1;
        }
    }

    /// `users` simulated users were alive `at` into the run (the latest count of a second wins).
    pub(crate) fn users(&self, at: Duration, users: f64) {
        if let Some(c) = self.lock().second(at.as_secs() as usize) {
            c.users = Some(users);
        }
    }

    /// Every second so far, with the percentiles of all of them.
    pub(crate) fn finish(&self) -> Vec<ClientSecond> {
        let mut inner = self.lock();
        inner.close(usize::MAX);
        inner.seconds.clone()
    }
}

/// A scrape: the detectors' sample plus what the charts need besides.
#[derive(Debug, Clone)]
struct Scrape {
    sample: Sample,
    inflight: Option<f64>,
    shed_total: Option<f64>,
    acquire_count: Option<f64>,
    acquire_sum_s: Option<f64>,
}

fn read_scrape(at_s: f64, text: &str) -> Scrape {
    let mut s = Scrape {
        sample: Sample::from_text(at_s, text),
        inflight: None,
        shed_total: None,
        acquire_count: None,
        acquire_sum_s: None,
    };
    for series in parse(text) {
        let add = |v: &mut Option<f64>| *v = Some(v.unwrap_or(0.0) + series.value);
        match series.name.as_str() {
            "http_inflight_requests" => s.inflight = Some(series.value),
            "http_shed_total" => add(&mut s.shed_total),
            "db_pool_acquire_seconds_count" => add(&mut s.acquire_count),
            "db_pool_acquire_seconds_sum" => add(&mut s.acquire_sum_s),
            _ => {}
        }
    }
    s
}

/// Reads the server's `/metrics` in a task until stopped.
#[derive(Debug)]
pub(crate) struct ServerSampler {
    started: Instant,
    scrapes: Arc<Mutex<Vec<Scrape>>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Option<String>>,
    load: Mutex<(Option<f64>, Option<f64>)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ServerSampler {
    /// Starts scraping `target`/metrics every [`SCRAPE_EVERY`], for at most `max`.
    pub(crate) fn start(target: &str, max: Duration) -> ServerSampler {
        let url = format!("{}/metrics", target.trim_end_matches('/'));
        let started = Instant::now();
        let scrapes = Arc::new(Mutex::new(Vec::new()));
        let (stop, mut stopped) = watch::channel(false);
        let store = Arc::clone(&scrapes);
        let task = tokio::spawn(async move {
            let client = match reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
            {
                Ok(c) => c,
                Err(e) => return Some(format!("cannot build an HTTP client: {e}")),
            };
            let mut tick = tokio::time::interval(SCRAPE_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_error = None;
            while started.elapsed() < max {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.wait_for(|s| *s) => break,
                }
                let at_s = started.elapsed().as_secs_f64();
                let answer = async {
                    client
                        .get(&url)
                        .send()
                        .await?
                        .error_for_status()?
                        .text()
                        .await
                };
                let text = tokio::select! {
                    a = answer => a,
                    _ = stopped.wait_for(|s| *s) => break,
                };
                match text {
                    Ok(text) => {
                        let scrape = read_scrape(at_s, &text);
                        let mut v = lock(&store);
                        if v.len() >= MAX_SAMPLES {
                            break;
                        }
                        v.push(scrape);
                    }
                    // an overloaded server may miss a scrape; the charts show the gap
                    Err(e) => last_error = Some(format!("{url}: {e}")),
                }
            }
            last_error
        });
        ServerSampler {
            started,
            scrapes,
            stop,
            task,
            load: Mutex::new((None, None)),
        }
    }

    /// Waits, at most `within`, for the first scrape: the detectors judge
    /// tasks and gauges against a sample of the idle server taken before the
    /// fleet starts (without one the task check was always inconclusive).
    pub(crate) async fn first_sample(&self, within: Duration) {
        let until = Instant::now() + within;
        while lock(&self.scrapes).is_empty() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub(crate) fn mark_load_start(&self) {
        lock(&self.load).0 = Some(self.now_s());
    }

    pub(crate) fn mark_load_end(&self) {
        lock(&self.load).1 = Some(self.now_s());
    }

    /// After load: waits (at most [`SETTLE_MAX`]) for the pool to be empty,
    /// so the connections judge sees the return (or that there is none).
    pub(crate) async fn settle(&self) {
        let deadline = Instant::now() + SETTLE_MAX;
        let end = lock(&self.load).1.unwrap_or(0.0);
        while Instant::now() < deadline {
            let back = lock(&self.scrapes).last().is_none_or(|s| {
                s.sample.at_s > end && s.sample.pool_in_use.is_none_or(|u| u <= 0.0)
            });
            if back {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops scraping; the server's points on the fleet's clock (`fleet_t0`)
    /// and the leak detectors' verdicts, or why there are none.
    pub(crate) async fn finish(
        self,
        fleet_t0: Option<Instant>,
    ) -> (Vec<ServerPoint>, Option<Leaks>, Option<String>) {
        self.stop.send_replace(true);
        let error = self.task.await.ok().flatten();
        let scrapes = std::mem::take(&mut *lock(&self.scrapes));
        if scrapes.is_empty() {
            let why = error.map_or_else(
                || "the server's /metrics was never read".to_owned(),
                |e| format!("the server's /metrics could not be read ({e})"),
            );
            return (Vec::new(), None, Some(why));
        }
        // seconds to add to a sample's time to put it on the fleet's clock
        let offset = fleet_t0.map_or(0.0, |t0| {
            if self.started >= t0 {
                self.started.duration_since(t0).as_secs_f64()
            } else {
                -t0.duration_since(self.started).as_secs_f64()
            }
        });
        let points = points(&scrapes, offset);
        let (start, end) = *lock(&self.load);
        let window = start.map(|start_s| LoadWindow {
            start_s,
            end_s: end,
        });
        let samples: Vec<Sample> = scrapes.into_iter().map(|s| s.sample).collect();
        let report = Report::judge(&samples, window, &Budgets::default());
        (points, Some(leaks(&report, &samples, offset)), None)
    }
}

fn points(scrapes: &[Scrape], offset: f64) -> Vec<ServerPoint> {
    let mut out = Vec::with_capacity(scrapes.len());
    for (i, s) in scrapes.iter().enumerate() {
        let prev = i.checked_sub(1).and_then(|p| scrapes.get(p));
        let dt = prev
            .map(|p| s.sample.at_s - p.sample.at_s)
            .filter(|d| *d > 1e-3);
        let rate = |now: Option<f64>, before: Option<f64>| Some(((now? - before?) / dt?).max(0.0));
        let acquire_wait_ms = prev.and_then(|p| {
            let n = s.acquire_count? - p.acquire_count?;
            let sum = s.acquire_sum_s? - p.acquire_sum_s?;
            Some(if n > 0.0 { sum / n * 1_000.0 } else { 0.0 })
        });
        out.push(ServerPoint {
            t: s.sample.at_s + offset,
            inflight: s.inflight,
            shed_per_s: rate(s.shed_total, prev.and_then(|p| p.shed_total)),
            pool_in_use: s.sample.pool_in_use,
            pool_idle: s.sample.pool_idle,
            pool_max: s.sample.pool_max,
            acquire_wait_ms,
            acquire_timeouts_per_s: rate(
                s.sample.acquire_timeouts,
                prev.and_then(|p| p.sample.acquire_timeouts),
            ),
            live_allocations: s.sample.live_allocations,
            resident_bytes: s.sample.resident_bytes,
        });
    }
    out
}

fn finding(status: chaos::Status, summary: &str) -> Finding {
    Finding {
        status: status.to_string().to_lowercase(),
        summary: summary.to_owned(),
    }
}

/// The detectors' report in the timeline's terms, with the memory judge's fit
/// as a line over time: `fitted = intercept + slope * requests(t)`.
fn leaks(report: &Report, samples: &[Sample], offset: f64) -> Leaks {
    let slope = report.memory.allocations.as_ref().map(|t| t.slope);
    let mut trend = Vec::new();
    if let (Some(slope), Some(load)) = (slope, report.load) {
        let judged: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.at_s >= load.start_s && load.end_s.is_none_or(|e| s.at_s <= e))
            .collect();
        let mut residuals: Vec<f64> = judged
            .iter()
            .filter_map(|s| Some(s.live_allocations? - slope * s.requests))
            .collect();
        if let Some(intercept) = chaos::stats::median(&mut residuals) {
            trend = judged
                .iter()
                .map(|s| (s.at_s + offset, intercept + slope * s.requests))
                .collect();
        }
    }
    let mut held: BTreeMap<String, f64> = BTreeMap::new();
    for site in &report.connections.held_too_long {
        *held.entry(site.site.clone()).or_default() += site.count;
    }
    let mut held_too_long: Vec<(String, f64)> = held.into_iter().collect();
    held_too_long.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Leaks {
        verdict: report.verdict.to_string().to_lowercase(),
        memory: finding(report.memory.status, &report.memory.summary),
        connections: finding(report.connections.status, &report.connections.summary),
        tasks: finding(report.tasks.status, &report.tasks.summary),
        held_too_long,
        trend,
        trend_slope: slope,
    }
}

/// Records the simulated users alive four times a second while the fleet runs.
pub(crate) async fn record_users(engine: Arc<crate::engine::Engine>) {
    use std::sync::atomic::Ordering;
    let limit = Instant::now() + engine.plan.total + Duration::from_secs(600);
    let t0 = loop {
        if let Some(t0) = engine.started() {
            break t0;
        }
        if engine.is_stopped() || Instant::now() > limit {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    while !engine.is_stopped() && Instant::now() < limit {
        let users =
            engine.closed_users.load(Ordering::Relaxed) + engine.open_users.load(Ordering::Relaxed);
        engine.timeline.users(t0.elapsed(), users as f64);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
            () = engine.stopped() => {}
        }
    }
}

/// `--chaos-fault SPEC` flags passed through to the bundled server, as markers at 0 s.
pub(crate) fn faults_from_server_args(args: &[String]) -> Vec<Marker> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let spec = match a.strip_prefix("--chaos-fault") {
            Some("") => it.next().cloned(),
            Some(rest) => rest.strip_prefix('=').map(str::to_owned),
            None => None,
        };
        if let Some(spec) = spec {
            out.push(Marker {
                label: format!("fault {spec} (from start)"),
                at_s: 0.0,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_land_in_their_second_with_percentiles() {
        let r = Recorder::default();
        for ms in 1..=100 {
            r.request(
                Duration::from_millis(200),
                Outcome::Ok,
                Duration::from_millis(ms),
            );
        }
        r.request(Duration::from_millis(1_500), Outcome::Shed, Duration::ZERO);
        r.request(
            Duration::from_millis(3_100),
            Outcome::ServerError,
            Duration::ZERO,
        );
        r.arrival(Duration::from_millis(2_900));
        r.users(Duration::from_millis(2_100), 12.0);
        let s = r.finish();
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].ok, 100);
        let p50 = s[0].p50_ms.expect("p50");
        assert!((49.0..=51.0).contains(&p50), "{p50}");
        let p99 = s[0].p99_ms.expect("p99");
        assert!((98.0..=100.5).contains(&p99), "{p99}");
        assert_eq!((s[1].shed, s[1].p50_ms), (1, None));
        assert_eq!((s[2].arrivals, s[2].users), (1, Some(12.0)));
        assert_eq!(s[3].error, 1);
    }

    #[test]
    fn fault_flags_become_markers() {
        let args: Vec<String> = [
            "--chaos-fault",
            "leak-connection:every=5",
            "--x",
            "--chaos-fault=hang:route=/a",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let m = faults_from_server_args(&args);
        assert_eq!(m.len(), 2);
        assert!(m[0].label.contains("leak-connection:every=5"));
        assert!(m[1].label.contains("hang:route=/a"));
    }

    #[test]
    fn a_scrape_gives_rates_between_samples() {
        let a = read_scrape(
            0.0,
            "http_shed_total{reason=\"queue_full\"} 2\nhttp_shed_total{reason=\"deadline\"} 1\ndb_pool_acquire_seconds_count 10\ndb_pool_acquire_seconds_sum 0.1\nhttp_inflight_requests 3\n",
        );
        let b = read_scrape(
            0.5,
            "http_shed_total{reason=\"queue_full\"} 5\nhttp_shed_total{reason=\"deadline\"} 1\ndb_pool_acquire_seconds_count 20\ndb_pool_acquire_seconds_sum 0.3\nhttp_inflight_requests 7\n",
        );
        let p = points(&[a, b], 1.0);
        assert_eq!(p[1].t, 1.5);
        assert_eq!(p[1].shed_per_s, Some(6.0));
        assert_eq!(p[1].inflight, Some(7.0));
        let wait = p[1].acquire_wait_ms.expect("wait");
        assert!((wait - 20.0).abs() < 1e-9, "{wait}");
        assert_eq!(p[0].shed_per_s, None);
    }
}
