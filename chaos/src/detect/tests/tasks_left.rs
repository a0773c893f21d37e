use super::*;

/// [`run`] whose requests each leave a task behind one time in `per`; after
/// the load the count falls by `drain_per_s` (0: the tasks never end).
fn leaking(per: f64, drain_per_s: f64, seed: u64) -> Vec<Sample> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut s = run(0.0, 10.0, seed);
    let mut left_at_end = 0.0;
    for sample in &mut s {
        let busy = sample.alive_tasks == Some(30.0);
        let left = sample.requests / per;
        let tasks = if sample.at_s < 45.0 {
            left_at_end = left;
            12.0 + left
                + if busy {
                    rng.random_range(14.0..22.0)
                } else {
                    0.0
                }
        } else {
            12.0 + (left_at_end - drain_per_s * (sample.at_s - 45.0)).max(0.0)
        };
        sample.alive_tasks = Some(tasks.round());
    }
    s
}

#[test]
fn tasks_left_per_request_are_a_leak_with_the_rate_and_the_routes() {
    // watched only 7 s after the load, less than the settle bound: still a verdict
    let s = until(leaking(500.0, 0.0, 1), 52.0);
    let f = tasks::judge(&s, Some(WINDOW), &Budgets::default());
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    assert!(f.grows_with_requests, "{f:?}");
    assert_eq!(f.excess_at_end, Some(80.0));
    let per = f.tasks_per_request.expect("a rate");
    assert!((per - 1.0 / 500.0).abs() < 1e-4, "{per}");
    for part in [
        "LEAK: 80 tasks above the baseline of 12",
        "1 task per 500 requests over 40,000 requests",
        "/v1/outfits 70%, /v1/garments/{id} 30%",
    ] {
        assert!(f.summary.contains(part), "{part} not in {}", f.summary);
    }
    assert_eq!(f.routes.len(), 2);
}

#[test]
fn tasks_still_draining_are_told_from_a_leak_with_their_rate() {
    let s = leaking(500.0, 4.0, 2);
    let f = tasks::judge(&s, Some(WINDOW), &Budgets::default());
    assert_eq!(f.status, Status::Inconclusive, "{}", f.summary);
    assert!(f.summary.starts_with("still draining"), "{}", f.summary);
    assert!(f.summary.contains("falling 4.0 tasks/s"), "{}", f.summary);
    assert!(
        f.summary.contains("past the bound of 10 s"),
        "{}",
        f.summary
    );
    // the gauge rule still holds the drain to the bound
    let g = gauges::judge(&s, Some(WINDOW), &Budgets::default());
    assert_eq!(g.status, Status::Fail, "{}", g.summary);
    assert!(g.summary.contains("tokio_alive_tasks"), "{}", g.summary);
}

#[test]
fn a_fixed_excess_that_did_not_grow_with_requests_is_not_called_a_leak_early() {
    let mut s = until(run(0.0, 10.0, 3), 52.0);
    for sample in s.iter_mut().filter(|s| s.at_s > 5.0) {
        sample.alive_tasks = Some(40.0);
    }
    let f = tasks::judge(&s, Some(WINDOW), &Budgets::default());
    assert_eq!(f.status, Status::Inconclusive, "{}", f.summary);
    assert!(!f.grows_with_requests);
    assert!(
        f.summary.contains("not grown with the request count"),
        "{}",
        f.summary
    );
}

#[test]
fn a_healthy_server_has_no_tasks_left_per_request() {
    let f = tasks::judge(&run(0.0, 10.0, 4), Some(WINDOW), &Budgets::default());
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert_eq!(f.excess_at_end, Some(0.0));
    assert!(!f.grows_with_requests);
}

#[test]
fn the_watcher_stops_waiting_when_everything_is_back_or_the_tasks_are_flat() {
    let b = Budgets::default();
    assert!(settled_or_flat(&run(0.0, 10.0, 5), WINDOW, &b));
    // no sample after the load yet
    assert!(!settled_or_flat(
        &until(run(0.0, 10.0, 5), 44.0),
        WINDOW,
        &b
    ));
    let leak = leaking(500.0, 0.0, 6);
    assert!(!settled_or_flat(&until(leak.clone(), 48.0), WINDOW, &b));
    assert!(settled_or_flat(&until(leak, 51.0), WINDOW, &b));
    // a drain keeps it waiting
    assert!(!settled_or_flat(&leaking(500.0, 4.0, 7), WINDOW, &b));
    // and so does any other gauge not back
    let mut stuck = run(0.0, 10.0, 8);
    for sample in stuck.iter_mut().filter(|s| s.at_s >= 45.0) {
        sample.pool_in_use = Some(2.0);
    }
    assert!(!settled_or_flat(&stuck, WINDOW, &b));
    let running = LoadWindow {
        end_s: None,
        ..WINDOW
    };
    assert!(!settled_or_flat(&run(0.0, 10.0, 9), running, &b));
}

#[test]
fn tasks_without_samples_are_inconclusive_not_a_panic() {
    let b = Budgets::default();
    assert_eq!(tasks::judge(&[], None, &b).status, Status::Inconclusive);
    assert_eq!(
        tasks::judge(&[], Some(WINDOW), &b).status,
        Status::Inconclusive
    );
    let one = vec![Sample {
        alive_tasks: Some(3.0),
        ..Sample::default()
    }];
    assert_eq!(
        tasks::judge(&one, Some(WINDOW), &b).status,
        Status::Inconclusive
    );
    // nothing after the load yet: keep waiting
    assert!(!settled_or_flat(&[], WINDOW, &b));
}
