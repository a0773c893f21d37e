use crate::helpers::{loadbot, scenario};

#[test]
fn an_unknown_key_in_a_scenario_exits_2_naming_file_line_and_key() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let text = crate::healthy::SMALL.replace("users = 50\n", "users = 50\nuserz = 7\n");
    let file = scenario(dir.path(), "typo.toml", &text);
    let path = file.to_str().expect("utf-8 path");
    let run = loadbot(&[
        "spike",
        "--scenario",
        path,
        "--report-dir",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, Some(2), "{}", run.text());
    let line = text
        .lines()
        .position(|l| l.starts_with("userz"))
        .expect("typo line")
        + 1;
    assert!(
        run.stderr.contains(&format!("{path}:{line}:")),
        "{}",
        run.text()
    );
    assert!(run.stderr.contains("key `userz`"), "{}", run.text());
}

#[test]
fn an_impossible_shape_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let text = crate::healthy::SMALL.replace(
        "duration = \"5s\"\nusers = 50",
        "duration = \"0s\"\nusers = 50",
    );
    let file = scenario(dir.path(), "zero.toml", &text);
    let run = loadbot(&["spike", "--scenario", file.to_str().expect("utf-8 path")]);
    assert_eq!(run.code, Some(2), "{}", run.text());
    assert!(
        run.stderr
            .contains("key `phases[1].duration`: must be longer than 0s"),
        "{}",
        run.text()
    );
}

#[test]
fn a_missing_scenario_file_exits_2() {
    let run = loadbot(&["spike", "--scenario", "no-such-scenario.toml"]);
    assert_eq!(run.code, Some(2), "{}", run.text());
    assert!(
        run.stderr.contains("no-such-scenario.toml"),
        "{}",
        run.text()
    );
}

#[test]
fn bad_flags_exit_2_with_the_reason() {
    for (args, says) in [
        (&["spike", "--duration", "90"][..], "missing unit"),
        (&["spike", "--duration", "2 weeks"][..], "unknown unit"),
        (&["spike", "--users", "0"][..], "--users"),
        (&["spike", "--target", "ftp://example"][..], "http://"),
        (&["spike", "--no-such-flag"][..], "--no-such-flag"),
        (&["launch"][..], "launch"),
    ] {
        let run = loadbot(args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.text());
        assert!(run.stderr.contains(says), "{args:?}: {}", run.text());
    }
}

#[test]
fn a_run_that_cannot_happen_exits_3_and_says_why() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let reports = dir.path().to_str().expect("utf-8");
    let run = loadbot(&[
        "spike",
        "--server-bin",
        "/nonexistent/outfit-server",
        "--report-dir",
        reports,
    ]);
    assert_eq!(run.code, Some(3), "{}", run.text());
    assert!(
        run.stderr
            .contains("cargo build --release -p outfit-server"),
        "{}",
        run.text()
    );
    // nothing listens on port 9 of loopback
    let run = loadbot(&[
        "spike",
        "--target",
        "http://127.0.0.1:9",
        "--report-dir",
        reports,
    ]);
    assert_eq!(run.code, Some(3), "{}", run.text());
    assert!(run.stderr.contains("unreachable"), "{}", run.text());
}
