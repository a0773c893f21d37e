//! Stalls on the async workers: requests whose future blocked a worker thread
//! in one poll (blocking I/O, a long CPU loop, a sync lock held across work).
//!
//! From `http_request_max_poll_seconds{route}` (each request's longest poll)
//! before and after a load, per route: the share of requests whose longest poll
//! went over the bound (counted from the bucket boundary at or just below it)
//! and the p99 of the longest poll. A route fails when more than
//! `Budgets::stall_max_share` of its requests, and at least
//! `Budgets::stall_min_count`, stalled. `tokio_scheduler_lag_seconds` (how late
//! a 10 ms sleep woke) is reported for information: a blocked worker delays everyone.

use serde::Serialize;

use super::{Budgets, Status, human_count, human_seconds};
use crate::metrics::{Histogram, Sample};

/// Routes listed in a passing summary at most.
const LISTED: usize = 6;

/// One route's longest polls during the load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteStall {
    pub route: String,
    pub requests: f64,
    /// Requests whose longest poll was over the boundary.
    pub stalled: f64,
    pub share: f64,
    pub p99_max_poll_s: Option<f64>,
    pub fail: bool,
}

/// The stall judge's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StallFinding {
    pub status: Status,
    pub summary: String,
    pub bound_s: f64,
    /// The bucket boundary the bound was read as (at or just below it).
    pub boundary_s: Option<f64>,
    /// Busiest first.
    pub routes: Vec<RouteStall>,
    /// p99 of the runtime's lag probe during the load.
    pub scheduler_lag_p99_s: Option<f64>,
}

/// Judges stalls between `before` and `after` with the default share and count.
pub fn judge_stalls(before: &Sample, after: &Sample, bound_s: f64) -> StallFinding {
    judge_stalls_with(before, after, bound_s, &Budgets::default())
}

/// Judges stalls between `before` and `after`, `b` giving the share and count that fail.
pub fn judge_stalls_with(
    before: &Sample,
    after: &Sample,
    bound_s: f64,
    b: &Budgets,
) -> StallFinding {
    let empty = Histogram::default();
    let lag = after
        .scheduler_lag
        .as_ref()
        .map(|l| l.delta(before.scheduler_lag.as_ref().unwrap_or(&empty)));
    let mut f = StallFinding {
        status: Status::Inconclusive,
        summary: String::new(),
        bound_s,
        boundary_s: None,
        routes: Vec::new(),
        scheduler_lag_p99_s: lag.as_ref().and_then(|l| l.quantile(0.99)),
    };
    for (route, h) in &after.max_poll_seconds {
        let d = h.delta(before.max_poll_seconds.get(route).unwrap_or(&empty));
        let requests = d.total();
        if requests <= 0.0 {
            continue;
        }
        f.boundary_s = f.boundary_s.or_else(|| d.boundary_at_or_below(bound_s));
        let stalled = d.count_above(bound_s);
        let share = stalled / requests;
        f.routes.push(RouteStall {
            route: route.clone(),
            requests,
            stalled,
            share,
            p99_max_poll_s: d.quantile(0.99),
            fail: share > b.stall_max_share && stalled >= b.stall_min_count,
        });
    }
    let lag_text = f.scheduler_lag_p99_s.map_or(String::new(), |l| {
        format!("; scheduler lag p99 {}", human_seconds(l))
    });
    if f.routes.is_empty() {
        f.summary = format!(
            "no request was timed between the two samples \
             (http_request_max_poll_seconds absent or unchanged){lag_text}"
        );
        return f;
    }
    f.routes.sort_by(|a, b| {
        b.requests
            .total_cmp(&a.requests)
            .then(a.route.cmp(&b.route))
    });
    let bound = human_seconds(bound_s);
    let over = match f.boundary_s {
        Some(edge) if edge < bound_s => format!(
            "over {} (the bucket boundary below {bound})",
            human_seconds(edge)
        ),
        _ => format!("over {bound}"),
    };
    let p99 = |r: &RouteStall| r.p99_max_poll_s.map_or("?".into(), human_seconds);
    let failing: Vec<String> = f
        .routes
        .iter()
        .filter(|r| r.fail)
        .map(|r| {
            format!(
                "{} p99 longest poll {}, {} of {} requests ({:.1}%) {over}",
                r.route,
                p99(r),
                human_count(r.stalled),
                human_count(r.requests),
                100.0 * r.share
            )
        })
        .collect();
    if failing.is_empty() {
        f.status = Status::Pass;
        let busy: Vec<String> = f
            .routes
            .iter()
            .take(LISTED)
            .map(|r| {
                format!(
                    "{} p99 longest poll {} ({:.1}% {over})",
                    r.route,
                    p99(r),
                    100.0 * r.share
                )
            })
            .collect();
        let more = f.routes.len().saturating_sub(LISTED);
        let more = if more > 0 {
            format!(" and {more} more routes")
        } else {
            String::new()
        };
        f.summary = format!(
            "no route stalls its workers (bound {bound}): {}{more}{lag_text}",
            busy.join(", ")
        );
    } else {
        f.status = Status::Fail;
        f.summary = format!(
            "STALLS: more than {:.1}% of requests had a poll {over}: {}{lag_text}",
            100.0 * b.stall_max_share,
            failing.join("; ")
        );
    }
    f
}
