//! The run's own reports: `summary.json` (per phase: requests, outcomes, HDR
//! latency percentiles at microsecond precision, SLO verdicts; the self-check)
//! and `summary.md`, a readable table of the same.

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::{outcome::Outcome, selfcheck::SelfCheck, slo::Verdict, stats::PhaseStats};

/// Latency percentiles in milliseconds (microsecond precision).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Percentiles {
    pub(crate) count: u64,
    pub(crate) min: Option<f64>,
    pub(crate) mean: Option<f64>,
    pub(crate) p50: Option<f64>,
    pub(crate) p90: Option<f64>,
    pub(crate) p95: Option<f64>,
    pub(crate) p99: Option<f64>,
    pub(crate) p999: Option<f64>,
    pub(crate) max: Option<f64>,
}

impl Percentiles {
    pub(crate) fn of(h: &Histogram<u64>) -> Percentiles {
        let ms = |us: u64| Some(us as f64 / 1_000.0);
        if h.is_empty() {
            return Percentiles {
                count: 0,
                min: None,
                mean: None,
                p50: None,
                p90: None,
                p95: None,
                p99: None,
                p999: None,
                max: None,
            };
        }
        let q = |q: f64| ms(h.value_at_quantile(q));
        Percentiles {
            count: h.len(),
            min: ms(h.min()),
            mean: Some((h.mean() / 1_000.0 * 1_000.0).round() / 1_000.0),
            p50: q(0.50),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: ms(h.max()),
        }
    }
}

/// One phase in the summary.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PhaseSummary {
    pub(crate) name: String,
    pub(crate) start_s: f64,
    pub(crate) end_s: f64,
    pub(crate) requests: u64,
    pub(crate) outcomes: BTreeMap<&'static str, u64>,
    /// `ok`: 2xx answers; `shed`: contract 503s. Timed from the intended start.
    /// `shed_from_send`: the same 503s timed from when loadbot sent them
    /// (diagnostic: the difference is loadbot's own lateness).
    pub(crate) latency_ms: BTreeMap<&'static str, Percentiles>,
    pub(crate) arrivals: u64,
    pub(crate) late_starts: u64,
    pub(crate) dropped_arrivals: u64,
    pub(crate) slo: Vec<Verdict>,
    pub(crate) held: bool,
}

impl PhaseSummary {
    pub(crate) fn new(
        name: &str,
        span: (f64, f64),
        p: &PhaseStats,
        slo: Vec<Verdict>,
    ) -> PhaseSummary {
        PhaseSummary {
            name: name.to_owned(),
            start_s: span.0,
            end_s: span.1,
            requests: p.requests(),
            outcomes: Outcome::ALL
                .iter()
                .map(|o| (o.as_str(), p.count(*o)))
                .collect(),
            latency_ms: [
                ("ok", Percentiles::of(&p.ok_latency)),
                ("shed", Percentiles::of(&p.shed_latency)),
                ("shed_from_send", Percentiles::of(&p.shed_sent_latency)),
            ]
            .into_iter()
            .collect(),
            arrivals: p.arrivals,
            late_starts: p.late_starts,
            dropped_arrivals: p.dropped_arrivals,
            held: slo.iter().all(|v| v.held),
            slo,
        }
    }
}

/// The whole run, as `summary.json` holds it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    pub(crate) scenario: String,
    /// `pass`, `fail` or `inconclusive`.
    pub(crate) verdict: &'static str,
    pub(crate) exit_code: u8,
    pub(crate) started_at: String,
    pub(crate) target: String,
    pub(crate) duration_s: f64,
    /// Wall-clock seconds per scenario second.
    pub(crate) time_factor: f64,
    /// Multiplier on the scenario's users and arrival rates.
    pub(crate) load_factor: f64,
    pub(crate) peak_users: f64,
    pub(crate) seed: u64,
    pub(crate) interrupted: bool,
    pub(crate) requests: u64,
    /// Arrivals the open model's rate integrates to; the run's count should be near.
    pub(crate) expected_arrivals: f64,
    pub(crate) outcomes: BTreeMap<&'static str, u64>,
    pub(crate) phases: Vec<PhaseSummary>,
    /// Every failed SLO as `phase: slo figure op bound`.
    pub(crate) failures: Vec<String>,
    pub(crate) self_check: SelfCheck,
    pub(crate) abandoned_at_stop: u64,
    pub(crate) loadbot_errors: u64,
    /// goose's own reports in the same folder, when written.
    pub(crate) goose_reports: Vec<String>,
    /// For a merged run: each shard merged, as `I/N from <folder>`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) merged_from: Vec<String>,
}

impl Summary {
    /// Adds a reason not to believe the run; a pass becomes inconclusive.
    pub(crate) fn add_inconclusive(&mut self, reason: String) {
        self.self_check.inconclusive.push(reason);
        (self.verdict, self.exit_code) = verdict(&self.failures, &self.self_check);
    }
}

/// The verdict and exit status: any failed SLO fails; any doubt is inconclusive.
pub(crate) fn verdict(failures: &[String], check: &SelfCheck) -> (&'static str, u8) {
    use crate::run::{EXIT_FAIL, EXIT_PASS};
    if !failures.is_empty() {
        ("fail", EXIT_FAIL)
    } else if !check.inconclusive.is_empty() {
        ("inconclusive", EXIT_FAIL)
    } else {
        ("pass", EXIT_PASS)
    }
}

pub(crate) fn write(dir: &Path, s: &Summary) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_string_pretty(s).context("serializing the summary")?;
    std::fs::write(dir.join("summary.json"), json + "\n").context("writing summary.json")?;
    std::fs::write(dir.join("summary.md"), markdown(s)).context("writing summary.md")?;
    Ok(())
}

fn cell(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |v| format!("{v:.1}"))
}

fn markdown(s: &Summary) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# loadbot: {} — {}\n",
        s.scenario,
        s.verdict.to_uppercase()
    );
    let _ = writeln!(
        md,
        "Started {} against {}; {:.1} s of wall-clock time (scenario time x{:.4}), peak {:.0} users (load x{:.3}), seed {}.{}\n",
        s.started_at,
        s.target,
        s.duration_s,
        s.time_factor,
        s.peak_users,
        s.load_factor,
        s.seed,
        if s.interrupted {
            " Interrupted with Ctrl-C."
        } else {
            ""
        }
    );
    if !s.merged_from.is_empty() {
        let _ = writeln!(
            md,
            "Merged from {} shards: {}.\n",
            s.merged_from.len(),
            s.merged_from.join("; ")
        );
    }
    if !s.failures.is_empty() {
        let _ = writeln!(md, "## Failed SLOs\n");
        for f in &s.failures {
            let _ = writeln!(md, "- {f}");
        }
        md.push('\n');
    }
    if !s.self_check.inconclusive.is_empty() {
        let _ = writeln!(
            md,
            "## Inconclusive: the generator may have been the bottleneck\n"
        );
        for r in &s.self_check.inconclusive {
            let _ = writeln!(md, "- {r}");
        }
        md.push('\n');
    }
    let _ = writeln!(md, "## Phases\n");
    let _ = writeln!(
        md,
        "| phase | s | requests | ok | shed | client err | server err | conn err | silent | refreshed | p50 ms | p95 ms | p99 ms | shed p99 ms | arrivals | late | dropped | SLOs |"
    );
    let _ = writeln!(md, "|{}", "---|".repeat(18));
    for p in &s.phases {
        let ok = &p.latency_ms["ok"];
        let o = |k: &str| p.outcomes.get(k).copied().unwrap_or(0);
        let _ = writeln!(
            md,
            "| {} | {:.1}-{:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.name,
            p.start_s,
            p.end_s,
            p.requests,
            o("ok"),
            o("shed"),
            o("client_error"),
            o("server_error"),
            o("connection_error"),
            o("silent"),
            o("refreshed"),
            cell(ok.p50),
            cell(ok.p95),
            cell(ok.p99),
            cell(p.latency_ms["shed"].p99),
            p.arrivals,
            p.late_starts,
            p.dropped_arrivals,
            if p.held { "held" } else { "FAILED" }
        );
    }
    let c = &s.self_check;
    let _ = writeln!(md, "\n## Self-check\n");
    let _ = writeln!(
        md,
        "- CPU: {} s over {:.1} s on {} cores ({}); {} requests per CPU-second\n- scheduler lag: p99 {:.2} ms, max {:.2} ms\n- workers: {}; late starts: {}; arrivals {} of which dropped {}\n- peak RSS: {}",
        c.cpu_seconds.map_or("?".to_owned(), |v| format!("{v:.2}")),
        c.wall_seconds,
        c.cores,
        c.cpu_share.map_or("?".to_owned(), |v| format!(
            "{:.0}% of the machine",
            v * 100.0
        )),
        c.requests_per_cpu_second
            .map_or("?".to_owned(), |v| format!("{v:.0}")),
        c.scheduler_lag_p99_ms,
        c.scheduler_lag_max_ms,
        c.workers,
        c.late_starts,
        c.arrivals,
        c.dropped_arrivals,
        c.peak_rss_bytes.map_or("?".to_owned(), |b| format!(
            "{:.1} MiB",
            b as f64 / 1_048_576.0
        )),
    );
    if !s.goose_reports.is_empty() {
        let _ = writeln!(md, "\ngoose's reports: {}", s.goose_reports.join(", "));
    }
    md
}
