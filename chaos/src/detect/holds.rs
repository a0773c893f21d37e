//! Connection holds by Little's law: will the pool last at the production peak?
//!
//! From `db_pool_hold_seconds{site}` before and after a load, per acquiring
//! code site: holds = Δcount, mean hold W = Δsum / Δcount, p99 from the
//! buckets. The site's acquire rate at the peak is λ = (holds / requests of
//! the load) × the peak's requests per second, and the connections it keeps
//! busy on average are L = λW. A site fails when that exceeds the fleet's
//! pools (`instances × pool_per_instance`) or the database's limit; so does
//! the total over all sites, which share the pool.

use serde::Serialize;

use super::{Projection, Status, human_count, human_seconds};
use crate::metrics::{Histogram, Sample};

/// One acquiring site's holds during the load, projected to the peak.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteHold {
    pub site: String,
    /// Connections it acquired during the load.
    pub holds: f64,
    pub holds_per_request: f64,
    pub mean_hold_s: f64,
    pub p99_hold_s: Option<f64>,
    /// Acquires per second across the fleet at the peak.
    pub rate_at_peak: f64,
    /// Connections it keeps busy across the fleet at the peak (L = λW).
    pub needed_at_peak: f64,
    pub fail: bool,
}

/// The hold judge's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldFinding {
    pub status: Status,
    pub summary: String,
    /// Busiest first (by connections needed at the peak).
    pub sites: Vec<SiteHold>,
    /// Requests of the load.
    pub requests: f64,
    /// Connections all sites keep busy across the fleet at the peak.
    pub total_needed: f64,
    /// The fleet's pooled connections.
    pub available: f64,
    pub database_max: Option<f64>,
    /// Seconds of connection hold per request (Σ hold time / requests), for projections.
    pub connection_seconds_per_request: f64,
}

fn describe(s: &SiteHold) -> String {
    format!(
        "'{}' {} acquires/s x {} mean hold (p99 {}) = {:.1} connections",
        s.site,
        human_count(s.rate_at_peak),
        human_seconds(s.mean_hold_s),
        s.p99_hold_s.map_or("?".into(), human_seconds),
        s.needed_at_peak
    )
}

/// Judges the holds between `before` and `after` (the load) at the peak of `p`.
pub fn judge_holds(before: &Sample, after: &Sample, p: &Projection) -> HoldFinding {
    let requests = (after.requests - before.requests).max(0.0);
    let available = p.pool_total();
    let mut f = HoldFinding {
        status: Status::Inconclusive,
        summary: String::new(),
        sites: Vec::new(),
        requests,
        total_needed: 0.0,
        available,
        database_max: p.database_max,
        connection_seconds_per_request: 0.0,
    };
    if requests <= 0.0 {
        f.summary = "no requests between the two samples: connection holds not projected".into();
        return f;
    }
    if !(p.peak_requests_per_s.is_finite() && p.peak_requests_per_s > 0.0) {
        f.summary = "no peak rate to project connection holds to".into();
        return f;
    }
    let empty = Histogram::default();
    let limit = p.database_max.map_or(available, |d| d.min(available));
    let mut hold_seconds = 0.0;
    for (site, h) in &after.hold_seconds {
        let d = h.delta(before.hold_seconds.get(site).unwrap_or(&empty));
        let holds = d.total();
        let Some(mean) = d.mean().filter(|_| holds > 0.0) else {
            continue;
        };
        hold_seconds += d.sum;
        let rate_at_peak = holds / requests * p.peak_requests_per_s;
        let needed = rate_at_peak * mean;
        f.sites.push(SiteHold {
            site: site.clone(),
            holds,
            holds_per_request: holds / requests,
            mean_hold_s: mean,
            p99_hold_s: d.quantile(0.99),
            rate_at_peak,
            needed_at_peak: needed,
            fail: needed > limit,
        });
    }
    if f.sites.is_empty() {
        f.summary = "no pooled connection was held during the load \
                     (db_pool_hold_seconds absent or unchanged)"
            .into();
        return f;
    }
    f.sites.sort_by(|a, b| {
        b.needed_at_peak
            .total_cmp(&a.needed_at_peak)
            .then(a.site.cmp(&b.site))
    });
    f.total_needed = f.sites.iter().map(|s| s.needed_at_peak).sum();
    f.connection_seconds_per_request = hold_seconds / requests;
    let against = match p.database_max {
        Some(d) => format!(
            "{available:.0} pooled ({} x {:.0}), the database takes {d:.0}",
            p.instances, p.pool_per_instance
        ),
        None => format!(
            "{available:.0} pooled ({} x {:.0})",
            p.instances, p.pool_per_instance
        ),
    };
    let at_peak = p.at_peak();
    let failing: Vec<String> = f.sites.iter().filter(|s| s.fail).map(describe).collect();
    let total_fails = f.total_needed > limit;
    f.status = if failing.is_empty() && !total_fails {
        Status::Pass
    } else {
        Status::Fail
    };
    f.summary = if f.status == Status::Pass {
        let top: Vec<String> = f.sites.iter().take(3).map(describe).collect();
        format!(
            "{at_peak}, all sites need {:.1} connections of {against}: {}",
            f.total_needed,
            top.join("; ")
        )
    } else {
        let mut parts = Vec::new();
        if !failing.is_empty() {
            parts.push(format!("needs more than {against}: {}", failing.join("; ")));
        }
        if total_fails {
            parts.push(format!(
                "all sites together need {:.1} connections of {against}, most of them '{}' ({:.1})",
                f.total_needed, f.sites[0].site, f.sites[0].needed_at_peak
            ));
        }
        format!("POOL TOO SMALL {at_peak}: {}", parts.join("; "))
    };
    f
}
