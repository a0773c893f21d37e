//! The admin ingest routes: only with an admin token; POST starts an ingest,
//! GET shows its progress and then its report; the garments reach the catalog.

use std::time::Duration;

use serde_json::{Value, json};

use super::fixtures::{TSV_HEADER, row, tsv_line};
use crate::helpers::{Backend, spawn_app, spawn_app_with};

const ADMIN: &str = "feeds-admin-token";

#[tokio::test]
async fn ingest_routes_do_not_exist_without_an_admin_token() {
    let app = spawn_app(Backend::Sqlite).await;
    let r = app
        .client
        .post(app.url("/admin/ingests"))
        .bearer_auth(ADMIN)
        .json(&json!({"source": "x", "feed": "y"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_starts_an_ingest_and_watches_it_finish() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.admin_token = Some(ADMIN.to_string().into());
    })
    .await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("admin.tsv");
    let mut bad = row("bad", "http://img/bad.png");
    bad.price = "n/a".into();
    let feed = [
        TSV_HEADER.to_string(),
        tsv_line(&row("adm-1", "http://img/1.png")),
        tsv_line(&bad),
    ]
    .join("\n");
    std::fs::write(&path, feed).expect("write");
    let body =
        json!({"source": path.to_str().expect("path"), "feed": "admin-feed", "images": false});
    let wrong = app
        .client
        .post(app.url("/admin/ingests"))
        .bearer_auth("not-the-token")
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), 401);
    let bad_format = app
        .client
        .post(app.url("/admin/ingests"))
        .bearer_auth(ADMIN)
        .json(&json!({"source": "x", "feed": "y", "format": "pdf"}))
        .send()
        .await
        .expect("request");
    assert_eq!(bad_format.status(), 422);
    let r = app
        .client
        .post(app.url("/admin/ingests"))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 202);
    let started: Value = r.json().await.expect("json");
    let status_url = started["status_url"]
        .as_str()
        .expect("status url")
        .to_string();
    let mut view = Value::Null;
    for _ in 0..100 {
        view = app
            .client
            .get(app.url(&status_url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        if view["state"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(view["state"], "finished", "{view}");
    assert_eq!(view["progress"]["rows"], 2);
    assert_eq!(view["report"]["accepted"], 1);
    assert_eq!(view["report"]["counts"]["unparsable_price"], 1);
    assert_eq!(view["report"]["issues"][0]["row"], 2);
    let missing = app
        .client
        .post(app.url("/admin/ingests"))
        .bearer_auth(ADMIN)
        .json(&json!({"source": dir.path().join("nope.tsv").to_str(), "feed": "nope"}))
        .send()
        .await
        .expect("request");
    let id = missing.json::<Value>().await.expect("json")["id"]
        .as_u64()
        .expect("id");
    let mut failed = Value::Null;
    for _ in 0..100 {
        failed = app
            .client
            .get(app.url(&format!("/admin/ingests/{id}")))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        if failed["state"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot read the feed")),
        "{failed}"
    );
    let list: Value = app
        .client
        .get(app.url("/admin/ingests"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(list["ingests"].as_array().map(Vec::len), Some(2));
    let stored = app
        .db
        .feed_garments("admin-feed", &["adm-1"])
        .await
        .expect("read");
    assert_eq!(stored["adm-1"].garment.title, "Shirt adm-1");
    app.stop().await;
}
