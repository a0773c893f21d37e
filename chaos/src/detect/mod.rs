//! The leak judges: pure functions from samples to findings.
//!
//! - [`memory`]: growth per request of live allocations and heap bytes
//!   (Theil–Sen slope, bootstrap interval, Mann–Kendall), with a runway estimate;
//! - [`connections`]: in-use connections back to zero after load, the database's
//!   count matching the pool's, and every code site that held one too long;
//! - [`tasks`]: tokio tasks back to their pre-load level, and a leak (tasks
//!   left per request, flat after the load) told from a slow drain;
//! - [`gauges`]: one rule for every in-use gauge (in flight, queued, open
//!   connections, pool in use, tasks), declared in a table;
//! - [`memory::judge_settled`]: heap bytes and allocations at idle points
//!   between rounds of load (the release gate supplies them);
//! - [`holds`]: Little's law on connection holds per code site, projected to
//!   the production peak against the pool and the database;
//! - [`stalls`]: requests whose longest poll blocked an async worker;
//! - [`projection`]: per-request costs at CI scale as sentences about the peak.
//!
//! Each finding is `pass`, `fail` or `inconclusive` (too little data to say), with
//! a one-line summary that carries the figures.

pub mod connections;
pub mod gauges;
pub mod holds;
pub mod memory;
pub mod projection;
pub mod stalls;
pub mod tasks;

use std::{fmt, time::Duration};

use serde::Serialize;

pub use connections::ConnectionFinding;
pub use gauges::{GaugeFinding, GaugeSpec, GaugesFinding, IN_USE_GAUGES, Tolerance};
pub use holds::{HoldFinding, SiteHold, judge_holds};
pub use memory::{MemoryFinding, SettledFinding, SettledPoint, Trend, judge_settled};
pub use projection::{PerRequestCosts, Projection, project};
pub use stalls::{RouteStall, StallFinding, judge_stalls, judge_stalls_with};
pub use tasks::{TaskFinding, settled_or_flat};

use crate::metrics::Sample;

/// A judge's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Inconclusive,
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Inconclusive => "INCONCLUSIVE",
            Status::Fail => "FAIL",
        })
    }
}

/// What counts as a leak. The defaults hold a healthy server to zero false
/// alarms in the benchmark while catching a one-allocation-per-request leak.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budgets {
    /// Share of the load window (by requests) discarded as warm-up: pools,
    /// caches and buffers fill first, and that growth is not a leak.
    pub warmup_fraction: f64,
    /// A leak needs the lower end of the slope's interval above this (allocations per request).
    pub min_allocations_per_request: f64,
    /// The same for heap bytes per request (the scenario's `memory_bytes_per_request`).
    pub min_bytes_per_request: f64,
    /// Mann–Kendall significance level for an increasing trend.
    pub alpha: f64,
    /// Confidence of the slope's bootstrap interval.
    pub confidence: f64,
    pub bootstrap_rounds: usize,
    /// Connections and tasks must be back within this after load stops.
    pub settle_within: Duration,
    /// Tasks above the pre-load level still counted as "back" (timers, the scraper's connection).
    pub task_tolerance: f64,
    /// Fewer requests than this after warm-up: the memory trend is inconclusive.
    pub min_requests: f64,
    /// Requests per second the runway estimate assumes (default: the peak seen).
    pub peak_rate: Option<f64>,
    /// Memory the server may use, for the runway estimate (default: unknown, no runway).
    pub memory_limit_bytes: Option<u64>,
    /// Tasks above the limit and flat (no decrease beyond the tolerance) this long
    /// after load are left behind, not draining.
    pub task_flat_for: Duration,
    /// Heap growth between settled points below this is noise (allocator caches, arenas).
    pub settled_noise_bytes: f64,
    /// Growth of live allocations between settled points below this is noise.
    pub settled_noise_allocations: f64,
    /// A route stalls when more than this share of its requests had a poll over the bound.
    pub stall_max_share: f64,
    /// ... and at least this many did (a handful is not a pattern).
    pub stall_min_count: f64,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            warmup_fraction: 0.3,
            min_allocations_per_request: 0.05,
            min_bytes_per_request: 8.0,
            alpha: 0.01,
            confidence: 0.95,
            bootstrap_rounds: 400,
            settle_within: Duration::from_secs(10),
            task_tolerance: 3.0,
            min_requests: 500.0,
            peak_rate: None,
            memory_limit_bytes: None,
            task_flat_for: Duration::from_secs(5),
            settled_noise_bytes: 16.0 * 1024.0,
            settled_noise_allocations: 64.0,
            stall_max_share: 0.01,
            stall_min_count: 5.0,
        }
    }
}

/// When load ran, in seconds since the watch started.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoadWindow {
    pub start_s: f64,
    /// `None`: the load had not stopped when the watch ended.
    pub end_s: Option<f64>,
}

/// Finds the load in the request counter: intervals faster than 2 requests/s
/// and 2% of the peak rate (so probes and the odd health check are not load).
pub fn infer_load_window(samples: &[Sample]) -> Option<LoadWindow> {
    let rates: Vec<f64> = samples
        .windows(2)
        .map(|w| {
            let dt = (w[1].at_s - w[0].at_s).max(1e-3);
            (w[1].requests - w[0].requests) / dt
        })
        .collect();
    let peak = rates.iter().copied().fold(0.0, f64::max);
    let busy = |r: f64| r > 2.0_f64.max(0.02 * peak);
    let first = rates.iter().position(|&r| busy(r))?;
    let last = rates.iter().rposition(|&r| busy(r))?;
    let end_s = (last + 2 < samples.len()).then(|| samples[last + 1].at_s);
    Some(LoadWindow {
        start_s: samples[first].at_s,
        end_s,
    })
}

/// Every judge's finding on one watch.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The worst of the findings.
    pub verdict: Status,
    pub load: Option<LoadWindow>,
    pub samples: usize,
    pub budgets: Budgets,
    pub memory: MemoryFinding,
    pub connections: ConnectionFinding,
    pub tasks: TaskFinding,
    /// Every in-use gauge back to its pre-load baseline.
    pub gauges: GaugesFinding,
}

impl Report {
    /// Judges `samples`; `window` overrides the load window found in them.
    pub fn judge(samples: &[Sample], window: Option<LoadWindow>, budgets: &Budgets) -> Report {
        let load = window.or_else(|| infer_load_window(samples));
        let memory = memory::judge(samples, load, budgets);
        let connections = connections::judge(samples, load, budgets);
        let tasks = tasks::judge(samples, load, budgets);
        let gauges = gauges::judge(samples, load, budgets);
        Report {
            verdict: memory
                .status
                .max(connections.status)
                .max(tasks.status)
                .max(gauges.status),
            load,
            samples: samples.len(),
            budgets: budgets.clone(),
            memory,
            connections,
            tasks,
            gauges,
        }
    }

    /// No judge failed (inconclusive is not a failure).
    pub fn passed(&self) -> bool {
        self.verdict != Status::Fail
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "leak detectors: {} ({} samples)",
            self.verdict, self.samples
        )?;
        writeln!(
            f,
            "  memory:      {} {}",
            self.memory.status, self.memory.summary
        )?;
        writeln!(
            f,
            "  connections: {} {}",
            self.connections.status, self.connections.summary
        )?;
        writeln!(
            f,
            "  tasks:       {} {}",
            self.tasks.status, self.tasks.summary
        )?;
        write!(
            f,
            "  gauges:      {} {}",
            self.gauges.status, self.gauges.summary
        )?;
        for g in self.gauges.gauges.iter().filter(|g| g.exported) {
            write!(f, "\n    {} {}", g.status, g.summary)?;
        }
        Ok(())
    }
}

/// A route's part of the requests between two samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteShare {
    pub route: String,
    pub requests: f64,
    /// Of all requests in the span, 0..=1.
    pub share: f64,
}

/// The `top` routes by requests between `before` and `after`, busiest first.
pub fn route_shares(before: &Sample, after: &Sample, top: usize) -> Vec<RouteShare> {
    let by_route = after.requests_since(before);
    let total: f64 = by_route.values().sum();
    let mut v: Vec<RouteShare> = by_route
        .into_iter()
        .map(|(route, requests)| RouteShare {
            share: if total > 0.0 { requests / total } else { 0.0 },
            route,
            requests,
        })
        .collect();
    v.sort_by(|a, b| {
        b.requests
            .total_cmp(&a.requests)
            .then(a.route.cmp(&b.route))
    });
    v.truncate(top);
    v
}

/// "/v1/outfits 62%, /v1/garments/{id} 30%".
pub fn describe_routes(routes: &[RouteShare]) -> String {
    routes
        .iter()
        .map(|r| format!("{} {:.0}%", r.route, 100.0 * r.share))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "1 task per 500 requests", or "2.0 tasks per request" when more than one.
pub fn tasks_per_requests(tasks_per_request: f64) -> String {
    if !tasks_per_request.is_finite() || tasks_per_request <= 0.0 {
        "no task per request".into()
    } else if tasks_per_request < 0.995 {
        format!(
            "1 task per {} requests",
            human_count(1.0 / tasks_per_request)
        )
    } else {
        format!("{tasks_per_request:.1} tasks per request")
    }
}

/// "172,800", "1,250", "12" (rounded, thousands separated).
pub fn human_count(v: f64) -> String {
    if !v.is_finite() {
        return "?".into();
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

/// "150 µs", "2.0 ms", "1.20 s": short durations such as holds and polls.
pub fn human_seconds(secs: f64) -> String {
    match secs.abs() {
        s if !s.is_finite() => "?".into(),
        s if s >= 60.0 => human_duration(secs),
        s if s >= 1.0 => format!("{secs:.2} s"),
        s if s >= 1e-3 => format!("{:.1} ms", secs * 1e3),
        _ => format!("{:.0} µs", secs * 1e6),
    }
}

/// "3 h 12 min", "4 d 2 h", "45 s".
pub fn human_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "never".into();
    }
    let s = secs.round() as u64;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match () {
        _ if d >= 365 => format!("{:.1} years", secs / (365.25 * 86_400.0)),
        _ if d > 0 => format!("{d} d {h} h"),
        _ if h > 0 => format!("{h} h {m} min"),
        _ if m > 0 => format!("{m} min {} s", s % 60),
        _ => format!("{s} s"),
    }
}

/// "1.5 GiB", "312 KiB", "12 B".
pub fn human_bytes(bytes: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut i = 0;
    while v.abs() >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} {}", units[i])
    } else {
        format!("{v:.1} {}", units[i])
    }
}

#[cfg(test)]
mod tests;
