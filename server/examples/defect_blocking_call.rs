//! A defective twin of the outfit server, for proving the release gate: one
//! route makes a blocking call on the async workers, the way it slips in (a
//! synchronous sleep "to be gentle with the partner's API", or a CPU-bound
//! loop). Every other request on that worker waits behind it.
//!
//! `DEFECT_ROUTE` (default `/v1/outfits`), `DEFECT_BLOCK_MS` (default 4) and
//! `DEFECT_KIND` (`sleep` or `spin`, default `sleep`) vary the site, the
//! length and the way it blocks.

use std::{
    sync::LazyLock,
    time::{Duration, Instant},
};

#[path = "common/settings.rs"]
mod settings;

use axum::{extract::Request, middleware::Next, response::Response};
use outfit_server::api::AppState;
use utoipa_axum::router::OpenApiRouter;

outfit_server::global_allocator!();

static BLOCK: LazyLock<Duration> =
    LazyLock::new(|| Duration::from_millis(settings::number("DEFECT_BLOCK_MS", 4)));
static SPIN: LazyLock<bool> =
    LazyLock::new(|| std::env::var("DEFECT_KIND").is_ok_and(|k| k == "spin"));

fn main() -> std::process::ExitCode {
    outfit_server::cli::main_with(Some(with_block))
}

fn with_block(router: OpenApiRouter<AppState>, _: &AppState) -> OpenApiRouter<AppState> {
    router.layer(axum::middleware::from_fn(block))
}

async fn block(req: Request, next: Next) -> Response {
    if req.uri().path() == settings::route("/v1/outfits") {
        if *SPIN {
            let until = Instant::now() + *BLOCK;
            let mut x = 0u64;
            while Instant::now() < until {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        } else {
            std::thread::sleep(*BLOCK);
        }
    }
    next.run(req).await
}
