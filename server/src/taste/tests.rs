//! Unit tests: aggregation, the fit on planted clusters, degenerate inputs,
//! determinism, the bounded bias cache, and no panics on arbitrary feedback.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::synthetic::{PlantedParams, evaluate, planted};
use super::*;
use crate::{config::TasteSettings, engine::Catalog, store::FeedbackAction, telemetry::Metrics};

const PARAMS: FitParams = FitParams {
    factors: 8,
    iterations: 8,
    seed: 3,
};

fn small_planted() -> PlantedParams {
    PlantedParams {
        users: 240,
        garments: 160,
        clusters: 4,
        likes_per_user: 10,
        in_cluster: 0.9,
        seed: 11,
    }
}

fn fit_rows(rows: &[(i64, FeedbackAction, Vec<i64>)]) -> TasteModel {
    let mut data = Interactions::new();
    for (u, a, g) in rows {
        data.push(*u, *a, g);
    }
    TasteModel::fit(&data, &PARAMS)
}

#[test]
fn net_weights_are_clamped_and_a_dislike_cancels_a_like() {
    let mut data = Interactions::new();
    for _ in 0..10 {
        data.push(1, FeedbackAction::Save, &[10]);
    }
    data.push(1, FeedbackAction::Like, &[11]);
    data.push(1, FeedbackAction::Dislike, &[11]);
    data.push(1, FeedbackAction::Dislike, &[12]);
    assert_eq!(data.rows(), 13);
    let model = TasteModel::fit(&data, &PARAMS);
    let mut fb = model.feedback(1);
    fb.sort_by_key(|&(g, _)| g);
    assert_eq!(
        fb,
        vec![(10, 5.0), (12, -1.0)],
        "11 nets to zero and is dropped"
    );
}

#[test]
fn users_with_the_same_taste_are_each_others_nearest_neighbours() {
    let data = planted(&small_planted());
    let model = fit_rows(&data.train);
    let clusters = 4;
    let mut same = 0;
    let mut total = 0;
    for user in 1..=40i64 {
        for (other, sim) in model.similar_users(user, 5) {
            assert!(sim > 0.0 && sim <= 1.0001, "{sim}");
            total += 1;
            same += usize::from((other - 1) % clusters == (user - 1) % clusters);
        }
    }
    assert!(total >= 150, "too few neighbours found: {total}");
    assert!(
        same as f64 >= 0.9 * total as f64,
        "{same} of {total} neighbours share the planted cluster"
    );
}

#[test]
fn the_model_beats_popularity_on_planted_clusters() {
    let data = planted(&small_planted());
    let report = evaluate(&data, &PARAMS, 20, 10);
    assert_eq!(report.users, 240);
    assert!(
        report.model_hit_rate > 1.5 * report.popularity_hit_rate
            && report.model_hit_rate > report.popularity_hit_rate + 0.1,
        "{report:?}"
    );
}

#[test]
fn a_user_with_only_dislikes_has_no_row() {
    let model = fit_rows(&[
        (1, FeedbackAction::Like, vec![1, 2, 3]),
        (2, FeedbackAction::Like, vec![1, 2]),
        (3, FeedbackAction::Dislike, vec![1, 4]),
    ]);
    assert!(model.has_user(1) && model.has_user(2));
    assert!(!model.has_user(3));
    assert_eq!(model.taste_scores(3, 10, 10), None);
    assert_eq!(model.taste_scores(99, 10, 10), None);
    assert!(model.similar_users(3, 10).is_empty());
}

#[test]
fn empty_feedback_fits_an_empty_model() {
    let model = fit_rows(&[]);
    assert_eq!(
        (model.users(), model.garments(), model.positives()),
        (0, 0, 0)
    );
    assert_eq!(model.taste_scores(1, 10, 10), None);
    let only_dislikes = fit_rows(&[(1, FeedbackAction::Dislike, vec![5])]);
    assert_eq!(only_dislikes.users(), 0);
}

#[test]
fn the_same_feedback_gives_the_same_model() {
    let data = planted(&small_planted());
    let a = fit_rows(&data.train);
    let b = fit_rows(&data.train);
    for user in [1, 17, 200] {
        assert_eq!(a.similar_users(user, 10), b.similar_users(user, 10));
        assert_eq!(a.taste_scores(user, 10, 50), b.taste_scores(user, 10, 50));
    }
}

#[test]
fn neighbours_likes_score_highest_and_their_dislikes_below_zero() {
    let mut rows = Vec::new();
    // users 1..=6 like 1, 2, 3 and dislike 9; users 7..=12 like 4, 5, 6
    for u in 1..=6 {
        rows.push((u, FeedbackAction::Like, vec![1, 2, 3]));
        rows.push((u, FeedbackAction::Dislike, vec![9]));
    }
    for u in 7..=12 {
        rows.push((u, FeedbackAction::Like, vec![4, 5, 6]));
    }
    rows.push((13, FeedbackAction::Like, vec![1]));
    let model = fit_rows(&rows);
    let scores = model.taste_scores(13, 5, 100).unwrap();
    let score = |g: i64| scores.iter().find(|s| s.0 == g).map_or(0.0, |s| s.1);
    assert!(score(2) > 0.5 && score(3) > 0.5, "{scores:?}");
    assert!(score(9) < 0.0, "{scores:?}");
    assert!(score(4) < score(2) && score(5) < score(3), "{scores:?}");
    assert!(scores.iter().all(|s| (-1.0..=1.0).contains(&s.1)));
}

#[test]
fn the_bias_cache_never_holds_more_than_its_cap() {
    let settings = TasteSettings {
        cache_users: 16,
        ..TasteSettings::default()
    };
    let taste = Taste::new(settings, &Metrics::new()).unwrap();
    let data = planted(&small_planted());
    taste.install(fit_rows(&data.train));
    let catalog = Catalog::new(crate::engine::synthetic::catalog(200, 1));
    let mut biased = 0;
    for user in 1..=240 {
        biased += usize::from(taste.bias(user, &catalog).is_some());
        assert!(taste.cached_users() <= 16);
    }
    assert!(biased > 200, "only {biased} users got a bias");
    assert!(taste.bias(100_000, &catalog).is_none(), "no row, no bias");
}

#[test]
fn the_metrics_cannot_be_registered_twice_on_one_registry() {
    let metrics = Metrics::new();
    Taste::new(TasteSettings::default(), &metrics).unwrap();
    assert!(Taste::new(TasteSettings::default(), &metrics).is_err());
    let text = metrics.render();
    assert!(text.contains("taste_model_retrains_total 0"), "{text}");
}

fn action() -> impl Strategy<Value = FeedbackAction> {
    prop_oneof![
        Just(FeedbackAction::Like),
        Just(FeedbackAction::Dislike),
        Just(FeedbackAction::Save),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_feedback_fits_without_panics_and_scores_stay_in_range(
        rows in prop::collection::vec(
            (0i64..12, action(), prop::collection::vec(prop_oneof![0i64..20, any::<i64>()], 0..8)),
            0..60,
        ),
        factors in 1u32..6,
    ) {
        let mut data = Interactions::new();
        for (u, a, g) in &rows {
            data.push(*u, *a, g);
        }
        let model = TasteModel::fit(&data, &FitParams { factors, iterations: 3, seed: 1 });
        for user in 0..12 {
            if let Some(scores) = model.taste_scores(user, 5, 30) {
                prop_assert!(scores.len() <= 30);
                for (_, s) in scores {
                    prop_assert!(s.is_finite() && (-1.0..=1.0).contains(&s), "{s}");
                }
            }
            for (_, sim) in model.similar_users(user, 5) {
                prop_assert!(sim.is_finite());
            }
        }
    }
}
