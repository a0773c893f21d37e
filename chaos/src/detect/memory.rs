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
//!
//! Settled points ([`judge_settled`]): readings of the heap taken while the
//! server was idle between rounds of load, so in-flight work is not in them.
//! A real leak grows a `Vec`, `String` or map, whose capacity doubles: the
//! bytes stay flat over some pauses and then jump, while live allocations stay
//! flat. So growth is judged from the first point to the last (not a rise at
//! every pause), and counts when it clears both the noise floor and the
//! per-request floor and is retained (the last point is not below an earlier
//! one by more than the noise floor).

use serde::Serialize;

use super::{
    Budgets, LoadWindow, PerRequestCosts, Projection, Status, human_bytes, human_count,
    human_duration, project,
};
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

// === settled points ===

/// Fewer settled points than this: inconclusive.
const MIN_SETTLED_POINTS: usize = 3;

/// The heap read while the server was idle between rounds of load.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SettledPoint {
    /// `http_requests_total` (load only) when the point was read.
    pub requests: f64,
    /// `allocator_allocated_bytes`.
    pub live_bytes: f64,
    /// `allocator_live_allocations`.
    pub live_allocations: f64,
    pub at_s: f64,
}

/// Growth of one heap figure from the first settled point to the last.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettledGrowth {
    pub metric: String,
    pub first: f64,
    pub last: f64,
    /// `last - first`.
    pub growth: f64,
    /// `growth / requests`.
    pub per_request: f64,
    /// Theil–Sen slope over all points, per request (a step leak may show 0 here).
    pub slope: Option<f64>,
    /// The growth must clear this (the larger of the noise and per-request floors).
    pub floor: f64,
    /// The last point is above every earlier one minus the noise floor.
    pub retained: bool,
    pub leak: bool,
}

/// The settled-memory judge's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SettledFinding {
    pub status: Status,
    pub summary: String,
    pub points: usize,
    /// Requests between the first and the last point.
    pub requests: f64,
    pub bytes: Option<SettledGrowth>,
    pub allocations: Option<SettledGrowth>,
}

impl SettledFinding {
    /// Bytes retained per request, when the heap grew.
    pub fn bytes_per_request(&self) -> Option<f64> {
        self.bytes
            .as_ref()
            .map(|b| b.per_request)
            .filter(|b| *b > 0.0)
    }

    /// "retains 3.1 B per outfits request: at the peak of ... this server runs
    /// out of its 1.0 GiB in 9 h; 27 GiB a day", when the heap grew.
    pub fn projection(
        &self,
        p: &Projection,
        memory_limit_bytes: Option<f64>,
        kind: Option<&str>,
    ) -> Option<String> {
        let costs = PerRequestCosts {
            kind: kind.map(str::to_string),
            bytes_retained: Some(self.bytes_per_request()?),
            ..PerRequestCosts::default()
        };
        project(&costs, p, memory_limit_bytes).into_iter().next()
    }
}

fn settled_growth(
    metric: &str,
    points: &[SettledPoint],
    read: fn(&SettledPoint) -> f64,
    noise: f64,
    per_request_floor: f64,
) -> Option<SettledGrowth> {
    let (first, last) = (points.first()?, points.last()?);
    let requests = last.requests - first.requests;
    let growth = read(last) - read(first);
    let x: Vec<f64> = points.iter().map(|p| p.requests).collect();
    let y: Vec<f64> = points.iter().map(read).collect();
    let floor = noise.max(per_request_floor * requests);
    let retained = points[..points.len() - 1]
        .iter()
        .all(|e| read(last) > read(e) - noise);
    Some(SettledGrowth {
        metric: metric.to_string(),
        first: read(first),
        last: read(last),
        growth,
        per_request: growth / requests,
        slope: stats::theil_sen(&x, &y).map(|l| l.slope),
        floor,
        retained,
        leak: growth > noise && growth > per_request_floor * requests && retained,
    })
}

fn settled_inconclusive(points: usize, summary: String) -> SettledFinding {
    SettledFinding {
        status: Status::Inconclusive,
        summary,
        points,
        requests: 0.0,
        bytes: None,
        allocations: None,
    }
}

/// Judges heap readings taken at idle points between rounds of load (the
/// first after a warm-up round).
pub fn judge_settled(points: &[SettledPoint], b: &Budgets) -> SettledFinding {
    let mut points: Vec<SettledPoint> = points
        .iter()
        .copied()
        .filter(|p| {
            p.requests.is_finite() && p.live_bytes.is_finite() && p.live_allocations.is_finite()
        })
        .collect();
    points.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    let n = points.len();
    if n < MIN_SETTLED_POINTS {
        return settled_inconclusive(
            n,
            format!("{n} settled points, need {MIN_SETTLED_POINTS} to judge retained memory"),
        );
    }
    let requests = points[n - 1].requests - points[0].requests;
    if requests <= 0.0 {
        return settled_inconclusive(
            n,
            "no requests between the first and the last settled point".into(),
        );
    }
    let bytes = settled_growth(
        "allocator_allocated_bytes",
        &points,
        |p| p.live_bytes,
        b.settled_noise_bytes,
        b.min_bytes_per_request,
    );
    let allocations = settled_growth(
        "allocator_live_allocations",
        &points,
        |p| p.live_allocations,
        b.settled_noise_allocations,
        b.min_allocations_per_request,
    );
    let (Some(by), Some(al)) = (bytes, allocations) else {
        return settled_inconclusive(n, "no settled points".into());
    };
    let slope_text = by.slope.map_or(String::new(), |s| {
        format!("; Theil–Sen {} B per request", fmt_num(s))
    });
    let retained_text = if by.retained {
        String::new()
    } else {
        " (came back down from an earlier point: not retained)".into()
    };
    let bytes_text = format!(
        "retains {} B per request over {} requests (first {}, last {}){slope_text}{retained_text}",
        fmt_num(by.per_request),
        human_count(requests),
        human_bytes(by.first),
        human_bytes(by.last),
    );
    let allocations_text = format!(
        "live allocations {} -> {} ({} per request)",
        human_count(al.first),
        human_count(al.last),
        fmt_num(al.per_request)
    );
    let floors = format!(
        "floors {} and {} B per request for bytes, {} and {} per request for allocations",
        human_bytes(b.settled_noise_bytes),
        fmt_num(b.min_bytes_per_request),
        human_count(b.settled_noise_allocations),
        fmt_num(b.min_allocations_per_request)
    );
    let leak = by.leak || al.leak;
    // the figure that leaks first
    let figures = if al.leak && !by.leak {
        format!("{allocations_text}; {bytes_text}")
    } else {
        format!("{bytes_text}; {allocations_text}")
    };
    SettledFinding {
        status: if leak { Status::Fail } else { Status::Pass },
        summary: format!(
            "{}{figures}; {n} settled points; {floors}",
            if leak { "LEAK: " } else { "" }
        ),
        points: n,
        requests,
        bytes: Some(by),
        allocations: Some(al),
    }
}
