//! The memory-leak fault hook on the real server binary, in a process of its
//! own: the allocation counter is process-wide, so in the in-process API suite
//! every other test's allocations would land in the same figure.

use std::time::Duration;

use serde_json::{Value, json};

mod common;

const ADMIN: &str = "admin-token-for-tests-0123456789";

/// Live allocations in the server after `n` requests to one garment, minus before.
async fn growth(client: &reqwest::Client, base: &str, n: usize) -> f64 {
    let live = |text: String| {
        text.lines()
            .find_map(|l| l.strip_prefix("allocator_live_allocations "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .expect("allocator_live_allocations in /metrics")
    };
    let metrics = || async {
        client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    };
    let before = live(metrics().await);
    for _ in 0..n {
        let r = client
            .get(format!("{base}/v1/garments/1"))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200);
    }
    live(metrics().await) - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_leak_fault_added_through_the_admin_api_leaks_one_allocation_per_request() {
    let dir = tempfile::tempdir().expect("folder");
    let url = format!("sqlite://{}", dir.path().join("leak.db").display());
    let (child, base, _) =
        common::start_server(&url, &["--chaos"], &[("APP_ADMIN_TOKEN", ADMIN)]).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    growth(&client, &base, 1_000).await; // warm-up: pools, caches, statement caches
    let healthy = growth(&client, &base, 1_000).await;
    let added = client
        .post(format!("{base}/admin/chaos/faults"))
        .bearer_auth(ADMIN)
        .json(&json!({"spec": "leak-memory:bytes=3,route=/v1/garments/{id}"}))
        .send()
        .await
        .expect("admin");
    assert_eq!(added.status().as_u16(), 201);
    let leaking = growth(&client, &base, 1_000).await;
    assert!(
        (900.0..=1_100.0).contains(&(leaking - healthy)),
        "healthy grew {healthy}, leaking grew {leaking}: expected one allocation per request"
    );
    let list: Value = client
        .get(format!("{base}/admin/chaos/faults"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["faults"][0]["requests"], 1_000);
    drop(child);
}
