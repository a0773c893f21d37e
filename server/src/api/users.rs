//! `POST /v1/users` (a first app launch) and the onboarding profile.

use axum::{extract::State, http::StatusCode};
use rand::RngCore;
use serde::Serialize;

use super::{AppError, AppJson, AppState, AuthUser, ErrorBody, TOKEN_BYTES, token_hash};
use crate::domain::{ColorName, Profile};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Registered {
    user_id: i64,
    /// Shown once; the server keeps only its hash.
    token: String,
}

/// Anonymous device registration: a new user and their bearer token.
#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "users",
    responses((status = 201, description = "A new user and their bearer token", body = Registered)),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn register(
    State(state): State<AppState>,
) -> Result<(StatusCode, AppJson<Registered>), AppError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let user_id = state.db.create_user(&token_hash(&token)).await?;
    Ok((StatusCode::CREATED, AppJson(Registered { user_id, token })))
}

/// Stores the onboarding answers.
#[utoipa::path(
    put,
    path = "/v1/users/me/profile",
    tag = "users",
    security(("user_token" = [])),
    request_body = Profile,
    responses(
        (status = 200, description = "The stored answers", body = Profile),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 413, description = "The body is larger than the limit", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "The answers are not valid", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(user_id = user.id))]
pub(super) async fn put_profile(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(profile): AppJson<Profile>,
) -> Result<AppJson<Profile>, AppError> {
    validate_profile(&profile)?;
    state.db.put_profile(user.id, &profile).await?;
    Ok(AppJson(profile))
}

/// The stored onboarding answers.
#[utoipa::path(
    get,
    path = "/v1/users/me/profile",
    tag = "users",
    security(("user_token" = [])),
    responses(
        (status = 200, description = "The stored answers", body = Profile),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 404, description = "Onboarding is not done yet", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(user_id = user.id))]
pub(super) async fn get_profile(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<AppJson<Profile>, AppError> {
    state
        .db
        .profile(user.id)
        .await?
        .map(AppJson)
        .ok_or(AppError::NotFound("profile"))
}

const LETTER_SIZES: [&str; 7] = ["XXS", "XS", "S", "M", "L", "XL", "XXL"];

/// Checks what serde's types cannot: sizes, budget, currency, colour overlap.
pub(crate) fn validate_profile(p: &Profile) -> Result<(), AppError> {
    let invalid = |field: &str, message: String| {
        Err(AppError::unprocessable(
            "invalid_profile",
            format!("{field}: {message}"),
        ))
    };
    if !LETTER_SIZES.contains(&p.sizes.top.as_str()) {
        return invalid(
            "sizes.top",
            format!(
                "{:?} is not one of {}",
                p.sizes.top,
                LETTER_SIZES.join(", ")
            ),
        );
    }
    let waist = p
        .sizes
        .bottom
        .strip_prefix('W')
        .and_then(|w| w.parse::<u32>().ok())
        .is_some_and(|w| (22..=50).contains(&w));
    if !LETTER_SIZES.contains(&p.sizes.bottom.as_str()) && !waist {
        return invalid(
            "sizes.bottom",
            format!(
                "{:?} is neither a letter size nor a waist like W30",
                p.sizes.bottom
            ),
        );
    }
    let shoes_ok = p
        .sizes
        .shoes
        .parse::<u32>()
        .is_ok_and(|s| (30..=50).contains(&s));
    if !shoes_ok {
        return invalid(
            "sizes.shoes",
            format!("{:?} is not an EU shoe size (30 to 50)", p.sizes.shoes),
        );
    }
    if p.styles.is_empty() {
        return invalid("styles", "choose at least one style".into());
    }
    if p.budget_cents <= 0 || p.budget_cents > 100_000_000 {
        return invalid(
            "budget_cents",
            format!("{} is outside 1..=100000000", p.budget_cents),
        );
    }
    if p.currency.len() != 3 || !p.currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return invalid(
            "currency",
            format!("{:?} is not an ISO 4217 code like EUR", p.currency),
        );
    }
    let both: Vec<ColorName> = p
        .favorite_colors
        .iter()
        .copied()
        .filter(|c| p.disliked_colors.contains(c))
        .collect();
    if let Some(c) = both.first() {
        return invalid(
            "disliked_colors",
            format!("{} is also a favourite colour", c.as_str()),
        );
    }
    if p.disliked_colors.len() >= ColorName::ALL.len() {
        return invalid("disliked_colors", "cannot dislike every colour".into());
    }
    Ok(())
}
