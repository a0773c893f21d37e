//! `loadbot merge`: the shards' `shard.json` files into one run. Histograms
//! are added and counters summed, so the global percentiles are exact (within
//! HDR precision), and the scenario's SLOs are judged once, on the merged
//! figures. A shard missing, given twice, from another run, late or saturated
//! makes the merged run inconclusive.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::Context;
use scenarios::Scenario;

use crate::{
    cli::MergeArgs,
    outcome::Outcome,
    report::{self, PhaseSummary, Summary},
    run::{EXIT_CANNOT_RUN, EXIT_USAGE, print_verdict},
    selfcheck::SelfCheck,
    shard::{self, ShardFile},
    slo,
    stats::PhaseStats,
};

/// Runs `loadbot merge` and returns the exit status.
pub(crate) fn merge(args: &MergeArgs) -> u8 {
    let mut shards = Vec::new();
    let mut doubts = Vec::new();
    for dir in &args.dirs {
        let path = if dir.is_dir() {
            dir.join(shard::FILE)
        } else {
            dir.clone()
        };
        if !path.is_file() {
            // a shard that never finished leaves no file: the merge says which is missing
            doubts.push(format!("no {} in {}", shard::FILE, dir.display()));
            continue;
        }
        match ShardFile::read(&path) {
            Ok(file) => shards.push((dir.clone(), file)),
            Err(e) => {
                eprintln!("error: {}: {e:#}", path.display());
                return EXIT_USAGE;
            }
        }
    }
    let merged = match Merged::of(shards, doubts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e:#}");
            return EXIT_USAGE;
        }
    };
    let dir = args.report_dir.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(format!(
            "merged-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        ))
    });
    let summary = merged.summary();
    if let Err(e) = report::write(&dir, &summary) {
        eprintln!("error: the merged reports could not be written: {e:#}");
        return EXIT_CANNOT_RUN;
    }
    print_verdict(&summary, &dir);
    summary.exit_code
}

/// The shards of one run, added up.
#[derive(Debug)]
pub(crate) struct Merged {
    scenario: Scenario,
    reference: ShardFile,
    /// The shards merged: (folder, file).
    shards: Vec<(PathBuf, ShardFile)>,
    phases: Vec<PhaseStats>,
    /// Why the merged run is not to be believed.
    doubts: Vec<String>,
}

impl Merged {
    /// Checks that the shards belong together and adds them up. The first
    /// shard given is the reference: others from another scenario, seed or
    /// shard count are left out, and said so.
    pub(crate) fn of(
        files: Vec<(PathBuf, ShardFile)>,
        mut doubts: Vec<String>,
    ) -> anyhow::Result<Merged> {
        let Some(reference) = files.first().map(|(_, f)| f.clone()) else {
            anyhow::bail!(
                "no {} in any folder given: nothing to merge{}",
                shard::FILE,
                doubts
                    .iter()
                    .map(|d| format!("\n  {d}"))
                    .collect::<String>()
            );
        };
        anyhow::ensure!(
            shard::scenario_hash(&reference.scenario_toml) == reference.scenario_hash,
            "shard {}: its scenario does not match its own hash (edited by hand?)",
            reference.shard
        );
        let scenario = Scenario::parse(
            &reference.scenario_toml,
            Path::new("the scenario in shard.json"),
        )
        .context("the scenario in shard.json")?;
        let count = reference.shard.count;
        let mut by_index: BTreeMap<u32, (PathBuf, ShardFile)> = BTreeMap::new();
        for (dir, f) in files {
            let who = format!("shard {} ({})", f.shard, dir.display());
            if f.scenario_hash != reference.scenario_hash {
                doubts.push(format!(
                    "{who} ran another scenario ({:?}, hash {}) than {:?} (hash {}): left out",
                    f.scenario,
                    short(&f.scenario_hash),
                    reference.scenario,
                    short(&reference.scenario_hash)
                ));
                continue;
            }
            if f.seed != reference.seed || f.shard.count != count {
                doubts.push(format!(
                    "{who} belongs to another run (seed {}, {} shards; expected seed {}, {count} shards): left out",
                    f.seed, f.shard.count, reference.seed
                ));
                continue;
            }
            if f.phases
                .iter()
                .map(|p| &p.name)
                .ne(reference.phases.iter().map(|p| &p.name))
            {
                doubts.push(format!("{who} has other phases: left out"));
                continue;
            }
            if let Some((first, _)) = by_index.get(&f.shard.index) {
                doubts.push(format!(
                    "shard {} given twice ({} and {}): the second left out",
                    f.shard,
                    first.display(),
                    dir.display()
                ));
                continue;
            }
            by_index.insert(f.shard.index, (dir, f));
        }
        let missing: Vec<String> = (0..count)
            .filter(|i| !by_index.contains_key(i))
            .map(|i| format!("{i}/{count}"))
            .collect();
        if !missing.is_empty() {
            doubts.push(format!(
                "shard {} missing: only {} of {count} shards merged, so the load was not the scenario's",
                missing.join(", "),
                by_index.len()
            ));
        }
        let mut phases: Vec<PhaseStats> =
            reference.phases.iter().map(|_| PhaseStats::new()).collect();
        for (dir, f) in by_index.values() {
            let who = format!("shard {} ({})", f.shard, dir.display());
            if f.late {
                doubts.push(format!(
                    "{who} started late: {:.1} s after the shared start {}",
                    f.start_lateness_s.unwrap_or_default(),
                    f.start_at.as_deref().unwrap_or("?")
                ));
            }
            if f.interrupted {
                doubts.push(format!("{who} was interrupted before the shape ended"));
            }
            for reason in &f.self_check.inconclusive {
                doubts.push(format!("{who}: {reason}"));
            }
            for (into, p) in phases.iter_mut().zip(&f.phases) {
                p.add_to(into)
                    .with_context(|| format!("{who}, phase {}", p.name))?;
            }
        }
        Ok(Merged {
            scenario,
            reference,
            shards: by_index.into_values().collect(),
            phases,
            doubts,
        })
    }

    /// The merged run as a single run's summary, judged.
    pub(crate) fn summary(&self) -> Summary {
        let r = &self.reference;
        let mut failures = Vec::new();
        let mut outcomes = [0u64; Outcome::ALL.len()];
        let mut phases = Vec::new();
        // every shard's ok answers over the phase's seconds: the fleet's goodput
        let goodputs: Vec<slo::Goodput<'_>> = r
            .phases
            .iter()
            .zip(&self.phases)
            .map(|(p, stats)| slo::Goodput {
                phase: &p.name,
                ok: stats.count(Outcome::Ok),
                seconds: p.end_s - p.start_s,
            })
            .collect();
        for (i, (p, stats)) in r.phases.iter().zip(&self.phases).enumerate() {
            let set = self.scenario.slo_for(&p.name);
            let mut verdicts = slo::judge(&set, stats);
            verdicts.extend(slo::judge_against_peak(&set, &goodputs[i], &goodputs));
            for v in verdicts.iter().filter(|v| !v.held) {
                failures.push(format!("{}: {}", p.name, v.describe()));
            }
            for (total, n) in outcomes.iter_mut().zip(stats.outcomes) {
                *total += n;
            }
            phases.push(PhaseSummary::new(
                &p.name,
                (p.start_s, p.end_s),
                stats,
                verdicts,
            ));
        }
        let requests: u64 = outcomes.iter().sum();
        let files = || self.shards.iter().map(|(_, f)| f);
        let mut doubts = self.doubts.clone();
        if requests == 0 {
            doubts.push("no request was sent: nothing to judge".into());
        }
        let checks = || files().map(|f| &f.self_check);
        let cpu_seconds = checks()
            .map(|c| c.cpu_seconds)
            .sum::<Option<f64>>()
            .filter(|_| !self.shards.is_empty());
        let wall_seconds = checks().map(|c| c.wall_seconds).fold(0.0, f64::max);
        let cores = checks().map(|c| c.cores).sum::<usize>().max(1);
        let self_check = SelfCheck {
            cpu_seconds,
            wall_seconds,
            cores,
            cpu_share: cpu_seconds.map(|c| c / wall_seconds.max(1e-9) / cores as f64),
            // the worst shard's lag: one starved shard is enough to doubt
            scheduler_lag_p99_ms: checks().map(|c| c.scheduler_lag_p99_ms).fold(0.0, f64::max),
            scheduler_lag_max_ms: checks().map(|c| c.scheduler_lag_max_ms).fold(0.0, f64::max),
            late_starts: checks().map(|c| c.late_starts).sum(),
            arrivals: checks().map(|c| c.arrivals).sum(),
            dropped_arrivals: checks().map(|c| c.dropped_arrivals).sum(),
            workers: checks().map(|c| c.workers).sum(),
            peak_rss_bytes: checks().filter_map(|c| c.peak_rss_bytes).max(),
            requests_per_cpu_second: cpu_seconds
                .filter(|c| *c > 0.0)
                .map(|c| requests as f64 / c),
            inconclusive: doubts,
        };
        let (verdict, exit_code) = report::verdict(&failures, &self_check);
        let mut targets: Vec<&str> = files().map(|f| f.target.as_str()).collect();
        targets.sort_unstable();
        targets.dedup();
        Summary {
            scenario: r.scenario.clone(),
            verdict,
            exit_code,
            started_at: files()
                .map(|f| f.started_at.clone())
                .min()
                .unwrap_or_default(),
            target: targets.join(", "),
            duration_s: files().map(|f| f.duration_s).fold(0.0, f64::max),
            time_factor: r.time_factor,
            load_factor: files().map(|f| f.load_factor).sum(),
            peak_users: files().map(|f| f.peak_users).sum(),
            seed: r.seed,
            interrupted: files().any(|f| f.interrupted),
            requests,
            expected_arrivals: files().map(|f| f.expected_arrivals).sum(),
            outcomes: Outcome::ALL
                .iter()
                .map(|o| (o.as_str(), outcomes[o.index()]))
                .collect(),
            phases,
            failures,
            self_check,
            abandoned_at_stop: files().map(|f| f.abandoned_at_stop).sum(),
            loadbot_errors: files().map(|f| f.loadbot_errors).sum(),
            goose_reports: Vec::new(),
            merged_from: self
                .shards
                .iter()
                .map(|(dir, f)| format!("{} from {}", f.shard, dir.display()))
                .collect(),
        }
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests;
