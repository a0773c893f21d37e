//! Tracing subscriber and Prometheus metrics.
//!
//! Metric names follow DESIGN.md's contract; the leak detectors and the release
//! gate read them, so renaming one is a change on both sides.

use std::{io::IsTerminal, sync::Arc};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::LogFormat;

/// Installs the global tracing subscriber (`RUST_LOG` filters; default `info`).
/// Logs go to stderr so stdout stays free for the `listening on` line.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Human => registry
            .with(
                fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // a second call (tests) keeps the first subscriber
    drop(result);
}

/// Buckets of `db_pool_hold_seconds`: a query's 100 µs up to a hold near the leak threshold.
const HOLD_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Every metric the server exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub http_inflight: IntGauge,
    pub http_shed: IntCounterVec,
    /// Server-side time to a shed answer: tells the server's part of a slow shed from the client's.
    pub http_shed_duration: Histogram,
    /// Requests waiting for a slot: a queue that stays up while nothing waits is a leaked count.
    pub http_queue_depth: IntGauge,
    /// Served connections: tells a connection pile-up (slow or idle clients) from request load.
    pub http_open_connections: IntGauge,
    /// Every poll of an admitted handler, by route: a blocking call shows up as long polls.
    pub http_poll_duration: HistogramVec,
    /// Each request's longest poll, by route: names the route that stalls a worker thread.
    pub http_request_max_poll: HistogramVec,
    /// How late a 10 ms timer fires: the workers' stall as every task feels it.
    pub scheduler_lag: Histogram,
    pub pool_connections: IntGaugeVec,
    pub pool_max: IntGauge,
    pub pool_acquire: HistogramVec,
    pub pool_acquire_timeouts: IntCounter,
    pub pool_held_too_long: IntCounterVec,
    /// How long each site holds its connection: finds the site that starves the pool before it leaks.
    pub pool_hold: HistogramVec,
    pub resident_memory: IntGauge,
    pub allocated_bytes: IntGauge,
    pub live_allocations: IntGauge,
    pub alive_tasks: IntGauge,
    pub outfits_generated: IntCounter,
    pub feature_enabled: IntGaugeVec,
    pub catalog_garments: IntGauge,
    pub rate_limited: IntCounterVec,
    pub rate_limit_tracked: IntGauge,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let registry = Registry::new();
        let latency_buckets = vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        // a poll past a millisecond or two is a worker thread taken from every other task
        let poll_buckets = crate::polltime::POLL_BUCKETS.to_vec();
        let m = Metrics {
            http_requests: IntCounterVec::new(
                Opts::new("http_requests_total", "HTTP requests answered"),
                &["route", "status"],
            )
            .expect("valid metric"),
            http_duration: HistogramVec::new(
                HistogramOpts::new("http_request_duration_seconds", "Time to answer")
                    .buckets(latency_buckets.clone()),
                &["route"],
            )
            .expect("valid metric"),
            http_inflight: IntGauge::new("http_inflight_requests", "Requests being executed")
                .expect("valid metric"),
            http_shed: IntCounterVec::new(
                Opts::new(
                    "http_shed_total",
                    "Requests answered 503 without doing the work",
                ),
                &["reason"],
            )
            .expect("valid metric"),
            http_shed_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "http_shed_duration_seconds",
                    "Time to answer a request that was shed, from its arrival at the router",
                )
                .buckets(latency_buckets.clone()),
            )
            .expect("valid metric"),
            http_queue_depth: IntGauge::new(
                "http_queue_depth",
                "Requests waiting for an execution slot",
            )
            .expect("valid metric"),
            http_open_connections: IntGauge::new("http_open_connections", "HTTP connections open")
                .expect("valid metric"),
            http_poll_duration: HistogramVec::new(
                HistogramOpts::new(
                    "http_poll_duration_seconds",
                    "Time of each poll of an admitted request's handler",
                )
                .buckets(poll_buckets.clone()),
                &["route"],
            )
            .expect("valid metric"),
            http_request_max_poll: HistogramVec::new(
                HistogramOpts::new(
                    "http_request_max_poll_seconds",
                    "Longest poll of each admitted request's handler",
                )
                .buckets(poll_buckets.clone()),
                &["route"],
            )
            .expect("valid metric"),
            scheduler_lag: Histogram::with_opts(
                HistogramOpts::new(
                    "tokio_scheduler_lag_seconds",
                    "How late a 10 ms sleep wakes, past its 10 ms",
                )
                .buckets(poll_buckets),
            )
            .expect("valid metric"),
            pool_connections: IntGaugeVec::new(
                Opts::new("db_pool_connections", "Pooled database connections"),
                &["state"],
            )
            .expect("valid metric"),
            pool_max: IntGauge::new("db_pool_max_connections", "Pool size limit")
                .expect("valid metric"),
            pool_acquire: HistogramVec::new(
                HistogramOpts::new("db_pool_acquire_seconds", "Wait for a pooled connection")
                    .buckets(latency_buckets),
                &[],
            )
            .expect("valid metric"),
            pool_acquire_timeouts: IntCounter::new(
                "db_pool_acquire_timeouts_total",
                "Acquires that gave up waiting",
            )
            .expect("valid metric"),
            pool_held_too_long: IntCounterVec::new(
                Opts::new(
                    "db_pool_held_too_long_total",
                    "Connections held past the leak threshold, by the code site that took them",
                ),
                &["site"],
            )
            .expect("valid metric"),
            pool_hold: HistogramVec::new(
                HistogramOpts::new(
                    "db_pool_hold_seconds",
                    "Time a pooled connection was held, by the code site that took it",
                )
                .buckets(HOLD_BUCKETS.to_vec()),
                &["site"],
            )
            .expect("valid metric"),
            resident_memory: IntGauge::new("process_resident_memory_bytes", "Resident set size")
                .expect("valid metric"),
            allocated_bytes: IntGauge::new(
                "allocator_allocated_bytes",
                "Bytes live in the heap (requested sizes)",
            )
            .expect("valid metric"),
            live_allocations: IntGauge::new(
                "allocator_live_allocations",
                "Heap allocations not yet freed",
            )
            .expect("valid metric"),
            alive_tasks: IntGauge::new("tokio_alive_tasks", "Tokio tasks alive")
                .expect("valid metric"),
            outfits_generated: IntCounter::new("outfits_generated_total", "Outfits returned")
                .expect("valid metric"),
            feature_enabled: IntGaugeVec::new(
                Opts::new("feature_enabled", "1 when an experimental feature is on"),
                &["name"],
            )
            .expect("valid metric"),
            catalog_garments: IntGauge::new("catalog_garments", "Garments in the engine's catalog")
                .expect("valid metric"),
            rate_limited: IntCounterVec::new(
                Opts::new(
                    "http_rate_limited_total",
                    "Writes answered 429 because the user's write budget was spent",
                ),
                &["route"],
            )
            .expect("valid metric"),
            rate_limit_tracked: IntGauge::new(
                "rate_limit_tracked_users",
                "Users with a write bucket in the fixed-size rate limit table",
            )
            .expect("valid metric"),
            registry,
        };
        m.register_all();
        Arc::new(m)
    }

    fn register_all(&self) {
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.http_requests.clone()),
            Box::new(self.http_duration.clone()),
            Box::new(self.http_inflight.clone()),
            Box::new(self.http_shed.clone()),
            Box::new(self.http_shed_duration.clone()),
            Box::new(self.http_queue_depth.clone()),
            Box::new(self.http_open_connections.clone()),
            Box::new(self.http_poll_duration.clone()),
            Box::new(self.http_request_max_poll.clone()),
            Box::new(self.scheduler_lag.clone()),
            Box::new(self.pool_connections.clone()),
            Box::new(self.pool_max.clone()),
            Box::new(self.pool_acquire.clone()),
            Box::new(self.pool_acquire_timeouts.clone()),
            Box::new(self.pool_held_too_long.clone()),
            Box::new(self.pool_hold.clone()),
            Box::new(self.resident_memory.clone()),
            Box::new(self.allocated_bytes.clone()),
            Box::new(self.live_allocations.clone()),
            Box::new(self.alive_tasks.clone()),
            Box::new(self.outfits_generated.clone()),
            Box::new(self.feature_enabled.clone()),
            Box::new(self.catalog_garments.clone()),
            Box::new(self.rate_limited.clone()),
            Box::new(self.rate_limit_tracked.clone()),
        ];
        for c in collectors {
            self.registry.register(c).expect("metric names are unique");
        }
        // show the shed reasons from the start, so a scrape sees zeros, not absences
        for reason in [
            "queue_full",
            "queue_timeout",
            "deadline",
            "pool_timeout",
            "db_busy",
        ] {
            self.http_shed.with_label_values(&[reason]);
        }
        for state in ["in_use", "idle"] {
            self.pool_connections.with_label_values(&[state]);
        }
    }

    /// Registers a collector that exists only with some feature on (the taste model's).
    pub fn register(
        &self,
        collector: Box<dyn prometheus::core::Collector>,
    ) -> prometheus::Result<()> {
        self.registry.register(collector)
    }

    /// Samples process-wide gauges (memory, tasks) and renders the text format.
    pub fn render(&self) -> String {
        if let Some(rss) = crate::alloc::resident_bytes() {
            self.resident_memory.set(rss as i64);
        }
        if let Some(stats) = crate::alloc::stats() {
            self.allocated_bytes.set(stats.live_bytes);
            self.live_allocations.set(stats.live_allocations);
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            self.alive_tasks
                .set(handle.metrics().num_alive_tasks() as i64);
        }
        let mut out = Vec::with_capacity(8 * 1024);
        let families = self.registry.gather();
        if TextEncoder::new().encode(&families, &mut out).is_err() {
            return String::new();
        }
        let mut text = String::from_utf8(out).unwrap_or_default();
        // a labelled family with no series yet is omitted by the encoder; name
        // it anyway so a scraper can tell "zero so far" from "not exported"
        for (name, help, kind) in [
            (
                "db_pool_held_too_long_total",
                "Connections held past the leak threshold, by the code site that took them",
                "counter",
            ),
            (
                "http_rate_limited_total",
                "Writes answered 429 because the user's write budget was spent",
                "counter",
            ),
            (
                "db_pool_hold_seconds",
                "Time a pooled connection was held, by the code site that took it",
                "histogram",
            ),
            (
                "http_poll_duration_seconds",
                "Time of each poll of an admitted request's handler",
                "histogram",
            ),
            (
                "http_request_max_poll_seconds",
                "Longest poll of each admitted request's handler",
                "histogram",
            ),
        ] {
            if !text.contains(&format!("# TYPE {name} ")) {
                text.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            }
        }
        text
    }
}
