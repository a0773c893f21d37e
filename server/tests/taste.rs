//! Process-wide checks of the taste model, in a test binary of their own
//! (`harness = false`: the checks run one after another, in this order, so
//! the process-wide counters and the live-allocation figures are theirs alone):
//!
//! 1. with the flag off, serving outfits and feedback runs nothing of the model;
//! 2. with the flag on, one trainer runs, and its model goes with its server;
//! 3. live allocations stay flat over 30 retrains of a growing feedback table;
//! 4. bias lookups leak nothing per call, and the cache stays within its bound.
//!
//! `cargo test -p outfit-server --test taste` runs them; a name filter selects some.

use std::{net::SocketAddr, time::Duration};

use outfit_server::{
    Application,
    alloc::{self, AllocStats},
    config::{PoolSettings, Settings, TasteSettings},
    engine::{Catalog, WyRand},
    startup::seed_catalog,
    store::{Db, FeedbackAction, NewFeedback},
    taste::{self, Taste},
    telemetry::Metrics,
};
use serde_json::{Value, json};

#[global_allocator]
static GLOBAL: alloc::Counting<std::alloc::System> = alloc::Counting::new(std::alloc::System);

type Check = fn() -> std::pin::Pin<Box<dyn Future<Output = ()>>>;

/// libtest options that take a value as the next argument (not a name filter).
const VALUE_OPTIONS: [&str; 6] = [
    "--test-threads",
    "--skip",
    "--format",
    "--color",
    "--logfile",
    "-Z",
];

/// Name filters among the arguments libtest would get.
fn filters() -> Vec<String> {
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if VALUE_OPTIONS.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            filters.push(arg);
        }
    }
    filters
}

fn main() {
    let filter = filters();
    let checks: [(&str, Check); 4] = [
        ("with_the_flag_off_nothing_of_the_model_runs", || {
            Box::pin(with_the_flag_off_nothing_of_the_model_runs())
        }),
        (
            "with_the_flag_on_one_trainer_runs_and_goes_with_its_server",
            || Box::pin(with_the_flag_on_one_trainer_runs_and_goes_with_its_server()),
        ),
        (
            "live_allocations_stay_flat_over_30_retrains_of_a_growing_table",
            || Box::pin(live_allocations_stay_flat_over_30_retrains_of_a_growing_table()),
        ),
        (
            "bias_lookups_leak_nothing_per_call_and_the_cache_stays_bounded",
            || Box::pin(bias_lookups_leak_nothing_per_call_and_the_cache_stays_bounded()),
        ),
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut ran = 0;
    for (name, check) in checks {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        println!("test {name} ...");
        runtime.block_on(check());
        println!("test {name} ... ok");
        ran += 1;
    }
    println!("\ntest result: ok. {ran} passed");
}

/// A server on port 0 over a fresh SQLite file, serving until the returned sender fires.
struct Served {
    addr: SocketAddr,
    client: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn serve(taste_model: bool) -> (Served, bool) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let settings = Settings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: format!("sqlite://{}/t.db", dir.path().display()).into(),
        seed_garments: 400,
        catalog_refresh_s: 60,
        shutdown_grace_s: 2,
        features: outfit_server::config::FeatureFlags { taste_model },
        taste: TasteSettings {
            retrain_interval_ms: 100,
            factors: 4,
            iterations: 3,
            ..TasteSettings::default()
        },
        ..Settings::default()
    };
    let app = Application::build(settings).await.expect("server builds");
    let has_taste = app.state().taste.is_some();
    let addr = app.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let served = Served {
        addr,
        client: reqwest::Client::new(),
        stop,
        server,
        _dir: dir,
    };
    (served, has_taste)
}

impl Served {
    /// One user's journey: register, onboard, five outfit requests, three likes; then `/metrics`.
    async fn journey(&self) -> String {
        let url = |p: &str| format!("http://{}{p}", self.addr);
        let r: Value = self
            .client
            .post(url("/v1/users"))
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("json");
        let token = r["token"].as_str().expect("token").to_string();
        let profile = json!({
            "gender": "female", "sizes": { "top": "M", "bottom": "M", "shoes": "39" },
            "styles": ["casual"], "favorite_colors": ["navy"], "disliked_colors": [],
            "budget_cents": 60000, "currency": "EUR", "climate": "temperate"
        });
        let r = self
            .client
            .put(url("/v1/users/me/profile"))
            .bearer_auth(&token)
            .json(&profile)
            .send()
            .await
            .expect("profile");
        assert_eq!(r.status(), 200);
        for seed in 0..5 {
            let r = self
                .client
                .get(url(&format!("/v1/outfits?count=3&seed={seed}")))
                .bearer_auth(&token)
                .send()
                .await
                .expect("outfits");
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.expect("json");
            if seed < 3 {
                let ids: Vec<i64> = body["outfits"][0]["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|i| i["garment"]["id"].as_i64().expect("id"))
                    .collect();
                let r = self
                    .client
                    .post(url("/v1/outfits/feedback"))
                    .bearer_auth(&token)
                    .json(&json!({"action": "like", "garment_ids": ids}))
                    .send()
                    .await
                    .expect("feedback");
                assert_eq!(r.status(), 201);
            }
        }
        self.client
            .get(url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.server
            .await
            .expect("server task")
            .expect("server stops cleanly");
    }
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn with_the_flag_off_nothing_of_the_model_runs() {
    let (served, has_taste) = serve(false).await;
    assert!(!has_taste, "no taste service without the flag");
    let text = served.journey().await;
    // give a (wrongly) spawned trainer time to tick
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        taste::activity(),
        taste::Activity::default(),
        "the model ran with the flag off"
    );
    assert!(!text.contains("taste_model_"), "{text}");
    assert_eq!(
        metric(&text, "feature_enabled{name=\"taste_model\"}"),
        Some(0.0)
    );
    served.stop().await;
}

async fn with_the_flag_on_one_trainer_runs_and_goes_with_its_server() {
    let (served, has_taste) = serve(true).await;
    assert!(has_taste);
    let text = served.journey().await;
    // a retrain is counted when it starts and its model when the fit ends: wait for both
    for _ in 0..100 {
        let a = taste::activity();
        if a.retrains >= 2 && a.models_built >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let a = taste::activity();
    assert_eq!(a.trainers_started, 1, "{a:?}");
    assert!(a.retrains >= 2 && a.models_built >= 2, "{a:?}");
    assert!(
        a.bias_lookups >= 5,
        "every outfit request looks up a bias: {a:?}"
    );
    assert!(
        metric(&text, "taste_model_retrains_total").is_some(),
        "{text}"
    );
    served.stop().await;
    // the stopped server's model is freed with it
    for _ in 0..50 {
        if taste::activity().models_live == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        taste::activity().models_live,
        0,
        "a model outlived its server"
    );
    // and the trainer stopped with it
    let retrains = taste::activity().retrains;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        taste::activity().retrains,
        retrains,
        "the trainer outlived its server"
    );
}

/// A fresh SQLite store with `garments` seeded garments and `users` users.
async fn store(dir: &tempfile::TempDir, garments: usize, users: usize) -> (Db, Vec<i64>, Vec<i64>) {
    let url = format!("sqlite://{}/m.db", dir.path().display());
    // one pooled connection: a pool that grows under a slow machine (each new
    // SQLite connection is a thread, a statement cache, ...) would hide the
    // model's own figures, which are what these checks are about
    let pool = PoolSettings {
        max_connections: 1,
        ..PoolSettings::default()
    };
    let db = Db::connect(&secrecy::SecretString::from(url), &pool, Metrics::new())
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    seed_catalog(&db, garments, 5).await.expect("seed");
    let garment_ids: Vec<i64> = db
        .all_garments()
        .await
        .expect("garments")
        .iter()
        .map(|g| g.id)
        .collect();
    let mut user_ids = Vec::new();
    for u in 0..users {
        user_ids.push(
            db.create_user(&format!("memory-test-user-{u}"))
                .await
                .expect("user"),
        );
    }
    (db, garment_ids, user_ids)
}

/// Writes `n` likes and dislikes of random 3-garment outfits by random users.
async fn write_feedback(db: &Db, rng: &mut WyRand, users: &[i64], garments: &[i64], n: usize) {
    for _ in 0..n {
        let user = *rng.pick(users).expect("users");
        let mut ids: Vec<i64> = (0..3).filter_map(|_| rng.pick(garments).copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        let action = if rng.chance(0.8) {
            FeedbackAction::Like
        } else {
            FeedbackAction::Dislike
        };
        let fb = NewFeedback {
            action,
            outfit_id: format!("{:016x}", rng.next_u64()),
            garment_ids: ids,
            idempotency_key: None,
        };
        db.insert_feedback(user, &fb).await.expect("feedback");
    }
}

fn stats() -> AllocStats {
    alloc::stats().expect("the counting allocator is installed in this binary")
}

async fn live_allocations_stay_flat_over_30_retrains_of_a_growing_table() {
    const BOUND: usize = 400;
    let dir = tempfile::tempdir().expect("temporary folder");
    let (db, garments, users) = store(&dir, 300, 80).await;
    let metrics = Metrics::new();
    let settings = TasteSettings {
        max_interactions: BOUND,
        factors: 8,
        iterations: 4,
        cache_users: 0,
        ..TasteSettings::default()
    };
    let taste = Taste::new(settings, &metrics).expect("taste");
    let mut rng = WyRand::new(99);
    write_feedback(&db, &mut rng, &users, &garments, BOUND + 100).await;
    // warm-up until the process settles (statement caches, pooled connections,
    // the blocking pool, metric series): three cycles in a row that move
    // live allocations by at most 2
    let mut warm_up = 0;
    let mut settled = 0;
    let mut last = stats();
    while settled < 3 && warm_up < 25 {
        write_feedback(&db, &mut rng, &users, &garments, 40).await;
        taste.retrain(&db).await.expect("retrain");
        let now = stats();
        settled = if (now.live_allocations - last.live_allocations).abs() <= 2 {
            settled + 1
        } else {
            0
        };
        last = now;
        warm_up += 1;
    }
    let base = stats();
    let live_models = taste::activity().models_live;
    let mut series = Vec::new();
    for cycle in 0..30 {
        write_feedback(&db, &mut rng, &users, &garments, 40).await;
        let report = taste.retrain(&db).await.expect("retrain");
        assert_eq!(
            report.feedback_rows, BOUND,
            "cycle {cycle}: reads are bounded"
        );
        assert_eq!(
            taste::activity().models_live,
            live_models,
            "cycle {cycle}: a model was kept"
        );
        let now = stats();
        series.push((
            now.live_allocations - base.live_allocations,
            now.live_bytes - base.live_bytes,
        ));
    }
    let max_allocs = series.iter().map(|s| s.0.abs()).max().unwrap_or(0);
    let max_bytes = series.iter().map(|s| s.1.abs()).max().unwrap_or(0);
    let mean = |s: &[(i64, i64)], f: fn(&(i64, i64)) -> i64| {
        s.iter().map(f).sum::<i64>() as f64 / s.len() as f64
    };
    let trend_allocs = mean(&series[20..], |s| s.0) - mean(&series[..10], |s| s.0);
    let trend_bytes = mean(&series[20..], |s| s.1) - mean(&series[..10], |s| s.1);
    println!(
        "  {warm_up} warm-up retrains, then 30 retrains with the table growing {} -> {} rows, \
         {BOUND} read each: live allocations within ±{max_allocs}, bytes within ±{max_bytes}; \
         trend (last 10 - first 10): {trend_allocs:+.1} allocations, {trend_bytes:+.0} bytes",
        BOUND + 100 + warm_up * 40,
        BOUND + 100 + (warm_up + 30) * 40,
    );
    assert!(
        max_allocs <= 8,
        "live allocations moved by {max_allocs}: {series:?}"
    );
    assert!(
        trend_allocs.abs() < 3.0,
        "live allocations trend {trend_allocs}: {series:?}"
    );
    assert!(
        max_bytes <= 16 * 1024,
        "live bytes moved by {max_bytes}: {series:?}"
    );
    assert!(
        trend_bytes.abs() < 2048.0,
        "live bytes trend {trend_bytes}: {series:?}"
    );
    db.close().await;
}

async fn bias_lookups_leak_nothing_per_call_and_the_cache_stays_bounded() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (db, garments, users) = store(&dir, 300, 120).await;
    let settings = TasteSettings {
        cache_users: 25,
        factors: 8,
        iterations: 4,
        ..TasteSettings::default()
    };
    let taste = Taste::new(settings, &Metrics::new()).expect("taste");
    let mut rng = WyRand::new(7);
    write_feedback(&db, &mut rng, &users, &garments, 600).await;
    taste.retrain(&db).await.expect("retrain");
    let catalog = Catalog::new(db.all_garments().await.expect("garments"));
    let mut rounds = Vec::new();
    for _ in 0..8 {
        let mut biased = 0;
        for &u in &users {
            biased += usize::from(taste.bias(u, &catalog).is_some());
            assert!(taste.cached_users() <= 25);
        }
        assert!(biased > users.len() / 2, "only {biased} users got a bias");
        rounds.push(stats());
    }
    let first = rounds[1];
    let worst = rounds[1..]
        .iter()
        .map(|s| (s.live_allocations - first.live_allocations).abs())
        .max()
        .unwrap_or(0);
    println!(
        "  8 rounds of {} bias lookups, cache of 25: live allocations within ±{worst}",
        users.len()
    );
    assert!(
        worst <= 64,
        "bias lookups grew live allocations: {rounds:?}"
    );
    db.close().await;
}
