//! report.html: a healthy run's page is green, a run against a server that
//! forgets pool connections is red with the pool at its max and the leaking
//! site named; both pages open in headless Chromium with their charts drawn
//! and no console message; `loadbot report DIR` redraws a saved run.
//!
//! Set `SPIKEPROOF_REPORT_SCREENSHOTS=DIR` to keep the two screenshots
//! (`report-healthy.png`, `report-leak.png`: the ones in docs/ came from here).

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Mutex,
    thread,
    time::{Duration, Instant},
};

use crate::{
    healthy::SMALL,
    helpers::{Run, scenario, server_bin, summary},
};

/// Longest a Chromium run may take.
const CHROMIUM_LIMIT: Duration = Duration::from_secs(60);
/// Longest a loadbot run may take here.
const RUN_LIMIT: Duration = Duration::from_secs(90);
/// One spike of this file at a time: on 2 shared cores, two more fleets plus
/// Chromium beside the other tests' runs would starve them all.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs loadbot with extra environment (for the server it starts), killed past [`RUN_LIMIT`].
fn loadbot_with_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loadbot"));
    cmd.args(args)
        .env("SPIKEPROOF_SERVER_BIN", server_bin())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("starting loadbot");
    let started = Instant::now();
    while child.try_wait().expect("waiting for loadbot").is_none() {
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("loadbot output");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn spike(reports: &Path, file: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut args = vec![
        "spike",
        "--users",
        "40",
        "--duration",
        "12s",
        "--scenario",
        file.to_str().expect("utf-8 path"),
        "--report-dir",
        reports.to_str().expect("utf-8 path"),
        "--seed",
        "11",
        "--garments",
        "300",
        "--no-goose-reports",
    ];
    args.extend_from_slice(extra);
    loadbot_with_env(&args, env)
}

fn timeline(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("timeline.json")).expect("timeline.json written");
    serde_json::from_str(&text).expect("timeline.json is JSON")
}

fn series_max(t: &serde_json::Value, key: &str) -> f64 {
    t["server"]
        .as_array()
        .expect("server points")
        .iter()
        .filter_map(|p| p[key].as_f64())
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Debian's `chromium` (or `chromium-browser`) on the PATH.
fn chromium_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("no chromium on the PATH: install Debian's chromium package (scripts/setup.sh does)");
}

/// Runs headless Chromium on `page` with `extra` flags; (stdout, stderr), killed past the limit.
fn chromium(page: &Path, extra: &[String]) -> (String, String) {
    let profile = tempfile::tempdir().expect("profile folder");
    let mut child = Command::new(chromium_bin())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting chromium");
    // drain both pipes while waiting, so a full pipe never stalls it
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    while child.try_wait().expect("waiting for chromium").is_none() {
        if started.elapsed() > CHROMIUM_LIMIT {
            let _ = child.kill();
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let _ = child.wait();
    (
        out_reader.join().unwrap_or_default(),
        err_reader.join().unwrap_or_default(),
    )
}

/// Opens `page` in headless Chromium: the DOM has the charts' SVGs with drawn
/// lines and no console message was logged; takes a screenshot (kept when asked).
fn check_in_chromium(page: &Path, min_charts: usize, keep_as: &str) -> String {
    let (dom, log) = chromium(page, &["--dump-dom".to_owned()]);
    let consoles: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(consoles.is_empty(), "console messages: {consoles:?}");
    let svgs = dom.matches("<svg").count();
    assert!(svgs >= min_charts, "{svgs} charts in the DOM\n{log}");
    // plotters draws each line as a polyline: some must have real points
    let drawn = dom
        .split("<polyline")
        .skip(1)
        .filter(|el| {
            el.split("points=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .is_some_and(|pts| pts.split_whitespace().count() >= 2)
        })
        .count();
    assert!(drawn >= min_charts, "only {drawn} drawn lines");
    let shots = tempfile::tempdir().expect("screenshot folder");
    let png = shots.path().join("shot.png");
    let (_, log) = chromium(
        page,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,3700".to_owned(),
        ],
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot ({e}): {log}"));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // a blank page compresses to a few KiB; drawn charts and tables do not
    assert!(bytes.len() > 40_000, "screenshot of {} bytes", bytes.len());
    if let Ok(dir) = std::env::var("SPIKEPROOF_REPORT_SCREENSHOTS") {
        std::fs::copy(&png, Path::new(&dir).join(keep_as)).expect("keeping the screenshot");
    }
    dom
}

#[test]
fn a_healthy_run_writes_a_green_page_chromium_renders_and_report_redraws_it() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let file = scenario(dir.path(), "small.toml", SMALL);
    let reports = dir.path().join("reports");
    let run = spike(&reports, &file, &[], &[]);
    assert_eq!(run.code, Some(0), "{}", run.text());
    assert_eq!(summary(&reports)["verdict"], "pass");
    let t = timeline(&reports);
    assert_eq!(t["format"], 1);
    let seconds = t["seconds"].as_array().expect("seconds");
    assert!(seconds.len() >= 10, "{} seconds", seconds.len());
    let ok: u64 = seconds.iter().filter_map(|s| s["ok"].as_u64()).sum();
    assert!(ok > 100, "{ok} ok answers charted");
    assert!(seconds.iter().any(|s| s["p99_ms"].as_f64().is_some()));
    assert!(series_max(&t, "pool_max") > 0.0, "no pool figures");
    assert_ne!(
        t["leaks"]["connections"]["status"], "fail",
        "{}",
        t["leaks"]
    );
    let page = reports.join("report.html");
    let html = std::fs::read_to_string(&page).expect("report.html written");
    assert!(
        html.contains("class=\"badge pass\""),
        "not green: leaks {}",
        t["leaks"]
    );
    assert!(html.contains("No code site held a connection"));
    let dom = check_in_chromium(&page, 8, "report-healthy.png");
    assert!(dom.contains("id=\"verdict\">PASS<"), "verdict in the DOM");

    // redrawn from the saved files: the same page
    std::fs::remove_file(&page).expect("removing report.html");
    let again = loadbot_with_env(&["report", reports.to_str().expect("utf-8 path")], &[]);
    assert_eq!(again.code, Some(0), "{}", again.text());
    assert_eq!(
        std::fs::read_to_string(&page).expect("report.html redrawn"),
        html
    );
}

#[test]
fn a_connection_leak_fills_the_pool_names_the_site_and_turns_the_page_red() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let leaky = SMALL.replace("\"healthy-small\"", "\"leaky-small\"");
    let file = scenario(dir.path(), "small.toml", &leaky);
    let reports = dir.path().join("reports");
    let run = spike(
        &reports,
        &file,
        &[
            "--server-arg=--chaos-fault",
            "--server-arg=leak-connection:every=20,route=/v1/outfits",
        ],
        // a small pool, and leaks reported after a second
        &[
            ("APP_POOL__MAX_CONNECTIONS", "4"),
            ("APP_POOL__LEAK_THRESHOLD_MS", "1000"),
        ],
    );
    assert!(run.code.is_some(), "{}", run.text());
    let t = timeline(&reports);
    let max = series_max(&t, "pool_max");
    assert_eq!(max, 4.0, "{}", run.text());
    assert_eq!(series_max(&t, "pool_in_use"), max, "the pool never ran dry");
    assert_eq!(
        t["leaks"]["connections"]["status"], "fail",
        "{}",
        t["leaks"]
    );
    assert!(
        t["faults"][0]["label"]
            .as_str()
            .is_some_and(|l| l.contains("leak-connection")),
        "{}",
        t["faults"]
    );
    let page = reports.join("report.html");
    let html = std::fs::read_to_string(&page).expect("report.html written");
    assert!(html.contains("class=\"badge fail\""), "not red");
    assert!(html.contains("Spike report: leaky-small"));
    assert!(
        html.contains("<code>chaos leak-connection on /v1/outfits</code>"),
        "the site is not named"
    );
    let dom = check_in_chromium(&page, 8, "report-leak.png");
    assert!(dom.contains("id=\"verdict\">FAIL<"), "verdict in the DOM");
}

#[test]
fn report_refuses_a_missing_or_broken_run_folder_naming_the_file() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let missing = dir.path().join("nowhere");
    let run = loadbot_with_env(&["report", missing.to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, Some(2), "{}", run.text());
    assert!(
        run.stderr.contains("no such report folder"),
        "{}",
        run.text()
    );

    let run = loadbot_with_env(&["report", dir.path().to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, Some(2), "{}", run.text());
    assert!(run.stderr.contains("timeline.json"), "{}", run.text());

    std::fs::write(
        dir.path().join("timeline.json"),
        "{\n  \"format\": 1,\n  \"scenario\": 3\n}\n",
    )
    .expect("writing");
    let run = loadbot_with_env(&["report", dir.path().to_str().expect("utf-8 path")], &[]);
    assert_eq!(run.code, Some(2), "{}", run.text());
    assert!(
        run.stderr.contains("timeline.json: line 3"),
        "{}",
        run.text()
    );
    assert!(!dir.path().join("report.html").exists());
}
