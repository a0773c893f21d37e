//! The database's own view of the server's connections.
//!
//! The pool's gauges say what the server believes; the database says what is
//! really open. PostgreSQL: `pg_stat_activity` rows of the server's database and
//! `application_name` (the server sets `outfit-server`), with `idle in
//! transaction` counted apart. MySQL/MariaDB: `information_schema.PROCESSLIST`
//! rows of the server's database (and user), sleeping sessions with an open
//! InnoDB transaction, and the global `Threads_connected`,
//! `Max_used_connections` and `Connection_errors_max_connections`.
//! The watcher's own session is always left out.

use std::str::FromStr;

use serde::Serialize;
use sqlx::{
    Connection, MySqlConnection, PgConnection, Row, mysql::MySqlConnectOptions,
    postgres::PgConnectOptions,
};

/// Why the database's view could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "unsupported database URL (postgres:// or mysql:// expected; SQLite has no server view)"
    )]
    Unsupported,
    #[error("the database URL names no database")]
    NoDatabase,
    #[error("database query failed")]
    Query(#[from] sqlx::Error),
}

/// One reading of the database's view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DbSample {
    /// `postgres` or `mysql`.
    pub backend: String,
    /// Sessions of the server (its database and application or user).
    pub server_connections: u64,
    /// Sessions inside an open transaction yet doing nothing: a transaction left open.
    pub idle_in_transaction: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads_connected: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_used_connections: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_errors_max_connections: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u64>,
}

/// A monitoring session on the server's database.
#[derive(Debug)]
pub enum DbView {
    Postgres {
        conn: PgConnection,
        database: String,
        application_name: String,
    },
    MySql {
        conn: MySqlConnection,
        database: String,
        user: String,
    },
}

/// The name this watcher's own PostgreSQL session carries.
pub const WATCHER_APPLICATION_NAME: &str = "chaos-watch";

impl DbView {
    /// Connects with the server's URL; `application_name` picks the server's
    /// PostgreSQL sessions (ignored for MySQL, where the URL's user does).
    pub async fn connect(url: &str, application_name: &str) -> Result<DbView, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
            let database = opts.get_database().ok_or(DbError::NoDatabase)?.to_string();
            let conn = PgConnection::connect_with(&opts.application_name(WATCHER_APPLICATION_NAME))
                .await?;
            Ok(DbView::Postgres {
                conn,
                database,
                application_name: application_name.to_string(),
            })
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let opts = MySqlConnectOptions::from_str(&url)?;
            let database = opts.get_database().ok_or(DbError::NoDatabase)?.to_string();
            let user = opts.get_username().to_string();
            let conn = MySqlConnection::connect_with(&opts).await?;
            Ok(DbView::MySql {
                conn,
                database,
                user,
            })
        } else {
            Err(DbError::Unsupported)
        }
    }

    pub async fn sample(&mut self) -> Result<DbSample, DbError> {
        match self {
            DbView::Postgres {
                conn,
                database,
                application_name,
            } => {
                let row = sqlx::query(
                    "SELECT count(*)::int8, \
                            count(*) FILTER (WHERE state = 'idle in transaction')::int8, \
                            current_setting('max_connections')::int8 \
                     FROM pg_stat_activity \
                     WHERE datname = $1 AND application_name = $2 AND pid <> pg_backend_pid()",
                )
                .bind(database.as_str())
                .bind(application_name.as_str())
                .fetch_one(&mut *conn)
                .await?;
                Ok(DbSample {
                    backend: "postgres".into(),
                    server_connections: row.try_get::<i64, _>(0)?.max(0) as u64,
                    idle_in_transaction: row.try_get::<i64, _>(1)?.max(0) as u64,
                    max_connections: Some(row.try_get::<i64, _>(2)?.max(0) as u64),
                    ..DbSample::default()
                })
            }
            DbView::MySql {
                conn,
                database,
                user,
            } => {
                let count: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                     WHERE DB = ? AND USER = ? AND ID <> CONNECTION_ID()",
                )
                .bind(database.as_str())
                .bind(user.as_str())
                .fetch_one(&mut *conn)
                .await?;
                let idle_tx: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM information_schema.INNODB_TRX t \
                     JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
                     WHERE p.DB = ? AND p.USER = ? AND p.COMMAND = 'Sleep'",
                )
                .bind(database.as_str())
                .bind(user.as_str())
                .fetch_one(&mut *conn)
                .await?;
                let status = sqlx::query(
                    "SHOW GLOBAL STATUS WHERE Variable_name IN \
                     ('Threads_connected', 'Max_used_connections', \
                      'Connection_errors_max_connections')",
                )
                .fetch_all(&mut *conn)
                .await?;
                let mut s = DbSample {
                    backend: "mysql".into(),
                    server_connections: count.max(0) as u64,
                    idle_in_transaction: idle_tx.max(0) as u64,
                    ..DbSample::default()
                };
                for row in status {
                    let name: String = row.try_get(0)?;
                    let value: String = row.try_get(1)?;
                    let value = value.trim().parse::<u64>().ok();
                    match name.as_str() {
                        "Threads_connected" => s.threads_connected = value,
                        "Max_used_connections" => s.max_used_connections = value,
                        "Connection_errors_max_connections" => {
                            s.connection_errors_max_connections = value;
                        }
                        _ => {}
                    }
                }
                let max: Option<String> = sqlx::query("SHOW VARIABLES LIKE 'max_connections'")
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| r.try_get(1))
                    .transpose()?;
                s.max_connections = max.and_then(|m| m.trim().parse().ok());
                Ok(s)
            }
        }
    }

    pub async fn close(self) {
        let _ = match self {
            DbView::Postgres { conn, .. } => conn.close().await,
            DbView::MySql { conn, .. } => conn.close().await,
        };
    }
}
