//! `GET /v1/garments/{id}` and the paged `GET /v1/garments`.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::{AppError, AppJson, AppPath, AppQuery, AppState, ErrorBody};
use crate::{
    domain::{ColorName, Garment, Gender, Pattern, Slot, Style, styles_of},
    store::GarmentFilter,
};

/// A garment as the app sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Garment)]
pub(crate) struct GarmentView {
    id: i64,
    title: String,
    brand: String,
    slot: Slot,
    gender: Gender,
    sizes: Vec<String>,
    colors: Vec<ColorView>,
    pattern: Pattern,
    styles: Vec<Style>,
    price: PriceView,
    available: bool,
    image_url: String,
}

/// One of a garment's colours.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = GarmentColor)]
struct ColorView {
    /// The nearest named colour.
    name: ColorName,
    /// CIELAB coordinates: L, a, b.
    lab: [f32; 3],
}

/// A price in minor units of a currency.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = GarmentPrice)]
struct PriceView {
    amount_cents: i64,
    currency: String,
}

impl From<&Garment> for GarmentView {
    fn from(g: &Garment) -> Self {
        GarmentView {
            id: g.id,
            title: g.title.clone(),
            brand: g.brand.clone(),
            slot: g.slot,
            gender: g.gender,
            sizes: g.sizes.clone(),
            colors: g
                .colors
                .iter()
                .map(|c| ColorView {
                    name: ColorName::nearest(*c),
                    lab: [c.l, c.a, c.b],
                })
                .collect(),
            pattern: g.pattern,
            styles: styles_of(g.styles),
            price: PriceView {
                amount_cents: g.price_cents,
                currency: g.currency.clone(),
            },
            available: g.available,
            image_url: g.image_url.clone(),
        }
    }
}

/// One garment.
#[utoipa::path(
    get,
    path = "/v1/garments/{id}",
    tag = "garments",
    params(("id" = i64, Path, description = "The garment's id")),
    responses(
        (status = 200, description = "The garment", body = GarmentView),
        (status = 400, description = "The id is not an integer", body = ErrorBody),
        (status = 404, description = "No such garment", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all, fields(id))]
pub(super) async fn get(
    State(state): State<AppState>,
    AppPath(id): AppPath<i64>,
) -> Result<AppJson<GarmentView>, AppError> {
    let garment = state
        .db
        .garment(id)
        .await?
        .ok_or(AppError::NotFound("garment"))?;
    Ok(AppJson(GarmentView::from(&garment)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// Only garments for this slot.
    slot: Option<Slot>,
    /// Only garments cut for this gender.
    gender: Option<Gender>,
    /// Only (un)available garments.
    available: Option<bool>,
    /// `next_cursor` of the previous page.
    cursor: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A page of garments.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = GarmentPage)]
pub(super) struct ListResponse {
    items: Vec<GarmentView>,
    next_cursor: Option<i64>,
}

/// Garments in id order, paged by cursor.
#[utoipa::path(
    get,
    path = "/v1/garments",
    tag = "garments",
    params(ListQuery),
    responses(
        (status = 200, description = "One page; `next_cursor` is null on the last", body = ListResponse),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
    ),
)]
#[tracing::instrument(skip_all)]
pub(super) async fn list(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ListQuery>,
) -> Result<AppJson<ListResponse>, AppError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::bad_request(
            "invalid_query",
            format!("limit: {limit} is outside 1..=200"),
        ));
    }
    let page = state
        .db
        .garments_page(&GarmentFilter {
            slot: q.slot,
            gender: q.gender,
            available: q.available,
            after_id: q.cursor,
            limit,
        })
        .await?;
    Ok(AppJson(ListResponse {
        items: page.items.iter().map(GarmentView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
