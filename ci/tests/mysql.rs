//! The original stack, proven both ways: `release-gate --suite mysql` starts a
//! private MariaDB with a low `max_connections`, runs the App Store spike on it,
//! passes a healthy candidate, and fails one that leaks connections out of its
//! pool, naming the leak, the database's count and error 1040.

use std::{path::PathBuf, process::Command};

use serde_json::Value;

fn bin(name: &str) -> PathBuf {
    let gate = PathBuf::from(env!("CARGO_BIN_EXE_release-gate"));
    let path = gate.with_file_name(name);
    if !path.is_file() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", "outfit-server", "-p", "loadbot"])
            .status()
            .expect("running cargo build");
        assert!(status.success(), "building {name} failed");
    }
    path
}

/// Runs the mysql suite against `candidate_args`; returns (exit code, stdout,
/// failed checks, scenarios that were checked).
fn mysql_suite(candidate_args: &str) -> (i32, String, Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().expect("report folder");
    let scenarios = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let candidate = format!(
        "'{}' serve {candidate_args}",
        bin("outfit-server").display()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_release-gate"))
        .args(["--suite", "mysql", "--candidate", &candidate])
        .arg("--loadbot-bin")
        .arg(bin("loadbot"))
        .arg("--scenarios-dir")
        .arg(&scenarios)
        .arg("--report-dir")
        .arg(dir.path())
        .arg("--keep-dir")
        .arg(dir.path().join("kept"))
        .output()
        .expect("running release-gate");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("gate.json"))
            .unwrap_or_else(|e| panic!("gate.json not written ({e}):\n{stderr}")),
    )
    .expect("gate.json is JSON");
    let checks = report["checks"].as_array().expect("checks");
    let scenarios = checks
        .iter()
        .filter_map(|c| c["scenario"].as_str().map(str::to_string))
        .collect();
    let failed = checks
        .iter()
        .filter(|c| c["status"] != "passed")
        .map(|c| {
            format!(
                "{} / {} / {}",
                c["scenario"].as_str().unwrap_or(""),
                c["name"].as_str().unwrap_or(""),
                c["detail"].as_str().unwrap_or("")
            )
        })
        .collect();
    eprintln!("{stdout}");
    (out.status.code().unwrap_or(-1), stdout, failed, scenarios)
}

/// Both runs in one test: they must not share the two cores.
#[test]
fn the_mysql_spike_passes_a_healthy_build_and_fails_a_leak_with_error_1040() {
    let (code, stdout, failed, scenarios) = mysql_suite("");
    assert_eq!(code, 0, "healthy build failed: {failed:#?}\n{stdout}");
    assert!(
        scenarios.iter().any(|s| s == "appstore-spike-mysql"),
        "the spike step did not run: {scenarios:?}"
    );

    let site = "chaos leak-connection on /v1/outfits";
    let (code, stdout, failed, _) =
        mysql_suite("--chaos-fault leak-connection:every=100,route=/v1/outfits,detach=true");
    assert_eq!(code, 1, "the leaking build passed:\n{stdout}");
    let connections = failed
        .iter()
        .find(|f| f.contains("connections back and matching"))
        .unwrap_or_else(|| panic!("the connection check did not fail: {failed:#?}"));
    assert!(connections.contains("LEAK"), "{connections}");
    assert!(connections.contains(site), "site not named: {connections}");
    assert!(
        connections.contains("Too many connections (max_connections 24)"),
        "error 1040 not named: {connections}"
    );
    assert!(
        connections.contains("seen by mysql"),
        "the database's own count is missing: {connections}"
    );
    // the leak, not a tired machine: memory and tasks are not blamed
    assert!(
        !failed.iter().any(|f| f.contains("memory growth")),
        "{failed:#?}"
    );
}
