//! `release-gate`: runs the spike scenarios against a candidate server build
//! and blocks the release (exit 1) when any SLO, detector or check fails.
//!
//! Layout:
//! - `candidate`: starting and stopping the candidate command;
//! - `suite`: the suites and how a step runs on a fresh database;
//! - `checklist`: the onboarding checklist, asserted on content;
//! - `checks`: production configuration and capacity arithmetic;
//! - `loadrun`: loadbot runs and their SLO verdicts;
//! - `explain`: a scenario in plain words;
//! - `verdict`, `report`: the findings and `gate.json`, `junit.xml`, `summary.md`.

mod calibrate;
mod candidate;
mod checklist;
mod checks;
mod explain;
mod faults;
mod html;
mod ledger;
mod loadrun;
mod migrations;
mod perf;
mod report;
mod rounds;
mod saturation;
mod stats;
mod suite;
mod verdict;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "release-gate",
    version,
    about = "Blocks a release that fails the spike scenarios"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Which suite: `ci` (minutes on 2 cores), `full`, or `mysql` (the spike on
    /// MySQL with a low max_connections; a private MariaDB unless `--database-url`).
    #[arg(long, default_value = "ci")]
    suite: String,
    /// The command that starts the server under test; the gate adds
    /// `--listen`, `--database-url` and `--seed-garments`.
    #[arg(long, default_value = "target/release/outfit-server serve")]
    candidate: String,
    /// A PostgreSQL or MySQL server to run the candidate on (a fresh database
    /// per step); SQLite when absent.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// A PostgreSQL or MySQL server for the steps that cut or slow the
    /// database link (`db-outage`, `slow-db`); `--database-url` when absent.
    #[arg(long, value_name = "URL")]
    fault_database_url: Option<String>,
    /// Where gate.json, junit.xml, summary.md and each step's reports go.
    #[arg(long, default_value = "reports/gate")]
    report_dir: PathBuf,
    /// The folder of the scenario files.
    #[arg(long, default_value = "scenarios")]
    scenarios_dir: PathBuf,
    /// The loadbot binary [default: next to release-gate].
    #[arg(long, env = "SPIKEPROOF_LOADBOT_BIN")]
    loadbot_bin: Option<PathBuf>,
    /// Server instances the production deployment runs (for the capacity arithmetic).
    #[arg(long, default_value_t = 1)]
    instances: u32,
    /// Only these steps of the suite (repeatable), e.g. `--only onboarding-checklist`.
    #[arg(long)]
    only: Vec<String>,
    /// Where a passing candidate's binary is kept, for rollback.
    #[arg(long, default_value = "reports/last-passing")]
    keep_dir: PathBuf,
    /// The last released build: its command (as `--candidate`), or the
    /// `gate.json` of an earlier gate run (e.g. `reports/last-passing/gate.json`).
    /// Adds `baseline-migrations` (the candidate must start on the database
    /// the baseline migrated and wrote to, and read what it wrote) and
    /// `performance` (p99 and goodput per phase against the baseline's, on a
    /// confidence interval from repeated runs).
    #[arg(long, value_name = "CMD|REPORT")]
    baseline: Option<String>,
    /// Runs of each build in the `performance` step [default: its scenario's `regression.runs`].
    #[arg(long, value_name = "N")]
    runs: Option<u32>,
    /// `KEY=VALUE` set in the candidate's environment (repeatable).
    #[arg(long = "candidate-env", value_name = "KEY=VALUE")]
    candidate_env: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a scenario file in plain words.
    Explain { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Explain { file }) = &cli.command {
        return match explain::explain_file(file) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    runtime.block_on(gate(cli))
}

async fn gate(cli: Cli) -> ExitCode {
    let Some(mut steps) = suite::steps(&cli.suite) else {
        eprintln!("error: unknown suite {:?} (ci, full or mysql)", cli.suite);
        return ExitCode::from(2);
    };
    if cli.baseline.is_some() {
        // right after the configuration check: a candidate that cannot take
        // over the last release's database need not be loaded
        let at = usize::from(matches!(steps.first(), Some(suite::Step::ProductionConfig)));
        steps.insert(at, suite::Step::BaselineMigrations);
        if !steps
            .iter()
            .any(|s| matches!(s, suite::Step::Performance { .. }))
        {
            steps.push(suite::PERFORMANCE);
        }
    }
    if !cli.only.is_empty() {
        if let Some(bad) = cli
            .only
            .iter()
            .find(|o| !steps.iter().any(|s| s.name() == o.as_str()))
        {
            eprintln!(
                "error: --only {bad:?} is not a step of the {} suite",
                cli.suite
            );
            return ExitCode::from(2);
        }
        steps.retain(|s| cli.only.iter().any(|o| o == s.name()));
    }
    let mut env = Vec::new();
    for kv in &cli.candidate_env {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => env.push((k.to_string(), v.to_string())),
            _ => {
                eprintln!("error: --candidate-env {kv:?} is not KEY=VALUE");
                return ExitCode::from(2);
            }
        }
    }
    let needs_loadbot = steps.iter().any(|s| {
        matches!(
            s,
            suite::Step::Load { .. } | suite::Step::Performance { .. } | suite::Step::Rounds(_)
        )
    });
    let loadbot = if needs_loadbot {
        match loadrun::locate_loadbot(cli.loadbot_bin.as_deref()) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::from(3);
            }
        }
    } else {
        None
    };
    // the mysql suite brings its own MariaDB with a low max_connections
    let mut private_db = None;
    if cli.suite == "mysql" && cli.database_url.is_none() {
        let max = suite::MYSQL_SUITE_MAX_CONNECTIONS;
        match chaos::dbserver::DbServer::mariadb(max).await {
            Ok(db) => {
                eprintln!(
                    "release-gate: private MariaDB with max_connections={max} on port {}",
                    db.port()
                );
                private_db = Some(db);
            }
            Err(e) => {
                eprintln!("error: the mysql suite could not start its MariaDB: {e}");
                return ExitCode::from(3);
            }
        }
    }
    let private_url = private_db
        .as_ref()
        .map(chaos::dbserver::DbServer::admin_url);
    let cx = suite::Context {
        candidate: &cli.candidate,
        database_url: cli.database_url.as_deref().or(private_url.as_deref()),
        scenarios_dir: &cli.scenarios_dir,
        loadbot,
        report_dir: &cli.report_dir,
        instances: cli.instances,
        env,
        fault_database_url: cli.fault_database_url.as_deref(),
        baseline: cli.baseline.as_deref(),
        runs: cli.runs,
        performance: std::sync::Mutex::new(None),
    };
    let mut checks = Vec::new();
    for step in &steps {
        eprintln!("release-gate: {} ...", step.name());
        let found = suite::run_step(step, &cx).await;
        let failed = found
            .iter()
            .filter(|c| c.status != verdict::Status::Passed)
            .count();
        eprintln!(
            "release-gate: {} {}",
            step.name(),
            if failed == 0 {
                "passed".to_string()
            } else {
                format!("FAILED ({failed} checks)")
            }
        );
        checks.extend(found);
    }
    let mut report = verdict::GateReport::new(&cli.suite, &cli.candidate, checks);
    report.performance = cx.performance.lock().ok().and_then(|mut p| p.take());
    if let Err(e) = report::write_all(&report, &cli.report_dir) {
        eprintln!("error: writing the reports: {e:#}");
        return ExitCode::from(3);
    }
    if report.passed {
        match keep_passing(&cli.candidate, &cli.keep_dir, &cli.report_dir) {
            Ok(Some(kept)) => println!(
                "release-gate: kept this build for rollback in {}",
                kept.display()
            ),
            Ok(None) => {}
            Err(e) => eprintln!("release-gate: could not keep the passing build: {e:#}"),
        }
        println!(
            "release-gate: PASSED ({} checks); reports in {}",
            report.checks.len(),
            cli.report_dir.display()
        );
        ExitCode::SUCCESS
    } else {
        println!("release-gate: FAILED; the release is blocked:");
        for c in report.failures() {
            println!("  - {}: {}", c.path(), c.detail);
        }
        println!("reports in {}", cli.report_dir.display());
        ExitCode::from(1)
    }
}

/// Copies a passing candidate's program, its command and its verdict into
/// `keep_dir`, replacing the previous one (which was the last passing build).
fn keep_passing(
    candidate: &str,
    keep_dir: &std::path::Path,
    report_dir: &std::path::Path,
) -> anyhow::Result<Option<PathBuf>> {
    use anyhow::Context as _;
    let words = shell_words::split(candidate)?;
    let Some(program) = words.first().map(PathBuf::from).filter(|p| p.is_file()) else {
        return Ok(None);
    };
    std::fs::create_dir_all(keep_dir)
        .with_context(|| format!("creating {}", keep_dir.display()))?;
    let name = program
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_else(|| "candidate".into());
    let staged = keep_dir.join(format!(".{}.new", name.display()));
    std::fs::copy(&program, &staged).context("copying the candidate binary")?;
    std::fs::rename(&staged, keep_dir.join(&name)).context("replacing the kept binary")?;
    let rest: Vec<String> = words.iter().skip(1).cloned().collect();
    std::fs::write(
        keep_dir.join("command.txt"),
        format!(
            "{} {}\n",
            keep_dir.join(&name).display(),
            shell_words::join(rest)
        ),
    )?;
    std::fs::copy(report_dir.join("gate.json"), keep_dir.join("gate.json"))?;
    Ok(Some(keep_dir.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::Cli;

    /// Every `release-gate` command of the GitHub Actions example, its folded
    /// lines joined.
    fn example_commands() -> Vec<String> {
        let text = include_str!("../examples/github-actions.yml");
        let mut commands = Vec::new();
        let mut lines = text.lines().peekable();
        while let Some(line) = lines.next() {
            let indent = line.len() - line.trim_start().len();
            if !line.trim_start().starts_with("target/release/release-gate") {
                continue;
            }
            let mut command = line.trim().to_string();
            while let Some(next) = lines.peek() {
                let next_indent = next.len() - next.trim_start().len();
                if next.trim().is_empty() || next_indent < indent {
                    break;
                }
                command.push(' ');
                command.push_str(next.trim());
                lines.next();
            }
            commands.push(command);
        }
        commands
    }

    #[test]
    fn the_github_actions_example_gives_the_gate_flags_it_has() {
        let commands = example_commands();
        assert!(commands.len() >= 3, "{commands:?}");
        for command in commands {
            let words = shell_words::split(&command).expect("shell words");
            let cli = Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{command}: {e}"));
            let steps = crate::suite::steps(&cli.suite).expect("a known suite");
            for only in &cli.only {
                let known = steps.iter().any(|s| s.name() == only)
                    || (cli.baseline.is_some()
                        && ["baseline-migrations", crate::perf::STEP].contains(&only.as_str()));
                assert!(known, "{command}: --only {only} is not a step");
            }
            // the ci suite's db-outage needs a network database to cut
            if cli.suite == "ci" && cli.only.is_empty() {
                assert!(
                    cli.fault_database_url.is_some() || cli.database_url.is_some(),
                    "{command}: db-outage would be inconclusive"
                );
            }
        }
    }
}
