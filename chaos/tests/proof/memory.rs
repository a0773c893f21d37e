//! The memory judge on the real server: a 3-byte leak per request is caught,
//! the same load on a healthy server is not.

use std::time::Duration;

use chaos::{Status, harness::ServerOptions};

use crate::helpers::watch_server;

const LOAD: Duration = Duration::from_secs(25);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_byte_leak_per_request_is_caught_within_a_minute_of_load() {
    let opts = ServerOptions {
        faults: vec!["leak-memory:bytes=3".into()],
        ..ServerOptions::default()
    };
    let (report, stats) = watch_server(opts, LOAD, 1_000_000, None).await;
    assert_eq!(
        report.memory.status,
        Status::Fail,
        "{}",
        report.memory.summary
    );
    let a = report
        .memory
        .allocations
        .as_ref()
        .expect("allocation trend");
    // every hooked request leaks one allocation; /healthz (1 in 5 of the mix) is
    // outside the hooks, and the watcher's scrapes are not counted as requests
    assert!((0.7..=1.1).contains(&a.slope), "{a:?} after {stats:?}");
    assert!(
        report.memory.summary.contains("runs out in"),
        "{}",
        report.memory.summary
    );
    assert!(report.memory.summary.contains("live allocations grow"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_load_on_a_healthy_server_is_not_flagged() {
    let (report, _) = watch_server(ServerOptions::default(), LOAD, 1_000_000, None).await;
    assert_eq!(
        report.memory.status,
        Status::Pass,
        "{}",
        report.memory.summary
    );
    assert_eq!(
        report.tasks.status,
        Status::Pass,
        "{}",
        report.tasks.summary
    );
    assert_eq!(
        report.connections.status,
        Status::Pass,
        "{}",
        report.connections.summary
    );
}
