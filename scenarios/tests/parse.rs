//! Parsing the shipped scenario, refusing bad ones with file, line and key,
//! and random valid scenarios surviving a print/parse round trip.

use std::path::Path;

use proptest::prelude::*;
use scenarios::{
    Browser, Dur, Impatient, Journeys, NewInstall, Phase, Ramp, Regression, RetryPolicy, Returning,
    Scenario, SloSet, Slos, Spanned, Think,
};

fn parse(text: &str) -> Result<Scenario, scenarios::ScenarioError> {
    Scenario::parse(text, Path::new("bad.toml"))
}

/// The located error of a scenario that must be refused.
fn refused(text: &str) -> scenarios::Located {
    match parse(text) {
        Ok(_) => panic!("scenario was accepted:\n{text}"),
        Err(e) => e.located().cloned().expect("a located error"),
    }
}

const MINIMAL: &str = r#"
name = "tiny"
client_timeout = "2s"

[[phases]]
name = "only"
duration = "10s"
users = 5

[journeys.returning]
weight = 1
think = { constant = "1s" }

[slo.default]
p99_ms = 500
"#;

#[test]
fn the_request_rate_of_users_follows_the_weighted_mean_think_time() {
    // one journey, a constant 1 s think: 5 users send 5 requests a second
    let s = parse(MINIMAL).expect("valid");
    assert_eq!(s.journeys.mean_think_s(), Some(1.0));
    assert_eq!(s.request_rate(5.0), Some(5.0));
    // the shipped spike: weights 2, 5, 3, 1 on means 3 s, 5 s, 2.5 s, 2 s
    let spike = Scenario::appstore_spike().expect("shipped scenario is valid");
    let mean = (2.0 * 3.0 + 5.0 * 5.0 + 3.0 * 2.5 + 2.0) / 11.0;
    let think = spike.journeys.mean_think_s().expect("weighted journeys");
    assert!((think - mean).abs() < 1e-9, "{think} vs {mean}");
    let rate = spike.request_rate(50_000.0).expect("a rate");
    assert!((rate - 50_000.0 / mean).abs() < 1e-6);
}

#[test]
fn the_shipped_appstore_scenario_parses_and_has_the_spike_shape() {
    let s = Scenario::appstore_spike().expect("shipped scenario is valid");
    let names: Vec<&str> = s
        .phases
        .iter()
        .map(|p| p.get_ref().name.get_ref().as_str())
        .collect();
    assert_eq!(
        names,
        [
            "baseline",
            "review_lands",
            "plateau",
            "decay",
            "quiet",
            "return_wave",
            "return_decay"
        ]
    );
    assert_eq!(s.peak_users(), 2000.0);
    assert!(s.total_duration().get().as_secs() > 3 * 3600);
    let plateau = s.slo_for("plateau");
    assert_eq!(plateau.max_shed_rate.map(|v| *v.get_ref()), Some(0.2));
    assert_eq!(
        plateau.p50_ms.map(|v| *v.get_ref()),
        Some(150.0),
        "defaults fill in"
    );
}

#[test]
fn a_minimal_scenario_parses() {
    let s = parse(MINIMAL).expect("valid");
    assert_eq!(s.client_timeout.get_ref().as_millis(), 2_000);
}

#[test]
fn an_unknown_key_names_its_line_and_key() {
    let text = MINIMAL.replace("users = 5", "users = 5\nuserz = 7");
    let e = refused(&text);
    assert_eq!(e.file, "bad.toml");
    assert_eq!(e.line, 9, "{e}");
    assert_eq!(e.key, "userz", "{e}");
    assert!(e.message.contains("unknown field"), "{e}");
}

#[test]
fn a_bad_unit_names_its_line_and_key() {
    let e = refused(&MINIMAL.replace("\"10s\"", "\"10 sec\""));
    assert_eq!((e.line, e.key.as_str()), (7, "duration"), "{e}");
    assert!(e.message.contains("unknown unit"), "{e}");
}

#[test]
fn a_bad_key_inside_an_inline_table_is_named() {
    let e = refused(&MINIMAL.replace("{ constant = \"1s\" }", "{ gaussian = \"1s\" }"));
    assert_eq!(e.line, 12, "{e}");
    assert!(e.key.starts_with("think"), "{e}");
}

#[test]
fn an_impossible_shape_is_refused_with_its_key() {
    let e = refused(&MINIMAL.replace("users = 5", "users = { start = 5, end = -1 }"));
    assert_eq!((e.line, e.key.as_str()), (8, "phases[0].users"), "{e}");
    let e = refused(&MINIMAL.replace("users = 5", "users = 0"));
    assert!(e.message.contains("sends nothing"), "{e}");
    let e = refused(&MINIMAL.replace("users = 5", ""));
    assert!(e.key.contains("users"), "{e}");
}

#[test]
fn slos_must_name_real_phases_and_be_ordered() {
    let e = refused(&format!("{MINIMAL}\n[slo.phases.peak]\np99_ms = 100\n"));
    assert_eq!(e.key, "slo.phases.peak", "{e}");
    assert!(e.message.contains("no phase is named"), "{e}");
    let e = refused(&MINIMAL.replace("p99_ms = 500", "p95_ms = 600\np99_ms = 500"));
    assert_eq!((e.line, e.key.as_str()), (16, "slo.default.p99_ms"), "{e}");
    let e = refused(&MINIMAL.replace("p99_ms = 500", "max_shed_rate = 5"));
    assert_eq!(e.key, "slo.default.max_shed_rate", "{e}");
}

#[test]
fn overload_slos_parse_and_need_a_real_peak_phase() {
    let two_phases = MINIMAL.replace(
        "[journeys.returning]",
        "[[phases]]\nname = \"flood\"\nduration = \"10s\"\nusers = 50\n\n[journeys.returning]",
    );
    let ok = format!(
        "{two_phases}\n[slo.phases.flood]\nshed_p99_ms = 50\nmin_goodput_of_peak = 0.9\npeak_phase = \"only\"\n"
    );
    let s = parse(&ok).expect("valid");
    let flood = s.slo_for("flood");
    assert_eq!(flood.shed_p99_ms.map(|v| *v.get_ref()), Some(50.0));
    assert_eq!(flood.min_goodput_of_peak.map(|v| *v.get_ref()), Some(0.9));
    assert_eq!(
        flood.peak_phase.map(|v| v.get_ref().clone()).as_deref(),
        Some("only")
    );
    assert!(
        s.slo_for("only").peak_phase.is_none(),
        "not in the other phase"
    );

    let e = refused(&ok.replace("peak_phase = \"only\"", "peak_phase = \"capacity\""));
    assert_eq!(e.key, "slo.phases.flood.peak_phase", "{e}");
    assert!(e.message.contains("no phase is named \"capacity\""), "{e}");
    let e = refused(&ok.replace("peak_phase = \"only\"\n", ""));
    assert_eq!(e.key, "slo.phases.flood.min_goodput_of_peak", "{e}");
    assert!(e.message.contains("no `peak_phase`"), "{e}");
    let e = refused(&ok.replace("min_goodput_of_peak = 0.9\n", ""));
    assert_eq!(e.key, "slo.phases.flood.peak_phase", "{e}");
    let e = refused(&ok.replace("min_goodput_of_peak = 0.9", "min_goodput_of_peak = 90"));
    assert_eq!(e.key, "slo.phases.flood.min_goodput_of_peak", "{e}");
    assert!(e.message.contains("within 0 to 1"), "{e}");
    let e = refused(&ok.replace("shed_p99_ms = 50", "shed_p99_ms = -5"));
    assert_eq!(e.key, "slo.phases.flood.shed_p99_ms", "{e}");
    let e = refused(&ok.replace("shed_p99_ms = 50", "shed_p99_ms = \"50ms\""));
    assert!(e.key.contains("shed_p99_ms"), "{e}");
}

#[test]
fn a_regression_budget_parses_and_bad_ones_name_their_key() {
    let ok = format!(
        "{MINIMAL}\n[regression]\nruns = 3\nmax_p99_increase = 0.25\nmax_goodput_decrease = 0.1\nphases = [\"only\"]\n"
    );
    let s = parse(&ok).expect("valid");
    let r = s.regression.expect("a regression table");
    assert_eq!(*r.runs.get_ref(), 3);
    assert_eq!(*r.confidence.get_ref(), 0.95, "the default confidence");
    assert_eq!(r.phases.len(), 1);
    assert_eq!(r.max_runs, None, "no extra rounds unless asked");

    for (from, to, key, says) in [
        ("runs = 3", "runs = 1", "regression.runs", "2 to 50"),
        (
            "max_p99_increase = 0.25",
            "max_p99_increase = 0",
            "regression.max_p99_increase",
            "above 0",
        ),
        (
            "max_goodput_decrease = 0.1",
            "max_goodput_decrease = 1.5",
            "regression.max_goodput_decrease",
            "below 1",
        ),
        (
            "phases = [\"only\"]",
            "phases = [\"only\", \"peak\"]",
            "regression.phases[1]",
            "no phase is named \"peak\"",
        ),
        (
            "runs = 3",
            "runs = 3\nmax_runs = 2",
            "regression.max_runs",
            "give 3 (the runs) to 50",
        ),
        (
            "runs = 3",
            "runs = 3\nconfidence = 1.5",
            "regression.confidence",
            "0.5 to 0.999",
        ),
    ] {
        let e = refused(&ok.replace(from, to));
        assert_eq!(e.key, key, "{e}");
        assert!(e.message.contains(says), "{e}");
        assert!(e.line > 15, "{e}");
    }
    let e = refused(&ok.replace("runs = 3", "runs = 3\nbudget = 2"));
    assert!(e.message.contains("budget"), "{e}");
    let e = refused(&ok.replace("runs = 3\n", ""));
    assert!(e.message.contains("runs"), "{e}");
}

#[test]
fn a_toml_syntax_error_names_its_line() {
    let e = refused(&MINIMAL.replace("name = \"only\"", "name = only"));
    assert_eq!(e.line, 6, "{e}");
}

fn dur() -> impl Strategy<Value = Dur> {
    (1u64..86_400_000).prop_map(Dur::from_millis)
}

fn think() -> impl Strategy<Value = Think> {
    prop_oneof![
        (0u64..60_000).prop_map(|ms| Think::Constant(Dur::from_millis(ms))),
        (0u64..60_000).prop_map(|ms| Think::Exponential(Dur::from_millis(ms))),
        (0u64..60_000, 0u64..60_000).prop_map(|(a, b)| Think::Uniform([
            Dur::from_millis(a.min(b)),
            Dur::from_millis(a.max(b))
        ])),
    ]
}

fn ramp() -> impl Strategy<Value = Ramp> {
    (0u32..100_000, 0u32..100_000).prop_map(|(a, b)| Ramp {
        start: f64::from(a),
        end: f64::from(b) / 4.0,
    })
}

fn s<T>(v: T) -> Spanned<T> {
    Spanned::new(0..0, v)
}

prop_compose! {
    fn scenario()(
        phases in prop::collection::vec((dur(), ramp(), prop::option::of(ramp())), 1..6),
        thinks in prop::collection::vec(think(), 4),
        weights in prop::collection::vec(0u32..10, 4),
        timeout_ms in 2u64..60_000,
        p99 in 1u32..10_000,
        storm in any::<bool>(),
        shed_p99 in prop::option::of(1u32..1_000),
        of_peak in prop::option::of(0u32..=100),
        regression in prop::option::of((2u32..=50, 1u32..1_000, 1u32..100, 500u32..=999)),
    ) -> Scenario {
        let phases = phases.into_iter().enumerate().map(|(i, (duration, users, arrivals))| s(Phase {
            name: s(format!("phase_{i}")),
            duration: s(duration),
            // keep every scenario sending something
            users: Some(s(Ramp { start: users.start + 1.0, end: users.end })),
            arrivals_per_s: arrivals.map(s),
        })).collect::<Vec<_>>();
        let first = phases[0].get_ref().name.get_ref().clone();
        let last = phases[phases.len() - 1].get_ref().name.get_ref().clone();
        Scenario {
            name: "random".into(),
            description: "generated".into(),
            client_timeout: s(Dur::from_millis(timeout_ms)),
            phases,
            journeys: Journeys {
                new_install: Some(NewInstall { weight: weights[0], think: s(thinks[0]), feedback: s([1, 3]) }),
                returning: Some(Returning { weight: weights[1] + 1, think: s(thinks[1]), feedback: s([0, 2]) }),
                browser: Some(Browser {
                    weight: weights[2], think: s(thinks[2]), pages: s([1, 3]),
                    page_size: s(20), details_per_page: s([0, 2]),
                }),
                impatient: Some(Impatient {
                    weight: weights[3], think: s(thinks[3]),
                    refresh_after: s(Dur::from_millis(timeout_ms / 2)),
                    on_503: if storm { RetryPolicy::RetryImmediately } else { RetryPolicy::HonourRetryAfter },
                    max_retries: s(3),
                }),
                probe: None,
            },
            slo: Slos {
                default: SloSet {
                    p99_ms: Some(s(f64::from(p99))),
                    max_silent: Some(s(0)),
                    shed_p99_ms: shed_p99.map(|v| s(f64::from(v))),
                    min_goodput_of_peak: of_peak.map(|v| s(f64::from(v) / 100.0)),
                    peak_phase: of_peak.map(|_| s(last)),
                    ..SloSet::default()
                },
                phases: [(first.clone(), s(SloSet { max_shed_rate: Some(s(0.25)), ..SloSet::default() }))].into(),
            },
            leaks: None,
            faults: Vec::new(),
            regression: regression.map(|(runs, p99, goodput, confidence)| Regression {
                runs: s(runs),
                max_p99_increase: s(f64::from(p99) / 100.0),
                max_goodput_decrease: s(f64::from(goodput) / 100.0),
                max_runs: Some(s((runs + 2).min(50))),
                confidence: s(f64::from(confidence) / 1_000.0),
                phases: vec![s(first.clone())],
            }),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_valid_scenarios_print_and_parse_back(sc in scenario()) {
        let text = sc.to_toml().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, sc);
    }

    #[test]
    fn arbitrary_text_is_refused_without_panicking(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn mangled_shipped_scenarios_never_panic(cut in 0usize..4_000, insert in "[a-z =\"\\[\\]{}0-9.\n]{0,8}") {
        let base = scenarios::APPSTORE_SPIKE;
        let cut = cut.min(base.len());
        let cut = (0..=cut).rev().find(|i| base.is_char_boundary(*i)).unwrap_or(0);
        let text = format!("{}{}{}", &base[..cut], insert, &base[cut..]);
        let _ = parse(&text);
    }
}

#[test]
fn every_shipped_scenario_file_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("crate folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml")
            && path.file_name().is_some_and(|n| n != "Cargo.toml")
        {
            let text = std::fs::read_to_string(&path).expect("readable");
            if scenarios::Checklist::declared_in(&text) {
                scenarios::Checklist::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            } else {
                Scenario::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            }
            seen += 1;
        }
    }
    assert!(seen >= 3, "found {seen} scenario files");
}
