//! Bad input gets a 4xx with a JSON `{error, message}`; never a 5xx.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, sample_profile, spawn_app, spawn_app_with};

on_each_backend!(
    malformed_and_mistyped_bodies_get_clear_4xx,
    missing_and_invalid_tokens_get_401,
    bad_queries_and_paths_get_400,
    invalid_profiles_name_the_field,
    oversized_bodies_get_413,
    feedback_on_unknown_garments_is_422,
);

async fn expect_error(r: reqwest::Response, status: StatusCode, code: &str) -> String {
    assert_eq!(r.status(), status, "for error {code}");
    let body: Value = r.json().await.expect("error bodies are JSON");
    assert_eq!(body["error"], code, "{body}");
    let message = body["message"].as_str().expect("message").to_string();
    assert!(!message.is_empty());
    message
}

async fn malformed_and_mistyped_bodies_get_clear_4xx(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register().await;
    let put = |body: String| {
        app.client
            .put(app.url("/v1/users/me/profile"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = put("{\"gender\": ".into()).await.expect("send");
    expect_error(r, StatusCode::BAD_REQUEST, "malformed_json").await;
    let mut wrong_type = sample_profile();
    wrong_type["budget_cents"] = json!("lots");
    let r = put(wrong_type.to_string()).await.expect("send");
    let msg = expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    assert!(msg.contains("budget_cents"), "{msg}");
    let mut unknown_field = sample_profile();
    unknown_field["shoe_colour"] = json!("red");
    let r = put(unknown_field.to_string()).await.expect("send");
    let msg = expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    assert!(msg.contains("shoe_colour"), "{msg}");
    let r = app
        .client
        .put(app.url("/v1/users/me/profile"))
        .bearer_auth(&token)
        .body(sample_profile().to_string())
        .send()
        .await
        .expect("send");
    expect_error(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    app.stop().await;
}

async fn missing_and_invalid_tokens_get_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .client
        .get(app.url("/v1/outfits"))
        .send()
        .await
        .expect("send");
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app.get("/v1/outfits", "not-a-token").await;
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let well_formed_but_unknown = "ab".repeat(32);
    let r = app
        .get("/v1/users/me/saved", &well_formed_but_unknown)
        .await;
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let r = app
        .client
        .get(app.url("/v1/outfits"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .expect("send");
    expect_error(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.stop().await;
}

async fn bad_queries_and_paths_get_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.onboarded_user().await;
    for path in [
        "/v1/outfits?count=0",
        "/v1/outfits?count=1000",
        "/v1/outfits?count=abc",
        "/v1/outfits?weather=tornado",
        "/v1/outfits?occasion=funeral",
        "/v1/outfits?colour=red",
        "/v1/garments?limit=0",
        "/v1/garments?slot=hat",
        "/v1/garments?cursor=x",
    ] {
        let r = app.get(path, &token).await;
        expect_error(r, StatusCode::BAD_REQUEST, "invalid_query").await;
    }
    let r = app.get("/v1/garments/not-a-number", &token).await;
    expect_error(r, StatusCode::BAD_REQUEST, "invalid_path").await;
    let r = app.get("/v1/nothing-here", &token).await;
    expect_error(r, StatusCode::NOT_FOUND, "not_found").await;
    let r = app
        .client
        .delete(app.url("/v1/outfits"))
        .send()
        .await
        .expect("send");
    expect_error(r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
    app.stop().await;
}

async fn invalid_profiles_name_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "sizes",
            json!({"top": "M", "bottom": "M", "shoes": "99"}),
            "sizes.shoes",
        ),
        (
            "sizes",
            json!({"top": "huge", "bottom": "M", "shoes": "40"}),
            "sizes.top",
        ),
        ("styles", json!([]), "styles"),
        ("budget_cents", json!(0), "budget_cents"),
        ("currency", json!("euro"), "currency"),
        ("disliked_colors", json!(["navy"]), "disliked_colors"),
    ];
    for (field, value, named) in cases {
        let mut p = sample_profile();
        p[field] = value;
        let r = app
            .client
            .put(app.url("/v1/users/me/profile"))
            .bearer_auth(&token)
            .json(&p)
            .send()
            .await
            .expect("send");
        let msg = expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_profile").await;
        assert!(msg.starts_with(named), "{field}: {msg}");
    }
    app.stop().await;
}

async fn oversized_bodies_get_413(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.http.body_limit_bytes = 4096).await;
    let token = app.register().await;
    let mut p = sample_profile();
    p["currency"] = json!("x".repeat(10_000));
    let r = app
        .client
        .put(app.url("/v1/users/me/profile"))
        .bearer_auth(&token)
        .json(&p)
        .send()
        .await
        .expect("send");
    expect_error(r, StatusCode::PAYLOAD_TOO_LARGE, "body_too_large").await;
    app.stop().await;
}

async fn feedback_on_unknown_garments_is_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.onboarded_user().await;
    let post = |body: Value| {
        app.client
            .post(app.url("/v1/outfits/feedback"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = post(json!({"action": "like", "garment_ids": [987654321]}))
        .await
        .expect("send");
    let msg = expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "unknown_garment").await;
    assert!(msg.contains("987654321"), "{msg}");
    let r = post(json!({"action": "like", "garment_ids": []}))
        .await
        .expect("send");
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_feedback").await;
    let r = post(json!({"action": "love", "garment_ids": [1]}))
        .await
        .expect("send");
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_body").await;
    let r = post(json!({"action": "like", "garment_ids": [1, 1]}))
        .await
        .expect("send");
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_feedback").await;
    let r = post(json!({"action": "like", "garment_ids": [1], "outfit_id": "nope"}))
        .await
        .expect("send");
    expect_error(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_feedback").await;
    app.stop().await;
}
