//! The engine's in-memory catalog and its refresh from the store.
//!
//! Requests read an `Arc<Catalog>` snapshot; a refresher swaps in a new one
//! when the garment table changes, so a request never waits for a reload.

use std::{
    sync::{Arc, Mutex, RwLock},
    time::Duration,
};

use crate::{
    engine::Catalog,
    store::{Db, StoreError},
    telemetry::Metrics,
};

/// The current catalog snapshot.
#[derive(Debug)]
pub struct CatalogHandle {
    current: RwLock<Arc<Catalog>>,
    /// Fingerprint (rows, latest update) of the loaded snapshot.
    version: Mutex<Option<(i64, i64)>>,
}

impl CatalogHandle {
    pub fn empty() -> CatalogHandle {
        CatalogHandle {
            current: RwLock::new(Arc::new(Catalog::new(Vec::new()))),
            version: Mutex::new(None),
        }
    }

    /// The snapshot to use for one request.
    pub fn get(&self) -> Arc<Catalog> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reloads from the store when the garment table changed; returns whether it did.
    pub async fn refresh(&self, db: &Db, metrics: &Metrics) -> Result<bool, StoreError> {
        let version = db.catalog_version().await?;
        if *self.version.lock().unwrap_or_else(|p| p.into_inner()) == Some(version) {
            return Ok(false);
        }
        let garments = db.all_garments().await?;
        let count = garments.len();
        // building indexes is CPU work; keep it off the request threads' way
        let catalog = tokio::task::spawn_blocking(move || Catalog::new(garments))
            .await
            .map_err(|e| StoreError::Corrupt {
                table: "garments",
                detail: format!("catalog build failed: {e}"),
            })?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(catalog);
        *self.version.lock().unwrap_or_else(|p| p.into_inner()) = Some(version);
        metrics.catalog_garments.set(count as i64);
        tracing::info!(garments = count, "catalog loaded");
        Ok(true)
    }

    /// Refreshes every `period` until the returned task is aborted.
    pub fn spawn_refresher(
        self: &Arc<Self>,
        db: Db,
        metrics: Arc<Metrics>,
        period: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let handle = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period.max(Duration::from_millis(100)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = handle.refresh(&db, &metrics).await {
                    tracing::warn!(error = %e, "catalog refresh failed; keeping the current one");
                }
            }
        })
    }
}
