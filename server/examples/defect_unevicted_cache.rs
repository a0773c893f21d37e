//! A defective twin of the outfit server, for proving the release gate: a
//! cache of answers keyed per call (the request's full URI and a counter, so
//! no two calls share a key) that nobody ever evicts. Written the way such a
//! cache is written: a `HashMap` behind a static, entries of a few dozen
//! bytes, so the map's table and its keys grow while the live allocation
//! count grows by one string per call.
//!
//! `DEFECT_ROUTE` (default `/v1/garments`) varies the site; `DEFECT_VALUE`
//! (default 16) the bytes kept per entry beside its key.

use std::{
    collections::HashMap,
    sync::{
        LazyLock, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

#[path = "common/settings.rs"]
mod settings;

use axum::{extract::Request, middleware::Next, response::Response};
use outfit_server::api::AppState;
use utoipa_axum::router::OpenApiRouter;

outfit_server::global_allocator!();

static CACHE: LazyLock<Mutex<HashMap<String, Vec<u8>>>> = LazyLock::new(Default::default);
static CALLS: AtomicU64 = AtomicU64::new(0);

static VALUE: LazyLock<usize> = LazyLock::new(|| settings::number("DEFECT_VALUE", 16) as usize);

fn main() -> std::process::ExitCode {
    outfit_server::cli::main_with(Some(with_cache))
}

fn with_cache(router: OpenApiRouter<AppState>, _: &AppState) -> OpenApiRouter<AppState> {
    router.layer(axum::middleware::from_fn(cached))
}

async fn cached(req: Request, next: Next) -> Response {
    if req.uri().path() != settings::route("/v1/garments") {
        return next.run(req).await;
    }
    let key = format!("{}#{}", req.uri(), CALLS.fetch_add(1, Ordering::Relaxed));
    let response = next.run(req).await;
    if response.status().is_success() {
        let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(key, vec![0; *VALUE]);
    }
    response
}
