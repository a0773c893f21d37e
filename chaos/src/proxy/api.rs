//! Toxiproxy's HTTP API over a [`Registry`], so Toxiproxy clients work unchanged.
//!
//! Routes, bodies and status codes follow Toxiproxy 2.x: proxies are created
//! with `201`, toxics with `200`, deletions and `/reset` answer `204`, and an
//! error is `{"error": "...", "status": N}`.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use super::{ProxyError, Registry, Toxic};

/// The version `GET /version` reports (this crate's).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// An API error in Toxiproxy's shape.
#[derive(Debug)]
struct ApiError(u16, String);

impl From<ProxyError> for ApiError {
    fn from(e: ProxyError) -> Self {
        ApiError(e.status(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0).unwrap_or(StatusCode::BAD_REQUEST);
        if status.is_server_error() {
            // only bind errors get here: they name the caller's address, nothing internal
            tracing::warn!(error = %self.1, "proxy API error");
        }
        (status, Json(json!({"error": self.1, "status": self.0}))).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

fn body(bytes: &Bytes) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError(400, format!("bad request body: {e}")))
}

fn field<'a>(obj: &'a Value, key: &str) -> Result<Option<&'a str>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError(
            400,
            format!("bad request body: {key} must be a string, not {other}"),
        )),
    }
}

fn flag(obj: &Value, key: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError(
            400,
            format!("bad request body: {key} must be true or false, not {other}"),
        )),
    }
}

/// The API's routes.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/reset", post(reset))
        .route("/populate", post(populate))
        .route("/proxies", get(list).post(create))
        .route(
            "/proxies/{proxy}",
            get(show).post(update).delete(delete_proxy),
        )
        .route(
            "/proxies/{proxy}/toxics",
            get(list_toxics).post(create_toxic),
        )
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(show_toxic).post(update_toxic).delete(delete_toxic),
        )
        .fallback(|| async { ApiError(404, "not found".into()) })
        .with_state(registry)
}

/// Binds the API on `addr` and serves it in a task; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    registry: Arc<Registry>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(registry);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "proxy API stopped");
        }
    });
    Ok((bound, task))
}

async fn version() -> Response {
    Json(json!({ "version": VERSION })).into_response()
}

async fn reset(State(reg): State<Arc<Registry>>) -> ApiResult {
    reg.reset().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list(State(reg): State<Arc<Registry>>) -> Response {
    let map: Map<String, Value> = reg
        .all()
        .into_iter()
        .map(|p| {
            let v = serde_json::to_value(p.view()).unwrap_or(Value::Null);
            (p.name().to_string(), v)
        })
        .collect();
    Json(Value::Object(map)).into_response()
}

async fn create_one(reg: &Registry, v: &Value) -> Result<Value, ApiError> {
    let name = field(v, "name")?.ok_or(ProxyError::MissingField("name"))?;
    let upstream = field(v, "upstream")?.ok_or(ProxyError::MissingField("upstream"))?;
    let listen = field(v, "listen")?.unwrap_or("127.0.0.1:0");
    let enabled = flag(v, "enabled")?.unwrap_or(true);
    let proxy = reg.create(name, listen, upstream, enabled).await?;
    Ok(serde_json::to_value(proxy.view()).unwrap_or(Value::Null))
}

async fn create(State(reg): State<Arc<Registry>>, bytes: Bytes) -> ApiResult {
    let v = body(&bytes)?;
    let view = create_one(&reg, &v).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn populate(State(reg): State<Arc<Registry>>, bytes: Bytes) -> ApiResult {
    let v = body(&bytes)?;
    let list = v
        .as_array()
        .ok_or_else(|| ApiError(400, "bad request body: expected a list of proxies".into()))?;
    let mut out = Vec::new();
    for p in list {
        // populate replaces proxies of the same name
        if let Some(name) = field(p, "name")? {
            let _ = reg.remove(name).await;
        }
        out.push(create_one(&reg, p).await?);
    }
    Ok((StatusCode::CREATED, Json(json!({ "proxies": out }))).into_response())
}

async fn show(State(reg): State<Arc<Registry>>, Path(name): Path<String>) -> ApiResult {
    Ok(Json(reg.get(&name)?.view()).into_response())
}

async fn update(
    State(reg): State<Arc<Registry>>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let proxy = reg.get(&name)?;
    let v = body(&bytes)?;
    if let Some(upstream) = field(&v, "upstream")? {
        proxy.set_upstream(upstream).await?;
    }
    if let Some(listen) = field(&v, "listen")? {
        proxy.set_listen(listen).await?;
    }
    match flag(&v, "enabled")? {
        Some(true) => {
            proxy.enable().await?;
        }
        Some(false) => proxy.disable().await,
        None => {}
    }
    Ok(Json(proxy.view()).into_response())
}

async fn delete_proxy(State(reg): State<Arc<Registry>>, Path(name): Path<String>) -> ApiResult {
    reg.remove(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_toxics(State(reg): State<Arc<Registry>>, Path(name): Path<String>) -> ApiResult {
    Ok(Json(reg.get(&name)?.toxics()).into_response())
}

async fn create_toxic(
    State(reg): State<Arc<Registry>>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let proxy = reg.get(&name)?;
    let toxic = Toxic::from_json(&body(&bytes)?, None).map_err(ProxyError::from)?;
    Ok(Json(proxy.add_toxic(toxic)?).into_response())
}

async fn show_toxic(
    State(reg): State<Arc<Registry>>,
    Path((name, toxic)): Path<(String, String)>,
) -> ApiResult {
    let t = reg
        .get(&name)?
        .toxic(&toxic)
        .ok_or(ProxyError::ToxicNotFound)?;
    Ok(Json(t).into_response())
}

async fn update_toxic(
    State(reg): State<Arc<Registry>>,
    Path((name, toxic)): Path<(String, String)>,
    bytes: Bytes,
) -> ApiResult {
    let proxy = reg.get(&name)?;
    let old = proxy.toxic(&toxic).ok_or(ProxyError::ToxicNotFound)?;
    let new = Toxic::from_json(&body(&bytes)?, Some(&old)).map_err(ProxyError::from)?;
    Ok(Json(proxy.update_toxic(new)?).into_response())
}

async fn delete_toxic(
    State(reg): State<Arc<Registry>>,
    Path((name, toxic)): Path<(String, String)>,
) -> ApiResult {
    reg.get(&name)?.remove_toxic(&toxic)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
