//! Checks serde cannot make: impossible shapes, bad bounds, dangling names.

use std::collections::HashSet;

use toml::Spanned;

use crate::{Dur, Scenario, ScenarioError, SloSet, Think, error::Source};

/// Most concurrent users or arrivals per second a scenario may ask for.
const MAX_USERS: f64 = 10_000_000.0;

type Check = Result<(), ScenarioError>;

pub(crate) fn validate(s: &Scenario, src: &Source<'_>) -> Check {
    if s.name.trim().is_empty() {
        return Err(src.at(0..0, "name", "must not be empty".into()));
    }
    if s.client_timeout.get_ref().is_zero() {
        return Err(src.at(
            s.client_timeout.span(),
            "client_timeout",
            "must be longer than 0s".into(),
        ));
    }
    if s.phases.is_empty() {
        return Err(src.at(
            0..0,
            "phases",
            "a scenario needs at least one [[phases]] table".into(),
        ));
    }
    let mut names = HashSet::new();
    let mut any_users = false;
    let mut any_arrivals = false;
    for (i, phase) in s.phases.iter().enumerate() {
        let p = phase.get_ref();
        let key = |k: &str| format!("phases[{i}].{k}");
        let name = p.name.get_ref();
        if name.trim().is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_".contains(c))
        {
            return Err(src.at(
                p.name.span(),
                &key("name"),
                format!("{name:?}: use letters, digits, '-' and '_'"),
            ));
        }
        if !names.insert(name.as_str()) {
            return Err(src.at(
                p.name.span(),
                &key("name"),
                format!("{name:?} names two phases"),
            ));
        }
        if p.duration.get_ref().is_zero() {
            return Err(src.at(
                p.duration.span(),
                &key("duration"),
                "must be longer than 0s".into(),
            ));
        }
        if p.users.is_none() && p.arrivals_per_s.is_none() {
            return Err(src.at(
                phase.span(),
                &key("users"),
                format!("phase {name:?} needs `users` (closed model), `arrivals_per_s` (open model) or both"),
            ));
        }
        for (field, ramp) in [("users", &p.users), ("arrivals_per_s", &p.arrivals_per_s)] {
            let Some(ramp) = ramp else { continue };
            let r = ramp.get_ref();
            for v in [r.start, r.end] {
                if !v.is_finite() || !(0.0..=MAX_USERS).contains(&v) {
                    return Err(src.at(
                        ramp.span(),
                        &key(field),
                        format!("{v} is outside 0 to {MAX_USERS}"),
                    ));
                }
            }
            if field == "users" {
                any_users |= r.max() > 0.0;
            } else {
                any_arrivals |= r.max() > 0.0;
            }
        }
    }
    if !any_users && !any_arrivals {
        return Err(src.at(
            s.phases[0].span(),
            "phases",
            "no phase has users or arrivals above 0: the scenario sends nothing".into(),
        ));
    }
    validate_journeys(s, src, any_users, any_arrivals)?;
    validate_slo(&s.slo.default, src, "slo.default", &names)?;
    for (phase, set) in &s.slo.phases {
        let key = format!("slo.phases.{phase}");
        if !names.contains(phase.as_str()) {
            let known: Vec<&str> = names.iter().copied().collect();
            return Err(src.at(
                set.span(),
                &key,
                format!("no phase is named {phase:?} (phases: {})", sorted(known)),
            ));
        }
        validate_slo(set.get_ref(), src, &key, &names)?;
    }
    validate_peak_pairs(s, src)?;
    validate_regression(s, src, &names)
}

fn validate_regression(s: &Scenario, src: &Source<'_>, phases: &HashSet<&str>) -> Check {
    let Some(r) = &s.regression else {
        return Ok(());
    };
    let runs = *r.runs.get_ref();
    if !(2..=50).contains(&runs) {
        return Err(src.at(
            r.runs.span(),
            "regression.runs",
            format!("{runs} runs: give 2 to 50 (a confidence interval needs a spread)"),
        ));
    }
    if let Some(max) = &r.max_runs {
        let most = *max.get_ref();
        if !(runs..=50).contains(&most) {
            return Err(src.at(
                max.span(),
                "regression.max_runs",
                format!("{most} runs: give {runs} (the runs) to 50"),
            ));
        }
    }
    for (name, bound, most) in [
        ("max_p99_increase", &r.max_p99_increase, 10.0),
        ("max_goodput_decrease", &r.max_goodput_decrease, 1.0),
    ] {
        let v = *bound.get_ref();
        if !v.is_finite() || v <= 0.0 || v >= most {
            return Err(src.at(
                bound.span(),
                &format!("regression.{name}"),
                format!("{v} is a fraction and must be above 0 and below {most}"),
            ));
        }
    }
    let c = *r.confidence.get_ref();
    if !(0.5..=0.999).contains(&c) {
        return Err(src.at(
            r.confidence.span(),
            "regression.confidence",
            format!("{c} must be within 0.5 to 0.999"),
        ));
    }
    for (i, phase) in r.phases.iter().enumerate() {
        if !phases.contains(phase.get_ref().as_str()) {
            let known: Vec<&str> = phases.iter().copied().collect();
            return Err(src.at(
                phase.span(),
                &format!("regression.phases[{i}]"),
                format!(
                    "no phase is named {:?} (phases: {})",
                    phase.get_ref(),
                    sorted(known)
                ),
            ));
        }
    }
    Ok(())
}

/// `min_goodput_of_peak` means nothing without the `peak_phase` it compares
/// with, and the reverse: every phase's merged SLOs have both or neither.
fn validate_peak_pairs(s: &Scenario, src: &Source<'_>) -> Check {
    for phase in &s.phases {
        let name = phase.get_ref().name.get_ref();
        let set = s.slo_for(name);
        let (span, key, missing) = match (&set.min_goodput_of_peak, &set.peak_phase) {
            (Some(_), Some(_)) | (None, None) => continue,
            (Some(v), None) => (v.span(), "min_goodput_of_peak", "peak_phase"),
            (None, Some(p)) => (p.span(), "peak_phase", "min_goodput_of_peak"),
        };
        let table = if s.slo.phases.contains_key(name) {
            format!("slo.phases.{name}")
        } else {
            "slo.default".to_string()
        };
        return Err(src.at(
            span,
            &format!("{table}.{key}"),
            format!("phase {name:?} has `{key}` but no `{missing}`: give both"),
        ));
    }
    Ok(())
}

fn sorted(mut v: Vec<&str>) -> String {
    v.sort_unstable();
    v.join(", ")
}

fn validate_journeys(s: &Scenario, src: &Source<'_>, any_users: bool, any_arrivals: bool) -> Check {
    let j = &s.journeys;
    if any_arrivals && j.new_install.is_none() {
        return Err(src.at(
            0..0,
            "journeys.new_install",
            "arrivals_per_s needs a [journeys.new_install] table (arrivals are new installs)"
                .into(),
        ));
    }
    let weights = [
        j.new_install.as_ref().map_or(0, |n| n.weight),
        j.returning.as_ref().map_or(0, |r| r.weight),
        j.browser.as_ref().map_or(0, |b| b.weight),
        j.impatient.as_ref().map_or(0, |i| i.weight),
        j.probe.as_ref().map_or(0, |p| p.weight),
    ];
    if any_users && weights.iter().all(|w| *w == 0) {
        return Err(src.at(
            0..0,
            "journeys",
            "users need at least one journey with a weight above 0".into(),
        ));
    }
    if let Some(n) = &j.new_install {
        check_think(&n.think, src, "journeys.new_install.think")?;
        check_range(&n.feedback, src, "journeys.new_install.feedback", 20)?;
    }
    if let Some(r) = &j.returning {
        check_think(&r.think, src, "journeys.returning.think")?;
        check_range(&r.feedback, src, "journeys.returning.feedback", 20)?;
    }
    if let Some(b) = &j.browser {
        check_think(&b.think, src, "journeys.browser.think")?;
        check_range(&b.pages, src, "journeys.browser.pages", 100)?;
        check_range(
            &b.details_per_page,
            src,
            "journeys.browser.details_per_page",
            200,
        )?;
        let size = *b.page_size.get_ref();
        if !(1..=200).contains(&size) {
            return Err(src.at(
                b.page_size.span(),
                "journeys.browser.page_size",
                format!("{size} is outside 1 to 200 (the server's limit)"),
            ));
        }
        if b.details_per_page.get_ref()[1] > size {
            return Err(src.at(
                b.details_per_page.span(),
                "journeys.browser.details_per_page",
                format!("cannot open more garments than a page holds ({size})"),
            ));
        }
    }
    if let Some(p) = &j.probe {
        check_think(&p.think, src, "journeys.probe.think")?;
    }
    if let Some(i) = &j.impatient {
        check_think(&i.think, src, "journeys.impatient.think")?;
        let refresh = *i.refresh_after.get_ref();
        let timeout = *s.client_timeout.get_ref();
        if refresh.is_zero() || refresh >= timeout {
            return Err(src.at(
                i.refresh_after.span(),
                "journeys.impatient.refresh_after",
                format!("{refresh} must be above 0s and below client_timeout ({timeout})"),
            ));
        }
        if *i.max_retries.get_ref() > 100 {
            return Err(src.at(
                i.max_retries.span(),
                "journeys.impatient.max_retries",
                "at most 100".into(),
            ));
        }
    }
    Ok(())
}

fn check_think(think: &Spanned<Think>, src: &Source<'_>, key: &str) -> Check {
    let hour = Dur::from_secs(3_600);
    let bad = match think.get_ref() {
        Think::Constant(d) | Think::Exponential(d) if *d > hour => Some(format!("{d} is over 1h")),
        Think::Uniform([lo, hi]) if lo > hi => Some(format!("uniform bounds {lo} > {hi}")),
        Think::Uniform([_, hi]) if *hi > hour => Some(format!("{hi} is over 1h")),
        _ => None,
    };
    match bad {
        Some(message) => Err(src.at(think.span(), key, message)),
        None => Ok(()),
    }
}

fn check_range(range: &Spanned<[u32; 2]>, src: &Source<'_>, key: &str, most: u32) -> Check {
    let [lo, hi] = *range.get_ref();
    if lo > hi || hi > most {
        return Err(src.at(
            range.span(),
            key,
            format!("[{lo}, {hi}] must be [min, max] with min <= max <= {most}"),
        ));
    }
    Ok(())
}

fn validate_slo(set: &SloSet, src: &Source<'_>, key: &str, phases: &HashSet<&str>) -> Check {
    let mut last: Option<(f64, &str)> = None;
    for (name, bound) in [
        ("p50_ms", &set.p50_ms),
        ("p95_ms", &set.p95_ms),
        ("p99_ms", &set.p99_ms),
    ] {
        let Some(bound) = bound else { continue };
        let v = *bound.get_ref();
        let k = format!("{key}.{name}");
        if !v.is_finite() || v <= 0.0 {
            return Err(src.at(
                bound.span(),
                &k,
                format!("{v} must be a positive number of ms"),
            ));
        }
        if let Some((prev, prev_name)) = last
            && v < prev
        {
            return Err(src.at(
                bound.span(),
                &k,
                format!("{v} is below {prev_name} ({prev}): percentiles only grow"),
            ));
        }
        last = Some((v, name));
    }
    if let Some(bound) = &set.shed_p99_ms {
        let v = *bound.get_ref();
        if !v.is_finite() || v <= 0.0 {
            return Err(src.at(
                bound.span(),
                &format!("{key}.shed_p99_ms"),
                format!("{v} must be a positive number of ms"),
            ));
        }
    }
    if let Some(peak) = &set.peak_phase
        && !phases.contains(peak.get_ref().as_str())
    {
        let known: Vec<&str> = phases.iter().copied().collect();
        return Err(src.at(
            peak.span(),
            &format!("{key}.peak_phase"),
            format!(
                "no phase is named {:?} (phases: {})",
                peak.get_ref(),
                sorted(known)
            ),
        ));
    }
    for (name, bound) in [
        ("max_error_rate", &set.max_error_rate),
        ("max_shed_rate", &set.max_shed_rate),
        ("min_goodput", &set.min_goodput),
        ("min_goodput_of_peak", &set.min_goodput_of_peak),
    ] {
        let Some(bound) = bound else { continue };
        let v = *bound.get_ref();
        if !(0.0..=1.0).contains(&v) {
            return Err(src.at(
                bound.span(),
                &format!("{key}.{name}"),
                format!("{v} is a fraction and must be within 0 to 1"),
            ));
        }
    }
    Ok(())
}
