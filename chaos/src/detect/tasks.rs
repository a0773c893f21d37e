//! Tasks: `tokio_alive_tasks` back to its pre-load level after load.
//!
//! A task per request or per connection that never ends (a forgotten
//! `spawn`, a stuck connection) keeps the count above where it started.

use serde::Serialize;

use super::{Budgets, LoadWindow, Status};
use crate::metrics::Sample;

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
}

/// Judges alive tasks around the load window.
pub fn judge(samples: &[Sample], window: Option<LoadWindow>, b: &Budgets) -> TaskFinding {
    let min = |it: &mut dyn Iterator<Item = f64>| {
        it.fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))))
    };
    let baseline = window.and_then(|w| {
        min(&mut samples
            .iter()
            .filter(|s| s.at_s <= w.start_s)
            .filter_map(|s| s.alive_tasks))
    });
    let peak = samples
        .iter()
        .filter_map(|s| s.alive_tasks)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let at_end = samples.last().and_then(|s| s.alive_tasks);
    let mut f = TaskFinding {
        status: Status::Inconclusive,
        summary: String::new(),
        baseline,
        peak,
        at_end,
        returned_after_s: None,
    };
    let (Some(w), Some(base)) = (window, baseline) else {
        f.summary = "no pre-load sample of tokio_alive_tasks to compare with".into();
        return f;
    };
    let Some(end) = w.end_s else {
        f.summary = "load did not stop during the watch".into();
        return f;
    };
    let limit = base + b.task_tolerance.max(0.1 * base);
    let after: Vec<&Sample> = samples.iter().filter(|s| s.at_s >= end).collect();
    let observed = after.last().map_or(0.0, |s| s.at_s - end);
    f.returned_after_s = after
        .iter()
        .find(|s| s.alive_tasks.is_some_and(|t| t <= limit))
        .map(|s| (s.at_s - end).max(0.0));
    let bound = b.settle_within.as_secs_f64();
    let peak_text = peak.map_or(String::new(), |p| format!(", peak {p:.0}"));
    let end_text = at_end.map_or("?".into(), |v| format!("{v:.0}"));
    (f.status, f.summary) = match f.returned_after_s {
        Some(t) if t <= bound => (
            Status::Pass,
            format!(
                "back to {base:.0} (+{:.0}) {t:.1} s after load stopped{peak_text}",
                limit - base
            ),
        ),
        Some(t) => (
            Status::Fail,
            format!(
                "LEAK: back to {base:.0} only {t:.1} s after load stopped (bound {bound:.0} s){peak_text}"
            ),
        ),
        None if observed < bound => (
            Status::Inconclusive,
            format!(
                "{end_text} alive vs {base:.0} before load, only {observed:.1} s watched after it stopped"
            ),
        ),
        None => (
            Status::Fail,
            format!(
                "LEAK: {end_text} tasks alive {observed:.1} s after load stopped vs {base:.0} before{peak_text}"
            ),
        ),
    };
    f
}
