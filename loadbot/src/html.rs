//! `report.html`: one self-contained page per run (inline SVG charts drawn by
//! plotters, inline CSS, no script, no external URL), rendered from
//! `timeline.json` and `summary.json`, so `loadbot report DIR` redraws a saved run.
//!
//! The charts share one time axis (seconds since the fleet started; the
//! server's figures before 0 are its baseline) with the phases and injected
//! faults marked; then the verdict table (each SLO per phase with its figure
//! and bound, the self-check, the leak detectors) and the held-too-long sites.

use std::{fmt::Write as _, path::Path};

use anyhow::Context;
use plotters::prelude::*;
use serde::Deserialize;

use crate::timeline::{Leaks, Marker, Timeline};

pub(crate) const FILE: &str = "report.html";
const WIDTH: u32 = 1100;
const HEIGHT: u32 = 250;

/// One SLO judged, as `summary.json` holds it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SloRow {
    pub(crate) slo: String,
    pub(crate) op: String,
    pub(crate) bound: f64,
    pub(crate) figure: Option<f64>,
    pub(crate) held: bool,
    /// The figures behind a derived figure, when the SLO says them.
    #[serde(default)]
    pub(crate) note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PhaseRow {
    pub(crate) name: String,
    pub(crate) start_s: f64,
    pub(crate) end_s: f64,
    pub(crate) requests: u64,
    pub(crate) slo: Vec<SloRow>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct SelfCheckRow {
    #[serde(default)]
    pub(crate) inconclusive: Vec<String>,
}

/// What the page reads from `summary.json`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SummaryView {
    pub(crate) scenario: String,
    pub(crate) verdict: String,
    pub(crate) started_at: String,
    pub(crate) target: String,
    pub(crate) duration_s: f64,
    pub(crate) requests: u64,
    pub(crate) seed: u64,
    pub(crate) phases: Vec<PhaseRow>,
    #[serde(default)]
    pub(crate) self_check: SelfCheckRow,
}

impl SummaryView {
    /// Reads `summary.json`, naming the file, line and column of what is wrong.
    pub(crate) fn read(path: &Path) -> Result<SummaryView, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: line {}, column {}: {e}",
                path.display(),
                e.line(),
                e.column()
            )
        })
    }
}

/// The page's verdict: the SLOs' verdict, made a failure by a leak detector that failed.
pub(crate) fn page_verdict(s: &SummaryView, leaks: Option<&Leaks>) -> &'static str {
    let leak = leaks.is_some_and(|l| l.verdict == "fail");
    match s.verdict.as_str() {
        "fail" => "fail",
        _ if leak => "fail",
        "pass" => "pass",
        _ => "inconclusive",
    }
}

/// Writes `report.html` into `dir`.
pub(crate) fn write(dir: &Path, t: &Timeline, s: &SummaryView) -> anyhow::Result<()> {
    let page = render(t, s)?;
    std::fs::write(dir.join(FILE), page).context("writing report.html")
}

/// Why `loadbot report` could not redraw.
#[derive(Debug)]
pub(crate) enum RerenderError {
    /// A file missing or invalid (bad usage).
    Input(String),
    /// The page could not be drawn or written.
    Write(String),
}

/// Redraws `report.html` in `dir` from its `timeline.json` and `summary.json`.
pub(crate) fn rerender(dir: &Path) -> Result<(), RerenderError> {
    if !dir.is_dir() {
        return Err(RerenderError::Input(format!(
            "{}: no such report folder",
            dir.display()
        )));
    }
    let t = Timeline::read(&dir.join(crate::timeline::FILE)).map_err(RerenderError::Input)?;
    let s = SummaryView::read(&dir.join("summary.json")).map_err(RerenderError::Input)?;
    write(dir, &t, &s).map_err(|e| RerenderError::Write(format!("{e:#}")))
}

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

fn num(v: f64) -> String {
    let s = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A line on a chart: `(t, value)`, a gap where the value is missing.
struct Line {
    label: String,
    color: RGBColor,
    points: Vec<(f64, Option<f64>)>,
}

impl Line {
    fn new(label: &str, color: RGBColor, points: Vec<(f64, Option<f64>)>) -> Line {
        Line {
            label: label.to_owned(),
            color,
            points,
        }
    }

    /// Runs of consecutive points with a value.
    fn segments(&self) -> Vec<Vec<(f64, f64)>> {
        let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut run = Vec::new();
        for (t, v) in &self.points {
            match v.filter(|v| v.is_finite()) {
                Some(v) => run.push((*t, v)),
                None if !run.is_empty() => out.push(std::mem::take(&mut run)),
                None => {}
            }
        }
        if !run.is_empty() {
            out.push(run);
        }
        out
    }
}

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREEN_: RGBColor = RGBColor(44, 160, 44);
const RED_: RGBColor = RGBColor(214, 39, 40);
const PURPLE: RGBColor = RGBColor(148, 103, 189);
const GREY: RGBColor = RGBColor(127, 127, 127);
const DARK: RGBColor = RGBColor(40, 40, 40);

/// One chart as an SVG document.
fn chart(
    title: &str,
    y_desc: &str,
    x: (f64, f64),
    lines: &[Line],
    markers: &[(Marker, RGBColor)],
) -> anyhow::Result<String> {
    let ymax = lines
        .iter()
        .flat_map(|l| l.points.iter().filter_map(|p| p.1))
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let ymax = if ymax > 0.0 { ymax * 1.15 } else { 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut c = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 17))
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(70)
            .build_cartesian_2d(x.0..x.1, 0.0..ymax)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        c.configure_mesh()
            .x_desc("seconds since the fleet started")
            .y_desc(y_desc)
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for (m, color) in markers {
            c.draw_series(std::iter::once(PathElement::new(
                vec![(m.at_s, 0.0), (m.at_s, ymax)],
                color.stroke_width(1),
            )))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            c.draw_series(std::iter::once(Text::new(
                m.label.clone(),
                // faults' labels below the phases': markers at one time stay readable
                (
                    m.at_s,
                    if *color == RED_ {
                        ymax * 0.86
                    } else {
                        ymax * 0.97
                    },
                ),
                ("sans-serif", 11).into_font().color(color),
            )))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let mut labelled = false;
        for line in lines {
            let color = line.color;
            for (k, seg) in line.segments().into_iter().enumerate() {
                let series = c
                    .draw_series(LineSeries::new(seg, color.stroke_width(2)))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                if k == 0 {
                    labelled = true;
                    series.label(line.label.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                }
            }
        }
        if labelled {
            c.configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(GREY)
                .draw()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(svg)
}

fn status_class(status: &str) -> &'static str {
    match status {
        "pass" | "held" => "pass",
        "fail" | "failed" => "fail",
        _ => "inconclusive",
    }
}

/// The whole page.
pub(crate) fn render(t: &Timeline, s: &SummaryView) -> anyhow::Result<String> {
    let verdict = page_verdict(s, t.leaks.as_ref());
    let mut x1 = t.duration_s.max(t.seconds.len() as f64);
    let mut x0 = 0.0_f64;
    for p in &t.server {
        x0 = x0.min(p.t);
        x1 = x1.max(p.t);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let x = (x0, x1);
    let mut markers: Vec<(Marker, RGBColor)> = t.phases.iter().map(|m| (m.clone(), GREY)).collect();
    markers.extend(t.faults.iter().map(|m| (m.clone(), RED_)));
    let c = &t.seconds;
    let client = |f: fn(&crate::timeline::ClientSecond) -> Option<f64>| -> Vec<(f64, Option<f64>)> {
        c.iter().map(|s| (s.t + 0.5, f(s))).collect()
    };
    let srv = |f: fn(&crate::timeline::ServerPoint) -> Option<f64>| -> Vec<(f64, Option<f64>)> {
        t.server.iter().map(|p| (p.t, f(p))).collect()
    };
    let mut charts = vec![
        chart(
            "Active users and arrivals",
            "users, arrivals/s",
            x,
            &[
                Line::new("active users", BLUE, client(|s| s.users)),
                Line::new("arrivals/s", ORANGE, client(|s| Some(s.arrivals as f64))),
            ],
            &markers,
        )?,
        chart(
            "Requests per second by outcome",
            "requests/s",
            x,
            &[
                Line::new("ok", GREEN_, client(|s| Some(s.ok as f64))),
                Line::new("shed", ORANGE, client(|s| Some(s.shed as f64))),
                Line::new("error", RED_, client(|s| Some(s.error as f64))),
                Line::new("silent", PURPLE, client(|s| Some(s.silent as f64))),
            ],
            &markers,
        )?,
        chart(
            "Latency of 2xx answers (from the intended start)",
            "ms",
            x,
            &[
                Line::new("p50", GREEN_, client(|s| s.p50_ms)),
                Line::new("p95", ORANGE, client(|s| s.p95_ms)),
                Line::new("p99", RED_, client(|s| s.p99_ms)),
            ],
            &markers,
        )?,
    ];
    let server_charts = !t.server.is_empty();
    if server_charts {
        charts.push(chart(
            "Server: requests in flight and shed",
            "requests, shed/s",
            x,
            &[
                Line::new("in flight", BLUE, srv(|p| p.inflight)),
                Line::new("shed/s", ORANGE, srv(|p| p.shed_per_s)),
            ],
            &markers,
        )?);
        charts.push(chart(
            "Database pool: connections in use versus max",
            "connections",
            x,
            // in use drawn last, over max when the pool runs dry
            &[
                Line::new("max", DARK, srv(|p| p.pool_max)),
                Line::new("idle", GREY, srv(|p| p.pool_idle)),
                Line::new("in use", RED_, srv(|p| p.pool_in_use)),
            ],
            &markers,
        )?);
        charts.push(chart(
            "Database pool: acquire waits",
            "ms, timeouts/s",
            x,
            &[
                Line::new("mean wait (ms)", PURPLE, srv(|p| p.acquire_wait_ms)),
                Line::new(
                    "acquire timeouts/s",
                    ORANGE,
                    srv(|p| p.acquire_timeouts_per_s),
                ),
            ],
            &markers,
        )?);
        let mut memory = vec![Line::new(
            "live allocations",
            BLUE,
            srv(|p| p.live_allocations),
        )];
        if let Some(l) = t.leaks.as_ref().filter(|l| !l.trend.is_empty()) {
            let label = l.trend_slope.map_or_else(
                || "fitted trend".to_owned(),
                |s| format!("leak detector's fit: {} allocations/request", num(s)),
            );
            memory.push(Line {
                label,
                color: RED_,
                points: l.trend.iter().map(|(t, v)| (*t, Some(*v))).collect(),
            });
        }
        charts.push(chart(
            "Live heap allocations",
            "allocations",
            x,
            &memory,
            &markers,
        )?);
        charts.push(chart(
            "Resident memory (RSS)",
            "MiB",
            x,
            &[Line::new(
                "RSS",
                PURPLE,
                srv(|p| p.resident_bytes.map(|b| b / 1_048_576.0)),
            )],
            &markers,
        )?);
    }

    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title} — {v}</title><style>{CSS}</style></head><body>\n",
        title = esc(&s.scenario),
        v = verdict.to_uppercase()
    );
    let _ = writeln!(
        h,
        "<header><h1>Spike report: {}</h1><div class=\"badge {cls}\" id=\"verdict\">{}</div></header>",
        esc(&s.scenario),
        verdict.to_uppercase(),
        cls = status_class(verdict)
    );
    let _ = writeln!(
        h,
        "<p class=\"meta\">Started {} against {}; {:.1} s, {} requests, seed {}. \
         SLOs: <b>{}</b>{}. Files: <a href=\"summary.json\">summary.json</a>, \
         <a href=\"summary.md\">summary.md</a>, <a href=\"timeline.json\">timeline.json</a>.</p>",
        esc(&s.started_at),
        esc(&s.target),
        s.duration_s,
        s.requests,
        s.seed,
        esc(&s.verdict.to_uppercase()),
        t.leaks.as_ref().map_or_else(String::new, |l| format!(
            "; leak detectors: <b>{}</b>",
            esc(&l.verdict.to_uppercase())
        ))
    );
    let _ = writeln!(h, "<section class=\"charts\">");
    for svg in &charts {
        let _ = writeln!(h, "<figure>{svg}</figure>");
    }
    if !server_charts {
        let _ = writeln!(
            h,
            "<p class=\"note\">No server figures: {}.</p>",
            esc(t
                .server_note
                .as_deref()
                .unwrap_or("the server was not sampled"))
        );
    }
    let _ = writeln!(h, "</section>");
    verdict_table(&mut h, t, s);
    held_sites(&mut h, t);
    let _ = writeln!(
        h,
        "<footer>Drawn by loadbot from timeline.json and summary.json; redraw with <code>loadbot report DIR</code>.</footer></body></html>"
    );
    Ok(h)
}

fn verdict_table(h: &mut String, t: &Timeline, s: &SummaryView) {
    let _ = writeln!(
        h,
        "<h2>Verdict</h2><table id=\"verdicts\"><thead><tr><th>phase</th><th>check</th>\
         <th>figure</th><th>bound</th><th>result</th></tr></thead><tbody>"
    );
    for p in &s.phases {
        for v in &p.slo {
            let result = if v.held { "held" } else { "failed" };
            let _ = writeln!(
                h,
                "<tr class=\"{cls}\"><td>{} <small>({:.1}-{:.1} s, {} req)</small></td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td></tr>",
                esc(&p.name),
                p.start_s,
                p.end_s,
                p.requests,
                esc(&v.slo),
                match &v.note {
                    Some(n) => format!(
                        "{} <small>({})</small>",
                        v.figure.map_or_else(|| "n/a".to_owned(), num),
                        esc(n)
                    ),
                    None => v.figure.map_or_else(|| "n/a".to_owned(), num),
                },
                esc(&v.op),
                num(v.bound),
                result.to_uppercase(),
                cls = status_class(result)
            );
        }
    }
    for r in &s.self_check.inconclusive {
        let _ = writeln!(
            h,
            "<tr class=\"inconclusive\"><td>whole run</td><td>self-check</td><td colspan=\"2\">{}</td><td>INCONCLUSIVE</td></tr>",
            esc(r)
        );
    }
    if let Some(l) = &t.leaks {
        for (name, bound, f) in [
            (
                "leak: connections",
                "back to 0 in use after load; none held past the leak threshold",
                &l.connections,
            ),
            (
                "leak: memory",
                "live allocations and bytes per request not growing",
                &l.memory,
            ),
            ("leak: tasks", "tokio tasks back to the baseline", &l.tasks),
        ] {
            let _ = writeln!(
                h,
                "<tr class=\"{cls}\"><td>whole run</td><td>{name}</td><td>{}</td><td>{bound}</td><td>{}</td></tr>",
                esc(&f.summary),
                esc(&f.status.to_uppercase()),
                cls = status_class(&f.status)
            );
        }
    }
    let _ = writeln!(h, "</tbody></table>");
}

fn held_sites(h: &mut String, t: &Timeline) {
    let _ = writeln!(h, "<h2>Connections held too long</h2>");
    let Some(l) = &t.leaks else {
        let _ = writeln!(
            h,
            "<p class=\"note\">Not known: the server was not sampled.</p>"
        );
        return;
    };
    if l.held_too_long.is_empty() {
        let _ = writeln!(
            h,
            "<p class=\"note\" id=\"held-sites\">No code site held a connection past the leak threshold.</p>"
        );
        return;
    }
    let _ = writeln!(
        h,
        "<table id=\"held-sites\"><thead><tr><th>code site that took the connection</th><th>held past the threshold</th></tr></thead><tbody>"
    );
    for (site, n) in &l.held_too_long {
        let _ = writeln!(
            h,
            "<tr class=\"fail\"><td><code>{}</code></td><td>{n:.0}</td></tr>",
            esc(site)
        );
    }
    let _ = writeln!(h, "</tbody></table>");
}

const CSS: &str = "body{font-family:sans-serif;margin:24px auto;max-width:1140px;color:#222}\
header{display:flex;align-items:center;gap:20px}h1{font-size:22px;margin:0}\
.badge{padding:6px 18px;border-radius:6px;font-weight:bold;color:#fff;font-size:20px}\
.badge.pass{background:#2ca02c}.badge.fail{background:#d62728}.badge.inconclusive{background:#e8a317}\
.meta,.note{color:#444}figure{margin:6px 0}figure svg{display:block}\
table{border-collapse:collapse;width:100%;font-size:13px;margin-bottom:16px}\
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
tr.pass td:last-child{background:#dff3df;color:#1a661a;font-weight:bold}\
tr.fail td:last-child{background:#f8d7d7;color:#9b1111;font-weight:bold}\
tr.inconclusive td:last-child{background:#fcefd2;color:#8a5a00;font-weight:bold}\
footer{margin-top:20px;color:#777;font-size:12px}";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{ClientSecond, FORMAT, Finding, ServerPoint};

    fn summary(verdict: &str) -> SummaryView {
        SummaryView {
            scenario: "s <1>".into(),
            verdict: verdict.into(),
            started_at: "now".into(),
            target: "http://127.0.0.1:1".into(),
            duration_s: 3.0,
            requests: 10,
            seed: 1,
            phases: vec![PhaseRow {
                name: "peak".into(),
                start_s: 0.0,
                end_s: 3.0,
                requests: 10,
                slo: vec![SloRow {
                    slo: "p99_ms".into(),
                    op: "<=".into(),
                    bound: 1000.0,
                    figure: Some(12.5),
                    held: true,
                    note: None,
                }],
            }],
            self_check: SelfCheckRow::default(),
        }
    }

    fn timeline(leak: &str) -> Timeline {
        let f = |s: &str| Finding {
            status: s.into(),
            summary: "x".into(),
        };
        Timeline {
            format: FORMAT,
            scenario: "s".into(),
            started_at: "now".into(),
            target: "t".into(),
            duration_s: 3.0,
            seconds: (0..3)
                .map(|i| ClientSecond {
                    t: f64::from(i),
                    users: Some(5.0),
                    ok: 3,
                    p50_ms: Some(2.0),
                    ..ClientSecond::default()
                })
                .collect(),
            server: (0..6)
                .map(|i| ServerPoint {
                    t: f64::from(i) * 0.5 - 0.5,
                    pool_in_use: Some(f64::from(i)),
                    pool_max: Some(4.0),
                    ..ServerPoint::default()
                })
                .collect(),
            server_note: None,
            phases: vec![Marker {
                label: "peak".into(),
                at_s: 0.0,
            }],
            faults: vec![],
            leaks: Some(Leaks {
                verdict: leak.into(),
                memory: f("inconclusive"),
                connections: f(leak),
                tasks: f("pass"),
                held_too_long: if leak == "fail" {
                    vec![("chaos leak-connection on /v1/outfits".into(), 3.0)]
                } else {
                    vec![]
                },
                trend: vec![],
                trend_slope: None,
            }),
        }
    }

    #[test]
    fn a_healthy_page_is_green_with_charts_and_escaped_text() {
        let page = render(&timeline("pass"), &summary("pass")).expect("render");
        assert!(page.contains("badge pass"), "{page}");
        assert!(page.contains("s &lt;1&gt;"));
        assert!(page.matches("<svg").count() >= 8);
        assert!(!page.contains("<script") && !page.contains("<link") && !page.contains(" src="));
    }

    #[test]
    fn a_leak_makes_the_page_red_and_names_the_site() {
        let page = render(&timeline("fail"), &summary("pass")).expect("render");
        assert!(page.contains("badge fail"));
        assert!(page.contains("chaos leak-connection on /v1/outfits"));
        assert_eq!(page_verdict(&summary("inconclusive"), None), "inconclusive");
    }
}
