//! The per-garment bias (`Planner::with_bias`, `generate_biased`): no bias is
//! exactly no change, a bias moves outfits toward its garments, and odd bias
//! slices (short, NaN, huge) are safe.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use super::tests::check_response;
use super::*;
use crate::domain::{Context, Occasion, Slot, Weather};

const CTX: Context = Context {
    occasion: Occasion::Everyday,
    weather: Weather::Mild,
};

#[test]
fn no_bias_or_an_all_zero_bias_changes_nothing() {
    let c = Catalog::new(synthetic::catalog(3_000, 8));
    let zeros = vec![0.0f32; c.len()];
    for (i, p) in synthetic::profiles(6, 9).iter().enumerate() {
        let plain = generate(&c, p, CTX, 8, i as u64);
        assert_eq!(plain, generate_biased(&c, p, CTX, 8, i as u64, None));
        assert_eq!(
            plain,
            generate_biased(&c, p, CTX, 8, i as u64, Some(&zeros))
        );
    }
}

#[test]
fn a_bias_pulls_its_garments_into_the_outfits_and_raises_their_scores() {
    let c = Catalog::new(synthetic::catalog(3_000, 8));
    let p = &synthetic::profiles(1, 10)[0];
    let plain = generate(&c, p, CTX, 10, 5);
    assert_eq!(plain.len(), 10);
    let used: HashSet<i64> = plain
        .iter()
        .flat_map(|o| o.items.iter().map(|i| i.garment_id))
        .collect();
    // favour shoes the unbiased outfits did not use, but that fit this profile
    let planner = Planner::new(&c, p, CTX);
    let shoes: Vec<usize> = (0..planner.candidates(Slot::Shoes))
        .filter_map(|k| {
            let s = Scored {
                picks: [
                    planner::NONE,
                    planner::NONE,
                    planner::NONE,
                    k as u32,
                    planner::NONE,
                    planner::NONE,
                ],
                ..Scored::EMPTY
            };
            planner.garment_index(&s, Slot::Shoes)
        })
        .filter(|&gi| !used.contains(&c.garments()[gi].id))
        .take(5)
        .collect();
    assert_eq!(shoes.len(), 5);
    let favoured: HashSet<i64> = shoes.iter().map(|&gi| c.garments()[gi].id).collect();
    let mut bias = vec![0.0f32; c.len()];
    for &gi in &shoes {
        bias[gi] = MAX_BIAS;
    }
    let biased = generate_biased(&c, p, CTX, 10, 5, Some(&bias));
    check_response(&c, p, CTX, 10, &biased).unwrap();
    let with_favoured = biased
        .iter()
        .filter(|o| o.items.iter().any(|i| favoured.contains(&i.garment_id)))
        .count();
    assert!(
        with_favoured >= 8,
        "only {with_favoured} of 10 outfits wear a favoured shoe"
    );
    assert!(
        biased[0].score > plain[0].score,
        "{} vs {}",
        biased[0].score,
        plain[0].score
    );
    // and a negative bias on the unbiased choice's garments pushes them out
    let mut against = vec![0.0f32; c.len()];
    for id in &used {
        against[c.index_of(*id).unwrap()] = -MAX_BIAS;
    }
    let avoided = generate_biased(&c, p, CTX, 10, 5, Some(&against));
    let reused = avoided
        .iter()
        .flat_map(|o| o.items.iter())
        .filter(|i| used.contains(&i.garment_id))
        .count();
    let before = plain.iter().map(|o| o.items.len()).sum::<usize>();
    assert!(
        reused * 3 < before,
        "{reused} of {before} garments kept despite the bias"
    );
}

#[test]
fn short_nan_and_huge_biases_are_safe() {
    let c = Catalog::new(synthetic::catalog(1_000, 3));
    let p = &synthetic::profiles(1, 4)[0];
    let plain = generate(&c, p, CTX, 6, 1);
    let short = [1.0f32; 3];
    let mut odd = vec![f32::NAN; c.len()];
    odd[1] = f32::INFINITY;
    odd[2] = f32::NEG_INFINITY;
    odd[3] = 1e30;
    odd[4] = -1e30;
    for bias in [&short[..], &odd[..], &[][..]] {
        let out = generate_biased(&c, p, CTX, 6, 1, Some(bias));
        check_response(&c, p, CTX, 6, &out).unwrap();
        assert_eq!(out.len(), plain.len());
    }
    // non-finite entries count as zero: only the clamped ±1e30 ones differ from none
    let mut nan_only = vec![f32::NAN; c.len()];
    nan_only[0] = f32::INFINITY;
    assert_eq!(plain, generate_biased(&c, p, CTX, 6, 1, Some(&nan_only)));
}
