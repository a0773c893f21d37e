//! Runs `loadbot spike --target` against a started candidate and turns its
//! `summary.json` into checks: one per phase SLO, plus the run's own verdict.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;

use crate::verdict::{Check, Status};

/// Where the loadbot binary is: the flag/env, or next to the gate's own executable.
pub(crate) fn locate_loadbot(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let how = "build it with `cargo build --release -p loadbot` (or point --loadbot-bin / SPIKEPROOF_LOADBOT_BIN at it)";
    if let Some(path) = explicit {
        if path.is_file() {
            return Ok(path.to_owned());
        }
        bail!("no loadbot binary at {}: {how}", path.display());
    }
    let exe = std::env::current_exe().context("finding the gate's own executable")?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow!("the gate's executable has no folder"))?;
    for candidate in [dir.join("loadbot"), dir.join("..").join("loadbot")] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "no loadbot binary next to the gate in {}: {how}",
        dir.display()
    )
}

/// One loadbot run.
#[derive(Debug, Clone)]
pub(crate) struct LoadRun<'a> {
    pub(crate) loadbot: &'a Path,
    pub(crate) scenario_name: &'a str,
    pub(crate) scenario_file: &'a Path,
    pub(crate) users: u32,
    pub(crate) duration: &'a str,
    /// `--workers` for loadbot; its default when `None`.
    pub(crate) workers: Option<u32>,
    pub(crate) seed: u64,
    pub(crate) report_dir: &'a Path,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Summary {
    pub(crate) verdict: String,
    requests: u64,
    #[serde(default)]
    failures: Vec<String>,
    pub(crate) phases: Vec<Phase>,
    #[serde(default)]
    self_check: serde_json::Value,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Phase {
    pub(crate) name: String,
    pub(crate) start_s: f64,
    pub(crate) end_s: f64,
    requests: u64,
    #[serde(default)]
    pub(crate) outcomes: std::collections::BTreeMap<String, u64>,
    /// Per outcome (`ok`, `shed`): the percentiles, timed from the intended start.
    #[serde(default)]
    pub(crate) latency_ms: std::collections::BTreeMap<String, Percentiles>,
    slo: Vec<Slo>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Percentiles {
    pub(crate) p99: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Slo {
    slo: String,
    op: String,
    bound: f64,
    figure: Option<f64>,
    held: bool,
    /// The figures behind a derived figure (goodput of peak: both rates).
    #[serde(default)]
    note: Option<String>,
}

/// Runs loadbot against `target`; bounded by the scenario's duration plus a margin.
pub(crate) async fn run(run: &LoadRun<'_>, target: &str) -> Vec<Check> {
    run_then(run, target, |_| Vec::new()).await
}

/// [`run`], plus the checks `then` draws from loadbot's summary.
pub(crate) async fn run_then(
    run: &LoadRun<'_>,
    target: &str,
    then: impl FnOnce(&Summary) -> Vec<Check>,
) -> Vec<Check> {
    let started = Instant::now();
    match run_inner(run, target).await {
        Ok((mut checks, summary)) => {
            checks.extend(then(&summary));
            checks
                .into_iter()
                .map(|c| c.took(started.elapsed().as_secs_f64()))
                .collect()
        }
        Err(e) => vec![
            Check::new(
                run.scenario_name,
                "load run",
                Status::Inconclusive,
                format!("{e:#}"),
            )
            .took(started.elapsed().as_secs_f64()),
        ],
    }
}

/// Runs loadbot against `target`: its SLO checks and its summary.
pub(crate) async fn run_inner(
    run: &LoadRun<'_>,
    target: &str,
) -> anyhow::Result<(Vec<Check>, Summary)> {
    std::fs::create_dir_all(run.report_dir)?;
    let log = std::fs::File::create(run.report_dir.join("loadbot.log"))?;
    let budget = run
        .duration
        .parse::<scenarios::Dur>()
        .map(|d| d.get())
        .unwrap_or(Duration::from_secs(600))
        + Duration::from_secs(120);
    let mut command = tokio::process::Command::new(run.loadbot);
    command.arg("spike");
    if let Some(workers) = run.workers {
        command.args(["--workers", &workers.to_string()]);
    }
    let mut child = command
        .args(["--target", target])
        .arg("--scenario")
        .arg(run.scenario_file)
        .args(["--users", &run.users.to_string()])
        .args(["--duration", run.duration])
        .args(["--seed", &run.seed.to_string()])
        .arg("--report-dir")
        .arg(run.report_dir)
        .arg("--no-goose-reports")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", run.loadbot.display()))?;
    let status = match tokio::time::timeout(budget, child.wait()).await {
        Ok(status) => status?,
        Err(_) => {
            let _ = child.kill().await;
            bail!("loadbot did not finish within {}s", budget.as_secs());
        }
    };
    let code = status.code().unwrap_or(-1);
    if code == 2 || code == 3 {
        bail!(
            "loadbot could not run the scenario (exit {code}); see {}",
            run.report_dir.join("loadbot.log").display()
        );
    }
    let text = std::fs::read_to_string(run.report_dir.join("summary.json"))
        .context("reading loadbot's summary.json")?;
    let summary: Summary = serde_json::from_str(&text).context("reading loadbot's summary.json")?;
    Ok((checks_of(run.scenario_name, &summary, code), summary))
}

fn checks_of(scenario: &str, s: &Summary, exit_code: i32) -> Vec<Check> {
    let mut checks = Vec::new();
    for phase in &s.phases {
        for slo in &phase.slo {
            let figure = slo.figure.map_or("n/a".to_string(), |f| format!("{f:.3}"));
            let op = if slo.held {
                slo.op.clone()
            } else if slo.op == "<=" {
                ">".into()
            } else {
                "<".into()
            };
            let detail = match &slo.note {
                Some(note) => format!(
                    "{} {figure} {op} {} ({note}; {} requests)",
                    slo.slo, slo.bound, phase.requests
                ),
                None => format!(
                    "{} {figure} {op} {} ({} requests)",
                    slo.slo, slo.bound, phase.requests
                ),
            };
            let check = if slo.held {
                Check::pass(scenario, &slo.slo, detail)
            } else {
                Check::fail(scenario, &slo.slo, detail)
            };
            checks.push(check.in_phase(&phase.name));
        }
    }
    let detail = format!(
        "loadbot verdict {} (exit {exit_code}), {} requests{}{}",
        s.verdict,
        s.requests,
        if s.failures.is_empty() {
            String::new()
        } else {
            format!("; failures: {}", s.failures.join("; "))
        },
        if s.verdict == "inconclusive" {
            format!("; self-check: {}", s.self_check)
        } else {
            String::new()
        },
    );
    let status = match s.verdict.as_str() {
        "pass" if exit_code == 0 => Status::Passed,
        "inconclusive" => Status::Inconclusive,
        _ => Status::Failed,
    };
    checks.push(Check::new(scenario, "loadbot verdict", status, detail));
    checks
}
