//! The suites: what the gate runs against a candidate, step by step, each on
//! a fresh database with a freshly started candidate.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context as _;

use crate::{
    calibrate,
    candidate::{Candidate, Launch},
    checklist, checks, faults, ledger, loadrun,
    verdict::{Check, Status},
};

/// One step of a suite.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Feature flags off, capacity arithmetic.
    ProductionConfig,
    /// The candidate on a database the baseline build migrated and wrote to
    /// (only with `--baseline`).
    BaselineMigrations,
    /// Every onboarding step, asserted on content, with a latency bound per step.
    Onboarding {
        /// The checklist file in the scenarios folder.
        file: &'static str,
        installs: usize,
        step_bound: Duration,
    },
    /// The candidate against the baseline build (or an earlier report), on
    /// p99 and goodput per phase; without a baseline its runs are recorded.
    Performance {
        file: &'static str,
        /// The scenario's own peak and length when `None`.
        users: Option<u32>,
        duration: Option<&'static str>,
    },
    /// Rounds of load with the candidate idle between them (see `rounds`).
    Rounds(crate::rounds::Rounds),
    /// A loadbot scenario.
    Load {
        name: &'static str,
        file: &'static str,
        users: u32,
        duration: &'static str,
        /// loadbot's concurrent requests, when its default (a tenth of the
        /// peak users) would cap the offered load below what the step needs.
        workers: Option<u32>,
        /// The candidate's CPU quota in cores (a cgroup of its own), when the
        /// step must know what the server can serve: without one the server
        /// has whatever the machine has spare, and loadbot cannot offer ten
        /// times that from the same cores.
        cpus: Option<f64>,
    },
}

impl Step {
    pub(crate) fn name(&self) -> &str {
        match self {
            Step::ProductionConfig => "production-config",
            Step::BaselineMigrations => "baseline-migrations",
            Step::Onboarding { .. } => "onboarding-checklist",
            Step::Performance { .. } => crate::perf::STEP,
            Step::Rounds(_) => crate::rounds::STEP,
            Step::Load { name, .. } => name,
        }
    }
}

/// The steps of a named suite.
pub(crate) fn steps(suite: &str) -> Option<Vec<Step>> {
    let onboarding = |installs| Step::Onboarding {
        file: "onboarding-checklist.toml",
        installs,
        step_bound: Duration::from_millis(1_000),
    };
    match suite {
        // a few minutes on 2 cores
        "ci" => Some(vec![
            Step::ProductionConfig,
            onboarding(10),
            growth_rounds(),
            Step::Load {
                name: "ci-spike",
                file: "ci-spike.toml",
                users: 200,
                duration: "54s",
                workers: None,
                cpus: None,
            },
            Step::Load {
                name: "db-outage",
                file: "db-outage.toml",
                users: 60,
                duration: "45s",
                // a request may wait out the pool's acquire timeout: a worker per user
                workers: Some(60),
                cpus: None,
            },
        ]),
        "full" => Some(vec![
            Step::ProductionConfig,
            onboarding(50),
            growth_rounds(),
            Step::Load {
                name: "appstore-spike",
                file: "appstore-spike.toml",
                users: 2_000,
                duration: "10m",
                workers: None,
                cpus: None,
            },
            Step::Load {
                name: "overload-10x",
                file: "overload-10x.toml",
                users: 600,
                duration: "50s",
                // one request in flight per user: ten times the users is ten times the load
                workers: Some(600),
                // a quarter of a core: ten times what the server serves on it
                // is a load loadbot can offer from the rest of a 2-core machine
                cpus: Some(0.25),
            },
            Step::Load {
                name: "db-outage",
                file: "db-outage.toml",
                users: 60,
                duration: "45s",
                // a request may wait out the pool's acquire timeout: a worker per user
                workers: Some(60),
                cpus: None,
            },
            Step::Load {
                name: "slow-db",
                file: "slow-db.toml",
                users: 60,
                duration: "45s",
                workers: Some(60),
                cpus: None,
            },
            Step::Load {
                name: "soak-leaks",
                file: "soak-leaks.toml",
                users: 150,
                duration: "10m30s",
                workers: None,
                cpus: None,
            },
            // recorded even without a baseline: the kept gate.json is the next baseline
            PERFORMANCE,
        ]),
        // the original stack: MySQL with a low max_connections (main.rs starts a
        // private MariaDB with MYSQL_SUITE_MAX_CONNECTIONS unless given a server)
        "mysql" => Some(vec![
            Step::ProductionConfig,
            Step::Load {
                name: "appstore-spike-mysql",
                file: "appstore-spike-mysql.toml",
                users: 120,
                duration: "54s",
                workers: None,
                cpus: None,
            },
        ]),
        _ => None,
    }
}

/// The `growth-rounds` step: a warm-up round, a timing round and five judged
/// rounds of 6 s, a few thousand requests each on a debug build.
fn growth_rounds() -> Step {
    Step::Rounds(crate::rounds::Rounds {
        file: PathBuf::from("growth-rounds.toml"),
        users: 150,
        round: "6s",
        rounds: 5,
        poll_bound: crate::rounds::POLL_BOUND,
        site_floor_bytes: crate::rounds::SITE_FLOOR_BYTES,
    })
}

/// The `performance` step, in the full suite and wherever `--baseline` is given.
pub(crate) const PERFORMANCE: Step = Step::Performance {
    file: "perf-compare.toml",
    users: None,
    duration: None,
};

/// `max_connections` of the private MariaDB the `mysql` suite starts: one
/// candidate's pool (16) fits with room, a leak that escapes the pool does not.
pub(crate) const MYSQL_SUITE_MAX_CONNECTIONS: u32 = 24;

/// Everything a suite run needs to know.
#[derive(Debug)]
pub(crate) struct Context<'a> {
    pub(crate) candidate: &'a str,
    /// An admin URL of a PostgreSQL/MySQL server to make fresh databases on; SQLite when absent.
    pub(crate) database_url: Option<&'a str>,
    pub(crate) scenarios_dir: &'a Path,
    pub(crate) loadbot: Option<PathBuf>,
    pub(crate) report_dir: &'a Path,
    pub(crate) instances: u32,
    pub(crate) env: Vec<(String, String)>,
    /// An admin URL of the PostgreSQL/MySQL server for steps whose scenario
    /// schedules database faults (they need a network link to cut).
    pub(crate) fault_database_url: Option<&'a str>,
    /// The last released build's command, or an earlier gate.json (`--baseline`).
    pub(crate) baseline: Option<&'a str>,
    /// `--runs`: runs of each build in the `performance` step, over its scenario's.
    pub(crate) runs: Option<u32>,
    /// The `performance` step's runs, for gate.json.
    pub(crate) performance: std::sync::Mutex<Option<crate::perf::Record>>,
}

/// The scheduled database faults of a load step's scenario, when it has any.
fn step_faults(step: &Step, cx: &Context<'_>) -> anyhow::Result<Option<Vec<faults::Planned>>> {
    let Step::Load { file, duration, .. } = step else {
        return Ok(None);
    };
    let path = cx.scenarios_dir.join(file);
    let scenario = scenarios::Scenario::from_file(&path)?;
    if scenario.faults.is_empty() {
        return Ok(None);
    }
    let own = scenario.total_duration().get().as_secs_f64();
    let wall = duration
        .parse::<scenarios::Dur>()
        .map_err(|e| anyhow::anyhow!("step duration {duration:?}: {e}"))?
        .get()
        .as_secs_f64();
    let factor = if own > 0.0 { wall / own } else { 1.0 };
    faults::plan(&scenario, factor)
        .map(Some)
        .with_context(|| path.display().to_string())
}

/// Runs one step on a fresh candidate; never panics, always returns checks.
pub(crate) async fn run_step(step: &Step, cx: &Context<'_>) -> Vec<Check> {
    let started = Instant::now();
    let scenario = step.name().to_string();
    let dir = cx.report_dir.join(&scenario);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return vec![Check::new(
            &scenario,
            "report folder",
            Status::Inconclusive,
            e.to_string(),
        )];
    }
    // each of its runs makes its own fresh database
    if let Step::Performance {
        file,
        users,
        duration,
    } = step
    {
        let (found, record) =
            crate::perf::run(cx.scenarios_dir.join(file), *users, *duration, cx, &dir).await;
        if let Ok(mut slot) = cx.performance.lock() {
            *slot = record;
        }
        let took = started.elapsed().as_secs_f64();
        return found.into_iter().map(|c| c.took(took)).collect();
    }
    let planned = match step_faults(step, cx) {
        Ok(p) => p,
        Err(e) => {
            return vec![Check::new(
                &scenario,
                "fault schedule",
                Status::Inconclusive,
                format!("{e:#}"),
            )];
        }
    };
    let admin = match (&planned, cx.fault_database_url, cx.database_url) {
        (None, _, url) => url,
        (Some(_), Some(url), _) => Some(url),
        (Some(_), None, Some(url)) if !url.starts_with("sqlite") => Some(url),
        (Some(_), None, _) => {
            return vec![Check::new(
                &scenario,
                "fault schedule",
                Status::Inconclusive,
                "this scenario cuts the database link: give the gate a PostgreSQL or MySQL server with --fault-database-url",
            )];
        }
    };
    let db = match fresh_database(admin, &dir).await {
        Ok(db) => db,
        Err(e) => {
            return vec![Check::new(
                &scenario,
                "fresh database",
                Status::Inconclusive,
                format!("{e:#}"),
            )];
        }
    };
    if let Step::BaselineMigrations = step {
        let found = match baseline_command(cx.baseline) {
            Ok(baseline) => crate::migrations::run(&baseline, cx, &db.url, &dir).await,
            Err(why) => vec![Check::new(&scenario, "baseline", Status::Inconclusive, why)],
        };
        let took = started.elapsed().as_secs_f64();
        return found.into_iter().map(|c| c.took(took)).collect();
    }
    let link = match &planned {
        Some(_) => match faults::DbLink::start(&db.url).await {
            Ok(link) => Some(link),
            Err(e) => {
                return vec![Check::new(
                    &scenario,
                    "fault proxy",
                    Status::Inconclusive,
                    format!("{e:#}"),
                )];
            }
        },
        None => None,
    };
    let log = dir.join("candidate.log");
    // the rounds step reads heap profiles through the admin API
    let admin_token = crate::rounds::admin_token();
    let mut env = cx.env.clone();
    if let Step::Rounds(_) = step {
        env.push(("APP_ADMIN_TOKEN".into(), admin_token.clone()));
    }
    let launch = Launch {
        command: cx.candidate,
        database_url: link.as_ref().map_or(&db.url, |l| &l.proxied_url),
        garments: 2_000,
        env: &env,
        log: &log,
    };
    let cpus = match step {
        Step::Load { cpus, .. } => *cpus,
        _ => None,
    };
    let mut candidate = match Candidate::start_limited(&launch, cpus).await {
        Ok(c) => c,
        // no quota, no known capacity: the step cannot say anything
        Err(e) if e.downcast_ref::<crate::candidate::QuotaError>().is_some() => {
            return vec![
                Check::new(
                    &scenario,
                    "CPU quota",
                    Status::Inconclusive,
                    format!("{e:#}"),
                )
                .took(started.elapsed().as_secs_f64()),
            ];
        }
        Err(e) => {
            // a candidate that does not come up, on a fresh database, fails the gate
            return vec![
                Check::fail(&scenario, "candidate starts", format!("{e:#}"))
                    .took(started.elapsed().as_secs_f64()),
            ];
        }
    };
    let mut found = vec![Check::pass(
        &scenario,
        "candidate starts",
        match candidate.quota() {
            None => format!(
                "migrated a fresh database and listened on {}",
                candidate.url
            ),
            Some(quota) => format!(
                "migrated a fresh database and listened on {}, under a CPU quota of {quota}",
                candidate.url
            ),
        },
    )];
    found.extend(match step {
        Step::ProductionConfig => production_config(&candidate, cx).await,
        // handled before the candidate starts
        Step::BaselineMigrations | Step::Performance { .. } => Vec::new(),
        Step::Rounds(rounds) => match &cx.loadbot {
            Some(loadbot) => {
                let rounds = crate::rounds::Rounds {
                    file: cx.scenarios_dir.join(&rounds.file),
                    ..rounds.clone()
                };
                let budgets = leak_budgets(&rounds.file);
                let projection = crate::rounds::projection(cx, &candidate).await;
                let setting = crate::rounds::Setting {
                    loadbot,
                    admin_token: &admin_token,
                    budgets: &budgets,
                    projection: &projection,
                    dir: &dir,
                };
                crate::rounds::run(&candidate, &rounds, &setting).await
            }
            None => vec![Check::new(
                &scenario,
                "load run",
                Status::Inconclusive,
                "no loadbot binary (see --loadbot-bin)",
            )],
        },
        Step::Onboarding {
            file,
            installs,
            step_bound,
        } => {
            checklist::run(
                &candidate.url,
                &checklist::Settings {
                    file: cx.scenarios_dir.join(file),
                    installs: *installs,
                    step_bound: *step_bound,
                },
            )
            .await
        }
        Step::Load {
            name,
            file,
            users,
            duration,
            workers,
            cpus,
        } => match &cx.loadbot {
            Some(loadbot) => {
                let file = cx.scenarios_dir.join(file);
                let mut found = Vec::new();
                let (mut users, mut workers) = (*users, *workers);
                // a step under a quota is one that must know the candidate's
                // capacity: measured first, on this candidate
                if cpus.is_some() {
                    let calibrated =
                        calibrate::run(loadbot, &file, &candidate, &dir.join("calibration")).await;
                    if let Ok(c) = &calibrated {
                        users = c.step_users;
                        // one request in flight per user, as the step asked
                        workers = workers.map(|_| c.step_users);
                    }
                    found.push(calibrate::check(name, &calibrated));
                }
                let run = loadrun::LoadRun {
                    loadbot,
                    scenario_name: name,
                    scenario_file: &file,
                    users,
                    duration,
                    workers,
                    seed: 1,
                    report_dir: &dir,
                };
                let faults = link.as_ref().zip(planned.as_deref());
                found.extend(load_with_detectors(&run, &candidate, &db.url, faults, &dir).await);
                found
            }
            None => vec![Check::new(
                name,
                "load run",
                Status::Inconclusive,
                "no loadbot binary (see --loadbot-bin)",
            )],
        },
    });
    if !candidate.is_alive() {
        found.push(Check::fail(
            &scenario,
            "candidate survives",
            format!(
                "the candidate process died during the scenario; its log: {}",
                log.display()
            ),
        ));
    }
    candidate.stop().await;
    if let Some(link) = &link {
        link.close().await;
    }
    let took = started.elapsed().as_secs_f64();
    found
        .into_iter()
        .map(|c| if c.seconds == 0.0 { c.took(took) } else { c })
        .collect()
}

/// A loadbot run with the leak detectors sampling the candidate throughout,
/// judged after the load stops and the candidate had time to settle.
async fn load_with_detectors(
    run: &loadrun::LoadRun<'_>,
    candidate: &Candidate,
    direct_db: &str,
    faults: Option<(&faults::DbLink, &[faults::Planned])>,
    dir: &Path,
) -> Vec<Check> {
    let scenario = run.scenario_name;
    let budgets = leak_budgets(run.scenario_file);
    let settle = budgets.settle_within;
    let mut config = chaos::WatchConfig::new(&candidate.url);
    // the detectors read the database's own view directly, not through the fault proxy
    if !direct_db.starts_with("sqlite") {
        config.database_url = Some(direct_db.to_string());
    }
    config.max_duration = Duration::from_secs(3_600);
    config.budgets = budgets;
    let watch = match chaos::Watch::start(config).await {
        Ok(w) => w,
        Err(e) => {
            return vec![Check::new(
                scenario,
                "leak detectors",
                Status::Inconclusive,
                format!("{e:#}"),
            )];
        }
    };
    // a few samples of the idle server before the load
    tokio::time::sleep(Duration::from_secs(2)).await;
    watch.mark_load_start();
    let mut found = match faults {
        None => crate::saturation::run(run, candidate).await,
        Some((link, plan)) => {
            let t0 = Instant::now();
            let length = run
                .duration
                .parse::<scenarios::Dur>()
                .map_or(Duration::from_secs(60), |d| d.get());
            let (mut load, injected, ledger) = tokio::join!(
                loadrun::run(run, &candidate.url),
                faults::run(run.scenario_name, link, plan, &candidate.url, t0),
                ledger::write_until(&candidate.url, t0 + length)
            );
            load.extend(injected);
            load.push(ledger::check(run.scenario_name, direct_db, &ledger).await);
            load
        }
    };
    watch.mark_load_end();
    watch.wait_settled(settle).await;
    let report = watch.finish().await;
    if let Ok(json) = serde_json::to_string_pretty(&report) {
        let _ = std::fs::write(dir.join("leaks.json"), json);
    }
    let status = |s: chaos::Status| match s {
        chaos::Status::Pass => Status::Passed,
        chaos::Status::Fail => Status::Failed,
        chaos::Status::Inconclusive => Status::Inconclusive,
    };
    // a cut database link makes the pool rebuild its connections late in a
    // short run, which the memory trend reads as growth: soak-leaks judges memory
    if faults.is_none() {
        found.push(Check::new(
            scenario,
            "memory growth per request",
            status(report.memory.status),
            report.memory.summary.clone(),
        ));
    }
    found.push(Check::new(
        scenario,
        "connections back and matching",
        status(report.connections.status),
        report.connections.summary.clone(),
    ));
    found.push(Check::new(
        scenario,
        "tasks back to baseline",
        status(report.tasks.status),
        report.tasks.summary,
    ));
    found.push(Check::new(
        scenario,
        "in-use gauges back to baseline",
        status(report.gauges.status),
        report.gauges.summary,
    ));
    found
}

/// The scenario's leak budgets over the detectors' defaults; the runway
/// estimate assumes the candidate may use this machine's memory.
fn leak_budgets(file: &Path) -> chaos::Budgets {
    let mut budgets = chaos::Budgets {
        memory_limit_bytes: machine_memory_bytes(),
        ..chaos::Budgets::default()
    };
    if let Ok(s) = scenarios::Scenario::from_file(file)
        && let Some(leaks) = &s.leaks
    {
        if let Some(d) = &leaks.connections_back_within {
            budgets.settle_within = d.get();
        }
        if let Some(b) = leaks.memory_bytes_per_request {
            budgets.min_bytes_per_request = b.max(1.0);
        }
    }
    budgets
}

async fn production_config(candidate: &Candidate, cx: &Context<'_>) -> Vec<Check> {
    let metrics = match checks::scrape(&candidate.url).await {
        Ok(m) => m,
        Err(e) => {
            return vec![Check::fail(
                "production-config",
                "metrics",
                format!("{e:#}"),
            )];
        }
    };
    let mut found = checks::features_off(&metrics);
    let limits = match checks::database_limits(&candidate.database_url).await {
        Ok(l) => l,
        Err(e) => {
            return [
                found,
                vec![Check::fail(
                    "production-config",
                    "capacity arithmetic",
                    format!("reading the database's limits: {e:#}"),
                )],
            ]
            .concat();
        }
    };
    found.push(checks::capacity(
        cx.instances,
        checks::value(&metrics, "db_pool_max_connections"),
        limits,
    ));
    found
}

/// The baseline build's command: `--baseline CMD`, or with `--baseline
/// REPORT` the `command.txt` the gate kept beside that report.
fn baseline_command(baseline: Option<&str>) -> Result<String, String> {
    match baseline.map(crate::perf::Baseline::of) {
        None => Err("no --baseline command".into()),
        Some(crate::perf::Baseline::Command(cmd)) => Ok(cmd.to_string()),
        Some(crate::perf::Baseline::Report(path)) => {
            let kept = path.with_file_name("command.txt");
            std::fs::read_to_string(&kept)
                .map(|c| c.trim().to_string())
                .map_err(|e| {
                    format!(
                        "--baseline is a report, and no command.txt is beside it to start that build ({}: {e}); the gate's --keep-dir holds both",
                        kept.display()
                    )
                })
        }
    }
}

/// A fresh database: a SQLite file in the step's folder, or a new database on the given server.
pub(crate) struct FreshDb {
    pub(crate) url: String,
}

pub(crate) async fn fresh_database(admin: Option<&str>, dir: &Path) -> anyhow::Result<FreshDb> {
    use sqlx::Connection;
    let Some(admin) = admin else {
        let path = dir.join("candidate.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        return Ok(FreshDb {
            url: format!("sqlite://{}", path.display()),
        });
    };
    let name = format!("spikeproof_gate_{:016x}", rand_u64());
    if admin.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(admin)
            .await
            .context("connecting to PostgreSQL")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
    } else {
        let mut conn = sqlx::MySqlConnection::connect(admin)
            .await
            .context("connecting to MySQL")?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
    }
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    Ok(FreshDb {
        url: format!("{base}/{name}"),
    })
}

pub(crate) fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn machine_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
