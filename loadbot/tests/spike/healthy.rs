use crate::helpers::{loadbot, scenario, summary};

/// All four journeys and Poisson arrivals over a 15 s shape a debug build serves easily.
pub(crate) const SMALL: &str = r#"
name = "healthy-small"
client_timeout = "5s"

[[phases]]
name = "warm"
duration = "5s"
users = { start = 10, end = 50 }
arrivals_per_s = 2

[[phases]]
name = "peak"
duration = "5s"
users = 50
arrivals_per_s = 6

[[phases]]
name = "cool"
duration = "5s"
users = { start = 50, end = 10 }
arrivals_per_s = { start = 6, end = 0 }

[journeys.new_install]
weight = 1
think = { exponential = "300ms" }

[journeys.returning]
weight = 3
think = { exponential = "300ms" }

[journeys.browser]
weight = 2
think = { uniform = ["100ms", "500ms"] }

[journeys.impatient]
weight = 1
think = { constant = "300ms" }
refresh_after = "3s"
on_503 = "honour_retry_after"
max_retries = 2

[slo.default]
p99_ms = 3000
max_error_rate = 0.01
max_shed_rate = 0.05
min_goodput = 0.9
max_silent = 0
"#;

#[test]
fn a_healthy_short_run_against_the_real_server_passes_and_writes_a_sane_summary() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = scenario(dir.path(), "small.toml", SMALL);
    let reports = dir.path().join("reports");
    let run = loadbot(&[
        "spike",
        "--users",
        "50",
        "--duration",
        "15s",
        "--scenario",
        file.to_str().expect("utf-8 path"),
        "--report-dir",
        reports.to_str().expect("utf-8 path"),
        "--seed",
        "7",
        "--garments",
        "400",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.text());
    assert!(run.stdout.contains("PASS"), "{}", run.text());
    let s = summary(&reports);
    assert_eq!(s["verdict"], "pass");
    let requests = s["requests"].as_u64().expect("requests");
    // 50 users at roughly 3 requests per second each for 15 s, give or take
    assert!(
        (300..20_000).contains(&requests),
        "{requests} requests\n{}",
        run.text()
    );
    assert_eq!(
        s["outcomes"]["ok"].as_u64(),
        Some(requests),
        "every answer ok: {}",
        s["outcomes"]
    );
    let phases = s["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 3);
    for p in phases {
        let ok = &p["latency_ms"]["ok"];
        let (p50, p99, max) = (ok["p50"].as_f64(), ok["p99"].as_f64(), ok["max"].as_f64());
        assert!(
            matches!((p50, p99, max), (Some(a), Some(b), Some(c)) if 0.0 < a && a <= b && b <= c),
            "{p}"
        );
        assert!(
            p["slo"]
                .as_array()
                .is_some_and(|v| v.iter().all(|v| v["held"] == true)),
            "{p}"
        );
    }
    // the open model's arrivals follow the shape: 10 + 30 + 15 = 55 expected
    let arrivals: u64 = phases.iter().filter_map(|p| p["arrivals"].as_u64()).sum();
    let expected = s["expected_arrivals"].as_f64().expect("expected arrivals");
    assert!((expected - 55.0).abs() < 1e-6, "{expected}");
    assert!(
        (arrivals as f64 - expected).abs() <= 4.0 * expected.sqrt(),
        "{arrivals} arrivals, expected {expected}"
    );
    assert!(
        s["self_check"]["cpu_seconds"]
            .as_f64()
            .is_some_and(|c| c > 0.0)
    );
    for report in [
        "summary.md",
        "goose-report.html",
        "goose-report.json",
        "server.log",
    ] {
        assert!(reports.join(report).is_file(), "{report} missing");
    }
}
