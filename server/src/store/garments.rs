//! Garments: batched idempotent upserts, lookups, keyset-paged listing, and the
//! full read the engine's in-memory catalog is built from.

use serde::Serialize;
use sqlx::{Row, any::AnyRow};

use super::{Backend, Db, StoreError, now_ms};
use crate::{
    domain::{Garment, Gender, Lab, Pattern, Slot},
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
    /// batched transactions. Re-running with the same rows changes nothing.
    #[tracing::instrument(skip_all, fields(feed, rows = rows.len()))]
    pub async fn upsert_garments(
        &self,
        feed: &str,
        rows: &[(String, Garment)],
    ) -> Result<u64, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite | Backend::Postgres => self.q(
                "INSERT INTO garments (feed, external_id, title, brand, slot, gender, sizes, colors, \
                 pattern, styles, price_cents, currency, available, image_url, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (feed, external_id) DO UPDATE SET title = excluded.title, \
                 brand = excluded.brand, slot = excluded.slot, gender = excluded.gender, \
                 sizes = excluded.sizes, colors = excluded.colors, pattern = excluded.pattern, \
                 styles = excluded.styles, price_cents = excluded.price_cents, \
                 currency = excluded.currency, available = excluded.available, \
                 image_url = excluded.image_url, updated_at = excluded.updated_at",
            ),
            Backend::MySql => self.q(
                "INSERT INTO garments (feed, external_id, title, brand, slot, gender, sizes, colors, \
                 pattern, styles, price_cents, currency, available, image_url, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE title = VALUES(title), brand = VALUES(brand), \
                 slot = VALUES(slot), gender = VALUES(gender), sizes = VALUES(sizes), \
                 colors = VALUES(colors), pattern = VALUES(pattern), styles = VALUES(styles), \
                 price_cents = VALUES(price_cents), currency = VALUES(currency), \
                 available = VALUES(available), image_url = VALUES(image_url), \
                 updated_at = VALUES(updated_at)",
            ),
        };
        let now = now_ms();
        let mut written = 0;
        for batch in rows.chunks(UPSERT_BATCH) {
            let mut conn = self.acquire(site!()).await?;
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            for (external_id, g) in batch {
                let colors: Vec<[f32; 3]> = g.colors.iter().map(|c| [c.l, c.a, c.b]).collect();
                sqlx::query(&sql)
                    .bind(feed)
                    .bind(external_id.as_str())
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
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                written += 1;
            }
            tx.commit().await?;
        }
        Ok(written)
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
