//! Delimited feeds: Google Merchant Center TSV and Awin-style CSV.
//!
//! The header row names the columns; each maps to a [`Field`] (the best-ranked
//! column wins when two map to one field; unknown columns are ignored). A row
//! with the wrong number of fields or bad UTF-8 is reported as malformed and
//! skipped; a read error or a record over the size limit stops the feed.

use std::io::BufRead;

use csv::{ByteRecord, ReaderBuilder};

use super::{FeedFormat, Metered, Parsed, RowSource};
use crate::feeds::{
    FeedError,
    item::{FeedItem, Field},
    report::{Reason, RowPos},
};

/// Row source over a TSV or CSV feed.
#[derive(Debug)]
pub struct DelimitedRows<R: BufRead> {
    reader: csv::Reader<Metered<R>>,
    /// The field of each column, `None` for ignored columns.
    columns: Vec<Option<Field>>,
    id_column: Option<usize>,
    record: ByteRecord,
    format: FeedFormat,
    rows: u64,
    done: bool,
    stopped: Option<String>,
}

impl<R: BufRead + Send> DelimitedRows<R> {
    /// Reads and maps the header row.
    pub fn new(
        input: Metered<R>,
        delimiter: u8,
        format: FeedFormat,
    ) -> Result<DelimitedRows<R>, FeedError> {
        let mut reader = ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(64 * 1024)
            .from_reader(input);
        let mut header = ByteRecord::new();
        let read = reader
            .read_byte_record(&mut header)
            .map_err(|e| FeedError::WrongFormat {
                expected: "a delimited feed with a header row",
                detail: e.to_string(),
            })?;
        if !read {
            return Err(FeedError::Empty);
        }
        let names: Vec<String> = header
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                let raw = if i == 0 {
                    raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
                } else {
                    raw
                };
                String::from_utf8_lossy(raw).trim().to_string()
            })
            .collect();
        let columns = map_columns(&names);
        let missing: Vec<&str> = Field::REQUIRED
            .iter()
            .filter(|f| !columns.contains(&Some(**f)))
            .map(|f| f.name())
            .collect();
        if !missing.is_empty() {
            let mut found: Vec<&str> = names.iter().map(String::as_str).take(12).collect();
            if names.len() > 12 {
                found.push("...");
            }
            return Err(FeedError::MissingColumns {
                missing: missing.join(", "),
                found: found.join(", "),
            });
        }
        let id_column = columns.iter().position(|c| *c == Some(Field::Id));
        Ok(DelimitedRows {
            reader,
            columns,
            id_column,
            record: ByteRecord::new(),
            format,
            rows: 0,
            done: false,
            stopped: None,
        })
    }

    fn bad(&self, pos: RowPos, reason: Reason, detail: String) -> Parsed {
        let id = self
            .id_column
            .and_then(|i| self.record.get(i))
            .and_then(|raw| std::str::from_utf8(raw).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        Parsed::Bad {
            pos,
            id,
            reason,
            detail,
        }
    }
}

/// Maps header names to fields; of two columns for one field the better-ranked one is kept.
pub fn map_columns(names: &[String]) -> Vec<Option<Field>> {
    let ranked: Vec<Option<(Field, u8)>> = names.iter().map(|n| Field::from_name(n)).collect();
    ranked
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let (field, rank) = (*entry)?;
            if field.repeats() {
                return Some(field);
            }
            let beaten = ranked.iter().enumerate().any(|(j, other)| {
                matches!(other, Some((f, r)) if *f == field && (*r < rank || (*r == rank && j < i)))
            });
            (!beaten).then_some(field)
        })
        .collect()
}

impl<R: BufRead + Send + std::fmt::Debug> Iterator for DelimitedRows<R> {
    type Item = Parsed;

    fn next(&mut self) -> Option<Parsed> {
        if self.done {
            return None;
        }
        self.reader.get_mut().mark();
        let read = self.reader.read_byte_record(&mut self.record);
        let line = self
            .record
            .position()
            .map(|p| p.line())
            .unwrap_or_else(|| self.reader.position().line());
        match read {
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.rows += 1;
                let pos = RowPos {
                    row: self.rows,
                    line: self.reader.position().line(),
                };
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    self.done = true;
                    self.stopped = Some(format!("reading stopped at line {}: {e}", pos.line));
                    return Some(Parsed::Bad {
                        pos,
                        id: None,
                        reason: Reason::FeedTruncated,
                        detail: e.to_string(),
                    });
                }
                Some(Parsed::Bad {
                    pos,
                    id: None,
                    reason: Reason::MalformedRow,
                    detail: e.to_string(),
                })
            }
            Ok(true) => {
                self.rows += 1;
                let pos = RowPos {
                    row: self.rows,
                    line,
                };
                if self.record.len() != self.columns.len() {
                    let detail = format!(
                        "{} fields where the header has {}",
                        self.record.len(),
                        self.columns.len()
                    );
                    return Some(self.bad(pos, Reason::MalformedRow, detail));
                }
                let mut item = FeedItem::default();
                for (i, raw) in self.record.iter().enumerate() {
                    let Some(field) = self.columns[i] else {
                        continue;
                    };
                    match std::str::from_utf8(raw) {
                        Ok(value) => item.set(field, value),
                        Err(_) => {
                            let detail = format!("invalid UTF-8 in column {}", field.name());
                            return Some(self.bad(pos, Reason::MalformedRow, detail));
                        }
                    }
                }
                Some(Parsed::Item(pos, item))
            }
        }
    }
}

impl<R: BufRead + Send + std::fmt::Debug> RowSource for DelimitedRows<R> {
    fn format(&self) -> FeedFormat {
        self.format
    }

    fn stopped(&self) -> Option<&str> {
        self.stopped.as_deref()
    }
}
