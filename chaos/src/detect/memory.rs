//! Memory: does the heap grow with the request count?
//!
//! Against `http_requests_total` (not time: a leak per request shows as a slope
//! per request whatever the rate), over the load window minus its warm-up:
//! the Theil–Sen slope of `allocator_live_allocations` and
//! `allocator_allocated_bytes`, its moving-block bootstrap interval, and the
//! Mann–Kendall test (autocorrelation-corrected). A leak needs both: the trend
//! significant *and* the interval's lower end above a practical floor, so noise,
//! a cache that fills, or a trend too small to matter is not an alarm.
//!
//! Runway: a leak of `b` bytes per request at `r` requests per second eats
//! `b * r` bytes per second; the memory left (limit minus resident now) divided
//! by that is the time until memory runs out at that rate. A leaked allocation
//! costs at least 8 bytes (the allocator's smallest size class), so
//! `b = max(byte slope, allocation slope * 8)`.

use serde::Serialize;

use super::{Budgets, LoadWindow, Status, human_bytes, human_duration};
use crate::{metrics::Sample, stats};

/// The smallest real cost of one live allocation (jemalloc's smallest size class).
const MIN_ALLOCATION_BYTES: f64 = 8.0;
/// Fewer samples than this after warm-up: inconclusive.
const MIN_SAMPLES: usize = 15;

/// A metric's trend per request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    pub metric: String,
    /// Theil–Sen slope, units per request.
    pub slope: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Mann–Kendall z (autocorrelation-corrected) and its one-sided p-value.
    pub mk_z: f64,
    pub p_value: f64,
    /// The floor the interval's lower end must clear to count as a leak.
    pub floor: f64,
    pub leak: bool,
}

impl Trend {
    fn describe(&self, what: &str) -> String {
        let p = if self.p_value < 0.001 {
            "p < 0.001".to_string()
        } else {
            format!("p = {:.3}", self.p_value)
        };
        format!(
            "{what} {} {} per request (95% CI {} to {}; Mann–Kendall z = {:.1}, {p})",
            if self.slope >= 0.0 { "grow" } else { "shrink" },
            fmt_num(self.slope.abs()),
            fmt_num(self.ci_low),
            fmt_num(self.ci_high),
            self.mk_z,
        )
    }
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 0.1 || v == 0.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// The memory judge's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryFinding {
    pub status: Status,
    pub summary: String,
    pub allocations: Option<Trend>,
    pub bytes: Option<Trend>,
    /// Resident memory, for information (pages, too coarse to judge small leaks).
    pub resident: Option<Trend>,
    /// Requests judged (after warm-up).
    pub requests: f64,
    pub peak_rate: Option<f64>,
    /// Seconds until memory runs out at the peak rate, when leaking and a limit is known.
    pub runway_s: Option<f64>,
}

fn inconclusive(summary: String) -> MemoryFinding {
    MemoryFinding {
        status: Status::Inconclusive,
        summary,
        allocations: None,
        bytes: None,
        resident: None,
        requests: 0.0,
        peak_rate: None,
        runway_s: None,
    }
}

fn trend(metric: &str, x: &[f64], y: &[Option<f64>], floor: f64, b: &Budgets) -> Option<Trend> {
    let (x, y): (Vec<f64>, Vec<f64>) = x
        .iter()
        .zip(y)
        .filter_map(|(x, y)| y.map(|y| (*x, y)))
        .unzip();
    if x.len() < MIN_SAMPLES {
        return None;
    }
    let line = stats::theil_sen(&x, &y)?;
    let (ci_low, ci_high) =
        stats::bootstrap_slope_ci(&x, &y, b.bootstrap_rounds, b.confidence, 0x5EED)?;
    let mk = stats::mann_kendall_corrected(&x, &y, line.slope)?;
    Some(Trend {
        metric: metric.to_string(),
        slope: line.slope,
        ci_low,
        ci_high,
        mk_z: mk.z,
        p_value: mk.p_increasing,
        floor,
        leak: mk.p_increasing < b.alpha && ci_low > floor,
    })
}

/// Highest request rate over spans of at least a second.
fn peak_rate(samples: &[Sample]) -> Option<f64> {
    let mut peak: Option<f64> = None;
    let mut j = 0;
    for i in 0..samples.len() {
        while j < samples.len() && samples[j].at_s - samples[i].at_s < 1.0 {
            j += 1;
        }
        let Some(end) = samples.get(j) else { break };
        let rate = (end.requests - samples[i].requests) / (end.at_s - samples[i].at_s);
        if rate.is_finite() {
            peak = Some(peak.map_or(rate, |p: f64| p.max(rate)));
        }
    }
    peak
}

/// Judges memory growth over the load window.
pub fn judge(samples: &[Sample], window: Option<LoadWindow>, b: &Budgets) -> MemoryFinding {
    let Some(window) = window else {
        return inconclusive("no load seen (the request counter did not move)".into());
    };
    let end = window.end_s.unwrap_or(f64::INFINITY);
    let load: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at_s >= window.start_s && s.at_s <= end)
        .collect();
    let (Some(first), Some(last)) = (load.first(), load.last()) else {
        return inconclusive("no samples during the load".into());
    };
    let cut = first.requests + b.warmup_fraction.clamp(0.0, 0.9) * (last.requests - first.requests);
    let judged: Vec<&Sample> = load.iter().copied().filter(|s| s.requests >= cut).collect();
    let requests = judged.last().map_or(0.0, |l| l.requests) - cut;
    if judged.len() < MIN_SAMPLES || requests < b.min_requests {
        return inconclusive(format!(
            "too little load to judge: {} samples and {requests:.0} requests after warm-up \
             (need {MIN_SAMPLES} and {:.0})",
            judged.len(),
            b.min_requests
        ));
    }
    let x: Vec<f64> = judged.iter().map(|s| s.requests).collect();
    let series = |f: fn(&Sample) -> Option<f64>| judged.iter().map(|s| f(s)).collect::<Vec<_>>();
    let allocations = trend(
        "allocator_live_allocations",
        &x,
        &series(|s| s.live_allocations),
        b.min_allocations_per_request,
        b,
    );
    let bytes = trend(
        "allocator_allocated_bytes",
        &x,
        &series(|s| s.allocated_bytes),
        b.min_bytes_per_request,
        b,
    );
    let resident = trend(
        "process_resident_memory_bytes",
        &x,
        &series(|s| s.resident_bytes),
        f64::INFINITY,
        b,
    );
    let owned: Vec<Sample> = load.iter().map(|s| (*s).clone()).collect();
    let peak = b.peak_rate.or_else(|| peak_rate(&owned));
    let mut finding = MemoryFinding {
        status: Status::Pass,
        summary: String::new(),
        allocations,
        bytes,
        resident,
        requests,
        peak_rate: peak,
        runway_s: None,
    };
    let (Some(a), Some(by)) = (&finding.allocations, &finding.bytes) else {
        finding.status = Status::Inconclusive;
        finding.summary =
            "the server exports no allocator_live_allocations / allocator_allocated_bytes".into();
        return finding;
    };
    let mut parts = vec![a.describe("live allocations"), by.describe("heap bytes")];
    if !(a.leak || by.leak) {
        finding.summary = format!(
            "no leak over {requests:.0} requests: {}; floors {} allocations and {} bytes per request",
            parts.join("; "),
            fmt_num(a.floor),
            fmt_num(by.floor)
        );
        return finding;
    }
    finding.status = Status::Fail;
    let per_request = by.slope.max(a.slope * MIN_ALLOCATION_BYTES).max(0.0);
    let resident_now = judged.last().and_then(|s| s.resident_bytes);
    match (peak, b.memory_limit_bytes, resident_now) {
        (Some(rate), Some(limit), Some(rss)) if rate > 0.0 && per_request > 0.0 => {
            let headroom = (limit as f64 - rss).max(0.0);
            let per_second = per_request * rate;
            let runway = headroom / per_second;
            finding.runway_s = Some(runway);
            parts.push(format!(
                "at the peak rate of {rate:.0} requests/s memory runs out in {} \
                 ({} headroom = {} limit - {} resident, eaten at {}/s = {:.1} B/request x {rate:.0}/s)",
                human_duration(runway),
                human_bytes(headroom),
                human_bytes(limit as f64),
                human_bytes(rss),
                human_bytes(per_second),
                per_request
            ));
        }
        _ => parts.push("no runway estimate (memory limit or peak rate unknown)".into()),
    }
    finding.summary = format!("LEAK: {}", parts.join("; "));
    finding
}
