use super::*;
use crate::metrics::Histogram;

/// The server's poll buckets.
const POLL_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0,
];

/// A histogram of the observations `(count, seconds)`.
fn observed(obs: &[(f64, f64)]) -> Histogram {
    let mut h = Histogram::default();
    for &le in POLL_BUCKETS.iter().chain(&[f64::INFINITY]) {
        h.insert_bucket(le, obs.iter().filter(|o| o.1 <= le).map(|o| o.0).sum());
    }
    h.count = obs.iter().map(|o| o.0).sum();
    h.sum = obs.iter().map(|o| o.0 * o.1).sum();
    h
}

fn sample(routes: &[(&str, &[(f64, f64)])], lag: &[(f64, f64)]) -> Sample {
    Sample {
        max_poll_seconds: routes
            .iter()
            .map(|(r, obs)| (r.to_string(), observed(obs)))
            .collect(),
        scheduler_lag: Some(observed(lag)),
        ..Sample::default()
    }
}

const BOUND: f64 = 0.01;

#[test]
fn routes_whose_longest_polls_stay_short_pass_with_their_p99_next_to_the_bound() {
    let before = sample(&[("/v1/outfits", &[(100.0, 0.0004)])], &[(10.0, 0.0002)]);
    let after = sample(
        &[
            (
                "/v1/outfits",
                &[(1_090.0, 0.0004), (7.0, 0.004), (3.0, 0.02)],
            ),
            ("/v1/garments/{id}", &[(500.0, 0.0008)]),
        ],
        &[(110.0, 0.0002), (1.0, 0.004)],
    );
    let f = judge_stalls(&before, &after, BOUND);
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert_eq!(f.routes[0].route, "/v1/outfits");
    assert_eq!((f.routes[0].requests, f.routes[0].stalled), (1_000.0, 3.0));
    assert!(
        f.summary.starts_with(
            "no route stalls its workers (bound 10.0 ms): /v1/outfits p99 longest poll"
        ),
        "{}",
        f.summary
    );
    assert!(
        f.summary.contains("/v1/garments/{id} p99 longest poll"),
        "{}",
        f.summary
    );
    assert!(f.summary.contains("scheduler lag p99"), "{}", f.summary);
    assert!(f.scheduler_lag_p99_s.is_some());
}

#[test]
fn a_route_that_blocks_its_worker_fails_by_name_with_the_share_and_p99() {
    let after = sample(
        &[
            ("/v1/outfits", &[(1_000.0, 0.0004)]),
            ("/v1/looks/render", &[(950.0, 0.0009), (50.0, 0.04)]),
        ],
        &[],
    );
    let f = judge_stalls(&Sample::default(), &after, BOUND);
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    let render = f
        .routes
        .iter()
        .find(|r| r.route == "/v1/looks/render")
        .expect("the route");
    assert!(render.fail && (render.share - 0.05).abs() < 1e-12);
    assert!(
        f.summary.contains(
            "/v1/looks/render p99 longest poll 45.0 ms, 50 of 1,000 requests (5.0%) over 10.0 ms"
        ),
        "{}",
        f.summary
    );
    assert!(!f.summary.contains("/v1/outfits"), "{}", f.summary);
}

#[test]
fn a_handful_of_slow_polls_is_not_a_pattern() {
    let after = sample(&[("/v1/outfits", &[(96.0, 0.0004), (4.0, 0.04)])], &[]);
    let f = judge_stalls(&Sample::default(), &after, BOUND);
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    let strict = Budgets {
        stall_min_count: 3.0,
        ..Budgets::default()
    };
    let f = judge_stalls_with(&Sample::default(), &after, BOUND, &strict);
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
}

#[test]
fn a_bound_between_boundaries_is_read_from_the_boundary_below() {
    let after = sample(&[("/v1/outfits", &[(90.0, 0.0004), (10.0, 0.009)])], &[]);
    let f = judge_stalls(&Sample::default(), &after, 0.008);
    assert_eq!(f.boundary_s, Some(0.0075));
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(
        f.summary
            .contains("over 7.5 ms (the bucket boundary below 8.0 ms)"),
        "{}",
        f.summary
    );
}

#[test]
fn stalls_without_timed_requests_are_inconclusive() {
    let f = judge_stalls(&Sample::default(), &Sample::default(), BOUND);
    assert_eq!(f.status, Status::Inconclusive);
    assert!(
        f.summary.contains("http_request_max_poll_seconds"),
        "{}",
        f.summary
    );
    let same = sample(&[("/v1/outfits", &[(10.0, 0.0004)])], &[]);
    assert_eq!(
        judge_stalls(&same, &same, BOUND).status,
        Status::Inconclusive
    );
}
