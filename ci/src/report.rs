//! The gate's outputs: `gate.json`, `junit.xml` (one test case per check),
//! `summary.md` and `report.html` (see `html.rs`).

use std::{fmt::Write as _, path::Path};

use anyhow::Context;

use crate::verdict::{GateReport, Status};

pub(crate) fn write_all(report: &GateReport, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_string_pretty(report)?;
    std::fs::write(dir.join("gate.json"), json).context("writing gate.json")?;
    std::fs::write(dir.join("junit.xml"), junit(report)).context("writing junit.xml")?;
    std::fs::write(dir.join("summary.md"), markdown(report)).context("writing summary.md")?;
    std::fs::write(dir.join("report.html"), crate::html::page(report, dir))
        .context("writing report.html")?;
    Ok(())
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: a test suite per scenario, a test case per check.
pub(crate) fn junit(report: &GateReport) -> String {
    let mut scenarios: Vec<&str> = Vec::new();
    for c in &report.checks {
        if !scenarios.contains(&c.scenario.as_str()) {
            scenarios.push(&c.scenario);
        }
    }
    let failures = report.failures().count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"release-gate {}\" tests=\"{}\" failures=\"{}\">",
        xml_escape(&report.suite),
        report.checks.len(),
        failures
    );
    for scenario in scenarios {
        let checks: Vec<_> = report
            .checks
            .iter()
            .filter(|c| c.scenario == scenario)
            .collect();
        let failed = checks.iter().filter(|c| c.status != Status::Passed).count();
        let time: f64 = checks.iter().map(|c| c.seconds).sum();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" time=\"{:.3}\">",
            xml_escape(scenario),
            checks.len(),
            failed,
            time
        );
        for c in checks {
            let name = match &c.phase {
                Some(p) => format!("{p} / {}", c.name),
                None => c.name.clone(),
            };
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml_escape(scenario),
                xml_escape(&name),
                c.seconds
            );
            match c.status {
                Status::Passed => {
                    let _ = writeln!(
                        out,
                        "><system-out>{}</system-out></testcase>",
                        xml_escape(&c.detail)
                    );
                }
                Status::Failed | Status::Inconclusive => {
                    let kind = if c.status == Status::Failed {
                        "failed"
                    } else {
                        "inconclusive"
                    };
                    let _ = writeln!(
                        out,
                        "><failure type=\"{kind}\" message=\"{}\"/></testcase>",
                        xml_escape(&c.detail)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

pub(crate) fn markdown(report: &GateReport) -> String {
    let mut out = String::new();
    let verdict = if report.passed {
        "PASSED: the release may go out"
    } else {
        "FAILED: the release is blocked"
    };
    let _ = writeln!(out, "# Release gate: {verdict}\n");
    let _ = writeln!(out, "- suite: `{}`", report.suite);
    let _ = writeln!(out, "- candidate: `{}`\n", report.candidate);
    if !report.passed {
        out.push_str("## What failed\n\n");
        for c in report.failures() {
            let _ = writeln!(out, "- **{}**: {}", c.path(), c.detail);
        }
        out.push('\n');
    }
    out.push_str("## Every check\n\n| scenario | phase | check | result | figures |\n|---|---|---|---|---|\n");
    for c in &report.checks {
        let status = match c.status {
            Status::Passed => "pass",
            Status::Failed => "**FAIL**",
            Status::Inconclusive => "**inconclusive**",
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            c.scenario,
            c.phase.as_deref().unwrap_or("-"),
            c.name,
            status,
            c.detail.replace('|', "\\|").replace('\n', " ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Check;

    #[test]
    fn junit_counts_failures_and_escapes_text() {
        let report = GateReport::new(
            "ci",
            "outfit-server serve",
            vec![
                Check::pass("appstore-spike", "silent answers", "0 <= 0"),
                Check::fail("appstore-spike", "p99", "812 ms > 500 ms & rising")
                    .in_phase("plateau"),
            ],
        );
        let xml = junit(&report);
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("812 ms &gt; 500 ms &amp; rising"), "{xml}");
        assert!(xml.contains("name=\"plateau / p99\""), "{xml}");
        assert!(!report.passed);
        let md = markdown(&report);
        assert!(
            md.contains("FAILED") && md.contains("appstore-spike / plateau / p99"),
            "{md}"
        );
    }

    #[test]
    fn an_empty_gate_does_not_pass() {
        assert!(!GateReport::new("ci", "x", vec![]).passed);
    }
}
