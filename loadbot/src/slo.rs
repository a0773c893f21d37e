//! SLO verdicts per phase: each bound of the scenario against the phase's figure.

use hdrhistogram::Histogram;
use scenarios::SloSet;
use serde::Serialize;

use crate::{outcome::Outcome, stats::PhaseStats};

/// One bound judged.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Verdict {
    pub(crate) slo: &'static str,
    /// `<=` or `>=`.
    pub(crate) op: &'static str,
    pub(crate) bound: f64,
    /// `None` when the phase had nothing to judge it on.
    pub(crate) figure: Option<f64>,
    pub(crate) held: bool,
}

impl Verdict {
    /// `p99_ms 1234.5 > 1000` for a failure.
    pub(crate) fn describe(&self) -> String {
        let figure = self.figure.map_or("n/a".to_owned(), |f| {
            format!("{f:.4}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_owned()
        });
        let broken = if self.op == "<=" { ">" } else { "<" };
        let op = if self.held { self.op } else { broken };
        format!("{} {figure} {op} {}", self.slo, self.bound)
    }
}

/// Percentile `q` (0 to 1) of a microsecond histogram, in milliseconds.
pub(crate) fn percentile_ms(h: &Histogram<u64>, q: f64) -> Option<f64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1_000.0)
}

fn max_bound(slo: &'static str, bound: f64, figure: Option<f64>) -> Verdict {
    Verdict {
        slo,
        op: "<=",
        bound,
        figure,
        held: figure.is_none_or(|f| f <= bound),
    }
}

/// Judges a phase against its SLOs. A phase without requests fails nothing.
pub(crate) fn judge(set: &SloSet, p: &PhaseStats) -> Vec<Verdict> {
    let requests = p.requests();
    let share = |n: u64| (requests > 0).then(|| n as f64 / requests as f64);
    let mut verdicts = Vec::new();
    for (slo, bound, q) in [
        ("p50_ms", &set.p50_ms, 0.50),
        ("p95_ms", &set.p95_ms, 0.95),
        ("p99_ms", &set.p99_ms, 0.99),
    ] {
        if let Some(bound) = bound {
            verdicts.push(max_bound(
                slo,
                *bound.get_ref(),
                percentile_ms(&p.ok_latency, q),
            ));
        }
    }
    if let Some(bound) = &set.max_error_rate {
        verdicts.push(max_bound("error_rate", *bound.get_ref(), share(p.errors())));
    }
    if let Some(bound) = &set.max_shed_rate {
        verdicts.push(max_bound(
            "shed_rate",
            *bound.get_ref(),
            share(p.count(Outcome::Shed)),
        ));
    }
    if let Some(bound) = &set.min_goodput {
        let bound = *bound.get_ref();
        let figure = share(p.count(Outcome::Ok));
        verdicts.push(Verdict {
            slo: "goodput",
            op: ">=",
            bound,
            figure,
            held: figure.is_none_or(|f| f >= bound),
        });
    }
    // silent answers fail the run unless the scenario allows some
    let silent_bound = set.max_silent.as_ref().map_or(0, |b| *b.get_ref());
    let silent = p.count(Outcome::Silent);
    verdicts.push(Verdict {
        slo: "silent",
        op: "<=",
        bound: silent_bound as f64,
        figure: Some(silent as f64),
        held: silent <= silent_bound,
    });
    verdicts
}
