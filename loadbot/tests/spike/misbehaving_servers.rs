use crate::helpers::{loadbot, scenario, shedding_server, silent_server, summary};

/// A few users over 4 s with a 1 s client timeout.
const SHORT: &str = r#"
name = "short"
client_timeout = "1s"

[[phases]]
name = "only"
duration = "4s"
users = 5

[journeys.browser]
weight = 1
think = { constant = "100ms" }

[slo.default]
max_shed_rate = 0.05
max_error_rate = 0.01
"#;

#[test]
fn a_server_that_accepts_and_never_answers_fails_on_silent_answers() {
    let server = silent_server();
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = scenario(dir.path(), "short.toml", SHORT);
    let reports = dir.path().join("reports");
    let run = loadbot(&[
        "spike",
        "--target",
        &server.url,
        "--scenario",
        file.to_str().expect("utf-8 path"),
        "--report-dir",
        reports.to_str().expect("utf-8 path"),
        "--no-goose-reports",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(run.stdout.contains("FAILED only: silent"), "{}", run.text());
    assert!(run.stdout.contains("silent answers"), "{}", run.text());
    let s = summary(&reports);
    assert!(
        s["outcomes"]["silent"].as_u64().is_some_and(|n| n >= 5),
        "{}",
        s["outcomes"]
    );
    assert_eq!(s["outcomes"]["ok"], 0);
}

#[test]
fn a_server_that_sheds_everything_fails_on_the_shed_rate() {
    let server = shedding_server();
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = scenario(dir.path(), "short.toml", SHORT);
    let reports = dir.path().join("reports");
    let run = loadbot(&[
        "spike",
        "--target",
        &server.url,
        "--scenario",
        file.to_str().expect("utf-8 path"),
        "--report-dir",
        reports.to_str().expect("utf-8 path"),
        "--no-goose-reports",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.text());
    assert!(
        run.stdout.contains("FAILED only: shed_rate 1 > 0.05"),
        "{}",
        run.text()
    );
    let s = summary(&reports);
    let shed = s["outcomes"]["shed"].as_u64().unwrap_or(0);
    assert!(
        shed >= 10 && s["requests"].as_u64() == Some(shed),
        "{}",
        s["outcomes"]
    );
    assert_eq!(s["outcomes"]["silent"], 0, "a fast 503 is not silence");
}
