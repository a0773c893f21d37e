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
    /// The figures behind a derived figure (`312.0 ok/s vs 340.5 ok/s in capacity`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
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
        match &self.note {
            Some(note) => format!("{} {figure} {op} {} ({note})", self.slo, self.bound),
            None => format!("{} {figure} {op} {}", self.slo, self.bound),
        }
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
        note: None,
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
    if let Some(bound) = &set.shed_p99_ms {
        // judged from the intended start; the figure from the actual send and
        // the late starts tell a slow server from a late loadbot
        let mut v = max_bound(
            "shed_p99_ms",
            *bound.get_ref(),
            percentile_ms(&p.shed_latency, 0.99),
        );
        v.note = percentile_ms(&p.shed_sent_latency, 0.99).map(|sent| {
            format!(
                "p99 {sent:.1} ms from the actual send; {} late starts",
                p.late_starts
            )
        });
        verdicts.push(v);
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
            note: None,
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
        note: None,
    });
    verdicts
}

/// A phase's ok answers over its length on the run's clock.
#[derive(Debug, Clone)]
pub(crate) struct Goodput<'a> {
    pub(crate) phase: &'a str,
    pub(crate) ok: u64,
    pub(crate) seconds: f64,
}

impl Goodput<'_> {
    fn per_second(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.ok as f64 / self.seconds)
    }
}

/// `min_goodput_of_peak`: the phase's ok answers per second over those of its
/// `peak_phase` (the server at capacity, same run). A peak phase that served
/// nothing cannot be compared with, so the bound fails with no figure: a run
/// that never measured its peak must not pass the check.
pub(crate) fn judge_against_peak(
    set: &SloSet,
    phase: &Goodput<'_>,
    all: &[Goodput<'_>],
) -> Option<Verdict> {
    let bound = *set.min_goodput_of_peak.as_ref()?.get_ref();
    let peak_name = set.peak_phase.as_ref()?.get_ref();
    let peak = all.iter().find(|g| g.phase == peak_name.as_str());
    let peak_rate = peak.and_then(Goodput::per_second).filter(|r| *r > 0.0);
    let rate = phase.per_second();
    let (figure, note) = match (rate, peak_rate) {
        (Some(rate), Some(peak_rate)) => (
            Some(rate / peak_rate),
            format!("{rate:.1} ok/s vs {peak_rate:.1} ok/s in {peak_name}"),
        ),
        _ => (
            None,
            format!("no ok answer per second measured in {peak_name} to compare with"),
        ),
    };
    Some(Verdict {
        slo: "goodput_of_peak",
        op: ">=",
        bound,
        held: figure.is_some_and(|f| f >= bound),
        figure,
        note: Some(note),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use scenarios::Spanned;

    use super::*;
    use crate::stats::record;

    fn overload_set() -> SloSet {
        SloSet {
            shed_p99_ms: Some(Spanned::new(0..0, 50.0)),
            min_goodput_of_peak: Some(Spanned::new(0..0, 0.9)),
            peak_phase: Some(Spanned::new(0..0, "capacity".to_owned())),
            ..SloSet::default()
        }
    }

    fn goodput(phase: &str, ok: u64, seconds: f64) -> Goodput<'_> {
        Goodput { phase, ok, seconds }
    }

    #[test]
    fn goodput_under_overload_is_judged_per_second_against_the_peak_phase() {
        let set = overload_set();
        // 10 s at 300 ok/s, then 20 s of overload
        let all = [
            goodput("capacity", 3_000, 10.0),
            goodput("overload", 5_600, 20.0),
        ];
        let v = judge_against_peak(&set, &all[1], &all).expect("judged");
        assert!(v.held, "280 ok/s is 0.93 of 300: {}", v.describe());
        let all = [
            goodput("capacity", 3_000, 10.0),
            goodput("overload", 5_200, 20.0),
        ];
        let v = judge_against_peak(&set, &all[1], &all).expect("judged");
        assert!(!v.held);
        let text = v.describe();
        assert!(
            text.contains("goodput_of_peak 0.8667 < 0.9")
                && text.contains("260.0 ok/s vs 300.0 ok/s in capacity"),
            "{text}"
        );
        // the peak phase judged against itself holds
        assert!(
            judge_against_peak(&set, &all[0], &all)
                .expect("judged")
                .held
        );
    }

    #[test]
    fn a_peak_phase_that_served_nothing_fails_the_comparison() {
        let set = overload_set();
        let all = [
            goodput("capacity", 0, 10.0),
            goodput("overload", 5_000, 20.0),
        ];
        let v = judge_against_peak(&set, &all[1], &all).expect("judged");
        assert!(!v.held && v.figure.is_none(), "{}", v.describe());
        assert!(judge_against_peak(&SloSet::default(), &all[1], &all).is_none());
    }

    #[test]
    fn slow_shed_answers_break_the_shed_latency_bound() {
        let set = overload_set();
        let mut p = PhaseStats::new();
        for _ in 0..98 {
            record(&mut p.shed_latency, Duration::from_millis(3));
            record(&mut p.shed_sent_latency, Duration::from_millis(2));
        }
        p.outcomes[Outcome::Shed.index()] = 98;
        let held = |p: &PhaseStats| {
            judge(&set, p)
                .into_iter()
                .find(|v| v.slo == "shed_p99_ms")
                .expect("judged")
        };
        assert!(held(&p).held);
        // loadbot was late: sent on time, these would have been fast
        for _ in 0..3 {
            record(&mut p.shed_latency, Duration::from_millis(1_000));
            record(&mut p.shed_sent_latency, Duration::from_millis(2));
        }
        p.late_starts = 3;
        let v = held(&p);
        let text = v.describe();
        assert!(!v.held && text.starts_with("shed_p99_ms 1000"), "{text}");
        assert!(
            text.contains("p99 2.0 ms from the actual send; 3 late starts"),
            "{text}"
        );
    }
}
