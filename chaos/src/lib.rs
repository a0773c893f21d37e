//! Spikeproof's chaos tooling: break the network on purpose, and catch what
//! leaks when the server is pushed.
//!
//! - A TCP fault proxy with Toxiproxy's HTTP API ([`proxy`]): latency,
//!   bandwidth, slow close, timeout, reset, slicer and data-limit toxics per
//!   direction, and enable/disable to cut the link. Toxiproxy clients work
//!   against `chaos proxy`; tests and scenarios use [`proxy::Proxy`] directly.
//! - Leak detectors ([`detect`]) fed by a sampler ([`watch`]) of the server's
//!   `/metrics` and the database's own view ([`dbview`]): connections back to
//!   zero and agreeing with the database (naming any code site that held one too
//!   long), memory growth per request judged by robust statistics ([`stats`]),
//!   tokio tasks back to baseline (a leak told from a slow drain), and every
//!   in-use gauge back by one rule.
//! - Judges the release gate calls on its own: memory retained at settled
//!   points between rounds of load, connection holds per code site by
//!   Little's law against the fleet's pools, stalls of the async workers per
//!   route, and projections of per-request costs to the production peak.
//!
//! Layout:
//!
//! ```text
//! src/proxy/mod.rs     Proxy (start, toxics, enable/disable) and Registry
//! src/proxy/toxic.rs   toxic types and parameters, Toxiproxy's JSON shape
//! src/proxy/link.rs    one proxied connection: two pumps through the toxics
//! src/proxy/api.rs     Toxiproxy-compatible HTTP API (axum)
//! src/metrics.rs       Prometheus text -> Sample (+ metrics/histogram.rs)
//! src/heap.rs          the server's pprof heap profiles: decode, diff, name the growing site
//! src/dbview.rs        pg_stat_activity / PROCESSLIST views
//! src/dbserver.rs      private PostgreSQL/MariaDB servers to stop, kill -9 and restart
//! src/stats.rs         Theil-Sen, block bootstrap CI, Mann-Kendall (+ tests in stats/)
//! src/detect/          memory, connections, tasks, gauges, holds, stalls,
//!                      projection judges and the Report (+ tests/)
//! src/watch.rs         the sampler: Watch::start, mark load, finish -> Report
//! src/harness.rs       the real outfit-server as a child process, bounded load
//! src/main.rs          `chaos proxy` and `chaos watch`
//! tests/proof/         proof tests against the real server and real sockets
//! examples/false_alarms.rs  benchmark: false alarms on a healthy server, smallest leak caught
//! ```

pub mod dbserver;
pub mod dbview;
pub mod detect;
pub mod harness;
pub mod heap;
pub mod metrics;
pub mod proxy;
pub mod stats;
pub mod watch;

pub use detect::{
    Budgets, GaugesFinding, HoldFinding, PerRequestCosts, Projection, Report, SettledFinding,
    SettledPoint, StallFinding, Status, judge_holds, judge_settled, judge_stalls, project,
};
pub use metrics::{Histogram, Sample};
pub use proxy::{Proxy, Stream, Toxic, ToxicKind};
pub use watch::{Watch, WatchConfig};
