//! `chaos`: the fault proxy and the leak watcher. See the `chaos` crate docs.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::{Context, bail};
use chaos::{
    Budgets, Status,
    proxy::{Registry, api},
    watch::{Watch, WatchConfig},
};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "chaos",
    version,
    about = "Spikeproof's fault proxy and leak detectors"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A TCP fault proxy with Toxiproxy's HTTP API.
    Proxy {
        /// Where clients connect (a proxy named by --name is created here).
        #[arg(long)]
        listen: Option<String>,
        /// Where the proxy forwards to.
        #[arg(long)]
        upstream: Option<String>,
        #[arg(long, default_value = "proxy")]
        name: String,
        /// The Toxiproxy-compatible API.
        #[arg(long, default_value = "127.0.0.1:8474")]
        api: SocketAddr,
        /// Let the API and proxies listen beyond loopback.
        #[arg(long)]
        allow_non_loopback: bool,
    },
    /// Samples a server's /metrics (and its database) and judges leaks.
    Watch {
        /// The server's base URL, e.g. http://127.0.0.1:8080
        #[arg(long)]
        target: String,
        /// The server's database URL (postgres:// or mysql://) for the database's own view.
        #[arg(long, env = "CHAOS_DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// The server's PostgreSQL application_name.
        #[arg(long, default_value = "outfit-server")]
        application_name: String,
        /// How long to watch: run the load inside this and leave time after it (e.g. 90s, 5m).
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        duration: Duration,
        #[arg(long, default_value = "500ms", value_parser = parse_duration)]
        interval: Duration,
        /// Connections and tasks must be back within this after load stops.
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        settle_within: Duration,
        /// Lower CI bound a leak must clear, allocations per request.
        #[arg(long, default_value_t = 0.05)]
        min_allocations_per_request: f64,
        /// Lower CI bound a leak must clear, heap bytes per request.
        #[arg(long, default_value_t = 8.0)]
        min_bytes_per_request: f64,
        /// Memory the server may use, in bytes, for the runway (default: this
        /// machine's limit when the target is on loopback).
        #[arg(long)]
        memory_limit: Option<u64>,
        /// Requests per second the runway assumes (default: the peak seen).
        #[arg(long)]
        peak_rate: Option<f64>,
        /// Also write the report and samples as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

/// `500ms`, `90s`, `5m`, `1h`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 500ms, 90s, 5m or 1h"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "" | "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is out of range"))
}

/// The memory limit of this machine: the cgroup's `memory.max`, else MemTotal.
fn local_memory_limit() -> Option<u64> {
    if let Ok(v) = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        && let Ok(n) = v.trim().parse::<u64>()
    {
        return Some(n);
    }
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn is_loopback_url(url: &str) -> bool {
    let Some(host) = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(String::from))
    else {
        return false;
    };
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Proxy {
            listen,
            upstream,
            name,
            api: api_addr,
            allow_non_loopback,
        } => {
            if !allow_non_loopback && !api_addr.ip().is_loopback() {
                bail!("--api {api_addr} is not loopback (add --allow-non-loopback)");
            }
            let registry = Registry::new(allow_non_loopback);
            match (listen, upstream) {
                (Some(l), Some(u)) => {
                    let p = registry
                        .create(&name, &l, &u, true)
                        .await
                        .with_context(|| format!("starting proxy {name}"))?;
                    println!("proxy {name} listening on {} -> {u}", p.view().listen);
                }
                (None, None) => {}
                _ => bail!("--listen and --upstream go together"),
            }
            let (bound, task) = api::serve(api_addr, registry)
                .await
                .with_context(|| format!("binding the API on {api_addr}"))?;
            println!("api listening on http://{bound}");
            tokio::select! {
                _ = task => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Watch {
            target,
            database_url,
            application_name,
            duration,
            interval,
            settle_within,
            min_allocations_per_request,
            min_bytes_per_request,
            memory_limit,
            peak_rate,
            json,
        } => {
            let memory_limit = memory_limit
                .or_else(|| is_loopback_url(&target).then(local_memory_limit).flatten());
            let mut config = WatchConfig::new(&target);
            config.database_url = database_url;
            config.application_name = application_name;
            config.interval = interval;
            config.max_duration = duration + Duration::from_secs(5);
            config.budgets = Budgets {
                settle_within,
                min_allocations_per_request,
                min_bytes_per_request,
                memory_limit_bytes: memory_limit,
                peak_rate,
                ..Budgets::default()
            };
            let watch = Watch::start(config)
                .await
                .with_context(|| format!("starting to watch {target}"))?;
            eprintln!("watching {target} for {duration:?}");
            tokio::select! {
                () = tokio::time::sleep(duration) => {}
                _ = tokio::signal::ctrl_c() => eprintln!("interrupted: judging what was seen"),
            }
            let samples = watch.samples();
            let report = watch.finish().await;
            println!("{report}");
            if let Some(path) = json {
                let body = serde_json::json!({ "report": report, "samples": samples });
                let text = serde_json::to_string_pretty(&body).context("encoding the report")?;
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(match report.verdict {
                Status::Pass => ExitCode::SUCCESS,
                Status::Fail => ExitCode::from(1),
                Status::Inconclusive => ExitCode::from(3),
            })
        }
    }
}
