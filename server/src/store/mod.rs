//! The store: sqlx over SQLite (embedded, default), PostgreSQL and MySQL/MariaDB.
//!
//! Layout:
//! - [`Db`]: the pool, the backend's dialect, and connection tracking;
//! - `tracked`: every acquire records its code site; a watchdog reports
//!   connections held past the leak threshold (HikariCP's leakDetectionThreshold);
//! - `users`, `garments`, `feedback`: repositories, one file per table family;
//! - `migrations/{sqlite,postgres,mysql}`: one schema per backend, kept in step.
//!
//! Queries are written once, with `?` placeholders, through sqlx's `Any` driver;
//! [`Backend::sql`] rewrites them for PostgreSQL. Column types are restricted to
//! what decodes the same on every backend: BIGINT, DOUBLE, TEXT.

mod feedback;
mod garments;
mod tracked;
mod users;

use std::{borrow::Cow, sync::Arc, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
    pool::PoolConnection,
};

pub use feedback::{FeedbackAction, NewFeedback, SavedOutfit};
pub use garments::{GarmentFilter, GarmentPage};
pub use tracked::{Hold, TrackedConn};

use crate::{config::PoolSettings, telemetry::Metrics};

/// How the server names its sessions to PostgreSQL (`pg_stat_activity.application_name`).
pub const APPLICATION_NAME: &str = "outfit-server";

/// The code site of an acquire: `module::path:line`.
#[macro_export]
macro_rules! site {
    () => {
        concat!(module_path!(), ":", line!())
    };
}

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Backend> {
        let scheme = url.split(':').next()?;
        match scheme {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            "mysql" | "mariadb" => Some(Backend::MySql),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        }
    }

    /// Rewrites `?` placeholders into the backend's syntax.
    pub fn sql(self, query: &str) -> Cow<'_, str> {
        match self {
            Backend::Sqlite | Backend::MySql => Cow::Borrowed(query),
            Backend::Postgres => {
                let mut out = String::with_capacity(query.len() + 16);
                let mut n = 0;
                for ch in query.chars() {
                    if ch == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(ch);
                    }
                }
                Cow::Owned(out)
            }
        }
    }
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Every pooled connection stayed busy for the whole acquire timeout.
    #[error("timed out waiting for a database connection")]
    PoolTimeout,
    /// The database could not be reached or dropped the connection.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A row could not be turned into a domain value.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    /// Lock contention that outlasted the busy timeout: overload, worth a retry.
    #[error("database busy")]
    Busy(#[source] sqlx::Error),
    #[error("database error")]
    Db(#[source] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL (expected sqlite:, postgres: or mysql:)")]
    UnsupportedUrl,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut => StoreError::PoolTimeout,
            sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                StoreError::Unavailable(e)
            }
            sqlx::Error::Database(ref db) if is_busy_code(db.code().as_deref()) => {
                StoreError::Busy(e)
            }
            sqlx::Error::Database(ref db) if is_unavailable_code(db.code().as_deref()) => {
                StoreError::Unavailable(e)
            }
            other => StoreError::Db(other),
        }
    }
}

/// How long start-up waits for a database that does not answer yet.
const STARTUP_WAIT: Duration = Duration::from_secs(30);

/// The database is not there to answer (a retry later may succeed): MySQL
/// "Too many connections" (1040) and server shutdown (1053); PostgreSQL
/// connection exceptions (class 08), too many connections (53300) and
/// operator intervention (57P01 admin shutdown, 57P02 crash shutdown, 57P03
/// cannot connect now: a restart, a failover, a crash).
fn is_unavailable_code(code: Option<&str>) -> bool {
    match code {
        Some(c) => {
            matches!(c, "1040" | "1053" | "53300" | "57P01" | "57P02" | "57P03")
                || (c.len() == 5 && c.starts_with("08"))
        }
        None => false,
    }
}

/// Lock contention codes: SQLite BUSY/LOCKED (and their extended codes),
/// PostgreSQL serialization failure, deadlock, lock not available, MySQL lock
/// wait timeout and deadlock.
fn is_busy_code(code: Option<&str>) -> bool {
    match code {
        Some(c) => {
            matches!(c, "5" | "6" | "40001" | "40P01" | "55P03" | "1205" | "1213")
                // SQLite extended codes keep the primary code in the low byte
                || c.parse::<u32>().is_ok_and(|n| n > 255 && matches!(n & 0xff, 5 | 6))
        }
        None => false,
    }
}

impl StoreError {
    /// A unique-constraint violation (a duplicate key).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(db)) => db.is_unique_violation(),
            _ => false,
        }
    }
}

/// A database handle: pool plus tracking. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: sqlx::AnyPool,
    backend: Backend,
    tracker: Arc<tracked::Tracker>,
    metrics: Arc<Metrics>,
}

impl Db {
    /// Connects a pool; for SQLite creates the file (and its folder) and turns on WAL.
    pub async fn connect(
        url: &SecretString,
        pool: &PoolSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let url = url.expose_secret();
        let backend = Backend::from_url(url).ok_or(StoreError::UnsupportedUrl)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url),
            // lets the leak detector find our sessions in pg_stat_activity
            Backend::Postgres if !url.contains("application_name=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}application_name={APPLICATION_NAME}")
            }
            _ => url.to_string(),
        };
        let options: AnyConnectOptions = url.parse()?;
        // writers queue on SQLite's lock up to this long before answering busy
        let busy_timeout_ms = (pool.acquire_timeout_ms * 2).max(1);
        let pool_options = AnyPoolOptions::new()
            .max_connections(pool.max_connections)
            .min_connections(0)
            .acquire_timeout(Duration::from_millis(pool.acquire_timeout_ms))
            .idle_timeout(Duration::from_secs(60))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; FULL makes a
                        // committed write survive a crash before we answer 2xx.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute(format!("PRAGMA busy_timeout = {busy_timeout_ms}").as_str())
                            .await?;
                    }
                    Ok(())
                })
            });
        // A database that is restarting, or a machine busy enough that the
        // first connection takes longer than the acquire timeout, is waited
        // for (bounded), not a reason to exit at start.
        let deadline = std::time::Instant::now() + STARTUP_WAIT;
        let mut pause = Duration::from_millis(100);
        let pool_handle = loop {
            match pool_options.clone().connect_with(options.clone()).await {
                Ok(p) => break p,
                Err(e @ (sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)))
                    if std::time::Instant::now() + pause < deadline =>
                {
                    tracing::warn!(error = %e, "waiting for the database");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e.into()),
            }
        };
        metrics.pool_max.set(i64::from(pool.max_connections));
        let tracker = tracked::Tracker::start(
            Duration::from_millis(pool.leak_threshold_ms),
            metrics.clone(),
        );
        Ok(Db {
            pool: pool_handle,
            backend,
            tracker,
            metrics,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the backend's migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.acquire(site!()).await?;
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&mut *conn)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&mut *conn)
                    .await?
            }
            Backend::MySql => sqlx::migrate!("./migrations/mysql").run(&mut *conn).await?,
        }
        Ok(())
    }

    /// Takes a pooled connection, recording `site` (use [`site!`]) until it is dropped.
    pub async fn acquire(&self, site: &'static str) -> Result<TrackedConn, StoreError> {
        let started = std::time::Instant::now();
        let result = self.pool.acquire().await;
        self.metrics
            .pool_acquire
            .with_label_values(&[] as &[&str])
            .observe(started.elapsed().as_secs_f64());
        let conn: PoolConnection<sqlx::Any> = match result {
            Ok(c) => c,
            Err(sqlx::Error::PoolTimedOut) => {
                self.metrics.pool_acquire_timeouts.inc();
                return Err(StoreError::PoolTimeout);
            }
            Err(e) => return Err(e.into()),
        };
        Ok(TrackedConn::new(conn, self.tracker.hold(site)))
    }

    /// A cheap round trip, for readiness.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.acquire(site!()).await?;
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        Ok(())
    }

    /// Connections currently held, oldest first, with the site that took each.
    pub fn holds(&self) -> Vec<Hold> {
        self.tracker.snapshot()
    }

    /// Updates the pool gauges (called on each `/metrics` scrape).
    pub fn sample_pool_metrics(&self) {
        let size = i64::from(self.pool.size());
        let idle = self.pool.num_idle() as i64;
        self.metrics
            .pool_connections
            .with_label_values(&["in_use"])
            .set((size - idle).max(0));
        self.metrics
            .pool_connections
            .with_label_values(&["idle"])
            .set(idle);
    }

    /// Closes the pool, waiting up to five seconds for connections to come
    /// back; connections never returned (leaks) are named and abandoned.
    pub async fn close(&self) {
        let waited = tokio::time::timeout(Duration::from_secs(5), self.pool.close()).await;
        if waited.is_err() {
            for hold in self.holds() {
                tracing::warn!(
                    site = hold.site,
                    held_s = hold.held_for.as_secs(),
                    "connection never returned to the pool; abandoning it at shutdown"
                );
            }
        }
    }

    pub(crate) fn q<'a>(&self, query: &'a str) -> Cow<'a, str> {
        self.backend.sql(query)
    }
}

/// Adds `mode=rwc` (create if missing) and creates the parent folder.
fn prepare_sqlite_url(url: &str) -> String {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or_default();
    if !path.is_empty()
        && path != ":memory:"
        && let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        // a failure shows up as a clear connect error just after
        let _ = std::fs::create_dir_all(parent);
    }
    if url.contains("mode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_placeholders_are_numbered() {
        assert_eq!(
            Backend::Postgres.sql("SELECT a FROM t WHERE b = ? AND c = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = $2"
        );
        assert_eq!(Backend::Sqlite.sql("x = ?"), "x = ?");
    }

    #[test]
    fn restarts_and_full_servers_are_unavailable_not_errors() {
        for code in [
            "1040", "1053", "53300", "57P01", "57P02", "57P03", "08006", "08001",
        ] {
            assert!(is_unavailable_code(Some(code)), "{code}");
        }
        for code in ["23505", "42P01", "1062", "5", "08"] {
            assert!(!is_unavailable_code(Some(code)), "{code}");
        }
        assert!(!is_unavailable_code(None));
    }

    #[test]
    fn backends_are_recognised_by_scheme() {
        assert_eq!(Backend::from_url("sqlite://a.db"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::from_url("postgresql://u@h/d"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::from_url("mysql://u@h/d"), Some(Backend::MySql));
        assert_eq!(Backend::from_url("redis://h"), None);
    }

    #[test]
    fn sqlite_urls_get_create_mode() {
        assert_eq!(
            prepare_sqlite_url("sqlite::memory:"),
            "sqlite::memory:?mode=rwc"
        );
        assert_eq!(
            prepare_sqlite_url("sqlite://x.db?cache=shared"),
            "sqlite://x.db?cache=shared&mode=rwc"
        );
    }
}
