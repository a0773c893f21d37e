//! Users (anonymous device registrations) and their onboarding profiles.

use sqlx::Row;

use super::{Backend, Db, StoreError, now_ms};
use crate::{domain::Profile, site};

impl Db {
    /// Registers a device; `token_hash` is the SHA-256 of its bearer token.
    #[tracing::instrument(skip_all)]
    pub async fn create_user(&self, token_hash: &str) -> Result<i64, StoreError> {
        let mut conn = self.acquire(site!()).await?;
        let sql = self.q("INSERT INTO users (token_hash, created_at) VALUES (?, ?) RETURNING id");
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .bind(now_ms())
            .fetch_one(&mut *conn)
            .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// The user a token hash belongs to.
    #[tracing::instrument(skip_all)]
    pub async fn user_by_token_hash(&self, token_hash: &str) -> Result<Option<i64>, StoreError> {
        let mut conn = self.acquire(site!()).await?;
        let sql = self.q("SELECT id FROM users WHERE token_hash = ?");
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&mut *conn)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get::<i64, _>(0)?),
            None => None,
        })
    }

    /// Stores (or replaces) a user's onboarding answers.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn put_profile(&self, user_id: i64, profile: &Profile) -> Result<(), StoreError> {
        let body = serde_json::to_string(profile).map_err(|e| StoreError::Corrupt {
            table: "profiles",
            detail: e.to_string(),
        })?;
        let sql = match self.backend {
            Backend::Sqlite | Backend::Postgres => self.q(
                "INSERT INTO profiles (user_id, body, updated_at) VALUES (?, ?, ?) \
                 ON CONFLICT (user_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
            ),
            Backend::MySql => self.q(
                "INSERT INTO profiles (user_id, body, updated_at) VALUES (?, ?, ?) \
                 ON DUPLICATE KEY UPDATE body = VALUES(body), updated_at = VALUES(updated_at)",
            ),
        };
        let mut conn = self.acquire(site!()).await?;
        sqlx::query(&sql)
            .bind(user_id)
            .bind(body)
            .bind(now_ms())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// A user's onboarding answers, if given.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn profile(&self, user_id: i64) -> Result<Option<Profile>, StoreError> {
        let mut conn = self.acquire(site!()).await?;
        let sql = self.q("SELECT body FROM profiles WHERE user_id = ?");
        let row = sqlx::query(&sql)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let body: String = row.try_get(0)?;
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                table: "profiles",
                detail: e.to_string(),
            })
    }
}
