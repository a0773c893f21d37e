use std::path::Path;

use rand::SeedableRng;

use super::*;

fn mix() -> Mix {
    let s = scenarios::Scenario::appstore_spike().expect("shipped scenario");
    Mix::new(&s)
}

fn user() -> SimUser {
    SimUser {
        open: false,
        journey: JourneyKind::NewInstall,
        stage: Stage::Done,
        left: 0,
        inner: 0,
        retries: 0,
        token: None,
        onboarded: false,
        ids: [0; KEPT_IDS],
        id_count: 0,
        cursor: None,
        rng: SmallRng::seed_from_u64(1),
    }
}

fn answer(outcome: Outcome, learned: Learned) -> Answer {
    Answer {
        outcome,
        retry_after_s: Some(2),
        learned,
    }
}

fn ok() -> Answer {
    answer(Outcome::Ok, Learned::default())
}

/// Walks a journey with every answer `ok`, returning its stages.
fn walk(mix: &Mix, u: &mut SimUser, kind: JourneyKind) -> Vec<Stage> {
    mix.start(u, kind);
    let mut stages = vec![u.stage];
    for _ in 0..50 {
        let learned = match u.stage {
            Stage::Register => Learned {
                token: Some("t".into()),
                ..Learned::default()
            },
            Stage::Outfits | Stage::Page => Learned {
                ids: vec![1, 2, 3, 4],
                next_cursor: Some(4),
                ..Learned::default()
            },
            _ => Learned::default(),
        };
        if mix.after(u, &answer(Outcome::Ok, learned)) == After::Done {
            return stages;
        }
        stages.push(u.stage);
    }
    panic!("journey did not end: {stages:?}");
}

#[test]
fn a_new_install_registers_onboards_and_gives_feedback() {
    let mix = mix();
    let mut u = user();
    let stages = walk(&mix, &mut u, JourneyKind::NewInstall);
    assert_eq!(
        &stages[..3],
        [Stage::Register, Stage::Profile, Stage::Outfits]
    );
    assert!(
        stages[3..].iter().all(|s| *s == Stage::Feedback) && stages.len() >= 4,
        "{stages:?}"
    );
    assert!(u.token.is_some());
}

#[test]
fn a_returning_user_with_a_token_goes_straight_to_outfits_and_ends_on_saved() {
    let mix = mix();
    let mut u = user();
    u.token = Some("t".into());
    u.onboarded = true;
    let stages = walk(&mix, &mut u, JourneyKind::Returning);
    assert_eq!(stages.first(), Some(&Stage::Outfits));
    assert_eq!(stages.last(), Some(&Stage::Saved));
}

#[test]
fn a_browser_pages_and_opens_garments() {
    let mix = mix();
    let stages = walk(&mix, &mut user(), JourneyKind::Browser);
    assert_eq!(stages.first(), Some(&Stage::Page));
    assert!(
        stages
            .iter()
            .all(|s| matches!(s, Stage::Page | Stage::Detail)),
        "{stages:?}"
    );
    assert!(
        stages.contains(&Stage::Detail),
        "never opened a garment: {stages:?}"
    );
}

#[test]
fn a_failed_registration_ends_the_session() {
    let mix = mix();
    let mut u = user();
    mix.start(&mut u, JourneyKind::NewInstall);
    assert_eq!(
        mix.after(&mut u, &answer(Outcome::ServerError, Learned::default())),
        After::Done
    );
}

#[test]
fn an_impatient_user_retries_a_shed_request_as_the_scenario_says() {
    let text = scenarios::APPSTORE_SPIKE.replace("\"honour_retry_after\"", "\"retry_immediately\"");
    let storm = Mix::new(&scenarios::Scenario::parse(&text, Path::new("x")).expect("valid"));
    let honour = mix();
    for (mix, expected) in [(&honour, Duration::from_secs(2)), (&storm, Duration::ZERO)] {
        let mut u = user();
        u.token = Some("t".into());
        u.onboarded = true;
        u.onboarded = true;
        mix.start(&mut u, JourneyKind::Impatient);
        let shed = answer(Outcome::Shed, Learned::default());
        // max_retries = 3 retries of the same stage, then it gives up
        for _ in 0..3 {
            assert_eq!(mix.after(&mut u, &shed), After::Next(expected));
            assert_eq!(u.stage, Stage::Outfits);
        }
        assert_eq!(mix.after(&mut u, &shed), After::Done);
    }
    // a refresh after a slow answer goes again at once
    let mut u = user();
    u.token = Some("t".into());
    u.onboarded = true;
    honour.start(&mut u, JourneyKind::Impatient);
    let slow = answer(Outcome::Refreshed, Learned::default());
    assert_eq!(honour.after(&mut u, &slow), After::Next(Duration::ZERO));
    let _ = ok();
}

#[test]
fn think_times_follow_their_distribution() {
    let mut rng = SmallRng::seed_from_u64(5);
    let mean = scenarios::Dur::from_millis(2_000);
    let n = 20_000;
    let total: f64 = (0..n)
        .map(|_| sample(&Think::Exponential(mean), &mut rng).as_secs_f64())
        .sum();
    let avg = total / f64::from(n);
    assert!((1.9..2.1).contains(&avg), "mean {avg}");
    let lo = scenarios::Dur::from_millis(1_000);
    let hi = scenarios::Dur::from_millis(3_000);
    for _ in 0..1_000 {
        let d = sample(&Think::Uniform([lo, hi]), &mut rng);
        assert!(d >= lo.get() && d <= hi.get());
    }
}

#[test]
fn a_user_with_a_token_but_no_profile_onboards_before_asking_for_outfits() {
    let mix = mix();
    let mut u = user();
    u.token = Some("t".into());
    let stages = walk(&mix, &mut u, JourneyKind::Returning);
    assert_eq!(&stages[..2], [Stage::Profile, Stage::Outfits]);
    assert!(u.onboarded);
}
