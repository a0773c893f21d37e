use super::*;

/// Four servers sharing 4,000 requests/s: 1,000 each.
fn peak() -> Projection {
    Projection {
        peak_requests_per_s: 4_000.0,
        scenario: "appstore-spike at 50000 users".into(),
        instances: 4,
        pool_per_instance: 16.0,
        database_max: Some(150.0),
    }
}

#[test]
fn each_cost_per_request_becomes_a_sentence_about_the_peak() {
    let costs = PerRequestCosts {
        kind: Some("outfits".into()),
        bytes_retained: Some(3.1),
        tasks_left: Some(1.0 / 500.0),
        connection_seconds: Some(0.002),
        cpu_seconds: Some(0.000_15),
    };
    let lines = project(&costs, &peak(), Some(1024.0 * 1024.0 * 1024.0));
    assert_eq!(lines.len(), 4, "{lines:#?}");
    let at_peak =
        "at the peak of appstore-spike at 50000 users (4,000 requests/s, 1,000 per server)";
    assert_eq!(
        lines[0],
        format!(
            "retains 3.1 B per outfits request: {at_peak} this server runs out of its 1.0 GiB in 4 d 0 h; 255.4 MiB a day"
        )
    );
    assert_eq!(
        lines[1],
        format!(
            "leaves 1 task per 500 outfits requests: {at_peak} that is 172,800 tasks a day per server"
        )
    );
    assert!(
        lines[2].starts_with("holds a pooled connection 2.0 ms per outfits request")
            && lines[2].ends_with(
                "keeps 8.0 connections busy across the fleet (2.0 per server) of 64 pooled; the database takes 150"
            ),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("costs 150 µs of CPU per outfits request")
            && lines[3].ends_with("that is 0.1 cores per server"),
        "{}",
        lines[3]
    );
}

#[test]
fn without_a_memory_limit_the_growth_per_day_is_said_instead() {
    let costs = PerRequestCosts {
        bytes_retained: Some(3.1),
        ..PerRequestCosts::default()
    };
    let lines = project(&costs, &peak(), None);
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("retains 3.1 B per request:")
            && lines[0].ends_with("this server grows by 255.4 MiB a day"),
        "{}",
        lines[0]
    );
}

#[test]
fn nothing_is_projected_without_a_cost_or_a_peak() {
    assert!(project(&PerRequestCosts::default(), &peak(), None).is_empty());
    let costs = PerRequestCosts {
        bytes_retained: Some(f64::NAN),
        tasks_left: Some(0.0),
        connection_seconds: Some(-1.0),
        ..PerRequestCosts::default()
    };
    assert!(project(&costs, &peak(), None).is_empty());
    let idle = Projection {
        peak_requests_per_s: 0.0,
        instances: 0,
        ..peak()
    };
    let some = PerRequestCosts {
        bytes_retained: Some(3.0),
        ..PerRequestCosts::default()
    };
    assert!(project(&some, &idle, None).is_empty());
}

#[test]
fn tasks_left_per_request_are_projected_from_the_task_finding() {
    let s = until(run(0.0, 10.0, 1), 60.0);
    let mut f = tasks::judge(&s, Some(WINDOW), &Budgets::default());
    assert_eq!(f.projection(&peak()), None);
    f.tasks_per_request = Some(1.0 / 500.0);
    let text = f.projection(&peak()).expect("a sentence");
    assert!(text.contains("172,800 tasks a day per server"), "{text}");
}
