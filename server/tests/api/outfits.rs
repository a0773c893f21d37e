use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app};

on_each_backend!(
    outfits_fit_the_profile_and_the_weather,
    the_same_seed_gives_the_same_outfits,
    asking_for_outfits_before_onboarding_is_a_conflict,
    saved_feedback_is_durable_and_listed_as_saved,
    a_retried_feedback_with_the_same_key_is_recorded_once,
);

async fn outfits_fit_the_profile_and_the_weather(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.onboarded_user().await;
    let r = app
        .get(
            "/v1/outfits?count=5&occasion=work&weather=rain&seed=7",
            &token,
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    let outfits = body["outfits"].as_array().expect("outfits");
    assert_eq!(outfits.len(), 5, "{body}");
    let mut ids = HashSet::new();
    for outfit in outfits {
        assert!(ids.insert(outfit["outfit_id"].as_str().expect("id").to_string()));
        let items = outfit["items"].as_array().expect("items");
        let slots: Vec<&str> = items
            .iter()
            .map(|i| i["slot"].as_str().expect("slot"))
            .collect();
        assert!(slots.contains(&"shoes"), "{slots:?}");
        assert!(
            slots.contains(&"outerwear"),
            "rain needs outerwear: {slots:?}"
        );
        assert!(
            slots.contains(&"dress") || (slots.contains(&"top") && slots.contains(&"bottom")),
            "{slots:?}"
        );
        let mut total = 0;
        for item in items {
            let g = &item["garment"];
            assert_eq!(g["available"], true);
            assert_ne!(g["gender"], "male");
            assert_eq!(g["price"]["currency"], "EUR");
            assert_ne!(g["colors"][0]["name"], "orange", "disliked colour");
            total += g["price"]["amount_cents"].as_i64().expect("price");
        }
        assert_eq!(outfit["total_price"]["amount_cents"].as_i64(), Some(total));
        assert!(total <= 60_000, "over budget: {total}");
    }
    app.stop().await;
}

async fn the_same_seed_gives_the_same_outfits(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.onboarded_user().await;
    let a: Value = app
        .get("/v1/outfits?count=4&seed=99", &token)
        .await
        .json()
        .await
        .expect("a");
    let b: Value = app
        .get("/v1/outfits?count=4&seed=99", &token)
        .await
        .json()
        .await
        .expect("b");
    assert_eq!(a, b);
    assert_eq!(a["outfits"].as_array().map(Vec::len), Some(4));
    app.stop().await;
}

async fn asking_for_outfits_before_onboarding_is_a_conflict(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.register().await;
    let r = app.get("/v1/outfits", &token).await;
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "profile_required");
    app.stop().await;
}

async fn saved_feedback_is_durable_and_listed_as_saved(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.onboarded_user().await;
    let outfits: Value = app
        .get("/v1/outfits?count=2&seed=3", &token)
        .await
        .json()
        .await
        .expect("json");
    let outfit = &outfits["outfits"][0];
    let garment_ids: Vec<i64> = outfit["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["garment"]["id"].as_i64().expect("id"))
        .collect();
    let r = app
        .client
        .post(app.url("/v1/outfits/feedback"))
        .bearer_auth(&token)
        .json(&json!({ "action": "save", "garment_ids": garment_ids, "outfit_id": outfit["outfit_id"] }))
        .send()
        .await
        .expect("feedback");
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    // a like is feedback too, but not a save
    let r = app
        .client
        .post(app.url("/v1/outfits/feedback"))
        .bearer_auth(&token)
        .json(&json!({ "action": "like", "garment_ids": [garment_ids[0]] }))
        .send()
        .await
        .expect("like");
    assert_eq!(r.status(), 201);
    let saved: Value = app
        .get("/v1/users/me/saved", &token)
        .await
        .json()
        .await
        .expect("json");
    let saved = saved["saved"].as_array().expect("saved");
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0]["feedback_id"], created["feedback_id"]);
    assert_eq!(saved[0]["outfit_id"], outfit["outfit_id"]);
    assert_eq!(
        saved[0]["garments"].as_array().map(Vec::len),
        Some(garment_ids.len())
    );
    app.stop().await;
}

async fn a_retried_feedback_with_the_same_key_is_recorded_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.onboarded_user().await;
    let page: Value = app
        .get("/v1/garments?limit=2", &token)
        .await
        .json()
        .await
        .expect("json");
    let ids: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|g| g["id"].as_i64().expect("id"))
        .collect();
    let send = || {
        app.client
            .post(app.url("/v1/outfits/feedback"))
            .bearer_auth(&token)
            .json(&json!({ "action": "like", "garment_ids": ids, "idempotency_key": "k-1" }))
            .send()
    };
    let first = send().await.expect("first");
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.expect("json");
    let second = send().await.expect("second");
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.expect("json");
    assert_eq!(first["feedback_id"], second["feedback_id"]);
    assert_eq!(second["created"], false);
    let user_id = app
        .db
        .user_by_token_hash(&hex_sha256(&token))
        .await
        .expect("lookup")
        .expect("user");
    assert_eq!(app.db.feedback_count(user_id).await.expect("count"), 1);
    app.stop().await;
}

fn hex_sha256(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}
