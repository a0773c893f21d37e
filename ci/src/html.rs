//! The gate's `report.html`: every check of the run in one self-contained page
//! (inline CSS, no script, no external URL), green or red, each scenario
//! linking to the spike report loadbot drew in its folder (`<scenario>/report.html`).

use std::{fmt::Write as _, path::Path};

use crate::verdict::{GateReport, Status};

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn class(s: Status) -> &'static str {
    match s {
        Status::Passed => "pass",
        Status::Failed => "fail",
        Status::Inconclusive => "inconclusive",
    }
}

/// The page; `dir` is where it goes (to find the scenarios' own reports).
pub(crate) fn page(report: &GateReport, dir: &Path) -> String {
    let verdict = if report.passed { "pass" } else { "fail" };
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>release gate {} — {}</title><style>{CSS}</style></head><body>\n",
        esc(&report.suite),
        verdict.to_uppercase()
    );
    let _ = writeln!(
        h,
        "<header><h1>Release gate: suite {}</h1><div class=\"badge {verdict}\" id=\"verdict\">{}</div></header>",
        esc(&report.suite),
        if report.passed { "PASS" } else { "BLOCKED" }
    );
    let _ = writeln!(
        h,
        "<p class=\"meta\">Candidate <code>{}</code>; {} checks, {} not passed. Files: <a href=\"gate.json\">gate.json</a>, <a href=\"junit.xml\">junit.xml</a>, <a href=\"summary.md\">summary.md</a>.</p>",
        esc(&report.candidate),
        report.checks.len(),
        report.failures().count()
    );
    let mut scenarios: Vec<&str> = Vec::new();
    for c in &report.checks {
        if !scenarios.contains(&c.scenario.as_str()) {
            scenarios.push(&c.scenario);
        }
    }
    for scenario in scenarios {
        let checks: Vec<_> = report
            .checks
            .iter()
            .filter(|c| c.scenario == scenario)
            .collect();
        let ok = checks.iter().all(|c| c.status == Status::Passed);
        let _ = write!(
            h,
            "<h2 class=\"{}\">{} — {}</h2>",
            if ok { "pass" } else { "fail" },
            esc(scenario),
            if ok { "passed" } else { "FAILED" }
        );
        // loadbot's spike report for a load step, in the scenario's folder
        let spike = Path::new(scenario).join("report.html");
        if dir.join(&spike).is_file() {
            let _ = write!(
                h,
                "<p><a class=\"spike\" href=\"{}\">spike report: charts, SLOs and leaks of this step</a></p>",
                esc(&spike.to_string_lossy())
            );
        }
        let _ = writeln!(
            h,
            "<table><thead><tr><th>phase</th><th>check</th><th>figure and bound</th><th>s</th><th>result</th></tr></thead><tbody>"
        );
        for c in checks {
            let _ = writeln!(
                h,
                "<tr class=\"{cls}\"><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
                esc(c.phase.as_deref().unwrap_or("")),
                esc(&c.name),
                esc(&c.detail),
                c.seconds,
                match c.status {
                    Status::Passed => "PASSED",
                    Status::Failed => "FAILED",
                    Status::Inconclusive => "INCONCLUSIVE",
                },
                cls = class(c.status)
            );
        }
        let _ = writeln!(h, "</tbody></table>");
    }
    let _ = writeln!(h, "</body></html>");
    h
}

const CSS: &str = "body{font-family:sans-serif;margin:24px auto;max-width:1140px;color:#222}\
header{display:flex;align-items:center;gap:20px}h1{font-size:22px;margin:0}h2{font-size:17px;margin-top:22px}\
h2.pass{color:#1a661a}h2.fail{color:#9b1111}\
.badge{padding:6px 18px;border-radius:6px;font-weight:bold;color:#fff;font-size:20px}\
.badge.pass{background:#2ca02c}.badge.fail{background:#d62728}.meta{color:#444}\
table{border-collapse:collapse;width:100%;font-size:13px}\
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
tr.pass td:last-child{background:#dff3df;color:#1a661a;font-weight:bold}\
tr.fail td:last-child{background:#f8d7d7;color:#9b1111;font-weight:bold}\
tr.inconclusive td:last-child{background:#fcefd2;color:#8a5a00;font-weight:bold}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Check;

    #[test]
    fn the_page_colours_each_check_and_links_a_spike_report() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("ci-spike")).expect("mkdir");
        std::fs::write(dir.path().join("ci-spike/report.html"), "x").expect("write");
        let report = GateReport::new(
            "ci",
            "outfit-server <x>",
            vec![
                Check::pass("ci-spike", "p99_ms", "12 <= 1000").in_phase("peak"),
                Check::fail("ci-spike", "connections back and matching", "LEAK: 'a'"),
                Check::pass("onboarding", "steps", "ok"),
            ],
        );
        let h = page(&report, dir.path());
        assert!(h.contains("badge fail"));
        assert!(h.contains("outfit-server &lt;x&gt;"));
        assert!(h.contains("href=\"ci-spike/report.html\""));
        assert_eq!(
            h.matches("class=\"spike\"").count(),
            1,
            "only where one exists"
        );
        assert!(h.contains("<tr class=\"fail\"><td></td><td>connections back and matching"));
        assert!(!h.contains("<script"));
    }
}
