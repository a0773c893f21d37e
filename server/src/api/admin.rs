//! Admin routes (present only with an admin token): the chaos fault hooks.

use axum::{
    extract::{FromRequestParts, State},
    http::{StatusCode, header, request::Parts},
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::{AppError, AppJson, AppPath, AppState};
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

#[derive(Debug, Serialize)]
pub(super) struct FaultList {
    faults: Vec<FaultView>,
}

fn chaos(state: &AppState) -> Result<&std::sync::Arc<crate::chaos::Chaos>, AppError> {
    state.chaos.as_ref().ok_or(AppError::NotFound("route"))
}

/// Active faults.
pub(super) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<AppJson<FaultList>, AppError> {
    Ok(AppJson(FaultList {
        faults: chaos(&state)?.list(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewFault {
    /// The same spec as `--chaos-fault`, e.g. `leak-memory:bytes=3`.
    spec: String,
}

#[derive(Debug, Serialize)]
pub(super) struct Added {
    id: u64,
    spec: String,
}

/// Activates a fault.
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

#[derive(Debug, Serialize)]
pub(super) struct Removed {
    removed: usize,
}

/// Removes every fault.
pub(super) async fn clear(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<AppJson<Removed>, AppError> {
    Ok(AppJson(Removed {
        removed: chaos(&state)?.remove(None),
    }))
}

/// Removes one fault.
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
