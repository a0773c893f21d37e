//! One product row as the feed wrote it, and the names its columns go by.
//!
//! Google Merchant Center and Awin name the same attribute differently; both
//! map onto [`Field`] through [`Field::from_name`], which also ranks aliases so
//! that `merchant_image_url` wins over `aw_image_url` when a feed has both.

use serde::{Deserialize, Serialize};

/// A product row: trimmed strings, empty when the feed left a field out.
/// Validation happens in [`super::map`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedItem {
    pub id: String,
    pub title: String,
    pub description: String,
    pub link: String,
    pub image_link: String,
    pub additional_image_links: Vec<String>,
    /// `15.00 USD`, or a bare number with the currency in [`FeedItem::currency`] (Awin).
    pub price: String,
    pub sale_price: String,
    /// A separate currency column (Awin's `currency`).
    pub currency: String,
    pub availability: String,
    pub brand: String,
    pub gender: String,
    pub age_group: String,
    pub color: String,
    pub size: String,
    /// `google_product_category`: a taxonomy id or path.
    pub category: String,
    /// The merchant's own category path (`product_type`, Awin's category columns).
    pub product_type: String,
    /// Variants of one product share it.
    pub item_group_id: String,
    pub pattern: String,
}

/// An attribute of [`FeedItem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Id,
    Title,
    Description,
    Link,
    ImageLink,
    AdditionalImageLink,
    Price,
    SalePrice,
    Currency,
    Availability,
    Brand,
    Gender,
    AgeGroup,
    Color,
    Size,
    Category,
    ProductType,
    ItemGroupId,
    Pattern,
}

/// `(name, field, rank)`: lower rank wins when two columns map to one field.
const ALIASES: &[(&str, Field, u8)] = &[
    ("id", Field::Id, 0),
    ("aw_product_id", Field::Id, 0),
    ("title", Field::Title, 0),
    ("product_name", Field::Title, 0),
    ("description", Field::Description, 0),
    ("product_short_description", Field::Description, 1),
    ("link", Field::Link, 0),
    ("aw_deep_link", Field::Link, 0),
    ("merchant_deep_link", Field::Link, 1),
    ("image_link", Field::ImageLink, 0),
    ("merchant_image_url", Field::ImageLink, 0),
    ("aw_image_url", Field::ImageLink, 1),
    ("large_image", Field::ImageLink, 2),
    ("additional_image_link", Field::AdditionalImageLink, 0),
    ("alternate_image", Field::AdditionalImageLink, 0),
    ("alternate_image_two", Field::AdditionalImageLink, 0),
    ("alternate_image_three", Field::AdditionalImageLink, 0),
    ("alternate_image_four", Field::AdditionalImageLink, 0),
    ("price", Field::Price, 0),
    ("search_price", Field::Price, 0),
    ("store_price", Field::Price, 1),
    ("sale_price", Field::SalePrice, 0),
    ("currency", Field::Currency, 0),
    ("availability", Field::Availability, 0),
    ("in_stock", Field::Availability, 0),
    ("stock_status", Field::Availability, 1),
    ("brand", Field::Brand, 0),
    ("brand_name", Field::Brand, 0),
    ("gender", Field::Gender, 0),
    ("fashion:suitable_for", Field::Gender, 0),
    ("age_group", Field::AgeGroup, 0),
    ("color", Field::Color, 0),
    ("colour", Field::Color, 0),
    ("size", Field::Size, 0),
    ("fashion:size", Field::Size, 0),
    ("google_product_category", Field::Category, 0),
    ("product_type", Field::ProductType, 0),
    ("merchant_product_category_path", Field::ProductType, 0),
    ("merchant_category", Field::ProductType, 1),
    ("category_name", Field::ProductType, 2),
    ("item_group_id", Field::ItemGroupId, 0),
    ("parent_product_id", Field::ItemGroupId, 1),
    ("pattern", Field::Pattern, 0),
    ("fashion:pattern", Field::Pattern, 1),
];

impl Field {
    /// The field a column or element name stands for, with its rank.
    /// Case-insensitive; a `g:` prefix is ignored.
    pub fn from_name(name: &str) -> Option<(Field, u8)> {
        let name = name.trim();
        let name = name
            .strip_prefix("g:")
            .or_else(|| name.strip_prefix("G:"))
            .unwrap_or(name);
        // XML element names come lowercase already: compare without folding first
        ALIASES
            .iter()
            .find(|(alias, _, _)| *alias == name)
            .or_else(|| {
                ALIASES
                    .iter()
                    .find(|(alias, _, _)| alias.eq_ignore_ascii_case(name))
            })
            .map(|&(_, field, rank)| (field, rank))
    }

    /// Fields without which a row cannot become a garment.
    pub const REQUIRED: [Field; 4] = [Field::Id, Field::Title, Field::Price, Field::ImageLink];

    /// Whether a field may repeat (every value is kept).
    pub fn repeats(self) -> bool {
        self == Field::AdditionalImageLink
    }

    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Title => "title",
            Field::Description => "description",
            Field::Link => "link",
            Field::ImageLink => "image_link",
            Field::AdditionalImageLink => "additional_image_link",
            Field::Price => "price",
            Field::SalePrice => "sale_price",
            Field::Currency => "currency",
            Field::Availability => "availability",
            Field::Brand => "brand",
            Field::Gender => "gender",
            Field::AgeGroup => "age_group",
            Field::Color => "color",
            Field::Size => "size",
            Field::Category => "google_product_category",
            Field::ProductType => "product_type",
            Field::ItemGroupId => "item_group_id",
            Field::Pattern => "pattern",
        }
    }
}

impl FeedItem {
    /// Sets `field` to `value` (trimmed); repeating fields collect every value,
    /// and a Google TSV cell may list several additional images with commas.
    pub fn set(&mut self, field: Field, value: &str) {
        let value = value.trim();
        let slot = match field {
            Field::AdditionalImageLink => {
                self.additional_image_links.extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned),
                );
                return;
            }
            Field::Id => &mut self.id,
            Field::Title => &mut self.title,
            Field::Description => &mut self.description,
            Field::Link => &mut self.link,
            Field::ImageLink => &mut self.image_link,
            Field::Price => &mut self.price,
            Field::SalePrice => &mut self.sale_price,
            Field::Currency => &mut self.currency,
            Field::Availability => &mut self.availability,
            Field::Brand => &mut self.brand,
            Field::Gender => &mut self.gender,
            Field::AgeGroup => &mut self.age_group,
            Field::Color => &mut self.color,
            Field::Size => &mut self.size,
            Field::Category => &mut self.category,
            Field::ProductType => &mut self.product_type,
            Field::ItemGroupId => &mut self.item_group_id,
            Field::Pattern => &mut self.pattern,
        };
        slot.clear();
        slot.push_str(value);
    }

    /// The value of a single-valued field (the first additional image for the repeating one).
    pub fn get(&self, field: Field) -> &str {
        match field {
            Field::AdditionalImageLink => self
                .additional_image_links
                .first()
                .map(String::as_str)
                .unwrap_or(""),
            Field::Id => &self.id,
            Field::Title => &self.title,
            Field::Description => &self.description,
            Field::Link => &self.link,
            Field::ImageLink => &self.image_link,
            Field::Price => &self.price,
            Field::SalePrice => &self.sale_price,
            Field::Currency => &self.currency,
            Field::Availability => &self.availability,
            Field::Brand => &self.brand,
            Field::Gender => &self.gender,
            Field::AgeGroup => &self.age_group,
            Field::Color => &self.color,
            Field::Size => &self.size,
            Field::Category => &self.category,
            Field::ProductType => &self.product_type,
            Field::ItemGroupId => &self.item_group_id,
            Field::Pattern => &self.pattern,
        }
    }
}
