//! In-use gauges: whatever the server holds while it works (requests in
//! flight or queued, client connections, pooled connections, tasks) comes back
//! to where it was before the load.
//!
//! One rule for all, declared in [`IN_USE_GAUGES`]: the baseline is the lowest
//! reading before the load started (0 for a gauge that reads 0 when idle, when
//! no pre-load sample exists, and the summary says so); the gauge is back when
//! it is at most its tolerance above the baseline from some sample on to the
//! end of the watch, and that must happen within `Budgets::settle_within` after
//! the load stopped. A new gauge joins by adding a row to the table.

use serde::Serialize;

use super::{Budgets, LoadWindow, Status};
use crate::metrics::Sample;

/// How far above its baseline a gauge may end and still count as back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Tolerance {
    /// This many above the baseline.
    Absolute(f64),
    /// The larger of `Budgets::task_tolerance` and this share of the baseline
    /// (timers and the scraper's connection come and go).
    TaskBudgetOrShare(f64),
}

impl Tolerance {
    /// The allowance above `baseline`.
    pub fn allowance(&self, baseline: f64, b: &Budgets) -> f64 {
        match *self {
            Tolerance::Absolute(a) => a.max(0.0),
            Tolerance::TaskBudgetOrShare(share) => b.task_tolerance.max(share * baseline.abs()),
        }
    }
}

/// One in-use gauge and how to judge it.
#[derive(Debug, Clone, Copy)]
pub struct GaugeSpec {
    /// The series as the server exports it.
    pub name: &'static str,
    /// Where a [`Sample`] keeps it.
    pub read: fn(&Sample) -> Option<f64>,
    pub tolerance: Tolerance,
    /// The gauge reads 0 on an idle server, so without a pre-load sample 0 is its baseline.
    pub idle_zero: bool,
}

/// The task gauge's name (the task judge adds its leak-or-drain analysis).
pub const TASKS: &str = "tokio_alive_tasks";
/// The task gauge's tolerance (the task judge uses it too).
pub const TASK_TOLERANCE: Tolerance = Tolerance::TaskBudgetOrShare(0.1);

/// Every gauge of a resource in use, judged by the same rule.
pub const IN_USE_GAUGES: &[GaugeSpec] = &[
    GaugeSpec {
        name: "http_inflight_requests",
        read: |s| s.inflight,
        tolerance: Tolerance::Absolute(0.0),
        idle_zero: true,
    },
    GaugeSpec {
        name: "http_queue_depth",
        read: |s| s.queue_depth,
        tolerance: Tolerance::Absolute(0.0),
        idle_zero: true,
    },
    GaugeSpec {
        // the watcher's own scrape connection comes and goes
        name: "http_open_connections",
        read: |s| s.open_connections,
        tolerance: Tolerance::Absolute(2.0),
        idle_zero: false,
    },
    GaugeSpec {
        name: "db_pool_connections{state=\"in_use\"}",
        read: |s| s.pool_in_use,
        tolerance: Tolerance::Absolute(0.0),
        idle_zero: true,
    },
    GaugeSpec {
        name: TASKS,
        read: |s| s.alive_tasks,
        tolerance: TASK_TOLERANCE,
        idle_zero: false,
    },
];

/// One gauge's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GaugeFinding {
    pub gauge: String,
    pub status: Status,
    pub summary: String,
    /// The server exports this gauge (one that is absent does not count in the verdict).
    pub exported: bool,
    /// The lowest reading before load (or 0 assumed, see `baseline_assumed`).
    pub baseline: Option<f64>,
    /// No pre-load sample: the idle value 0 was taken as the baseline.
    pub baseline_assumed: bool,
    /// Baseline plus tolerance: at or below this the gauge is back.
    pub limit: Option<f64>,
    pub peak: Option<f64>,
    pub at_end: Option<f64>,
    /// Seconds after load stopped from which the gauge stayed back.
    pub returned_after_s: Option<f64>,
}

/// Every in-use gauge's answer, and the worst of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GaugesFinding {
    pub status: Status,
    pub summary: String,
    pub gauges: Vec<GaugeFinding>,
}

/// `(time, value)` of every sample that has the gauge.
fn readings(spec: &GaugeSpec, samples: &[Sample]) -> Vec<(f64, f64)> {
    samples
        .iter()
        .filter_map(|s| Some((s.at_s, (spec.read)(s)?)))
        .collect()
}

/// The baseline and whether it was assumed (idle value 0, no pre-load sample).
fn baseline(spec: &GaugeSpec, readings: &[(f64, f64)], window: LoadWindow) -> Option<(f64, bool)> {
    let before = readings
        .iter()
        .filter(|(t, _)| *t <= window.start_s)
        .map(|r| r.1)
        .reduce(f64::min);
    match before {
        Some(b) => Some((b, false)),
        None if spec.idle_zero => Some((0.0, true)),
        None => None,
    }
}

/// The gauge's baseline and limit (baseline plus tolerance) around `window`, when known.
pub fn bounds(
    spec: &GaugeSpec,
    samples: &[Sample],
    window: LoadWindow,
    b: &Budgets,
) -> Option<(f64, f64)> {
    let (base, _) = baseline(spec, &readings(spec, samples), window)?;
    Some((base, base + spec.tolerance.allowance(base, b)))
}

/// Is the gauge back now (its latest reading after the load within the limit)?
/// `None` when it is not exported or has no baseline.
pub fn back_now(
    spec: &GaugeSpec,
    samples: &[Sample],
    window: LoadWindow,
    b: &Budgets,
) -> Option<bool> {
    let (_, limit) = bounds(spec, samples, window, b)?;
    let end = window.end_s?;
    let last = samples
        .iter()
        .rev()
        .find_map(|s| Some((s.at_s, (spec.read)(s)?)));
    Some(last.is_some_and(|(t, v)| t >= end && v <= limit))
}

fn num(v: f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Judges one gauge around the load window.
pub fn judge_gauge(
    spec: &GaugeSpec,
    samples: &[Sample],
    window: Option<LoadWindow>,
    b: &Budgets,
) -> GaugeFinding {
    let r = readings(spec, samples);
    let name = spec.name;
    let mut f = GaugeFinding {
        gauge: name.to_string(),
        status: Status::Inconclusive,
        summary: String::new(),
        exported: !r.is_empty(),
        baseline: None,
        baseline_assumed: false,
        limit: None,
        peak: r.iter().map(|x| x.1).reduce(f64::max),
        at_end: r.last().map(|x| x.1),
        returned_after_s: None,
    };
    if r.is_empty() {
        f.summary = format!("{name}: not exported by the server");
        return f;
    }
    let Some(w) = window else {
        f.summary = format!("{name}: no load seen, nothing to come back from");
        return f;
    };
    let Some((base, assumed)) = baseline(spec, &r, w) else {
        f.summary = format!("{name}: no pre-load sample to compare with");
        return f;
    };
    let limit = base + spec.tolerance.allowance(base, b);
    (f.baseline, f.baseline_assumed, f.limit) = (Some(base), assumed, Some(limit));
    let base_text = if assumed {
        format!(
            "baseline {} (no pre-load sample; its idle value 0 assumed)",
            num(base)
        )
    } else {
        format!("baseline {}", num(base))
    };
    let tolerance_text = if limit > base {
        format!(" (+{} tolerated)", num(limit - base))
    } else {
        String::new()
    };
    let Some(end) = w.end_s else {
        f.summary = format!("{name}: load did not stop during the watch; {base_text}");
        return f;
    };
    let after: Vec<(f64, f64)> = r.iter().copied().filter(|(t, _)| *t >= end).collect();
    let observed = after.last().map_or(0.0, |x| x.0 - end);
    // back from the first sample of the trailing run within the limit
    let mut from = None;
    for &(t, v) in after.iter().rev() {
        if v > limit {
            break;
        }
        from = Some(t);
    }
    f.returned_after_s = from.map(|t| (t - end).max(0.0));
    let bound = b.settle_within.as_secs_f64();
    let end_text = f.at_end.map_or("?".into(), num);
    let peak_text = f
        .peak
        .map_or(String::new(), |p| format!(", peak {}", num(p)));
    (f.status, f.summary) = match f.returned_after_s {
        Some(t) if t <= bound => (
            Status::Pass,
            format!(
                "{name}: {base_text}{tolerance_text}, {end_text} at the end{peak_text}; \
                 back {t:.1} s after load stopped (bound {bound:.0} s)"
            ),
        ),
        Some(t) => (
            Status::Fail,
            format!(
                "{name}: back to {base_text}{tolerance_text} only {t:.1} s after load stopped \
                 (bound {bound:.0} s){peak_text}"
            ),
        ),
        None if observed < bound => (
            Status::Inconclusive,
            format!(
                "{name}: {end_text} at the end vs {base_text}{tolerance_text}, but only \
                 {observed:.1} s were watched after load stopped (bound {bound:.0} s)"
            ),
        ),
        None => (
            Status::Fail,
            format!(
                "{name}: still {end_text} {observed:.1} s after load stopped vs \
                 {base_text}{tolerance_text}{peak_text}"
            ),
        ),
    };
    f
}

/// Judges every gauge of `specs`.
pub fn judge_with(
    specs: &[GaugeSpec],
    samples: &[Sample],
    window: Option<LoadWindow>,
    b: &Budgets,
) -> GaugesFinding {
    let gauges: Vec<GaugeFinding> = specs
        .iter()
        .map(|s| judge_gauge(s, samples, window, b))
        .collect();
    let exported: Vec<&GaugeFinding> = gauges.iter().filter(|g| g.exported).collect();
    let missing: Vec<&str> = gauges
        .iter()
        .filter(|g| !g.exported)
        .map(|g| g.gauge.as_str())
        .collect();
    let missing_text = if missing.is_empty() {
        String::new()
    } else {
        format!("; not exported: {}", missing.join(", "))
    };
    let Some(status) = exported.iter().map(|g| g.status).max() else {
        return GaugesFinding {
            status: Status::Inconclusive,
            summary: format!("the server exports none of the in-use gauges{missing_text}"),
            gauges,
        };
    };
    let with = |s: Status| -> Vec<&str> {
        exported
            .iter()
            .filter(|g| g.status == s)
            .map(|g| g.summary.as_str())
            .collect()
    };
    let bound = b.settle_within.as_secs_f64();
    let summary = match status {
        Status::Fail => format!(
            "NOT BACK within {bound:.0} s: {}{missing_text}",
            with(Status::Fail).join("; ")
        ),
        Status::Inconclusive => format!(
            "{} of {} in-use gauges back; {}{missing_text}",
            exported.len() - with(Status::Inconclusive).len(),
            exported.len(),
            with(Status::Inconclusive).join("; ")
        ),
        Status::Pass => {
            let slowest = exported
                .iter()
                .filter_map(|g| Some((g.returned_after_s?, g.gauge.as_str())))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            format!(
                "all {} in-use gauges back to their baselines within {bound:.0} s{}{missing_text}",
                exported.len(),
                slowest.map_or(String::new(), |(t, g)| format!(
                    ", the last {t:.1} s after load stopped ({g})"
                ))
            )
        }
    };
    GaugesFinding {
        status,
        summary,
        gauges,
    }
}

/// Judges every gauge of [`IN_USE_GAUGES`].
pub fn judge(samples: &[Sample], window: Option<LoadWindow>, b: &Budgets) -> GaugesFinding {
    judge_with(IN_USE_GAUGES, samples, window, b)
}
