//! `spawn_app`: a real server on port 0 over a fresh database.

use std::{net::SocketAddr, time::Duration};

use outfit_server::{Application, config::Settings, store::Db};
use serde_json::{Value, json};

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

/// Garments seeded into every test database: small enough to seed fast,
/// large enough for every profile to find outfits.
pub(crate) const TEST_GARMENTS: usize = 800;

/// The PostgreSQL server that tests create their databases on.
pub(crate) fn postgres_admin_url() -> String {
    std::env::var("SPIKEPROOF_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// The MySQL/MariaDB server that tests create their databases on.
pub(crate) fn mysql_admin_url() -> String {
    std::env::var("SPIKEPROOF_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".to_string())
}

/// A fresh, empty database; SQLite files live in a temporary folder that goes with it.
pub(crate) struct FreshDb {
    pub(crate) url: String,
    _dir: Option<tempfile::TempDir>,
}

pub(crate) async fn fresh_database(backend: Backend) -> FreshDb {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temporary folder");
            let url = format!("sqlite://{}/test.db", dir.path().display());
            FreshDb {
                url,
                _dir: Some(dir),
            }
        }
        Backend::Postgres => FreshDb {
            url: create_database(&postgres_admin_url(), "PostgreSQL").await,
            _dir: None,
        },
        Backend::MySql => FreshDb {
            url: create_database(&mysql_admin_url(), "MariaDB").await,
            _dir: None,
        },
    }
}

/// Creates a uniquely named database on the server of `admin` and returns its URL.
async fn create_database(admin: &str, server: &str) -> String {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let name = format!("spikeproof_test_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::AnyConnection::connect(admin)
        .await
        .unwrap_or_else(|e| panic!("{server} must run for its tests (see .ci/run): {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    format!("{base}/{name}")
}

/// Settings for a test server: port 0, a small seeded catalog.
pub(crate) fn test_settings(url: &str) -> Settings {
    Settings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: url.to_string().into(),
        seed_garments: TEST_GARMENTS,
        catalog_refresh_s: 1,
        shutdown_grace_s: 2,
        ..Settings::default()
    }
}

/// A running server and a client for it.
pub(crate) struct TestApp {
    pub addr: SocketAddr,
    pub(crate) client: reqwest::Client,
    pub(crate) db: Db,
    _database: FreshDb,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub(crate) async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub(crate) async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let database = fresh_database(backend).await;
    let mut settings = test_settings(&database.url);
    tweak(&mut settings);
    let app = Application::build(settings).await.expect("server builds");
    let addr = app.local_addr();
    let db = app.state().db.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client"),
        db,
        _database: database,
        stop: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Registers a device and returns its token.
    pub(crate) async fn register(&self) -> String {
        let r = self
            .client
            .post(self.url("/v1/users"))
            .send()
            .await
            .expect("register");
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.expect("json");
        body["token"].as_str().expect("token").to_string()
    }

    /// Registers a device and completes onboarding with [`sample_profile`].
    pub(crate) async fn onboarded_user(&self) -> String {
        let token = self.register().await;
        let r = self
            .client
            .put(self.url("/v1/users/me/profile"))
            .bearer_auth(&token)
            .json(&sample_profile())
            .send()
            .await
            .expect("profile");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        token
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub(crate) async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// Stops the server the way SIGTERM does, and waits for it.
    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }
}

/// Onboarding answers that the synthetic catalog can always dress.
pub(crate) fn sample_profile() -> Value {
    json!({
        "gender": "female",
        "sizes": { "top": "M", "bottom": "M", "shoes": "39" },
        "styles": ["casual", "minimal", "classic"],
        "favorite_colors": ["navy", "white"],
        "disliked_colors": ["orange"],
        "budget_cents": 60000,
        "currency": "EUR",
        "climate": "temperate"
    })
}

/// The value of a metric line with exactly these labels, if present.
pub(crate) fn metric_value(text: &str, name_with_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name_with_labels) && l[name_with_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
