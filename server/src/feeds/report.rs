//! The ingest report (JSON and a console summary) and live progress.
//!
//! Every problem is counted under its [`Reason`]; the first
//! [`MAX_LISTED_ISSUES`] are also listed with their row and line, so a feed
//! of a million bad rows still makes a small report.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::atomic::{AtomicU64, Ordering},
};

use serde::{Deserialize, Serialize};

use super::parse::FeedFormat;

/// Issues listed one by one in a report; past this they are only counted.
pub const MAX_LISTED_ISSUES: usize = 1_000;

/// Where a record sits in the feed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowPos {
    /// 1-based ordinal of the product record (CSV data row without the header, XML item).
    pub row: u64,
    /// 1-based line of the file where the record starts.
    pub line: u64,
}

/// Why a row was rejected, or what went wrong with its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// An XML item that is not well-formed (mismatched tags, bad entity, bad UTF-8).
    MalformedXml,
    /// A CSV/TSV row with the wrong number of fields or bad UTF-8.
    MalformedRow,
    /// A required field (id, title, price, image_link) is empty.
    MissingField,
    UnparsablePrice,
    /// No slot (top, bottom, dress, shoes, outerwear, accessory) fits the category.
    UnknownCategory,
    /// Children's wear: the catalog dresses adults.
    NotAdult,
    /// A second row with an id already seen in this feed.
    DuplicateId,
    /// The feed stopped before its end (cut off, a record over the size limit, a read error).
    FeedTruncated,
    // image problems: the garment is still stored, with the feed's own colour
    ImageUnreachable,
    ImageTooLarge,
    ImageNotAnImage,
    ImageCorrupt,
    /// The image decoded but no garment could be told from its background.
    ImageUnanalysable,
    /// Availability text we do not know; the row is taken as in stock.
    UnknownAvailability,
}

impl Reason {
    /// Whether a row with this problem is left out of the catalog.
    pub fn rejects_row(self) -> bool {
        !matches!(
            self,
            Reason::ImageUnreachable
                | Reason::ImageTooLarge
                | Reason::ImageNotAnImage
                | Reason::ImageCorrupt
                | Reason::ImageUnanalysable
                | Reason::UnknownAvailability
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MalformedXml => "malformed_xml",
            Reason::MalformedRow => "malformed_row",
            Reason::MissingField => "missing_field",
            Reason::UnparsablePrice => "unparsable_price",
            Reason::UnknownCategory => "unknown_category",
            Reason::NotAdult => "not_adult",
            Reason::DuplicateId => "duplicate_id",
            Reason::FeedTruncated => "feed_truncated",
            Reason::ImageUnreachable => "image_unreachable",
            Reason::ImageTooLarge => "image_too_large",
            Reason::ImageNotAnImage => "image_not_an_image",
            Reason::ImageCorrupt => "image_corrupt",
            Reason::ImageUnanalysable => "image_unanalysable",
            Reason::UnknownAvailability => "unknown_availability",
        }
    }
}

/// One listed problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub row: u64,
    pub line: u64,
    /// The row's product id, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub reason: Reason,
    pub detail: String,
}

/// What image analysis did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSummary {
    /// `"opencv"`, or why analysis is off.
    pub analysis: String,
    /// Images analysed in this run.
    pub analysed: u64,
    /// Results reused from the analysis cache (same URL and content, or a 304).
    pub cached: u64,
    pub failed: u64,
}

/// The outcome of one ingest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    pub feed: String,
    pub source: String,
    pub format: Option<FeedFormat>,
    pub duration_ms: u64,
    /// Product records read.
    pub rows: u64,
    /// Rows that went into a garment.
    pub accepted: u64,
    pub rejected: u64,
    /// Distinct garments after merging size variants.
    pub garments: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Garments of this feed missing from this pull, now unavailable.
    pub marked_unavailable: u64,
    /// Why missing garments were left alone (an incomplete or empty pull).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune_skipped: Option<String>,
    /// Why the feed stopped before its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
    pub images: ImageSummary,
    /// Problems counted by reason (snake_case keys).
    pub counts: BTreeMap<Reason, u64>,
    /// The first problems, in feed order.
    pub issues: Vec<Issue>,
    /// More problems happened than are listed.
    pub issues_truncated: bool,
}

impl IngestReport {
    /// Records a problem: counted always, listed while there is room.
    pub fn issue(
        &mut self,
        pos: RowPos,
        id: Option<&str>,
        reason: Reason,
        detail: impl Into<String>,
    ) {
        *self.counts.entry(reason).or_insert(0) += 1;
        if self.issues.len() < MAX_LISTED_ISSUES {
            self.issues.push(Issue {
                row: pos.row,
                line: pos.line,
                id: id.filter(|s| !s.is_empty()).map(str::to_owned),
                reason,
                detail: detail.into(),
            });
        } else {
            self.issues_truncated = true;
        }
    }

    /// How many problems had this reason.
    pub fn count(&self, reason: Reason) -> u64 {
        self.counts.get(&reason).copied().unwrap_or(0)
    }

    /// A few human lines for the console.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let format = self.format.map(FeedFormat::as_str).unwrap_or("unknown");
        let _ = writeln!(
            s,
            "feed {:?} ({format}) from {}: {} rows in {:.1} s",
            self.feed,
            self.source,
            self.rows,
            self.duration_ms as f64 / 1000.0
        );
        let _ = writeln!(
            s,
            "  accepted {}, rejected {}; garments {} (inserted {}, updated {}, unchanged {}), marked unavailable {}",
            self.accepted,
            self.rejected,
            self.garments,
            self.inserted,
            self.updated,
            self.unchanged,
            self.marked_unavailable
        );
        let _ = writeln!(
            s,
            "  images: analysis {}; analysed {}, from cache {}, failed {}",
            self.images.analysis, self.images.analysed, self.images.cached, self.images.failed
        );
        if let Some(why) = &self.truncated {
            let _ = writeln!(s, "  FEED STOPPED EARLY: {why}");
        }
        if let Some(why) = &self.prune_skipped {
            let _ = writeln!(s, "  missing garments left as they were: {why}");
        }
        for (reason, n) in &self.counts {
            let first = self
                .issues
                .iter()
                .filter(|i| i.reason == *reason)
                .take(5)
                .map(|i| i.row.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(s, "  {:<22} {n:>8}   rows {first}", reason.as_str());
        }
        s
    }
}

/// Live counters of a running ingest, shared with the progress display and the admin API.
#[derive(Debug, Default)]
pub struct Progress {
    /// Feed bytes read so far.
    pub bytes_read: AtomicU64,
    /// Size of the feed file, when known (0: unknown).
    pub bytes_total: AtomicU64,
    pub rows: AtomicU64,
    pub rejected: AtomicU64,
    pub garments_written: AtomicU64,
    pub images_done: AtomicU64,
}

/// A copy of [`Progress`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressView {
    pub bytes_read: u64,
    pub bytes_total: u64,
    pub rows: u64,
    pub rejected: u64,
    pub garments_written: u64,
    pub images_done: u64,
}

impl Progress {
    pub fn view(&self) -> ProgressView {
        ProgressView {
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            garments_written: self.garments_written.load(Ordering::Relaxed),
            images_done: self.images_done.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl ProgressView {
    /// One terminal line: `rows 120,000  rejected 3  garments 98,000  images 0  41% of 88 MB`.
    pub fn line(&self) -> String {
        let mut s = format!(
            "rows {}  rejected {}  garments {}  images {}",
            self.rows, self.rejected, self.garments_written, self.images_done
        );
        if self.bytes_total > 0 {
            let pct = self.bytes_read.saturating_mul(100) / self.bytes_total.max(1);
            let _ = write!(
                s,
                "  {pct}% of {:.1} MB",
                self.bytes_total as f64 / 1_000_000.0
            );
        }
        s
    }
}
