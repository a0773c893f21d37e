//! Reading the server's `/metrics` (Prometheus text format) into a [`Sample`].
//!
//! The parser is lenient: a line it cannot read is skipped, never a panic.
//! Label values may hold spaces, braces and escaped quotes (a code site such as
//! `chaos leak-connection on /v1/garments/{id}` does).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::dbview::DbSample;

/// One series: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Series {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses the text format; comments and malformed lines are skipped.
pub fn parse(text: &str) -> Vec<Series> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Series> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        let mut key = String::new();
        loop {
            let (i, c) = chars.next()?;
            match c {
                '}' => {
                    rest = &body[i + 1..];
                    break;
                }
                ',' | ' ' => {}
                '=' => {
                    if chars.next()?.1 != '"' {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                other => key.push(other),
            }
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Series {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Routes whose requests are not load (the watcher's own scrapes).
const NOT_LOAD: &[&str] = &["/metrics"];

/// What the detectors read from one scrape (and the database's view at the same time).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the watch started.
    pub at_s: f64,
    /// `http_requests_total` summed over routes and statuses, without `/metrics`.
    pub requests: f64,
    pub live_allocations: Option<f64>,
    pub allocated_bytes: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub alive_tasks: Option<f64>,
    pub pool_in_use: Option<f64>,
    pub pool_idle: Option<f64>,
    pub pool_max: Option<f64>,
    pub acquire_timeouts: Option<f64>,
    /// `db_pool_held_too_long_total` by site.
    pub held_too_long: BTreeMap<String, f64>,
    /// The database's own view, when a database URL was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<DbSample>,
}

impl Sample {
    /// Reads a scrape taken `at_s` seconds into the watch.
    pub fn from_text(at_s: f64, text: &str) -> Sample {
        let mut s = Sample {
            at_s,
            ..Sample::default()
        };
        for series in parse(text) {
            let v = Some(series.value);
            match series.name.as_str() {
                "http_requests_total"
                    if !series.label("route").is_some_and(|r| NOT_LOAD.contains(&r)) =>
                {
                    s.requests += series.value;
                }
                "allocator_live_allocations" => s.live_allocations = v,
                "allocator_allocated_bytes" => s.allocated_bytes = v,
                "process_resident_memory_bytes" => s.resident_bytes = v,
                "tokio_alive_tasks" => s.alive_tasks = v,
                "db_pool_max_connections" => s.pool_max = v,
                "db_pool_acquire_timeouts_total" => s.acquire_timeouts = v,
                "db_pool_connections" => match series.label("state") {
                    Some("in_use") => s.pool_in_use = v,
                    Some("idle") => s.pool_idle = v,
                    _ => {}
                },
                "db_pool_held_too_long_total" => {
                    let site = series.label("site").unwrap_or("unknown site");
                    *s.held_too_long.entry(site.to_string()).or_default() += series.value;
                }
                _ => {}
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TEXT: &str = r#"# HELP http_requests_total HTTP requests answered
# TYPE http_requests_total counter
http_requests_total{route="/v1/garments/{id}",status="200"} 120
http_requests_total{route="/metrics",status="200"} 7
http_requests_total{route="/healthz",status="200"} 3
db_pool_connections{state="idle"} 2
db_pool_connections{state="in_use"} 4
db_pool_held_too_long_total{site="chaos leak-connection on /v1/garments/{id}"} 4
db_pool_held_too_long_total{site="src/store/a \"quoted\", b.rs:10"} 1
allocator_live_allocations 123456
tokio_alive_tasks 9
http_request_duration_seconds_bucket{route="/x",le="+Inf"} 5
"#;

    #[test]
    fn a_scrape_becomes_a_sample_without_the_watchers_own_requests() {
        let s = Sample::from_text(1.5, TEXT);
        assert_eq!(s.requests, 123.0);
        assert_eq!(s.pool_in_use, Some(4.0));
        assert_eq!(s.pool_idle, Some(2.0));
        assert_eq!(s.live_allocations, Some(123_456.0));
        assert_eq!(s.alive_tasks, Some(9.0));
        assert_eq!(
            s.held_too_long
                .get("chaos leak-connection on /v1/garments/{id}"),
            Some(&4.0)
        );
        assert_eq!(
            s.held_too_long.get("src/store/a \"quoted\", b.rs:10"),
            Some(&1.0)
        );
        assert_eq!(s.allocated_bytes, None);
    }

    #[test]
    fn infinities_and_timestamps_parse() {
        let v = parse("a{le=\"+Inf\"} +Inf 1700000000\nb 2.5e3 17\n");
        assert_eq!(v[0].value, f64::INFINITY);
        assert_eq!(v[1].value, 2500.0);
    }

    proptest! {
        #[test]
        fn any_text_parses_without_panicking(text in ".{0,300}") {
            let _ = Sample::from_text(0.0, &text);
        }

        #[test]
        fn any_label_value_round_trips(value in "[ -~]{0,40}", n in 0u32..1_000_000) {
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            let line = format!("db_pool_held_too_long_total{{site=\"{escaped}\"}} {n}");
            let s = Sample::from_text(0.0, &line);
            prop_assert_eq!(s.held_too_long.get(&value), Some(&f64::from(n)));
        }
    }
}
