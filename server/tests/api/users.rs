use serde_json::Value;

use crate::helpers::{Backend, sample_profile, spawn_app};

on_each_backend!(
    registering_a_device_returns_a_user_and_a_hex_token,
    onboarding_answers_are_stored_and_read_back,
    each_registration_gets_a_different_token,
);

async fn registering_a_device_returns_a_user_and_a_hex_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .client
        .post(app.url("/v1/users"))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.expect("json");
    assert!(body["user_id"].as_i64().expect("user_id") > 0);
    let token = body["token"].as_str().expect("token");
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    app.stop().await;
}

async fn onboarding_answers_are_stored_and_read_back(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register().await;
    let before = app.get("/v1/users/me/profile", &token).await;
    assert_eq!(before.status(), 404);
    let token = {
        let r = app
            .client
            .put(app.url("/v1/users/me/profile"))
            .bearer_auth(&token)
            .json(&sample_profile())
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), 200);
        token
    };
    let r = app.get("/v1/users/me/profile", &token).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body, sample_profile());
    app.stop().await;
}

async fn each_registration_gets_a_different_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app.register().await;
    let b = app.register().await;
    assert_ne!(a, b);
    // the second token does not see the first user's profile
    let _ = app.onboarded_user().await;
    assert_eq!(app.get("/v1/users/me/profile", &b).await.status(), 404);
    app.stop().await;
}
