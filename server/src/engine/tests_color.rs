//! Colour harmony: a labelled fixture and table properties.
#![allow(clippy::unwrap_used)]

use super::harmony;
use crate::domain::{ColorName, Lab};

/// Labelled fixture: every harmonious set must outrank every clashing one.
#[test]
fn harmony_ranks_harmonious_sets_above_clashing_ones() {
    use ColorName::*;
    let lab = Lab::new;
    let harmonious: Vec<(&str, Vec<Lab>)> = vec![
        (
            "navy+white+beige",
            vec![Navy.lab(), White.lab(), Beige.lab()],
        ),
        (
            "tonal blues",
            vec![
                lab(20.0, 12.0, -38.0),
                lab(45.0, 10.0, -45.0),
                lab(72.0, 5.0, -28.0),
            ],
        ),
        (
            "cobalt/orange complementary + white + grey",
            vec![
                lab(38.0, 30.0, -70.0),
                lab(67.0, 42.0, 70.0),
                White.lab(),
                Grey.lab(),
            ],
        ),
        (
            "black+white+red accent",
            vec![Black.lab(), White.lab(), Red.lab()],
        ),
        (
            "earth tones olive+camel+cream",
            vec![
                lab(45.0, -10.0, 30.0),
                lab(62.0, 10.0, 32.0),
                lab(93.0, 1.0, 9.0),
            ],
        ),
        (
            "denim+white+camel",
            vec![lab(42.0, 2.0, -28.0), White.lab(), lab(62.0, 10.0, 32.0)],
        ),
    ];
    let clashing: Vec<(&str, Vec<Lab>)> = vec![
        (
            "red+hot pink+orange at full chroma",
            vec![
                lab(50.0, 70.0, 50.0),
                lab(58.0, 72.0, -8.0),
                lab(67.0, 42.0, 70.0),
            ],
        ),
        (
            "green+purple+yellow",
            vec![Green.lab(), Purple.lab(), Yellow.lab()],
        ),
        (
            "red+green+purple",
            vec![Red.lab(), Green.lab(), Purple.lab()],
        ),
        (
            "orange+hot pink+lime",
            vec![
                lab(67.0, 42.0, 70.0),
                lab(58.0, 72.0, -8.0),
                lab(85.0, -45.0, 75.0),
            ],
        ),
    ];
    let worst_good = harmonious
        .iter()
        .map(|(n, s)| (n, harmony(s)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    let best_bad = clashing
        .iter()
        .map(|(n, s)| (n, harmony(s)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert!(
        worst_good.1 > best_bad.1,
        "harmonious {worst_good:?} must beat clashing {best_bad:?}"
    );
}

#[test]
fn harmony_table_is_symmetric_and_neutrals_go_with_everything() {
    let n = ColorName::ALL.map(|c| harmony(&[c.lab(), ColorName::Grey.lab()]));
    assert!(n.iter().all(|&h| h >= 0.5), "{n:?}");
    for a in ColorName::ALL {
        for b in ColorName::ALL {
            assert_eq!(harmony(&[a.lab(), b.lab()]), harmony(&[b.lab(), a.lab()]));
        }
    }
}
