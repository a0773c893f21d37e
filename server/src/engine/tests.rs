//! Unit tests: hard constraints, edge cases, determinism, diversity, colour fixture.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use super::*;
use crate::domain::{
    Climate, ColorName, Context, Garment, Gender, Lab, Occasion, Outfit, Pattern, Profile, Sizes,
    Slot, Style, Weather,
};

/// Checks every hard constraint of one outfit, independently of the engine's internals.
pub(super) fn check_outfit(
    catalog: &Catalog,
    profile: &Profile,
    ctx: Context,
    outfit: &Outfit,
) -> Result<(), String> {
    let slots: Vec<Slot> = outfit.items.iter().map(|p| p.slot).collect();
    let has = |s: Slot| slots.iter().filter(|&&x| x == s).count();
    for s in Slot::ALL {
        if has(s) > 1 {
            return Err(format!("slot {s:?} filled twice: {outfit:?}"));
        }
    }
    let top_bottom = has(Slot::Top) == 1 && has(Slot::Bottom) == 1 && has(Slot::Dress) == 0;
    let dress = has(Slot::Dress) == 1 && has(Slot::Top) == 0 && has(Slot::Bottom) == 0;
    if !(top_bottom ^ dress) {
        return Err(format!("need top+bottom xor dress: {outfit:?}"));
    }
    if has(Slot::Shoes) != 1 {
        return Err(format!("no shoes: {outfit:?}"));
    }
    if (has(Slot::Outerwear) == 1) != ctx.weather.needs_outerwear() {
        return Err(format!("outerwear vs {:?}: {outfit:?}", ctx.weather));
    }
    let mut ids = HashSet::new();
    let mut total = 0i64;
    for p in &outfit.items {
        let g = catalog.get(p.garment_id).ok_or("unknown garment")?;
        if !ids.insert(g.id) {
            return Err(format!("garment {} twice", g.id));
        }
        if g.slot != p.slot {
            return Err(format!("garment {} placed in {:?}", g.id, p.slot));
        }
        if !g.available {
            return Err(format!("garment {} unavailable", g.id));
        }
        if !Gender::fits(g.gender, profile.gender) {
            return Err(format!("garment {} gender {:?}", g.id, g.gender));
        }
        if let Some(size) = profile.sizes.for_slot(g.slot)
            && !g.has_size(size)
        {
            return Err(format!("garment {} lacks size {size}", g.id));
        }
        if !g.currency.eq_ignore_ascii_case(&profile.currency) {
            return Err(format!("garment {} currency {}", g.id, g.currency));
        }
        if profile
            .disliked_colors
            .contains(&ColorName::nearest(g.main_color()))
        {
            return Err(format!("garment {} has a disliked colour", g.id));
        }
        if g.price_cents < 0 {
            return Err(format!("garment {} negative price", g.id));
        }
        total += g.price_cents;
    }
    if total != outfit.total_price_cents {
        return Err(format!("total {total} != {}", outfit.total_price_cents));
    }
    if total > profile.budget_cents {
        return Err(format!(
            "total {total} over budget {}",
            profile.budget_cents
        ));
    }
    Ok(())
}

/// Checks a whole response: each outfit valid, no duplicates, count respected.
pub(super) fn check_response(
    catalog: &Catalog,
    profile: &Profile,
    ctx: Context,
    count: usize,
    outfits: &[Outfit],
) -> Result<(), String> {
    if outfits.len() > count.min(MAX_COUNT) {
        return Err(format!("{} outfits for count {count}", outfits.len()));
    }
    let mut seen = HashSet::new();
    for o in outfits {
        check_outfit(catalog, profile, ctx, o)?;
        let mut key: Vec<i64> = o.items.iter().map(|p| p.garment_id).collect();
        key.sort_unstable();
        if !seen.insert(key) {
            return Err(format!("duplicate outfit {o:?}"));
        }
    }
    Ok(())
}

pub(super) fn garment(id: i64, slot: Slot, price_cents: i64, color: Lab) -> Garment {
    Garment {
        id,
        title: format!("g{id}"),
        brand: "b".into(),
        slot,
        gender: Gender::Unisex,
        sizes: match slot {
            Slot::Accessory => vec![],
            Slot::Shoes => vec!["40".into()],
            _ => vec!["M".into()],
        },
        colors: vec![color],
        pattern: Pattern::Solid,
        styles: Style::Casual.bit(),
        price_cents,
        currency: "EUR".into(),
        available: true,
        image_url: String::new(),
    }
}

pub(super) fn profile(budget_cents: i64) -> Profile {
    Profile {
        gender: Gender::Female,
        sizes: Sizes {
            top: "M".into(),
            bottom: "M".into(),
            shoes: "40".into(),
        },
        styles: vec![Style::Casual],
        favorite_colors: vec![],
        disliked_colors: vec![],
        budget_cents,
        currency: "EUR".into(),
        climate: Climate::Temperate,
    }
}

const MILD: Context = Context {
    occasion: Occasion::Everyday,
    weather: Weather::Mild,
};
const COLD: Context = Context {
    occasion: Occasion::Everyday,
    weather: Weather::Cold,
};
const WHITE: Lab = Lab::new(96.0, 0.0, 1.0);

/// 3 tops, 3 bottoms, 2 shoes, 2 outerwear, 2 accessories, all valid for `profile`.
fn small_catalog() -> Vec<Garment> {
    let mut v = Vec::new();
    let mut id = 0;
    for (slot, n, price) in [
        (Slot::Top, 3, 2_000),
        (Slot::Bottom, 3, 3_000),
        (Slot::Shoes, 2, 5_000),
        (Slot::Outerwear, 2, 8_000),
        (Slot::Accessory, 2, 1_000),
    ] {
        for i in 0..n {
            id += 1;
            v.push(garment(id, slot, price + i * 100, WHITE));
        }
    }
    v
}

fn ids(outfits: &[Outfit]) -> HashSet<i64> {
    outfits
        .iter()
        .flat_map(|o| o.items.iter().map(|p| p.garment_id))
        .collect()
}

#[test]
fn empty_inputs_and_zero_count_give_nothing() {
    let empty = Catalog::new(vec![]);
    assert!(empty.is_empty());
    assert!(generate(&empty, &profile(100_000), MILD, 10, 1).is_empty());
    let c = Catalog::new(small_catalog());
    assert!(generate(&c, &profile(100_000), MILD, 0, 1).is_empty());
    assert!(generate(&c, &profile(0), MILD, 10, 1).is_empty());
    assert!(generate(&c, &profile(-5), MILD, 10, 1).is_empty());
}

#[test]
fn small_catalog_is_enumerated_exactly() {
    let c = Catalog::new(small_catalog());
    let p = profile(1_000_000);
    // Mild: 3 tops × 3 bottoms × 2 shoes × (2 accessories + none) = 54 outfits.
    let out = generate(&c, &p, MILD, 1000, 7);
    assert_eq!(out.len(), MAX_COUNT);
    check_response(&c, &p, MILD, 1000, &out).unwrap();
    let out = generate(&c, &p, MILD, 50, 7);
    assert_eq!(out.len(), 50);
    // Cold: outerwear required → 108 combinations.
    let out = generate(&c, &p, COLD, 20, 7);
    assert_eq!(out.len(), 20);
    check_response(&c, &p, COLD, 20, &out).unwrap();
}

#[test]
fn budget_is_a_hard_limit() {
    let c = Catalog::new(small_catalog());
    // Cheapest mild outfit: 2000 + 3000 + 5000 = 10000; the next cheapest costs 10100.
    let out = generate(&c, &profile(10_000), MILD, 10, 3);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].total_price_cents, 10_000);
    assert!(generate(&c, &profile(9_999), MILD, 10, 3).is_empty());
    // With an accessory at 1000 the 11000 budget allows more; all within.
    let out = generate(&c, &profile(11_000), MILD, 50, 3);
    check_response(&c, &profile(11_000), MILD, 50, &out).unwrap();
    assert!(out.iter().any(|o| o.items.len() == 4));
}

#[test]
fn outerwear_follows_weather() {
    let mut g = small_catalog();
    let c = Catalog::new(g.clone());
    let p = profile(1_000_000);
    for weather in Weather::ALL {
        let ctx = Context {
            occasion: Occasion::Work,
            weather,
        };
        let out = generate(&c, &p, ctx, 10, 1);
        assert_eq!(out.len(), 10);
        for o in &out {
            let outer = o.items.iter().any(|i| i.slot == Slot::Outerwear);
            assert_eq!(outer, weather.needs_outerwear(), "{weather:?}");
        }
    }
    g.retain(|g| g.slot != Slot::Outerwear);
    let c = Catalog::new(g);
    assert!(generate(&c, &p, COLD, 10, 1).is_empty());
    assert_eq!(generate(&c, &p, MILD, 10, 1).len(), 10);
}

#[test]
fn per_garment_constraints_filter_candidates() {
    let mut g = small_catalog();
    // Each of these tops violates exactly one constraint and must never appear.
    let mut bad = Vec::new();
    let base = |id| garment(id, Slot::Top, 1_000, WHITE);
    bad.push(Garment {
        available: false,
        ..base(100)
    });
    bad.push(Garment {
        gender: Gender::Male,
        ..base(101)
    });
    bad.push(Garment {
        sizes: vec!["XL".into()],
        ..base(102)
    });
    bad.push(Garment {
        currency: "USD".into(),
        ..base(103)
    });
    bad.push(Garment {
        colors: vec![ColorName::Red.lab()],
        ..base(104)
    });
    bad.push(Garment {
        price_cents: -500,
        ..base(105)
    });
    g.extend(bad);
    // Valid by case-insensitive size and currency.
    g.push(Garment {
        sizes: vec!["m".into()],
        currency: "eur".into(),
        ..base(106)
    });
    let c = Catalog::new(g);
    let mut p = profile(1_000_000);
    p.disliked_colors = vec![ColorName::Red];
    let out = generate(&c, &p, MILD, 50, 9);
    check_response(&c, &p, MILD, 50, &out).unwrap();
    let used = ids(&out);
    assert!((100..=105).all(|id| !used.contains(&id)), "{used:?}");
    assert!(used.contains(&106));
}

#[test]
fn dresses_replace_top_and_bottom_and_respect_gender() {
    let mut g = small_catalog();
    for id in 200..204 {
        g.push(Garment {
            gender: Gender::Female,
            ..garment(id, Slot::Dress, 4_000, WHITE)
        });
    }
    let c = Catalog::new(g);
    let out = generate(&c, &profile(1_000_000), MILD, 50, 4);
    assert!(
        out.iter()
            .any(|o| o.items.iter().any(|i| i.slot == Slot::Dress))
    );
    let mut male = profile(1_000_000);
    male.gender = Gender::Male;
    let out = generate(&c, &male, MILD, 50, 4);
    check_response(&c, &male, MILD, 50, &out).unwrap();
    assert!(
        out.iter()
            .all(|o| o.items.iter().all(|i| i.slot != Slot::Dress))
    );
}

#[test]
fn duplicate_ids_keep_the_first_garment() {
    let mut g = small_catalog();
    let first = g[0].clone();
    g.push(Garment {
        title: "impostor".into(),
        ..first.clone()
    });
    let c = Catalog::new(g);
    assert_eq!(c.len(), small_catalog().len());
    assert_eq!(c.get(first.id), Some(&first));
    assert_eq!(c.get(-1), None);
}

#[test]
fn synthetic_generation_is_valid_deterministic_and_diverse() {
    let c = Catalog::new(synthetic::catalog(10_000, 1));
    let profiles = synthetic::profiles(12, 2);
    let mut any_differs = false;
    for (i, p) in profiles.iter().enumerate() {
        let ctx = Context {
            occasion: Occasion::ALL[i % 6],
            weather: Weather::ALL[i % 5],
        };
        let a = generate(&c, p, ctx, 10, 99);
        check_response(&c, p, ctx, 10, &a).unwrap();
        assert_eq!(a.len(), 10, "profile {i} should be satisfiable");
        assert_eq!(a, generate(&c, p, ctx, 10, 99), "same seed, same output");
        any_differs |= a != generate(&c, p, ctx, 10, 100);
        // Diversity: no garment in more than half of the outfits.
        let mut uses = std::collections::HashMap::new();
        for id in a.iter().flat_map(|o| o.items.iter().map(|p| p.garment_id)) {
            *uses.entry(id).or_insert(0) += 1;
        }
        assert!(uses.values().all(|&n| n <= 5), "profile {i}: {uses:?}");
    }
    assert!(any_differs, "different seeds should give different outfits");
}

#[test]
fn generated_outfits_beat_random_valid_ones() {
    let c = Catalog::new(synthetic::catalog(10_000, 5));
    for (i, p) in synthetic::profiles(6, 6).iter().enumerate() {
        let ctx = Context {
            occasion: Occasion::ALL[i],
            weather: Weather::Mild,
        };
        let planner = Planner::new(&c, p, ctx);
        let mut buf = vec![Scored::EMPTY; 4096];
        let n = planner.score_batch(&mut WyRand::new(1), &mut buf);
        assert!(n > 0);
        let random_mean = buf[..n].iter().map(Scored::score).sum::<f32>() / n as f32;
        let out = generate(&c, p, ctx, 10, 1);
        let mean = out.iter().map(|o| o.score).sum::<f32>() / out.len() as f32;
        assert!(mean > random_mean + 0.05, "{mean} vs {random_mean}");
    }
}

#[test]
fn tight_budget_falls_back_to_budget_aware_sampling() {
    let c = Catalog::new(synthetic::catalog(10_000, 3));
    let mut p = synthetic::profiles(1, 4).remove(0);
    // Find the cheapest feasible outfit via a generous request, then squeeze the budget near it.
    p.budget_cents = 1_000_000;
    let cheapest = generate(&c, &p, COLD, 50, 1)
        .iter()
        .map(|o| o.total_price_cents)
        .min()
        .unwrap();
    p.budget_cents = cheapest;
    let out = generate(&c, &p, COLD, 10, 1);
    assert!(!out.is_empty());
    check_response(&c, &p, COLD, 10, &out).unwrap();
}

#[test]
fn count_is_capped() {
    let c = Catalog::new(synthetic::catalog(2_000, 8));
    let p = synthetic::profiles(1, 8).remove(0);
    let out = generate(&c, &p, MILD, usize::MAX, 5);
    assert_eq!(out.len(), MAX_COUNT);
    check_response(&c, &p, MILD, usize::MAX, &out).unwrap();
}

#[test]
fn synthetic_data_is_deterministic_and_realistic() {
    let a = synthetic::catalog(5_000, 11);
    assert_eq!(a, synthetic::catalog(5_000, 11));
    assert_ne!(a, synthetic::catalog(5_000, 12));
    for slot in Slot::ALL {
        let share = a.iter().filter(|g| g.slot == slot).count() as f64 / a.len() as f64;
        assert!((0.05..0.4).contains(&share), "{slot:?}: {share}");
    }
    let available = a.iter().filter(|g| g.available).count() as f64 / a.len() as f64;
    assert!((0.85..0.95).contains(&available));
    for g in &a {
        assert_eq!(g.sizes.is_empty(), g.slot == Slot::Accessory);
        assert!(g.price_cents > 0 && g.currency == "EUR");
        assert!((1..=3).contains(&g.colors.len()) && g.styles != 0);
        assert_eq!(
            g.image_url,
            format!("https://img.example.invalid/garments/{}.jpg", g.id)
        );
        assert!(g.slot != Slot::Dress || g.gender == Gender::Female);
    }
    assert_eq!(synthetic::profiles(20, 3), synthetic::profiles(20, 3));
}
