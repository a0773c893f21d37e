//! Telling a feed's format from its first bytes.

use super::FeedFormat;
use crate::feeds::FeedError;

/// What the first bytes of a feed say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    pub format: FeedFormat,
    /// The delimiter of a delimited feed.
    pub delimiter: Option<u8>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Sniffs the format from the head of a feed (the first buffer of it).
pub fn sniff(head: &[u8]) -> Result<Sniffed, FeedError> {
    let body = head.strip_prefix(BOM).unwrap_or(head);
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err(FeedError::Empty);
    };
    let body = &body[start..];
    if body.starts_with(&[0x1f, 0x8b]) {
        return Err(FeedError::UnknownFormat(
            "it is gzip-compressed; decompress it first".into(),
        ));
    }
    if body.starts_with(b"PK\x03\x04") {
        return Err(FeedError::UnknownFormat(
            "it is a zip archive; extract the feed first".into(),
        ));
    }
    if body[..body.len().min(4096)].contains(&0) {
        return Err(FeedError::UnknownFormat("it is binary, not text".into()));
    }
    if body.starts_with(b"<") {
        return Ok(Sniffed {
            format: FeedFormat::GoogleXml,
            delimiter: None,
        });
    }
    let line = first_line(body);
    let Some(delimiter) = delimiter(line) else {
        return Err(FeedError::UnknownFormat(
            "neither XML nor a header row with tab, comma, semicolon or pipe delimiters".into(),
        ));
    };
    let lower = String::from_utf8_lossy(line).to_ascii_lowercase();
    let awin = [
        "aw_product_id",
        "search_price",
        "merchant_image_url",
        "product_name",
    ]
    .iter()
    .any(|name| lower.contains(name));
    let format = if awin || delimiter != b'\t' {
        FeedFormat::AwinCsv
    } else {
        FeedFormat::GoogleTsv
    };
    Ok(Sniffed {
        format,
        delimiter: Some(delimiter),
    })
}

/// The first line of `head` without its line end (and without a BOM).
pub fn first_line(head: &[u8]) -> &[u8] {
    let head = head.strip_prefix(BOM).unwrap_or(head);
    let end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = &head[..end];
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The delimiter that splits a header line into the most fields (outside quotes).
pub fn delimiter(line: &[u8]) -> Option<u8> {
    const CANDIDATES: [u8; 4] = [b'\t', b';', b'|', b','];
    let mut counts = [0usize; 4];
    let mut quoted = false;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(i) = CANDIDATES.iter().position(|&c| c == b) {
            counts[i] += 1;
        }
    }
    let (best, &n) = counts
        .iter()
        .enumerate()
        .max_by_key(|&(i, n)| (*n, std::cmp::Reverse(i)))?;
    (n > 0).then_some(CANDIDATES[best])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_each_format() {
        let rss = b"\xEF\xBB\xBF  <?xml version=\"1.0\"?><rss>";
        assert_eq!(
            sniff(rss).ok().map(|s| s.format),
            Some(FeedFormat::GoogleXml)
        );
        let tsv = b"id\ttitle\tprice\n1\ta\t1 USD\n";
        assert_eq!(
            sniff(tsv).ok().map(|s| s.format),
            Some(FeedFormat::GoogleTsv)
        );
        let awin = b"aw_product_id;product_name;search_price\n";
        let s = sniff(awin).ok();
        assert_eq!(s.map(|s| s.format), Some(FeedFormat::AwinCsv));
        assert_eq!(s.and_then(|s| s.delimiter), Some(b';'));
        assert_eq!(delimiter(b"a|b|\"c,d,e\""), Some(b'|'));
        assert!(matches!(sniff(b"   \n"), Err(FeedError::Empty)));
        assert!(matches!(
            sniff(b"\x1f\x8b\x08"),
            Err(FeedError::UnknownFormat(_))
        ));
        assert!(matches!(
            sniff(b"just words"),
            Err(FeedError::UnknownFormat(_))
        ));
    }
}
