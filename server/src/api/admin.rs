//! Admin routes (present only with an admin token): the chaos fault hooks,
//! and jemalloc's heap profiler (activate, dump).

use axum::{
    extract::{FromRequestParts, State},
    http::{StatusCode, header, request::Parts},
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::{AppError, AppJson, AppPath, AppState, ErrorBody};
use crate::chaos::{FaultSpec, FaultView};

/// A request carrying the admin token.
#[derive(Debug)]
pub(super) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let expected = state
            .settings
            .admin_token
            .as_ref()
            .ok_or(AppError::NotFound("route"))?;
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AppError::Unauthorized)?;
        // constant time: the comparison does not reveal how much matched
        let same: bool = given
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes())
            .into();
        if same {
            Ok(Admin)
        } else {
            Err(AppError::Unauthorized)
        }
    }
}

/// The active faults.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct FaultList {
    /// Each with its id and spec.
    #[schema(value_type = Vec<Object>)]
    faults: Vec<FaultView>,
}

fn chaos(state: &AppState) -> Result<&std::sync::Arc<crate::chaos::Chaos>, AppError> {
    state.chaos.as_ref().ok_or(AppError::NotFound("route"))
}

/// Active faults.
#[utoipa::path(
    get,
    path = "/admin/chaos/faults",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The active faults", body = FaultList),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<AppJson<FaultList>, AppError> {
    Ok(AppJson(FaultList {
        faults: chaos(&state)?.list(),
    }))
}

/// A fault to activate.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewFault {
    /// The same spec as `--chaos-fault`, e.g. `leak-memory:bytes=3`.
    spec: String,
}

/// An activated fault.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = FaultAdded)]
pub(super) struct Added {
    id: u64,
    spec: String,
}

/// Activates a fault.
#[utoipa::path(
    post,
    path = "/admin/chaos/faults",
    tag = "admin",
    security(("admin_token" = [])),
    request_body = NewFault,
    responses(
        (status = 201, description = "Active", body = Added),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 413, description = "The body is larger than the limit", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "Not a fault spec", body = ErrorBody),
    ),
)]
pub(super) async fn add(
    State(state): State<AppState>,
    _admin: Admin,
    AppJson(new): AppJson<NewFault>,
) -> Result<(StatusCode, AppJson<Added>), AppError> {
    let chaos = chaos(&state)?;
    let spec = FaultSpec::parse(&new.spec)
        .map_err(|e| AppError::unprocessable("invalid_fault", e.to_string()))?;
    let id = chaos.add(spec.clone()).await;
    Ok((
        StatusCode::CREATED,
        AppJson(Added {
            id,
            spec: spec.to_string(),
        }),
    ))
}

/// How many faults were removed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = FaultsRemoved)]
pub(super) struct Removed {
    removed: usize,
}

/// Removes every fault.
#[utoipa::path(
    delete,
    path = "/admin/chaos/faults",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Removed", body = Removed),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
    ),
)]
pub(super) async fn clear(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<AppJson<Removed>, AppError> {
    Ok(AppJson(Removed {
        removed: chaos(&state)?.remove(None),
    }))
}

/// Removes one fault.
#[utoipa::path(
    delete,
    path = "/admin/chaos/faults/{id}",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = u64, Path, description = "The fault's id")),
    responses(
        (status = 200, description = "Removed", body = Removed),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such fault", body = ErrorBody),
    ),
)]
pub(super) async fn remove(
    State(state): State<AppState>,
    _admin: Admin,
    AppPath(id): AppPath<u64>,
) -> Result<AppJson<Removed>, AppError> {
    match chaos(&state)?.remove(Some(id)) {
        0 => Err(AppError::NotFound("fault")),
        removed => Ok(AppJson(Removed { removed })),
    }
}

/// Switches jemalloc's heap profiler on (afresh) or off.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Profiling {
    active: bool,
    /// One sample per `2^lg_sample` bytes allocated, on average (default 12,
    /// 4 KiB); 8 to 30.
    lg_sample: Option<u8>,
}

/// The heap profiler's state.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = HeapProfiling)]
pub(super) struct ProfilingState {
    active: bool,
}

fn heap_error(e: crate::heapprof::HeapProfError) -> AppError {
    use crate::heapprof::HeapProfError;
    match e {
        HeapProfError::Unavailable | HeapProfError::Inactive => {
            AppError::conflict("heap_profiling_unavailable", e.to_string())
        }
        other => AppError::Internal(other.into()),
    }
}

/// Activates (resetting what was sampled) or deactivates heap profiling.
#[utoipa::path(
    post,
    path = "/admin/heap/profiling",
    tag = "admin",
    security(("admin_token" = [])),
    request_body = Profiling,
    responses(
        (status = 200, description = "The profiler's new state", body = ProfilingState),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 409, description = "This process has no heap profiler", body = ErrorBody),
        (status = 413, description = "The body is larger than the limit", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "`lg_sample` out of range", body = ErrorBody),
    ),
)]
pub(super) async fn heap_profiling(
    _admin: Admin,
    AppJson(asked): AppJson<Profiling>,
) -> Result<AppJson<ProfilingState>, AppError> {
    let lg_sample = asked.lg_sample.unwrap_or(crate::heapprof::GATE_LG_SAMPLE);
    if !(8..=30).contains(&lg_sample) {
        return Err(AppError::unprocessable(
            "invalid_lg_sample",
            format!("lg_sample must be 8 to 30, not {lg_sample}"),
        ));
    }
    if asked.active {
        crate::heapprof::activate(lg_sample).map_err(heap_error)?;
    } else {
        crate::heapprof::deactivate().map_err(heap_error)?;
    }
    Ok(AppJson(ProfilingState {
        active: crate::heapprof::active(),
    }))
}

/// The live sampled heap, symbolized, as a pprof profile (gzipped protobuf).
#[utoipa::path(
    get,
    path = "/admin/heap/profile",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "pprof `inuse_space` profile", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 409, description = "The profiler is not active", body = ErrorBody),
    ),
)]
pub(super) async fn heap_profile(_admin: Admin) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let pprof = crate::heapprof::dump_pprof().await.map_err(heap_error)?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], pprof).into_response())
}
