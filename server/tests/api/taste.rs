//! The "similar taste" model over a real socket: with the flag on, a user's
//! outfits lean toward what users with the same likes liked; with it off,
//! nothing of it shows. (Process-wide checks, flat memory and "nothing runs
//! when off", live in `tests/taste.rs`, which has its process to itself.)

use std::{collections::HashSet, time::Duration};

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, metric_value, spawn_app, spawn_app_with};

on_each_backend!(a_users_outfits_lean_toward_what_users_with_the_same_likes_liked);

/// Garment ids of each outfit for `token` at `seed` (default occasion and weather).
async fn outfits(app: &TestApp, token: &str, seed: u64) -> Vec<Vec<i64>> {
    let r = app
        .get(&format!("/v1/outfits?count=5&seed={seed}"), token)
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    body["outfits"]
        .as_array()
        .expect("outfits")
        .iter()
        .map(|o| {
            o["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["garment"]["id"].as_i64().expect("garment id"))
                .collect()
        })
        .collect()
}

async fn like(app: &TestApp, token: &str, garment_ids: &[i64]) {
    let r = app
        .client
        .post(app.url("/v1/outfits/feedback"))
        .bearer_auth(token)
        .json(&json!({ "action": "like", "garment_ids": garment_ids }))
        .send()
        .await
        .expect("feedback");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
}

/// How many garments of `outfits` are in `set`.
fn count_in(outfits: &[Vec<i64>], set: &HashSet<i64>) -> usize {
    outfits.iter().flatten().filter(|g| set.contains(g)).count()
}

/// Waits until two more retrains have finished, so one started after every write so far.
async fn wait_for_a_fresh_model(app: &TestApp) -> String {
    let start = metric_value(&app.metrics().await, "taste_model_retrains_total")
        .expect("taste metrics are exported when the flag is on");
    for _ in 0..200 {
        let text = app.metrics().await;
        if metric_value(&text, "taste_model_retrains_total").unwrap_or(0.0) >= start + 2.0 {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the taste model did not retrain within 10 s");
}

async fn a_users_outfits_lean_toward_what_users_with_the_same_likes_liked(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.features.taste_model = true;
        s.taste.retrain_interval_ms = 100;
        s.taste.factors = 8;
        s.taste.iterations = 10;
        s.taste.neighbours = 5;
    })
    .await;
    // six outfits with pairwise disjoint garments: three for each taste
    let scout = app.onboarded_user().await;
    let mut used = HashSet::new();
    let mut picked: Vec<Vec<i64>> = Vec::new();
    for seed in 1..10 {
        for outfit in outfits(&app, &scout, seed).await {
            if picked.len() < 6 && outfit.iter().all(|g| !used.contains(g)) {
                used.extend(outfit.iter().copied());
                picked.push(outfit);
            }
        }
    }
    assert_eq!(
        picked.len(),
        6,
        "the test catalog offers six disjoint outfits"
    );
    let (a, b) = picked.split_at(3);
    // what only the neighbours liked: the taste's second and third outfits
    let a_rest: HashSet<i64> = a[1..].iter().flatten().copied().collect();
    let b_rest: HashSet<i64> = b[1..].iter().flatten().copied().collect();

    let x = app.onboarded_user().await;
    let y = app.onboarded_user().await;
    // no feedback yet, no model row: the same profile sees the same outfits
    let before = outfits(&app, &x, 4242).await;
    assert_eq!(before, outfits(&app, &y, 4242).await);

    for taste in [a, b] {
        for _ in 0..4 {
            let fan = app.onboarded_user().await;
            for outfit in taste {
                like(&app, &fan, outfit).await;
            }
        }
    }
    like(&app, &x, &a[0]).await;
    like(&app, &y, &b[0]).await;
    let text = wait_for_a_fresh_model(&app).await;
    assert!(
        metric_value(&text, "taste_model_users").unwrap_or(0.0) >= 10.0,
        "{text}"
    );
    // registered at 0 when the flag is on: only a real fit makes it positive
    assert!(
        metric_value(&text, "taste_model_fit_seconds").is_some_and(|s| s > 0.0),
        "{text}"
    );
    assert_eq!(
        metric_value(&text, "feature_enabled{name=\"taste_model\"}"),
        Some(1.0)
    );

    let after_x = outfits(&app, &x, 4242).await;
    let after_y = outfits(&app, &y, 4242).await;
    let (x_a, x_b) = (count_in(&after_x, &a_rest), count_in(&after_x, &b_rest));
    let (y_a, y_b) = (count_in(&after_y, &a_rest), count_in(&after_y, &b_rest));
    let (before_a, before_b) = (count_in(&before, &a_rest), count_in(&before, &b_rest));
    println!(
        "garments of the neighbours-only outfits in 5 outfits: before A {before_a} B {before_b}; \
         x (likes A) A {x_a} B {x_b}; y (likes B) A {y_a} B {y_b}"
    );
    // both saw the same outfits before; now each leans toward its own neighbours' likes
    assert!(
        x_a > before_a && x_a >= y_a + 3 && x_a > x_b,
        "x liked taste A's first outfit: A's other garments {before_a} -> {x_a} (y: {y_a}), B's {before_b} -> {x_b}"
    );
    assert!(
        y_b >= before_b + 3 && y_b >= x_b + 3 && y_b > y_a,
        "y liked taste B's first outfit: B's other garments {before_b} -> {y_b} (x: {x_b}), A's {before_a} -> {y_a}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_flag_off_no_taste_metric_is_exported() {
    let app = spawn_app(Backend::Sqlite).await;
    let token = app.onboarded_user().await;
    let first = outfits(&app, &token, 1).await;
    like(&app, &token, &first[0]).await;
    let text = app.metrics().await;
    assert!(!text.contains("taste_model_"), "{text}");
    assert_eq!(
        metric_value(&text, "feature_enabled{name=\"taste_model\"}"),
        Some(0.0)
    );
    app.stop().await;
}
