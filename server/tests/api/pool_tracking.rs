//! The held-too-long detector names the code site of a connection kept too long.

use std::time::Duration;

use crate::helpers::{Backend, metric_value, spawn_app_with};

on_each_backend!(a_connection_held_past_the_threshold_is_reported_with_its_site);

async fn a_connection_held_past_the_threshold_is_reported_with_its_site(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.pool.leak_threshold_ms = 300).await;
    let site = outfit_server::site!();
    let label = format!("db_pool_held_too_long_total{{site=\"{site}\"}}");
    let conn = app.db.acquire(site).await.expect("acquire");
    assert_eq!(metric_value(&app.metrics().await, &label), None);
    let holds = app.db.holds();
    assert!(holds.iter().any(|h| h.site == site), "{holds:?}");
    // a connection given back at once is not reported
    let quick_site = outfit_server::site!();
    drop(app.db.acquire(quick_site).await.expect("acquire"));
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let text = app.metrics().await;
    assert_eq!(metric_value(&text, &label), Some(1.0), "{text}");
    let quick = format!("db_pool_held_too_long_total{{site=\"{quick_site}\"}}");
    assert_eq!(metric_value(&text, &quick), None, "{text}");
    // ... though its hold is timed, under its own site
    let timed = format!("db_pool_hold_seconds_count{{site=\"{quick_site}\"}}");
    assert_eq!(metric_value(&text, &timed), Some(1.0), "{text}");
    drop(conn);
    assert!(app.db.holds().iter().all(|h| h.site != site));
    // reported once, not on every watchdog tick
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(metric_value(&app.metrics().await, &label), Some(1.0));
    app.stop().await;
}
