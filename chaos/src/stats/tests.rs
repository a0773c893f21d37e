use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::SmallRng, seq::SliceRandom};

use super::*;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

#[test]
fn theil_sen_fits_an_exact_line_exactly() {
    let x: Vec<f64> = (0..50).map(f64::from).collect();
    let y: Vec<f64> = x.iter().map(|x| 3.0 + 2.5 * x).collect();
    let line = theil_sen(&x, &y).expect("line");
    assert!(close(line.slope, 2.5, 1e-12), "{line:?}");
    assert!(close(line.intercept, 3.0, 1e-12), "{line:?}");
}

#[test]
fn too_little_or_degenerate_data_gives_none_not_a_panic() {
    assert!(theil_sen(&[], &[]).is_none());
    assert!(theil_sen(&[1.0], &[2.0]).is_none());
    assert!(theil_sen(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).is_none());
    assert!(theil_sen(&[f64::NAN, 1.0], &[1.0, f64::INFINITY]).is_none());
    assert!(mann_kendall(&[1.0, 2.0]).is_none());
    assert!(bootstrap_slope_ci(&[1.0, 2.0], &[1.0, 2.0], 100, 0.95, 1).is_none());
    assert!(median(&mut []).is_none());
}

#[test]
fn mann_kendall_sees_a_monotone_series_and_not_a_shuffled_one() {
    let up: Vec<f64> = (0..40).map(f64::from).collect();
    let mk = mann_kendall(&up).expect("mk");
    assert_eq!(mk.tau, 1.0);
    assert!(mk.p_increasing < 1e-6, "{mk:?}");
    let down: Vec<f64> = up.iter().rev().copied().collect();
    assert!(mann_kendall(&down).expect("mk").p_increasing > 0.999);
    // iid noise: at a 1% level, about 1 in 100 series is flagged
    let mut rng = SmallRng::seed_from_u64(7);
    let mut flagged = 0;
    for _ in 0..300 {
        let mut v = up.clone();
        v.shuffle(&mut rng);
        if mann_kendall(&v).expect("mk").p_increasing < 0.01 {
            flagged += 1;
        }
    }
    assert!(flagged <= 10, "{flagged} of 300 random series flagged");
}

#[test]
fn the_autocorrelation_correction_calms_a_random_walk_but_not_a_real_trend() {
    let mut rng = SmallRng::seed_from_u64(3);
    let x: Vec<f64> = (0..200).map(f64::from).collect();
    let mut flagged_plain = 0;
    let mut flagged_corrected = 0;
    for _ in 0..40 {
        let mut level = 0.0;
        let walk: Vec<f64> = x
            .iter()
            .map(|_| {
                level += rng.random_range(-1.0..1.0);
                level
            })
            .collect();
        if mann_kendall(&walk).expect("mk").p_increasing < 0.01 {
            flagged_plain += 1;
        }
        let slope = theil_sen(&x, &walk).expect("line").slope;
        if mann_kendall_corrected(&x, &walk, slope)
            .expect("mk")
            .p_increasing
            < 0.01
        {
            flagged_corrected += 1;
        }
    }
    assert!(
        flagged_corrected < flagged_plain,
        "plain {flagged_plain}, corrected {flagged_corrected}"
    );
    let trend: Vec<f64> = x
        .iter()
        .map(|x| x * 0.5 + rng.random_range(-1.0..1.0))
        .collect();
    let slope = theil_sen(&x, &trend).expect("line").slope;
    let mk = mann_kendall_corrected(&x, &trend, slope).expect("mk");
    assert!(mk.p_increasing < 1e-6, "{mk:?}");
}

#[test]
fn the_bootstrap_interval_covers_the_true_slope_of_a_noisy_line() {
    let mut rng = SmallRng::seed_from_u64(11);
    let x: Vec<f64> = (0..120).map(|i| f64::from(i) * 100.0).collect();
    let y: Vec<f64> = x
        .iter()
        .map(|x| 1000.0 + 1.0 * x + rng.random_range(-300.0..300.0))
        .collect();
    let (lo, hi) = bootstrap_slope_ci(&x, &y, 400, 0.95, 1).expect("ci");
    assert!(lo <= 1.0 && 1.0 <= hi, "{lo}..{hi}");
    assert!(hi - lo < 0.2, "{lo}..{hi} is too wide to be useful");
}

#[test]
fn the_normal_cdf_matches_known_values() {
    assert!(close(normal_cdf(0.0), 0.5, 1e-7));
    assert!(close(normal_cdf(1.96), 0.975, 1e-4));
    assert!(close(normal_cdf(-2.326), 0.01, 1e-3));
    assert_eq!(normal_cdf(f64::NAN), 0.5);
}

proptest! {
    #[test]
    fn theil_sen_recovers_any_line_through_distinct_points(
        a in -1e6f64..1e6, b in -1e3f64..1e3,
        xs in prop::collection::btree_set(-100_000i64..100_000, 3..60),
    ) {
        let x: Vec<f64> = xs.iter().map(|&v| v as f64).collect();
        let y: Vec<f64> = x.iter().map(|x| a + b * x).collect();
        let line = theil_sen(&x, &y).expect("line");
        prop_assert!(close(line.slope, b, 1e-6), "{line:?} vs {b}");
    }

    #[test]
    fn theil_sen_shrugs_off_a_quarter_of_wild_outliers(
        b in -10f64..10.0, seed in any::<u64>(), noise in 0.0f64..1.0,
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let x: Vec<f64> = (0..80).map(f64::from).collect();
        let mut y: Vec<f64> = x.iter().map(|x| b * x + rng.random_range(-noise..=noise)).collect();
        for i in 0..20 {
            let k = rng.random_range(0..y.len());
            y[k] = if i % 2 == 0 { 1e9 } else { -1e9 };
        }
        let line = theil_sen(&x, &y).expect("line");
        prop_assert!((line.slope - b).abs() < 0.1 + noise, "{} vs {b}", line.slope);
    }

    #[test]
    fn mann_kendall_is_bounded_and_flags_every_strictly_increasing_series(
        mut v in prop::collection::vec(-1e9f64..1e9, 10..80),
    ) {
        let mk = mann_kendall(&v).expect("mk");
        prop_assert!((-1.0..=1.0).contains(&mk.tau));
        prop_assert!((0.0..=1.0).contains(&mk.p_increasing));
        v.sort_by(f64::total_cmp);
        v.dedup();
        if v.len() >= 10 {
            prop_assert!(mann_kendall(&v).expect("mk").p_increasing < 0.001);
        }
    }

    #[test]
    fn no_statistic_panics_on_any_input(
        x in prop::collection::vec(any::<f64>(), 0..40),
        y in prop::collection::vec(any::<f64>(), 0..40),
    ) {
        let _ = theil_sen(&x, &y);
        let _ = mann_kendall(&y);
        let _ = mann_kendall_corrected(&x, &y, 0.5);
        let _ = bootstrap_slope_ci(&x, &y, 20, 0.95, 1);
        let _ = quantile(&y, 0.5);
    }
}
