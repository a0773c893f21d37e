//! How many users the candidate can serve, measured before a step whose load
//! is a multiple of that (`overload-10x`).
//!
//! A fixed user count is a capacity on one build and machine only: 60 users
//! keep a debug build at its quarter core but use about a third of it on a
//! release build, so "ten times its users" was then about four times its
//! capacity. So under the step's CPU quota, on the step's own candidate, a
//! short ladder of user counts with the scenario's journeys and think times
//! runs first, and the candidate's ok answers per second and CPU time are
//! read at each rung. Below saturation a closed-loop server's goodput grows
//! in proportion to its users (each user asks at its own pace); at the top it
//! flattens at what the server can serve, and beyond it falls as shedding
//! takes its share. The capacity is where the two meet: the best goodput of
//! any rung over the goodput per user of the highest proportional rung (one
//! well under the quota, with nothing shed). CPU alone is not the measure:
//! measured on a release build, a request costs less CPU as concurrency grows,
//! so scaling CPU from a light rung put the capacity at 124 users where 240
//! served a third more. The step's peak phase gets a little more than the
//! capacity (so it is saturated, not short of it), and its other phases keep
//! their proportions. The `reached capacity` check of the run itself then
//! confirms the quota was used.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};

use crate::{
    candidate::Candidate,
    loadrun::{self, LoadRun},
    saturation::{self, CpuSampler},
    verdict::Check,
};

/// The rungs, as fractions of the scenario's own peak-phase users. Up to
/// sixteen times them: a release build on its quota was measured at about six
/// times the shipped overload-10x's, where an eight-times top rung filled the
/// quota only just (91-94% in four runs).
const RUNGS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];
/// Each rung's length in seconds: the sampler skips its first 2.
const RUNG_S: usize = 5;
/// A rung at or under this share of the quota is taken as proportional.
const LINEAR_BELOW: f64 = 0.7;
/// Under this share, a rung's CPU is too small to scale from.
const MEASURABLE_ABOVE: f64 = 0.05;
/// A rung at or over this share of the quota filled it.
const FILLED: f64 = 0.9;
/// The peak phase gets this much more than the estimated capacity.
const HEADROOM: f64 = 1.15;
/// The most users a calibrated step runs at its peak (loadbot runs a worker
/// per user there).
pub(crate) const MAX_PEAK_USERS: u32 = 8_000;

/// A calibrated step's users.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Calibrated {
    /// The users of the peak phase (e.g. `capacity`).
    pub(crate) capacity_users: u32,
    /// The step's `--users`: the scenario's most users, scaled alike.
    pub(crate) step_users: u32,
    /// What was measured, in words.
    pub(crate) detail: String,
}

/// One rung as measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rung {
    pub(crate) users: u32,
    /// ok answers per second of the rung.
    pub(crate) ok_per_s: f64,
    /// Contract 503s in the rung.
    pub(crate) shed: u64,
    /// The share of the quota the candidate used, when sampled.
    pub(crate) utilisation: Option<f64>,
}

/// The peak phase's users and the scenario's most users (the step's `--users`).
fn users_of(file: &Path) -> anyhow::Result<(String, f64, f64)> {
    let scenario = scenarios::Scenario::from_file(file)?;
    let peak = saturation::peak_phases(file)
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("{} names no peak_phase to calibrate", file.display()))?;
    let users_in = |p: &scenarios::Phase| p.users.as_ref().map(|u| u.get_ref().max());
    let capacity = scenario
        .phases
        .iter()
        .map(|p| p.get_ref())
        .find(|p| p.name.get_ref() == &peak)
        .and_then(users_in)
        .ok_or_else(|| anyhow!("the peak phase {peak:?} has no users"))?;
    let most = scenario
        .phases
        .iter()
        .filter_map(|p| users_in(p.get_ref()))
        .fold(0.0_f64, f64::max);
    Ok((peak, capacity, most))
}

/// The ladder scenario: the step's journeys and think times, one phase per
/// rung, no per-phase SLOs, faults or budgets. Returns its file.
fn ladder_file(file: &Path, rungs: &[u32], dir: &Path) -> anyhow::Result<PathBuf> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut table: toml::Table =
        toml::from_str(&text).with_context(|| format!("reading {}", file.display()))?;
    let name = table
        .get("name")
        .and_then(|n| n.as_str())
        .unwrap_or("scenario")
        .to_string();
    table.insert("name".into(), format!("{name}-calibration").into());
    table.insert(
        "description".into(),
        format!("Users rising rung by rung, to find what the candidate of {name} can serve").into(),
    );
    let phases: Vec<toml::Value> = rungs
        .iter()
        .map(|&users| {
            let mut phase = toml::Table::new();
            phase.insert("name".into(), rung_name(users).into());
            phase.insert("duration".into(), format!("{RUNG_S}s").into());
            phase.insert("users".into(), i64::from(users).into());
            toml::Value::Table(phase)
        })
        .collect();
    table.insert("phases".into(), phases.into());
    for key in ["faults", "leaks", "regression"] {
        table.remove(key);
    }
    if let Some(slo) = table.get_mut("slo").and_then(|s| s.as_table_mut()) {
        slo.remove("phases");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = dir.join(format!("{name}-calibration.toml"));
    std::fs::write(&out, toml::to_string(&table)?)
        .with_context(|| format!("writing {}", out.display()))?;
    // the ladder must be a scenario loadbot takes: checked the same way
    scenarios::Scenario::from_file(&out)?;
    Ok(out)
}

fn rung_name(users: u32) -> String {
    format!("rung-{users}")
}

/// The users at which the candidate's goodput stops growing with its users:
/// the best goodput of any rung over the goodput per user of the highest
/// proportional rung (measurable, at most [`LINEAR_BELOW`] of the quota,
/// nothing shed). `Err` says why there is none.
pub(crate) fn capacity_from(rungs: &[Rung]) -> Result<f64, &'static str> {
    let linear = rungs
        .iter()
        .filter(|r| r.shed == 0 && r.ok_per_s > 0.0 && r.users > 0)
        .filter(|r| {
            r.utilisation
                .is_some_and(|u| (MEASURABLE_ABOVE..=LINEAR_BELOW).contains(&u))
        })
        .max_by_key(|r| r.users)
        .ok_or(
            "no rung served in proportion to its users (measurable, well under the quota, nothing shed)",
        )?;
    if !rungs
        .iter()
        .any(|r| r.utilisation.is_some_and(|u| u >= FILLED))
    {
        return Err(
            "no rung filled the quota, so the best goodput seen is loadbot's, not the candidate's",
        );
    }
    let best = rungs.iter().map(|r| r.ok_per_s).fold(0.0_f64, f64::max);
    Ok(best / (linear.ok_per_s / f64::from(linear.users)))
}

/// The step's users from a capacity estimate: the peak phase at
/// [`HEADROOM`] over it, the step's most users in the scenario's proportion.
pub(crate) fn scale(capacity: f64, scenario_capacity: f64, scenario_most: f64) -> (u32, u32) {
    let ratio = if scenario_capacity > 0.0 {
        scenario_most / scenario_capacity
    } else {
        1.0
    };
    let capacity_users = (capacity * HEADROOM).ceil().max(1.0);
    let step = (capacity_users * ratio)
        .ceil()
        .min(f64::from(MAX_PEAK_USERS));
    // a capped step keeps the scenario's proportion
    let capacity_users = (step / ratio).floor().max(1.0);
    (capacity_users as u32, step as u32)
}

/// Runs the ladder against the started `candidate` (under its quota) and
/// returns the users for the step.
pub(crate) async fn run(
    loadbot: &Path,
    file: &Path,
    candidate: &Candidate,
    dir: &Path,
) -> anyhow::Result<Calibrated> {
    let (Some(cpus), Some(pid)) = (candidate.quota_cpus(), candidate.pid()) else {
        bail!("calibration needs the candidate under a CPU quota");
    };
    let (peak, capacity, most) = users_of(file)?;
    let rungs: Vec<u32> = RUNGS
        .iter()
        .map(|f| (capacity * f).round().max(1.0) as u32)
        .collect();
    let ladder = ladder_file(file, &rungs, dir)?;
    let top = *rungs.last().unwrap_or(&1);
    let length = format!("{}s", RUNG_S * rungs.len());
    let run = LoadRun {
        loadbot,
        scenario_name: "calibration",
        scenario_file: &ladder,
        users: top,
        duration: &length,
        workers: Some(top),
        seed: 2,
        report_dir: dir,
    };
    let sampler = CpuSampler::start(pid);
    let (_, summary) = loadrun::run_inner(&run, &candidate.url).await?;
    let samples = sampler.finish();
    let measured: Vec<Rung> = rungs
        .iter()
        .filter_map(|&users| {
            let phase = summary.phases.iter().find(|p| p.name == rung_name(users))?;
            let seconds = (phase.end_s - phase.start_s).max(1e-3);
            Some(Rung {
                users,
                ok_per_s: phase.outcomes.get("ok").copied().unwrap_or(0) as f64 / seconds,
                shed: phase.outcomes.get("shed").copied().unwrap_or(0),
                utilisation: saturation::phase_utilisation(&samples, phase, cpus),
            })
        })
        .collect();
    let table = measured
        .iter()
        .map(|r| {
            format!(
                "{} users {:.0} ok/s{} at {}",
                r.users,
                r.ok_per_s,
                if r.shed > 0 {
                    format!(" ({} shed)", r.shed)
                } else {
                    String::new()
                },
                r.utilisation
                    .map_or("? CPU".to_string(), |u| format!("{:.0}% CPU", u * 100.0))
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let estimate =
        capacity_from(&measured).map_err(|why| anyhow!("{why}; under {cpus} cores: {table}"))?;
    let (capacity_users, step_users) = scale(estimate, capacity, most);
    Ok(Calibrated {
        capacity_users,
        step_users,
        detail: format!(
            "under {cpus} cores: {table}; the best goodput over the goodput per user below saturation puts the capacity at about {estimate:.0} users, so {peak} runs {capacity_users} users and the step {step_users} (the scenario's own: {capacity:.0} and {most:.0})"
        ),
    })
}

/// The calibration's check.
pub(crate) fn check(scenario: &str, found: &anyhow::Result<Calibrated>) -> Check {
    match found {
        Ok(c) => Check::pass(scenario, "calibrated capacity", c.detail.clone()),
        Err(e) => Check::new(
            scenario,
            "calibrated capacity",
            crate::verdict::Status::Inconclusive,
            format!("{e:#}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rung(users: u32, ok_per_s: f64, shed: u64, utilisation: f64) -> Rung {
        Rung {
            users,
            ok_per_s,
            shed,
            utilisation: Some(utilisation),
        }
    }

    #[test]
    fn the_capacity_is_the_best_goodput_over_the_goodput_per_user() {
        // a release build measured here on a quarter core
        let rungs = [
            rung(15, 31.0, 0, 0.13),
            rung(30, 65.0, 0, 0.26),
            rung(60, 128.0, 0, 0.47),
            rung(120, 234.0, 0, 0.67),
            rung(240, 414.0, 47, 0.96),
            rung(480, 300.0, 2_867, 0.96),
        ];
        let c = capacity_from(&rungs).expect("an estimate");
        assert!((c - 414.0 / (234.0 / 120.0)).abs() < 1e-9, "{c}");
        // the peak gets 15% over it, the step ten times that
        assert_eq!(scale(c, 60.0, 600.0), (245, 2_450));
    }

    #[test]
    fn a_ladder_without_a_proportional_rung_or_a_full_quota_gives_no_estimate() {
        // every rung past 70% of the quota (or shedding): nothing to scale from
        let saturated = [rung(15, 30.0, 0, 0.95), rung(30, 40.0, 3, 1.0)];
        assert!(capacity_from(&saturated).is_err());
        // the quota never filled: the best goodput is loadbot's limit
        let short = [rung(15, 30.0, 0, 0.2), rung(30, 60.0, 0, 0.4)];
        let e = capacity_from(&short).expect_err("no full quota");
        assert!(e.contains("filled the quota"), "{e}");
        // a debug build saturates at its own 60: the quarter rung scales
        let debug = [
            rung(15, 28.0, 0, 0.45),
            rung(30, 52.0, 0, 0.85),
            rung(60, 70.0, 12, 1.0),
        ];
        assert_eq!(capacity_from(&debug), Ok(70.0 / (28.0 / 15.0)));
    }

    #[test]
    fn a_step_past_the_cap_keeps_its_proportion() {
        let (capacity, step) = scale(10_000.0, 60.0, 600.0);
        assert_eq!(step, MAX_PEAK_USERS);
        assert_eq!(capacity, MAX_PEAK_USERS / 10);
    }

    #[test]
    fn the_ladder_is_the_scenario_with_rungs_for_phases() -> anyhow::Result<()> {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/overload-10x.toml");
        let dir = tempfile::tempdir()?;
        let out = ladder_file(&shipped, &[15, 30, 60], dir.path())?;
        let ladder = scenarios::Scenario::from_file(&out)?;
        let names: Vec<&str> = ladder
            .phases
            .iter()
            .map(|p| p.get_ref().name.get_ref().as_str())
            .collect();
        assert_eq!(names, ["rung-15", "rung-30", "rung-60"]);
        assert!(ladder.slo.phases.is_empty());
        let original = scenarios::Scenario::from_file(&shipped)?;
        assert_eq!(ladder.journeys, original.journeys);
        assert_eq!(users_of(&shipped)?, ("capacity".to_string(), 60.0, 600.0));
        Ok(())
    }
}
