//! Reading the server's `/metrics` (Prometheus text format) into a [`Sample`].
//!
//! The parser is lenient: a line it cannot read is skipped, never a panic.
//! Label values may hold spaces, braces and escaped quotes (a code site such as
//! `chaos leak-connection on /v1/garments/{id}` does). Histograms are gathered
//! from their `_bucket`, `_sum` and `_count` lines into a [`Histogram`] per label.

mod histogram;

use std::collections::BTreeMap;

use serde::Serialize;

pub use histogram::Histogram;

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

/// Which part of a histogram a series is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    Bucket(f64),
    Sum,
    Count,
}

/// The part of histogram `base` that `series` is, if it is one.
fn histogram_part(series: &Series, base: &str) -> Option<Part> {
    let suffix = series.name.strip_prefix(base)?;
    match suffix {
        "_bucket" => {
            let le = match series.label("le")? {
                "+Inf" | "Inf" | "+inf" => f64::INFINITY,
                v => v.parse().ok()?,
            };
            Some(Part::Bucket(le))
        }
        "_sum" => Some(Part::Sum),
        "_count" => Some(Part::Count),
        _ => None,
    }
}

fn add_part(h: &mut Histogram, part: Part, value: f64) {
    match part {
        Part::Bucket(le) => h.insert_bucket(le, value),
        Part::Sum => h.sum = value,
        Part::Count => h.count = value,
    }
}

type HistogramMap = BTreeMap<String, Histogram>;
/// Where a [`Sample`] keeps one family of keyed histograms.
type HistogramSlot = fn(&mut Sample) -> &mut HistogramMap;

/// Histograms keyed by one label: name, label, and where a [`Sample`] keeps them.
const KEYED_HISTOGRAMS: &[(&str, &str, HistogramSlot)] = &[
    ("db_pool_hold_seconds", "site", |s| &mut s.hold_seconds),
    ("http_poll_duration_seconds", "route", |s| {
        &mut s.poll_seconds
    }),
    ("http_request_max_poll_seconds", "route", |s| {
        &mut s.max_poll_seconds
    }),
];
const SCHEDULER_LAG: &str = "tokio_scheduler_lag_seconds";

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
    /// `http_inflight_requests`: requests executing now.
    pub inflight: Option<f64>,
    /// `http_queue_depth`: requests waiting for an execution slot.
    pub queue_depth: Option<f64>,
    /// `http_open_connections`: client connections open (the watcher's own among them).
    pub open_connections: Option<f64>,
    /// `process_cpu_seconds_total`, when exported (for CPU per request).
    pub cpu_seconds: Option<f64>,
    /// `http_requests_total` summed over statuses per route, without `/metrics`.
    pub requests_by_route: BTreeMap<String, f64>,
    /// `db_pool_hold_seconds` by acquiring code site: how long connections were held.
    #[serde(skip)]
    pub hold_seconds: BTreeMap<String, Histogram>,
    /// `http_poll_duration_seconds` by route: every poll of a request future.
    #[serde(skip)]
    pub poll_seconds: BTreeMap<String, Histogram>,
    /// `http_request_max_poll_seconds` by route: each request's longest poll.
    #[serde(skip)]
    pub max_poll_seconds: BTreeMap<String, Histogram>,
    /// `tokio_scheduler_lag_seconds`: how late a 10 ms sleep woke (the runtime's lag).
    #[serde(skip)]
    pub scheduler_lag: Option<Histogram>,
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
            if s.add_histogram_series(&series) {
                continue;
            }
            match series.name.as_str() {
                "http_requests_total"
                    if !series.label("route").is_some_and(|r| NOT_LOAD.contains(&r)) =>
                {
                    s.requests += series.value;
                    let route = series.label("route").unwrap_or("unknown route");
                    *s.requests_by_route.entry(route.to_string()).or_default() += series.value;
                }
                "http_inflight_requests" => s.inflight = v,
                "http_queue_depth" => s.queue_depth = v,
                "http_open_connections" => s.open_connections = v,
                "process_cpu_seconds_total" => s.cpu_seconds = v,
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

    /// Files a histogram's `_bucket`/`_sum`/`_count` line; false when `series` is none of them.
    fn add_histogram_series(&mut self, series: &Series) -> bool {
        if let Some(part) = histogram_part(series, SCHEDULER_LAG) {
            add_part(
                self.scheduler_lag.get_or_insert_with(Histogram::default),
                part,
                series.value,
            );
            return true;
        }
        for &(base, key, map) in KEYED_HISTOGRAMS {
            let Some(part) = histogram_part(series, base) else {
                continue;
            };
            let map = map(self);
            let label = series.label(key).unwrap_or("unknown");
            add_part(
                map.entry(label.to_string()).or_default(),
                part,
                series.value,
            );
            return true;
        }
        false
    }

    /// Drops the histograms (the watcher keeps them only where a judge reads them).
    pub fn strip_histograms(&mut self) {
        self.hold_seconds.clear();
        self.poll_seconds.clear();
        self.max_poll_seconds.clear();
        self.scheduler_lag = None;
    }

    /// Requests per route between `earlier` and this sample.
    pub fn requests_since(&self, earlier: &Sample) -> BTreeMap<String, f64> {
        self.requests_by_route
            .iter()
            .map(|(route, n)| {
                let before = earlier.requests_by_route.get(route).copied().unwrap_or(0.0);
                (route.clone(), (n - before).max(0.0))
            })
            .filter(|(_, n)| *n > 0.0)
            .collect()
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

    const HISTOGRAMS: &str = r#"http_requests_total{route="/v1/outfits",status="200"} 90
http_requests_total{route="/v1/outfits",status="503"} 10
http_requests_total{route="/v1/garments/{id}",status="200"} 5
http_requests_total{route="/metrics",status="200"} 40
http_inflight_requests 2
http_queue_depth 0
http_open_connections 3
process_cpu_seconds_total 1.25
db_pool_hold_seconds_bucket{site="store::outfits:42",le="0.001"} 60
db_pool_hold_seconds_bucket{site="store::outfits:42",le="0.01"} 95
db_pool_hold_seconds_bucket{site="store::outfits:42",le="+Inf"} 100
db_pool_hold_seconds_sum{site="store::outfits:42"} 0.4
db_pool_hold_seconds_count{site="store::outfits:42"} 100
http_request_max_poll_seconds_bucket{route="/v1/outfits",le="0.01"} 99
http_request_max_poll_seconds_bucket{route="/v1/outfits",le="0.005"} 97
http_request_max_poll_seconds_bucket{route="/v1/outfits",le="+Inf"} 100
http_request_max_poll_seconds_count{route="/v1/outfits"} 100
http_poll_duration_seconds_bucket{route="/v1/outfits",le="+Inf"} 700
tokio_scheduler_lag_seconds_bucket{le="0.001"} 30
tokio_scheduler_lag_seconds_bucket{le="+Inf"} 31
tokio_scheduler_lag_seconds_sum 0.02
tokio_scheduler_lag_seconds_count 31
"#;

    #[test]
    fn gauges_routes_and_histograms_are_read_per_label() {
        let s = Sample::from_text(0.0, HISTOGRAMS);
        assert_eq!(s.requests, 105.0);
        assert_eq!(s.requests_by_route.get("/v1/outfits"), Some(&100.0));
        assert_eq!(s.requests_by_route.get("/v1/garments/{id}"), Some(&5.0));
        assert!(!s.requests_by_route.contains_key("/metrics"));
        assert_eq!(
            (s.inflight, s.queue_depth, s.open_connections, s.cpu_seconds),
            (Some(2.0), Some(0.0), Some(3.0), Some(1.25))
        );
        let hold = &s.hold_seconds["store::outfits:42"];
        assert_eq!(hold.count, 100.0);
        assert_eq!(hold.buckets.len(), 3);
        // buckets out of order are sorted by le
        let max_poll = &s.max_poll_seconds["/v1/outfits"];
        assert_eq!(
            max_poll.buckets,
            vec![(0.005, 97.0), (0.01, 99.0), (f64::INFINITY, 100.0)]
        );
        assert_eq!(max_poll.count_above(0.005), 3.0);
        assert_eq!(s.poll_seconds["/v1/outfits"].total(), 700.0);
        assert_eq!(s.scheduler_lag.as_ref().map(|h| h.count), Some(31.0));
        let mut stripped = s.clone();
        stripped.strip_histograms();
        assert!(stripped.hold_seconds.is_empty() && stripped.scheduler_lag.is_none());
        assert_eq!(stripped.requests_by_route, s.requests_by_route);
    }

    #[test]
    fn requests_since_an_earlier_sample_are_counted_per_route() {
        let before =
            Sample::from_text(0.0, "http_requests_total{route=\"/a\",status=\"200\"} 10\n");
        let after = Sample::from_text(
            1.0,
            "http_requests_total{route=\"/a\",status=\"200\"} 25\nhttp_requests_total{route=\"/b\",status=\"200\"} 5\n",
        );
        let d = after.requests_since(&before);
        assert_eq!(d.get("/a"), Some(&15.0));
        assert_eq!(d.get("/b"), Some(&5.0));
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
        fn any_histogram_lines_parse_without_panicking(
            lines in proptest::collection::vec(
                ("(db_pool_hold_seconds|http_request_max_poll_seconds|tokio_scheduler_lag_seconds)(_bucket|_sum|_count|)",
                 "[a-z:+I0-9.e-]{0,8}", "-?[0-9.e+]{0,8}|NaN|\\+Inf"),
                0..20,
            )
        ) {
            let text: String = lines
                .iter()
                .map(|(name, le, v)| format!("{name}{{site=\"s\",route=\"r\",le=\"{le}\"}} {v}\n"))
                .collect();
            let s = Sample::from_text(0.0, &text);
            for h in s.hold_seconds.values().chain(s.max_poll_seconds.values()) {
                let _ = (h.quantile(0.99), h.count_above(0.01), h.delta(h), h.mean());
            }
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
