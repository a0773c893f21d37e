//! Benchmark of the leak detectors (not a CI test): how often they cry wolf on a
//! healthy server, and the smallest per-request leak they catch in one run.
//!
//! ```text
//! cargo run --release -p chaos --example false_alarms -- [--runs 20] [--load-s 30] [--ladder]
//! ```
//!
//! Each run starts the real `outfit-server` (same profile as this example),
//! watches it through a bounded load and judges it. The ladder leaks 3 bytes on
//! one route only and shrinks that route's share of the load, so the leak per
//! request falls: 1, 1/2, 1/5, 1/10, 1/20, 1/50 allocations per request.

use std::time::{Duration, Instant};

use chaos::{
    Status,
    harness::{LoadPlan, ServerOptions, ServerProcess, drive},
    watch::{Watch, WatchConfig},
};

struct Args {
    runs: usize,
    load: Duration,
    ladder: bool,
}

fn args() -> Args {
    let mut a = Args {
        runs: 20,
        load: Duration::from_secs(30),
        ladder: false,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--runs" => a.runs = it.next().and_then(|v| v.parse().ok()).unwrap_or(a.runs),
            "--load-s" => {
                a.load = Duration::from_secs(it.next().and_then(|v| v.parse().ok()).unwrap_or(30));
            }
            "--ladder" => a.ladder = true,
            other => eprintln!("ignoring unknown argument {other:?}"),
        }
    }
    a.runs = a.runs.min(1_000);
    a
}

/// One watched run; returns the memory finding's status and summary.
async fn run(
    faults: Vec<String>,
    routes: Vec<(String, u32)>,
    load: Duration,
) -> Result<(Status, String, u64), String> {
    let server = ServerProcess::spawn(&ServerOptions {
        faults,
        ..ServerOptions::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let mut config = WatchConfig::new(&server.base_url);
    config.interval = Duration::from_millis(250);
    config.budgets.settle_within = Duration::from_secs(5);
    let watch = Watch::start(config).await.map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    watch.mark_load_start();
    let mut plan = LoadPlan::new(&server.base_url, load);
    plan.routes = routes;
    let stats = drive(&plan).await;
    watch.mark_load_end();
    watch.wait_settled(Duration::from_secs(6)).await;
    let report = watch.finish().await;
    server.stop().await;
    Ok((report.memory.status, report.memory.summary, stats.sent))
}

#[tokio::main]
async fn main() {
    let a = args();
    let mix = || {
        vec![
            ("/v1/garments/{id}".to_string(), 3),
            ("/v1/garments?limit=20".to_string(), 1),
            ("/healthz".to_string(), 1),
        ]
    };
    let started = Instant::now();
    let mut alarms = 0;
    let mut inconclusive = 0;
    for i in 1..=a.runs {
        match run(Vec::new(), mix(), a.load).await {
            Ok((status, summary, sent)) => {
                match status {
                    Status::Fail => alarms += 1,
                    Status::Inconclusive => inconclusive += 1,
                    Status::Pass => {}
                }
                println!(
                    "healthy run {i}/{}: {status} ({sent} requests) {summary}",
                    a.runs
                );
            }
            Err(e) => println!("healthy run {i}: error {e}"),
        }
    }
    println!(
        "false alarms: {alarms} of {} healthy runs ({inconclusive} inconclusive), {:.0} s of load each, {:.0} s in all",
        a.runs,
        a.load.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    if !a.ladder {
        return;
    }
    let mut smallest = None;
    for (leaky, clean) in [(1, 0), (1, 1), (1, 4), (1, 9), (1, 19), (1, 49)] {
        let share = f64::from(leaky) / f64::from(leaky + clean);
        let mut routes = vec![("/v1/garments?limit=5".to_string(), leaky)];
        if clean > 0 {
            routes.push(("/v1/garments/{id}".to_string(), clean));
        }
        let fault = "leak-memory:bytes=3,route=/v1/garments".to_string();
        match run(vec![fault], routes, a.load).await {
            Ok((status, summary, sent)) => {
                println!(
                    "leak of {share:.3} allocations ({:.3} bytes) per request: {status} ({sent} requests) {summary}",
                    3.0 * share
                );
                if status == Status::Fail {
                    smallest = Some(share);
                }
            }
            Err(e) => println!("leak {share:.3}: error {e}"),
        }
    }
    match smallest {
        Some(s) => println!(
            "smallest leak caught in {:.0} s of load: {s:.3} allocations per request",
            a.load.as_secs_f64()
        ),
        None => println!("no leak on the ladder was caught"),
    }
}
