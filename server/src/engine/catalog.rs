//! The immutable garment catalog plus per-garment features that do not depend
//! on the user (computed once per catalog refresh, reused by every request).

use std::collections::HashMap;
use std::fmt;

use super::color;
use crate::domain::{ColorName, Garment, Gender, Slot, StyleSet};

/// User-independent features of one garment (stored parallel to `Catalog::by_slot`):
/// everything the planner's prefilter and scoring need, in 32 bytes, so a
/// per-request pass over a slot never touches the (string-heavy) garments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Features {
    pub(crate) price_cents: i64,
    /// Bit `i` set when the garment stocks `Catalog::sizes[i]`.
    pub(crate) size_mask: u64,
    pub(crate) styles: StyleSet,
    /// `ColorName::nearest(main_color).bit()`, matched against liked/disliked sets.
    pub(crate) color_bit: u16,
    /// Index into `Catalog::currencies`.
    pub(crate) currency: u16,
    /// Quantised main colour (see [`color`]).
    pub(crate) color_code: u8,
    pub(crate) gender: Gender,
    /// Whether the pattern is loud (printed / checked).
    pub(crate) loud: bool,
    /// No sizes listed: one size fits all.
    pub(crate) one_size: bool,
    /// Has a size beyond the interned vocabulary: check `Garment::has_size` directly.
    pub(crate) size_overflow: bool,
}

/// Most distinct size labels tracked as bits; rarer ones fall back to string compares.
const MAX_SIZE_BITS: usize = 64;

/// An immutable, shareable (`Send + Sync`) garment catalog.
///
/// Built once per catalog refresh; [`super::generate`] and [`super::Planner`]
/// only read it. Garment ids are unique: when the input repeats an id, the
/// first garment with it is kept and later ones are dropped.
pub struct Catalog {
    garments: Vec<Garment>,
    /// Garment id → index into `garments`.
    by_id: HashMap<i64, u32>,
    /// Indices of *available* garments, per `Slot::index()`, sorted by (price, index).
    pub(crate) by_slot: [Vec<u32>; 6],
    /// Features of the garments in `by_slot`, in the same order (so a per-slot scan is sequential).
    pub(crate) slot_features: [Vec<Features>; 6],
    /// Interned size labels (ASCII upper case) → bit in `Features::size_mask`.
    sizes: HashMap<String, u8>,
    /// Interned currency codes (ASCII upper case) → `Features::currency`.
    currencies: HashMap<String, u16>,
}

impl Catalog {
    pub fn new(garments: Vec<Garment>) -> Catalog {
        let mut by_id = HashMap::with_capacity(garments.len());
        let mut kept = Vec::with_capacity(garments.len());
        for g in garments {
            if by_id.contains_key(&g.id) || kept.len() >= u32::MAX as usize {
                continue;
            }
            by_id.insert(g.id, kept.len() as u32);
            kept.push(g);
        }
        let mut sizes: HashMap<String, u8> = HashMap::new();
        let mut currencies: HashMap<String, u16> = HashMap::new();
        let mut by_slot: [Vec<u32>; 6] = Default::default();
        let features = kept
            .iter()
            .enumerate()
            .map(|(i, g)| {
                if g.available {
                    by_slot[g.slot.index()].push(i as u32);
                }
                let mut size_mask = 0u64;
                let mut size_overflow = false;
                for s in &g.sizes {
                    let key = s.to_ascii_uppercase();
                    let next = sizes.len();
                    let bit = match sizes.get(&key) {
                        Some(&b) => Some(b),
                        None if next < MAX_SIZE_BITS => {
                            sizes.insert(key, next as u8);
                            Some(next as u8)
                        }
                        None => None,
                    };
                    match bit {
                        Some(b) => size_mask |= 1 << b,
                        None => size_overflow = true,
                    }
                }
                let key = g.currency.to_ascii_uppercase();
                let next = currencies.len().min(usize::from(u16::MAX)) as u16;
                let currency = *currencies.entry(key).or_insert(next);
                let main = g.main_color();
                Features {
                    price_cents: g.price_cents,
                    size_mask,
                    styles: g.styles,
                    color_bit: ColorName::nearest(main).bit(),
                    currency,
                    color_code: color::color_code(main),
                    gender: g.gender,
                    loud: color::is_loud(g.pattern),
                    one_size: g.sizes.is_empty(),
                    size_overflow,
                }
            })
            .collect::<Vec<Features>>();
        for list in &mut by_slot {
            list.sort_by_key(|&i| (features[i as usize].price_cents, i));
        }
        let slot_features = by_slot
            .each_ref()
            .map(|list| list.iter().map(|&i| features[i as usize]).collect());
        Catalog {
            garments: kept,
            by_id,
            by_slot,
            slot_features,
            sizes,
            currencies,
        }
    }

    /// Size bit for a wanted size label (`0` when no garment lists it).
    pub(crate) fn size_bit(&self, size: &str) -> u64 {
        self.sizes
            .get(&size.to_ascii_uppercase())
            .map_or(0, |&b| 1 << b)
    }

    /// Interned id of a currency code, if any garment uses it.
    pub(crate) fn currency_id(&self, code: &str) -> Option<u16> {
        self.currencies.get(&code.to_ascii_uppercase()).copied()
    }

    pub fn len(&self) -> usize {
        self.garments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.garments.is_empty()
    }

    /// The garment with this id, in O(1).
    pub fn get(&self, id: i64) -> Option<&Garment> {
        self.by_id
            .get(&id)
            .and_then(|&i| self.garments.get(i as usize))
    }

    /// Index of the garment with this id in [`Catalog::garments`] (the index a bias slice uses).
    pub fn index_of(&self, id: i64) -> Option<usize> {
        self.by_id.get(&id).map(|&i| i as usize)
    }

    /// All garments, in input order (minus dropped duplicate ids).
    pub fn garments(&self) -> &[Garment] {
        &self.garments
    }

    /// Number of garments in `slot`.
    pub fn slot_len(&self, slot: Slot) -> usize {
        self.by_slot[slot.index()].len()
    }
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Catalog");
        d.field("len", &self.len());
        for slot in Slot::ALL {
            d.field(slot.as_str(), &self.slot_len(slot));
        }
        d.finish()
    }
}

/// `Catalog` is shared across request handlers: keep it `Send + Sync`.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Catalog>();
};
