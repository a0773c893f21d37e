//! Image analysis on pictures drawn with OpenCV: the dominant colour found is
//! within ΔE00 10 of the drawn one and the pattern class is right; through a
//! whole ingest over a loopback image server, broken images are reported with
//! their reasons and rows, and a re-ingest analyses nothing again.

use std::sync::atomic::Ordering;

use outfit_server::{
    domain::{ColorName, Pattern},
    feeds::{
        Reason,
        analysis::{self, draw},
        color::{ciede2000, srgb_to_lab},
    },
};

use super::fixtures::{ImageServer, TSV_HEADER, database, ingest_text, options, row, tsv_line};
use crate::helpers::Backend;

const RED: draw::Rgb = (200, 30, 40);
const NAVY: draw::Rgb = (20, 30, 90);
const GREEN: draw::Rgb = (40, 140, 60);
const YELLOW: draw::Rgb = (235, 200, 40);
const GREY: draw::Rgb = (120, 120, 125);
const WHITE: draw::Rgb = (250, 250, 250);

fn lab((r, g, b): draw::Rgb) -> outfit_server::domain::Lab {
    srgb_to_lab(r, g, b)
}

#[test]
fn drawn_garments_get_their_colour_and_pattern() {
    let cases = [
        (Pattern::Solid, RED, WHITE),
        (Pattern::Solid, NAVY, WHITE),
        (Pattern::Solid, GREY, WHITE),
        (Pattern::Striped, NAVY, WHITE),
        (Pattern::Striped, RED, NAVY),
        (Pattern::Striped, GREEN, YELLOW),
        (Pattern::Checked, GREEN, NAVY),
        (Pattern::Checked, RED, WHITE),
        (Pattern::Checked, YELLOW, GREY),
        (Pattern::Printed, YELLOW, NAVY),
        (Pattern::Printed, GREY, RED),
        (Pattern::Printed, WHITE, GREEN),
    ];
    for (i, (pattern, main, other)) in cases.into_iter().enumerate() {
        for ext in [".png", ".jpg"] {
            let bytes = draw::garment(pattern, main, other, 400, i as u64 + 1, ext).expect("draw");
            let a = analysis::analyze(&bytes).expect("analysed");
            let top = a.colors.first().expect("a colour").lab;
            let de = ciede2000(top, lab(main));
            assert!(
                de < 10.0,
                "{pattern:?} {main:?}/{other:?} {ext}: top colour {top:?} is ΔE00 {de:.1} away ({a:?})"
            );
            assert_eq!(a.pattern, pattern, "{main:?}/{other:?} {ext}: {a:?}");
            let shares: f32 = a.colors.iter().map(|s| s.share).sum();
            assert!(shares <= 1.001 && a.colors.len() <= 3, "{a:?}");
            // stripes and checks show `other` second; a print mixes it with a darker accent
            let others = match pattern {
                Pattern::Solid => 0,
                Pattern::Striped | Pattern::Checked => 1,
                Pattern::Printed => 2,
            };
            if others > 0 {
                let found = a.colors[1..]
                    .iter()
                    .take(others)
                    .any(|s| ciede2000(s.lab, lab(other)) < 10.0);
                assert!(
                    found,
                    "{pattern:?} {main:?}/{other:?} {ext}: no {other:?} among {a:?}"
                );
            }
        }
    }
}

#[test]
fn what_is_not_an_image_is_reported_not_panicked_on() {
    assert_eq!(
        analysis::analyze(b""),
        Err(analysis::AnalysisError::Corrupt)
    );
    assert_eq!(
        analysis::analyze(b"GIF89a garbage"),
        Err(analysis::AnalysisError::Corrupt)
    );
    let png = draw::garment(Pattern::Solid, RED, WHITE, 64, 1, ".png").expect("draw");
    // a cut-off file decodes partly or not at all; either way no panic
    let _ = analysis::analyze(&png[..png.len() / 3]);
    let blank = draw::garment(Pattern::Solid, WHITE, WHITE, 64, 1, ".png").expect("draw");
    assert!(
        analysis::analyze(&blank).is_ok()
            || analysis::analyze(&blank) == Err(analysis::AnalysisError::NoGarment)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_analyses_served_images_reports_broken_ones_and_caches_the_rest() {
    let server = ImageServer::default();
    let pictures = [
        ("solid-red.png", Pattern::Solid, RED, WHITE),
        ("striped-navy.png", Pattern::Striped, NAVY, WHITE),
        ("checked-green.png", Pattern::Checked, GREEN, YELLOW),
        ("printed-yellow.png", Pattern::Printed, YELLOW, NAVY),
    ];
    for (i, (name, pattern, main, other)) in pictures.iter().enumerate() {
        server.put(
            name,
            draw::garment(*pattern, *main, *other, 400, i as u64, ".png").expect("draw"),
        );
    }
    server.put(
        "flaky-src.png",
        draw::garment(Pattern::Solid, GREY, WHITE, 200, 9, ".png").expect("draw"),
    );
    let base = server.start().await;
    let mut lines = vec![TSV_HEADER.to_string()];
    for (i, (name, ..)) in pictures.iter().enumerate() {
        lines.push(tsv_line(&row(&format!("ok{i}"), &format!("{base}/{name}"))));
    }
    let broken = [
        (
            "missing",
            format!("{base}/missing.png"),
            Reason::ImageUnreachable,
        ),
        ("page", format!("{base}/page.png"), Reason::ImageNotAnImage),
        (
            "corrupt",
            format!("{base}/corrupt.png"),
            Reason::ImageCorrupt,
        ),
        ("huge", format!("{base}/huge.png"), Reason::ImageTooLarge),
        (
            "refused",
            "http://127.0.0.1:9/x.png".to_string(),
            Reason::ImageUnreachable,
        ),
    ];
    for (id, url, _) in &broken {
        lines.push(tsv_line(&row(id, url)));
    }
    lines.push(tsv_line(&row("flaky", &format!("{base}/flaky.png"))));
    let text = lines.join("\n");
    let (db, _fresh) = database(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut opts = options("img");
    opts.images = true;
    let first = ingest_text(&db, &dir, "img.tsv", &text, &opts).await;
    assert_eq!(
        (first.accepted, first.rejected),
        (10, 0),
        "image problems keep the row: {}",
        first.summary()
    );
    assert_eq!(
        (first.images.analysed, first.images.failed),
        (5, 5),
        "{}",
        first.summary()
    );
    for (k, (id, _, reason)) in broken.iter().enumerate() {
        let issue = first
            .issues
            .iter()
            .find(|i| i.id.as_deref() == Some(*id))
            .expect("issue");
        assert_eq!(
            (issue.reason, issue.row),
            (*reason, 5 + k as u64),
            "{id}: {issue:?}"
        );
    }
    let keys: Vec<String> = (0..4).map(|i| format!("ok{i}")).collect();
    let keys: Vec<&str> = keys
        .iter()
        .map(String::as_str)
        .chain(["flaky", "missing"])
        .collect();
    let stored = db.feed_garments("img", &keys).await.expect("read");
    for (i, (_, pattern, main, _)) in pictures.iter().enumerate() {
        let g = &stored[&format!("ok{i}")].garment;
        assert_eq!(g.pattern, *pattern);
        assert!(ciede2000(g.main_color(), lab(*main)) < 10.0, "{g:?}");
    }
    assert_eq!(
        stored["flaky"].garment.pattern,
        Pattern::Solid,
        "retried after a 503"
    );
    let missing = &stored["missing"].garment;
    assert_eq!(
        missing.colors,
        vec![ColorName::Blue.lab()],
        "the feed's own colour word"
    );
    let bodies = server.bodies.load(Ordering::Relaxed);
    let garments = db.all_garments().await.expect("read");
    let second = ingest_text(&db, &dir, "img.tsv", &text, &opts).await;
    assert_eq!(
        (second.images.analysed, second.images.cached),
        (0, 5),
        "{}",
        second.summary()
    );
    assert_eq!((second.unchanged, second.updated), (10, 0));
    assert_eq!(
        server.bodies.load(Ordering::Relaxed),
        bodies,
        "unchanged images are not downloaded again (304)"
    );
    assert_eq!(db.all_garments().await.expect("read"), garments);
    // a picture that cannot be fetched this time keeps what was analysed before
    let gone = text.replacen(
        &format!("{base}/solid-red.png"),
        &format!("{base}/missing.png"),
        1,
    );
    let third = ingest_text(&db, &dir, "img.tsv", &gone, &opts).await;
    assert_eq!(third.images.failed, 5 + 1, "{}", third.summary());
    let kept = &db.feed_garments("img", &["ok0"]).await.expect("read")["ok0"].garment;
    assert_eq!(kept.pattern, Pattern::Solid, "{kept:?}");
    assert!(ciede2000(kept.main_color(), lab(RED)) < 10.0, "{kept:?}");
}

#[tokio::test]
async fn the_same_picture_under_another_url_is_not_analysed_twice() {
    let server = ImageServer::default();
    let bytes = draw::garment(Pattern::Striped, NAVY, WHITE, 300, 3, ".png").expect("draw");
    server.put("a.png", bytes.clone());
    server.put("b.png", bytes);
    let base = server.start().await;
    let text = [
        TSV_HEADER.to_string(),
        tsv_line(&row("a", &format!("{base}/a.png"))),
        tsv_line(&row("b", &format!("{base}/b.png"))),
    ]
    .join("\n");
    let (db, _fresh) = database(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("dir");
    let mut opts = options("dup");
    opts.images = true;
    opts.fetch_concurrency = 1;
    let report = ingest_text(&db, &dir, "dup.tsv", &text, &opts).await;
    assert_eq!(
        (report.images.analysed, report.images.cached),
        (1, 1),
        "{}",
        report.summary()
    );
}

#[tokio::test]
async fn a_local_feed_reads_file_images_and_a_downloaded_one_may_not() {
    let dir = tempfile::tempdir().expect("dir");
    let picture = dir.path().join("red.png");
    std::fs::write(
        &picture,
        draw::garment(Pattern::Solid, RED, WHITE, 300, 1, ".png").expect("draw"),
    )
    .expect("write");
    let file_url = format!("file://{}", picture.display());
    let text = [TSV_HEADER.to_string(), tsv_line(&row("f1", &file_url))].join("\n");
    let (db, _fresh) = database(Backend::Sqlite).await;
    let mut opts = options("local");
    opts.images = true;
    let local = ingest_text(&db, &dir, "local.tsv", &text, &opts).await;
    assert_eq!(local.images.analysed, 1, "{}", local.summary());
    // the same feed served over HTTP: downloaded, parsed, but its file:// image is refused
    let server = ImageServer::default();
    server.put("feed.tsv", text.into_bytes());
    let base = server.start().await;
    opts.feed = "remote".into();
    let remote = outfit_server::feeds::ingest(
        &db,
        &format!("{base}/feed.tsv"),
        &opts,
        std::sync::Arc::new(outfit_server::feeds::Progress::default()),
    )
    .await
    .expect("ingest");
    assert_eq!(
        (remote.rows, remote.accepted),
        (1, 1),
        "{}",
        remote.summary()
    );
    assert_eq!(
        remote.count(Reason::ImageUnreachable),
        1,
        "{}",
        remote.summary()
    );
    assert!(
        remote.issues[0].detail.contains("file://"),
        "{:?}",
        remote.issues
    );
}
