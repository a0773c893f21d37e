//! `/healthz`, `/readyz` and `/metrics`.

use std::time::Duration;

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::AppState;

/// How long `/readyz` waits for the database.
const READY_DB_TIMEOUT: Duration = Duration::from_millis(500);
/// A shed within this window makes the instance report not ready.
const READY_SHED_WINDOW: Duration = Duration::from_secs(1);

/// The process is alive (it answers).
pub(super) async fn alive() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// The instance can serve: the database answers and nothing was shed just now.
pub(super) async fn ready(State(state): State<AppState>) -> Response {
    let not_ready = |reason: &str| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "not_ready", "message": reason })),
        )
            .into_response()
    };
    if state.admission.shed_recently(READY_SHED_WINDOW) {
        return not_ready("shedding load");
    }
    match tokio::time::timeout(READY_DB_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => Json(json!({
            "status": "ready",
            "database": state.db.backend().name(),
            "garments": state.catalog.get().len(),
        }))
        .into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            not_ready("database unreachable")
        }
        Err(_) => not_ready("database did not answer in time"),
    }
}

/// Prometheus text format.
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
