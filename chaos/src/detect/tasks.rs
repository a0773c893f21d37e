//! Tasks: `tokio_alive_tasks` back to its pre-load level after load, and when
//! it is not, a leak told from a slow drain.
//!
//! A task per request or per connection that never ends (a forgotten
//! `spawn`, a stuck connection) keeps the count above where it started. After
//! the load three shapes are told apart:
//!
//! - back: within the tolerance of the baseline (pass, when within `settle_within`);
//! - leak: above the limit and flat (no decrease beyond the tolerance) for
//!   `task_flat_for`, with the count having grown with the request count during
//!   the load (a positive Theil–Sen slope of tasks against requests after
//!   warm-up, worth more than the tolerance). The excess at the end over the
//!   requests of the load is the cost: "1 task per N requests", with the
//!   routes that were busy;
//! - drain: still falling over the last `task_flat_for` (inconclusive, with the rate).

use serde::Serialize;

use super::{
    Budgets, LoadWindow, RouteShare, Status, describe_routes, gauges, human_count, route_shares,
    tasks_per_requests,
};
use crate::{metrics::Sample, stats};

/// Fewer samples during the load than this: growth with requests is not judged.
const MIN_LOAD_SAMPLES: usize = 5;

/// The task judge's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskFinding {
    pub status: Status,
    pub summary: String,
    /// The lowest count before load.
    pub baseline: Option<f64>,
    pub peak: Option<f64>,
    pub at_end: Option<f64>,
    pub returned_after_s: Option<f64>,
    /// Tasks above the baseline at the end of the watch.
    pub excess_at_end: Option<f64>,
    /// Requests from the load's start to the end of the watch.
    pub requests: f64,
    /// `excess_at_end / requests`.
    pub tasks_per_request: Option<f64>,
    /// Theil–Sen slope of tasks against requests during the load (after warm-up).
    pub growth_per_request: Option<f64>,
    /// The count grew with requests during the load by more than the tolerance.
    pub grows_with_requests: bool,
    /// How long the count has not come down (beyond the tolerance) before the end.
    pub flat_for_s: Option<f64>,
    /// Tasks per second the count was falling over the last `task_flat_for`.
    pub falling_per_s: Option<f64>,
    /// The busiest routes of the load, with their shares.
    pub routes: Vec<RouteShare>,
}

impl TaskFinding {
    /// "leaves 1 task per 500 requests: ..." at the production peak, when tasks are left.
    pub fn projection(&self, p: &super::Projection) -> Option<String> {
        let per_request = self.tasks_per_request.filter(|t| *t > 0.0)?;
        super::project(
            &super::PerRequestCosts {
                tasks_left: Some(per_request),
                ..super::PerRequestCosts::default()
            },
            p,
            None,
        )
        .into_iter()
        .next()
    }
}

/// `(time, tasks)` of the samples from `end` on.
fn readings_after(samples: &[Sample], end: f64) -> Vec<(f64, f64)> {
    samples
        .iter()
        .filter(|s| s.at_s >= end)
        .filter_map(|s| Some((s.at_s, s.alive_tasks?)))
        .collect()
}

/// Seconds before the last reading during which the count came down by no
/// more than `tolerance` (`after` in time order, all after the load).
fn flat_for(after: &[(f64, f64)], tolerance: f64) -> Option<f64> {
    let &(t_last, last) = after.last()?;
    let mut since = t_last;
    for &(t, v) in after.iter().rev() {
        if v - last > tolerance {
            break;
        }
        since = t;
    }
    Some(t_last - since)
}

/// The slope per second over the last `span` seconds of `after`.
fn recent_slope(after: &[(f64, f64)], span: f64) -> Option<f64> {
    let t_last = after.last()?.0;
    let (t, v): (Vec<f64>, Vec<f64>) = after
        .iter()
        .filter(|(t, _)| *t >= t_last - span)
        .copied()
        .unzip();
    if t.len() < 3 {
        return None;
    }
    Some(stats::theil_sen(&t, &v)?.slope)
}

/// The last sample at or before `t` (or the first sample).
fn sample_at(samples: &[Sample], t: f64) -> Option<&Sample> {
    samples
        .iter()
        .rev()
        .find(|s| s.at_s <= t)
        .or(samples.first())
}

/// Theil–Sen slope of tasks against requests during the load, after warm-up,
/// and the requests it spans.
fn growth(samples: &[Sample], w: LoadWindow, end: f64, b: &Budgets) -> Option<(f64, f64)> {
    let load: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.at_s >= w.start_s && s.at_s <= end)
        .filter_map(|s| Some((s.requests, s.alive_tasks?)))
        .collect();
    let (first, last) = (load.first()?.0, load.last()?.0);
    let cut = first + b.warmup_fraction.clamp(0.0, 0.9) * (last - first);
    let (x, y): (Vec<f64>, Vec<f64>) = load.into_iter().filter(|p| p.0 >= cut).unzip();
    if x.len() < MIN_LOAD_SAMPLES {
        return None;
    }
    Some((stats::theil_sen(&x, &y)?.slope, last - cut))
}

/// After the load, should the watcher stop waiting? True when every in-use
/// gauge is back, the task count being also allowed to have stayed flat above
/// its limit for `task_flat_for` (then it is left behind and waiting more
/// would not change the verdict). False while the load has not stopped.
pub fn settled_or_flat(samples: &[Sample], window: LoadWindow, b: &Budgets) -> bool {
    let Some(end) = window.end_s else {
        return false;
    };
    gauges::IN_USE_GAUGES
        .iter()
        .all(|spec| match gauges::back_now(spec, samples, window, b) {
            None | Some(true) => true,
            Some(false) if spec.name == gauges::TASKS => {
                let Some((base, limit)) = gauges::bounds(spec, samples, window, b) else {
                    return true;
                };
                let after = readings_after(samples, end);
                after.last().is_some_and(|l| l.1 > limit)
                    && flat_for(&after, limit - base)
                        .is_some_and(|f| f >= b.task_flat_for.as_secs_f64())
            }
            Some(false) => false,
        })
}

/// Judges alive tasks around the load window.
pub fn judge(samples: &[Sample], window: Option<LoadWindow>, b: &Budgets) -> TaskFinding {
    let baseline = window.and_then(|w| {
        samples
            .iter()
            .filter(|s| s.at_s <= w.start_s)
            .filter_map(|s| s.alive_tasks)
            .reduce(f64::min)
    });
    let peak = samples
        .iter()
        .filter_map(|s| s.alive_tasks)
        .reduce(f64::max);
    let at_end = samples.last().and_then(|s| s.alive_tasks);
    let mut f = TaskFinding {
        status: Status::Inconclusive,
        summary: String::new(),
        baseline,
        peak,
        at_end,
        returned_after_s: None,
        excess_at_end: None,
        requests: 0.0,
        tasks_per_request: None,
        growth_per_request: None,
        grows_with_requests: false,
        flat_for_s: None,
        falling_per_s: None,
        routes: Vec::new(),
    };
    let (Some(w), Some(base)) = (window, baseline) else {
        f.summary = "no pre-load sample of tokio_alive_tasks to compare with".into();
        return f;
    };
    let Some(end) = w.end_s else {
        f.summary = "load did not stop during the watch".into();
        return f;
    };
    let tolerance = gauges::TASK_TOLERANCE.allowance(base, b);
    let limit = base + tolerance;
    let after = readings_after(samples, end);
    let observed = after.last().map_or(0.0, |s| s.0 - end);
    f.returned_after_s = after
        .iter()
        .find(|s| s.1 <= limit)
        .map(|s| (s.0 - end).max(0.0));
    // what the load cost, whatever the verdict
    if let (Some(start), Some(last)) = (sample_at(samples, w.start_s), samples.last()) {
        f.requests = (last.requests - start.requests).max(0.0);
        f.routes = route_shares(start, last, 3);
    }
    f.excess_at_end = at_end.map(|e| (e - base).max(0.0));
    f.tasks_per_request = f
        .excess_at_end
        .filter(|_| f.requests > 0.0)
        .map(|e| e / f.requests);
    if let Some((slope, span)) = growth(samples, w, end, b) {
        f.growth_per_request = Some(slope);
        f.grows_with_requests = slope > 0.0 && slope * span > tolerance;
    }
    let flat_need = b.task_flat_for.as_secs_f64();
    f.flat_for_s = flat_for(&after, tolerance);
    f.falling_per_s = recent_slope(&after, flat_need.max(1.0))
        .filter(|s| *s < 0.0)
        .map(f64::abs);
    let bound = b.settle_within.as_secs_f64();
    let peak_text = peak.map_or(String::new(), |p| format!(", peak {p:.0}"));
    let end_text = at_end.map_or("?".into(), |v| format!("{v:.0}"));
    let cost_text = match f.tasks_per_request {
        Some(t) if t > 0.0 => {
            let routes = if f.routes.is_empty() {
                String::new()
            } else {
                format!(" (routes: {})", describe_routes(&f.routes))
            };
            format!(
                "{} over {} requests{routes}",
                tasks_per_requests(t),
                human_count(f.requests)
            )
        }
        _ => format!("{} requests", human_count(f.requests)),
    };
    let flat = f.flat_for_s.unwrap_or(0.0);
    let draining = flat < flat_need && f.falling_per_s.is_some();
    (f.status, f.summary) = match f.returned_after_s {
        Some(t) if t <= bound => (
            Status::Pass,
            format!("back to {base:.0} (+{tolerance:.0}) {t:.1} s after load stopped{peak_text}"),
        ),
        Some(t) => (
            Status::Fail,
            format!(
                "LEAK: back to {base:.0} only {t:.1} s after load stopped (bound {bound:.0} s){peak_text}"
            ),
        ),
        None if flat >= flat_need && f.grows_with_requests => (
            Status::Fail,
            format!(
                "LEAK: {:.0} tasks above the baseline of {base:.0} at the end ({end_text} alive, \
                 flat for {flat:.1} s, {observed:.1} s after load stopped), grown with the \
                 request count: {cost_text}",
                f.excess_at_end.unwrap_or(0.0)
            ),
        ),
        None if draining => (
            Status::Inconclusive,
            format!(
                "still draining {observed:.1} s after load stopped{}: {end_text} alive vs \
                 {base:.0} before, falling {:.1} tasks/s; {cost_text}",
                if observed > bound {
                    format!(" (past the bound of {bound:.0} s)")
                } else {
                    String::new()
                },
                f.falling_per_s.unwrap_or(0.0)
            ),
        ),
        None if observed < bound => (
            Status::Inconclusive,
            format!(
                "{end_text} alive vs {base:.0} before load, only {observed:.1} s watched after it \
                 stopped (flat for {flat:.1} s{}); {cost_text}",
                if f.grows_with_requests {
                    ""
                } else {
                    ", not grown with the request count"
                }
            ),
        ),
        None => (
            Status::Fail,
            format!(
                "LEAK: {end_text} tasks alive {observed:.1} s after load stopped vs {base:.0} \
                 before{peak_text}; {cost_text}"
            ),
        ),
    };
    f
}
