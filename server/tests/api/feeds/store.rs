//! Re-ingest on each backend: the same pull twice changes nothing, and
//! garments missing from a new pull of the same feed become unavailable.

use super::fixtures::{TSV_HEADER, database, ingest_text, options, row, tsv_line};
use crate::helpers::Backend;

on_each_backend!(
    ingesting_the_same_feed_twice_changes_nothing,
    garments_missing_from_a_new_pull_become_unavailable,
    variants_far_apart_still_make_one_garment,
);

fn feed(ids: &[&str]) -> String {
    let mut lines = vec![TSV_HEADER.to_string()];
    for id in ids {
        let mut r = row(id, &format!("http://img/{id}.png"));
        if id.starts_with("v") {
            r.group = "grp".into();
            r.size = id.to_uppercase();
        }
        lines.push(tsv_line(&r));
    }
    lines.join("\n")
}

async fn ingesting_the_same_feed_twice_changes_nothing(backend: Backend) {
    let (db, _fresh) = database(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    // 20 products and a group of variants around the first batch boundary (7)
    let ids: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
    let mut all: Vec<&str> = ids.iter().map(String::as_str).collect();
    all.splice(6..6, ["vs", "vm", "vl"]);
    let text = feed(&all);
    let first = ingest_text(&db, &dir, "f.tsv", &text, &options("twice")).await;
    assert_eq!(
        (first.inserted, first.garments),
        (21, 21),
        "{}",
        first.summary()
    );
    let version = db.catalog_version().await.expect("version");
    let garments = db.all_garments().await.expect("read");
    let second = ingest_text(&db, &dir, "f.tsv", &text, &options("twice")).await;
    assert_eq!(
        (
            second.inserted,
            second.updated,
            second.unchanged,
            second.marked_unavailable
        ),
        (0, 0, 21, 0),
        "{}",
        second.summary()
    );
    assert_eq!(
        db.catalog_version().await.expect("version"),
        version,
        "no row was touched"
    );
    assert_eq!(db.all_garments().await.expect("read"), garments);
    let grp = db
        .feed_garments("twice", &["grp#blue"])
        .await
        .expect("read");
    assert_eq!(grp["grp#blue"].garment.sizes, vec!["VS", "VM", "VL"]);
    db.close().await;
}

async fn garments_missing_from_a_new_pull_become_unavailable(backend: Backend) {
    let (db, _fresh) = database(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    ingest_text(
        &db,
        &dir,
        "a.tsv",
        &feed(&["a", "b", "c", "d"]),
        &options("shop"),
    )
    .await;
    ingest_text(&db, &dir, "o.tsv", &feed(&["a", "b"]), &options("other")).await;
    let pull = feed(&["a", "c"]);
    let report = ingest_text(&db, &dir, "a2.tsv", &pull, &options("shop")).await;
    assert_eq!(report.marked_unavailable, 2, "{}", report.summary());
    let stored = db
        .feed_garments("shop", &["a", "b", "c", "d"])
        .await
        .expect("read");
    let available: Vec<bool> = ["a", "b", "c", "d"]
        .iter()
        .map(|k| stored[*k].garment.available)
        .collect();
    assert_eq!(available, vec![true, false, true, false]);
    let other = db.feed_garments("other", &["a", "b"]).await.expect("read");
    assert!(
        other.values().all(|g| g.garment.available),
        "another feed is left alone"
    );
    let again = ingest_text(&db, &dir, "a2.tsv", &pull, &options("shop")).await;
    assert_eq!((again.marked_unavailable, again.unchanged), (0, 2));
    // back in the feed: available again
    let back = ingest_text(
        &db,
        &dir,
        "a3.tsv",
        &feed(&["a", "b", "c"]),
        &options("shop"),
    )
    .await;
    assert_eq!(
        (back.updated, back.unchanged, back.marked_unavailable),
        (1, 2, 0)
    );
    db.close().await;
}

async fn variants_far_apart_still_make_one_garment(backend: Backend) {
    let (db, _fresh) = database(backend).await;
    let dir = tempfile::tempdir().expect("dir");
    let ids: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
    let mut all: Vec<&str> = ids.iter().map(String::as_str).collect();
    all.insert(1, "vs");
    all.push("vxl");
    let report = ingest_text(&db, &dir, "f.tsv", &feed(&all), &options("apart")).await;
    assert_eq!(report.garments, 21, "{}", report.summary());
    let grp = db
        .feed_garments("apart", &["grp#blue"])
        .await
        .expect("read");
    assert_eq!(grp["grp#blue"].garment.sizes, vec!["VS", "VXL"]);
    db.close().await;
}
