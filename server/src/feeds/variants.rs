//! Size variants of one product (same `item_group_id` and colour) merged into
//! one garment: its sizes are the in-stock sizes of its rows, it is available
//! when one of them is, and its price is the lowest available one.
//!
//! Variants usually sit together in a feed; one that turns up after its group
//! was already written is merged into the stored garment ([`merge_into`]),
//! with the same rule, so the result does not depend on where a batch ended.

use std::collections::HashMap;

use super::map::{Draft, MAX_SIZES};
use crate::domain::{Garment, Lab, Pattern};

/// Rows of one garment collected so far.
#[derive(Debug, Clone)]
pub struct Group {
    /// The first row: title, brand, image and the rest come from it.
    pub first: Draft,
    pub sizes: Vec<String>,
    pub available: bool,
    /// Lowest price among in-stock rows.
    pub price_available: Option<i64>,
    /// Lowest price among all rows.
    pub price_any: i64,
    pub rows: u64,
    /// An earlier part of this group was already written in this run.
    pub continues: bool,
}

impl Group {
    fn new(first: Draft, continues: bool) -> Group {
        let mut g = Group {
            sizes: Vec::new(),
            available: false,
            price_available: None,
            price_any: first.price_minor,
            rows: 0,
            continues,
            first,
        };
        let first = g.first.clone();
        g.add(&first);
        g
    }

    fn add(&mut self, d: &Draft) {
        self.rows += 1;
        // another currency cannot be compared; its row still counts for sizes
        let same_currency = d.currency == self.first.currency;
        if same_currency {
            self.price_any = self.price_any.min(d.price_minor);
        }
        if d.available {
            self.available = true;
            if same_currency {
                self.price_available = Some(
                    self.price_available
                        .map_or(d.price_minor, |p| p.min(d.price_minor)),
                );
            }
            if let Some(size) = &d.size
                && self.sizes.len() < MAX_SIZES
                && !self.sizes.iter().any(|s| s.eq_ignore_ascii_case(size))
            {
                self.sizes.push(size.clone());
            }
        }
    }

    /// The garment, with colours and pattern from image analysis (or the feed's).
    pub fn garment(&self, colors: Vec<Lab>, pattern: Option<Pattern>) -> Garment {
        let d = &self.first;
        Garment {
            id: 0,
            title: d.title.clone(),
            brand: d.brand.clone(),
            slot: d.slot,
            gender: d.gender,
            sizes: self.sizes.clone(),
            colors,
            pattern: pattern.or(d.feed_pattern).unwrap_or(Pattern::Solid),
            styles: d.styles,
            price_cents: self.price_available.unwrap_or(self.price_any),
            currency: d.currency.clone(),
            available: self.available,
            image_url: d.image_url.clone(),
        }
    }
}

/// Merges a later part of a group into the stored garment (same rule as [`Group`]).
pub fn merge_into(stored: &Garment, later: &Garment) -> Garment {
    let mut merged = stored.clone();
    for size in &later.sizes {
        if merged.sizes.len() < MAX_SIZES
            && !merged.sizes.iter().any(|s| s.eq_ignore_ascii_case(size))
        {
            merged.sizes.push(size.clone());
        }
    }
    if later.currency == stored.currency {
        merged.price_cents = match (stored.available, later.available) {
            (true, false) => stored.price_cents,
            (false, true) => later.price_cents,
            _ => stored.price_cents.min(later.price_cents),
        };
    }
    merged.available = stored.available || later.available;
    merged
}

/// Groups being collected for the next write, in feed order.
#[derive(Debug, Default)]
pub struct Batch {
    pub groups: Vec<Group>,
    index: HashMap<String, usize>,
}

impl Batch {
    /// Adds a row; `continues` says its group was written earlier in this run.
    pub fn add(&mut self, draft: Draft, continues: bool) {
        match self.index.get(&draft.key) {
            Some(&i) => self.groups[i].add(&draft),
            None => {
                self.index.insert(draft.key.clone(), self.groups.len());
                self.groups.push(Group::new(draft, continues));
            }
        }
    }

    /// Puts a group back (the last one of a flushed batch, waiting for its variants).
    pub fn add_group(&mut self, group: Group) {
        self.index
            .insert(group.first.key.clone(), self.groups.len());
        self.groups.push(group);
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// Takes the groups out, leaving an empty batch.
    pub fn take(&mut self) -> Vec<Group> {
        self.index.clear();
        std::mem::take(&mut self.groups)
    }
}
