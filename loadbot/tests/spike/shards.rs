//! `--shard I/N` and `loadbot merge`: three shards as processes on loopback
//! against one real outfit-server, merged into exact global figures.

use std::{path::Path, thread};

use base64::Engine as _;
use hdrhistogram::{Histogram, serialization::Deserializer};
use serde_json::Value;

use crate::{
    healthy::SMALL,
    helpers::{Run, loadbot, outfit_server, scenario, summary},
};

fn shard_json(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("shard.json")).expect("shard.json written");
    serde_json::from_str(&text).expect("shard.json is JSON")
}

fn decode(text: &Value) -> Histogram<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.as_str().expect("base64 text"))
        .expect("base64");
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .expect("a V2 histogram")
}

fn merge(dirs: &[&Path], out: &Path) -> Run {
    let mut args = vec!["merge", "--report-dir", out.to_str().expect("utf-8 path")];
    args.extend(dirs.iter().map(|d| d.to_str().expect("utf-8 path")));
    loadbot(&args)
}

#[test]
fn three_shards_merge_into_exact_global_percentiles_and_one_verdict() {
    let server = outfit_server(400);
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = scenario(dir.path(), "small.toml", SMALL);
    let file = file.to_str().expect("utf-8 path").to_owned();
    let start_at = (chrono::Utc::now().timestamp() + 4).to_string();
    let dirs: Vec<_> = (0..3)
        .map(|i| dir.path().join(format!("shard-{i}")))
        .collect();
    let runs: Vec<Run> = thread::scope(|s| {
        let handles: Vec<_> = dirs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let (file, start_at, url) = (&file, &start_at, &server.url);
                s.spawn(move || {
                    let shard = format!("{i}/3");
                    loadbot(&[
                        "spike",
                        "--shard",
                        &shard,
                        "--target",
                        url,
                        "--start-at",
                        start_at,
                        "--scenario",
                        file,
                        "--users",
                        "30",
                        "--duration",
                        "8s",
                        "--seed",
                        "11",
                        "--no-goose-reports",
                        "--report-dir",
                        d.to_str().expect("utf-8 path"),
                    ])
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("shard thread"))
            .collect()
    });
    for run in &runs {
        assert_eq!(run.code, Some(0), "{}", run.text());
        assert!(run.stdout.contains("loadbot merge"), "{}", run.text());
    }
    let shards: Vec<Value> = dirs.iter().map(|d| shard_json(d)).collect();
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["shard"]["index"], i);
        assert_eq!(s["shard"]["count"], 3);
        assert_eq!(s["seed"], 11);
        assert_eq!(s["late"], false, "shard {i} started late: {s:#}");
    }

    // all three: a pass, with exactly the union's percentiles and counts
    let merged_dir = dir.path().join("merged");
    let refs: Vec<&Path> = dirs.iter().map(|d| d.as_path()).collect();
    let run = merge(&refs, &merged_dir);
    assert_eq!(run.code, Some(0), "{}", run.text());
    let merged = summary(&merged_dir);
    assert_eq!(merged["verdict"], "pass");
    let shard_requests: u64 = dirs
        .iter()
        .map(|d| summary(d)["requests"].as_u64().expect("requests"))
        .sum();
    assert!(shard_requests > 0);
    assert_eq!(merged["requests"].as_u64(), Some(shard_requests));
    for (p, phase) in merged["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .enumerate()
    {
        let mut union: Option<Histogram<u64>> = None;
        let mut requests = 0;
        for s in &shards {
            let sp = &s["phases"][p];
            requests += sp["outcomes"]
                .as_object()
                .expect("outcomes")
                .values()
                .map(|v| v.as_u64().expect("count"))
                .sum::<u64>();
            let h = decode(&sp["latency_us"]["ok"]);
            match &mut union {
                Some(u) => u.add(&h).expect("same bounds"),
                None => union = Some(h),
            }
        }
        let union = union.expect("three shards");
        assert_eq!(phase["requests"].as_u64(), Some(requests));
        let ok = &phase["latency_ms"]["ok"];
        assert_eq!(ok["count"].as_u64(), Some(union.len()));
        for (key, q) in [
            ("p50", 0.5),
            ("p90", 0.9),
            ("p95", 0.95),
            ("p99", 0.99),
            ("p999", 0.999),
        ] {
            let want = (!union.is_empty()).then(|| union.value_at_quantile(q) as f64 / 1_000.0);
            assert_eq!(ok[key].as_f64(), want, "phase {p} {key}");
        }
    }

    // shard 1 missing: inconclusive, and it says which
    let missing_dir = dir.path().join("missing");
    let run = merge(&[&dirs[0], &dirs[2]], &missing_dir);
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(run.stdout.contains("INCONCLUSIVE"), "{}", run.text());
    assert!(run.stdout.contains("shard 1/3 missing"), "{}", run.text());
    assert_eq!(summary(&missing_dir)["verdict"], "inconclusive");

    // one shard reports silent answers: the merged figures break the SLO
    let edited = dir.path().join("edited-1");
    std::fs::create_dir_all(&edited).expect("folder");
    let mut one = shards[1].clone();
    one["phases"][0]["outcomes"]["silent"] = Value::from(2);
    std::fs::write(edited.join("shard.json"), one.to_string()).expect("writing");
    let failed_dir = dir.path().join("failed");
    let run = merge(&[&dirs[0], &edited, &dirs[2]], &failed_dir);
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(run.stdout.contains("FAIL"), "{}", run.text());
    let failed = summary(&failed_dir);
    assert_eq!(failed["verdict"], "fail");
    assert!(
        failed["failures"][0]
            .as_str()
            .is_some_and(|f| f.contains("silent 2 > 0")),
        "{failed:#}"
    );

    // a shard that starts well after the shared start is late, and so is the merge
    let late_dir = dir.path().join("late");
    let past = (chrono::Utc::now().timestamp() - 30).to_string();
    let run = loadbot(&[
        "spike",
        "--shard",
        "0/1",
        "--target",
        &server.url,
        "--start-at",
        &past,
        "--scenario",
        &file,
        "--users",
        "10",
        "--duration",
        "2s",
        "--seed",
        "5",
        "--no-goose-reports",
        "--report-dir",
        late_dir.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.text());
    assert_eq!(shard_json(&late_dir)["late"], true);
    let run = merge(&[&late_dir], &dir.path().join("late-merged"));
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(run.stdout.contains("started late"), "{}", run.text());
}

#[test]
fn bad_shard_flags_and_empty_merges_exit_2() {
    for args in [
        &["spike", "--shard", "3/3", "--target", "http://127.0.0.1:9"][..],
        &["spike", "--shard", "0/0", "--target", "http://127.0.0.1:9"],
        &["spike", "--shard", "0/2", "--seed", "1"],
        &["spike", "--shard", "0/2", "--target", "http://127.0.0.1:9"],
        &[
            "spike",
            "--target",
            "http://127.0.0.1:9",
            "--start-at",
            "soon",
        ],
        &["merge"],
        &["merge", "no-such-folder"],
    ] {
        let run = loadbot(args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.text());
    }
}
