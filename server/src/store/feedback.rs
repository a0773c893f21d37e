//! Feedback on outfits (like, dislike, save). A write returns only once committed.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Db, StoreError, now_ms};
use crate::site;

/// What the user did with an outfit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackAction {
    Like,
    Dislike,
    Save,
}

impl FeedbackAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackAction::Like => "like",
            FeedbackAction::Dislike => "dislike",
            FeedbackAction::Save => "save",
        }
    }

    pub fn parse(s: &str) -> Option<FeedbackAction> {
        [
            FeedbackAction::Like,
            FeedbackAction::Dislike,
            FeedbackAction::Save,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One feedback row as the taste model reads it.
#[derive(Debug, Clone)]
pub(crate) struct FeedbackEvent {
    pub(crate) user_id: i64,
    pub(crate) action: FeedbackAction,
    pub(crate) garment_ids: Vec<i64>,
}

/// A page of feedback rows, newest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct FeedbackPage {
    pub(crate) events: Vec<FeedbackEvent>,
    /// Rows fetched, decodable or not.
    pub(crate) rows: usize,
    /// Rows whose action or garment list did not decode (left out of `events`).
    pub(crate) skipped: usize,
    /// Smallest id fetched: the `before` of the next page.
    pub(crate) last_id: Option<i64>,
}

/// A feedback write.
#[derive(Debug, Clone)]
pub struct NewFeedback {
    pub action: FeedbackAction,
    pub outfit_id: String,
    pub garment_ids: Vec<i64>,
    /// A client-chosen key that makes retries of the same write land once.
    pub idempotency_key: Option<String>,
}

/// A saved outfit as stored.
#[derive(Debug, Clone, Serialize)]
pub struct SavedOutfit {
    pub feedback_id: i64,
    pub outfit_id: String,
    pub garment_ids: Vec<i64>,
    /// Milliseconds since the Unix epoch.
    pub saved_at_ms: i64,
}

impl Db {
    /// Records feedback durably. Returns the row id and whether it is new
    /// (`false` when the idempotency key was seen before: the first write stands).
    #[tracing::instrument(skip_all, fields(user_id, action = fb.action.as_str()))]
    pub async fn insert_feedback(
        &self,
        user_id: i64,
        fb: &NewFeedback,
    ) -> Result<(i64, bool), StoreError> {
        let ids = serde_json::to_string(&fb.garment_ids).map_err(|e| StoreError::Corrupt {
            table: "feedback",
            detail: e.to_string(),
        })?;
        let sql = self.q(
            "INSERT INTO feedback (user_id, action, outfit_id, garment_ids, idempotency_key, created_at) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        );
        let mut conn = self.acquire(site!()).await?;
        let inserted = sqlx::query(&sql)
            .bind(user_id)
            .bind(fb.action.as_str())
            .bind(fb.outfit_id.as_str())
            .bind(ids)
            .bind(fb.idempotency_key.clone())
            .bind(now_ms())
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::from);
        match inserted {
            Ok(row) => Ok((row.try_get::<i64, _>(0)?, true)),
            Err(e) if e.is_unique_violation() && fb.idempotency_key.is_some() => {
                let sql =
                    self.q("SELECT id FROM feedback WHERE user_id = ? AND idempotency_key = ?");
                let row = sqlx::query(&sql)
                    .bind(user_id)
                    .bind(fb.idempotency_key.clone())
                    .fetch_one(&mut *conn)
                    .await?;
                Ok((row.try_get::<i64, _>(0)?, false))
            }
            Err(e) => Err(e),
        }
    }

    /// A user's saved outfits, newest first.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn saved_outfits(
        &self,
        user_id: i64,
        limit: u32,
    ) -> Result<Vec<SavedOutfit>, StoreError> {
        let sql = self.q(
            "SELECT id, outfit_id, garment_ids, created_at FROM feedback \
             WHERE user_id = ? AND action = 'save' ORDER BY id DESC LIMIT ?",
        );
        let mut conn = self.acquire(site!()).await?;
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await?;
        drop(conn);
        rows.iter()
            .map(|row| {
                let ids: String = row.try_get(2)?;
                Ok(SavedOutfit {
                    feedback_id: row.try_get(0)?,
                    outfit_id: row.try_get(1)?,
                    garment_ids: serde_json::from_str(&ids).map_err(|e| StoreError::Corrupt {
                        table: "feedback",
                        detail: e.to_string(),
                    })?,
                    saved_at_ms: row.try_get(3)?,
                })
            })
            .collect()
    }

    /// Feedback rows of a user (all actions), for checks and the taste model.
    pub async fn feedback_count(&self, user_id: i64) -> Result<i64, StoreError> {
        let sql = self.q("SELECT COUNT(*) FROM feedback WHERE user_id = ?");
        let mut conn = self.acquire(site!()).await?;
        let row = sqlx::query(&sql)
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// Up to `limit` feedback rows with `id < before` (all when `None`), newest
    /// first. Rows that do not decode are counted and skipped, so one bad row
    /// cannot stop the taste model from training. Keyset paging: each page
    /// holds a pooled connection for one short query only.
    #[tracing::instrument(skip_all, fields(limit))]
    pub(crate) async fn feedback_page(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<FeedbackPage, StoreError> {
        let sql = self.q("SELECT id, user_id, action, garment_ids FROM feedback \
             WHERE id < ? ORDER BY id DESC LIMIT ?");
        let mut conn = self.acquire(site!()).await?;
        let rows = sqlx::query(&sql)
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await?;
        drop(conn);
        let mut page = FeedbackPage {
            events: Vec::with_capacity(rows.len()),
            rows: rows.len(),
            ..FeedbackPage::default()
        };
        for row in &rows {
            let id: i64 = row.try_get(0)?;
            page.last_id = Some(page.last_id.map_or(id, |l: i64| l.min(id)));
            let action: String = row.try_get(2)?;
            let ids: String = row.try_get(3)?;
            match (
                FeedbackAction::parse(&action),
                serde_json::from_str::<Vec<i64>>(&ids),
            ) {
                (Some(action), Ok(garment_ids)) => page.events.push(FeedbackEvent {
                    user_id: row.try_get(1)?,
                    action,
                    garment_ids,
                }),
                _ => page.skipped += 1,
            }
        }
        Ok(page)
    }
}
