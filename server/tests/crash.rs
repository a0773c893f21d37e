//! Crash-safe writes: feedback writers run against the real server binary,
//! which is killed with SIGKILL at random moments, ten times, then restarted.
//! Every write acknowledged with a 2xx must be in the database, once.
//! Runs on SQLite (WAL) and on PostgreSQL; prints the restart-to-ready times.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use rand::{Rng, SeedableRng, rngs::SmallRng};
use serde_json::{Value, json};
use sqlx::{Connection, Row};
use tokio::process::Child;

mod common;

const KILLS: usize = 10;
const WRITERS: usize = 4;

/// Starts the server on `url`; returns it, its base URL and how long it took to be ready.
/// Per-user write limits are off: four writers of one user write far faster
/// than an app would, and this test is about durability, not limits.
async fn start(url: &str) -> (Child, String, Duration) {
    common::start_server(url, &[], &[("APP_RATE_LIMIT__ENABLED", "false")]).await
}

/// One writer: feedback with unique idempotency keys until the server dies.
async fn writer(
    client: reqwest::Client,
    base: String,
    token: String,
    garments: Vec<i64>,
    prefix: String,
    acked: Arc<Mutex<HashSet<String>>>,
) {
    for i in 0..10_000 {
        let key = format!("{prefix}-{i}");
        let sent = client
            .post(format!("{base}/v1/outfits/feedback"))
            .bearer_auth(&token)
            .json(&json!({"action": "save", "garment_ids": garments, "idempotency_key": key}))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                acked.lock().expect("lock").insert(key);
            }
            Ok(r) if r.status().as_u16() == 503 => continue,
            Ok(r) => panic!("unexpected answer {}", r.status()),
            // the server was killed: stop writing
            Err(_) => return,
        }
    }
}

async fn acknowledged_writes_survive_sigkill(url: &str) {
    let mut rng = SmallRng::seed_from_u64(7);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let (mut child, base, first_ready) = start(url).await;
    let registered: Value = client
        .post(format!("{base}/v1/users"))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let token = registered["token"].as_str().expect("token").to_string();
    let page: Value = client
        .get(format!("{base}/v1/garments?limit=3"))
        .send()
        .await
        .expect("garments")
        .json()
        .await
        .expect("json");
    let garments: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|g| g["id"].as_i64().expect("id"))
        .collect();
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let mut ready_times = vec![first_ready];
    let mut base = base;
    for round in 0..KILLS {
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                tokio::spawn(writer(
                    client.clone(),
                    base.clone(),
                    token.clone(),
                    garments.clone(),
                    format!("r{round}-w{w}"),
                    acked.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.random_range(150..700))).await;
        child.kill().await.expect("SIGKILL");
        for t in tasks {
            t.await.expect("writer");
        }
        let (next, next_base, ready) = start(url).await;
        child = next;
        base = next_base;
        ready_times.push(ready);
    }
    child.kill().await.expect("stop");
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() > KILLS * 5,
        "too few writes to judge: {}",
        acked.len()
    );
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(url).await.expect("connect");
    let rows = sqlx::query("SELECT idempotency_key FROM feedback")
        .fetch_all(&mut db)
        .await
        .expect("read feedback");
    let mut stored = HashSet::new();
    for row in &rows {
        let key: String = row.try_get(0).expect("key");
        assert!(stored.insert(key.clone()), "write {key} stored twice");
    }
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {lost:?}",
        lost.len()
    );
    ready_times.sort();
    eprintln!(
        "{url}: {} acknowledged writes over {KILLS} SIGKILLs, all stored once ({} rows); restart to ready: median {:?}, max {:?}",
        acked.len(),
        rows.len(),
        ready_times[ready_times.len() / 2],
        ready_times[ready_times.len() - 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/crash.db", dir.path().display());
    acknowledged_writes_survive_sigkill(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_on_postgres() {
    sqlx::any::install_default_drivers();
    let admin = std::env::var("SPIKEPROOF_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let name = format!("spikeproof_test_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::AnyConnection::connect(&admin)
        .await
        .expect("PostgreSQL must run for its tests (see .ci/run)");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    acknowledged_writes_survive_sigkill(&format!("{base}/{name}")).await;
}
