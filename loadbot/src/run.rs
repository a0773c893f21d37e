//! One `loadbot spike` run: scenario, server, fleet, verdict, reports.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use scenarios::{Scenario, ScenarioError};

use crate::{
    cli::{SpikeArgs, host_port},
    driver::{self, GooseRun},
    engine::Engine,
    html,
    http::HttpSettings,
    journeys::Mix,
    outcome::Outcome,
    plan::Plan,
    progress, report,
    report::{PhaseSummary, Summary},
    selfcheck::{self, Figures},
    server::{self, ChildServer, Launch},
    shard::{self, ShardFile, ShardPhase},
    slo,
    timeline::{self, Marker, ServerSampler, Timeline},
};

pub(crate) const EXIT_PASS: u8 = 0;
pub(crate) const EXIT_FAIL: u8 = 1;
pub(crate) const EXIT_USAGE: u8 = 2;
pub(crate) const EXIT_CANNOT_RUN: u8 = 3;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The child server's pid, for a second Ctrl-C that exits at once.
static CHILD_PID: AtomicU32 = AtomicU32::new(0);

/// Runs a spike and returns the exit status.
pub(crate) async fn spike(args: SpikeArgs) -> u8 {
    let scenario = match &args.scenario {
        Some(path) => Scenario::from_file(path),
        None => Scenario::appstore_spike(),
    };
    let scenario = match scenario {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: invalid scenario: {e}");
            return match e {
                ScenarioError::Read { .. } => EXIT_USAGE,
                ScenarioError::Invalid(_) => EXIT_USAGE,
            };
        }
    };
    match spike_with(&args, &scenario).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: the run could not happen: {e:#}");
            EXIT_CANNOT_RUN
        }
    }
}

/// Workers for a peak: enough for the concurrency the peak asks, bounded.
fn default_workers(plan: &Plan) -> usize {
    let arrivals = plan
        .phases
        .iter()
        .map(|p| p.arrivals_per_s.max())
        .fold(0.0, f64::max);
    let want = plan.peak_users() / 10.0 + arrivals * 4.0;
    (want.ceil() as usize).clamp(16, 1_000)
}

async fn spike_with(args: &SpikeArgs, scenario: &Scenario) -> anyhow::Result<u8> {
    let mut plan = Plan::new(scenario, args.duration, args.users);
    if let Some(spec) = args.shard {
        plan = plan.share(spec.count);
    }
    let workers = args
        .workers
        .map_or_else(|| default_workers(&plan), |w| w as usize);
    let seed = args.seed.unwrap_or_else(rand::random);
    let started_at = chrono::Utc::now();
    let dir = args.report_dir.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(started_at.format("%Y%m%d-%H%M%S").to_string())
    });
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the report folder {}", dir.display()))?;
    let http = HttpSettings {
        client_timeout: scenario.client_timeout.get_ref().get(),
        refresh_after: scenario
            .journeys
            .impatient
            .as_ref()
            .map(|i| i.refresh_after.get_ref().get()),
        page_size: scenario
            .journeys
            .browser
            .as_ref()
            .map_or(20, |b| *b.page_size.get_ref()),
    };
    // every worker may hold a connection of its own: never fail with EMFILE
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("loadbot: could not raise the open file limit: {e}");
    }
    // each shard draws its own users from (seed, shard): disjoint, reproducible
    let engine_seed = args.shard.map_or(seed, |spec| spec.seed(seed));
    let engine = Arc::new(Engine::new(plan, Mix::new(scenario), http, engine_seed));
    install_ctrlc(&engine);

    // the server: a child of ours, or the target given
    let (child, target) = match &args.target {
        Some(url) => {
            reachable(url).await?;
            (None, url.clone())
        }
        None => {
            let bin = server::locate(args.server_bin.as_deref())?;
            let launch = Launch {
                bin: &bin,
                database_url: args.database_url.as_deref(),
                garments: args.garments,
                extra: &args.server_arg,
                log: &dir.join("server.log"),
            };
            let child = ChildServer::start(&launch).await?;
            let url = child.url.clone();
            (Some(child), url)
        }
    };
    let urls = crate::http::Urls::new(&target).with_context(|| format!("target {target}"))?;
    let _ = engine.urls.set(urls);
    // the server's /metrics for report.html and the leak detectors, bounded in time
    let sampler = ServerSampler::start(&target, engine.plan.total + Duration::from_secs(600));
    sampler.first_sample(Duration::from_secs(3)).await;
    eprintln!(
        "loadbot: {} against {target}: {:.0} s, peak {:.0} users, {workers} workers, seed {seed}; reports in {}",
        scenario.name,
        engine.plan.total.as_secs_f64(),
        engine.plan.peak_users(),
        dir.display()
    );
    if let Some(at) = args.start_at {
        wait_until(at, &engine).await;
    }
    let cpu_before = selfcheck::cpu_seconds();
    let wall = Instant::now();
    let outcome = if INTERRUPTED.load(Ordering::Relaxed) {
        Ok(())
    } else {
        let dispatcher = tokio::spawn({
            let engine = Arc::clone(&engine);
            async move { engine.dispatch().await }
        });
        let display = tokio::spawn(progress::show(Arc::clone(&engine)));
        let users = tokio::spawn(timeline::record_users(Arc::clone(&engine)));
        sampler.mark_load_start();
        let goose = GooseRun {
            target: &target,
            workers,
            report_dir: (!args.no_goose_reports).then_some(dir.as_path()),
            client_timeout: engine.http.client_timeout,
        };
        let result = driver::run(Arc::clone(&engine), &goose).await;
        engine.stop();
        let _ = dispatcher.await;
        let _ = display.await;
        let _ = users.await;
        result
    };
    sampler.mark_load_end();
    sampler.settle().await;
    let (server_points, leaks, server_note) = sampler.finish(engine.started()).await;
    let wall = engine.started().map_or(wall.elapsed(), |t0| t0.elapsed());
    let cpu = cpu_before.and_then(|b| selfcheck::cpu_seconds().map(|a| a - b));
    if let Some(child) = child {
        CHILD_PID.store(0, Ordering::Relaxed);
        if let Err(e) = child.stop().await {
            eprintln!("loadbot: stopping outfit-server: {e:#}");
        }
    }
    outcome?;
    let mut summary = summarize(
        args, scenario, &engine, &target, seed, started_at, wall, cpu, workers, &dir,
    );
    // the fleet's clock started when the first worker asked for work
    let fleet_start = engine.started().map_or_else(chrono::Utc::now, |t0| {
        chrono::Utc::now() - chrono::TimeDelta::from_std(t0.elapsed()).unwrap_or_default()
    });
    let lateness = args.start_at.map(|at| (fleet_start - at).as_seconds_f64());
    let late = lateness.is_some_and(|l| l > shard::MAX_START_LATENESS.as_secs_f64());
    // shard.json says `late` on its own; its self-check holds the saturation figures only
    let file = args
        .shard
        .map(|spec| {
            shard_file(
                scenario,
                &engine,
                &summary,
                spec,
                args.start_at,
                fleet_start,
                lateness,
            )
        })
        .transpose()?;
    if late {
        summary.add_inconclusive(format!(
            "the fleet started {:.1} s after --start-at (more than {} s late)",
            lateness.unwrap_or_default(),
            shard::MAX_START_LATENESS.as_secs()
        ));
    }
    report::write(&dir, &summary)?;
    let series = Series {
        points: server_points,
        leaks,
        note: server_note,
    };
    if let Err(e) = write_timeline_and_page(args, &engine, &summary, series, &dir) {
        eprintln!("loadbot: report.html not written: {e:#}");
    }
    let Some(file) = file else {
        print_verdict(&summary, &dir);
        return Ok(summary.exit_code);
    };
    let spec = file.shard;
    file.write(&dir)?;
    print_verdict(&summary, &dir);
    println!(
        "loadbot: shard {spec} wrote {}; the figures above are this shard's alone: `loadbot merge` judges the run",
        dir.join(shard::FILE).display()
    );
    // a shard's own verdict is not the run's: only the merge exits 1
    Ok(EXIT_PASS)
}

/// What the server's sampler brought back.
struct Series {
    points: Vec<timeline::ServerPoint>,
    leaks: Option<timeline::Leaks>,
    note: Option<String>,
}

/// `timeline.json` and `report.html` next to `summary.json`.
fn write_timeline_and_page(
    args: &SpikeArgs,
    engine: &Engine,
    summary: &Summary,
    series: Series,
    dir: &Path,
) -> anyhow::Result<()> {
    let t = Timeline {
        format: timeline::FORMAT,
        scenario: summary.scenario.clone(),
        started_at: summary.started_at.clone(),
        target: summary.target.clone(),
        duration_s: summary.duration_s,
        seconds: engine.timeline.finish(),
        server: series.points,
        server_note: series.note,
        phases: engine
            .plan
            .phases
            .iter()
            .map(|p| Marker {
                label: p.name.clone(),
                at_s: p.start.as_secs_f64(),
            })
            .collect(),
        faults: timeline::faults_from_server_args(&args.server_arg),
        leaks: series.leaks,
    };
    t.write(dir)?;
    let view: html::SummaryView =
        serde_json::from_value(serde_json::to_value(summary).context("serializing the summary")?)
            .context("reading the summary back")?;
    html::write(dir, &t, &view)?;
    if let Some(l) = &t.leaks
        && l.verdict == "fail"
    {
        eprintln!(
            "loadbot: the leak detectors failed (see report.html): {}; {}",
            l.connections.summary, l.memory.summary
        );
    }
    Ok(())
}

/// `loadbot report DIR`: redraws report.html from the saved files.
pub(crate) fn report(args: &crate::cli::ReportArgs) -> u8 {
    match html::rerender(&args.dir) {
        Ok(()) => {
            println!("loadbot: wrote {}", args.dir.join(html::FILE).display());
            EXIT_PASS
        }
        Err(html::RerenderError::Input(e)) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
        Err(html::RerenderError::Write(e)) => {
            eprintln!("error: {e}");
            EXIT_CANNOT_RUN
        }
    }
}

/// Sleeps until `at` (or until stopped), saying how long.
async fn wait_until(at: chrono::DateTime<chrono::Utc>, engine: &Engine) {
    let Ok(left) = (at - chrono::Utc::now()).to_std() else {
        return;
    };
    eprintln!(
        "loadbot: waiting {:.1} s for the shared start at {}",
        left.as_secs_f64(),
        at.to_rfc3339()
    );
    tokio::select! {
        () = tokio::time::sleep(left) => {}
        () = engine.stopped() => {}
    }
}

fn shard_file(
    scenario: &Scenario,
    engine: &Engine,
    summary: &Summary,
    spec: shard::ShardSpec,
    start_at: Option<chrono::DateTime<chrono::Utc>>,
    fleet_start: chrono::DateTime<chrono::Utc>,
    lateness: Option<f64>,
) -> anyhow::Result<ShardFile> {
    let toml = scenario
        .to_toml()
        .context("writing the scenario into shard.json")?;
    let phases = engine
        .plan
        .phases
        .iter()
        .enumerate()
        .map(|(i, p)| {
            ShardPhase::new(
                &p.name,
                (p.start.as_secs_f64(), p.end.as_secs_f64()),
                &engine.stats.phase(i),
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(ShardFile {
        format: shard::FORMAT,
        scenario: scenario.name.clone(),
        scenario_hash: shard::scenario_hash(&toml),
        scenario_toml: toml,
        seed: summary.seed,
        shard: spec,
        start_at: start_at.map(|t| t.to_rfc3339()),
        started_at: fleet_start.to_rfc3339(),
        start_lateness_s: lateness,
        late: lateness.is_some_and(|l| l > shard::MAX_START_LATENESS.as_secs_f64()),
        target: summary.target.clone(),
        duration_s: summary.duration_s,
        time_factor: summary.time_factor,
        load_factor: summary.load_factor,
        peak_users: summary.peak_users,
        expected_arrivals: summary.expected_arrivals,
        interrupted: summary.interrupted,
        loadbot_errors: summary.loadbot_errors,
        abandoned_at_stop: summary.abandoned_at_stop,
        phases,
        self_check: summary.self_check.clone(),
    })
}

async fn reachable(url: &str) -> anyhow::Result<()> {
    let addr = host_port(url);
    match tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => anyhow::bail!("target {url} is unreachable: {e}"),
        Err(_) => anyhow::bail!("target {url} is unreachable: no connection within 5 s"),
    }
}

fn install_ctrlc(engine: &Arc<Engine>) {
    let engine = Arc::clone(engine);
    let installed = ctrlc::set_handler(move || {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            // a second Ctrl-C: leave now, and take the server along
            let pid = CHILD_PID.load(Ordering::Relaxed);
            if pid != 0 {
                let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
            std::process::exit(130);
        }
        eprintln!(
            "\nloadbot: stopping (Ctrl-C again to quit at once); the reports will still be written"
        );
        engine.stop();
        goose::trigger_killswitch("Ctrl-C");
    });
    if let Err(e) = installed {
        eprintln!("loadbot: cannot catch Ctrl-C: {e}");
    }
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    args: &SpikeArgs,
    scenario: &Scenario,
    engine: &Engine,
    target: &str,
    seed: u64,
    started_at: chrono::DateTime<chrono::Utc>,
    wall: Duration,
    cpu: Option<f64>,
    workers: usize,
    dir: &Path,
) -> Summary {
    let plan = &engine.plan;
    let mut phases = Vec::new();
    let mut failures = Vec::new();
    let mut outcomes = [0u64; Outcome::ALL.len()];
    let (mut arrivals, mut late, mut dropped) = (0, 0, 0);
    let goodputs: Vec<slo::Goodput<'_>> = plan
        .phases
        .iter()
        .enumerate()
        .map(|(i, p)| slo::Goodput {
            phase: &p.name,
            ok: engine.stats.phase(i).count(Outcome::Ok),
            seconds: (p.end - p.start).as_secs_f64(),
        })
        .collect();
    for (i, p) in plan.phases.iter().enumerate() {
        let stats = engine.stats.phase(i);
        let set = scenario.slo_for(&p.name);
        let mut verdicts = slo::judge(&set, &stats);
        verdicts.extend(slo::judge_against_peak(&set, &goodputs[i], &goodputs));
        for v in verdicts.iter().filter(|v| !v.held) {
            failures.push(format!("{}: {}", p.name, v.describe()));
        }
        for (total, n) in outcomes.iter_mut().zip(stats.outcomes) {
            *total += n;
        }
        arrivals += stats.arrivals;
        late += stats.late_starts;
        dropped += stats.dropped_arrivals;
        phases.push(PhaseSummary::new(
            &p.name,
            (p.start.as_secs_f64(), p.end.as_secs_f64()),
            &stats,
            verdicts,
        ));
    }
    let requests: u64 = outcomes.iter().sum();
    let (lag_p99_ms, lag_max_ms) = engine.lag.p99_max_ms();
    let mut check = selfcheck::judge(&Figures {
        cpu_seconds: cpu,
        wall,
        lag_p99_ms,
        lag_max_ms,
        late_starts: late,
        arrivals,
        dropped_arrivals: dropped,
        requests,
        workers,
    });
    let interrupted = INTERRUPTED.load(Ordering::Relaxed);
    if interrupted {
        check
            .inconclusive
            .push("interrupted with Ctrl-C before the shape ended".into());
    }
    if requests == 0 {
        check
            .inconclusive
            .push("no request was sent: nothing to judge".into());
    }
    let loadbot_errors = engine.loadbot_errors.load(Ordering::Relaxed);
    if loadbot_errors > 0 {
        check.inconclusive.push(format!(
            "{loadbot_errors} requests failed inside loadbot itself"
        ));
    }
    let (verdict, exit_code) = report::verdict(&failures, &check);
    let goose_reports = if args.no_goose_reports {
        Vec::new()
    } else {
        driver::REPORTS
            .iter()
            .filter(|n| dir.join(n).is_file())
            .map(|n| (*n).to_owned())
            .collect()
    };
    Summary {
        scenario: scenario.name.clone(),
        verdict,
        exit_code,
        started_at: started_at.to_rfc3339(),
        target: target.to_owned(),
        duration_s: wall.as_secs_f64(),
        time_factor: plan.time_factor,
        load_factor: plan.load_factor,
        peak_users: plan.peak_users(),
        seed,
        interrupted,
        requests,
        expected_arrivals: plan.expected_arrivals(),
        outcomes: Outcome::ALL
            .iter()
            .map(|o| (o.as_str(), outcomes[o.index()]))
            .collect(),
        phases,
        failures,
        self_check: check,
        abandoned_at_stop: engine.stats.abandoned_at_stop.load(Ordering::Relaxed),
        loadbot_errors,
        goose_reports,
        merged_from: Vec::new(),
    }
}

pub(crate) fn print_verdict(s: &Summary, dir: &Path) {
    println!(
        "loadbot: {} {} (exit {}): {} requests in {:.1} s",
        s.scenario,
        s.verdict.to_uppercase(),
        s.exit_code,
        s.requests,
        s.duration_s
    );
    for p in &s.phases {
        let ok = &p.latency_ms["ok"];
        let o = |k: &str| p.outcomes.get(k).copied().unwrap_or(0);
        println!(
            "  {:<14} {:>8} req  ok {:>8}  shed {:>6}  errors {:>6}  silent {:>4}  p99 {:>9}  {}",
            p.name,
            p.requests,
            o("ok"),
            o("shed"),
            o("client_error") + o("server_error") + o("connection_error"),
            o("silent"),
            ok.p99.map_or("-".to_owned(), |v| format!("{v:.1}ms")),
            if p.held { "held" } else { "FAILED" }
        );
    }
    for f in &s.failures {
        println!("  FAILED {f}");
    }
    let silent = s.outcomes.get("silent").copied().unwrap_or(0);
    if silent > 0 {
        println!("  {silent} silent answers: requests with no answer within the client timeout");
    }
    for r in &s.self_check.inconclusive {
        println!("  INCONCLUSIVE {r}");
    }
    println!("  reports: {}", dir.display());
}
