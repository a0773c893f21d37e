use std::{path::PathBuf, time::Duration};

use super::*;
use crate::{
    shard::{ShardPhase, ShardSpec},
    stats::{histogram, record},
};

const SCENARIO: &str = r#"
name = "merge-unit"
client_timeout = "5s"
[[phases]]
name = "only"
duration = "10s"
users = 10
[journeys.returning]
weight = 1
think = { constant = "1s" }
[slo.default]
p99_ms = 500
max_silent = 0
"#;

fn check() -> SelfCheck {
    SelfCheck {
        cpu_seconds: Some(1.0),
        wall_seconds: 10.0,
        cores: 2,
        cpu_share: Some(0.05),
        scheduler_lag_p99_ms: 1.0,
        scheduler_lag_max_ms: 2.0,
        late_starts: 0,
        arrivals: 0,
        dropped_arrivals: 0,
        workers: 16,
        peak_rss_bytes: None,
        requests_per_cpu_second: None,
        inconclusive: Vec::new(),
    }
}

/// A shard that saw `ok_ms` answers and `silent` unanswered requests.
fn shard(text: &str, index: u32, count: u32, ok_ms: &[u64], silent: u64) -> (PathBuf, ShardFile) {
    let scenario = Scenario::parse(text, Path::new("t.toml")).expect("valid scenario");
    let toml = scenario.to_toml().expect("toml");
    let mut stats = PhaseStats::new();
    for ms in ok_ms {
        record(&mut stats.ok_latency, Duration::from_millis(*ms));
    }
    stats.outcomes[Outcome::Ok.index()] = ok_ms.len() as u64;
    stats.outcomes[Outcome::Silent.index()] = silent;
    let file = ShardFile {
        format: shard::FORMAT,
        scenario: scenario.name,
        scenario_hash: shard::scenario_hash(&toml),
        scenario_toml: toml,
        seed: 7,
        shard: ShardSpec { index, count },
        start_at: None,
        started_at: "2026-11-30T13:00:00+00:00".into(),
        start_lateness_s: None,
        late: false,
        target: "http://127.0.0.1:1".into(),
        duration_s: 10.0,
        time_factor: 1.0,
        load_factor: 1.0 / f64::from(count),
        peak_users: 10.0 / f64::from(count),
        expected_arrivals: 0.0,
        interrupted: false,
        loadbot_errors: 0,
        abandoned_at_stop: 0,
        phases: vec![ShardPhase::new("only", (0.0, 10.0), &stats).expect("encodes")],
        self_check: check(),
    };
    (PathBuf::from(format!("shard-{index}")), file)
}

#[test]
fn merged_histograms_are_the_sum_of_the_shards() {
    let a: Vec<u64> = (1..=100).collect();
    let b: Vec<u64> = (300..=400).collect();
    let merged = Merged::of(
        vec![shard(SCENARIO, 0, 2, &a, 0), shard(SCENARIO, 1, 2, &b, 0)],
        Vec::new(),
    )
    .expect("merges");
    let mut union = histogram();
    for ms in a.iter().chain(&b) {
        record(&mut union, Duration::from_millis(*ms));
    }
    assert_eq!(merged.phases[0].ok_latency, union);
    let s = merged.summary();
    assert_eq!(s.requests, 201);
    assert_eq!(s.outcomes["ok"], 201);
    let p99 = s.phases[0].latency_ms["ok"].p99.expect("p99");
    assert_eq!(p99, union.value_at_quantile(0.99) as f64 / 1_000.0);
    assert!((s.load_factor - 1.0).abs() < 1e-9);
    assert_eq!(s.verdict, "pass", "{:?}", s.self_check.inconclusive);
}

#[test]
fn counters_are_summed_and_the_slo_judged_on_the_sum() {
    // neither shard alone breaks p99 <= 500 ms by much, but silent answers add up
    let merged = Merged::of(
        vec![
            shard(SCENARIO, 0, 2, &[10, 20], 1),
            shard(SCENARIO, 1, 2, &[30], 2),
        ],
        Vec::new(),
    )
    .expect("merges");
    let s = merged.summary();
    assert_eq!(s.outcomes["silent"], 3);
    assert_eq!(s.requests, 6);
    assert_eq!(s.verdict, "fail");
    assert_eq!(s.exit_code, 1);
    assert!(s.failures[0].contains("silent 3 > 0"), "{:?}", s.failures);
}

#[test]
fn a_shard_of_another_scenario_is_left_out_and_the_run_inconclusive() {
    let other = SCENARIO.replace("merge-unit", "another");
    let merged = Merged::of(
        vec![
            shard(SCENARIO, 0, 2, &[10], 0),
            shard(&other, 1, 2, &[10], 0),
        ],
        Vec::new(),
    )
    .expect("merges");
    let s = merged.summary();
    assert_eq!(s.verdict, "inconclusive");
    assert_eq!(s.requests, 1);
    let text = s.self_check.inconclusive.join("\n");
    assert!(text.contains("another scenario"), "{text}");
    assert!(text.contains("shard 1/2 missing"), "{text}");
}

#[test]
fn duplicates_late_and_saturated_shards_make_the_run_inconclusive() {
    let (dir, mut late) = shard(SCENARIO, 1, 3, &[10], 0);
    late.late = true;
    late.start_lateness_s = Some(4.2);
    let (dir2, mut saturated) = shard(SCENARIO, 2, 3, &[10], 0);
    saturated
        .self_check
        .inconclusive
        .push("loadbot used 97% of the machine's 2 cores".into());
    let merged = Merged::of(
        vec![
            shard(SCENARIO, 0, 3, &[10], 0),
            shard(SCENARIO, 0, 3, &[10], 0),
            (dir, late),
            (dir2, saturated),
        ],
        Vec::new(),
    )
    .expect("merges");
    let s = merged.summary();
    assert_eq!(s.verdict, "inconclusive");
    assert_eq!(s.requests, 3, "the duplicate is not counted twice");
    let text = s.self_check.inconclusive.join("\n");
    assert!(text.contains("shard 0/3 given twice"), "{text}");
    assert!(text.contains("started late: 4.2 s"), "{text}");
    assert!(text.contains("97% of the machine"), "{text}");
}

#[test]
fn nothing_to_merge_is_an_error() {
    assert!(Merged::of(Vec::new(), vec!["no shard.json in x".into()]).is_err());
}

#[test]
fn goodput_of_peak_is_judged_on_the_fleet_s_summed_ok_answers() {
    let text = SCENARIO.replace(
        "max_silent = 0",
        "max_silent = 0\nmin_goodput_of_peak = 0.9\npeak_phase = \"only\"",
    );
    let merged = Merged::of(
        vec![
            shard(&text, 0, 2, &[10, 20], 0),
            shard(&text, 1, 2, &[30, 40, 50, 60], 0),
        ],
        Vec::new(),
    )
    .expect("merges");
    let s = merged.summary();
    let v = s.phases[0]
        .slo
        .iter()
        .find(|v| v.slo == "goodput_of_peak")
        .expect("goodput of peak judged after the merge");
    assert!(v.held, "{}", v.describe());
    // six ok answers over the phase's 10 s, from both shards
    assert_eq!(
        v.note.as_deref(),
        Some("0.6 ok/s vs 0.6 ok/s in only"),
        "{}",
        v.describe()
    );
}
