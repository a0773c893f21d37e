//! Product datafeed ingest: parse affiliate feeds, analyse garment images,
//! and upsert the catalog the engine reads (the catalog refresher picks the
//! changes up by itself).
//!
//! Formats, all parsed streaming with bounded memory (a record is never
//! larger than [`MAX_RECORD_BYTES`], a feed never sits in memory whole):
//! Google Merchant Center RSS 2.0 / Atom 1.0 with the `g:` namespace
//! (quick-xml), Google Merchant Center TSV, and Awin-style CSV with a sniffed
//! delimiter (`,`, `;`, `|` or tab).
//!
//! Layout:
//! - [`parse`]: format sniffing and the row sources ([`parse::xml`], [`parse::delimited`]);
//! - [`item`]: [`item::FeedItem`], one product row as the feed wrote it, and the column aliases;
//! - [`map`]: a feed item to a garment draft (price, slot, gender, sizes, availability);
//!   [`vocab`] holds the word lists behind it and [`price`] the price parser;
//! - [`variants`]: merging the size variants of one product (same `item_group_id` and colour);
//! - [`fetch`]: image download over HTTP or from `file://` (timeouts, size cap, retries);
//! - [`images`]: fetch + cache + analyse for one garment, with the analysis cache by URL and content hash;
//! - [`analysis`]: OpenCV garment mask, dominant colours, pattern (feature `opencv`);
//! - [`color`]: sRGB to L*a*b*, OpenCV's 8-bit Lab scaling, CIEDE2000;
//! - [`report`]: the ingest report (counts by reason, issues with row numbers) and live progress;
//! - [`ingest`]: the pipeline: parse -> map -> merge variants -> images -> upsert -> prune;
//! - [`source`]: a feed path or URL to a local file (URLs are downloaded to a temporary file);
//! - [`synthetic`]: deterministic generated feeds for benchmarks and the memory check;
//! - [`stored`]: the rows ingest reads and writes (queries in `store::garments`).
//!
//! Variants: rows that share `item_group_id` *and* colour become one garment
//! whose sizes are the in-stock sizes of its rows. The engine dresses a user
//! in one size, so five rows for S..XL of one shirt would otherwise show the
//! same shirt five times; colour variants stay separate garments because
//! colour is what outfits are built from.

pub mod analysis;
pub mod color;
pub mod fetch;
pub mod images;
pub mod ingest;
pub mod item;
pub mod map;
pub mod parse;
pub mod price;
pub mod report;
pub mod source;
pub mod stored;
pub mod synthetic;
pub mod variants;
pub mod vocab;

pub use ingest::{IngestOptions, ingest};
pub use parse::FeedFormat;
pub use report::{IngestReport, Progress, Reason};

/// The largest single record (CSV row or XML item) accepted; a longer one
/// (an unterminated quote, a runaway CDATA section) stops the feed there.
pub const MAX_RECORD_BYTES: u64 = 8 * 1024 * 1024;

/// Why a whole feed could not be ingested (row-level problems go to the report).
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("cannot read the feed {source_name}")]
    Unreadable {
        source_name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot download the feed {url}: {detail}")]
    Download { url: String, detail: String },
    #[error("the feed is empty")]
    Empty,
    #[error("cannot tell the feed's format: {0} (use --format)")]
    UnknownFormat(String),
    #[error("the feed is not {expected}: {detail}")]
    WrongFormat {
        expected: &'static str,
        detail: String,
    },
    #[error("the feed has no column for {missing} (found columns: {found})")]
    MissingColumns { missing: String, found: String },
    #[error("storing the feed failed")]
    Store(#[from] crate::store::StoreError),
    #[error("the ingest task failed: {0}")]
    Task(String),
}
