//! Outfits: generation, feedback (durable before 2xx), saved outfits.

use std::collections::HashSet;

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};

use super::{AppError, AppJson, AppQuery, AppState, AuthUser, ErrorBody, garments::GarmentView};
use crate::{
    domain::{Context, Occasion, Slot, Weather},
    engine,
    store::{FeedbackAction, NewFeedback},
};

/// Most outfits one request may ask for.
const MAX_COUNT: u32 = 20;
/// Most saved outfits returned.
const SAVED_LIMIT: u32 = 100;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct OutfitQuery {
    /// Outfits to generate, 1 to 20 (default 5).
    #[param(minimum = 1, maximum = 20)]
    count: Option<u32>,
    /// Default `everyday`.
    occasion: Option<Occasion>,
    /// Default `mild`.
    weather: Option<Weather>,
    /// Same seed, same profile, same catalog: same outfits.
    seed: Option<u64>,
}

/// Generated outfits and the context they were made for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Outfits)]
pub(super) struct OutfitsResponse {
    outfits: Vec<OutfitView>,
    seed: u64,
    occasion: Occasion,
    weather: Weather,
}

/// One outfit: a garment per slot.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Outfit)]
pub(super) struct OutfitView {
    outfit_id: String,
    score: f32,
    total_price: Price,
    items: Vec<ItemView>,
}

/// A garment in its slot.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = OutfitItem)]
pub(super) struct ItemView {
    slot: Slot,
    garment: GarmentView,
}

/// A price in minor units of a currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct Price {
    amount_cents: i64,
    currency: String,
}

/// A stable id for a set of garments (FNV-1a over the sorted ids).
pub(crate) fn outfit_id(garment_ids: &[i64]) -> String {
    let mut ids = garment_ids.to_vec();
    ids.sort_unstable();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for id in ids {
        for byte in id.to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Generated outfits for the user's profile.
#[utoipa::path(
    get,
    path = "/v1/outfits",
    tag = "outfits",
    security(("user_token" = [])),
    params(OutfitQuery),
    responses(
        (status = 200, description = "Generated outfits", body = OutfitsResponse),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 409, description = "Onboarding is not done yet (`profile_required`)", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(user_id = user.id))]
pub(super) async fn generate(
    State(state): State<AppState>,
    user: AuthUser,
    AppQuery(query): AppQuery<OutfitQuery>,
) -> Result<AppJson<OutfitsResponse>, AppError> {
    let count = query.count.unwrap_or(5);
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(AppError::bad_request(
            "invalid_query",
            format!("count: {count} is outside 1..={MAX_COUNT}"),
        ));
    }
    let profile = state.db.profile(user.id).await?.ok_or_else(|| {
        AppError::conflict(
            "profile_required",
            "complete onboarding (PUT /v1/users/me/profile) before asking for outfits",
        )
    })?;
    let ctx = Context {
        occasion: query.occasion.unwrap_or(Occasion::Everyday),
        weather: query.weather.unwrap_or(Weather::Mild),
    };
    let seed = query.seed.unwrap_or_else(rand::random);
    let catalog = state.catalog.get();
    // only with the flag on (`taste` is `None` otherwise) and a model row for this user
    let bias = state
        .taste
        .as_ref()
        .and_then(|taste| taste.bias(user.id, &catalog));
    let outfits = engine::generate_biased(
        &catalog,
        &profile,
        ctx,
        count as usize,
        seed,
        bias.as_deref(),
    );
    state.metrics.outfits_generated.inc_by(outfits.len() as u64);
    let views = outfits
        .iter()
        .map(|o| {
            let ids: Vec<i64> = o.items.iter().map(|p| p.garment_id).collect();
            OutfitView {
                outfit_id: outfit_id(&ids),
                score: o.score,
                total_price: Price {
                    amount_cents: o.total_price_cents,
                    currency: profile.currency.clone(),
                },
                items: o
                    .items
                    .iter()
                    .filter_map(|p| {
                        catalog.get(p.garment_id).map(|g| ItemView {
                            slot: p.slot,
                            garment: GarmentView::from(g),
                        })
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(AppJson(OutfitsResponse {
        outfits: views,
        seed,
        occasion: ctx.occasion,
        weather: ctx.weather,
    }))
}

/// A like, dislike or save of a set of garments.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = Feedback)]
#[serde(deny_unknown_fields)]
pub(super) struct FeedbackRequest {
    action: FeedbackAction,
    /// The outfit's garments: 1 to 6 distinct ids of existing garments.
    #[schema(min_items = 1, max_items = 6, examples(json!([1, 2, 3])))]
    garment_ids: Vec<i64>,
    /// When given, must be the id the server gave this set of garments.
    outfit_id: Option<String>,
    /// Retries with the same key are recorded once (1 to 128 characters).
    #[schema(min_length = 1, max_length = 128)]
    idempotency_key: Option<String>,
}

/// A recorded feedback.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = FeedbackRecorded)]
pub(super) struct FeedbackResponse {
    feedback_id: i64,
    outfit_id: String,
    action: FeedbackAction,
    /// False when this was a retry of an already recorded write.
    created: bool,
}

/// Records a like, dislike or save. A 2xx means it is committed.
#[utoipa::path(
    post,
    path = "/v1/outfits/feedback",
    tag = "outfits",
    security(("user_token" = [])),
    request_body = FeedbackRequest,
    responses(
        (status = 201, description = "Recorded", body = FeedbackResponse),
        (status = 200, description = "A retry of a recorded write (same `idempotency_key`)", body = FeedbackResponse),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
        (status = 413, description = "The body is larger than the limit", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "The feedback is not valid", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(user_id = user.id))]
pub(super) async fn feedback(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(req): AppJson<FeedbackRequest>,
) -> Result<(StatusCode, AppJson<FeedbackResponse>), AppError> {
    if req.garment_ids.is_empty() || req.garment_ids.len() > Slot::ALL.len() {
        return Err(AppError::unprocessable(
            "invalid_feedback",
            format!(
                "garment_ids: an outfit has 1 to {} garments, got {}",
                Slot::ALL.len(),
                req.garment_ids.len()
            ),
        ));
    }
    let unique: HashSet<i64> = req.garment_ids.iter().copied().collect();
    if unique.len() != req.garment_ids.len() {
        return Err(AppError::unprocessable(
            "invalid_feedback",
            "garment_ids: an outfit lists each garment once",
        ));
    }
    if let Some(key) = &req.idempotency_key
        && (key.is_empty() || key.len() > 128)
    {
        return Err(AppError::unprocessable(
            "invalid_feedback",
            "idempotency_key: 1 to 128 characters",
        ));
    }
    let catalog = state.catalog.get();
    for id in &req.garment_ids {
        if catalog.get(*id).is_none() && state.db.garment(*id).await?.is_none() {
            return Err(AppError::unprocessable(
                "unknown_garment",
                format!("garment_ids: no garment {id}"),
            ));
        }
    }
    let id = outfit_id(&req.garment_ids);
    if let Some(given) = &req.outfit_id
        && *given != id
    {
        return Err(AppError::unprocessable(
            "invalid_feedback",
            format!("outfit_id: {given:?} is not the id of these garments ({id})"),
        ));
    }
    let (feedback_id, created) = state
        .db
        .insert_feedback(
            user.id,
            &NewFeedback {
                action: req.action,
                outfit_id: id.clone(),
                garment_ids: req.garment_ids,
                idempotency_key: req.idempotency_key,
            },
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        AppJson(FeedbackResponse {
            feedback_id,
            outfit_id: id,
            action: req.action,
            created,
        }),
    ))
}

/// The user's saved outfits, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SavedOutfits)]
pub(super) struct SavedResponse {
    saved: Vec<SavedView>,
}

/// A saved outfit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = SavedOutfit)]
pub(super) struct SavedView {
    feedback_id: i64,
    outfit_id: String,
    saved_at_ms: i64,
    garments: Vec<GarmentView>,
}

/// The user's saved outfits, newest first.
#[utoipa::path(
    get,
    path = "/v1/users/me/saved",
    tag = "outfits",
    security(("user_token" = [])),
    responses(
        (status = 200, description = "Up to 100 saved outfits", body = SavedResponse),
        (status = 401, description = "Missing or invalid bearer token", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(user_id = user.id))]
pub(super) async fn saved(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<AppJson<SavedResponse>, AppError> {
    let saved = state.db.saved_outfits(user.id, SAVED_LIMIT).await?;
    let catalog = state.catalog.get();
    let saved = saved
        .into_iter()
        .map(|s| SavedView {
            garments: s
                .garment_ids
                .iter()
                .filter_map(|id| catalog.get(*id).map(GarmentView::from))
                .collect(),
            feedback_id: s.feedback_id,
            outfit_id: s.outfit_id,
            saved_at_ms: s.saved_at_ms,
        })
        .collect();
    Ok(AppJson(SavedResponse { saved }))
}
