//! Robust trend statistics: Theil–Sen slope, a moving-block bootstrap
//! confidence interval for it, and the Mann–Kendall trend test with the
//! Hamed–Rao correction for autocorrelated series.
//!
//! All functions take plain slices, ignore non-finite values, and return
//! `None` rather than panic when there is too little data.

use rand::{Rng, SeedableRng, rngs::SmallRng};

/// Points used by Theil–Sen (pairs grow with the square); longer series are thinned evenly.
pub const MAX_POINTS: usize = 400;
/// Points per bootstrap round (the rounds multiply the cost).
const MAX_BOOTSTRAP_POINTS: usize = 150;

/// A fitted line `y = intercept + slope * x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line {
    pub slope: f64,
    pub intercept: f64,
}

fn finite_pairs(x: &[f64], y: &[f64]) -> Vec<(f64, f64)> {
    x.iter()
        .zip(y)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(a, b)| (*a, *b))
        .collect()
}

/// Every `len / max`-th element, so at most about `max` remain, first and last kept.
fn thin<T: Copy>(v: &[T], max: usize) -> Vec<T> {
    if v.len() <= max || max < 2 {
        return v.to_vec();
    }
    (0..max).map(|i| v[i * (v.len() - 1) / (max - 1)]).collect()
}

/// The median of `v` (reorders it); `None` when empty.
pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    let (_, hi, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let hi = *hi;
    if v.len() % 2 == 1 {
        return Some(hi);
    }
    let lo = v[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((lo + hi) / 2.0)
}

/// The `q` quantile (0..=1) by nearest rank of a sorted copy.
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let idx = ((s.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    s.get(idx).copied()
}

fn sen(points: &[(f64, f64)]) -> Option<Line> {
    let mut slopes = Vec::with_capacity(points.len() * points.len() / 2);
    for (i, &(xi, yi)) in points.iter().enumerate() {
        for &(xj, yj) in &points[i + 1..] {
            let dx = xj - xi;
            if dx != 0.0 {
                let s = (yj - yi) / dx;
                if s.is_finite() {
                    slopes.push(s);
                }
            }
        }
    }
    let slope = median(&mut slopes)?;
    let mut rest: Vec<f64> = points.iter().map(|(x, y)| y - slope * x).collect();
    let intercept = median(&mut rest)?;
    Some(Line { slope, intercept })
}

/// Theil–Sen estimator: the median of all pairwise slopes. Up to ~29% of the
/// points can be arbitrary outliers without moving it far.
pub fn theil_sen(x: &[f64], y: &[f64]) -> Option<Line> {
    sen(&thin(&finite_pairs(x, y), MAX_POINTS))
}

/// A `confidence` (e.g. 0.95) interval for the Theil–Sen slope by a moving-block
/// bootstrap: blocks of about n^(1/3) consecutive points keep the series'
/// autocorrelation, so the interval is not falsely narrow. Deterministic for a `seed`.
pub fn bootstrap_slope_ci(
    x: &[f64],
    y: &[f64],
    rounds: usize,
    confidence: f64,
    seed: u64,
) -> Option<(f64, f64)> {
    let points = thin(&finite_pairs(x, y), MAX_BOOTSTRAP_POINTS);
    let n = points.len();
    if n < 3 || rounds == 0 {
        return None;
    }
    let block = ((n as f64).cbrt().round() as usize).clamp(1, n);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut slopes = Vec::with_capacity(rounds);
    let mut sample = Vec::with_capacity(n + block);
    for _ in 0..rounds.min(10_000) {
        sample.clear();
        while sample.len() < n {
            let start = rng.random_range(0..=n - block);
            sample.extend_from_slice(&points[start..start + block]);
        }
        sample.truncate(n);
        // keep time order inside the resample so the pairs mean what they meant
        sample.sort_by(|a, b| a.0.total_cmp(&b.0));
        if let Some(line) = sen(&sample) {
            slopes.push(line.slope);
        }
    }
    let tail = (1.0 - confidence.clamp(0.0, 1.0)) / 2.0;
    Some((quantile(&slopes, tail)?, quantile(&slopes, 1.0 - tail)?))
}

/// Result of the Mann–Kendall test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannKendall {
    /// Concordant minus discordant pairs.
    pub s: f64,
    /// Var(S) after the tie and (when asked) autocorrelation corrections.
    pub var_s: f64,
    pub z: f64,
    /// Kendall's tau in -1..=1.
    pub tau: f64,
    /// One-sided p-value for an increasing trend.
    pub p_increasing: f64,
    pub p_two_sided: f64,
}

/// Mann–Kendall trend test of a series in time order (ties corrected).
pub fn mann_kendall(y: &[f64]) -> Option<MannKendall> {
    mann_kendall_with(y, 1.0)
}

/// Mann–Kendall with the Hamed–Rao (1998) variance correction: the lag
/// autocorrelations of the ranks of the detrended series (`x`, `y` and the
/// Theil–Sen `slope`) that are significant widen Var(S), so a wandering but
/// trendless series is not called a trend.
pub fn mann_kendall_corrected(x: &[f64], y: &[f64], slope: f64) -> Option<MannKendall> {
    let points = thin(&finite_pairs(x, y), MAX_POINTS);
    let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    let n = ys.len();
    if n < 4 {
        return mann_kendall_with(&ys, 1.0);
    }
    let resid: Vec<f64> = points.iter().map(|(x, y)| y - slope * x).collect();
    let r = ranks(&resid);
    let mean = r.iter().sum::<f64>() / n as f64;
    let denom: f64 = r.iter().map(|v| (v - mean).powi(2)).sum();
    let mut factor = 1.0;
    if denom > 0.0 {
        let bound = 1.96 / (n as f64).sqrt();
        let nf = n as f64;
        let mut sum = 0.0;
        for k in 1..n.saturating_sub(2) {
            let rho: f64 = (0..n - k)
                .map(|i| (r[i] - mean) * (r[i + k] - mean))
                .sum::<f64>()
                / denom;
            if rho.abs() > bound {
                let kf = k as f64;
                sum += (nf - kf) * (nf - kf - 1.0) * (nf - kf - 2.0) * rho;
            }
        }
        factor = (1.0 + 2.0 * sum / (nf * (nf - 1.0) * (nf - 2.0))).max(1.0);
    }
    mann_kendall_with(&ys, factor)
}

fn mann_kendall_with(y: &[f64], var_factor: f64) -> Option<MannKendall> {
    let y = thin(
        &y.iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect::<Vec<_>>(),
        MAX_POINTS,
    );
    let n = y.len();
    if n < 3 {
        return None;
    }
    let mut s = 0i64;
    for i in 0..n {
        for j in i + 1..n {
            s += match y[j].total_cmp(&y[i]) {
                std::cmp::Ordering::Greater => 1,
                std::cmp::Ordering::Less => -1,
                std::cmp::Ordering::Equal => 0,
            };
        }
    }
    let mut sorted = y;
    sorted.sort_by(f64::total_cmp);
    let mut ties = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && sorted[j + 1] == sorted[i] {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        ties += t * (t - 1.0) * (2.0 * t + 5.0);
        i = j + 1;
    }
    let nf = n as f64;
    let var_s = ((nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties) / 18.0) * var_factor;
    let s = s as f64;
    let z = if var_s <= 0.0 {
        0.0
    } else if s > 0.0 {
        (s - 1.0) / var_s.sqrt()
    } else if s < 0.0 {
        (s + 1.0) / var_s.sqrt()
    } else {
        0.0
    };
    Some(MannKendall {
        s,
        var_s,
        z,
        tau: s / (nf * (nf - 1.0) / 2.0),
        p_increasing: 1.0 - normal_cdf(z),
        p_two_sided: (2.0 * (1.0 - normal_cdf(z.abs()))).min(1.0),
    })
}

/// Ranks 1..=n, ties sharing their mean rank.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Standard normal CDF via a Chebyshev fit of erfc (relative error below 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    if z.is_nan() {
        return 0.5;
    }
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests;
