//! Shared checks of the fuzz targets (see `fuzz_targets/`).
//!
//! Every check asserts an invariant beyond "does not panic": libFuzzer turns a
//! failed assertion into a crash with the input saved under `artifacts/`.

use std::io::Cursor;

use outfit_server::feeds::{
    FeedFormat,
    map::{self, MAX_KEY_LEN, MAX_SIZE_LEN, MAX_URL_LEN},
    parse::{self, Parsed, sniff},
};

/// More records than this from one input means the parser loops without consuming input.
fn record_cap(data: &[u8]) -> usize {
    data.len() + 2
}

/// Parses `data` as a feed of `format` and maps every item to a garment draft,
/// checking the row numbering, the line numbers and the bounds of each draft.
pub fn check_feed(data: &[u8], format: FeedFormat) {
    check_sniff(data);
    let lines = data.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let rows = match parse::open(Cursor::new(data.to_vec()), Some(format), None) {
        Ok(rows) => rows,
        Err(e) => {
            assert!(!e.to_string().is_empty(), "a feed error without a message");
            return;
        }
    };
    assert_eq!(
        rows.format(),
        format,
        "the row source is not the asked format"
    );
    let mut rows = rows;
    let mut expected_row = 0u64;
    let mut last_line = 0u64;
    let mut seen = 0usize;
    for parsed in rows.by_ref().take(record_cap(data)) {
        seen += 1;
        expected_row += 1;
        let pos = match &parsed {
            Parsed::Item(pos, _) => *pos,
            Parsed::Bad {
                pos,
                detail,
                reason,
                ..
            } => {
                assert!(!detail.is_empty(), "a bad record without a detail");
                assert!(reason.rejects_row(), "a bad record whose reason keeps it");
                *pos
            }
        };
        assert_eq!(pos.row, expected_row, "rows are numbered 1, 2, 3, ...");
        assert!(
            (1..=lines).contains(&pos.line),
            "record at line {} of a {lines}-line input",
            pos.line
        );
        assert!(
            pos.line >= last_line,
            "line numbers go backwards: {} after {last_line}",
            pos.line
        );
        last_line = pos.line;
        if let Parsed::Item(pos, item) = parsed {
            check_draft(pos, &item);
        }
    }
    assert!(
        seen < record_cap(data),
        "{seen} records from {} bytes: the parser does not advance",
        data.len()
    );
    if let Some(why) = rows.stopped() {
        assert!(!why.is_empty(), "stopped without saying why");
    }
}

fn check_draft(
    pos: outfit_server::feeds::report::RowPos,
    item: &outfit_server::feeds::item::FeedItem,
) {
    match map::to_draft(pos, item) {
        Ok(d) => {
            assert_eq!(d.pos, pos);
            assert!(!d.id.is_empty(), "a draft without an id");
            assert!(!d.image_url.is_empty(), "a draft without an image");
            assert!(d.image_url.len() <= MAX_URL_LEN);
            assert!(d.link.len() <= MAX_URL_LEN);
            assert!(d.alt_images.len() <= 2);
            assert!(
                d.key.len() <= MAX_KEY_LEN,
                "a garment key of {} bytes",
                d.key.len()
            );
            assert!(!d.key.is_empty(), "an empty garment key");
            assert!(d.price_minor > 0, "a non-positive price {}", d.price_minor);
            assert!(
                d.currency.len() == 3 && d.currency.bytes().all(|b| b.is_ascii_uppercase()),
                "currency {:?}",
                d.currency
            );
            assert!(d.title.len() <= 500 && d.brand.len() <= 200 && d.description.len() <= 4000);
            if let Some(size) = &d.size {
                assert!(!size.is_empty() && size.len() <= MAX_SIZE_LEN);
            }
        }
        Err((reason, detail)) => {
            assert!(reason.rejects_row(), "{reason:?} rejected a row");
            assert!(!detail.is_empty(), "a rejection without a detail");
        }
    }
}

/// The sniffer's verdict agrees with the first meaningful byte.
fn check_sniff(data: &[u8]) {
    let head = &data[..data.len().min(64 * 1024)];
    if let Ok(s) = sniff::sniff(head) {
        let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        assert_eq!(
            s.format == FeedFormat::GoogleXml,
            first == Some(&b'<'),
            "XML sniffed from a feed that does not start with '<' (or the reverse)"
        );
        if s.format != FeedFormat::GoogleXml {
            assert!(
                s.delimiter.is_some(),
                "a delimited feed without a delimiter"
            );
        }
    }
}
