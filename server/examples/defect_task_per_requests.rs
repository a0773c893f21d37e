//! A defective twin of the outfit server, for proving the release gate: every
//! N calls to one route start a background "refresh" task that waits for a
//! signal nobody sends (its sender is kept in a list and never used), so the
//! task never ends. Tasks grow with requests.
//!
//! `DEFECT_ROUTE` (default `/v1/outfits`) and `DEFECT_EVERY` (default 50)
//! vary the site and the rate.

use std::sync::{
    LazyLock, Mutex,
    atomic::{AtomicU64, Ordering},
};

#[path = "common/settings.rs"]
mod settings;

use axum::{extract::Request, middleware::Next, response::Response};
use outfit_server::api::AppState;
use tokio::sync::oneshot;
use utoipa_axum::router::OpenApiRouter;

outfit_server::global_allocator!();

static CALLS: AtomicU64 = AtomicU64::new(0);
/// Senders of the refreshes "to cancel them later".
static PENDING: Mutex<Vec<oneshot::Sender<()>>> = Mutex::new(Vec::new());

static EVERY: LazyLock<u64> = LazyLock::new(|| settings::number("DEFECT_EVERY", 50).max(1));

fn main() -> std::process::ExitCode {
    outfit_server::cli::main_with(Some(with_refresh))
}

fn with_refresh(router: OpenApiRouter<AppState>, _: &AppState) -> OpenApiRouter<AppState> {
    router.layer(axum::middleware::from_fn(refresh_now_and_then))
}

async fn refresh_now_and_then(req: Request, next: Next) -> Response {
    if req.uri().path() == settings::route("/v1/outfits")
        && CALLS.fetch_add(1, Ordering::Relaxed).is_multiple_of(*EVERY)
    {
        let (cancel, cancelled) = oneshot::channel::<()>();
        PENDING
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(cancel);
        tokio::spawn(async move {
            let _ = cancelled.await;
        });
    }
    next.run(req).await
}
