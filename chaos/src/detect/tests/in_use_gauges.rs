use super::*;

fn gauge<'a>(f: &'a GaugesFinding, name: &str) -> &'a GaugeFinding {
    f.gauges
        .iter()
        .find(|g| g.gauge == name)
        .expect("the gauge is in the table")
}

#[test]
fn every_in_use_gauge_back_at_its_baseline_passes_with_its_figures() {
    let f = gauges::judge(&run(0.0, 10.0, 1), Some(WINDOW), &Budgets::default());
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert_eq!(f.gauges.len(), IN_USE_GAUGES.len());
    for spec in IN_USE_GAUGES {
        let g = gauge(&f, spec.name);
        assert_eq!(g.status, Status::Pass, "{}", g.summary);
        assert!(g.summary.starts_with(spec.name), "{}", g.summary);
        assert!(g.summary.contains("after load stopped"), "{}", g.summary);
    }
    assert!(
        f.summary
            .starts_with("all 5 in-use gauges back to their baselines within 10 s"),
        "{}",
        f.summary
    );
    let open = gauge(&f, "http_open_connections");
    assert_eq!((open.baseline, open.limit), (Some(1.0), Some(3.0)));
}

#[test]
fn a_request_stuck_in_flight_fails_naming_the_gauge_and_its_figures() {
    let mut s = run(0.0, 10.0, 2);
    for sample in s.iter_mut().filter(|s| s.at_s >= 45.0) {
        sample.inflight = Some(1.0);
    }
    let f = gauges::judge(&s, Some(WINDOW), &Budgets::default());
    assert_eq!(f.status, Status::Fail, "{}", f.summary);
    let g = gauge(&f, "http_inflight_requests");
    assert_eq!(g.status, Status::Fail);
    assert_eq!(g.at_end, Some(1.0));
    assert!(f.summary.starts_with("NOT BACK"), "{}", f.summary);
    assert!(
        f.summary.contains("http_inflight_requests: still 1 ")
            && f.summary.contains("after load stopped vs baseline 0"),
        "{}",
        f.summary
    );
    assert_eq!(gauge(&f, "http_queue_depth").status, Status::Pass);
}

#[test]
fn a_gauge_that_dips_and_climbs_again_is_back_only_from_its_last_return() {
    let mut s = run(0.0, 10.0, 3);
    for sample in s.iter_mut().filter(|s| (50.0..52.0).contains(&s.at_s)) {
        sample.queue_depth = Some(4.0);
    }
    let f = gauges::judge(&s, Some(WINDOW), &Budgets::default());
    let g = gauge(&f, "http_queue_depth");
    assert_eq!(g.status, Status::Pass, "{}", g.summary);
    assert_eq!(g.returned_after_s, Some(7.0));
    let strict = Budgets {
        settle_within: Duration::from_secs(5),
        ..Budgets::default()
    };
    let g = gauges::judge_gauge(&IN_USE_GAUGES[1], &s, Some(WINDOW), &strict);
    assert_eq!(g.status, Status::Fail, "{}", g.summary);
    assert!(g.summary.contains("only 7.0 s after"), "{}", g.summary);
}

#[test]
fn without_a_pre_load_sample_an_idle_zero_gauge_starts_from_zero_and_says_so() {
    let s = run(0.0, 10.0, 4);
    let from_load: Vec<Sample> = s.into_iter().filter(|s| s.at_s > 5.0).collect();
    let f = gauges::judge(&from_load, Some(WINDOW), &Budgets::default());
    let inflight = gauge(&f, "http_inflight_requests");
    assert_eq!(inflight.status, Status::Pass, "{}", inflight.summary);
    assert!(inflight.baseline_assumed);
    assert!(
        inflight.summary.contains("idle value 0 assumed"),
        "{}",
        inflight.summary
    );
    // open connections and tasks have no idle value to assume
    let open = gauge(&f, "http_open_connections");
    assert_eq!(open.status, Status::Inconclusive);
    assert!(
        open.summary.contains("no pre-load sample"),
        "{}",
        open.summary
    );
    assert_eq!(f.status, Status::Inconclusive, "{}", f.summary);
}

#[test]
fn a_gauge_the_server_does_not_export_does_not_count() {
    let mut s = run(0.0, 10.0, 5);
    for sample in &mut s {
        sample.queue_depth = None;
    }
    let f = gauges::judge(&s, Some(WINDOW), &Budgets::default());
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    assert!(!gauge(&f, "http_queue_depth").exported);
    assert!(
        f.summary.contains("not exported: http_queue_depth"),
        "{}",
        f.summary
    );
}

#[test]
fn a_new_gauge_joins_by_adding_a_row_to_the_table() {
    const IDLE_POOL: &[GaugeSpec] = &[GaugeSpec {
        name: "db_pool_connections{state=\"idle\"}",
        read: |s| s.pool_idle,
        tolerance: Tolerance::Absolute(0.0),
        idle_zero: false,
    }];
    let mut s = run(0.0, 10.0, 6);
    for sample in s.iter_mut().filter(|s| s.at_s >= 45.0) {
        sample.pool_idle = Some(1.0);
    }
    let f = gauges::judge_with(IDLE_POOL, &s, Some(WINDOW), &Budgets::default());
    // idle went from 4 to 1: below the baseline is back
    assert_eq!(f.status, Status::Pass, "{}", f.summary);
    let g = &f.gauges[0];
    assert_eq!((g.baseline, g.at_end), (Some(4.0), Some(1.0)));
    assert!(
        f.summary.contains("db_pool_connections{state=\"idle\"}"),
        "{}",
        f.summary
    );
}

#[test]
fn no_samples_no_load_or_a_load_that_never_stopped_is_inconclusive() {
    let b = Budgets::default();
    let f = gauges::judge(&[], None, &b);
    assert_eq!(f.status, Status::Inconclusive);
    assert!(f.summary.contains("exports none"), "{}", f.summary);
    let s = run(0.0, 10.0, 7);
    assert_eq!(gauges::judge(&s, None, &b).status, Status::Inconclusive);
    let running = LoadWindow {
        start_s: 5.0,
        end_s: None,
    };
    let f = gauges::judge(&s, Some(running), &b);
    assert_eq!(f.status, Status::Inconclusive);
    assert!(f.summary.contains("did not stop"), "{}", f.summary);
    // a stuck request watched only 2 s after the load: too soon to call it
    let mut stuck = until(s, 47.0);
    for sample in stuck.iter_mut().filter(|s| s.at_s >= 45.0) {
        sample.inflight = Some(1.0);
    }
    let f = gauges::judge(&stuck, Some(WINDOW), &b);
    assert_eq!(f.status, Status::Inconclusive, "{}", f.summary);
    assert!(
        f.summary.contains("4 of 5 in-use gauges back"),
        "{}",
        f.summary
    );
}
