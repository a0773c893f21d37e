//! Per-user write limits over HTTP: `429` with `Retry-After` past the burst,
//! other users and reads unaffected, the bucket refills, the metric counts.
//! (The table's bound under many users is a unit test of `ratelimit`.)

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, metric_value, sample_profile, spawn_app, spawn_app_with};

on_each_backend!(writes_past_the_burst_get_429_with_retry_after_until_the_bucket_refills);

async fn put_profile(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .put(app.url("/v1/users/me/profile"))
        .bearer_auth(token)
        .json(&sample_profile())
        .send()
        .await
        .expect("put profile")
}

async fn feedback(app: &TestApp, token: &str, garment: i64) -> reqwest::Response {
    app.client
        .post(app.url("/v1/outfits/feedback"))
        .bearer_auth(token)
        .json(&json!({ "action": "like", "garment_ids": [garment] }))
        .send()
        .await
        .expect("feedback")
}

async fn writes_past_the_burst_get_429_with_retry_after_until_the_bucket_refills(backend: Backend) {
    // a burst of 3, then one write a second
    let app = spawn_app_with(backend, |s| {
        s.rate_limit.burst = 3;
        s.rate_limit.writes_per_minute = 60;
    })
    .await;
    let a = app.register().await;
    let b = app.register().await;
    for i in 0..3 {
        let r = put_profile(&app, &a).await;
        assert_eq!(r.status(), 200, "write {i} of the burst");
    }
    let r = put_profile(&app, &a).await;
    assert_eq!(r.status(), 429);
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("a numeric Retry-After");
    assert_eq!(retry_after, 1);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "rate_limited");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(body["retry_after_s"], 1);
    // every kind of write shares the budget; reads are not limited
    assert_eq!(feedback(&app, &a, 1).await.status(), 429);
    for _ in 0..5 {
        assert_eq!(app.get("/v1/users/me/profile", &a).await.status(), 200);
    }
    // another user is not affected
    assert_eq!(put_profile(&app, &b).await.status(), 200);
    assert_eq!(feedback(&app, &b, 1).await.status(), 201);
    let text = app.metrics().await;
    assert_eq!(
        metric_value(
            &text,
            "http_rate_limited_total{route=\"/v1/users/me/profile\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric_value(
            &text,
            "http_rate_limited_total{route=\"/v1/outfits/feedback\"}"
        ),
        Some(1.0)
    );
    assert_eq!(metric_value(&text, "rate_limit_tracked_users"), Some(2.0));
    // after Retry-After, one token is back: one write passes, the next does not
    tokio::time::sleep(Duration::from_millis(retry_after * 1000 + 100)).await;
    assert_eq!(feedback(&app, &a, 2).await.status(), 201);
    assert_eq!(put_profile(&app, &a).await.status(), 429);
    app.stop().await;
}

/// The defaults leave room for the busiest journey of the CI spike (a profile
/// and four likes in quick succession), with margin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_limits_let_an_app_visit_through() {
    let app = spawn_app(Backend::Sqlite).await;
    let token = app.onboarded_user().await;
    for garment in 1..=20 {
        let r = feedback(&app, &token, garment).await;
        assert_eq!(r.status(), 201, "like {garment}");
    }
    let text = app.metrics().await;
    assert_eq!(
        metric_value(
            &text,
            "http_rate_limited_total{route=\"/v1/outfits/feedback\"}"
        ),
        None
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turned_off_the_limit_never_answers_429() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limit.enabled = false;
        s.rate_limit.burst = 1;
        s.rate_limit.writes_per_minute = 1;
    })
    .await;
    let token = app.register().await;
    for i in 0..5 {
        assert_eq!(put_profile(&app, &token).await.status(), 200, "write {i}");
    }
    app.stop().await;
}
