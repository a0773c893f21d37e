//! Row sources: format sniffing and streaming parsers that yield one
//! [`Parsed`] per product record.
//!
//! - [`sniff`]: tells XML from delimited text, picks the delimiter, tells Awin from Google;
//! - [`xml`]: RSS 2.0 `<item>` / Atom `<entry>` with `g:` attributes;
//! - [`delimited`]: TSV and CSV through the `csv` crate, header mapped by [`super::item::Field`];
//! - [`Metered`]: counts bytes and lines, and stops a record over [`super::MAX_RECORD_BYTES`].
//!
//! Parsers are synchronous iterators over a `BufRead` (run them on a blocking
//! thread); memory is bounded by one record plus the reader's buffer.

pub mod delimited;
pub mod sniff;
pub mod xml;

use std::{
    io::{self, BufRead, Read},
    sync::{Arc, atomic::Ordering},
};

use serde::{Deserialize, Serialize};

use super::{FeedError, MAX_RECORD_BYTES, item::FeedItem, report::RowPos};
use crate::feeds::report::{Progress, Reason};

/// A feed format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FeedFormat {
    /// Google Merchant Center RSS 2.0 or Atom 1.0 (`g:` namespace).
    GoogleXml,
    /// Google Merchant Center tab-separated text.
    GoogleTsv,
    /// Awin-style CSV; the delimiter (`,` `;` `|` tab) is sniffed.
    AwinCsv,
}

impl FeedFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::GoogleXml => "google-xml",
            FeedFormat::GoogleTsv => "google-tsv",
            FeedFormat::AwinCsv => "awin-csv",
        }
    }

    pub fn parse(s: &str) -> Option<FeedFormat> {
        [
            FeedFormat::GoogleXml,
            FeedFormat::GoogleTsv,
            FeedFormat::AwinCsv,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }
}

/// One record of a feed.
// `Item` is the common case: boxing it would cost an allocation per row to shrink the rare `Bad`
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Item(RowPos, FeedItem),
    /// A record that could not be read; `id` when the parser got that far.
    Bad {
        pos: RowPos,
        id: Option<String>,
        reason: Reason,
        detail: String,
    },
}

/// A streaming parser of one feed.
pub trait RowSource: Iterator<Item = Parsed> + Send + std::fmt::Debug {
    fn format(&self) -> FeedFormat;
    /// Why the feed ended before its end, once the iterator is exhausted.
    fn stopped(&self) -> Option<&str>;
}

/// Opens a row source over `reader`, sniffing the format unless `format` is given.
/// `progress` (when given) counts the bytes consumed.
pub fn open<R: Read + Send + std::fmt::Debug + 'static>(
    reader: R,
    format: Option<FeedFormat>,
    progress: Option<Arc<Progress>>,
) -> Result<Box<dyn RowSource>, FeedError> {
    let mut input = Metered::new(io::BufReader::with_capacity(64 * 1024, reader), progress);
    let head = input.fill_buf().map_err(|e| FeedError::Unreadable {
        source_name: "input".into(),
        source: e,
    })?;
    let sniffed = sniff::sniff(head)?;
    let format = format.unwrap_or(sniffed.format);
    match format {
        FeedFormat::GoogleXml => Ok(Box::new(xml::XmlRows::new(input)?)),
        FeedFormat::GoogleTsv => Ok(Box::new(delimited::DelimitedRows::new(
            input,
            b'\t',
            FeedFormat::GoogleTsv,
        )?)),
        FeedFormat::AwinCsv => {
            let delimiter = sniff::delimiter(head_line(&mut input)?).unwrap_or(b',');
            Ok(Box::new(delimited::DelimitedRows::new(
                input,
                delimiter,
                FeedFormat::AwinCsv,
            )?))
        }
    }
}

fn head_line<R: BufRead>(input: &mut R) -> Result<&[u8], FeedError> {
    let head = input.fill_buf().map_err(|e| FeedError::Unreadable {
        source_name: "input".into(),
        source: e,
    })?;
    Ok(sniff::first_line(head))
}

/// A `BufRead` that counts consumed bytes and newlines, and fails a record
/// that grows past [`MAX_RECORD_BYTES`] since the last [`Metered::mark`].
#[derive(Debug)]
pub struct Metered<R> {
    inner: R,
    consumed: u64,
    newlines: u64,
    mark: u64,
    shared: Option<Arc<Progress>>,
    /// Bytes not yet added to `shared` (published in chunks to keep atomics off the hot path).
    unpublished: u64,
}

impl<R: BufRead> Metered<R> {
    pub fn new(inner: R, shared: Option<Arc<Progress>>) -> Metered<R> {
        Metered {
            inner,
            consumed: 0,
            newlines: 0,
            mark: 0,
            shared,
            unpublished: 0,
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> u64 {
        self.consumed
    }

    /// 1-based line of the next unconsumed byte.
    pub fn line(&self) -> u64 {
        self.newlines + 1
    }

    /// Starts a new record: the size limit counts from here.
    pub fn mark(&mut self) {
        self.mark = self.consumed;
    }

    fn publish(&mut self) {
        if let Some(shared) = &self.shared {
            shared
                .bytes_read
                .fetch_add(self.unpublished, Ordering::Relaxed);
        }
        self.unpublished = 0;
    }
}

impl<R: BufRead> BufRead for Metered<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.consumed - self.mark > MAX_RECORD_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "a record longer than {} MiB (an unterminated quote or CDATA section?)",
                    MAX_RECORD_BYTES / (1024 * 1024)
                ),
            ));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let amt = amt.min(buf.len());
            self.newlines += buf[..amt].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        self.inner.consume(amt);
        self.consumed += amt as u64;
        self.unpublished += amt as u64;
        if self.unpublished >= 256 * 1024 {
            self.publish();
        }
    }
}

impl<R: BufRead> Read for Metered<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let buf = self.fill_buf()?;
        let n = buf.len().min(out.len());
        out[..n].copy_from_slice(&buf[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R> Drop for Metered<R> {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared
                .bytes_read
                .fetch_add(self.unpublished, Ordering::Relaxed);
        }
    }
}
