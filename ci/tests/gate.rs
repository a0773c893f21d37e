//! The gate is believed only once it has been seen to fail a defective build
//! for the right reason: each test runs the real `release-gate` binary against
//! a real `outfit-server` candidate (healthy or with an injected defect) and
//! checks the verdict and the reason it names.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use serde_json::Value;

/// The workspace's target folder for this profile (where the other binaries are).
fn bin_dir() -> PathBuf {
    let gate = PathBuf::from(env!("CARGO_BIN_EXE_release-gate"));
    gate.parent().expect("binary folder").to_path_buf()
}

/// Builds `outfit-server` and `loadbot` once if this test run lacks them.
fn binaries() -> &'static (PathBuf, PathBuf) {
    static BINS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BINS.get_or_init(|| {
        let dir = bin_dir();
        let server = dir.join("outfit-server");
        let loadbot = dir.join("loadbot");
        if !server.is_file() || !loadbot.is_file() {
            let release = dir.ends_with("release");
            let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cargo.args(["build", "-p", "outfit-server", "-p", "loadbot"]);
            if release {
                cargo.arg("--release");
            }
            let status = cargo.status().expect("running cargo build");
            assert!(
                status.success(),
                "building outfit-server and loadbot failed"
            );
        }
        (server, loadbot)
    })
}

struct Verdict {
    code: i32,
    stdout: String,
    report: Value,
    _dir: tempfile::TempDir,
}

impl Verdict {
    fn failed_checks(&self) -> Vec<String> {
        self.report["checks"]
            .as_array()
            .expect("checks")
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
            .collect()
    }
}

/// The PostgreSQL server the database-fault steps cut the link to (scripts/test.sh exports it).
fn postgres_url() -> String {
    std::env::var("SPIKEPROOF_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Load runs share two cores: one gate at a time, so they judge the candidate, not each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn gate(candidate_args: &str, extra: &[&str]) -> Verdict {
    let (server, _) = binaries();
    gate_command(
        &format!("'{}' serve {candidate_args}", server.display()),
        extra,
    )
}

/// The ci suite with a whole candidate command.
fn gate_command(candidate: &str, extra: &[&str]) -> Verdict {
    suite_command("ci", candidate, extra)
}

/// A suite with a whole candidate command.
fn suite_command(suite: &str, candidate: &str, extra: &[&str]) -> Verdict {
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    suite_in(suite, candidate, extra, &scenarios)
}

/// A suite with a whole candidate command and a folder of scenario files.
fn suite_in(suite: &str, candidate: &str, extra: &[&str], scenarios: &Path) -> Verdict {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (_, loadbot) = binaries();
    let dir = tempfile::tempdir().expect("report folder");
    let out = Command::new(env!("CARGO_BIN_EXE_release-gate"))
        .args(["--suite", suite, "--candidate", candidate])
        .arg("--loadbot-bin")
        .arg(loadbot)
        .arg("--scenarios-dir")
        .arg(scenarios)
        .arg("--report-dir")
        .arg(dir.path())
        .arg("--keep-dir")
        .arg(dir.path().join("kept"))
        .args(["--fault-database-url", &postgres_url()])
        .args(extra)
        .output()
        .expect("running release-gate");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("gate.json")).expect("gate.json written"),
    )
    .expect("gate.json is JSON");
    for file in ["junit.xml", "summary.md"] {
        assert!(dir.path().join(file).is_file(), "{file} missing");
    }
    Verdict {
        code: out.status.code().unwrap_or(-1),
        stdout,
        report,
        _dir: dir,
    }
}

#[test]
fn a_healthy_candidate_passes_the_ci_suite() {
    let v = gate("", &[]);
    assert_eq!(v.code, 0, "{}\n{:?}", v.stdout, v.failed_checks());
    assert_eq!(v.report["passed"], true);
    assert!(v.stdout.contains("PASSED"));
    // the passing build is kept for rollback, with its command and verdict
    let kept = v._dir.path().join("kept");
    assert!(kept.join("outfit-server").is_file());
    let command = std::fs::read_to_string(kept.join("command.txt")).expect("command.txt");
    assert!(command.contains("outfit-server serve"), "{command}");
    assert!(kept.join("gate.json").is_file());
    // db-outage: the candidate rode out the cut of its PostgreSQL link
    // the cut happened: the outage phase was shed, and nothing went silent
    assert_eq!(v.check("outage", "silent")["status"], "passed");
    let recovered = v.report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "recovers within 5 s of the database's return")
        .expect("a recovery check");
    assert!(
        detail(recovered).contains("cut at") && detail(recovered).contains("succeeded"),
        "{recovered}"
    );
    // the gate's own user liked a garment every 100 ms through the cut: every acknowledged like is stored
    let ledger = v.report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "no acknowledged write lost")
        .expect("a ledger check");
    assert!(detail(ledger).contains("0 of them are missing"), "{ledger}");
}

#[test]
fn the_taste_model_on_in_production_fails_the_config_check() {
    let v = gate(
        "",
        &[
            "--only",
            "production-config",
            "--candidate-env",
            "APP_FEATURES__TASTE_MODEL=true",
        ],
    );
    assert_eq!(v.code, 1, "{}", v.stdout);
    let failed = v.failed_checks();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].contains("taste_model off"), "{failed:?}");
    assert!(
        v.stdout
            .contains("feature_enabled{name=\"taste_model\"} = 1"),
        "{}",
        v.stdout
    );
}

#[test]
fn a_slowed_onboarding_step_fails_the_checklist_naming_the_step() {
    let v = gate(
        "--chaos-fault slow-query:ms=1200,route=/v1/users/me/profile",
        &["--only", "onboarding-checklist"],
    );
    assert_eq!(v.code, 1, "{}", v.stdout);
    let failed = v.failed_checks();
    assert!(
        failed
            .iter()
            .any(|f| f.contains("onboarding profile") && f.contains("bound 1000 ms")),
        "{failed:?}"
    );
    // the other steps were not slowed, and the gate says so
    assert!(
        !failed.iter().any(|f| f.contains("/ register /")),
        "{failed:?}"
    );
}

#[test]
fn a_hung_route_fails_the_checklist_with_no_answer() {
    let v = gate(
        "--chaos-fault hang:route=/v1/outfits",
        &["--only", "onboarding-checklist"],
    );
    assert_eq!(v.code, 1, "{}", v.stdout);
    let failed = v.failed_checks();
    assert!(
        failed
            .iter()
            .any(|f| f.contains("outfits") && f.contains("/v1/outfits") && f.contains("timed out")),
        "{failed:?}"
    );
}

#[test]
fn a_three_byte_leak_per_request_fails_on_the_memory_trend() {
    let leak = only_failure_of(
        "--chaos-fault leak-memory:bytes=3",
        "memory growth per request",
        "connections back",
    );
    assert!(
        leak.contains("LEAK") && leak.contains("live allocations grow"),
        "{leak}"
    );
}

#[test]
fn a_forgotten_connection_fails_naming_the_route_that_took_it() {
    let leak = only_failure_of(
        "--chaos-fault leak-connection:every=1000,route=/v1/outfits",
        "connections back and matching",
        "memory growth",
    );
    assert!(
        leak.contains("chaos leak-connection on /v1/outfits"),
        "{leak}"
    );
}

/// Runs the spike step on a defective candidate; returns the failure of the
/// detector `expected`, and checks the other detector (`not`) did not fire.
fn only_failure_of(candidate_args: &str, expected: &str, not: &str) -> String {
    let v = gate(candidate_args, &["--only", "ci-spike"]);
    assert_eq!(v.code, 1, "{}", v.stdout);
    let failed = v.failed_checks();
    assert!(!failed.iter().any(|f| f.contains(not)), "{failed:?}");
    failed
        .into_iter()
        .find(|f| f.contains(expected))
        .unwrap_or_else(|| panic!("{expected} did not fail: {}", v.stdout))
}

impl Verdict {
    /// The check `name` of `phase`, as gate.json has it.
    fn check(&self, phase: &str, name: &str) -> &Value {
        self.report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["phase"] == phase && c["name"] == name)
            .unwrap_or_else(|| panic!("no {phase} / {name} check: {}", self.stdout))
    }
}

#[test]
fn a_pool_waiting_past_the_app_timeout_leaves_the_outage_silent() {
    // the contract: pool acquire timeout < request deadline < the app's timeout (3 s here)
    let v = gate(
        "",
        &[
            "--only",
            "db-outage",
            "--candidate-env",
            "APP_POOL__ACQUIRE_TIMEOUT_MS=5000",
            "--candidate-env",
            "APP_OVERLOAD__REQUEST_DEADLINE_MS=10000",
        ],
    );
    assert_eq!(v.code, 1, "{}", v.stdout);
    let silent = v.check("outage", "silent");
    assert_eq!(silent["status"], "failed", "{silent}");
    assert!(
        v.stdout.contains("db-outage / outage / silent: silent"),
        "{}",
        v.stdout
    );
}

#[test]
fn a_database_fault_without_a_network_database_blocks_and_names_the_flag() {
    let (server, loadbot) = binaries();
    let dir = tempfile::tempdir().expect("report folder");
    let out = Command::new(env!("CARGO_BIN_EXE_release-gate"))
        .args(["--suite", "ci", "--only", "db-outage", "--candidate"])
        .arg(format!("'{}' serve", server.display()))
        .arg("--loadbot-bin")
        .arg(loadbot)
        .arg("--scenarios-dir")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios"))
        .arg("--report-dir")
        .arg(dir.path())
        .output()
        .expect("running release-gate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("db-outage / fault schedule") && stdout.contains("--fault-database-url"),
        "{stdout}"
    );
}

#[test]
fn explain_prints_the_phases_in_words_and_rejects_a_bad_file() {
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let out = Command::new(env!("CARGO_BIN_EXE_release-gate"))
        .arg("explain")
        .arg(scenarios.join("appstore-spike.toml"))
        .output()
        .expect("explain");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("plateau for 15m"), "{text}");
    assert!(text.contains("rising to"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_release-gate"))
        .arg("explain")
        .arg(scenarios.join("overload-10x.toml"))
        .output()
        .expect("explain");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("99% of shed answers within 50 ms")
            && text.contains("ok answers per second at least 90% of phase capacity's"),
        "{text}"
    );
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\nclient_timeout = \"5s\"\nphasez = []\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_release-gate"))
        .arg("explain")
        .arg(&bad)
        .output()
        .expect("explain");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("phasez"), "{err}");
}

/// Stands in for a release whose first migration was edited after it
/// shipped: it rewrites the stored checksum of the first applied migration
/// (as if the file had changed), then runs the real server, whose migrator
/// must refuse the database.
const EDITED_MIGRATION: &str = r#"
import os, sqlite3, sys
args = sys.argv[1:]
url = args[args.index("--database-url") + 1]
path = url.split("sqlite://", 1)[1].split("?", 1)[0]
db = sqlite3.connect(path)
db.execute("UPDATE _sqlx_migrations SET checksum = x'00' "
           "WHERE version = (SELECT MIN(version) FROM _sqlx_migrations)")
db.commit()
db.close()
os.execv(args[0], args)
"#;

#[test]
fn the_candidate_must_take_over_the_database_the_baseline_left() {
    let (server, _) = binaries();
    let baseline = format!("'{}' serve", server.display());
    let args = [
        "--only",
        "baseline-migrations",
        "--baseline",
        baseline.as_str(),
    ];

    let v = gate("", &args);
    assert_eq!(v.code, 0, "{}\n{:?}", v.stdout, v.failed_checks());
    let passed: Vec<&str> = v.report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "passed")
        .filter_map(|c| c["name"].as_str())
        .collect();
    for name in [
        "baseline writes",
        "candidate starts on the baseline's database",
        "baseline data readable",
    ] {
        assert!(passed.contains(&name), "{name} not passed: {passed:?}");
    }

    let dir = tempfile::tempdir().expect("folder");
    let script = dir.path().join("edited_migration.py");
    std::fs::write(&script, EDITED_MIGRATION).expect("script");
    let candidate = format!(
        "python3 '{}' '{}' serve",
        script.display(),
        server.display()
    );
    let v = gate_command(&candidate, &args);
    assert_eq!(v.code, 1, "{}", v.stdout);
    let failed = v.failed_checks();
    assert!(
        failed.iter().any(
            |f| f.contains("candidate starts on the baseline's database")
                && f.contains("previously applied but has been modified")
        ),
        "{failed:?}"
    );
}

/// A capacity phase below the candidate's capacity understates the peak
/// that overload goodput is compared with, so the gate measures the capacity
/// first under the step's quota. Given a scenario whose `capacity` phase has
/// 24 users, the calibration must choose from what it measured, not from the
/// file: a debug build on a quarter core serves far more than 24 users (a
/// calibration that echoed the file would choose about 26; built at the dev
/// profile's opt-level 1, one worker thread used 24% of the quota at 96
/// users, so the ladder's top rung, 16 times the file, must pass 360). The
/// run at the chosen users must then use the quota. (Without the calibration the suite's fixed
/// 600 users would apply, which also saturate a debug build, so the CPU check
/// alone cannot tell the two apart here; on a release build 60 users used 37%
/// of the quota, see docs/gate.md.)
#[test]
fn the_overload_step_measures_the_capacity_it_multiplies() {
    let (server, _) = binaries();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/overload-10x.toml");
    let text = std::fs::read_to_string(shipped).expect("overload-10x.toml");
    let understated = text
        .replace("users = 60\n", "users = 24\n")
        .replace("users = 600\n", "users = 240\n");
    assert_eq!(
        understated.matches("users = 24\n").count(),
        3,
        "{understated}"
    );
    let dir = tempfile::tempdir().expect("folder");
    std::fs::write(dir.path().join("overload-10x.toml"), understated).expect("scenario");
    let v = suite_in(
        "full",
        &format!("'{}' serve", server.display()),
        &["--only", "overload-10x"],
        dir.path(),
    );
    let check = |name: &str| {
        v.report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check: {:#?}", v.report["checks"]))
            .clone()
    };
    let calibrated = check("calibrated capacity");
    assert_eq!(calibrated["status"], "passed", "{calibrated}");
    let ladder = detail(&calibrated);
    assert!(
        ladder.contains("(the scenario's own: 24 and 240)"),
        "{ladder}"
    );
    let chosen: u32 = ladder
        .split("so capacity runs ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no chosen users in: {ladder}"));
    assert!(chosen >= 60, "chose {chosen} capacity users: {ladder}");
    let reached = check("reached capacity");
    assert_eq!(reached["phase"], "capacity");
    assert_eq!(reached["status"], "passed", "{reached}\n{ladder}");
}

/// The shipped perf-compare cut to what the test judges, so its runs fit in
/// CI: the same journeys, SLOs and budgets, a shorter warmup, the steady phase
/// at half length, and no busy phase. The busy phase keeps this machine's two
/// cores near saturation, where a healthy debug build's p99 was seen anywhere
/// from 25 to 94 ms; the rule it would be judged by is the steady phase's.
/// Judged at 99% rather than 95%: a healthy debug build was seen to give three
/// steady-phase p99s of 45 to 104 ms against its own 18 to 27 ms in the
/// alternate runs, a false alarm at 95% (bound 1.27).
fn short_perf_compare() -> tempfile::TempDir {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/perf-compare.toml");
    let text = std::fs::read_to_string(shipped).expect("perf-compare.toml");
    let busy = "[[phases]]\nname = \"busy\"\nduration = \"8s\"\nusers = 120\n";
    assert!(
        text.contains(busy),
        "the shipped busy phase changed: {text}"
    );
    let short = text
        .replace(busy, "")
        .replace("phases = [\"steady\", \"busy\"]", "phases = [\"steady\"]")
        .replace("duration = \"3s\"", "duration = \"2s\"")
        .replace("duration = \"8s\"", "duration = \"4s\"")
        .replace("confidence = 0.95", "confidence = 0.99");
    assert_eq!(short.matches("duration = \"4s\"").count(), 1, "{short}");
    assert_eq!(short.matches("phases = [\"steady\"]").count(), 1, "{short}");
    assert_eq!(short.matches("confidence = 0.99").count(), 1, "{short}");
    let dir = tempfile::tempdir().expect("folder");
    std::fs::write(dir.path().join("perf-compare.toml"), short).expect("scenario");
    dir
}

/// A check's `detail` text; a check without one fails the test.
fn detail(check: &Value) -> &str {
    check["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("a check without a detail: {check}"))
}

/// The `performance` checks of one phase, `p99 vs baseline` and `goodput vs baseline`.
fn perf_check<'a>(v: &'a Verdict, phase: &str, name: &str) -> &'a Value {
    v.report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["scenario"] == "performance" && c["phase"] == phase && c["name"] == name)
        .unwrap_or_else(|| panic!("no {phase} / {name} check: {:#?}", v.report["checks"]))
}

/// The baseline comparison, proven both ways and in both modes: the build
/// against itself (alternate runs) passes; a build whose outfits query takes
/// 150 ms longer fails on the steady phase's p99 against the healthy build's
/// command (paired rounds, with extra rounds while undecided) and against a
/// report of the healthy runs (the REPORT form of `--baseline`, whose runs
/// are fixed; it holds all six healthy runs of the first comparison). The
/// slowdown is well past this machine's noise: a healthy debug build's
/// steady p99 was seen anywhere from 17 to 62 ms in one comparison, which hid
/// a 40 ms slowdown (runs at 57 to 64 ms) within the noise.
#[test]
fn a_slower_candidate_fails_the_baseline_comparison_and_the_same_build_passes() {
    let (server, _) = binaries();
    let healthy = format!("'{}' serve", server.display());
    let slowed = format!("{healthy} --chaos-fault slow-query:ms=150,route=/v1/outfits");
    let scenarios = short_perf_compare();
    let compare = |candidate: &str, baseline: &str| {
        suite_in(
            "ci",
            candidate,
            &["--only", "performance", "--baseline", baseline],
            scenarios.path(),
        )
    };

    let same = compare(&healthy, &healthy);
    assert_eq!(same.code, 0, "{}\n{:#?}", same.stdout, same.failed_checks());
    for name in ["p99 vs baseline", "goodput vs baseline"] {
        let c = perf_check(&same, "steady", name);
        assert_eq!(c["status"], "passed", "{c}");
        assert!(detail(c).contains("paired by round"), "{c}");
    }
    let runs = same.report["performance"]["runs"]
        .as_array()
        .expect("recorded runs");
    // three runs of each build, more only when noise put a figure past the budget
    assert!(
        runs.len() >= 6 && runs.len() <= 12 && runs.len() % 2 == 0,
        "{} runs",
        runs.len()
    );

    let slow = compare(&slowed, &healthy);
    assert_eq!(slow.code, 1, "{}", slow.stdout);
    let steady = perf_check(&slow, "steady", "p99 vs baseline");
    assert_eq!(steady["status"], "failed", "{steady}");
    assert!(detail(steady).starts_with("REGRESSION"), "{steady}");
    // (closed-loop users also send fewer requests to a slower server, so
    // goodput may fail beside it; p99 is the check this slowdown must fail)
    assert!(
        slow.stdout
            .contains("performance / steady / p99 vs baseline"),
        "{}",
        slow.stdout
    );

    // all six runs of `same` are of the healthy build: a report that records
    // them all as the judged build is six healthy runs, not three
    let mut healthy_six = same.report.clone();
    for run in healthy_six["performance"]["runs"]
        .as_array_mut()
        .expect("recorded runs")
    {
        run["build"] = "candidate".into();
    }
    let report = scenarios.path().join("healthy-runs.json");
    std::fs::write(&report, healthy_six.to_string()).expect("report");
    let against_report = compare(&slowed, report.to_str().expect("utf-8 path"));
    assert_eq!(against_report.code, 1, "{}", against_report.stdout);
    let steady = perf_check(&against_report, "steady", "p99 vs baseline");
    assert_eq!(steady["status"], "failed", "{steady}");
    assert!(detail(steady).contains("Welch"), "{steady}");
}

/// The original stack, proven both ways: the mysql suite starts a private
/// MariaDB with a low `max_connections`, passes a healthy candidate, and fails
/// one that leaks connections out of its pool, naming the leak, the
/// database's own count and error 1040.
#[test]
fn the_mysql_spike_passes_a_healthy_build_and_fails_a_leak_with_error_1040() {
    let (server, _) = binaries();
    let v = suite_command("mysql", &format!("'{}' serve", server.display()), &[]);
    assert_eq!(v.code, 0, "healthy build failed: {:#?}", v.failed_checks());
    let scenarios: Vec<&str> = v.report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| c["scenario"].as_str())
        .collect();
    assert!(
        scenarios.contains(&"appstore-spike-mysql"),
        "the spike step did not run: {scenarios:?}"
    );

    let site = "chaos leak-connection on /v1/outfits";
    let v = suite_command(
        "mysql",
        &format!(
            "'{}' serve --chaos-fault leak-connection:every=100,route=/v1/outfits,detach=true",
            server.display()
        ),
        &[],
    );
    assert_eq!(v.code, 1, "the leaking build passed:\n{}", v.stdout);
    let failed = v.failed_checks();
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
    // memory may be blamed too, and rightly: a connection that left the pool
    // keeps its buffers (seen here once, 0.17 live allocations per request)
}

// === defects written the ordinary way ===
//
// Each twin is an example of the server's own crate (`server/examples/`): the
// real app from the `outfit_server` library with one defective layer, the way
// the bug gets written. The growth-rounds step must fail each for its own
// reason, naming its site or route, and pass the healthy build (above).

/// An example binary of the server's crate, built once if this run lacks it.
fn twin(name: &str) -> PathBuf {
    let path = bin_dir().join("examples").join(name);
    if !path.is_file() {
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo.args(["build", "-p", "outfit-server", "--example", name]);
        if bin_dir().ends_with("release") {
            cargo.arg("--release");
        }
        assert!(
            cargo.status().expect("running cargo build").success(),
            "building the {name} example failed"
        );
    }
    path
}

/// The growth-rounds step against a twin, with its defect's settings.
fn rounds_of_twin(name: &str, settings: &[&str]) -> Verdict {
    let mut extra = vec!["--only", "growth-rounds"];
    for kv in settings {
        extra.extend(["--candidate-env", kv]);
    }
    gate_command(&format!("'{}' serve", twin(name).display()), &extra)
}

/// The one failed check of a twin's run, which must be `expected`.
fn the_failure(v: &Verdict, expected: &str) -> String {
    assert_eq!(v.code, 1, "{}", v.stdout);
    let failed = v.failed_checks();
    assert!(
        failed.iter().all(|f| f.contains(expected)),
        "only {expected} should fail: {failed:?}"
    );
    failed
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{expected} did not fail: {}", v.stdout))
}

#[test]
fn a_buffer_growing_three_bytes_per_outfits_call_fails_naming_its_line() {
    let v = rounds_of_twin(
        "defect_growing_buffer",
        &["DEFECT_ROUTE=/v1/outfits", "DEFECT_BYTES=3"],
    );
    let leak = the_failure(&v, "memory retained across rounds");
    assert!(
        leak.contains("LEAK at server/examples/defect_growing_buffer.rs:"),
        "{leak}"
    );
    assert!(leak.contains("runs out"), "projected to the peak: {leak}");
}

#[test]
fn a_cache_never_evicted_on_the_catalog_route_fails_naming_its_line() {
    let v = rounds_of_twin(
        "defect_unevicted_cache",
        &["DEFECT_ROUTE=/v1/garments", "DEFECT_VALUE=24"],
    );
    let leak = the_failure(&v, "memory retained across rounds");
    assert!(
        leak.contains("LEAK at server/examples/defect_unevicted_cache.rs:"),
        "{leak}"
    );
}

#[test]
fn a_connection_held_across_an_await_fails_the_projection_to_the_peak() {
    let v = rounds_of_twin(
        "defect_hold_across_await",
        &["DEFECT_ROUTE=/v1/outfits", "DEFECT_HOLD_MS=5"],
    );
    let hold = the_failure(&v, "connection holds at the peak");
    assert!(hold.contains("defect_hold_across_await:"), "{hold}");
}

#[test]
fn a_blocking_call_on_the_garment_route_fails_the_poll_bound_naming_the_route() {
    let v = rounds_of_twin(
        "defect_blocking_call",
        &[
            "DEFECT_ROUTE=/v1/garments",
            "DEFECT_BLOCK_MS=4",
            "DEFECT_KIND=spin",
        ],
    );
    let stall = the_failure(&v, "polls on the async workers");
    assert!(stall.contains("/v1/garments"), "{stall}");
}

#[test]
fn a_task_started_every_forty_feedbacks_that_never_ends_fails_as_a_leak() {
    let v = rounds_of_twin(
        "defect_task_per_requests",
        &["DEFECT_ROUTE=/v1/outfits/feedback", "DEFECT_EVERY=40"],
    );
    assert_eq!(v.code, 1, "{}", v.stdout);
    let failed = v.failed_checks();
    let tasks = failed
        .iter()
        .find(|f| f.contains("tasks across rounds"))
        .unwrap_or_else(|| panic!("the task check did not fail: {failed:?}"));
    assert!(
        tasks.contains("LEAK") && tasks.contains("/v1/outfits/feedback"),
        "{tasks}"
    );
}
