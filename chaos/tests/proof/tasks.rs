//! The task judge on the real server: a task leaked once per N requests (a
//! background job nobody ends) keeps the alive-task count up after load and
//! fails; the healthy twin is `memory::the_same_load_on_a_healthy_server_is_not_flagged`,
//! which asserts the task judge passes on the same load.

use std::time::Duration;

use chaos::{Status, harness::ServerOptions};

use crate::helpers::watch_server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_leaked_once_per_n_requests_fails_the_task_judge() {
    let opts = ServerOptions {
        faults: vec!["leak-task:every=100,route=/v1/garments/{id}".into()],
        ..ServerOptions::default()
    };
    let (report, stats) = watch_server(opts, Duration::from_secs(8), 3_000, None).await;
    let t = &report.tasks;
    assert_eq!(t.status, Status::Fail, "{}", t.summary);
    // about 3 in 5 requests hit the route: at least a dozen tasks stay alive
    assert!(stats.sent >= 2_000, "{stats:?}");
    assert!(t.summary.contains("task"), "{}", t.summary);
    // the other judges are not fooled into blaming memory or connections
    assert_eq!(
        report.connections.status,
        Status::Pass,
        "{}",
        report.connections.summary
    );
}
