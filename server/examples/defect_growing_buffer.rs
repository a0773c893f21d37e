//! A defective twin of the outfit server, for proving the release gate: every
//! answered call to one route appends a few bytes to a buffer that nothing
//! ever clears (the seed's "similar taste" experiment kept the last outfits
//! it suggested, about 3 bytes a call). Written the way the bug is written:
//! a `Vec` behind a static, growing by doubling, one live allocation.
//!
//! `DEFECT_ROUTE` (default `/v1/outfits`) and `DEFECT_BYTES` (default 3) vary
//! the site and the size. Run it like the server: `defect_growing_buffer serve`.

use std::sync::{LazyLock, Mutex};

#[path = "common/settings.rs"]
mod settings;

use axum::{extract::Request, middleware::Next, response::Response};
use outfit_server::api::AppState;
use utoipa_axum::router::OpenApiRouter;

outfit_server::global_allocator!();

/// What the experiment "remembered" of each suggestion.
static REMEMBERED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

static BYTES: LazyLock<usize> = LazyLock::new(|| settings::number("DEFECT_BYTES", 3) as usize);

fn main() -> std::process::ExitCode {
    outfit_server::cli::main_with(Some(with_memory))
}

fn with_memory(router: OpenApiRouter<AppState>, _: &AppState) -> OpenApiRouter<AppState> {
    router.layer(axum::middleware::from_fn(remember))
}

async fn remember(req: Request, next: Next) -> Response {
    let on_route = req.uri().path() == settings::route("/v1/outfits");
    let response = next.run(req).await;
    if on_route && response.status().is_success() {
        let taste = [b'a'; 64];
        let mut remembered = REMEMBERED.lock().unwrap_or_else(|p| p.into_inner());
        remembered.extend_from_slice(&taste[..(*BYTES).min(taste.len())]);
    }
    response
}
