//! What ingest reads from and writes to the store (the queries live in
//! `store::garments`, next to the other garment queries).

use crate::domain::Garment;

/// A garment of a feed as stored: the engine's fields plus the shop's page.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedGarment {
    /// The garment key within its feed (product id, or item group and colour).
    pub external_id: String,
    pub garment: Garment,
    /// The shop's product page (the feed's `link`).
    pub product_url: String,
    pub description: String,
}

impl FeedGarment {
    /// Whether writing `self` over `stored` would change anything (ids aside).
    pub fn differs_from(&self, stored: &FeedGarment) -> bool {
        let mut g = self.garment.clone();
        g.id = stored.garment.id;
        g != stored.garment
            || self.product_url != stored.product_url
            || self.description != stored.description
    }
}

/// A cached image analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedAnalysis {
    /// SHA-256 (hex) of the image bytes it was made from.
    pub content_hash: String,
    /// Validators of the download, for a conditional request next time (empty: none).
    pub etag: String,
    pub last_modified: String,
    /// [`crate::feeds::analysis::ANALYZER_VERSION`] that made it.
    pub analyzer: i64,
    /// The [`crate::feeds::analysis::Analysis`] as JSON.
    pub result: String,
}
