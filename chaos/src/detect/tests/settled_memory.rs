use super::*;

/// Points every 10,000 requests, one per pause, with the given heap bytes and allocations.
fn points(bytes: &[f64], allocations: &[f64]) -> Vec<SettledPoint> {
    bytes
        .iter()
        .zip(allocations)
        .enumerate()
        .map(|(i, (&live_bytes, &live_allocations))| SettledPoint {
            requests: 10_000.0 * (i + 1) as f64,
            live_bytes,
            live_allocations,
            at_s: 20.0 * i as f64,
        })
        .collect()
}

/// The scenarios' per-request floor.
fn budgets() -> Budgets {
    Budgets {
        min_bytes_per_request: 3.0,
        ..Budgets::default()
    }
}

const FLAT: [f64; 6] = [52_000.0; 6];

#[test]
fn a_heap_growing_in_doubling_steps_retains_bytes_per_request() {
    // a Vec's capacity: flat over some pauses, then a jump; allocations flat
    let mib = 1024.0 * 1024.0;
    let bytes = [
        8.0 * mib,
        8.0 * mib,
        8.25 * mib,
        8.25 * mib,
        8.25 * mib,
        8.5 * mib,
    ];
    let f = judge_settled(&points(&bytes, &FLAT), &budgets());
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    let by = f.bytes.as_ref().expect("bytes judged");
    assert!(by.leak && by.retained);
    assert!((by.per_request - 0.5 * mib / 50_000.0).abs() < 1e-6);
    assert!(
        f.summary.contains(
            "LEAK: retains 10.49 B per request over 50,000 requests (first 8.0 MiB, last 8.5 MiB)"
        ),
        "{}",
        f.summary
    );
    assert!(!f.allocations.as_ref().expect("allocations").leak);
}

#[test]
fn a_healthy_heap_within_the_noise_floor_passes() {
    let bytes = [
        4_000_000.0,
        4_009_000.0,
        3_996_000.0,
        4_004_000.0,
        4_012_000.0,
        4_006_000.0,
    ];
    let allocations = [52_000.0, 52_030.0, 51_990.0, 52_010.0, 52_040.0, 52_020.0];
    let f = judge_settled(&points(&bytes, &allocations), &budgets());
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert!(
        f.summary.starts_with("retains 0.12 B per request"),
        "{}",
        f.summary
    );
}

#[test]
fn growth_that_came_back_down_is_not_retained() {
    let bytes = [
        1_000_000.0,
        1_000_000.0,
        1_600_000.0,
        1_600_000.0,
        1_300_000.0,
        1_300_000.0,
    ];
    let f = judge_settled(&points(&bytes, &FLAT), &budgets());
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert!(!f.bytes.as_ref().expect("bytes").retained);
    assert!(f.summary.contains("not retained"), "{}", f.summary);
}

#[test]
fn growth_below_the_per_request_floor_is_not_a_leak() {
    // 100 KiB over 50,000 requests: 2 B per request, under the 3 B floor
    let bytes = [1e6, 1e6, 1.05e6, 1.05e6, 1.1e6, 1.1024e6];
    let f = judge_settled(&points(&bytes, &FLAT), &budgets());
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
}

#[test]
fn live_allocations_growing_per_request_fail_even_when_bytes_stay_flat() {
    let allocations: Vec<f64> = (0..6).map(|i| 52_000.0 + 1_000.0 * f64::from(i)).collect();
    let f = judge_settled(&points(&[4e6; 6], &allocations), &budgets());
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(f.allocations.as_ref().expect("allocations").leak);
    assert!(
        f.summary
            .starts_with("LEAK: live allocations 52,000 -> 57,000 (0.10 per request)"),
        "{}",
        f.summary
    );
}

#[test]
fn fewer_than_three_settled_points_or_no_requests_are_inconclusive() {
    let b = budgets();
    assert_eq!(judge_settled(&[], &b).status, Status::Inconclusive);
    let two = points(&[1e6, 9e6], &[1.0, 2.0]);
    let f = judge_settled(&two, &b);
    assert_eq!(f.status, Status::Inconclusive);
    assert!(f.summary.contains("need 3"), "{}", f.summary);
    let mut idle = points(&[1e6, 2e6, 3e6], &[1.0, 1.0, 1.0]);
    for p in &mut idle {
        p.requests = 5.0;
    }
    assert_eq!(judge_settled(&idle, &b).status, Status::Inconclusive);
    let mut broken = points(&[1e6, 2e6, 3e6], &[1.0, 1.0, 1.0]);
    broken[1].live_bytes = f64::NAN;
    assert_eq!(judge_settled(&broken, &b).status, Status::Inconclusive);
}

#[test]
fn retained_bytes_are_projected_to_the_peak() {
    let bytes = [1e6, 1e6, 1.2e6, 1.2e6, 1.2e6, 1.5e6];
    let f = judge_settled(&points(&bytes, &FLAT), &budgets());
    let p = Projection {
        peak_requests_per_s: 4_000.0,
        scenario: "appstore-spike at 50000 users".into(),
        instances: 4,
        pool_per_instance: 16.0,
        database_max: None,
    };
    let text = f
        .projection(&p, Some(1024.0 * 1024.0 * 1024.0), Some("outfits"))
        .expect("a projection");
    assert!(
        text.starts_with("retains 10.0 B per outfits request: at the peak of appstore-spike"),
        "{text}"
    );
    assert!(
        text.contains("runs out of its 1.0 GiB in 1 d 5 h"),
        "{text}"
    );
    let flat = judge_settled(&points(&[1e6; 6], &FLAT), &budgets());
    assert_eq!(flat.projection(&p, None, None), None);
}
