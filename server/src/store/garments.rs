//! Garments: batched idempotent upserts, lookups, keyset-paged listing, the
//! full read the engine's in-memory catalog is built from, and the queries of
//! feed ingest (feed lookups, marking missing garments unavailable, the
//! image-analysis cache).

use std::collections::HashMap;

use serde::Serialize;
use sqlx::{Row, any::AnyRow};

use super::{Backend, Db, StoreError, now_ms};
use crate::{
    domain::{Garment, Gender, Lab, Pattern, Slot},
    feeds::stored::{CachedAnalysis, FeedGarment},
    site,
};

/// Rows written per transaction in [`Db::upsert_garments`].
const UPSERT_BATCH: usize = 500;

const COLUMNS: &str = "id, title, brand, slot, gender, sizes, colors, pattern, styles, \
                       price_cents, currency, available, image_url";

/// Filters of `GET /v1/garments`.
#[derive(Debug, Clone, Default)]
pub struct GarmentFilter {
    pub slot: Option<Slot>,
    pub gender: Option<Gender>,
    pub available: Option<bool>,
    /// Only garments with an id greater than this (keyset paging).
    pub after_id: Option<i64>,
    pub limit: u32,
}

/// One page of garments.
#[derive(Debug, Clone, Serialize)]
pub struct GarmentPage {
    pub items: Vec<Garment>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<i64>,
}

impl Db {
    /// Inserts or updates garments of `feed` keyed by their external id, in
    /// batched transactions. Re-running with the same rows leaves the garments
    /// as they were (only `updated_at` moves).
    /// (Garments without a product page or description, e.g. the synthetic catalog.)
    pub async fn upsert_garments(
        &self,
        feed: &str,
        rows: &[(String, Garment)],
    ) -> Result<u64, StoreError> {
        let rows: Vec<FeedGarment> = rows
            .iter()
            .map(|(external_id, garment)| FeedGarment {
                external_id: external_id.clone(),
                garment: garment.clone(),
                product_url: String::new(),
                description: String::new(),
            })
            .collect();
        self.upsert_feed_garments(feed, &rows).await
    }

    /// One garment by id.
    #[tracing::instrument(skip_all, fields(id))]
    pub async fn garment(&self, id: i64) -> Result<Option<Garment>, StoreError> {
        let mut conn = self.acquire(site!()).await?;
        let sql = format!("SELECT {COLUMNS} FROM garments WHERE id = ?");
        let sql = self.q(&sql);
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(garment_from_row).transpose()
    }

    /// A page of garments in id order.
    #[tracing::instrument(skip_all)]
    pub async fn garments_page(&self, filter: &GarmentFilter) -> Result<GarmentPage, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM garments WHERE id > ?");
        if filter.slot.is_some() {
            sql.push_str(" AND slot = ?");
        }
        if filter.gender.is_some() {
            sql.push_str(" AND gender = ?");
        }
        if filter.available.is_some() {
            sql.push_str(" AND available = ?");
        }
        sql.push_str(" ORDER BY id LIMIT ?");
        let sql = self.q(&sql);
        let limit = filter.limit.clamp(1, 200);
        let mut query = sqlx::query(&sql).bind(filter.after_id.unwrap_or(0));
        if let Some(slot) = filter.slot {
            query = query.bind(slot.as_str());
        }
        if let Some(gender) = filter.gender {
            query = query.bind(gender.as_str());
        }
        if let Some(available) = filter.available {
            query = query.bind(i64::from(available));
        }
        // one extra row tells whether there is a next page
        query = query.bind(i64::from(limit) + 1);
        let mut conn = self.acquire(site!()).await?;
        let rows = query.fetch_all(&mut *conn).await?;
        drop(conn);
        let mut items = rows
            .iter()
            .map(garment_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|g| g.id)
        } else {
            None
        };
        Ok(GarmentPage { items, next_cursor })
    }

    /// Every garment, for the engine's catalog.
    #[tracing::instrument(skip_all)]
    pub async fn all_garments(&self) -> Result<Vec<Garment>, StoreError> {
        let mut conn = self.acquire(site!()).await?;
        let sql = format!("SELECT {COLUMNS} FROM garments ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
        drop(conn);
        rows.iter().map(garment_from_row).collect()
    }

    /// A cheap fingerprint of the garment table: (rows, latest update).
    pub async fn catalog_version(&self) -> Result<(i64, i64), StoreError> {
        let mut conn = self.acquire(site!()).await?;
        let row = sqlx::query("SELECT COUNT(*), COALESCE(MAX(updated_at), 0) FROM garments")
            .fetch_one(&mut *conn)
            .await?;
        Ok((row.try_get::<i64, _>(0)?, row.try_get::<i64, _>(1)?))
    }
}

fn json<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        table: "garments",
        detail: e.to_string(),
    })
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt {
        table: "garments",
        detail,
    }
}

fn garment_from_row(row: &AnyRow) -> Result<Garment, StoreError> {
    let id: i64 = row.try_get("id")?;
    let slot: String = row.try_get("slot")?;
    let gender: String = row.try_get("gender")?;
    let pattern: String = row.try_get("pattern")?;
    let sizes: String = row.try_get("sizes")?;
    let colors: String = row.try_get("colors")?;
    let colors: Vec<[f32; 3]> =
        serde_json::from_str(&colors).map_err(|e| corrupt(format!("garment {id} colors: {e}")))?;
    let styles: i64 = row.try_get("styles")?;
    Ok(Garment {
        id,
        title: row.try_get("title")?,
        brand: row.try_get("brand")?,
        slot: Slot::parse(&slot).ok_or_else(|| corrupt(format!("garment {id} slot {slot:?}")))?,
        gender: Gender::parse(&gender)
            .ok_or_else(|| corrupt(format!("garment {id} gender {gender:?}")))?,
        sizes: serde_json::from_str(&sizes)
            .map_err(|e| corrupt(format!("garment {id} sizes: {e}")))?,
        colors: colors
            .into_iter()
            .map(|[l, a, b]| Lab::new(l, a, b))
            .collect(),
        pattern: Pattern::parse(&pattern)
            .ok_or_else(|| corrupt(format!("garment {id} pattern {pattern:?}")))?,
        styles: u16::try_from(styles).map_err(|_| corrupt(format!("garment {id} styles")))?,
        price_cents: row.try_get("price_cents")?,
        currency: row.try_get("currency")?,
        available: row.try_get::<i64, _>("available")? != 0,
        image_url: row.try_get("image_url")?,
    })
}

// === feed ingest ===

/// Keys per `IN (...)` list in feed lookups.
const LOOKUP_CHUNK: usize = 400;
/// Garments checked per page when marking the missing ones of a feed.
const PRUNE_PAGE: i64 = 1_000;

impl Db {
    /// The stored garments of `feed` among `external_ids`, by external id.
    #[tracing::instrument(skip_all, fields(feed, keys = external_ids.len()))]
    pub async fn feed_garments(
        &self,
        feed: &str,
        external_ids: &[&str],
    ) -> Result<HashMap<String, FeedGarment>, StoreError> {
        let mut found = HashMap::with_capacity(external_ids.len());
        for chunk in external_ids.chunks(LOOKUP_CHUNK) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "SELECT {COLUMNS}, external_id, product_url, description FROM garments \
                 WHERE feed = ? AND external_id IN ({marks})"
            );
            let sql = self.q(&sql);
            let mut query = sqlx::query(&sql).bind(feed);
            for id in chunk {
                query = query.bind(*id);
            }
            let mut conn = self.acquire(site!()).await?;
            let rows = query.fetch_all(&mut *conn).await?;
            drop(conn);
            for row in &rows {
                let g = FeedGarment {
                    external_id: row.try_get("external_id")?,
                    garment: garment_from_row(row)?,
                    product_url: row.try_get("product_url")?,
                    description: row.try_get("description")?,
                };
                found.insert(g.external_id.clone(), g);
            }
        }
        Ok(found)
    }

    /// Inserts or updates feed garments (with their product page and
    /// description) in batched transactions; the caller leaves unchanged ones out.
    #[tracing::instrument(skip_all, fields(feed, rows = rows.len()))]
    pub async fn upsert_feed_garments(
        &self,
        feed: &str,
        rows: &[FeedGarment],
    ) -> Result<u64, StoreError> {
        const INSERT: &str = "INSERT INTO garments (feed, external_id, title, brand, slot, gender, \
             sizes, colors, pattern, styles, price_cents, currency, available, image_url, \
             product_url, description, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ";
        const FIELDS: [&str; 14] = [
            "title",
            "brand",
            "slot",
            "gender",
            "sizes",
            "colors",
            "pattern",
            "styles",
            "price_cents",
            "currency",
            "available",
            "image_url",
            "product_url",
            "description",
        ];
        let updates: Vec<String> = match self.backend {
            Backend::Sqlite | Backend::Postgres => FIELDS
                .iter()
                .chain(["updated_at"].iter())
                .map(|f| format!("{f} = excluded.{f}"))
                .collect(),
            Backend::MySql => FIELDS
                .iter()
                .chain(["updated_at"].iter())
                .map(|f| format!("{f} = VALUES({f})"))
                .collect(),
        };
        let conflict = match self.backend {
            Backend::Sqlite | Backend::Postgres => "ON CONFLICT (feed, external_id) DO UPDATE SET ",
            Backend::MySql => "ON DUPLICATE KEY UPDATE ",
        };
        let sql = format!("{INSERT}{conflict}{}", updates.join(", "));
        let sql = self.q(&sql);
        let now = now_ms();
        let mut written = 0;
        for batch in rows.chunks(UPSERT_BATCH) {
            let mut conn = self.acquire(site!()).await?;
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            for row in batch {
                let g = &row.garment;
                let colors: Vec<[f32; 3]> = g.colors.iter().map(|c| [c.l, c.a, c.b]).collect();
                sqlx::query(&sql)
                    .bind(feed)
                    .bind(row.external_id.as_str())
                    .bind(g.title.as_str())
                    .bind(g.brand.as_str())
                    .bind(g.slot.as_str())
                    .bind(g.gender.as_str())
                    .bind(json(&g.sizes)?)
                    .bind(json(&colors)?)
                    .bind(g.pattern.as_str())
                    .bind(i64::from(g.styles))
                    .bind(g.price_cents)
                    .bind(g.currency.as_str())
                    .bind(i64::from(g.available))
                    .bind(g.image_url.as_str())
                    .bind(row.product_url.as_str())
                    .bind(row.description.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                written += 1;
            }
            tx.commit().await?;
        }
        Ok(written)
    }

    /// Marks the available garments of `feed` that `seen` does not know as
    /// unavailable; returns how many.
    #[tracing::instrument(skip_all, fields(feed))]
    pub async fn mark_missing_unavailable(
        &self,
        feed: &str,
        seen: &(dyn Fn(&str) -> bool + Send + Sync),
    ) -> Result<u64, StoreError> {
        let page_sql = self.q(
            "SELECT id, external_id FROM garments WHERE feed = ? AND available = 1 AND id > ? \
             ORDER BY id LIMIT ?",
        );
        let mut after = 0i64;
        let mut missing: Vec<i64> = Vec::new();
        let mut marked = 0;
        loop {
            let mut conn = self.acquire(site!()).await?;
            let rows = sqlx::query(&page_sql)
                .bind(feed)
                .bind(after)
                .bind(PRUNE_PAGE)
                .fetch_all(&mut *conn)
                .await?;
            drop(conn);
            let Some(last) = rows.last() else { break };
            after = last.try_get("id")?;
            for row in &rows {
                let external_id: String = row.try_get("external_id")?;
                if !seen(&external_id) {
                    missing.push(row.try_get("id")?);
                }
            }
            if missing.len() >= LOOKUP_CHUNK {
                marked += self.mark_unavailable(&missing).await?;
                missing.clear();
            }
        }
        if !missing.is_empty() {
            marked += self.mark_unavailable(&missing).await?;
        }
        Ok(marked)
    }

    async fn mark_unavailable(&self, ids: &[i64]) -> Result<u64, StoreError> {
        let marks = vec!["?"; ids.len()].join(", ");
        let sql =
            format!("UPDATE garments SET available = 0, updated_at = ? WHERE id IN ({marks})");
        let sql = self.q(&sql);
        let mut query = sqlx::query(&sql).bind(now_ms());
        for id in ids {
            query = query.bind(*id);
        }
        let mut conn = self.acquire(site!()).await?;
        Ok(query.execute(&mut *conn).await?.rows_affected())
    }

    /// The cached analysis of the image at the URL with this hash.
    pub async fn cached_analysis(
        &self,
        url_hash: &str,
    ) -> Result<Option<CachedAnalysis>, StoreError> {
        let sql = self.q(
            "SELECT content_hash, etag, last_modified, analyzer, result FROM image_analyses \
             WHERE url_hash = ?",
        );
        let mut conn = self.acquire(site!()).await?;
        let row = sqlx::query(&sql)
            .bind(url_hash)
            .fetch_optional(&mut *conn)
            .await?;
        row.map(|r| cached_from_row(&r)).transpose()
    }

    /// A cached analysis of the same image bytes, under any URL.
    pub async fn cached_analysis_by_content(
        &self,
        content_hash: &str,
        analyzer: i64,
    ) -> Result<Option<CachedAnalysis>, StoreError> {
        let sql = self.q(
            "SELECT content_hash, etag, last_modified, analyzer, result FROM image_analyses \
             WHERE content_hash = ? AND analyzer = ? LIMIT 1",
        );
        let mut conn = self.acquire(site!()).await?;
        let row = sqlx::query(&sql)
            .bind(content_hash)
            .bind(analyzer)
            .fetch_optional(&mut *conn)
            .await?;
        row.map(|r| cached_from_row(&r)).transpose()
    }

    /// Stores (or replaces) the analysis of the image at `image_url`.
    pub async fn store_analysis(
        &self,
        url_hash: &str,
        image_url: &str,
        entry: &CachedAnalysis,
    ) -> Result<(), StoreError> {
        let sql = match self.backend {
            Backend::Sqlite | Backend::Postgres => self.q(
                "INSERT INTO image_analyses (url_hash, image_url, content_hash, etag, \
                 last_modified, analyzer, result, analysed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (url_hash) DO UPDATE SET image_url = excluded.image_url, \
                 content_hash = excluded.content_hash, etag = excluded.etag, \
                 last_modified = excluded.last_modified, analyzer = excluded.analyzer, \
                 result = excluded.result, analysed_at = excluded.analysed_at",
            ),
            Backend::MySql => self.q(
                "INSERT INTO image_analyses (url_hash, image_url, content_hash, etag, \
                 last_modified, analyzer, result, analysed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE image_url = VALUES(image_url), \
                 content_hash = VALUES(content_hash), etag = VALUES(etag), \
                 last_modified = VALUES(last_modified), analyzer = VALUES(analyzer), \
                 result = VALUES(result), analysed_at = VALUES(analysed_at)",
            ),
        };
        let mut conn = self.acquire(site!()).await?;
        sqlx::query(&sql)
            .bind(url_hash)
            .bind(image_url)
            .bind(entry.content_hash.as_str())
            .bind(entry.etag.as_str())
            .bind(entry.last_modified.as_str())
            .bind(entry.analyzer)
            .bind(entry.result.as_str())
            .bind(now_ms())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

fn cached_from_row(row: &AnyRow) -> Result<CachedAnalysis, StoreError> {
    Ok(CachedAnalysis {
        content_hash: row.try_get("content_hash")?,
        etag: row.try_get("etag")?,
        last_modified: row.try_get("last_modified")?,
        analyzer: row.try_get("analyzer")?,
        result: row.try_get("result")?,
    })
}
