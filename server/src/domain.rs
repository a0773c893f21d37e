//! Domain types shared by the store, the engine and the API.
//!
//! These are plain data: parsing from outside input happens in the API
//! (`serde` with validation) and the store (rows); the engine only reads them.

use serde::{Deserialize, Serialize};

/// Where a garment goes in an outfit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    Top,
    Bottom,
    Dress,
    Shoes,
    Outerwear,
    Accessory,
}

impl Slot {
    pub const ALL: [Slot; 6] = [
        Slot::Top,
        Slot::Bottom,
        Slot::Dress,
        Slot::Shoes,
        Slot::Outerwear,
        Slot::Accessory,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Top => "top",
            Slot::Bottom => "bottom",
            Slot::Dress => "dress",
            Slot::Shoes => "shoes",
            Slot::Outerwear => "outerwear",
            Slot::Accessory => "accessory",
        }
    }

    pub fn parse(s: &str) -> Option<Slot> {
        Slot::ALL.into_iter().find(|slot| slot.as_str() == s)
    }

    /// Index into per-slot arrays (`0..6`).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Who a garment is cut for; a profile's gender selects its own and `Unisex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Female,
    Male,
    Unisex,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
            Gender::Unisex => "unisex",
        }
    }

    pub fn parse(s: &str) -> Option<Gender> {
        [Gender::Female, Gender::Male, Gender::Unisex]
            .into_iter()
            .find(|g| g.as_str() == s)
    }

    /// Whether a garment cut for `self` can be worn by someone who shops `wearer`.
    /// A `Unisex` wearer (no preference) accepts everything.
    pub fn fits(self, wearer: Gender) -> bool {
        self == Gender::Unisex || wearer == Gender::Unisex || self == wearer
    }
}

/// Surface pattern of a garment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    Solid,
    Striped,
    Checked,
    Printed,
}

impl Pattern {
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::Solid => "solid",
            Pattern::Striped => "striped",
            Pattern::Checked => "checked",
            Pattern::Printed => "printed",
        }
    }

    pub fn parse(s: &str) -> Option<Pattern> {
        [
            Pattern::Solid,
            Pattern::Striped,
            Pattern::Checked,
            Pattern::Printed,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// Style tags; a garment has several, stored as a bit set (`1 << style as u16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    Casual,
    Formal,
    Sporty,
    Streetwear,
    Boho,
    Minimal,
    Classic,
    Business,
}

impl Style {
    pub const ALL: [Style; 8] = [
        Style::Casual,
        Style::Formal,
        Style::Sporty,
        Style::Streetwear,
        Style::Boho,
        Style::Minimal,
        Style::Classic,
        Style::Business,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Style::Casual => "casual",
            Style::Formal => "formal",
            Style::Sporty => "sporty",
            Style::Streetwear => "streetwear",
            Style::Boho => "boho",
            Style::Minimal => "minimal",
            Style::Classic => "classic",
            Style::Business => "business",
        }
    }

    pub fn parse(s: &str) -> Option<Style> {
        Style::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A bit set of [`Style`]s.
pub type StyleSet = u16;

pub fn style_set(styles: &[Style]) -> StyleSet {
    styles.iter().fold(0, |acc, s| acc | s.bit())
}

pub fn styles_of(set: StyleSet) -> Vec<Style> {
    Style::ALL
        .into_iter()
        .filter(|s| set & s.bit() != 0)
        .collect()
}

/// A colour in CIE L*a*b* (D65), the space in which we judge distance and harmony.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Lab {
    pub l: f32,
    pub a: f32,
    pub b: f32,
}

impl Lab {
    pub const fn new(l: f32, a: f32, b: f32) -> Lab {
        Lab { l, a, b }
    }

    /// Chroma (C* of LCh).
    pub fn chroma(self) -> f32 {
        (self.a * self.a + self.b * self.b).sqrt()
    }

    /// Hue angle in degrees, `0..360` (h of LCh).
    pub fn hue_deg(self) -> f32 {
        let h = self.b.atan2(self.a).to_degrees();
        if h < 0.0 { h + 360.0 } else { h }
    }

    /// Euclidean distance (CIE76 ΔE).
    pub fn delta_e(self, other: Lab) -> f32 {
        let (dl, da, db) = (self.l - other.l, self.a - other.a, self.b - other.b);
        (dl * dl + da * da + db * db).sqrt()
    }

    /// Low chroma colours (black, white, grey, beige-ish) go with everything.
    pub fn is_neutral(self) -> bool {
        self.chroma() < 12.0
    }
}

/// Named colours a user can like or dislike; each garment colour maps to its nearest name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorName {
    Black,
    White,
    Grey,
    Beige,
    Brown,
    Red,
    Orange,
    Yellow,
    Green,
    Blue,
    Navy,
    Purple,
    Pink,
}

impl ColorName {
    pub const ALL: [ColorName; 13] = [
        ColorName::Black,
        ColorName::White,
        ColorName::Grey,
        ColorName::Beige,
        ColorName::Brown,
        ColorName::Red,
        ColorName::Orange,
        ColorName::Yellow,
        ColorName::Green,
        ColorName::Blue,
        ColorName::Navy,
        ColorName::Purple,
        ColorName::Pink,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ColorName::Black => "black",
            ColorName::White => "white",
            ColorName::Grey => "grey",
            ColorName::Beige => "beige",
            ColorName::Brown => "brown",
            ColorName::Red => "red",
            ColorName::Orange => "orange",
            ColorName::Yellow => "yellow",
            ColorName::Green => "green",
            ColorName::Blue => "blue",
            ColorName::Navy => "navy",
            ColorName::Purple => "purple",
            ColorName::Pink => "pink",
        }
    }

    pub fn parse(s: &str) -> Option<ColorName> {
        let s = if s == "gray" { "grey" } else { s };
        ColorName::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// A representative Lab value (sRGB reference colours converted to Lab, D65).
    pub fn lab(self) -> Lab {
        match self {
            ColorName::Black => Lab::new(5.0, 0.0, 0.0),
            ColorName::White => Lab::new(97.0, 0.0, 1.0),
            ColorName::Grey => Lab::new(54.0, 0.0, 0.0),
            ColorName::Beige => Lab::new(89.0, 1.0, 14.0),
            ColorName::Brown => Lab::new(37.0, 26.0, 41.0),
            ColorName::Red => Lab::new(53.0, 80.0, 67.0),
            ColorName::Orange => Lab::new(67.0, 43.0, 74.0),
            ColorName::Yellow => Lab::new(94.0, -15.0, 85.0),
            ColorName::Green => Lab::new(46.0, -52.0, 50.0),
            ColorName::Blue => Lab::new(45.0, 40.0, -90.0),
            ColorName::Navy => Lab::new(13.0, 47.0, -64.0),
            ColorName::Purple => Lab::new(30.0, 58.0, -36.0),
            ColorName::Pink => Lab::new(84.0, 24.0, 3.0),
        }
    }

    /// The named colour nearest to `lab`.
    pub fn nearest(lab: Lab) -> ColorName {
        let mut best = ColorName::Black;
        let mut best_d = f32::INFINITY;
        for c in ColorName::ALL {
            let d = c.lab().delta_e(lab);
            if d < best_d {
                best_d = d;
                best = c;
            }
        }
        best
    }

    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A bit set of [`ColorName`]s.
pub type ColorSet = u16;

/// A sellable garment as the engine sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Garment {
    pub id: i64,
    pub title: String,
    pub brand: String,
    pub slot: Slot,
    pub gender: Gender,
    /// Sizes in stock, e.g. `["S","M"]`, `["W30"]`, `["42"]`; empty means one size fits all.
    pub sizes: Vec<String>,
    /// Dominant colours, most dominant first (at most three).
    pub colors: Vec<Lab>,
    pub pattern: Pattern,
    pub styles: StyleSet,
    /// Price in minor units (cents) of `currency`.
    pub price_cents: i64,
    /// ISO 4217 code, e.g. `EUR`.
    pub currency: String,
    pub available: bool,
    pub image_url: String,
}

impl Garment {
    /// The garment's main colour, or mid grey when it has none recorded.
    pub fn main_color(&self) -> Lab {
        self.colors
            .first()
            .copied()
            .unwrap_or(ColorName::Grey.lab())
    }

    /// Whether one of this garment's sizes is `size` (one-size garments fit every size).
    pub fn has_size(&self, size: &str) -> bool {
        self.sizes.is_empty() || self.sizes.iter().any(|s| s.eq_ignore_ascii_case(size))
    }
}

/// Sizes a user wears, one per kind of sizing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sizes {
    /// For tops, dresses and outerwear: `XS`..`XXL`.
    pub top: String,
    /// For bottoms: `XS`..`XXL` or waist like `W30`.
    pub bottom: String,
    /// EU shoe size, `35`..`48`.
    pub shoes: String,
}

impl Sizes {
    /// The size that applies to a garment in `slot`; `None` for one-size slots.
    pub fn for_slot(&self, slot: Slot) -> Option<&str> {
        match slot {
            Slot::Top | Slot::Dress | Slot::Outerwear => Some(&self.top),
            Slot::Bottom => Some(&self.bottom),
            Slot::Shoes => Some(&self.shoes),
            Slot::Accessory => None,
        }
    }
}

/// The climate a user lives in; it shifts what "mild" weather means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Climate {
    Cold,
    Temperate,
    Warm,
    Tropical,
}

/// Onboarding answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Which garments to show; `Unisex` shows all.
    pub gender: Gender,
    pub sizes: Sizes,
    /// Styles the user likes (non-empty).
    pub styles: Vec<Style>,
    pub favorite_colors: Vec<ColorName>,
    /// Colours never to suggest (matched against each garment's main colour).
    pub disliked_colors: Vec<ColorName>,
    /// Upper bound on the total price of one outfit, in minor units of `currency`.
    pub budget_cents: i64,
    pub currency: String,
    pub climate: Climate,
}

/// What the outfit is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Occasion {
    Everyday,
    Work,
    Party,
    Date,
    Sport,
    Formal,
}

impl Occasion {
    pub const ALL: [Occasion; 6] = [
        Occasion::Everyday,
        Occasion::Work,
        Occasion::Party,
        Occasion::Date,
        Occasion::Sport,
        Occasion::Formal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Occasion::Everyday => "everyday",
            Occasion::Work => "work",
            Occasion::Party => "party",
            Occasion::Date => "date",
            Occasion::Sport => "sport",
            Occasion::Formal => "formal",
        }
    }

    pub fn parse(s: &str) -> Option<Occasion> {
        Occasion::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Styles that suit the occasion.
    pub fn styles(self) -> StyleSet {
        use Style::*;
        match self {
            Occasion::Everyday => style_set(&[Casual, Streetwear, Minimal, Boho, Classic]),
            Occasion::Work => style_set(&[Business, Classic, Minimal, Formal]),
            Occasion::Party => style_set(&[Streetwear, Boho, Formal, Casual]),
            Occasion::Date => style_set(&[Classic, Minimal, Boho, Formal, Casual]),
            Occasion::Sport => style_set(&[Sporty, Casual]),
            Occasion::Formal => style_set(&[Formal, Business, Classic]),
        }
    }
}

/// The weather the outfit is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weather {
    Hot,
    Mild,
    Cold,
    Rain,
    Snow,
}

impl Weather {
    pub const ALL: [Weather; 5] = [
        Weather::Hot,
        Weather::Mild,
        Weather::Cold,
        Weather::Rain,
        Weather::Snow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Weather::Hot => "hot",
            Weather::Mild => "mild",
            Weather::Cold => "cold",
            Weather::Rain => "rain",
            Weather::Snow => "snow",
        }
    }

    pub fn parse(s: &str) -> Option<Weather> {
        Weather::ALL.into_iter().find(|w| w.as_str() == s)
    }

    /// Cold or wet weather requires an outer layer.
    pub fn needs_outerwear(self) -> bool {
        matches!(self, Weather::Cold | Weather::Rain | Weather::Snow)
    }
}

/// The situation an outfit is generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    pub occasion: Occasion,
    pub weather: Weather,
}

/// One garment placed in an outfit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Placed {
    pub slot: Slot,
    pub garment_id: i64,
}

/// A generated outfit: one garment per filled slot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outfit {
    pub items: Vec<Placed>,
    /// Higher is better; comparable within one request.
    pub score: f32,
    pub total_price_cents: i64,
}
