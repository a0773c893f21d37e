//! The connection judge on the real server: a connection leaked once per N
//! requests on one route is caught and its site named; a healthy run passes.
//! The PostgreSQL twin also checks the database's own count.

use std::time::Duration;

use chaos::{Status, harness::ServerOptions};
use sqlx::{Connection, PgConnection};

use crate::helpers::watch_server;

const SITE: &str = "chaos leak-connection on /v1/garments/{id}";
const LOAD: Duration = Duration::from_secs(8);
/// 3 in 5 requests hit the route: about 6 leaks at one per 200, well under the pool's 16.
const REQUESTS: u64 = 2_000;

fn leaking() -> ServerOptions {
    ServerOptions {
        faults: vec!["leak-connection:every=200,route=/v1/garments/{id}".into()],
        env: vec![("APP_POOL__LEAK_THRESHOLD_MS".into(), "500".into())],
        ..ServerOptions::default()
    }
}

fn healthy() -> ServerOptions {
    ServerOptions {
        env: vec![("APP_POOL__LEAK_THRESHOLD_MS".into(), "500".into())],
        ..ServerOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_leaked_once_per_n_requests_is_caught_and_its_route_named() {
    let (report, _) = watch_server(leaking(), LOAD, REQUESTS, None).await;
    let c = &report.connections;
    assert_eq!(c.status, Status::Fail, "{}", c.summary);
    let site = c.held_too_long.first().expect("a site is named");
    assert_eq!(site.site, SITE, "{}", c.summary);
    assert!(site.count >= 1.0);
    assert!(c.in_use_at_end.is_some_and(|n| n >= 1.0), "{}", c.summary);
    assert!(c.summary.contains(SITE));
}

/// With a leak threshold far beyond the run no site is ever reported, so only
/// the return-to-zero check can catch the leak: this proves it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leak_no_site_reports_is_caught_because_connections_never_come_back() {
    let opts = ServerOptions {
        env: vec![("APP_POOL__LEAK_THRESHOLD_MS".into(), "600000".into())],
        ..leaking()
    };
    let (report, _) = watch_server(opts, LOAD, REQUESTS, None).await;
    let c = &report.connections;
    assert!(c.held_too_long.is_empty(), "{}", c.summary);
    assert_eq!(c.status, Status::Fail, "{}", c.summary);
    assert!(c.settled_after_s.is_none(), "{}", c.summary);
    assert!(c.in_use_at_end.is_some_and(|n| n >= 1.0), "{}", c.summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_server_gives_its_connections_back() {
    let (report, _) = watch_server(healthy(), LOAD, REQUESTS, None).await;
    let c = &report.connections;
    assert_eq!(c.status, Status::Pass, "{}", c.summary);
    assert!(c.held_too_long.is_empty());
    assert_eq!(c.in_use_at_end, Some(0.0));
}

/// A fresh PostgreSQL database for one test, dropped at the end.
struct PgDb {
    name: String,
}

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

impl PgDb {
    async fn create() -> PgDb {
        let name = format!("spikeproof_test_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::connect(PG_ADMIN)
            .await
            .expect("postgres is up");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create database");
        PgDb { name }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }

    async fn drop_db(self) {
        if let Ok(mut admin) = PgConnection::connect(PG_ADMIN).await {
            let _ = sqlx::raw_sql(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_the_database_sees_the_leaked_sessions_and_the_site_is_named() {
    let db = PgDb::create().await;
    let opts = ServerOptions {
        database_url: Some(db.url()),
        ..leaking()
    };
    let (report, _) = watch_server(opts, LOAD, REQUESTS, Some(db.url())).await;
    db.drop_db().await;
    let c = &report.connections;
    assert_eq!(c.status, Status::Fail, "{}", c.summary);
    assert_eq!(c.held_too_long.first().map(|s| s.site.as_str()), Some(SITE));
    let leaked = c.in_use_at_end.expect("in use");
    assert!(leaked >= 1.0, "{}", c.summary);
    // the leaked sessions are open on the database side too
    assert!(
        c.database_at_end.is_some_and(|n| n as f64 >= leaked),
        "{}",
        c.summary
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_healthy_server_matches_the_database_after_load() {
    let db = PgDb::create().await;
    let opts = ServerOptions {
        database_url: Some(db.url()),
        ..healthy()
    };
    let (report, _) = watch_server(opts, LOAD, REQUESTS, Some(db.url())).await;
    db.drop_db().await;
    let c = &report.connections;
    assert_eq!(c.status, Status::Pass, "{}", c.summary);
    assert_eq!(
        c.database_at_end.map(|n| n as f64),
        c.pool_at_end,
        "{}",
        c.summary
    );
}
