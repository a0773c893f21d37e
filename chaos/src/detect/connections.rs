//! Connections: back to zero in use after load, the database agreeing with the
//! pool, and no connection held past the server's leak threshold.
//!
//! A leaked connection is never returned: the pool counts it in use forever,
//! the database still sees its session, and the server's tracker counts it in
//! `db_pool_held_too_long_total{site}` under the code site that took it. Any
//! site whose counter rose during the watch is named; a site alone fails the
//! judge, because a connection held past the threshold is a leak or a stall.

use serde::Serialize;

use super::{Budgets, LoadWindow, Status};
use crate::metrics::Sample;

/// A code site that held connections past the leak threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteCount {
    pub site: String,
    /// How many connections it held too long during the watch.
    pub count: f64,
}

/// The connection judge's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionFinding {
    pub status: Status,
    pub summary: String,
    pub held_too_long: Vec<SiteCount>,
    pub acquire_timeouts: f64,
    /// Seconds after load stopped until nothing was in use (and the database agreed).
    pub settled_after_s: Option<f64>,
    pub in_use_at_end: Option<f64>,
    pub pool_at_end: Option<f64>,
    /// The database's count of the server's sessions at the end.
    pub database_at_end: Option<u64>,
    pub idle_in_transaction_at_end: Option<u64>,
    /// Connections the database refused during the watch because it was full
    /// (MySQL's `Connection_errors_max_connections`, error 1040).
    pub refused_too_many: u64,
}

/// Nothing in use, and (with a database view) the database agreeing with the pool
/// and no session idle inside a transaction.
fn settled(s: &Sample) -> bool {
    let pool_ok = s.pool_in_use.is_some_and(|u| u <= 0.0);
    let db_ok = match (&s.db, s.pool_in_use, s.pool_idle) {
        (Some(db), Some(used), Some(idle)) => {
            db.server_connections as f64 == used + idle && db.idle_in_transaction == 0
        }
        _ => true,
    };
    pool_ok && db_ok
}

/// Judges the connections around the load window.
pub fn judge(samples: &[Sample], window: Option<LoadWindow>, b: &Budgets) -> ConnectionFinding {
    let first = samples.first();
    let last = samples.last();
    let mut sites: Vec<SiteCount> = last
        .map(|l| {
            l.held_too_long
                .iter()
                .map(|(site, n)| {
                    let before = first
                        .and_then(|f| f.held_too_long.get(site))
                        .copied()
                        .unwrap_or(0.0);
                    SiteCount {
                        site: site.clone(),
                        count: n - before,
                    }
                })
                .filter(|s| s.count > 0.0)
                .collect()
        })
        .unwrap_or_default();
    sites.sort_by(|a, b| b.count.total_cmp(&a.count).then(a.site.cmp(&b.site)));
    let acquire_timeouts = match (
        first.and_then(|f| f.acquire_timeouts),
        last.and_then(|l| l.acquire_timeouts),
    ) {
        (Some(a), Some(z)) => z - a,
        _ => 0.0,
    };
    let refused_too_many = match (
        samples
            .iter()
            .find_map(|s| s.db.as_ref()?.connection_errors_max_connections),
        last.and_then(|l| l.db.as_ref()?.connection_errors_max_connections),
    ) {
        (Some(a), Some(z)) => z.saturating_sub(a),
        _ => 0,
    };
    let mut f = ConnectionFinding {
        status: Status::Pass,
        summary: String::new(),
        held_too_long: sites,
        acquire_timeouts,
        settled_after_s: None,
        in_use_at_end: last.and_then(|l| l.pool_in_use),
        pool_at_end: last.and_then(|l| Some(l.pool_in_use? + l.pool_idle?)),
        database_at_end: last.and_then(|l| l.db.as_ref().map(|d| d.server_connections)),
        idle_in_transaction_at_end: last.and_then(|l| l.db.as_ref().map(|d| d.idle_in_transaction)),
        refused_too_many,
    };
    let site_text = if f.held_too_long.is_empty() {
        "no connection held past the leak threshold".to_string()
    } else {
        format!(
            "held past the leak threshold: {}",
            f.held_too_long
                .iter()
                .map(|s| format!("{:.0} x '{}'", s.count, s.site))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let end_text = {
        let mut t = format!(
            "{} in use, {} in the pool",
            opt(f.in_use_at_end),
            opt(f.pool_at_end)
        );
        if let Some(db) = last.and_then(|l| l.db.as_ref()) {
            t.push_str(&format!(
                ", {} seen by {} ({} idle in transaction)",
                db.server_connections, db.backend, db.idle_in_transaction
            ));
        }
        t
    };
    let mut timeouts = if acquire_timeouts > 0.0 {
        format!("; {acquire_timeouts:.0} acquire timeouts")
    } else {
        String::new()
    };
    if refused_too_many > 0 {
        let max = last
            .and_then(|l| l.db.as_ref()?.max_connections)
            .map_or(String::new(), |m| format!(" (max_connections {m})"));
        timeouts.push_str(&format!(
            "; the database refused {refused_too_many} connections: Too many connections{max}"
        ));
    }
    if last.and_then(|l| l.pool_in_use).is_none() {
        f.status = if f.held_too_long.is_empty() {
            Status::Inconclusive
        } else {
            Status::Fail
        };
        f.summary = format!("the server exports no db_pool_connections; {site_text}");
        return f;
    }
    let Some(end) = window.and_then(|w| w.end_s) else {
        f.status = if f.held_too_long.is_empty() {
            Status::Inconclusive
        } else {
            Status::Fail
        };
        f.summary = format!(
            "load did not stop during the watch, so the return to zero is not judged; {site_text}{timeouts}"
        );
        return f;
    };
    let after: Vec<&Sample> = samples.iter().filter(|s| s.at_s >= end).collect();
    let observed = after.last().map_or(0.0, |s| s.at_s - end);
    f.settled_after_s = after
        .iter()
        .find(|s| settled(s))
        .map(|s| (s.at_s - end).max(0.0));
    let bound = b.settle_within.as_secs_f64();
    let back = match f.settled_after_s {
        Some(t) if t <= bound => {
            format!("back to 0 in use {t:.1} s after load stopped (bound {bound:.0} s)")
        }
        Some(t) => {
            f.status = Status::Fail;
            format!("back to 0 in use only {t:.1} s after load stopped (bound {bound:.0} s)")
        }
        None if observed < bound => {
            f.status = Status::Inconclusive;
            format!(
                "not back to 0 yet, but only {observed:.1} s were watched after load stopped \
                 (bound {bound:.0} s): {end_text}"
            )
        }
        None => {
            f.status = Status::Fail;
            format!("still not settled {observed:.1} s after load stopped: {end_text}")
        }
    };
    if !f.held_too_long.is_empty() || f.refused_too_many > 0 {
        f.status = Status::Fail;
    }
    let lead = if f.status == Status::Fail {
        "LEAK: "
    } else {
        ""
    };
    f.summary = format!("{lead}{back}; {site_text}{timeouts}");
    f
}

fn opt(v: Option<f64>) -> String {
    v.map_or("?".into(), |v| format!("{v:.0}"))
}
