//! Whether a step run under a CPU quota really drove the candidate to its
//! capacity in the phase its goodput is compared with.
//!
//! `min_goodput_of_peak` is one-sided: a `capacity` phase below the
//! candidate's real capacity understates the peak, and "ten times its users"
//! is then less than ten times what it can serve. Measured here: 60 users kept
//! a debug build at its quarter core, but used about a third of it on a
//! release build (p99 11 ms), where the step's goodput check then passed on an
//! overload of about four times. So while loadbot runs, the candidate's CPU
//! time is sampled from `/proc/PID/stat` (all of its threads), and the peak
//! phase must have used at least [`MIN_UTILISATION`] of the quota; if not,
//! the step cannot judge the overload contract and says so (inconclusive,
//! which blocks like a failure).

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::{
    candidate::Candidate,
    loadrun::{self, LoadRun, Summary},
    verdict::{Check, Status},
};

/// The share of the quota the peak phase must use to count as capacity.
pub(crate) const MIN_UTILISATION: f64 = 0.8;
/// How often the candidate's CPU time is read.
const EVERY: Duration = Duration::from_millis(200);
/// Skipped at a phase's start: loadbot's clock starts a little after the
/// gate's, and the phase's users ramp up.
const SETTLE_S: f64 = 2.0;
/// `/proc/PID/stat` counts CPU time in these per second (USER_HZ, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// (seconds since the sampler's start, CPU seconds of the process).
pub(crate) type Sample = (f64, f64);

/// Reads a process's CPU time in the background until dropped.
#[derive(Debug)]
pub(crate) struct CpuSampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CpuSampler {
    /// Starts sampling `pid`; time 0 is now.
    pub(crate) fn start(pid: u32) -> CpuSampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&samples);
        let stat = Path::new("/proc").join(pid.to_string()).join("stat");
        let t0 = Instant::now();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            // bounded by the step: the sampler is dropped when loadbot returns
            loop {
                tick.tick().await;
                let Some(cpu) = std::fs::read_to_string(&stat)
                    .ok()
                    .and_then(|text| cpu_seconds(&text))
                else {
                    return;
                };
                if let Ok(mut s) = kept.lock() {
                    s.push((t0.elapsed().as_secs_f64(), cpu));
                }
            }
        });
        CpuSampler { samples, task }
    }

    /// Stops sampling and returns the samples.
    pub(crate) fn finish(self) -> Vec<Sample> {
        self.task.abort();
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for CpuSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// utime + stime of a `/proc/PID/stat` line, in seconds.
fn cpu_seconds(stat: &str) -> Option<f64> {
    // the command name may hold spaces and parentheses: split after the last ')'
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // after the name: state is field 3, utime 14 and stime 15 of the whole line
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_S)
}

/// The share of `cpus` cores the process used between `from` and `to`
/// seconds, from the first and last samples inside the window.
fn utilisation(samples: &[Sample], from: f64, to: f64, cpus: f64) -> Option<f64> {
    let inside: Vec<&Sample> = samples
        .iter()
        .filter(|(t, _)| *t >= from && *t <= to)
        .collect();
    let (first, last) = (inside.first()?, inside.last()?);
    let span = last.0 - first.0;
    if span < 1.0 || cpus <= 0.0 {
        return None;
    }
    Some((last.1 - first.1) / span / cpus)
}

/// The share of `cpus` cores the process used in a phase of loadbot's
/// summary, its first seconds skipped.
pub(crate) fn phase_utilisation(
    samples: &[Sample],
    phase: &loadrun::Phase,
    cpus: f64,
) -> Option<f64> {
    utilisation(samples, phase.start_s + SETTLE_S, phase.end_s, cpus)
}

/// The phases whose goodput others are compared with (`peak_phase`).
pub(crate) fn peak_phases(scenario_file: &Path) -> Vec<String> {
    let Ok(scenario) = scenarios::Scenario::from_file(scenario_file) else {
        return Vec::new();
    };
    let mut peaks: Vec<String> = scenario
        .slo
        .phases
        .values()
        .filter_map(|set| set.get_ref().peak_phase.as_ref())
        .map(|p| p.get_ref().clone())
        .collect();
    peaks.sort();
    peaks.dedup();
    peaks
}

/// [`loadrun::run`]; under a CPU quota, also whether each peak phase kept
/// the candidate at it.
pub(crate) async fn run(run: &LoadRun<'_>, candidate: &Candidate) -> Vec<Check> {
    let (Some(cpus), Some(pid)) = (candidate.quota_cpus(), candidate.pid()) else {
        return loadrun::run(run, &candidate.url).await;
    };
    let peaks = peak_phases(run.scenario_file);
    let sampler = CpuSampler::start(pid);
    loadrun::run_then(run, &candidate.url, |summary| {
        checks(run.scenario_name, summary, &peaks, &sampler.finish(), cpus)
    })
    .await
}

/// One check per peak phase: did it keep the candidate at its quota?
pub(crate) fn checks(
    scenario: &str,
    summary: &Summary,
    peaks: &[String],
    samples: &[Sample],
    cpus: f64,
) -> Vec<Check> {
    peaks
        .iter()
        .map(|name| {
            let check = "reached capacity";
            let Some(phase) = summary.phases.iter().find(|p| &p.name == name) else {
                return Check::new(
                    scenario,
                    check,
                    Status::Inconclusive,
                    format!("loadbot's summary has no phase {name:?}"),
                )
                .in_phase(name);
            };
            let ok = phase.outcomes.get("ok").copied().unwrap_or(0);
            let from = phase.start_s + SETTLE_S;
            let found = match utilisation(samples, from, phase.end_s, cpus) {
                None => Check::new(
                    scenario,
                    check,
                    Status::Inconclusive,
                    format!(
                        "no CPU samples of the candidate from {from:.1} s to {:.1} s",
                        phase.end_s
                    ),
                ),
                Some(u) if u >= MIN_UTILISATION => Check::pass(
                    scenario,
                    check,
                    format!(
                        "the candidate used {:.0}% of its {cpus} cores ({ok} ok answers)",
                        u * 100.0
                    ),
                ),
                Some(u) => Check::new(
                    scenario,
                    check,
                    Status::Inconclusive,
                    format!(
                        "the candidate used {:.0}% of its {cpus} cores in {name} ({ok} ok answers), \
                         under {:.0}%: {name} did not reach the candidate's capacity, so ten times \
                         its users is less than ten times what it serves, and goodput is compared \
                         with an understated peak; raise the step's users (or lower its quota) \
                         until {name} saturates",
                        u * 100.0,
                        MIN_UTILISATION * 100.0
                    ),
                ),
            };
            found.in_phase(name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_a_name_with_spaces_and_parentheses() {
        let line =
            "4242 (outfit (srv) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3";
        assert_eq!(cpu_seconds(line), Some(3.0));
        assert_eq!(cpu_seconds("garbage"), None);
        assert_eq!(cpu_seconds("1 (x) S 1 2"), None);
    }

    #[test]
    fn utilisation_is_cpu_time_over_wall_time_and_the_quota() {
        // a quarter core used for 10 s, sampled every 0.2 s
        let samples: Vec<Sample> = (0..=50)
            .map(|i| (f64::from(i) * 0.2, f64::from(i) * 0.2 * 0.25))
            .collect();
        let u = utilisation(&samples, 2.0, 10.0, 0.25).expect("enough samples");
        assert!((u - 1.0).abs() < 1e-9, "{u}");
        let u = utilisation(&samples, 2.0, 10.0, 1.0).expect("enough samples");
        assert!((u - 0.25).abs() < 1e-9, "{u}");
        // under a second of samples says nothing
        assert_eq!(utilisation(&samples, 2.0, 2.5, 0.25), None);
        assert_eq!(utilisation(&[], 0.0, 10.0, 0.25), None);
    }

    fn summary(ok: u64) -> Summary {
        serde_json::from_value(serde_json::json!({
            "verdict": "pass",
            "requests": ok,
            "phases": [{
                "name": "capacity", "start_s": 0.0, "end_s": 10.0, "requests": ok,
                "outcomes": {"ok": ok}, "slo": []
            }]
        }))
        .expect("summary")
    }

    #[test]
    fn a_peak_phase_below_the_quota_makes_the_step_inconclusive_and_says_why() {
        let busy: Vec<Sample> = (0..=50)
            .map(|i| (f64::from(i) * 0.2, f64::from(i) * 0.2 * 0.24))
            .collect();
        let idle: Vec<Sample> = (0..=50)
            .map(|i| (f64::from(i) * 0.2, f64::from(i) * 0.2 * 0.08))
            .collect();
        let peaks = vec!["capacity".to_string()];
        let pass = checks("overload-10x", &summary(1_000), &peaks, &busy, 0.25);
        assert_eq!(pass.len(), 1);
        assert_eq!(pass[0].status, Status::Passed, "{}", pass[0].detail);
        assert!(pass[0].detail.contains("96%"), "{}", pass[0].detail);
        let low = checks("overload-10x", &summary(1_000), &peaks, &idle, 0.25);
        assert_eq!(low[0].status, Status::Inconclusive);
        assert!(
            low[0].detail.contains("32%") && low[0].detail.contains("understated"),
            "{}",
            low[0].detail
        );
        let missing = checks("overload-10x", &summary(1), &["peak".into()], &busy, 0.25);
        assert_eq!(missing[0].status, Status::Inconclusive);
    }

    #[test]
    fn the_shipped_overload_scenario_names_its_peak_phase() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/overload-10x.toml");
        assert_eq!(peak_phases(&file), vec!["capacity".to_string()]);
    }
}
