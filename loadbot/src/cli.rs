//! The command line (kept stable: CI and people script against it).

use std::{path::PathBuf, time::Duration};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "loadbot",
    version,
    about = "Spikeproof's bot fleet: replays App Store traffic spikes and judges SLOs"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a spike scenario against the bundled server (or --target) and judge its SLOs.
    ///
    /// Exit status: 0 every SLO held; 1 an SLO failed or the run was inconclusive;
    /// 2 bad usage or an invalid scenario; 3 the run could not happen.
    Spike(Box<SpikeArgs>),
    /// Merge the shard.json of every shard of a run and judge the SLOs on the merged figures.
    ///
    /// Exit status: 0 every SLO held; 1 an SLO failed or the run was inconclusive
    /// (a shard missing, duplicated, late, saturated or from another run);
    /// 2 bad usage or no shard result; 3 the reports could not be written.
    Merge(MergeArgs),
    /// Redraw report.html in a run's report folder from its timeline.json and summary.json.
    ///
    /// Exit status: 0 written; 2 a file missing or invalid; 3 report.html could not be written.
    Report(ReportArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    /// A report folder of `loadbot spike` (holding timeline.json and summary.json).
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub(crate) struct MergeArgs {
    /// Shard report folders (each holding shard.json), or shard.json files.
    #[arg(required = true, value_name = "DIR")]
    pub(crate) dirs: Vec<PathBuf>,
    /// Where to write the merged reports [default: reports/merged-<timestamp>].
    #[arg(long, value_name = "DIR")]
    pub(crate) report_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct SpikeArgs {
    /// Peak concurrent users (scales the scenario's users and arrival rates).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub(crate) users: Option<u32>,
    /// Scenario file [default: the shipped App Store spike].
    #[arg(long, value_name = "FILE")]
    pub(crate) scenario: Option<PathBuf>,
    /// Compress the scenario's whole shape into this wall-clock time (e.g. 90s, 2m).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub(crate) duration: Option<Duration>,
    /// A running server to load instead of starting the bundled one.
    #[arg(long, value_name = "URL", value_parser = parse_target, conflicts_with_all = ["database_url", "server_arg"])]
    pub(crate) target: Option<String>,
    /// Run the bundled server on this database (PostgreSQL) instead of a fresh SQLite file.
    #[arg(long, value_name = "URL")]
    pub(crate) database_url: Option<String>,
    /// A flag passed through to the bundled server (repeatable).
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub(crate) server_arg: Vec<String>,
    /// Where to write the reports [default: reports/<timestamp>].
    #[arg(long, value_name = "DIR")]
    pub(crate) report_dir: Option<PathBuf>,
    /// Seed of the arrivals, journey choices and think times [default: random].
    #[arg(long, value_name = "S")]
    pub(crate) seed: Option<u64>,
    /// The outfit-server binary [default: next to loadbot's own executable].
    #[arg(long, value_name = "PATH", env = "SPIKEPROOF_SERVER_BIN")]
    pub(crate) server_bin: Option<PathBuf>,
    /// goose users that send the simulated users' requests [default: from the peak].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub(crate) workers: Option<u32>,
    /// Garments the bundled server seeds.
    #[arg(long, default_value_t = 2_000)]
    pub(crate) garments: u32,
    /// Run shard I of N (I from 0 to N-1) of the load: 1/N of the users and
    /// arrivals, with the shard's own seed; writes shard.json for `loadbot merge`.
    /// Needs --target (a shard never starts its own server) and --seed (the
    /// same on every shard: each derives its own users from it and its index).
    #[arg(long, value_name = "I/N", requires_all = ["target", "seed"])]
    pub(crate) shard: Option<crate::shard::ShardSpec>,
    /// Start the fleet at this wall-clock time (RFC 3339 or unix seconds); wait until then.
    #[arg(long, value_name = "TIME", value_parser = crate::shard::parse_start_at)]
    pub(crate) start_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Skip goose's HTML and JSON reports.
    #[arg(long)]
    pub(crate) no_goose_reports: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d: scenarios::Dur = s
        .parse()
        .map_err(|e: scenarios::DurationError| e.to_string())?;
    if d.is_zero() {
        return Err("must be longer than 0s".into());
    }
    Ok(d.get())
}

fn parse_target(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("http://")
        .ok_or_else(|| format!("{s:?}: use an http:// URL like http://127.0.0.1:8080"))?;
    if rest.split('/').next().is_none_or(str::is_empty) {
        return Err(format!("{s:?}: no host"));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// `host:port` of an http:// URL (port 80 when absent).
pub(crate) fn host_port(url: &str) -> String {
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("");
    if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_durations_are_checked() {
        assert_eq!(
            parse_target("http://127.0.0.1:8080/"),
            Ok("http://127.0.0.1:8080".into())
        );
        assert!(parse_target("127.0.0.1:8080").is_err());
        assert!(parse_target("http://").is_err());
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("90").is_err());
        assert_eq!(host_port("http://localhost/x"), "localhost:80");
        assert_eq!(host_port("http://127.0.0.1:9/"), "127.0.0.1:9");
    }
}
