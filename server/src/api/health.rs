//! `/healthz`, `/readyz` and `/metrics`.

use std::time::Duration;

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::{AppState, ErrorBody};

/// How long `/readyz` waits for the database.
const READY_DB_TIMEOUT: Duration = Duration::from_millis(500);
/// A shed within this window makes the instance report not ready.
const READY_SHED_WINDOW: Duration = Duration::from_secs(1);

/// `/healthz`'s answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Alive {
    /// Always `ok`.
    status: &'static str,
}

/// `/readyz`'s answer when ready.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Ready {
    /// Always `ready`.
    status: &'static str,
    /// The store's backend: `sqlite`, `postgres` or `mysql`.
    database: &'static str,
    /// Garments in the engine's catalog.
    garments: usize,
}

/// The process is alive (it answers).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process answers", body = Alive)),
)]
pub(super) async fn alive() -> Json<Alive> {
    Json(Alive { status: "ok" })
}

/// The instance can serve: the database answers and nothing was shed just now.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = Ready),
        (status = 503, description = "Not ready (`not_ready`): shedding, or the database does not answer", body = ErrorBody),
    ),
)]
pub(super) async fn ready(State(state): State<AppState>) -> Response {
    let not_ready = |reason: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ErrorBody {
                error: "not_ready".into(),
                message: reason.into(),
            }),
        )
            .into_response()
    };
    if state.admission.shed_recently(READY_SHED_WINDOW) {
        return not_ready("shedding load");
    }
    match tokio::time::timeout(READY_DB_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => Json(Ready {
            status: "ready",
            database: state.db.backend().name(),
            garments: state.catalog.get().len(),
        })
        .into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            not_ready("database unreachable")
        }
        Err(_) => not_ready("database did not answer in time"),
    }
}

/// Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain")),
)]
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    state.db.sample_pool_metrics();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
