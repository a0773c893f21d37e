//! Properties of the parsers: arbitrary input never panics, and valid rows
//! written in any format read back as written.

use outfit_server::feeds::{
    FeedFormat,
    item::FeedItem,
    parse::{self, Parsed},
    price::parse_price,
};
use proptest::prelude::*;

/// Every record of `bytes` parsed as `format` (or sniffed); `None` when the feed is refused whole.
fn parse_all(bytes: Vec<u8>, format: Option<FeedFormat>) -> Option<Vec<Parsed>> {
    let rows = parse::open(std::io::Cursor::new(bytes), format, None).ok()?;
    Some(rows.collect())
}

fn items(parsed: &[Parsed]) -> Vec<FeedItem> {
    parsed
        .iter()
        .filter_map(|p| match p {
            Parsed::Item(_, item) => Some(item.clone()),
            Parsed::Bad { .. } => None,
        })
        .collect()
}

/// Text that needs escaping or quoting in every format, without edge whitespace.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 &<>\"';,|éü€-]{1,30}"
        .prop_map(|s| s.trim().to_string())
        .prop_filter("non-empty", |s| !s.is_empty())
}

#[derive(Debug, Clone)]
struct Product {
    id: String,
    title: String,
    price: String,
    color: String,
}

fn products() -> impl Strategy<Value = Vec<Product>> {
    prop::collection::vec((text(), 1i64..10_000_000, text()), 1..20).prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (title, cents, color))| Product {
                id: format!("id-{i}"),
                title,
                price: format!("{}.{:02} EUR", cents / 100, cents % 100),
                color,
            })
            .collect()
    })
}

fn delimited(products: &[Product], delimiter: u8, awin: bool) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(Vec::new());
    let header: [&str; 5] = if awin {
        [
            "aw_product_id",
            "product_name",
            "search_price",
            "merchant_image_url",
            "colour",
        ]
    } else {
        ["id", "title", "price", "image_link", "color"]
    };
    w.write_record(header).expect("header");
    for p in products {
        let image = format!("http://i.example/{}.png", p.id);
        w.write_record([&p.id, &p.title, &p.price, &image, &p.color])
            .expect("row");
    }
    w.into_inner().expect("flush")
}

fn xml(products: &[Product]) -> Vec<u8> {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut s = String::from("<rss xmlns:g=\"http://base.google.com/ns/1.0\"><channel>\n");
    for p in products {
        s.push_str(&format!(
            "<item><g:id>{}</g:id><title>{}</title><g:price>{}</g:price><g:image_link>http://i.example/{}.png</g:image_link><g:color><![CDATA[{}]]></g:color></item>\n",
            esc(&p.id),
            esc(&p.title),
            p.price,
            p.id,
            p.color.replace("]]>", "")
        ));
    }
    s.push_str("</channel></rss>\n");
    s.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_bytes_never_panic_a_parser(bytes in prop::collection::vec(any::<u8>(), 0..2_000)) {
        for format in [None, Some(FeedFormat::GoogleXml), Some(FeedFormat::GoogleTsv), Some(FeedFormat::AwinCsv)] {
            let _ = parse_all(bytes.clone(), format);
        }
    }

    #[test]
    fn mangled_feeds_never_panic_and_number_their_rows(products in products(), cut in 0usize..4_000, junk in "[<>&\"\t;,\n]{0,8}") {
        for feed in [xml(&products), delimited(&products, b'\t', false), delimited(&products, b';', true)] {
            let mut bytes = feed.clone();
            let at = cut.min(bytes.len());
            bytes.splice(at..at, junk.bytes());
            if let Some(parsed) = parse_all(bytes, None) {
                for (i, p) in parsed.iter().enumerate() {
                    let pos = match p { Parsed::Item(pos, _) | Parsed::Bad { pos, .. } => *pos };
                    prop_assert_eq!(pos.row, i as u64 + 1);
                    prop_assert!(pos.line >= 1);
                }
            }
        }
    }

    #[test]
    fn valid_rows_read_back_as_written(products in products()) {
        for (format, feed) in [
            (FeedFormat::GoogleXml, xml(&products)),
            (FeedFormat::GoogleTsv, delimited(&products, b'\t', false)),
            (FeedFormat::AwinCsv, delimited(&products, b',', true)),
            (FeedFormat::AwinCsv, delimited(&products, b'|', true)),
        ] {
            let parsed = parse_all(feed, None).expect("accepted");
            let got = items(&parsed);
            prop_assert_eq!(got.len(), products.len(), "{:?}", format);
            for (item, p) in got.iter().zip(&products) {
                prop_assert_eq!(&item.id, &p.id);
                prop_assert_eq!(&item.title, &p.title);
                prop_assert_eq!(&item.price, &p.price);
                prop_assert_eq!(&item.color, &p.color.replace("]]>", ""));
                prop_assert_eq!(item.image_link.clone(), format!("http://i.example/{}.png", p.id));
            }
        }
    }

    #[test]
    fn prices_round_trip(cents in 1i64..1_000_000_000_000, cur in "[A-Z]{3}") {
        let text = format!("{}.{:02} {cur}", cents / 100, cents % 100);
        let zero_decimal = ["JPY", "KRW", "VND", "CLP", "ISK", "UGX"].contains(&cur.as_str());
        let parsed = parse_price(&text, "");
        if zero_decimal {
            prop_assert!(parsed.is_ok());
        } else {
            let parsed = parsed.map_err(TestCaseError::fail)?;
            prop_assert_eq!(parsed.minor, cents);
            prop_assert_eq!(parsed.currency, cur);
        }
    }

    #[test]
    fn price_text_never_panics(s in "\\PC{0,24}") {
        let _ = parse_price(&s, "EUR");
    }
}
