//! The OpenAPI 3.1 document of the HTTP API, served at `GET /openapi.json`.
//!
//! It is generated from the code: every route is registered through
//! `utoipa_axum`'s `routes!` from a handler carrying `#[utoipa::path]`, so the
//! router and the document are built from one table (see [`crate::api::app`]),
//! and admin routes appear in both only when they are enabled. This module
//! holds what the handlers do not: the document's root (info, security
//! schemes, shared schemas), the schemas of domain types, and the answers that
//! middleware adds to whole groups of routes (`503` overload, `429` write limit).

use std::borrow::Cow;

use serde::Serialize;
use utoipa::{
    Modify, OpenApi, PartialSchema, ToSchema,
    openapi::{
        self, Content, HttpMethod, Ref, RefOr, Response, ResponseBuilder,
        header::HeaderBuilder,
        path::Operation,
        schema::{ObjectBuilder, Schema, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::{
    api::{ErrorBody, RetryLater},
    domain::Climate,
    domain::{ColorName, Gender, Occasion, Pattern, Profile, Sizes, Slot, Style, Weather},
    store::FeedbackAction,
};

/// Security scheme of user routes: the token from `POST /v1/users`.
pub const USER_TOKEN: &str = "user_token";
/// Security scheme of admin routes: the configured `admin_token`.
pub const ADMIN_TOKEN: &str = "admin_token";

/// The document's root; paths come from the router.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Spikeproof outfit server",
        description = "Outfit suggestions over a garment catalog. Errors are JSON `{\"error\", \"message\"}`; \
            under overload any admitted route answers `503` with `Retry-After`, and writes by a user \
            beyond their budget answer `429` with `Retry-After`.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    components(schemas(
        ErrorBody, RetryLater, Profile, Sizes, Gender, Slot, Style, ColorName, Climate, Pattern,
        Occasion, Weather, FeedbackAction
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "users", description = "Device registration and onboarding"),
        (name = "outfits", description = "Generated outfits and feedback"),
        (name = "garments", description = "The garment catalog"),
        (name = "operations", description = "Health, readiness, metrics, this document"),
        (name = "admin", description = "Feed ingest and chaos hooks; present only with an admin token"),
    )
)]
pub struct ApiDoc;

#[derive(Debug)]
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            USER_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The 64-hex-digit token returned once by `POST /v1/users`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            ADMIN_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The server's configured `admin_token`"))
                    .build(),
            ),
        );
    }
}

fn retry_later(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                ))
                .description(Some("Seconds to wait before trying again"))
                .build(),
        )
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(RetryLater::name()))),
        )
        .build()
}

fn operations_mut(doc: &mut openapi::OpenApi) -> Vec<(HttpMethod, &mut Operation)> {
    let mut all = Vec::new();
    for item in doc.paths.paths.values_mut() {
        for (method, op) in [
            (HttpMethod::Get, &mut item.get),
            (HttpMethod::Put, &mut item.put),
            (HttpMethod::Post, &mut item.post),
            (HttpMethod::Delete, &mut item.delete),
            (HttpMethod::Patch, &mut item.patch),
        ] {
            if let Some(op) = op.as_mut() {
                all.push((method, op));
            }
        }
    }
    all
}

/// Adds the admission controller's `503` to every operation of `doc`
/// (the routes behind [`crate::overload::admit`]).
pub fn add_overload_answers(doc: &mut openapi::OpenApi) {
    for (_, op) in operations_mut(doc) {
        // a route's own 503 (`/readyz`) documents a body the overload answer also fits
        op.responses
            .responses
            .entry("503".into())
            .or_insert_with(|| {
                RefOr::T(retry_later(
                    "Overloaded (shed, past its deadline, or the database is busy or away): \
                     try again after `Retry-After` seconds",
                ))
            });
    }
}

/// Adds the write limit's `429` to every write that a user token authorises.
pub fn add_rate_limit_answers(doc: &mut openapi::OpenApi) {
    for (method, op) in operations_mut(doc) {
        let write = matches!(
            method,
            HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch | HttpMethod::Delete
        );
        let by_user = op.security.as_ref().is_some_and(|reqs| {
            serde_json::to_value(reqs)
                .ok()
                .and_then(|v| {
                    v.as_array()
                        .map(|a| a.iter().any(|r| r.get(USER_TOKEN).is_some()))
                })
                .unwrap_or(false)
        });
        if write && by_user {
            op.responses.responses.insert(
                "429".into(),
                RefOr::T(retry_later(
                    "This user's write budget is spent: try again after `Retry-After` seconds",
                )),
            );
        }
    }
}

// === schemas of domain types ===
//
// The domain module stays free of API concerns; its types get their schemas here.

/// A string enum's schema from its serde names; the match makes a new variant
/// a compile error until it is listed.
macro_rules! string_enum_schema {
    ($ty:ident, $doc:literal, [$($variant:ident),+ $(,)?]) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                let _every_variant_listed = |v: $ty| match v {
                    $($ty::$variant)|+ => (),
                };
                let values: Vec<serde_json::Value> = [$($ty::$variant),+]
                    .into_iter()
                    .filter_map(|v| serde_json::to_value(v).ok())
                    .collect();
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(values))
                    .description(Some($doc))
                    .into()
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }
        }
    };
}

string_enum_schema!(
    Slot,
    "Where a garment goes in an outfit",
    [Top, Bottom, Dress, Shoes, Outerwear, Accessory]
);
string_enum_schema!(
    Gender,
    "Who a garment is cut for; a profile's `unisex` shows all",
    [Female, Male, Unisex]
);
string_enum_schema!(
    Pattern,
    "Surface pattern of a garment",
    [Solid, Striped, Checked, Printed]
);
string_enum_schema!(
    Style,
    "A style tag",
    [
        Casual, Formal, Sporty, Streetwear, Boho, Minimal, Classic, Business
    ]
);
string_enum_schema!(
    ColorName,
    "A named colour",
    [
        Black, White, Grey, Beige, Brown, Red, Orange, Yellow, Green, Blue, Navy, Purple, Pink
    ]
);
string_enum_schema!(
    Climate,
    "Where the user lives",
    [Cold, Temperate, Warm, Tropical]
);
string_enum_schema!(
    Occasion,
    "What the outfit is for",
    [Everyday, Work, Party, Date, Sport, Formal]
);
string_enum_schema!(
    Weather,
    "The weather the outfit is for",
    [Hot, Mild, Cold, Rain, Snow]
);
string_enum_schema!(
    FeedbackAction,
    "What the user did with an outfit",
    [Like, Dislike, Save]
);

// The schema of [`Sizes`]: its serde shape (a test keeps the two in step).
/// Sizes a user wears, one per kind of sizing.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // a shape for the schema, never built
struct SizesShape {
    /// For tops, dresses and outerwear: one of `XXS`, `XS`, `S`, `M`, `L`, `XL`, `XXL`.
    #[schema(examples("M"))]
    top: String,
    /// For bottoms: a letter size or a waist such as `W30` (W22 to W50).
    #[schema(examples("W30"))]
    bottom: String,
    /// EU shoe size, 30 to 50.
    #[schema(examples("39"))]
    shoes: String,
}

// The schema of [`Profile`]: its serde shape (a test keeps the two in step).
/// Onboarding answers.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // a shape for the schema, never built
struct ProfileShape {
    gender: Gender,
    sizes: Sizes,
    /// Styles the user likes (at least one).
    #[schema(min_items = 1)]
    styles: Vec<Style>,
    favorite_colors: Vec<ColorName>,
    /// Colours never to suggest; none may also be a favourite, and not all of them.
    disliked_colors: Vec<ColorName>,
    /// Upper bound on one outfit's total price, in minor units of `currency`.
    #[schema(minimum = 1, maximum = 100_000_000)]
    budget_cents: i64,
    /// ISO 4217 code such as `EUR`.
    #[schema(pattern = "^[A-Z]{3}$", examples("EUR"))]
    currency: String,
    climate: Climate,
}

impl PartialSchema for Sizes {
    fn schema() -> RefOr<Schema> {
        SizesShape::schema()
    }
}

impl ToSchema for Sizes {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Sizes")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        SizesShape::schemas(schemas);
    }
}

impl PartialSchema for Profile {
    fn schema() -> RefOr<Schema> {
        ProfileShape::schema()
    }
}

impl ToSchema for Profile {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Profile")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        ProfileShape::schemas(schemas);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// The property names of a component schema of `doc`.
    fn properties(schema: &RefOr<Schema>) -> Vec<String> {
        let v = serde_json::to_value(schema).expect("schema serialises");
        let mut names: Vec<String> = v["properties"]
            .as_object()
            .expect("an object schema")
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    }

    fn sample_profile() -> Profile {
        serde_json::from_value(json!({
            "gender": "female",
            "sizes": { "top": "M", "bottom": "W30", "shoes": "39" },
            "styles": ["casual"],
            "favorite_colors": ["navy"],
            "disliked_colors": [],
            "budget_cents": 60000,
            "currency": "EUR",
            "climate": "temperate"
        }))
        .expect("a valid profile")
    }

    #[test]
    fn the_profile_schema_has_exactly_the_fields_serde_writes() {
        let profile = serde_json::to_value(sample_profile()).expect("serialises");
        assert_eq!(properties(&Profile::schema()), keys(&profile));
        assert_eq!(properties(&Sizes::schema()), keys(&profile["sizes"]));
    }

    #[test]
    fn enum_schemas_list_the_serde_names() {
        let v = serde_json::to_value(Slot::schema()).expect("serialises");
        assert_eq!(
            v["enum"],
            json!(["top", "bottom", "dress", "shoes", "outerwear", "accessory"])
        );
        let v = serde_json::to_value(ColorName::schema()).expect("serialises");
        assert_eq!(
            v["enum"].as_array().map(Vec::len),
            Some(ColorName::ALL.len())
        );
    }
}
