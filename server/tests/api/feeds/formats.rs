//! Each feed format end to end into SQLite (images off): mapping, variants,
//! row-level problems with their reasons and row numbers, and whole-feed errors.

use outfit_server::{
    domain::{Gender, Slot},
    feeds::{FeedError, FeedFormat, Progress, Reason, ingest},
};

use super::fixtures::{
    AWIN_HEADER, TSV_HEADER, atom, awin_line, database, ingest_text, options, row, rss, rss_item,
    tsv_line,
};
use crate::helpers::Backend;

/// Rows (1-based) listed under `reason`.
fn rows_of(report: &outfit_server::feeds::IngestReport, reason: Reason) -> Vec<u64> {
    report
        .issues
        .iter()
        .filter(|i| i.reason == reason)
        .map(|i| i.row)
        .collect()
}

#[tokio::test]
async fn an_rss_feed_goes_in_and_its_bad_items_are_reported_by_reason_and_row() {
    let (db, _fresh) = database(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut no_title = row("r2", "http://img/2.png");
    no_title.title.clear();
    let mut bad_price = row("r3", "http://img/3.png");
    bad_price.price = "twelve EUR".into();
    let mut kids = row("r5", "http://img/5.png");
    kids.gender.clear();
    kids.category = "Girls' Dresses".into();
    let mut swim = row("r6", "http://img/6.png");
    swim.category = "Swimwear".into();
    swim.title = "Bikini".into();
    let mut ampersand = row("r8", "http://img/8.png");
    ampersand.title = "Shirt & Tie <set>".into();
    let items = vec![
        rss_item(&row("r1", "http://img/1.png")),
        rss_item(&no_title),
        rss_item(&bad_price),
        "<item><g:id>r4</g:id><g:title>Broken</g:titel><g:price>1 EUR</g:price></item>\n".into(),
        rss_item(&kids),
        rss_item(&swim),
        rss_item(&row("r1", "http://img/1b.png")),
        rss_item(&ampersand),
    ];
    let text = rss(&items);
    let report = ingest_text(&db, &dir, "shop.xml", &text, &options("shop")).await;
    assert_eq!(report.format, Some(FeedFormat::GoogleXml));
    assert_eq!(
        (report.rows, report.accepted, report.rejected),
        (8, 2, 6),
        "{}",
        report.summary()
    );
    assert_eq!(rows_of(&report, Reason::MissingField), vec![2]);
    assert_eq!(rows_of(&report, Reason::UnparsablePrice), vec![3]);
    assert_eq!(rows_of(&report, Reason::MalformedXml), vec![4]);
    assert_eq!(rows_of(&report, Reason::NotAdult), vec![5]);
    assert_eq!(rows_of(&report, Reason::UnknownCategory), vec![6]);
    assert_eq!(rows_of(&report, Reason::DuplicateId), vec![7]);
    let malformed = report
        .issues
        .iter()
        .find(|i| i.reason == Reason::MalformedXml)
        .expect("issue");
    let fourth = text.match_indices("<item>").nth(3).expect("item 4").0;
    let line = text[..fourth].matches('\n').count() as u64 + 1;
    assert_eq!(malformed.line, line, "the line of the fourth <item>");
    let garments = db.all_garments().await.expect("read");
    assert_eq!(garments.len(), 2);
    // the g:price inside g:shipping is not the product's price
    assert_eq!(garments[0].price_cents, 1990);
    assert_eq!(
        (garments[0].slot, garments[0].gender),
        (Slot::Top, Gender::Female)
    );
    assert_eq!(garments[1].title, "Shirt & Tie <set>");
    assert!(report.truncated.is_none() && report.prune_skipped.is_none());
}

#[tokio::test]
async fn an_atom_feed_takes_titles_and_links_from_atom_and_the_rest_from_g() {
    let (db, _fresh) = database(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut jeans = row("a2", "http://img/a2.png");
    jeans.category = "Women > Jeans".into();
    jeans.title = "Slim jeans".into();
    let report = ingest_text(
        &db,
        &dir,
        "a.xml",
        &atom(&[row("a1", "http://img/a1.png"), jeans]),
        &options("atom"),
    )
    .await;
    assert_eq!(
        (report.rows, report.accepted),
        (2, 2),
        "{}",
        report.summary()
    );
    let stored = db.feed_garments("atom", &["a1", "a2"]).await.expect("read");
    assert_eq!(stored["a2"].garment.slot, Slot::Bottom);
    assert_eq!(stored["a2"].garment.title, "Slim jeans");
    assert_eq!(stored["a1"].product_url, "https://shop.example/p/a1");
}

#[tokio::test]
async fn a_tsv_feed_merges_size_variants_and_reports_broken_lines() {
    let (db, _fresh) = database(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("dir");
    let variant = |id: &str, color: &str, size: &str, availability: &str, price: &str| {
        let mut r = row(id, "http://img/v.png");
        r.group = "g1".into();
        r.color = color.into();
        r.size = size.into();
        r.availability = availability.into();
        r.price = price.into();
        tsv_line(&r)
    };
    let mut no_id = row("", "http://img/x.png");
    no_id.id.clear();
    let lines = [
        TSV_HEADER.to_string(),
        variant("v-s", "Blue", "S", "in stock", "30.00 EUR"),
        "only\ttwo".to_string(),
        variant("v-m", "Blue", "M", "in_stock", "25.00 EUR"),
        variant("v-l", "Blue", "L", "out of stock", "10.00 EUR"),
        tsv_line(&no_id),
        variant("v-red", "Red", "M", "in stock", "30.00 EUR"),
    ];
    let mut bytes = lines.join("\n").into_bytes();
    bytes.extend_from_slice(
        b"\nbad\xff\tShirt\t1 EUR\thttp://i\tShirts\tmale\tRed\tM\t\tin stock\n",
    );
    let path = dir.path().join("feed.tsv");
    std::fs::write(&path, &bytes).expect("write");
    let report = ingest(
        &db,
        path.to_str().expect("path"),
        &options("tsv"),
        std::sync::Arc::new(Progress::default()),
    )
    .await
    .expect("ingest");
    assert_eq!(report.format, Some(FeedFormat::GoogleTsv));
    assert_eq!(
        (report.rows, report.accepted, report.rejected),
        (7, 4, 3),
        "{}",
        report.summary()
    );
    assert_eq!(rows_of(&report, Reason::MalformedRow), vec![2, 7]);
    assert_eq!(rows_of(&report, Reason::MissingField), vec![5]);
    let lines_of: Vec<u64> = report.issues.iter().map(|i| i.line).collect();
    assert_eq!(lines_of, vec![3, 6, 8], "line numbers count the header");
    assert_eq!(report.garments, 2, "blue sizes merge, red stays apart");
    let stored = db
        .feed_garments("tsv", &["g1#blue", "g1#red"])
        .await
        .expect("read");
    let blue = &stored["g1#blue"].garment;
    assert_eq!(blue.sizes, vec!["S", "M"], "only in-stock sizes");
    assert_eq!(blue.price_cents, 2500, "the lowest in-stock price");
    assert!(blue.available);
    assert_eq!(stored["g1#red"].garment.sizes, vec!["M"]);
}

#[tokio::test]
async fn awin_csv_is_sniffed_with_any_delimiter_and_gender_comes_from_the_category_path() {
    for delimiter in [',', ';', '|', '\t'] {
        let (db, _fresh) = database(Backend::Sqlite).await;
        let dir = tempfile::tempdir().expect("dir");
        let mut dress = row("w2", "http://img/w2.png");
        dress.category = "Dresses".into();
        dress.title = "Wrap dress, midi; \"bestseller\" | new".into();
        let mut bad = row("w3", "http://img/w3.png");
        bad.price = "free EUR".into();
        let text = [
            AWIN_HEADER.join(&delimiter.to_string()),
            awin_line(&row("w1", "http://img/w1.png"), delimiter),
            awin_line(&dress, delimiter),
            awin_line(&bad, delimiter),
        ]
        .join("\r\n");
        let report = ingest_text(&db, &dir, "awin.csv", &text, &options("awin")).await;
        assert_eq!(
            report.format,
            Some(FeedFormat::AwinCsv),
            "delimiter {delimiter:?}"
        );
        assert_eq!(
            (report.accepted, report.rejected),
            (2, 1),
            "{delimiter:?}: {}",
            report.summary()
        );
        assert_eq!(rows_of(&report, Reason::UnparsablePrice), vec![3]);
        let stored = db.feed_garments("awin", &["w1", "w2"]).await.expect("read");
        assert_eq!(
            stored["w2"].garment.title,
            "Wrap dress, midi; \"bestseller\" | new"
        );
        assert_eq!(stored["w2"].garment.slot, Slot::Dress);
        assert_eq!(
            stored["w1"].garment.gender,
            Gender::Female,
            "from `Womens > ...`"
        );
        assert_eq!(stored["w1"].garment.currency, "EUR");
    }
}

#[tokio::test]
async fn unreadable_files_and_wrong_formats_fail_with_a_clear_message() {
    let (db, _fresh) = database(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("dir");
    let run = |path: std::path::PathBuf, format: Option<FeedFormat>| {
        let db = db.clone();
        async move {
            let mut o = options("f");
            o.format = format;
            ingest(
                &db,
                path.to_str().expect("path"),
                &o,
                std::sync::Arc::new(Progress::default()),
            )
            .await
            .map(|_| ())
        }
    };
    let missing = run(dir.path().join("nope.xml"), None).await;
    assert!(
        matches!(missing, Err(FeedError::Unreadable { .. })),
        "{missing:?}"
    );
    let tsv = dir.path().join("feed.tsv");
    std::fs::write(
        &tsv,
        format!("{TSV_HEADER}\n{}\n", tsv_line(&row("1", "http://i/1.png"))),
    )
    .expect("write");
    let wrong = run(tsv.clone(), Some(FeedFormat::GoogleXml))
        .await
        .expect_err("not XML");
    assert!(
        wrong.to_string().contains("not an RSS 2.0 or Atom feed"),
        "{wrong}"
    );
    let html = dir.path().join("page.xml");
    std::fs::write(&html, "<html><body>hi</body></html>").expect("write");
    let wrong = run(html, None).await.expect_err("html");
    assert!(
        wrong.to_string().contains("root element is <html>"),
        "{wrong}"
    );
    let columns = dir.path().join("cols.tsv");
    std::fs::write(&columns, "sku\tname\tcost\nx\ty\tz\n").expect("write");
    let wrong = run(columns, None).await.expect_err("columns");
    assert!(
        wrong
            .to_string()
            .contains("no column for id, title, price, image_link"),
        "{wrong}"
    );
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "\n\n").expect("write");
    assert!(matches!(run(empty, None).await, Err(FeedError::Empty)));
    assert!(db.all_garments().await.expect("read").is_empty());
}

#[tokio::test]
async fn a_cut_off_feed_keeps_what_it_read_and_leaves_missing_garments_alone() {
    let (db, _fresh) = database(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("dir");
    let whole = rss(&[
        rss_item(&row("c1", "http://i/1.png")),
        rss_item(&row("c2", "http://i/2.png")),
    ]);
    ingest_text(&db, &dir, "full.xml", &whole, &options("cut")).await;
    let cut = rss(&[
        rss_item(&row("c1", "http://i/1.png")),
        rss_item(&row("c2", "http://i/2.png")),
    ]);
    let cut = &cut[..cut.find("<g:title>Shirt c2").expect("second item")];
    let report = ingest_text(&db, &dir, "cut.xml", cut, &options("cut")).await;
    assert!(report.truncated.is_some(), "{}", report.summary());
    assert_eq!(
        report.prune_skipped.as_deref(),
        Some("the feed stopped before its end")
    );
    assert_eq!((report.accepted, report.rejected), (1, 1));
    assert_eq!(report.marked_unavailable, 0);
    assert!(
        db.all_garments()
            .await
            .expect("read")
            .iter()
            .all(|g| g.available)
    );
}
