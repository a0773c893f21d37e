use super::*;
use crate::metrics::Histogram;

/// Hold-time buckets as the server exports them.
const HOLD_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0, 5.0];

/// A histogram of `n` holds of `each` seconds.
fn holds(n: f64, each: f64) -> Histogram {
    let mut h = Histogram::default();
    for &le in HOLD_BUCKETS {
        h.insert_bucket(le, if each <= le { n } else { 0.0 });
    }
    h.insert_bucket(f64::INFINITY, n);
    h.sum = n * each;
    h.count = n;
    h
}

fn sample(requests: f64, sites: &[(&str, f64, f64)]) -> Sample {
    Sample {
        requests,
        hold_seconds: sites
            .iter()
            .map(|&(site, n, each)| (site.to_string(), holds(n, each)))
            .collect(),
        ..Sample::default()
    }
}

/// Four servers of 16 connections at 10,000 requests/s.
fn fleet() -> Projection {
    Projection {
        peak_requests_per_s: 10_000.0,
        scenario: "appstore-spike at 50000 users".into(),
        instances: 4,
        pool_per_instance: 16.0,
        database_max: None,
    }
}

const OUTFITS: &str = "store::outfits::list:42";
const GARMENTS: &str = "store::garments::get:17";
const LEDGER: &str = "ledger::write:88";

#[test]
fn holds_that_fit_the_pool_at_the_peak_pass_listing_the_busiest_sites() {
    // before: some holds already; the load adds 10,000 requests
    let before = sample(500.0, &[(OUTFITS, 500.0, 0.002)]);
    let after = sample(
        10_500.0,
        &[
            (OUTFITS, 10_500.0, 0.002),
            (GARMENTS, 2_000.0, 0.004),
            (LEDGER, 10.0, 0.02),
        ],
    );
    let f = judge_holds(&before, &after, &fleet());
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert_eq!(f.sites[0].site, OUTFITS);
    // 1 hold per request x 10,000/s x 2 ms = 20 connections
    assert!(
        (f.sites[0].needed_at_peak - 20.0).abs() < 1e-9,
        "{:?}",
        f.sites[0]
    );
    assert!((f.sites[1].needed_at_peak - 8.0).abs() < 1e-9);
    assert!((f.total_needed - 28.2).abs() < 1e-9, "{}", f.total_needed);
    assert!((f.connection_seconds_per_request - 0.00282).abs() < 1e-12);
    assert!(
        f.summary
            .contains("all sites need 28.2 connections of 64 pooled (4 x 16)"),
        "{}",
        f.summary
    );
    assert!(
        f.summary
            .contains("'store::outfits::list:42' 10,000 acquires/s x 2.0 ms mean hold"),
        "{}",
        f.summary
    );
    assert!(f.summary.contains(LEDGER), "{}", f.summary);
}

#[test]
fn a_site_holding_too_long_for_the_peak_fails_by_name_with_its_figures() {
    let after = sample(
        10_000.0,
        &[(OUTFITS, 10_000.0, 0.002), (LEDGER, 1_000.0, 0.2)],
    );
    let f = judge_holds(&Sample::default(), &after, &fleet());
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    let ledger = f.sites.iter().find(|s| s.site == LEDGER).expect("ledger");
    assert!(ledger.fail);
    assert!((ledger.needed_at_peak - 200.0).abs() < 1e-9);
    assert!(
        !f.sites
            .iter()
            .find(|s| s.site == OUTFITS)
            .expect("outfits")
            .fail
    );
    assert!(
        f.summary.contains(
            "'ledger::write:88' 1,000 acquires/s x 200.0 ms mean hold (p99 248.0 ms) = 200.0 connections"
        ),
        "{}",
        f.summary
    );
}

#[test]
fn sites_that_fit_alone_but_not_together_fail_naming_the_largest() {
    let after = sample(
        10_000.0,
        &[(OUTFITS, 10_000.0, 0.004), (GARMENTS, 10_000.0, 0.003)],
    );
    let f = judge_holds(&Sample::default(), &after, &fleet());
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(f.sites.iter().all(|s| !s.fail));
    assert!(
        f.summary.contains(
            "all sites together need 70.0 connections of 64 pooled (4 x 16), most of them 'store::outfits::list:42' (40.0)"
        ),
        "{}",
        f.summary
    );
}

#[test]
fn the_database_limit_binds_when_it_is_below_the_pools() {
    let after = sample(10_000.0, &[(OUTFITS, 10_000.0, 0.004)]);
    let tight = Projection {
        database_max: Some(30.0),
        ..fleet()
    };
    let f = judge_holds(&Sample::default(), &after, &tight);
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(f.summary.contains("the database takes 30"), "{}", f.summary);
    assert_eq!(
        judge_holds(&Sample::default(), &after, &fleet()).status,
        Status::Pass
    );
}

#[test]
fn holds_without_requests_sites_or_a_peak_are_inconclusive() {
    let after = sample(10_000.0, &[(OUTFITS, 10_000.0, 0.004)]);
    assert_eq!(
        judge_holds(&after, &after, &fleet()).status,
        Status::Inconclusive
    );
    let f = judge_holds(&Sample::default(), &sample(100.0, &[]), &fleet());
    assert_eq!(f.status, Status::Inconclusive);
    assert!(f.summary.contains("db_pool_hold_seconds"), "{}", f.summary);
    let nothing = Projection {
        peak_requests_per_s: 0.0,
        ..fleet()
    };
    assert_eq!(
        judge_holds(&Sample::default(), &after, &nothing).status,
        Status::Inconclusive
    );
    assert_eq!(
        judge_holds(&Sample::default(), &Sample::default(), &fleet()).status,
        Status::Inconclusive
    );
}
