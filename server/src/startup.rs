//! Building and running the application: connect, migrate, seed, load the
//! catalog, bind, serve until a shutdown signal, drain, close the pool.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::{
    api::{AppState, HandlerLayer, app_with},
    catalog::CatalogHandle,
    chaos::{Chaos, FaultSpec},
    config::Settings,
    engine,
    overload::Admission,
    store::{Db, StoreError},
    taste::Taste,
    telemetry::Metrics,
};

/// The feed name of the synthetic catalog.
pub const SYNTHETIC_FEED: &str = "synthetic";

/// A built server, bound to its port, not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    refresher: tokio::task::JoinHandle<()>,
    /// The taste model's retrain task; `None` with the flag off.
    taste_trainer: Option<tokio::task::JoinHandle<()>>,
    /// Middleware of an embedding program around the handlers (none in production).
    handler_layer: Option<HandlerLayer>,
}

impl Application {
    /// Connects, migrates, seeds an empty catalog, loads it, and binds.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let settings = Arc::new(settings);
        let metrics = Metrics::new();
        for (name, on) in settings.features.all() {
            metrics
                .feature_enabled
                .with_label_values(&[name])
                .set(i64::from(on));
            tracing::info!(feature = name, enabled = on, "feature flag");
        }
        let db = Db::connect(&settings.database_url, &settings.pool, metrics.clone())
            .await
            .context("connecting to the database")?;
        db.migrate().await.context("migrating the database")?;
        tracing::info!(backend = db.backend().name(), "database ready");
        if settings.seed_garments > 0 {
            seed_if_empty(&db, settings.seed_garments, settings.catalog_seed).await?;
        }
        let catalog = Arc::new(CatalogHandle::empty());
        catalog
            .refresh(&db, &metrics)
            .await
            .context("loading the catalog")?;
        let refresher = catalog.spawn_refresher(
            db.clone(),
            metrics.clone(),
            Duration::from_secs(settings.catalog_refresh_s),
        );
        metrics
            .feature_enabled
            .with_label_values(&["chaos"])
            .set(i64::from(settings.chaos.active()));
        let chaos = if settings.chaos.active() {
            tracing::warn!(
                admin_api = settings.admin_token.is_some(),
                "CHAOS HOOKS ENABLED: this server injects faults on purpose"
            );
            let chaos = Chaos::new(db.clone());
            for spec in &settings.chaos.faults {
                chaos.add(FaultSpec::parse(spec)?).await;
            }
            Some(chaos)
        } else {
            tracing::info!(feature = "chaos", enabled = false, "feature flag");
            None
        };
        // the taste model exists only with its flag on: no task, no memory, no metric otherwise
        let taste = if settings.features.taste_model {
            Some(Taste::new(settings.taste.clone(), &metrics).context("starting the taste model")?)
        } else {
            None
        };
        let taste_trainer = taste.as_ref().map(|t| t.spawn(db.clone()));
        let admission = Admission::new(&settings.overload, metrics.clone());
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        Ok(Application {
            listener,
            state: AppState {
                db,
                catalog,
                metrics,
                admission,
                settings,
                chaos,
                taste,
            },
            refresher,
            taste_trainer,
            handler_layer: None,
        })
    }

    /// Serves with `layer` around the admitted routes' handlers.
    pub fn with_handler_layer(mut self, layer: Option<HandlerLayer>) -> Application {
        self.handler_layer = layer;
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then gives in-flight requests the
    /// grace period, and closes the pool.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.state.settings.shutdown_grace_s);
        let db = self.state.db.clone();
        let limits = self.state.settings.http.clone();
        let admission = self.state.admission.clone();
        let lag_probe = crate::polltime::spawn_lag_probe(&self.state.metrics);
        let router = app_with(self.state, self.handler_layer);
        crate::serve::serve(
            self.listener,
            router,
            admission,
            &limits,
            async move {
                shutdown.await;
                tracing::info!("shutting down: no new connections, draining in-flight requests");
            },
            grace,
        )
        .await;
        self.refresher.abort();
        lag_probe.abort();
        if let Some(trainer) = &self.taste_trainer {
            trainer.abort();
        }
        db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Seeds the synthetic catalog when the store holds no garment.
pub async fn seed_if_empty(db: &Db, garments: usize, seed: u64) -> Result<(), StoreError> {
    let (rows, _) = db.catalog_version().await?;
    if rows == 0 {
        let written = seed_catalog(db, garments, seed).await?;
        tracing::info!(garments = written, seed, "seeded a synthetic catalog");
    }
    Ok(())
}

/// Writes a deterministic synthetic catalog (idempotent for the same seed).
pub async fn seed_catalog(db: &Db, garments: usize, seed: u64) -> Result<u64, StoreError> {
    let rows: Vec<(String, crate::domain::Garment)> = engine::synthetic::catalog(garments, seed)
        .into_iter()
        .map(|g| (format!("syn-{}", g.id), g))
        .collect();
    db.upsert_garments(SYNTHETIC_FEED, &rows).await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
