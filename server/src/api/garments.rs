//! `GET /v1/garments/{id}` and the paged `GET /v1/garments`.

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::{AppError, AppJson, AppPath, AppQuery, AppState};
use crate::{
    domain::{ColorName, Garment, Gender, Pattern, Slot, Style, styles_of},
    store::GarmentFilter,
};

/// A garment as the app sees it.
#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
struct ColorView {
    name: ColorName,
    lab: [f32; 3],
}

#[derive(Debug, Serialize)]
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    slot: Option<Slot>,
    gender: Option<Gender>,
    available: Option<bool>,
    /// `next_cursor` of the previous page.
    cursor: Option<i64>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub(super) struct ListResponse {
    items: Vec<GarmentView>,
    next_cursor: Option<i64>,
}

/// Garments in id order, paged by cursor.
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
