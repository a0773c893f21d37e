//! The statistics of the baseline comparison: a confidence interval on the
//! ratio candidate/baseline of a figure measured in repeated runs.
//!
//! Ratios of latencies and rates are compared on logarithms (a run twice as
//! slow and one half as slow are the same distance from 1), with Student's t:
//! paired when the builds ran alternately (round by round, which cancels the
//! machine's drift), Welch's unequal-variance form when the baseline's runs
//! come from an earlier report.
//!
//! The question a gate asks is one-sided (is the candidate worse?), so each
//! bound is a one-sided bound at the confidence asked for: `low` is the ratio
//! the truth exceeds with that confidence, `high` the one it stays under.
//! Together they are the two-sided interval at `2 * confidence - 1`.

/// A ratio's point estimate and its one-sided confidence bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RatioInterval {
    /// exp of the mean log ratio: the geometric mean of the ratios.
    pub(crate) ratio: f64,
    /// The true ratio is at least this, with the confidence asked for.
    pub(crate) low: f64,
    /// The true ratio is at most this, with the confidence asked for.
    pub(crate) high: f64,
    /// Degrees of freedom of the t distribution used.
    pub(crate) df: f64,
}

/// Paired runs: `pairs[i] = (baseline, candidate)` of round `i`. `None` with
/// fewer than two pairs or a figure that is not positive and finite.
pub(crate) fn paired(pairs: &[(f64, f64)], confidence: f64) -> Option<RatioInterval> {
    if pairs.len() < 2 || pairs.iter().any(|&(b, c)| !usable(b) || !usable(c)) {
        return None;
    }
    let d: Vec<f64> = pairs.iter().map(|&(b, c)| c.ln() - b.ln()).collect();
    let n = d.len() as f64;
    let (mean, var) = mean_var(&d);
    let df = n - 1.0;
    let half = t_quantile(confidence, df) * (var / n).sqrt();
    Some(interval(mean, half, df))
}

/// Independent samples of each build (Welch). `None` with fewer than two of
/// either, or a figure that is not positive and finite.
pub(crate) fn welch(baseline: &[f64], candidate: &[f64], confidence: f64) -> Option<RatioInterval> {
    if baseline.len() < 2
        || candidate.len() < 2
        || baseline.iter().chain(candidate).any(|&v| !usable(v))
    {
        return None;
    }
    let lb: Vec<f64> = baseline.iter().map(|v| v.ln()).collect();
    let lc: Vec<f64> = candidate.iter().map(|v| v.ln()).collect();
    let (mb, vb) = mean_var(&lb);
    let (mc, vc) = mean_var(&lc);
    let (nb, nc) = (lb.len() as f64, lc.len() as f64);
    let (qb, qc) = (vb / nb, vc / nc);
    let se2 = qb + qc;
    let df = if se2 > 0.0 {
        se2 * se2 / (qb * qb / (nb - 1.0) + qc * qc / (nc - 1.0))
    } else {
        nb + nc - 2.0
    };
    let half = t_quantile(confidence, df) * se2.sqrt();
    Some(interval(mc - mb, half, df))
}

fn usable(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

fn interval(mean: f64, half: f64, df: f64) -> RatioInterval {
    RatioInterval {
        ratio: mean.exp(),
        low: (mean - half).exp(),
        high: (mean + half).exp(),
        df,
    }
}

/// Mean and unbiased variance (n - 1).
fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var)
}

/// The `p` quantile (0.5 < p < 1) of Student's t with `df` degrees of freedom,
/// by bisection on its distribution function.
pub(crate) fn t_quantile(p: f64, df: f64) -> f64 {
    let (mut lo, mut hi) = (0.0_f64, 1.0e6_f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// P(T <= t) for Student's t with `df` degrees of freedom.
pub(crate) fn t_cdf(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * incomplete_beta(0.5 * df, 0.5, x);
    if t >= 0.0 { 1.0 - tail } else { tail }
}

/// The regularized incomplete beta function I_x(a, b) (continued fraction,
/// modified Lentz; Numerical Recipes 6.4).
fn incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let away_from_zero = |v: f64| if v.abs() < TINY { TINY } else { v };
    // one term of the modified Lentz recurrence: the new (c, d) and the factor for h
    let term = |aa: f64, c: f64, d: f64| {
        let d = 1.0 / away_from_zero(1.0 + aa * d);
        let c = away_from_zero(1.0 + aa / c);
        (c, d, c * d)
    };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / away_from_zero(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..300 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let (c1, d1, even) = term(m * (b - m) * x / ((qam + m2) * (a + m2)), c, d);
        let (c2, d2, odd) = term(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)), c1, d1);
        (c, d) = (c2, d2);
        h *= even * odd;
        if (odd - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // reflection
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn t_quantiles_match_the_tables() {
        // two-sided 95% (p = 0.975) and 99% (p = 0.995) from any t table
        for (df, p, want) in [
            (1.0, 0.975, 12.706),
            (2.0, 0.975, 4.303),
            (4.0, 0.975, 2.776),
            (10.0, 0.975, 2.228),
            (30.0, 0.975, 2.042),
            (1_000.0, 0.975, 1.962),
            (2.0, 0.995, 9.925),
            (5.0, 0.95, 2.015),
        ] {
            let got = t_quantile(p, df);
            assert!(
                (got - want).abs() < 2e-3,
                "t({p}, {df}) = {got}, table {want}"
            );
        }
        assert!((t_cdf(0.0, 3.0) - 0.5).abs() < 1e-12);
        assert!((t_cdf(-2.0, 7.0) + t_cdf(2.0, 7.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn identical_runs_give_a_point_interval_at_their_ratio() {
        let r = paired(&[(10.0, 15.0), (20.0, 30.0), (40.0, 60.0)], 0.95).expect("interval");
        assert!((r.ratio - 1.5).abs() < 1e-12);
        assert!((r.low - 1.5).abs() < 1e-12 && (r.high - 1.5).abs() < 1e-12);
    }

    #[test]
    fn a_known_paired_example() {
        // log ratios ln(1.1), ln(1.3), ln(1.2): mean 0.1808, sd 0.0834; one-sided
        // 97.5% bounds are the two-sided 95% interval, t(0.975, 2) = 4.303
        let r = paired(&[(1.0, 1.1), (1.0, 1.3), (1.0, 1.2)], 0.975).expect("interval");
        let mean = (1.1_f64.ln() + 1.3_f64.ln() + 1.2_f64.ln()) / 3.0;
        assert!((r.ratio - mean.exp()).abs() < 1e-9);
        let d = [
            1.1_f64.ln() - mean,
            1.3_f64.ln() - mean,
            1.2_f64.ln() - mean,
        ];
        let sd = (d.iter().map(|v| v * v).sum::<f64>() / 2.0).sqrt();
        let half = 4.302_65 * sd / 3.0_f64.sqrt();
        assert!((r.low - (mean - half).exp()).abs() < 1e-4, "{r:?}");
        assert!((r.high - (mean + half).exp()).abs() < 1e-4, "{r:?}");
        assert!(
            r.low < 1.0,
            "three runs this close cannot rule out no change: {r:?}"
        );
    }

    #[test]
    fn welch_with_equal_spreads_has_the_pooled_degrees_of_freedom() {
        let r = welch(&[9.0, 10.0, 11.0], &[18.0, 20.0, 22.0], 0.975).expect("interval");
        assert!((r.df - 4.0).abs() < 0.05, "{r:?}");
        assert!(
            r.low > 1.5 && r.high < 2.7 && (r.ratio - 2.0).abs() < 0.02,
            "{r:?}"
        );
    }

    #[test]
    fn unusable_figures_give_no_interval() {
        assert!(
            paired(&[(1.0, 2.0)], 0.95).is_none(),
            "one pair has no spread"
        );
        assert!(paired(&[(1.0, 2.0), (0.0, 2.0)], 0.95).is_none());
        assert!(welch(&[1.0, f64::NAN], &[1.0, 2.0], 0.95).is_none());
        assert!(welch(&[1.0], &[1.0, 2.0], 0.95).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// The interval holds its point estimate, scales with the candidate,
        /// and widens with the confidence asked for.
        #[test]
        fn intervals_are_ordered_and_scale(
            pairs in prop::collection::vec((1.0f64..1_000.0, 1.0f64..1_000.0), 2..12),
            scale in 0.1f64..10.0,
        ) {
            let r = paired(&pairs, 0.95).expect("interval");
            prop_assert!(r.low <= r.ratio * (1.0 + 1e-9) && r.ratio <= r.high * (1.0 + 1e-9));
            let scaled: Vec<_> = pairs.iter().map(|&(b, c)| (b, c * scale)).collect();
            let s = paired(&scaled, 0.95).expect("interval");
            prop_assert!((s.ratio / r.ratio - scale).abs() < 1e-6 * scale);
            let wide = paired(&pairs, 0.99).expect("interval");
            prop_assert!(wide.low <= r.low * (1.0 + 1e-9) && wide.high >= r.high * (1.0 - 1e-9));
            let (b, c): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
            let w = welch(&b, &c, 0.95).expect("interval");
            prop_assert!(w.low <= w.ratio * (1.0 + 1e-9) && w.ratio <= w.high * (1.0 + 1e-9));
        }

    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]

        /// Under no change, a 95% two-sided interval (97.5% bounds) misses 1
        /// about 5% of the time; a fixed seed of noisy runs shows it is not
        /// far off (bounds loose on purpose).
        #[test]
        fn no_change_is_rarely_called_a_change(seed in 0u64..1_000) {
            use rand::{Rng, SeedableRng, rngs::SmallRng};
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut misses = 0;
            for _ in 0..400 {
                let pairs: Vec<(f64, f64)> = (0..3)
                    .map(|_| {
                        let noise = |rng: &mut SmallRng| (rng.random::<f64>() - 0.5) * 0.6;
                        (30.0 * noise(&mut rng).exp(), 30.0 * noise(&mut rng).exp())
                    })
                    .collect();
                let r = paired(&pairs, 0.975).expect("interval");
                if r.low > 1.0 || r.high < 1.0 {
                    misses += 1;
                }
            }
            prop_assert!(misses < 45, "{misses} of 400 intervals missed the true ratio 1");
        }
    }
}
