//! The scenario file as serde types. Every table denies unknown keys.

use std::{collections::BTreeMap, fmt};

use serde::{Deserialize, Deserializer, Serialize, de};
use toml::Spanned;

use crate::Dur;

/// One load scenario: the traffic shape, the journey mix and what must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// How long a simulated app waits for an answer; past it the answer is "silent".
    pub client_timeout: Spanned<Dur>,
    /// The traffic shape, in order.
    pub phases: Vec<Spanned<Phase>>,
    pub journeys: Journeys,
    pub slo: Slos,
    /// Leak budgets: parsed and checked here, judged by the chaos detectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaks: Option<LeakBudgets>,
    /// Faults on a schedule: parsed here, injected by the chaos tooling.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Fault>,
    /// How a candidate build is compared with a baseline build on this
    /// scenario (`release-gate --baseline`): judged by the gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<Regression>,
}

/// A stretch of the traffic shape; values move linearly from `start` to `end`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub name: Spanned<String>,
    pub duration: Spanned<Dur>,
    /// Closed model: concurrent app users, each looping journeys with think times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Spanned<Ramp>>,
    /// Open model: new installs arriving per second (Poisson), whatever the server does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals_per_s: Option<Spanned<Ramp>>,
}

/// A value that moves linearly over a phase; a bare number means constant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ramp {
    pub start: f64,
    pub end: f64,
}

impl Ramp {
    pub fn constant(v: f64) -> Ramp {
        Ramp { start: v, end: v }
    }

    /// The value at `fraction` (0 to 1) of the phase.
    pub fn at(&self, fraction: f64) -> f64 {
        self.start + (self.end - self.start) * fraction.clamp(0.0, 1.0)
    }

    pub fn max(&self) -> f64 {
        self.start.max(self.end)
    }
}

impl<'de> Deserialize<'de> for Ramp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Ramp, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = Ramp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a table { start = N, end = N }")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ramp, E> {
                Ok(Ramp::constant(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ramp, E> {
                Ok(Ramp::constant(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Ramp, E> {
                Ok(Ramp::constant(v))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Ramp, A::Error> {
                let (mut start, mut end) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "start" => start = Some(map.next_value::<Number>()?.0),
                        "end" => end = Some(map.next_value::<Number>()?.0),
                        other => return Err(de::Error::unknown_field(other, &["start", "end"])),
                    }
                }
                Ok(Ramp {
                    start: start.ok_or_else(|| de::Error::missing_field("start"))?,
                    end: end.ok_or_else(|| de::Error::missing_field("end"))?,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// An integer or a float, as TOML writes either.
struct Number(f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Number, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// The journey mix. A journey left out has weight 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journeys {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_install: Option<NewInstall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returning: Option<Returning>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<Browser>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impatient: Option<Impatient>,
    /// Not an app user: `GET /healthz` in a loop, to calibrate the generator's own cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
}

impl Journeys {
    /// The mean think time between two requests, weighted by the journeys'
    /// weights; `None` when every weight is 0.
    pub fn mean_think_s(&self) -> Option<f64> {
        let mix = [
            self.new_install
                .as_ref()
                .map(|j| (j.weight, *j.think.get_ref())),
            self.returning
                .as_ref()
                .map(|j| (j.weight, *j.think.get_ref())),
            self.browser
                .as_ref()
                .map(|j| (j.weight, *j.think.get_ref())),
            self.impatient
                .as_ref()
                .map(|j| (j.weight, *j.think.get_ref())),
            self.probe.as_ref().map(|j| (j.weight, *j.think.get_ref())),
        ];
        let (weights, sum) = mix
            .iter()
            .flatten()
            .fold((0.0, 0.0), |(w, s), (weight, think)| {
                let weight = f64::from(*weight);
                (w + weight, s + weight * think.mean_s())
            });
        (weights > 0.0).then(|| sum / weights)
    }
}

impl Think {
    /// The mean of the distribution, in seconds.
    pub fn mean_s(&self) -> f64 {
        match self {
            Think::Constant(d) | Think::Exponential(d) => d.get().as_secs_f64(),
            Think::Uniform([a, b]) => (a.get().as_secs_f64() + b.get().as_secs_f64()) / 2.0,
        }
    }
}

/// The calibration journey: one `GET /healthz` per session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub weight: u32,
    pub think: Spanned<Think>,
}

/// Time a user spends between two requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Think {
    Constant(Dur),
    /// Exponential with this mean (memoryless: the classic model of human gaps).
    Exponential(Dur),
    /// Uniform between the two bounds.
    Uniform([Dur; 2]),
}

/// First app launch: register, onboarding, first outfits, a few likes/dislikes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInstall {
    pub weight: u32,
    pub think: Spanned<Think>,
    /// How many likes/dislikes, uniform in this range.
    #[serde(default = "default_new_feedback")]
    pub feedback: Spanned<[u32; 2]>,
}

fn default_new_feedback() -> Spanned<[u32; 2]> {
    Spanned::new(0..0, [1, 4])
}

/// A user with a token: outfits, feedback, saved outfits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Returning {
    pub weight: u32,
    pub think: Spanned<Think>,
    #[serde(default = "default_returning_feedback")]
    pub feedback: Spanned<[u32; 2]>,
}

fn default_returning_feedback() -> Spanned<[u32; 2]> {
    Spanned::new(0..0, [0, 3])
}

/// Pages through the catalog and opens a few garments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Browser {
    pub weight: u32,
    pub think: Spanned<Think>,
    /// Pages per session, uniform in this range.
    #[serde(default = "default_pages")]
    pub pages: Spanned<[u32; 2]>,
    #[serde(default = "default_page_size")]
    pub page_size: Spanned<u32>,
    /// Garments opened per page, uniform in this range.
    #[serde(default = "default_details")]
    pub details_per_page: Spanned<[u32; 2]>,
}

fn default_pages() -> Spanned<[u32; 2]> {
    Spanned::new(0..0, [1, 4])
}

fn default_page_size() -> Spanned<u32> {
    Spanned::new(0..0, 20)
}

fn default_details() -> Spanned<[u32; 2]> {
    Spanned::new(0..0, [0, 2])
}

/// Pulls to refresh when slow; on a 503 follows `on_503`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impatient {
    pub weight: u32,
    pub think: Spanned<Think>,
    /// Abandon a request and send it again after waiting this long.
    pub refresh_after: Spanned<Dur>,
    pub on_503: RetryPolicy,
    /// Refreshes and retries per request before giving up.
    pub max_retries: Spanned<u32>,
}

/// What an impatient app does with a shed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryPolicy {
    /// Waits `Retry-After` seconds, as the overload contract asks.
    HonourRetryAfter,
    /// Retries at once: a retry storm.
    RetryImmediately,
}

/// SLOs: `default` applies to every phase; `phases.<name>` overrides it key by key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slos {
    #[serde(default)]
    pub default: SloSet,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phases: BTreeMap<String, Spanned<SloSet>>,
}

/// Bounds for one phase; an absent bound is not judged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<Spanned<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<Spanned<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<Spanned<f64>>,
    /// Client errors, server errors and refused/reset connections over all requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<Spanned<f64>>,
    /// Contract 503s over all requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_shed_rate: Option<Spanned<f64>>,
    /// Requests answered 2xx over all requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_goodput: Option<Spanned<f64>>,
    /// Requests with no answer within the client timeout; 0 when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_silent: Option<Spanned<u64>>,
    /// 99th percentile of shed answers (contract 503s), ms: shedding must be fast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shed_p99_ms: Option<Spanned<f64>>,
    /// Ok answers per second of this phase over those of `peak_phase`, at least
    /// this (0 to 1): goodput holds up under overload instead of collapsing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_goodput_of_peak: Option<Spanned<f64>>,
    /// The phase whose ok answers per second are the peak `min_goodput_of_peak`
    /// compares with: the server driven at its capacity, in the same run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_phase: Option<Spanned<String>>,
}

/// What must be back to normal after load, judged by the leak detectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeakBudgets {
    /// Database connections must return to their baseline within this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections_back_within: Option<Dur>,
    /// Largest memory growth slope, bytes per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes_per_request: Option<f64>,
}

/// One scheduled fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Offset from the start of the run (compressed with the shape).
    pub at: Dur,
    pub duration: Dur,
    /// Which fault; the chaos tooling defines the kinds.
    pub kind: String,
    /// Parameters of the fault kind, checked by the chaos tooling.
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub params: toml::Table,
}

/// The regression budget: per phase, the candidate's p99 and goodput over
/// the baseline's, from repeated runs of both builds, judged on a confidence
/// interval of that ratio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regression {
    /// Runs of each build (interleaved with the baseline's); at least 2, so
    /// that the runs' spread gives an interval.
    pub runs: Spanned<u32>,
    /// The largest rise of a phase's p99 (of ok answers) the budget allows, as
    /// a fraction: 0.25 lets the candidate be 25% slower.
    pub max_p99_increase: Spanned<f64>,
    /// The largest fall of a phase's goodput (ok answers per second), as a fraction.
    pub max_goodput_decrease: Spanned<f64>,
    /// Undecided figures get more runs, up to this many of each build: when a
    /// phase's ratio is past the budget at the point estimate but not with
    /// the confidence asked for, the gate adds one round at a time until it
    /// is decided or this is reached. Defaults to `runs` (no extra rounds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_runs: Option<Spanned<u32>>,
    /// Confidence of each one-sided bound on a ratio, 0.5 to 0.999.
    #[serde(default = "default_confidence")]
    pub confidence: Spanned<f64>,
    /// The phases compared; every phase when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<Spanned<String>>,
}

fn default_confidence() -> Spanned<f64> {
    Spanned::new(0..0, 0.95)
}
