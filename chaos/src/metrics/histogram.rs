//! A Prometheus histogram as scraped: cumulative buckets, sum and count.
//!
//! The judges work on the difference of two scrapes ([`Histogram::delta`]),
//! so a histogram here is usually "what happened during the load".

use serde::Serialize;

/// One histogram series (one label set) of a scrape.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Histogram {
    /// `(le, cumulative count)` sorted by `le`; the last is `+Inf` when exported.
    pub buckets: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: f64,
}

impl Histogram {
    /// Adds a `_bucket` line (kept sorted; a repeated `le` replaces the earlier one).
    pub fn insert_bucket(&mut self, le: f64, cumulative: f64) {
        if le.is_nan() || !cumulative.is_finite() {
            return;
        }
        match self.buckets.binary_search_by(|(b, _)| b.total_cmp(&le)) {
            Ok(i) => self.buckets[i].1 = cumulative,
            Err(i) => self.buckets.insert(i, (le, cumulative)),
        }
    }

    /// Observations counted: `count`, or the `+Inf` bucket when `_count` was missing.
    pub fn total(&self) -> f64 {
        let top = self.buckets.last().map_or(0.0, |b| b.1);
        if self.count > 0.0 { self.count } else { top }
    }

    /// The mean observation (`sum / count`); `None` without observations.
    pub fn mean(&self) -> Option<f64> {
        let n = self.total();
        (n > 0.0 && self.sum.is_finite()).then(|| self.sum / n)
    }

    /// The largest bucket boundary at or below `bound` (what "above `bound`" can be read as).
    pub fn boundary_at_or_below(&self, bound: f64) -> Option<f64> {
        self.buckets
            .iter()
            .rev()
            .map(|b| b.0)
            .find(|le| *le <= bound)
    }

    /// Observations above `bound`: the count minus the cumulative count at the
    /// largest `le <= bound` (so a bound between boundaries counts from the one below).
    pub fn count_above(&self, bound: f64) -> f64 {
        let below = self
            .buckets
            .iter()
            .rev()
            .find(|b| b.0 <= bound)
            .map_or(0.0, |b| b.1);
        (self.total() - below).max(0.0)
    }

    /// The `q` quantile as Prometheus' `histogram_quantile` computes it: linear
    /// interpolation inside the bucket holding the rank, the first bucket
    /// starting at 0, and the highest finite boundary when the rank falls in `+Inf`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if !(0.0..=1.0).contains(&q) || self.buckets.is_empty() {
            return None;
        }
        // a scrape taken mid-update may be non-monotonic; Prometheus evens that out the same way
        let mut cumulative = Vec::with_capacity(self.buckets.len());
        let mut running = 0.0_f64;
        for &(le, c) in &self.buckets {
            running = running.max(c);
            cumulative.push((le, running));
        }
        let total = cumulative.last().map_or(0.0, |b| b.1);
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let i = cumulative.iter().position(|b| b.1 >= rank)?;
        let (upper, count) = cumulative[i];
        if upper.is_infinite() {
            // in +Inf: the highest finite boundary, as Prometheus answers
            return cumulative[..i].last().map(|b| b.0);
        }
        let (lower, below) = match i.checked_sub(1) {
            Some(p) => cumulative[p],
            None if upper > 0.0 => (0.0, 0.0),
            None => return Some(upper),
        };
        let in_bucket = count - below;
        if in_bucket <= 0.0 {
            return Some(upper);
        }
        Some(lower + (upper - lower) * (rank - below) / in_bucket)
    }

    /// What was observed between `earlier` and this later scrape of the same
    /// series. A counter reset (fewer observations now) answers this scrape as is.
    pub fn delta(&self, earlier: &Histogram) -> Histogram {
        if self.total() < earlier.total() {
            return self.clone();
        }
        let at = |le: f64| {
            earlier
                .buckets
                .iter()
                .find(|b| b.0 == le)
                .map_or(0.0, |b| b.1)
        };
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|&(le, c)| (le, (c - at(le)).max(0.0)))
                .collect(),
            sum: (self.sum - earlier.sum).max(0.0),
            count: (self.count - earlier.count).max(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hist(buckets: &[(f64, f64)], sum: f64) -> Histogram {
        let mut h = Histogram::default();
        for &(le, c) in buckets {
            h.insert_bucket(le, c);
        }
        h.sum = sum;
        h.count = buckets.last().map_or(0.0, |b| b.1);
        h
    }

    #[test]
    fn quantiles_interpolate_within_buckets_like_prometheus() {
        // 100 observations: 50 in (0, 0.1], 40 in (0.1, 0.5], 10 in (0.5, 1]
        let h = hist(
            &[
                (0.1, 50.0),
                (0.5, 90.0),
                (1.0, 100.0),
                (f64::INFINITY, 100.0),
            ],
            20.0,
        );
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(close(h.quantile(0.5), 0.1), "{:?}", h.quantile(0.5));
        assert!(close(h.quantile(0.25), 0.05));
        assert!(close(h.quantile(0.7), 0.3));
        assert!(close(h.quantile(0.99), 0.95));
        assert_eq!(h.mean(), Some(0.2));
    }

    #[test]
    fn a_rank_in_the_infinite_bucket_answers_the_highest_finite_boundary() {
        let h = hist(&[(0.1, 1.0), (1.0, 2.0), (f64::INFINITY, 10.0)], 100.0);
        assert_eq!(h.quantile(0.99), Some(1.0));
        assert_eq!(Histogram::default().quantile(0.5), None);
        assert_eq!(h.quantile(1.5), None);
    }

    #[test]
    fn counts_above_a_bound_start_at_the_boundary_at_or_below_it() {
        let h = hist(
            &[
                (0.005, 90.0),
                (0.01, 97.0),
                (0.1, 99.0),
                (f64::INFINITY, 100.0),
            ],
            1.0,
        );
        assert_eq!(h.count_above(0.01), 3.0);
        // 0.02 is not a boundary: counted from 0.01, the one below
        assert_eq!(h.count_above(0.02), 3.0);
        assert_eq!(h.boundary_at_or_below(0.02), Some(0.01));
        assert_eq!(h.count_above(0.001), 100.0);
    }

    #[test]
    fn the_delta_of_two_scrapes_is_what_happened_between_them() {
        let before = hist(&[(0.1, 10.0), (1.0, 12.0), (f64::INFINITY, 12.0)], 2.0);
        let after = hist(&[(0.1, 15.0), (1.0, 30.0), (f64::INFINITY, 31.0)], 12.0);
        let d = after.delta(&before);
        assert_eq!(
            d.buckets,
            vec![(0.1, 5.0), (1.0, 18.0), (f64::INFINITY, 19.0)]
        );
        assert_eq!((d.sum, d.count), (10.0, 19.0));
        // a restarted server: the later scrape alone
        assert_eq!(before.delta(&after), before);
        assert_eq!(after.delta(&Histogram::default()), after);
    }

    proptest! {
        #[test]
        fn quantiles_stay_within_the_finite_boundaries(
            counts in proptest::collection::vec(0u32..50, 1..8),
            q in 0.0f64..=1.0,
        ) {
            let mut h = Histogram::default();
            let mut cumulative = 0.0;
            for (i, c) in counts.iter().enumerate() {
                cumulative += f64::from(*c);
                h.insert_bucket(0.001 * 2f64.powi(i as i32), cumulative);
            }
            h.insert_bucket(f64::INFINITY, cumulative);
            h.count = cumulative;
            if let Some(v) = h.quantile(q) {
                prop_assert!((0.0..=0.001 * 2f64.powi(counts.len() as i32 - 1)).contains(&v));
            }
        }
    }
}
