//! A feed item to a garment draft: required fields, price, slot, gender,
//! sizes, availability, and the feed's own colour and pattern (used when no
//! image analysis is available).
//!
//! A problem that rejects the row is an `Err((Reason, detail))`; a problem
//! that does not (unknown availability text) is a warning on the draft.

use sha2::{Digest, Sha256};

use super::{
    item::{FeedItem, Field},
    price::parse_price,
    report::{Reason, RowPos},
    vocab::{self, Wearer},
};
use crate::domain::{Gender, Lab, Pattern, Slot, StyleSet};

/// Longest external id the store keys on; longer keys are hashed.
pub const MAX_KEY_LEN: usize = 191;
/// Longest image URL stored; a longer one rejects the row.
pub const MAX_URL_LEN: usize = 2048;
const MAX_TITLE: usize = 500;
const MAX_BRAND: usize = 200;
const MAX_DESCRIPTION: usize = 4000;
/// Longest size text kept (`W32/L34`, `EU 42`).
pub const MAX_SIZE_LEN: usize = 24;
/// Sizes kept per garment: with [`MAX_SIZE_LEN`] (even JSON-escaped) the stored list stays under
/// MySQL's 1,000-character column.
pub const MAX_SIZES: usize = 16;

/// A validated row, ready to merge with its variants.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub pos: RowPos,
    /// The row's own product id.
    pub id: String,
    /// The garment key: `item_group_id` plus colour for variants, else the id.
    pub key: String,
    pub title: String,
    pub brand: String,
    pub description: String,
    pub link: String,
    pub slot: Slot,
    pub gender: Gender,
    pub size: Option<String>,
    pub price_minor: i64,
    pub currency: String,
    pub available: bool,
    pub image_url: String,
    /// Further images to try when the main one fails.
    pub alt_images: Vec<String>,
    /// Colours the feed names (fallback when images are not analysed).
    pub feed_colors: Vec<Lab>,
    pub feed_pattern: Option<Pattern>,
    pub styles: StyleSet,
    /// A problem that did not reject the row.
    pub warning: Option<(Reason, String)>,
}

/// Validates and maps one item.
pub fn to_draft(pos: RowPos, item: &FeedItem) -> Result<Draft, (Reason, String)> {
    let missing: Vec<&str> = Field::REQUIRED
        .iter()
        .filter(|f| item.get(**f).is_empty())
        .map(|f| f.name())
        .collect();
    if !missing.is_empty() {
        return Err((Reason::MissingField, format!("no {}", missing.join(", "))));
    }
    let price =
        parse_price(&item.price, &item.currency).map_err(|e| (Reason::UnparsablePrice, e))?;
    // a sale price counts when it is a lower price in the same currency
    let mut price_minor = price.minor;
    if !item.sale_price.is_empty()
        && let Ok(sale) = parse_price(&item.sale_price, &price.currency)
        && sale.currency == price.currency
        && sale.minor < price_minor
    {
        price_minor = sale.minor;
    }
    let wearer = gender_or_kids(item);
    if !vocab::adult_age_group(&item.age_group) || wearer == Some(Wearer::Kids) {
        return Err((Reason::NotAdult, format!("age group {:?}", item.age_group)));
    }
    let gender = match wearer {
        Some(Wearer::Gender(g)) => g,
        _ => Gender::Unisex,
    };
    let slot = [&item.category, &item.product_type, &item.title]
        .into_iter()
        .find_map(|t| vocab::slot_of(t))
        .ok_or_else(|| {
            let what = [&item.category, &item.product_type]
                .into_iter()
                .find(|t| !t.is_empty())
                .unwrap_or(&item.title);
            (
                Reason::UnknownCategory,
                format!("no slot for {:?}", clip(what, 80)),
            )
        })?;
    if item.image_link.len() > MAX_URL_LEN {
        return Err((
            Reason::MissingField,
            "image_link is longer than 2048 bytes".into(),
        ));
    }
    let (available, warning) = availability(&item.availability);
    let size = Some(clip(&item.size, MAX_SIZE_LEN).to_string()).filter(|s| !s.is_empty());
    let color_key: String = vocab::words(&item.color).collect::<Vec<_>>().join("-");
    let key = if item.item_group_id.is_empty() {
        item.id.clone()
    } else if color_key.is_empty() {
        item.item_group_id.clone()
    } else {
        format!("{}#{color_key}", item.item_group_id)
    };
    Ok(Draft {
        pos,
        id: item.id.clone(),
        key: short_key(key),
        title: clip(&item.title, MAX_TITLE).to_string(),
        brand: clip(&item.brand, MAX_BRAND).to_string(),
        description: clip(&item.description, MAX_DESCRIPTION).to_string(),
        link: if item.link.len() > MAX_URL_LEN {
            String::new()
        } else {
            item.link.clone()
        },
        slot,
        gender,
        size,
        price_minor,
        currency: price.currency,
        available,
        image_url: item.image_link.clone(),
        alt_images: item
            .additional_image_links
            .iter()
            .filter(|u| u.len() <= MAX_URL_LEN)
            .take(2)
            .cloned()
            .collect(),
        feed_colors: vocab::colors_of(&item.color)
            .into_iter()
            .map(|c| c.lab())
            .collect(),
        feed_pattern: vocab::pattern_of(&item.pattern).or_else(|| vocab::pattern_of(&item.title)),
        styles: vocab::styles_of(&[&item.title, &item.product_type, &item.category]),
        warning,
    })
}

/// The explicit gender, else one inferred from the category path, product type and title.
fn gender_or_kids(item: &FeedItem) -> Option<Wearer> {
    [
        &item.gender,
        &item.category,
        &item.product_type,
        &item.title,
    ]
    .into_iter()
    .find_map(|t| vocab::wearer_of(t))
}

/// Availability text to in stock or not; unknown text counts as in stock, with a warning.
fn availability(text: &str) -> (bool, Option<(Reason, String)>) {
    let t: String = text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    match t.as_str() {
        ""
        | "instock"
        | "available"
        | "yes"
        | "y"
        | "1"
        | "true"
        | "limitedavailability"
        | "limitedstock"
        | "lowstock" => (true, None),
        "outofstock" | "soldout" | "no" | "n" | "0" | "false" | "preorder" | "backorder"
        | "discontinued" | "unavailable" => (false, None),
        _ => (
            true,
            Some((
                Reason::UnknownAvailability,
                format!("availability {:?} taken as in stock", clip(text, 40)),
            )),
        ),
    }
}

/// Keys longer than the store's column are replaced by their SHA-256.
fn short_key(key: String) -> String {
    if key.len() <= MAX_KEY_LEN {
        key
    } else {
        format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> FeedItem {
        FeedItem {
            id: "sku-1".into(),
            title: "Striped Linen Shirt".into(),
            price: "39.90 EUR".into(),
            image_link: "http://x/1.jpg".into(),
            product_type: "Women > Tops > Shirts".into(),
            color: "Navy".into(),
            size: "M".into(),
            item_group_id: "grp".into(),
            ..FeedItem::default()
        }
    }

    #[test]
    fn maps_a_good_row() {
        let d = to_draft(RowPos::default(), &item()).expect("valid");
        assert_eq!(d.slot, Slot::Top);
        assert_eq!(d.gender, Gender::Female);
        assert_eq!(d.price_minor, 3990);
        assert_eq!(d.key, "grp#navy");
        assert_eq!(d.feed_pattern, Some(Pattern::Striped));
        assert!(d.available && d.warning.is_none());
    }

    #[test]
    fn rejects_with_reasons() {
        let mut i = item();
        i.price = "abc".into();
        assert_eq!(
            to_draft(RowPos::default(), &i).map_err(|e| e.0),
            Err(Reason::UnparsablePrice)
        );
        let mut i = item();
        i.title.clear();
        assert_eq!(
            to_draft(RowPos::default(), &i).map_err(|e| e.0),
            Err(Reason::MissingField)
        );
        let mut i = item();
        i.age_group = "kids".into();
        assert_eq!(
            to_draft(RowPos::default(), &i).map_err(|e| e.0),
            Err(Reason::NotAdult)
        );
        let mut i = item();
        i.product_type = "Swimwear".into();
        i.title = "Bikini".into();
        assert_eq!(
            to_draft(RowPos::default(), &i).map_err(|e| e.0),
            Err(Reason::UnknownCategory)
        );
        let mut i = item();
        i.sale_price = "29.90 EUR".into();
        i.availability = "maybe".into();
        let d = to_draft(RowPos::default(), &i).expect("valid");
        assert_eq!(d.price_minor, 2990);
        assert_eq!(d.warning.map(|w| w.0), Some(Reason::UnknownAvailability));
    }
}
