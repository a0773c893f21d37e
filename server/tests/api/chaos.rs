//! Fault hooks: inert unless started with them; each fault does what it says.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, metric_value, spawn_app, spawn_app_with};

const ADMIN: &str = "admin-token-for-tests-0123456789";

async fn with_faults(faults: &[&str]) -> TestApp {
    let faults: Vec<String> = faults.iter().map(|s| s.to_string()).collect();
    spawn_app_with(Backend::Sqlite, move |s| {
        s.chaos.enabled = true;
        s.chaos.faults = faults;
        s.admin_token = Some(ADMIN.to_string().into());
        s.pool.leak_threshold_ms = 200;
        s.overload.request_deadline_ms = 1_000;
        s.pool.acquire_timeout_ms = 500;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_chaos_there_are_no_hooks_and_no_admin_routes() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.admin_token = Some(ADMIN.to_string().into())
    })
    .await;
    let r = app
        .client
        .get(app.url("/admin/chaos/faults"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
    let text = app.metrics().await;
    assert_eq!(
        metric_value(&text, "feature_enabled{name=\"chaos\"}"),
        Some(0.0)
    );
    app.stop().await;
    let plain = spawn_app(Backend::Sqlite).await;
    let r = plain
        .client
        .get(plain.url("/admin/chaos/faults"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);
    plain.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_listed_added_and_removed_through_the_admin_api() {
    let app = with_faults(&["leak-memory:bytes=3,route=/v1/garments"]).await;
    let text = app.metrics().await;
    assert_eq!(
        metric_value(&text, "feature_enabled{name=\"chaos\"}"),
        Some(1.0)
    );
    let list = fault_list(&app).await;
    assert_eq!(
        list["faults"][0]["spec"],
        "leak-memory:bytes=3,route=/v1/garments"
    );
    let url = app.url("/admin/chaos/faults");
    let wrong = app.client.get(&url).bearer_auth("wrong-token-wrong-token");
    assert_eq!(wrong.send().await.expect("send").status(), 401);
    assert_eq!(
        app.client.get(&url).send().await.expect("send").status(),
        401
    );
    let (status, body) = admin(
        &app,
        Method::POST,
        "",
        Some(json!({"spec": "leak-disk:bytes=1"})),
    )
    .await;
    assert_eq!(status, 422);
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains("unknown fault"), "{body}");
    let (status, added) = admin(
        &app,
        Method::POST,
        "",
        Some(json!({"spec": "slow-query:ms=5"})),
    )
    .await;
    assert_eq!(status, 201);
    let id = added["id"].as_u64().expect("id");
    assert_eq!(
        fault_list(&app).await["faults"].as_array().map(Vec::len),
        Some(2)
    );
    let one = format!("/{id}");
    assert_eq!(admin(&app, Method::DELETE, &one, None).await.0, 200);
    assert_eq!(admin(&app, Method::DELETE, &one, None).await.0, 404);
    let (_, removed) = admin(&app, Method::DELETE, "", None).await;
    assert_eq!(removed["removed"], 1);
    app.stop().await;
}

/// An admin call on `/admin/chaos/faults{suffix}`: its status and JSON body.
async fn admin(app: &TestApp, method: Method, suffix: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app
        .client
        .request(method, app.url(&format!("/admin/chaos/faults{suffix}")))
        .bearer_auth(ADMIN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.expect("admin call");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn fault_list(app: &TestApp) -> Value {
    admin(app, Method::GET, "", None).await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_leak_is_reported_under_its_route() {
    let app = with_faults(&["leak-connection:every=5,route=/v1/garments"]).await;
    for _ in 0..20 {
        let r = app
            .client
            .get(app.url("/v1/garments?limit=1"))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200);
    }
    // other routes do not leak
    for _ in 0..20 {
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz");
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let text = app.metrics().await;
    let label = "db_pool_held_too_long_total{site=\"chaos leak-connection on /v1/garments\"}";
    assert_eq!(metric_value(&text, label), Some(4.0), "{text}");
    assert_eq!(
        metric_value(&text, "db_pool_connections{state=\"in_use\"}"),
        Some(4.0)
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_fault_accepts_and_never_answers_while_other_routes_do() {
    let app = with_faults(&["hang:route=/v1/garments"]).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let r = client.get(app.url("/v1/garments")).send().await;
    let err = r.expect_err("a hung route must not answer, not even with the deadline's 503");
    assert!(err.is_timeout(), "{err}");
    let r = client
        .get(app.url("/v1/garments/1"))
        .send()
        .await
        .expect("other route");
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_query_and_panic_faults_slow_and_break_only_their_route() {
    let app = with_faults(&[
        "slow-query:ms=300,route=/v1/garments",
        "panic:route=/v1/users,every=2",
    ])
    .await;
    let started = Instant::now();
    let r = app
        .client
        .get(app.url("/v1/garments?limit=1"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let first = app
        .client
        .post(app.url("/v1/users"))
        .send()
        .await
        .expect("first");
    assert_eq!(first.status(), 201);
    let second = app
        .client
        .post(app.url("/v1/users"))
        .send()
        .await
        .expect("second");
    assert_eq!(second.status(), 500);
    let body: Value = second.json().await.expect("json");
    assert_eq!(body["error"], "internal");
    assert!(
        !body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("chaos"),
        "internals leaked"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausting_the_pool_turns_database_routes_into_fast_503s() {
    let app = with_faults(&["exhaust-pool"]).await;
    let started = Instant::now();
    let r = app
        .client
        .get(app.url("/v1/garments?limit=1"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert!(started.elapsed() < Duration::from_millis(1_500));
    let r = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), 200);
    app.stop().await;
}
