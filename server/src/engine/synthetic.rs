//! Deterministic synthetic catalogs and profiles (benchmarks, tests, DB seeding).
//!
//! Output depends only on the arguments (our own PRNG, no `rand` version drift).
//! Proportions: tops 30 %, bottoms 20 %, dresses 10 %, shoes 15 %, outerwear
//! 10 %, accessories 15 %; ~90 % available; prices in EUR cents.

use super::rng::WyRand;
use crate::domain::{
    Climate, ColorName, Garment, Gender, Lab, Pattern, Profile, Sizes, Slot, Style, StyleSet,
};

const LETTER_SIZES: [&str; 6] = ["XS", "S", "M", "L", "XL", "XXL"];
/// EU shoe sizes "35".."47".
const SHOE_MIN: i64 = 35;
const SHOE_MAX: i64 = 47;

/// (name, Lab, weight): neutrals are common, then classic darks, then brights.
const PALETTE: [(&str, Lab, u32); 24] = [
    ("black", Lab::new(8.0, 0.0, 0.0), 14),
    ("white", Lab::new(96.0, 0.0, 1.5), 12),
    ("grey", Lab::new(55.0, 0.0, -1.0), 8),
    ("charcoal", Lab::new(30.0, 0.5, -2.0), 6),
    ("cream", Lab::new(93.0, 1.0, 9.0), 5),
    ("beige", Lab::new(82.0, 3.0, 14.0), 6),
    ("camel", Lab::new(62.0, 10.0, 32.0), 4),
    ("brown", Lab::new(35.0, 15.0, 25.0), 4),
    ("navy", Lab::new(18.0, 25.0, -45.0), 9),
    ("denim", Lab::new(42.0, 2.0, -28.0), 7),
    ("sky blue", Lab::new(75.0, -8.0, -25.0), 3),
    ("cobalt", Lab::new(38.0, 30.0, -70.0), 2),
    ("olive", Lab::new(45.0, -10.0, 30.0), 3),
    ("forest green", Lab::new(35.0, -30.0, 15.0), 2),
    ("teal", Lab::new(48.0, -28.0, -8.0), 2),
    ("burgundy", Lab::new(28.0, 38.0, 12.0), 3),
    ("red", Lab::new(50.0, 70.0, 50.0), 2),
    ("pink", Lab::new(75.0, 30.0, 2.0), 2),
    ("hot pink", Lab::new(58.0, 72.0, -8.0), 1),
    ("orange", Lab::new(67.0, 42.0, 70.0), 1),
    ("mustard", Lab::new(72.0, 6.0, 62.0), 2),
    ("lavender", Lab::new(72.0, 14.0, -22.0), 2),
    ("purple", Lab::new(32.0, 45.0, -40.0), 1),
    ("khaki", Lab::new(68.0, 2.0, 22.0), 3),
];

const BRANDS: [&str; 12] = [
    "Northwind",
    "Atelier Lune",
    "Kestrel",
    "Basalt & Co",
    "Field Notes",
    "Maison Verre",
    "Urban Tide",
    "Oakline",
    "Sable",
    "Juniper",
    "Arcadia",
    "Nord Ost",
];

fn kinds(slot: Slot, gender: Gender) -> &'static [&'static str] {
    let female = gender == Gender::Female;
    match slot {
        Slot::Top if female => &[
            "T-Shirt", "Blouse", "Sweater", "Cardigan", "Tank Top", "Shirt",
        ],
        Slot::Top => &["T-Shirt", "Shirt", "Sweater", "Polo", "Hoodie"],
        Slot::Bottom if female => &["Jeans", "Trousers", "Skirt", "Culottes", "Shorts"],
        Slot::Bottom => &["Jeans", "Chinos", "Trousers", "Shorts", "Joggers"],
        Slot::Dress => &[
            "Midi Dress",
            "Maxi Dress",
            "Shirt Dress",
            "Slip Dress",
            "Wrap Dress",
        ],
        Slot::Shoes if female => &["Sneakers", "Loafers", "Ankle Boots", "Sandals", "Pumps"],
        Slot::Shoes => &["Sneakers", "Loafers", "Boots", "Oxfords", "Derbies"],
        Slot::Outerwear => &[
            "Trench Coat",
            "Parka",
            "Blazer",
            "Denim Jacket",
            "Puffer",
            "Raincoat",
        ],
        Slot::Accessory => &["Scarf", "Belt", "Cap", "Tote Bag", "Watch", "Sunglasses"],
    }
}

/// Price range in EUR cents per slot.
fn price_range(slot: Slot) -> (i64, i64) {
    match slot {
        Slot::Top => (1_500, 9_000),
        Slot::Bottom => (2_500, 12_000),
        Slot::Dress => (3_000, 20_000),
        Slot::Shoes => (4_000, 20_000),
        Slot::Outerwear => (6_000, 35_000),
        Slot::Accessory => (1_000, 8_000),
    }
}

fn weighted<'a, T>(rng: &mut WyRand, items: &'a [(T, u32)]) -> &'a T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut r = rng.below(total as usize) as u32;
    for (item, w) in items {
        if r < *w {
            return item;
        }
        r -= w;
    }
    &items[items.len() - 1].0
}

fn pick_slot(rng: &mut WyRand) -> Slot {
    *weighted(
        rng,
        &[
            (Slot::Top, 30),
            (Slot::Bottom, 20),
            (Slot::Dress, 10),
            (Slot::Shoes, 15),
            (Slot::Outerwear, 10),
            (Slot::Accessory, 15),
        ],
    )
}

fn pick_gender(rng: &mut WyRand, slot: Slot) -> Gender {
    if slot == Slot::Dress {
        return Gender::Female;
    }
    *weighted(
        rng,
        &[
            (Gender::Female, 45),
            (Gender::Male, 40),
            (Gender::Unisex, 15),
        ],
    )
}

fn color(rng: &mut WyRand) -> (&'static str, Lab) {
    let weights: [(usize, u32); 24] = std::array::from_fn(|i| (i, PALETTE[i].2));
    let (name, lab, _) = PALETTE[*weighted(rng, &weights)];
    let jitter = |rng: &mut WyRand, r: f32| (rng.unit_f32() * 2.0 - 1.0) * r;
    let l = (lab.l + jitter(rng, 4.0)).clamp(0.0, 100.0);
    (
        name,
        Lab::new(l, lab.a + jitter(rng, 3.0), lab.b + jitter(rng, 3.0)),
    )
}

fn styles(rng: &mut WyRand, slot: Slot) -> StyleSet {
    // Slots lean towards some styles (sneakers are sporty more often than blazers).
    let lean: &[Style] = match slot {
        Slot::Shoes => &[Style::Sporty, Style::Casual, Style::Classic],
        Slot::Outerwear => &[Style::Classic, Style::Business, Style::Casual],
        Slot::Dress => &[Style::Boho, Style::Formal, Style::Classic],
        _ => &[Style::Casual, Style::Minimal],
    };
    let n = 1 + rng.below(3);
    let mut set = 0;
    for _ in 0..n {
        let s = if rng.chance(0.35) {
            lean[rng.below(lean.len())]
        } else {
            Style::ALL[rng.below(Style::ALL.len())]
        };
        set |= s.bit();
    }
    set
}

fn sizes(rng: &mut WyRand, slot: Slot, gender: Gender) -> Vec<String> {
    let (all, lo, hi): (Vec<String>, usize, usize) = match slot {
        Slot::Accessory => return Vec::new(),
        Slot::Shoes => {
            let (lo, hi) = match gender {
                Gender::Female => (35, 42),
                Gender::Male => (39, 47),
                Gender::Unisex => (36, 46),
            };
            let all = (SHOE_MIN..=SHOE_MAX).map(|s| s.to_string()).collect();
            (all, (lo - SHOE_MIN) as usize, (hi - SHOE_MIN) as usize)
        }
        _ => (LETTER_SIZES.iter().map(|s| s.to_string()).collect(), 0, 5),
    };
    // A contiguous run of the size range, with ~15 % of it sold out.
    let a = lo + rng.below(hi - lo + 1);
    let b = lo + rng.below(hi - lo + 1);
    let (a, b) = (a.min(b), a.max(b));
    let mut out: Vec<String> = (a..=b)
        .filter(|_| !rng.chance(0.15))
        .map(|i| all[i].clone())
        .collect();
    if out.is_empty() {
        out.push(all[a].clone());
    }
    out
}

/// Rounds to a shop-like price ending in .99 or .95 cents.
fn shop_price(cents: i64, rng: &mut WyRand) -> i64 {
    let euros = (cents / 100).max(1);
    euros * 100 - if rng.chance(0.7) { 1 } else { 5 }
}

/// `n` garments with ids `1..=n`, fully determined by `(n, seed)`.
pub fn catalog(n: usize, seed: u64) -> Vec<Garment> {
    let mut rng = WyRand::new(seed ^ 0xca7a_109e);
    (1..=n as i64)
        .map(|id| {
            let slot = pick_slot(&mut rng);
            let gender = pick_gender(&mut rng, slot);
            let (main_name, main) = color(&mut rng);
            let mut colors = vec![main];
            for _ in 0..rng.below(3) {
                colors.push(color(&mut rng).1);
            }
            let pattern = *weighted(
                &mut rng,
                &[
                    (Pattern::Solid, 70),
                    (Pattern::Striped, 12),
                    (Pattern::Checked, 8),
                    (Pattern::Printed, 10),
                ],
            );
            let (lo, hi) = price_range(slot);
            // Skewed towards the cheap end, like real shops.
            let u = rng.unit_f32();
            let cents = lo + ((hi - lo) as f32 * u * u) as i64;
            let kinds = kinds(slot, gender);
            let kind = kinds[rng.below(kinds.len())];
            let brand = BRANDS[rng.below(BRANDS.len())];
            Garment {
                id,
                title: format!(
                    "{} {main_name} {kind}",
                    brand.split(' ').next().unwrap_or(brand)
                ),
                brand: brand.to_owned(),
                slot,
                gender,
                sizes: sizes(&mut rng, slot, gender),
                colors,
                pattern,
                styles: styles(&mut rng, slot),
                price_cents: shop_price(cents, &mut rng),
                currency: "EUR".to_owned(),
                available: rng.chance(0.9),
                image_url: format!("https://img.example.invalid/garments/{id}.jpg"),
            }
        })
        .collect()
}

/// `k` onboarding profiles, fully determined by `(k, seed)`.
pub fn profiles(k: usize, seed: u64) -> Vec<Profile> {
    let mut rng = WyRand::new(seed ^ 0x9f0f_11e5);
    (0..k)
        .map(|_| {
            let gender = *weighted(
                &mut rng,
                &[
                    (Gender::Female, 45),
                    (Gender::Male, 45),
                    (Gender::Unisex, 10),
                ],
            );
            let letter = |rng: &mut WyRand| {
                LETTER_SIZES[*weighted(rng, &[(0usize, 1), (1, 3), (2, 4), (3, 4), (4, 2), (5, 1)])]
                    .to_owned()
            };
            let shoes = match gender {
                Gender::Female => rng.range_i64(36, 41),
                Gender::Male => rng.range_i64(40, 46),
                Gender::Unisex => rng.range_i64(37, 44),
            };
            let mut style_bits = 0;
            for _ in 0..1 + rng.below(3) {
                style_bits |= Style::ALL[rng.below(Style::ALL.len())].bit();
            }
            let mut shuffled = ColorName::ALL;
            for i in (1..shuffled.len()).rev() {
                shuffled.swap(i, rng.below(i + 1));
            }
            let n_fav = rng.below(4);
            let n_dis = rng.below(3);
            Profile {
                gender,
                sizes: Sizes {
                    top: letter(&mut rng),
                    bottom: letter(&mut rng),
                    shoes: shoes.to_string(),
                },
                styles: crate::domain::styles_of(style_bits),
                favorite_colors: shuffled[..n_fav].to_vec(),
                disliked_colors: shuffled[n_fav..n_fav + n_dis].to_vec(),
                budget_cents: rng.range_i64(150, 800) * 100,
                currency: "EUR".to_owned(),
                climate: *weighted(
                    &mut rng,
                    &[
                        (Climate::Cold, 2),
                        (Climate::Temperate, 5),
                        (Climate::Warm, 3),
                        (Climate::Tropical, 1),
                    ],
                ),
            }
        })
        .collect()
}
