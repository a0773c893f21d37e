//! A defective twin of the outfit server, for proving the release gate: one
//! route takes a pooled database connection "to have it ready", then awaits
//! something else (here a short pause standing in for a call to another
//! service) before it gives the connection back. Nothing leaks and a small
//! run never runs out of connections; at the spike's rate the holds add up
//! to more connections than the pool has.
//!
//! `DEFECT_ROUTE` (default `/v1/outfits`) and `DEFECT_HOLD_MS` (default 5)
//! vary the site and the hold.

use std::{sync::LazyLock, time::Duration};

#[path = "common/settings.rs"]
mod settings;

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use outfit_server::{api::AppState, site};
use utoipa_axum::router::OpenApiRouter;

outfit_server::global_allocator!();

static HOLD: LazyLock<Duration> =
    LazyLock::new(|| Duration::from_millis(settings::number("DEFECT_HOLD_MS", 5)));

fn main() -> std::process::ExitCode {
    outfit_server::cli::main_with(Some(with_hold))
}

fn with_hold(router: OpenApiRouter<AppState>, state: &AppState) -> OpenApiRouter<AppState> {
    router.layer(axum::middleware::from_fn_with_state(state.clone(), hold))
}

async fn hold(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().path() == settings::route("/v1/outfits")
        && let Ok(conn) = state.db.acquire(site!()).await
    {
        // "look up the partner's stock first": the connection waits idle meanwhile
        tokio::time::sleep(*HOLD).await;
        drop(conn);
    }
    next.run(req).await
}
