mod holds_at_peak;
mod in_use_gauges;
mod projections;
mod settled_memory;
mod tasks_left;
mod worker_stalls;

use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::SmallRng};

use super::*;
use crate::dbview::DbSample;

/// The load's routes and their shares of it.
const ROUTES: &[(&str, f64)] = &[("/v1/outfits", 0.7), ("/v1/garments/{id}", 0.3)];

/// 60 s at 4 samples/s: 5 s idle, 40 s of 1,000 requests/s, 15 s idle.
fn run(leak_per_request: f64, noise: f64, seed: u64) -> Vec<Sample> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut requests = 0.0_f64;
    (0..240)
        .map(|i| {
            let t = f64::from(i) * 0.25;
            let busy = (5.0..45.0).contains(&t);
            if busy {
                requests += 250.0;
            }
            // a cache that fills during the first seconds, then noise
            let warm = 20_000.0 * (1.0 - (-requests / 3_000.0).exp());
            let inflight = if busy {
                rng.random_range(0.0..noise)
            } else {
                0.0
            };
            let allocs = 50_000.0 + warm + leak_per_request * requests + inflight;
            Sample {
                at_s: t,
                requests,
                live_allocations: Some(allocs),
                allocated_bytes: Some(allocs * 40.0),
                resident_bytes: Some(40e6 + allocs * 64.0),
                alive_tasks: Some(if busy { 30.0 } else { 12.0 }),
                pool_in_use: Some(if busy { 3.0 } else { 0.0 }),
                pool_idle: Some(if busy { 1.0 } else { 4.0 }),
                pool_max: Some(16.0),
                acquire_timeouts: Some(0.0),
                inflight: Some(if busy { 5.0 } else { 0.0 }),
                queue_depth: Some(if busy { 2.0 } else { 0.0 }),
                // the watcher's own connection, and the load's
                open_connections: Some(if busy { 21.0 } else { 1.0 }),
                requests_by_route: ROUTES
                    .iter()
                    .map(|(r, share)| (r.to_string(), requests * share))
                    .collect(),
                ..Sample::default()
            }
        })
        .collect()
}

/// The samples up to `at_s` (a watch that ended then).
fn until(mut samples: Vec<Sample>, at_s: f64) -> Vec<Sample> {
    samples.retain(|s| s.at_s <= at_s);
    samples
}

/// The load window of [`run`] (its first busy interval ends at 5 s).
const WINDOW: LoadWindow = LoadWindow {
    start_s: 4.75,
    end_s: Some(45.0),
};

#[test]
fn the_load_window_is_found_in_the_request_counter() {
    let w = infer_load_window(&run(0.0, 10.0, 1)).expect("window");
    assert!((4.5..=5.25).contains(&w.start_s), "{w:?}");
    assert!(w.end_s.is_some_and(|e| (44.5..=45.5).contains(&e)), "{w:?}");
    let mut still = run(0.0, 10.0, 1);
    still.truncate(100);
    assert_eq!(infer_load_window(&still).expect("window").end_s, None);
    assert!(infer_load_window(&[]).is_none());
}

#[test]
fn a_leak_of_one_allocation_per_request_fails_with_its_figures() {
    let budgets = Budgets {
        memory_limit_bytes: Some(8 << 30),
        ..Budgets::default()
    };
    let r = Report::judge(&run(1.0, 500.0, 2), None, &budgets);
    assert_eq!(r.memory.status, Status::Fail, "{}", r.memory.summary);
    let a = r.memory.allocations.as_ref().expect("trend");
    assert!((0.95..1.05).contains(&a.slope), "{a:?}");
    assert!(a.ci_low <= 1.0 && 1.0 <= a.ci_high + 0.02, "{a:?}");
    assert!(
        r.memory.summary.contains("runs out in"),
        "{}",
        r.memory.summary
    );
    assert!(r.memory.runway_s.is_some_and(|s| s > 0.0));
    assert!(!r.passed());
}

#[test]
fn a_healthy_noisy_server_with_a_filling_cache_passes_in_every_seed() {
    for seed in 0..8 {
        let r = Report::judge(&run(0.0, 2_000.0, seed), None, &Budgets::default());
        assert_eq!(
            r.memory.status,
            Status::Pass,
            "seed {seed}: {}",
            r.memory.summary
        );
        assert_eq!(
            r.connections.status,
            Status::Pass,
            "{}",
            r.connections.summary
        );
        assert_eq!(r.tasks.status, Status::Pass, "{}", r.tasks.summary);
        assert_eq!(r.gauges.status, Status::Pass, "{}", r.gauges.summary);
        assert_eq!(r.verdict, Status::Pass);
    }
}

#[test]
fn the_report_prints_one_line_per_judge_and_one_per_gauge() {
    let text = Report::judge(&run(0.0, 10.0, 1), None, &Budgets::default()).to_string();
    for what in [
        "memory:",
        "connections:",
        "tasks:",
        "gauges:",
        "http_queue_depth",
    ] {
        assert!(text.contains(what), "{what} missing from\n{text}");
    }
    assert_eq!(text.lines().count(), 5 + IN_USE_GAUGES.len());
}

#[test]
fn a_trend_below_the_practical_floor_is_not_an_alarm() {
    let r = Report::judge(&run(0.01, 50.0, 5), None, &Budgets::default());
    assert_eq!(r.memory.status, Status::Pass, "{}", r.memory.summary);
    let a = r.memory.allocations.as_ref().expect("trend");
    assert!(
        a.p_value < 0.01,
        "significant, yet too small to matter: {a:?}"
    );
}

#[test]
fn too_short_a_load_is_inconclusive_not_a_verdict() {
    let mut s = run(1.0, 10.0, 1);
    s.truncate(26);
    let r = Report::judge(&s, None, &Budgets::default());
    assert_eq!(
        r.memory.status,
        Status::Inconclusive,
        "{}",
        r.memory.summary
    );
}

#[test]
fn a_connection_held_forever_is_named_and_fails() {
    let mut s = run(0.0, 10.0, 3);
    let site = "chaos leak-connection on /v1/garments/{id}";
    for (i, sample) in s.iter_mut().enumerate() {
        let leaked = (i.saturating_sub(20) / 30).min(5) as f64;
        sample.held_too_long.insert(site.into(), leaked);
        sample.pool_in_use = Some(sample.pool_in_use.unwrap_or(0.0).max(leaked));
        sample.db = Some(DbSample {
            backend: "postgres".into(),
            server_connections: 4 + leaked as u64,
            ..DbSample::default()
        });
    }
    let r = Report::judge(&s, None, &Budgets::default());
    assert_eq!(r.connections.status, Status::Fail);
    assert_eq!(r.connections.held_too_long[0].site, site);
    assert_eq!(r.connections.held_too_long[0].count, 5.0);
    assert!(
        r.connections.summary.contains(site),
        "{}",
        r.connections.summary
    );
    assert!(
        r.connections.summary.contains("5 in use"),
        "{}",
        r.connections.summary
    );
}

#[test]
fn the_database_must_agree_with_the_pool() {
    let mut s = run(0.0, 10.0, 4);
    for sample in &mut s {
        sample.db = Some(DbSample {
            backend: "postgres".into(),
            server_connections: 6,
            idle_in_transaction: 1,
            ..DbSample::default()
        });
    }
    let r = Report::judge(&s, None, &Budgets::default());
    assert_eq!(
        r.connections.status,
        Status::Fail,
        "{}",
        r.connections.summary
    );
    assert!(r.connections.summary.contains("1 idle in transaction"));
}

#[test]
fn a_database_that_refused_connections_fails_even_when_the_pool_looks_fine() {
    let mut s = run(0.0, 10.0, 5);
    let n = s.len();
    for (i, sample) in s.iter_mut().enumerate() {
        // the pool settles and agrees with the database, but connections were refused
        let refused = if i > n / 2 { 12 } else { 2 };
        let used = sample.pool_in_use.unwrap_or(0.0) + sample.pool_idle.unwrap_or(0.0);
        sample.db = Some(DbSample {
            backend: "mysql".into(),
            server_connections: used as u64,
            connection_errors_max_connections: Some(refused),
            max_connections: Some(40),
            ..DbSample::default()
        });
    }
    let r = Report::judge(&s, None, &Budgets::default());
    assert_eq!(
        r.connections.status,
        Status::Fail,
        "{}",
        r.connections.summary
    );
    assert_eq!(r.connections.refused_too_many, 10);
    assert!(
        r.connections
            .summary
            .contains("refused 10 connections: Too many connections (max_connections 40)"),
        "{}",
        r.connections.summary
    );
    // and without refusals the same samples pass
    for sample in &mut s {
        if let Some(db) = sample.db.as_mut() {
            db.connection_errors_max_connections = Some(2);
        }
    }
    let r = Report::judge(&s, None, &Budgets::default());
    assert_eq!(
        r.connections.status,
        Status::Pass,
        "{}",
        r.connections.summary
    );
}

#[test]
fn tasks_that_never_end_fail_and_a_short_watch_is_inconclusive() {
    let mut s = run(0.0, 10.0, 6);
    for sample in &mut s {
        if sample.at_s > 5.0 {
            sample.alive_tasks = Some(100.0);
        }
    }
    let r = Report::judge(&s, None, &Budgets::default());
    assert_eq!(r.tasks.status, Status::Fail, "{}", r.tasks.summary);
    let budgets = Budgets {
        settle_within: Duration::from_secs(60),
        ..Budgets::default()
    };
    let r = Report::judge(&s, None, &budgets);
    assert_eq!(r.tasks.status, Status::Inconclusive, "{}", r.tasks.summary);
}

#[test]
fn durations_and_sizes_read_like_a_person_wrote_them() {
    assert_eq!(human_duration(3.0 * 3600.0 + 12.0 * 60.0), "3 h 12 min");
    assert_eq!(human_duration(45.0), "45 s");
    assert_eq!(human_duration(2.0 * 86_400.0 + 7200.0), "2 d 2 h");
    assert_eq!(human_duration(f64::INFINITY), "never");
    assert_eq!(human_bytes(1536.0), "1.5 KiB");
    assert_eq!(human_bytes(12.0), "12 B");
    assert_eq!(human_count(172_800.0), "172,800");
    assert_eq!(human_count(999.6), "1,000");
    assert_eq!(human_count(-1234.0), "-1,234");
    assert_eq!(human_seconds(0.002), "2.0 ms");
    assert_eq!(human_seconds(0.000_15), "150 µs");
    assert_eq!(human_seconds(1.2), "1.20 s");
    assert_eq!(tasks_per_requests(1.0 / 500.0), "1 task per 500 requests");
    assert_eq!(tasks_per_requests(2.0), "2.0 tasks per request");
}
