//! Property tests over random catalogs, profiles and contexts.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use proptest::sample::select;

use super::tests::check_response;
use super::*;
use crate::domain::{
    Climate, ColorName, Context, Garment, Gender, Lab, Occasion, Pattern, Profile, Sizes, Slot,
    Style, Weather,
};

const SIZES: [&str; 10] = ["XS", "S", "M", "m", "L", "XL", "38", "40", "41", "W30"];

fn lab() -> impl Strategy<Value = Lab> {
    prop_oneof![
        select(ColorName::ALL.to_vec()).prop_map(ColorName::lab),
        (0.0f32..100.0, -90.0f32..90.0, -90.0f32..90.0).prop_map(|(l, a, b)| Lab::new(l, a, b)),
    ]
}

fn garment() -> impl Strategy<Value = Garment> {
    (
        (0i64..40, select(Slot::ALL.to_vec())),
        select(vec![Gender::Female, Gender::Male, Gender::Unisex]),
        prop::collection::vec(select(SIZES.to_vec()), 0..3),
        prop::collection::vec(lab(), 0..3),
        select(vec![
            Pattern::Solid,
            Pattern::Striped,
            Pattern::Checked,
            Pattern::Printed,
        ]),
        0u16..256,
        -200i64..15_000,
        select(vec!["EUR", "eur", "USD"]),
        prop::bool::weighted(0.85),
    )
        .prop_map(
            |(
                (id, slot),
                gender,
                sizes,
                colors,
                pattern,
                styles,
                price_cents,
                currency,
                available,
            )| {
                Garment {
                    id,
                    title: String::new(),
                    brand: String::new(),
                    slot,
                    gender,
                    sizes: sizes.into_iter().map(String::from).collect(),
                    colors,
                    pattern,
                    styles,
                    price_cents,
                    currency: currency.into(),
                    available,
                    image_url: String::new(),
                }
            },
        )
}

fn profile() -> impl Strategy<Value = Profile> {
    (
        select(vec![Gender::Female, Gender::Male, Gender::Unisex]),
        (
            select(SIZES.to_vec()),
            select(SIZES.to_vec()),
            select(SIZES.to_vec()),
        ),
        prop::collection::vec(select(Style::ALL.to_vec()), 0..3),
        prop::collection::vec(select(ColorName::ALL.to_vec()), 0..3),
        prop::collection::vec(select(ColorName::ALL.to_vec()), 0..3),
        -100i64..40_000,
        select(vec!["EUR", "USD"]),
    )
        .prop_map(
            |(
                gender,
                (top, bottom, shoes),
                styles,
                favorite_colors,
                disliked_colors,
                budget,
                cur,
            )| {
                Profile {
                    gender,
                    sizes: Sizes {
                        top: top.into(),
                        bottom: bottom.into(),
                        shoes: shoes.into(),
                    },
                    styles,
                    favorite_colors,
                    disliked_colors,
                    budget_cents: budget,
                    currency: cur.into(),
                    climate: Climate::Temperate,
                }
            },
        )
}

fn context() -> impl Strategy<Value = Context> {
    (
        select(Occasion::ALL.to_vec()),
        select(Weather::ALL.to_vec()),
    )
        .prop_map(|(occasion, weather)| Context { occasion, weather })
}

/// Brute force, independent of the engine: does any outfit satisfy every hard constraint?
fn exists(catalog: &Catalog, p: &Profile, ctx: Context) -> bool {
    let cheapest = |slot: Slot| {
        catalog
            .garments()
            .iter()
            .filter(|g| {
                g.slot == slot
                    && g.available
                    && Gender::fits(g.gender, p.gender)
                    && p.sizes.for_slot(slot).is_none_or(|s| g.has_size(s))
                    && g.currency.eq_ignore_ascii_case(&p.currency)
                    && !p
                        .disliked_colors
                        .contains(&ColorName::nearest(g.main_color()))
                    && g.price_cents >= 0
            })
            .map(|g| g.price_cents)
            .min()
    };
    let sum = |slots: &[Slot]| slots.iter().map(|&s| cheapest(s)).sum::<Option<i64>>();
    let outer = if ctx.weather.needs_outerwear() {
        cheapest(Slot::Outerwear)
    } else {
        Some(0)
    };
    let rest = sum(&[Slot::Shoes]).zip(outer).map(|(a, b)| a + b);
    [sum(&[Slot::Top, Slot::Bottom]), cheapest(Slot::Dress)]
        .into_iter()
        .flatten()
        .any(|upper| rest.is_some_and(|r| upper + r <= p.budget_cents))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_catalogs_respect_every_hard_constraint(
        garments in prop::collection::vec(garment(), 0..60),
        p in profile(),
        ctx in context(),
        count in 0usize..70,
        seed in any::<u64>(),
    ) {
        let catalog = Catalog::new(garments);
        let out = generate(&catalog, &p, ctx, count, seed);
        if let Err(e) = check_response(&catalog, &p, ctx, count, &out) {
            return Err(TestCaseError::fail(e));
        }
        prop_assert_eq!(&out, &generate(&catalog, &p, ctx, count, seed), "not deterministic");
        if count > 0 {
            prop_assert_eq!(out.is_empty(), !exists(&catalog, &p, ctx));
        }
    }
    #[test]
    fn any_bias_keeps_every_hard_constraint(
        garments in prop::collection::vec(garment(), 0..60),
        p in profile(),
        ctx in context(),
        count in 1usize..20,
        seed in any::<u64>(),
        bias in prop::collection::vec(prop_oneof![-3.0f32..3.0, Just(f32::NAN), Just(f32::INFINITY)], 0..70),
    ) {
        let catalog = Catalog::new(garments);
        let out = generate_biased(&catalog, &p, ctx, count, seed, Some(&bias));
        if let Err(e) = check_response(&catalog, &p, ctx, count, &out) {
            return Err(TestCaseError::fail(e));
        }
        // a bias re-ranks, it never makes a feasible request infeasible
        prop_assert_eq!(out.is_empty(), !exists(&catalog, &p, ctx));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn synthetic_catalogs_respect_every_hard_constraint(
        n in 0usize..1_500,
        catalog_seed in any::<u64>(),
        profile_seed in any::<u64>(),
        budget in prop::option::of(0i64..30_000),
        ctx in context(),
        count in 1usize..30,
        seed in any::<u64>(),
    ) {
        let catalog = Catalog::new(synthetic::catalog(n, catalog_seed));
        let mut p = synthetic::profiles(1, profile_seed).remove(0);
        if let Some(b) = budget {
            p.budget_cents = b;
        }
        let out = generate(&catalog, &p, ctx, count, seed);
        if let Err(e) = check_response(&catalog, &p, ctx, count, &out) {
            return Err(TestCaseError::fail(e));
        }
        prop_assert_eq!(out.is_empty(), !exists(&catalog, &p, ctx));
        prop_assert_eq!(&out, &generate(&catalog, &p, ctx, count, seed), "not deterministic");
    }
}
