//! HTTP API: the router, shared state, extractors that turn rejections into
//! our JSON errors, and one module per resource.

mod admin;
mod error;
mod garments;
mod health;
mod ingest;
mod outfits;
mod users;

use std::{sync::Arc, time::Instant};

use axum::{
    Extension, Router,
    extract::{DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Request, State},
    http::{Method, StatusCode, header, request::Parts},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use tower_http::{
    catch_panic::CatchPanicLayer, classify::ServerErrorsFailureClass, trace::TraceLayer,
};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use error::{AppError, ErrorBody, RetryLater};

use crate::{
    catalog::CatalogHandle,
    chaos::Chaos,
    config::Settings,
    overload::Admission,
    ratelimit::{RetryAfter, WriteLimiter},
    store::Db,
    telemetry::Metrics,
};

/// What every handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub catalog: Arc<CatalogHandle>,
    pub metrics: Arc<Metrics>,
    pub admission: Arc<Admission>,
    pub settings: Arc<Settings>,
    /// Fault hooks; `None` unless the server was started with chaos on.
    pub chaos: Option<Arc<Chaos>>,
    /// The "similar taste" model; `None` unless `features.taste_model` is on.
    pub taste: Option<Arc<crate::taste::Taste>>,
}

/// The whole application as a router, so tests can drive it without a socket.
///
/// Every route is registered through `routes!` from a handler that carries
/// its `#[utoipa::path]`, so the router and the OpenAPI document served at
/// `/openapi.json` come from this one table.
pub fn app(state: AppState) -> Router {
    app_with(state, None)
}

/// Middleware that a program embedding the server puts around the admitted
/// routes' handlers, innermost: inside admission, deadlines and the poll
/// timer, so whatever it does is measured like the handlers' own code. The
/// defect examples that prove the release gate add theirs here.
pub type HandlerLayer = fn(OpenApiRouter<AppState>, &AppState) -> OpenApiRouter<AppState>;

/// [`app`] with `layer` around the admitted routes' handlers.
pub fn app_with(state: AppState, layer: Option<HandlerLayer>) -> Router {
    let (router, doc) = routes(&state, layer).split_for_parts();
    // the document is fixed for the life of the router: render it once
    let doc = OpenApiJson(Arc::from(doc.to_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document did not serialise");
        String::from("{}")
    })));
    let limiter = Arc::new(WriteLimiter::new(&state.settings.rate_limit));
    router
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(Extension(doc))
        .layer(Extension(limiter))
        .layer(DefaultBodyLimit::max(state.settings.http.body_limit_bytes))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            record_request,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map(MatchedPath::as_str)
                .unwrap_or("unmatched");
            tracing::info_span!("request", method = %req.method(), route, path = %req.uri().path())
        }).on_failure(
            |class, latency, _span: &tracing::Span| log_failure(&class, latency),
        ))
        .with_state(state)
}

/// Logs a 5xx at ERROR, except the contract's 503 (a shed, or the database
/// unavailable): sheds are counted in `http_shed_total`, and the database's
/// failures are logged once where they arise. Logging every shed at ERROR
/// wrote about 11,000 lines in one overload run, burying the real errors.
fn log_failure(class: &ServerErrorsFailureClass, latency: std::time::Duration) {
    if matches!(
        class,
        ServerErrorsFailureClass::StatusCode(axum::http::StatusCode::SERVICE_UNAVAILABLE)
    ) {
        return;
    }
    tracing::error!(
        classification = %class,
        latency_ms = latency.as_millis() as u64,
        "response failed"
    );
}

/// The OpenAPI document of the routes [`app`] serves for these settings.
pub fn openapi(state: &AppState) -> utoipa::openapi::OpenApi {
    routes(state, None).into_openapi()
}

/// The route table: every route with its handler and its documentation.
fn routes(state: &AppState, layer: Option<HandlerLayer>) -> OpenApiRouter<AppState> {
    let admitted = OpenApiRouter::new()
        .routes(routes!(users::register))
        .routes(routes!(users::put_profile, users::get_profile))
        .routes(routes!(outfits::saved))
        .routes(routes!(outfits::generate))
        .routes(routes!(outfits::feedback))
        .routes(routes!(garments::list))
        .routes(routes!(garments::get))
        .routes(routes!(health::ready));
    let mut admitted = match layer {
        Some(layer) => layer(admitted, state),
        None => admitted,
    };
    crate::openapi::add_overload_answers(admitted.get_openapi_mut());
    crate::openapi::add_rate_limit_answers(admitted.get_openapi_mut());
    let admitted = match &state.chaos {
        Some(chaos) => admitted.layer(middleware::from_fn_with_state(
            chaos.clone(),
            crate::chaos::inner,
        )),
        None => admitted,
    };
    // inside admission, so a request's wait for a slot is not timed as a poll
    let admitted = admitted.layer(middleware::from_fn_with_state(
        state.metrics.clone(),
        crate::polltime::time_polls,
    ));
    let admitted = admitted.layer(middleware::from_fn_with_state(
        state.admission.clone(),
        crate::overload::admit,
    ));
    // monitoring must keep working when the server sheds everything else
    let mut operations = OpenApiRouter::new()
        .routes(routes!(health::alive))
        .routes(routes!(health::metrics))
        .routes(routes!(document));
    if state.settings.admin_token.is_some() && state.chaos.is_some() {
        operations = operations
            .routes(routes!(admin::list, admin::add, admin::clear))
            .routes(routes!(admin::remove));
    }
    // feed ingest runs in the background; its routes only start and watch it
    if state.settings.admin_token.is_some() {
        operations = operations
            .merge(ingest::routes())
            .routes(routes!(admin::heap_profiling))
            .routes(routes!(admin::heap_profile));
    }
    let router = admitted.merge(operations);
    // `hang` must escape admission's deadline, so its hook sits outside it
    let router = match &state.chaos {
        Some(chaos) => router.layer(middleware::from_fn_with_state(
            chaos.clone(),
            crate::chaos::outer,
        )),
        None => router,
    };
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi()).merge(router)
}

/// The rendered OpenAPI document.
#[derive(Debug, Clone)]
struct OpenApiJson(Arc<str>);

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of the routes this server serves", body = serde_json::Value)),
)]
async fn document(Extension(doc): Extension<OpenApiJson>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.to_string(),
    )
        .into_response()
}

/// Counts every answer by route and status, and times it.
async fn record_request(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    // `MatchedPath` is a shared string: cloning it allocates nothing
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let started = Instant::now();
    let response = next.run(req).await;
    let elapsed = started.elapsed().as_secs_f64();
    metrics
        .http_duration
        .with_label_values(&[route])
        .observe(elapsed);
    metrics
        .http_requests
        .with_label_values(&[route, response.status().as_str()])
        .inc();
    if let Some(crate::overload::Shed(reason)) = response.extensions().get() {
        metrics
            .http_shed
            .with_label_values(&[reason.as_str()])
            .inc();
        metrics.http_shed_duration.observe(elapsed);
    }
    response
}

fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(serde_json::json!({
            "error": "internal",
            "message": "Something went wrong on our side.",
        })),
    )
        .into_response()
}

/// `Json` whose rejections are our JSON errors.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct AppJson<T>(pub T);

impl<T: serde::Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `Query` whose rejections are our JSON errors.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct AppQuery<T>(pub T);

/// `Path` whose rejections are our JSON errors.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct AppPath<T>(pub T);

/// The user behind a `Authorization: Bearer <token>` header.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: i64,
}

/// Bytes of randomness in a token (256 bits), hex-encoded on the wire.
pub(crate) const TOKEN_BYTES: usize = 32;

/// Tokens are stored only as their SHA-256, so a database dump reveals none.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(AppError::Unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .ok_or(AppError::Unauthorized)?;
        // reject malformed tokens without a database round trip
        if token.len() != TOKEN_BYTES * 2 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AppError::Unauthorized);
        }
        let id = state
            .db
            .user_by_token_hash(&token_hash(token))
            .await?
            .ok_or(AppError::Unauthorized)?;
        tracing::Span::current().record("user_id", id);
        let write = matches!(
            parts.method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        if write && let Some(limiter) = parts.extensions.get::<Arc<WriteLimiter>>() {
            let checked = limiter.check(id);
            state
                .metrics
                .rate_limit_tracked
                .set(limiter.tracked() as i64);
            if let Err(RetryAfter(retry_after_s)) = checked {
                let route = parts
                    .extensions
                    .get::<MatchedPath>()
                    .map_or("unmatched", MatchedPath::as_str);
                state.metrics.rate_limited.with_label_values(&[route]).inc();
                return Err(AppError::RateLimited { retry_after_s });
            }
        }
        Ok(AuthUser { id })
    }
}
