use std::collections::HashSet;

use serde_json::Value;

use crate::helpers::{Backend, TEST_GARMENTS, spawn_app};

on_each_backend!(
    paging_through_garments_visits_each_once,
    garment_filters_apply,
    a_garment_is_found_by_id_and_an_unknown_one_is_404,
);

async fn paging_through_garments_visits_each_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut seen = HashSet::new();
    let mut cursor: Option<i64> = None;
    for _ in 0..100 {
        let path = match cursor {
            Some(c) => format!("/v1/garments?limit=200&cursor={c}"),
            None => "/v1/garments?limit=200".to_string(),
        };
        let page: Value = app
            .client
            .get(app.url(&path))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        for g in page["items"].as_array().expect("items") {
            assert!(
                seen.insert(g["id"].as_i64().expect("id")),
                "garment listed twice"
            );
        }
        cursor = page["next_cursor"].as_i64();
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen.len(), TEST_GARMENTS);
    app.stop().await;
}

async fn garment_filters_apply(backend: Backend) {
    let app = spawn_app(backend).await;
    let page: Value = app
        .client
        .get(app.url("/v1/garments?slot=shoes&gender=male&available=true&limit=50"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let items = page["items"].as_array().expect("items");
    assert!(!items.is_empty());
    for g in items {
        assert_eq!(g["slot"], "shoes");
        assert_eq!(g["gender"], "male");
        assert_eq!(g["available"], true);
    }
    app.stop().await;
}

async fn a_garment_is_found_by_id_and_an_unknown_one_is_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let page: Value = app
        .client
        .get(app.url("/v1/garments?limit=1"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let id = page["items"][0]["id"].as_i64().expect("id");
    let r = app
        .client
        .get(app.url(&format!("/v1/garments/{id}")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    let g: Value = r.json().await.expect("json");
    assert_eq!(g["id"].as_i64(), Some(id));
    assert!(
        g["colors"][0]["lab"]
            .as_array()
            .is_some_and(|lab| lab.len() == 3)
    );
    let r = app
        .client
        .get(app.url("/v1/garments/999999999"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"], "not_found");
    app.stop().await;
}
