//! Colour harmony in LCh, precomputed as a pair table over quantised colours.
//!
//! A colour is quantised to a one-byte *code*: `0` for neutrals
//! ([`Lab::is_neutral`], chroma < 12: black, white, greys), otherwise
//! `1 + hue_bin * LEVELS + chroma_level` with 24 hue bins of 15° and three chroma
//! levels (muted, medium, vivid). [`HARMONY`] holds the harmony of every pair
//! of codes (built at compile time), so the hot loop pays one lookup per pair.
//!
//! The pair rule, on bin centres and level representatives:
//! * neutrals go with everything (a fixed positive value);
//! * the hue relation follows the colour wheel: tonal/analogous (≤ ~30°) is
//!   good, a "clash band" (~55°–100°) is bad, complementary and
//!   split-complementary (≥ ~120°, wide because opposite hues are not exactly
//!   180° apart in Lab) is good;
//! * that relation is weighted by how saturated both colours are (muted
//!   colours behave almost like neutrals), and two *different* saturated hues
//!   pay a small extra "competing accents" penalty, so three loud hues rank
//!   below one accent on neutrals.

use crate::domain::{Lab, Pattern};

/// Number of hue bins (15° each).
const HUE_BINS: usize = 24;
/// Chroma levels for chromatic colours: muted, medium, vivid.
const LEVELS: usize = 3;
/// Number of colour codes: neutral, bins × levels, and [`ABSENT`].
pub(crate) const CODES: usize = 1 + HUE_BINS * LEVELS + 1;
/// Code of an empty outfit position: pairs with it are worth exactly 0.
pub(crate) const ABSENT: u8 = (CODES - 1) as u8;
/// Chroma thresholds between muted|medium and medium|vivid.
const CHROMA_MEDIUM: f32 = 30.0;
const CHROMA_VIVID: f32 = 50.0;
/// Representative chroma of each level, used to build the table.
const LEVEL_CHROMA: [f32; LEVELS] = [21.0, 40.0, 65.0];

/// Harmony of a pair that contains a neutral.
const NEUTRAL_PAIR: f32 = 0.6;
/// Harmony of two neutrals: safe, a bit less lively than neutral + accent.
const NEUTRAL_NEUTRAL: f32 = 0.5;
/// What a pair of weakly saturated colours is worth regardless of hue.
const MUTED_BASE: f32 = 0.4;
/// Extra penalty when two saturated colours have clearly different hues.
const COMPETING_ACCENTS: f32 = 0.4;

/// Hue relation as a piecewise-linear function of the hue difference (degrees, 0..=180).
const REL_POINTS: [(f32, f32); 8] = [
    (0.0, 1.0),
    (30.0, 0.8),
    (45.0, 0.3),
    (60.0, -0.6),
    (95.0, -0.8),
    (115.0, 0.2),
    (130.0, 0.7),
    (180.0, 0.9),
];

/// Quantises a colour to its code (see the module docs).
pub(crate) fn color_code(lab: Lab) -> u8 {
    if lab.is_neutral() {
        return 0;
    }
    let chroma = lab.chroma();
    let level = if chroma >= CHROMA_VIVID {
        2
    } else if chroma >= CHROMA_MEDIUM {
        1
    } else {
        0
    };
    let bin = ((lab.hue_deg() / (360.0 / HUE_BINS as f32)) as usize).min(HUE_BINS - 1);
    (1 + bin * LEVELS + level) as u8
}

/// Whether a pattern is "loud" (at most one loud piece per outfit is wanted).
pub(crate) fn is_loud(pattern: Pattern) -> bool {
    matches!(pattern, Pattern::Printed | Pattern::Checked)
}

const fn hue_relation(d: f32) -> f32 {
    let mut i = 1;
    while i < REL_POINTS.len() {
        let (x1, y1) = REL_POINTS[i];
        if d <= x1 {
            let (x0, y0) = REL_POINTS[i - 1];
            return y0 + (y1 - y0) * (d - x0) / (x1 - x0);
        }
        i += 1;
    }
    REL_POINTS[REL_POINTS.len() - 1].1
}

const fn saturation(chroma: f32) -> f32 {
    ((chroma - 12.0) / 40.0).clamp(0.0, 1.0)
}

const fn pair_value(a: usize, b: usize) -> f32 {
    if a == ABSENT as usize || b == ABSENT as usize {
        return 0.0;
    }
    if a == 0 && b == 0 {
        return NEUTRAL_NEUTRAL;
    }
    if a == 0 || b == 0 {
        return NEUTRAL_PAIR;
    }
    let (bin_a, lvl_a) = ((a - 1) / LEVELS, (a - 1) % LEVELS);
    let (bin_b, lvl_b) = ((b - 1) / LEVELS, (b - 1) % LEVELS);
    let step = 360.0 / HUE_BINS as f32;
    let mut d = (bin_a as f32 - bin_b as f32).abs() * step;
    if d > 180.0 {
        d = 360.0 - d;
    }
    let w = saturation(LEVEL_CHROMA[lvl_a]) * saturation(LEVEL_CHROMA[lvl_b]);
    // 0 for the same/adjacent bin, 1 once hues are clearly different.
    let distinct = ((d - 15.0) / 15.0).clamp(0.0, 1.0);
    (1.0 - w) * MUTED_BASE + w * (hue_relation(d) - COMPETING_ACCENTS * distinct)
}

const fn build_table() -> [f32; CODES * CODES] {
    let mut t = [0.0; CODES * CODES];
    let mut a = 0;
    while a < CODES {
        let mut b = 0;
        while b < CODES {
            t[a * CODES + b] = pair_value(a, b);
            b += 1;
        }
        a += 1;
    }
    t
}

/// Pair harmony of colour codes, row-major: `HARMONY[a * CODES + b]`, symmetric, in about `-1.2..=1`.
pub(crate) static HARMONY: [f32; CODES * CODES] = build_table();

/// Pair harmony of two colour codes.
#[inline(always)]
pub(crate) fn pair(a: u8, b: u8) -> f32 {
    HARMONY[usize::from(a) * CODES + usize::from(b)]
}

/// Harmony of a set of colours: the mean pair harmony, in about `-1.2..=1`
/// (higher is more harmonious). The engine scores outfits with exactly this
/// rule applied to the garments' main colours. Fewer than two colours score as
/// a neutral pair.
pub fn harmony(colors: &[Lab]) -> f32 {
    let codes: Vec<u8> = colors.iter().map(|&c| color_code(c)).collect();
    let mut sum = 0.0;
    let mut pairs = 0u32;
    for (i, &a) in codes.iter().enumerate() {
        for &b in &codes[i + 1..] {
            sum += pair(a, b);
            pairs += 1;
        }
    }
    if pairs == 0 {
        NEUTRAL_PAIR
    } else {
        sum / pairs as f32
    }
}
