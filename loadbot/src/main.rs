//! `loadbot`: Spikeproof's bot fleet. `loadbot spike` replays an App Store
//! traffic spike (a scenario from the `scenarios` crate) against the outfit
//! server, judges the scenario's SLOs per phase and writes reports.
//!
//! Layout:
//! - `cli.rs`: the command line.
//! - `run.rs`: one spike run from start to verdict; exit codes.
//! - `server.rs`: the bundled `outfit-server` as a child process.
//! - `plan.rs`: the scenario on the run's clock (compressed, scaled).
//! - `arrivals.rs`: the open model's Poisson arrivals.
//! - `journeys/`: the user journeys as light state machines, one module each.
//! - `engine.rs`: the dispatcher (due-time heap) and the worker step.
//! - `driver.rs`: goose users as the workers; goose's reports.
//! - `http.rs`: one request through goose's request API, classified.
//! - `outcome.rs`: the outcomes and the overload contract check.
//! - `stats.rs`: per-phase counts and HDR latency histograms.
//! - `slo.rs`: SLO verdicts; `selfcheck.rs`: was loadbot the bottleneck?
//! - `report.rs`: `summary.json` and `summary.md`; `progress.rs`: the live line.
//! - `timeline.rs`: the run second by second (`timeline.json`), the server's
//!   `/metrics` sampled and the leak detectors; `html.rs`: `report.html` and
//!   `loadbot report DIR`.
//! - `shard.rs`: `--shard I/N`, `--start-at` and the mergeable `shard.json`;
//!   `merge.rs`: `loadbot merge`, exact global percentiles and one verdict.

mod arrivals;
mod cli;
mod driver;
mod engine;
mod html;
mod http;
mod journeys;
mod merge;
mod outcome;
mod plan;
mod progress;
mod report;
mod run;
mod selfcheck;
mod server;
mod shard;
mod slo;
mod stats;
mod timeline;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // clap exits 2 on bad usage and 0 for --help
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(run::EXIT_CANNOT_RUN);
        }
    };
    let code = match cli.command {
        cli::Command::Spike(args) => runtime.block_on(run::spike(*args)),
        cli::Command::Merge(args) => merge::merge(&args),
        cli::Command::Report(args) => run::report(&args),
    };
    // goose's and the server's leftovers must not hold the exit
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    ExitCode::from(code)
}
