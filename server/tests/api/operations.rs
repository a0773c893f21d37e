//! Health, readiness, metrics, shutdown.

use serde_json::Value;

use crate::helpers::{Backend, metric_value, spawn_app};

on_each_backend!(
    health_and_readiness_answer,
    metrics_export_every_name_of_the_contract,
    shutdown_stops_accepting_connections,
);

async fn health_and_readiness_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["status"], "ready");
    assert_eq!(
        body["garments"].as_u64(),
        Some(crate::helpers::TEST_GARMENTS as u64)
    );
    app.stop().await;
}

async fn metrics_export_every_name_of_the_contract(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.onboarded_user().await;
    assert_eq!(app.get("/v1/outfits?count=3", &token).await.status(), 200);
    let text = app.metrics().await;
    for name in [
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "http_inflight_requests",
        "http_shed_total",
        "db_pool_connections",
        "db_pool_max_connections",
        "db_pool_acquire_seconds_bucket",
        "db_pool_acquire_timeouts_total",
        "db_pool_held_too_long_total",
        "db_pool_hold_seconds_bucket",
        "http_queue_depth",
        "http_open_connections",
        "http_poll_duration_seconds_bucket",
        "http_request_max_poll_seconds_bucket",
        "tokio_scheduler_lag_seconds_bucket",
        "process_resident_memory_bytes",
        "allocator_allocated_bytes",
        "allocator_live_allocations",
        "tokio_alive_tasks",
        "outfits_generated_total",
        "feature_enabled",
    ] {
        assert!(text.contains(name), "metric {name} missing from:\n{text}");
    }
    assert_eq!(
        metric_value(
            &text,
            "http_requests_total{route=\"/v1/outfits\",status=\"200\"}"
        ),
        Some(1.0)
    );
    assert_eq!(metric_value(&text, "outfits_generated_total"), Some(3.0));
    assert_eq!(
        metric_value(&text, "feature_enabled{name=\"taste_model\"}"),
        Some(0.0)
    );
    assert_eq!(metric_value(&text, "db_pool_max_connections"), Some(16.0));
    assert!(metric_value(&text, "allocator_live_allocations").is_some_and(|v| v > 0.0));
    assert!(metric_value(&text, "process_resident_memory_bytes").is_some_and(|v| v > 0.0));
    app.stop().await;
}

async fn shutdown_stops_accepting_connections(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = app.url("/healthz");
    let client = app.client.clone();
    assert_eq!(client.get(&url).send().await.expect("up").status(), 200);
    app.stop().await;
    let after = reqwest::Client::new().get(&url).send().await;
    assert!(after.is_err(), "still answering after shutdown");
}
