//! Colour arithmetic: sRGB to CIE L*a*b* (D65), OpenCV's 8-bit Lab scaling,
//! and the CIEDE2000 colour difference (Sharma, Wu and Dalal, 2005).

use crate::domain::Lab;

/// CIE L*a*b* (D65) of an 8-bit sRGB colour.
pub fn srgb_to_lab(r: u8, g: u8, b: u8) -> Lab {
    fn linear(c: u8) -> f64 {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    }
    let (r, g, b) = (linear(r), linear(g), linear(b));
    let x = 0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175_0 * b;
    let z = 0.019_333_9 * r + 0.119_192_0 * g + 0.950_304_1 * b;
    let f = |t: f64| {
        if t > 216.0 / 24_389.0 {
            t.cbrt()
        } else {
            (24_389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    let (fx, fy, fz) = (f(x / 0.950_47), f(y), f(z / 1.088_83));
    Lab::new(
        (116.0 * fy - 16.0) as f32,
        (500.0 * (fx - fy)) as f32,
        (200.0 * (fy - fz)) as f32,
    )
}

/// Real L*a*b* from OpenCV's 8-bit `COLOR_BGR2Lab` output, which stores
/// `L * 255 / 100`, `a + 128` and `b + 128`.
pub fn lab_from_cv8(l: f32, a: f32, b: f32) -> Lab {
    Lab::new(l * 100.0 / 255.0, a - 128.0, b - 128.0)
}

/// CIEDE2000 ΔE between two colours (kL = kC = kH = 1).
pub fn ciede2000(x: Lab, y: Lab) -> f64 {
    use std::f64::consts::PI;
    let (l1, a1, b1) = (f64::from(x.l), f64::from(x.a), f64::from(x.b));
    let (l2, a2, b2) = (f64::from(y.l), f64::from(y.a), f64::from(y.b));
    let c1 = a1.hypot(b1);
    let c2 = a2.hypot(b2);
    let c_bar = (c1 + c2) / 2.0;
    let c_bar7 = c_bar.powi(7);
    let g = 0.5 * (1.0 - (c_bar7 / (c_bar7 + 25f64.powi(7))).sqrt());
    let a1p = (1.0 + g) * a1;
    let a2p = (1.0 + g) * a2;
    let c1p = a1p.hypot(b1);
    let c2p = a2p.hypot(b2);
    let hue = |b: f64, a: f64| {
        if a == 0.0 && b == 0.0 {
            0.0
        } else {
            let h = b.atan2(a).to_degrees();
            if h < 0.0 { h + 360.0 } else { h }
        }
    };
    let h1p = hue(b1, a1p);
    let h2p = hue(b2, a2p);
    let dlp = l2 - l1;
    let dcp = c2p - c1p;
    let dhp = if c1p * c2p == 0.0 {
        0.0
    } else if (h2p - h1p).abs() <= 180.0 {
        h2p - h1p
    } else if h2p - h1p > 180.0 {
        h2p - h1p - 360.0
    } else {
        h2p - h1p + 360.0
    };
    let d_hp = 2.0 * (c1p * c2p).sqrt() * (dhp.to_radians() / 2.0).sin();
    let lp_bar = (l1 + l2) / 2.0;
    let cp_bar = (c1p + c2p) / 2.0;
    let hp_bar = if c1p * c2p == 0.0 {
        h1p + h2p
    } else if (h1p - h2p).abs() <= 180.0 {
        (h1p + h2p) / 2.0
    } else if h1p + h2p < 360.0 {
        (h1p + h2p + 360.0) / 2.0
    } else {
        (h1p + h2p - 360.0) / 2.0
    };
    let t = 1.0 - 0.17 * (hp_bar - 30.0).to_radians().cos()
        + 0.24 * (2.0 * hp_bar).to_radians().cos()
        + 0.32 * (3.0 * hp_bar + 6.0).to_radians().cos()
        - 0.20 * (4.0 * hp_bar - 63.0).to_radians().cos();
    let d_theta = 30.0 * (-((hp_bar - 275.0) / 25.0).powi(2)).exp();
    let cp_bar7 = cp_bar.powi(7);
    let r_c = 2.0 * (cp_bar7 / (cp_bar7 + 25f64.powi(7))).sqrt();
    let lp50 = (lp_bar - 50.0).powi(2);
    let s_l = 1.0 + 0.015 * lp50 / (20.0 + lp50).sqrt();
    let s_c = 1.0 + 0.045 * cp_bar;
    let s_h = 1.0 + 0.015 * cp_bar * t;
    let r_t = -(2.0 * d_theta * PI / 180.0).sin() * r_c;
    let (fl, fc, fh) = (dlp / s_l, dcp / s_c, d_hp / s_h);
    (fl * fl + fc * fc + fh * fh + r_t * fc * fh).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test pairs from Sharma, Wu and Dalal (2005), Table 1: (Lab1, Lab2, ΔE00).
    const SHARMA: [([f32; 3], [f32; 3], f64); 20] = [
        ([50.0, 2.6772, -79.7751], [50.0, 0.0, -82.7485], 2.0425),
        ([50.0, 3.1571, -77.2803], [50.0, 0.0, -82.7485], 2.8615),
        ([50.0, 2.8361, -74.0200], [50.0, 0.0, -82.7485], 3.4412),
        ([50.0, -1.3802, -84.2814], [50.0, 0.0, -82.7485], 1.0),
        ([50.0, 0.0, 0.0], [50.0, -1.0, 2.0], 2.3669),
        ([50.0, -1.0, 2.0], [50.0, 0.0, 0.0], 2.3669),
        ([50.0, 2.4900, -0.0010], [50.0, -2.4900, 0.0009], 7.1792),
        ([50.0, 2.4900, -0.0010], [50.0, -2.4900, 0.0011], 7.2195),
        ([50.0, 2.4900, -0.0010], [50.0, -2.4900, 0.0012], 7.2195),
        ([50.0, -0.0010, 2.4900], [50.0, 0.0009, -2.4900], 4.8045),
        ([50.0, 2.5, 0.0], [50.0, 0.0, -2.5], 4.3065),
        ([50.0, 2.5, 0.0], [73.0, 25.0, -18.0], 27.1492),
        ([50.0, 2.5, 0.0], [61.0, -5.0, 29.0], 22.8977),
        ([50.0, 2.5, 0.0], [56.0, -27.0, -3.0], 31.9030),
        ([50.0, 2.5, 0.0], [58.0, 24.0, 15.0], 19.4535),
        (
            [60.2574, -34.0099, 36.2677],
            [60.4626, -34.1751, 39.4387],
            1.2644,
        ),
        (
            [63.0109, -31.0961, -5.8663],
            [62.8187, -29.7946, -4.0864],
            1.2630,
        ),
        (
            [22.7233, 20.0904, -46.6940],
            [23.0331, 14.9730, -42.5619],
            2.0373,
        ),
        (
            [90.8027, -2.0831, 1.4410],
            [91.1528, -1.6435, 0.0447],
            1.4441,
        ),
        (
            [2.0776, 0.0795, -1.1350],
            [0.9033, -0.0636, -0.5514],
            0.9082,
        ),
    ];

    #[test]
    fn ciede2000_matches_sharmas_reference_pairs() {
        for (x, y, want) in SHARMA {
            let got = ciede2000(Lab::new(x[0], x[1], x[2]), Lab::new(y[0], y[1], y[2]));
            assert!((got - want).abs() < 1e-3, "{x:?} {y:?}: {got} != {want}");
            let back = ciede2000(Lab::new(y[0], y[1], y[2]), Lab::new(x[0], x[1], x[2]));
            assert!((back - got).abs() < 1e-9, "symmetric");
        }
    }

    #[test]
    fn srgb_reference_colours() {
        let white = srgb_to_lab(255, 255, 255);
        assert!((white.l - 100.0).abs() < 0.01 && white.a.abs() < 0.01 && white.b.abs() < 0.01);
        let red = srgb_to_lab(255, 0, 0);
        assert!(
            (red.l - 53.24).abs() < 0.05
                && (red.a - 80.09).abs() < 0.1
                && (red.b - 67.20).abs() < 0.1
        );
        let cv_white = lab_from_cv8(255.0, 128.0, 128.0);
        assert_eq!(cv_white, Lab::new(100.0, 0.0, 0.0));
    }
}
