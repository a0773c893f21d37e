//! Process faults: a private PostgreSQL killed with SIGKILL and restarted (and
//! then restarted gently) while the server is under load, and the server itself
//! killed with SIGKILL and started again on its address and data.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chaos::{
    dbserver::DbServer,
    harness::{ServerOptions, ServerProcess},
};

/// One answer (or its absence) seen by the load.
#[derive(Debug, Clone)]
struct Seen {
    /// Seconds since the load began, when the request was sent.
    at: f64,
    took: Duration,
    /// `None`: no answer (connection error or client timeout).
    status: Option<u16>,
}

/// Longer than any answer the contract allows (deadline 2 s): past it the
/// server is silent, the original failure.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(6);

/// `workers` clients looping over garment pages (each a database read) until `until`.
async fn hammer(base: String, begun: Instant, until: Instant, workers: usize) -> Vec<Seen> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let client = reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .expect("client");
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (client, base, seen) = (client.clone(), base.clone(), seen.clone());
        tasks.push(tokio::spawn(async move {
            let mut id = 1 + w as u64;
            for _ in 0..200_000 {
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                id = id % 200 + 1;
                let status = client
                    .get(format!("{base}/v1/garments/{id}"))
                    .send()
                    .await
                    .ok()
                    .map(|r| r.status().as_u16());
                let s = Seen {
                    at: sent.duration_since(begun).as_secs_f64(),
                    took: sent.elapsed(),
                    status,
                };
                seen.lock().expect("lock").push(s);
                // a short pause keeps the server's log and the two cores usable
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    let mut all = seen.lock().expect("lock").clone();
    all.sort_by(|a, b| a.at.total_cmp(&b.at));
    all
}

/// Checks one outage window [down, up): every request was answered within
/// the deadline's reach, the outage was seen as the contract's 503, and the
/// service was back within 5 s of the database. Returns the recovery time.
/// A restart quicker than a request may leave nothing to see: `long` says
/// the outage lasted long enough that failures must have been seen.
fn judge_outage(seen: &[Seen], down: f64, up: f64, what: &str, long: bool) -> f64 {
    let during: Vec<&Seen> = seen.iter().filter(|s| s.at >= down && s.at < up).collect();
    let failed: Vec<&Seen> = during
        .iter()
        .copied()
        .filter(|s| s.status != Some(200))
        .collect();
    if long {
        assert!(
            !failed.is_empty(),
            "{what}: every request succeeded while the database was down?"
        );
    }
    for s in &during {
        assert!(
            s.status.is_some(),
            "{what}: silent answer during the outage at {:.1} s (took {:?})",
            s.at,
            s.took
        );
        assert!(
            s.took < Duration::from_millis(3_500),
            "{what}: slow answer during the outage: {s:?}"
        );
        assert!(
            matches!(s.status, Some(200 | 503)),
            "{what}: not the contract's 503: {s:?}"
        );
    }
    let recovered = seen
        .iter()
        .find(|s| s.at >= up && s.status == Some(200))
        .map(|s| s.at - up)
        .unwrap_or(f64::INFINITY);
    assert!(
        recovered <= 5.0,
        "{what}: service not back within 5 s of the database (took {recovered:.1} s)"
    );
    let after: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.at >= up + recovered + 0.5 && s.at < up + recovered + 3.0)
        .collect();
    let ok = after.iter().filter(|s| s.status == Some(200)).count();
    assert!(
        !after.is_empty() && ok * 100 >= after.len() * 99,
        "{what}: after recovery only {ok} of {} requests succeeded",
        after.len()
    );
    eprintln!(
        "{what}: {} requests during the outage, {} failed fast (slowest {:?}); service back {recovered:.2} s after the database",
        during.len(),
        failed.len(),
        during.iter().map(|s| s.took).max().unwrap_or_default()
    );
    recovered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_and_restarted_under_load_errors_fast_and_recovers() {
    let mut pg = DbServer::postgres(40).await.expect("private PostgreSQL");
    let url = pg
        .create_database("spikeproof_restart")
        .await
        .expect("database");
    let server = ServerProcess::spawn(&ServerOptions {
        database_url: Some(url),
        seed_garments: 200,
        ..ServerOptions::default()
    })
    .await
    .expect("server starts");
    let begun = Instant::now();
    let load = tokio::spawn(hammer(
        server.base_url.clone(),
        begun,
        begun + Duration::from_secs(17),
        3,
    ));
    let now = |b: Instant| b.elapsed().as_secs_f64();

    tokio::time::sleep(Duration::from_secs(3)).await;
    let killed = now(begun);
    pg.kill9().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let recovery_time = pg.start().await.expect("PostgreSQL starts after the kill");
    let back = now(begun);

    tokio::time::sleep(Duration::from_secs(4)).await;
    let stopping = now(begun);
    let gentle = pg.restart(false).await.expect("gentle restart");
    let back_again = now(begun);

    let seen = load.await.expect("load");
    let log = server.log_tail();
    server.stop().await;
    assert!(
        seen.iter()
            .filter(|s| s.at + s.took.as_secs_f64() < killed)
            .all(|s| s.status == Some(200)),
        "requests failed before the fault:\n{log}"
    );
    let r1 = judge_outage(&seen, killed, back, "kill -9", true);
    let r2 = judge_outage(&seen, stopping, back_again, "restart", false);
    eprintln!(
        "PostgreSQL after kill -9: accepting {recovery_time:?} after the start (crash recovery included); \
         gentle restart took {gentle:?}; server back {r1:.2} s / {r2:.2} s after the database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_killed_with_sigkill_comes_back_on_its_address_with_its_data() {
    let mut server = ServerProcess::spawn(&ServerOptions::default())
        .await
        .expect("server starts");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let registered: serde_json::Value = client
        .post(server.url("/v1/users"))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let token = registered["token"].as_str().expect("token").to_string();
    let saved = |base: String| {
        let client = client.clone();
        let token = token.clone();
        async move {
            client
                .get(format!("{base}/v1/users/me/saved"))
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }
    };
    assert_eq!(saved(server.base_url.clone()).await.expect("saved"), 200);
    let before = server.base_url.clone();

    server.kill9().await;
    assert!(
        saved(before.clone()).await.is_err(),
        "a killed server still answers"
    );
    let ready = server.start_again().await.expect("starts again");
    assert_eq!(server.base_url, before, "came back on another address");
    assert_eq!(
        saved(server.base_url.clone()).await.expect("saved"),
        200,
        "the user registered before the kill is gone"
    );
    // an unknown token is still refused, so the 200 above means something
    let stranger = client
        .get(server.url("/v1/users/me/saved"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("answer");
    assert_eq!(stranger.status().as_u16(), 401);
    eprintln!("server killed with SIGKILL: ready again in {ready:?}");
    server.stop().await;
}
