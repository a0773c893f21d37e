//! `release-gate explain FILE`: a scenario or a checklist in plain words.

use std::{fmt::Write as _, path::Path};

use scenarios::{Checklist, Ramp, Scenario, ScenarioError, SloSet, checklist::Shown};

/// The file in sentences: a checklist (`kind = "checklist"`) or a load scenario.
pub(crate) fn explain_file(path: &Path) -> Result<String, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Read {
        file: path.display().to_string(),
        message: e.to_string(),
    })?;
    if Checklist::declared_in(&text) {
        Ok(explain_checklist(&Checklist::parse(&text, path)?))
    } else {
        Ok(explain(&Scenario::parse(&text, path)?))
    }
}

/// The checklist described step by step.
pub(crate) fn explain_checklist(c: &Checklist) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Checklist {:?}: {}", c.name, c.description);
    let _ = writeln!(
        out,
        "Each new install walks {} steps in order; each must answer within {} (unless the gate sets its own bound) and hold on content.\n",
        c.steps.len(),
        c.step_bound
    );
    for (i, step) in c.steps.iter().enumerate() {
        let r = &step.request;
        let _ = writeln!(out, "{}. {}: {} {}", i + 1, step.name, r.method, r.path);
        if let Some(auth) = &r.auth {
            let _ = writeln!(out, "   as bearer {auth}");
        }
        if let Some(body) = &r.body {
            let _ = writeln!(out, "   sending {}", Shown(body));
        }
        let _ = writeln!(out, "   expects status {}", step.status);
        for a in &step.json {
            let _ = writeln!(out, "   and at {}: {}", a.pointer, a.matcher);
        }
        for (name, pointer) in &step.save {
            let _ = writeln!(out, "   saves {pointer} as {{{name}}}");
        }
    }
    out
}

fn ramp(r: Option<&Ramp>, unit: &str) -> Option<String> {
    r.map(|r| {
        if (r.start - r.end).abs() < f64::EPSILON {
            format!("{} {unit}", r.start)
        } else {
            format!("{} rising to {} {unit}", r.start, r.end).replace(
                "rising to",
                if r.end < r.start {
                    "falling to"
                } else {
                    "rising to"
                },
            )
        }
    })
}

fn slos(s: &SloSet) -> String {
    let mut parts = Vec::new();
    for (name, v) in [("p50", &s.p50_ms), ("p95", &s.p95_ms), ("p99", &s.p99_ms)] {
        if let Some(v) = v {
            parts.push(format!("{name} at most {} ms", v.get_ref()));
        }
    }
    if let Some(v) = &s.max_error_rate {
        parts.push(format!("errors at most {:.2}%", v.get_ref() * 100.0));
    }
    if let Some(v) = &s.max_shed_rate {
        parts.push(format!("shed at most {:.2}%", v.get_ref() * 100.0));
    }
    if let Some(v) = &s.min_goodput {
        parts.push(format!("goodput at least {:.0}%", v.get_ref() * 100.0));
    }
    if let Some(v) = &s.max_silent {
        parts.push(format!("at most {} silent answers", v.get_ref()));
    }
    if let Some(v) = &s.shed_p99_ms {
        parts.push(format!("99% of shed answers within {} ms", v.get_ref()));
    }
    if let (Some(v), Some(peak)) = (&s.min_goodput_of_peak, &s.peak_phase) {
        parts.push(format!(
            "ok answers per second at least {:.0}% of phase {}'s",
            v.get_ref() * 100.0,
            peak.get_ref()
        ));
    }
    if parts.is_empty() {
        "no bound".to_string()
    } else {
        parts.join(", ")
    }
}

/// The scenario described in sentences, one block per part.
pub(crate) fn explain(s: &Scenario) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Scenario {:?}: {}", s.name, s.description);
    let _ = writeln!(
        out,
        "It lasts {} in all, peaks at {} concurrent users, and an app gives up on an answer after {}.\n",
        s.total_duration(),
        s.peak_users(),
        s.client_timeout.get_ref()
    );
    out.push_str("Traffic, phase by phase:\n");
    for p in &s.phases {
        let p = p.get_ref();
        let users = ramp(p.users.as_ref().map(|u| u.get_ref()), "users");
        let arrivals = ramp(
            p.arrivals_per_s.as_ref().map(|a| a.get_ref()),
            "new installs per second",
        );
        let load = [users, arrivals]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", plus ");
        let _ = writeln!(
            out,
            "  - {} for {}: {}; judged on: {}",
            p.name.get_ref(),
            p.duration.get_ref(),
            if load.is_empty() {
                "no load".to_string()
            } else {
                load
            },
            slos(&s.slo_for(p.name.get_ref()))
        );
    }
    if let Some(leaks) = &s.leaks {
        out.push_str("\nLeak budgets:\n");
        if let Some(d) = &leaks.connections_back_within {
            let _ = writeln!(
                out,
                "  - pool connections back to idle within {d} after the load stops"
            );
        }
        if let Some(b) = leaks.memory_bytes_per_request {
            let _ = writeln!(out, "  - memory growth at most {b} bytes per request");
        }
    }
    if !s.faults.is_empty() {
        out.push_str("\nFaults:\n");
        for f in &s.faults {
            let params: Vec<String> = f.params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            let _ = writeln!(
                out,
                "  - {} at {} for {}{}",
                f.kind,
                f.at,
                f.duration,
                if params.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", params.join(", "))
                }
            );
        }
    }
    if let Some(r) = &s.regression {
        let phases: Vec<&str> = if r.phases.is_empty() {
            s.phases
                .iter()
                .map(|p| p.get_ref().name.get_ref().as_str())
                .collect()
        } else {
            r.phases.iter().map(|p| p.get_ref().as_str()).collect()
        };
        let _ = writeln!(
            out,
            "\nAgainst a baseline build (release-gate --baseline): {} runs of each, alternately{}; in {} the candidate fails when, with {:.0}% confidence, its p99 is more than {:.0}% above the baseline's or its goodput more than {:.0}% below.",
            r.runs.get_ref(),
            r.max_runs
                .as_ref()
                .filter(|m| m.get_ref() > r.runs.get_ref())
                .map_or(String::new(), |m| format!(
                    ", up to {} when a figure is past the budget but within the noise",
                    m.get_ref()
                )),
            phases.join(", "),
            r.confidence.get_ref() * 100.0,
            r.max_p99_increase.get_ref() * 100.0,
            r.max_goodput_decrease.get_ref() * 100.0,
        );
    }
    out
}
