//! The overload contract: far more concurrent requests than the server takes;
//! every one is answered (200, or 503 with `Retry-After` and the JSON body)
//! within the deadline plus a margin. None is left silent.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::Value;

use crate::helpers::{Backend, metric_value, spawn_app_with};

on_each_backend!(every_request_beyond_capacity_is_answered_in_time);

const CONCURRENT: usize = 600;
const DEADLINE_MS: u64 = 1_000;
/// Scheduling on a loaded 2-core machine; well below the client's timeout.
const MARGIN: Duration = Duration::from_millis(1_500);

async fn every_request_beyond_capacity_is_answered_in_time(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.overload.max_inflight = 2;
        s.overload.max_queue = 4;
        s.overload.queue_timeout_ms = 5;
        s.overload.request_deadline_ms = DEADLINE_MS;
        s.pool.acquire_timeout_ms = 500;
    })
    .await;
    let token = app.onboarded_user().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let started = Instant::now();
    let requests = (0..CONCURRENT).map(|i| {
        let client = client.clone();
        let url = app.url(&format!("/v1/outfits?count=20&seed={i}"));
        let token = token.clone();
        async move {
            let sent = Instant::now();
            let r = client.get(url).bearer_auth(token).send().await;
            (r, sent.elapsed())
        }
    });
    let results = join_all(requests).await;
    let wall = started.elapsed();
    let (mut ok, mut shed) = (0, 0);
    for (result, took) in results {
        let r = result.unwrap_or_else(|e| panic!("a request got no answer: {e}"));
        assert!(
            took <= Duration::from_millis(DEADLINE_MS) + MARGIN,
            "answered after {took:?}"
        );
        match r.status().as_u16() {
            200 => ok += 1,
            503 => {
                let retry = r
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                assert!(retry.is_some_and(|s| s >= 1), "503 without Retry-After");
                let body: Value = r.json().await.expect("503 body is JSON");
                let code = body["error"].as_str().expect("error");
                assert!(
                    code == "overloaded" || code == "deadline_exceeded",
                    "{body}"
                );
                assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
                assert!(body["retry_after_s"].as_u64().is_some_and(|s| s >= 1));
                shed += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok + shed, CONCURRENT);
    assert!(ok > 0, "nothing was served");
    assert!(shed > 0, "nothing was shed: the limit did not bite");
    let text = app.metrics().await;
    let counted: f64 = [
        "queue_full",
        "queue_timeout",
        "deadline",
        "pool_timeout",
        "db_busy",
    ]
    .iter()
    .filter_map(|r| metric_value(&text, &format!("http_shed_total{{reason=\"{r}\"}}")))
    .sum();
    assert_eq!(counted, shed as f64, "every shed answer is counted once");
    eprintln!("{CONCURRENT} requests: {ok} served, {shed} shed, wall {wall:?}");
    app.stop().await;
}
