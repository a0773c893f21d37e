//! Synthetic garment pictures for tests and benchmarks: a T-shirt shape with
//! a faint edge on a white background, filled solid, striped, checked or printed. The first
//! colour always covers most of the garment, so it is the one to find.

use opencv::{
    core::{self, Mat, Point, Scalar, Vector},
    imgcodecs, imgproc,
    prelude::*,
};

use super::AnalysisError;
use crate::domain::Pattern;

/// An sRGB colour.
pub type Rgb = (u8, u8, u8);

fn bgr((r, g, b): Rgb) -> Scalar {
    Scalar::new(f64::from(b), f64::from(g), f64::from(r), 0.0)
}

/// Draws a `size` x `size` picture and encodes it (`ext` is `".png"` or `".jpg"`).
/// `main` covers most of the garment; `other` makes the stripes, checks or print.
pub fn garment(
    pattern: Pattern,
    main: Rgb,
    other: Rgb,
    size: i32,
    seed: u64,
    ext: &str,
) -> Result<Vec<u8>, AnalysisError> {
    draw(pattern, main, other, size, seed, ext).map_err(|e| AnalysisError::Cv(e.message))
}

fn draw(
    pattern: Pattern,
    main: Rgb,
    other: Rgb,
    size: i32,
    seed: u64,
    ext: &str,
) -> opencv::Result<Vec<u8>> {
    let mut fabric = Mat::new_rows_cols_with_default(size, size, core::CV_8UC3, bgr(main))?;
    let period = (size / 16).max(4);
    match pattern {
        Pattern::Solid => {}
        Pattern::Striped => {
            // bands a third of the period wide: `main` keeps two thirds
            let mut y = 0;
            while y < size {
                let band = core::Rect::new(0, y, size, period / 3);
                imgproc::rectangle(
                    &mut fabric,
                    band,
                    bgr(other),
                    imgproc::FILLED,
                    imgproc::LINE_8,
                    0,
                )?;
                y += period;
            }
        }
        Pattern::Checked => {
            // crossing bands a fifth of a wider period: `main` keeps ~64%
            let period = period * 4 / 3;
            let mut at = 0;
            while at < size {
                let w = period / 5;
                imgproc::rectangle(
                    &mut fabric,
                    core::Rect::new(0, at, size, w),
                    bgr(other),
                    imgproc::FILLED,
                    imgproc::LINE_8,
                    0,
                )?;
                imgproc::rectangle(
                    &mut fabric,
                    core::Rect::new(at, 0, w, size),
                    bgr(other),
                    imgproc::FILLED,
                    imgproc::LINE_8,
                    0,
                )?;
                at += period;
            }
        }
        Pattern::Printed => {
            // scattered dots, rings and triangles in `other` and a darker accent
            let mut state = seed | 1;
            let mut next = |n: i32| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % n.max(1) as u64) as i32
            };
            let accent = (other.0 / 3, other.1 / 3, other.2 / 3);
            let r = (size / 40).max(2);
            for i in 0..(size * size / 1200) {
                let c = Point::new(next(size), next(size));
                let color = if i % 3 == 0 { bgr(accent) } else { bgr(other) };
                match i % 3 {
                    0 => imgproc::circle(
                        &mut fabric,
                        c,
                        r + next(r),
                        color,
                        imgproc::FILLED,
                        imgproc::LINE_8,
                        0,
                    )?,
                    1 => imgproc::circle(
                        &mut fabric,
                        c,
                        r + next(r),
                        color,
                        (r / 2).max(1),
                        imgproc::LINE_8,
                        0,
                    )?,
                    _ => {
                        let tri: Vector<Point> = Vector::from_slice(&[
                            c,
                            Point::new(c.x + 2 * r, c.y + next(2 * r)),
                            Point::new(c.x + next(2 * r), c.y - 2 * r),
                        ]);
                        let polys: Vector<Vector<Point>> = Vector::from_iter([tri]);
                        imgproc::fill_poly(
                            &mut fabric,
                            &polys,
                            color,
                            imgproc::LINE_8,
                            0,
                            Point::new(0, 0),
                        )?;
                    }
                }
            }
        }
    }
    // a T-shirt: body and two sleeves
    let s = |f: f64| (f64::from(size) * f) as i32;
    let shirt: Vector<Point> = Vector::from_slice(&[
        Point::new(s(0.35), s(0.15)),
        Point::new(s(0.65), s(0.15)),
        Point::new(s(0.88), s(0.32)),
        Point::new(s(0.78), s(0.45)),
        Point::new(s(0.70), s(0.38)),
        Point::new(s(0.70), s(0.88)),
        Point::new(s(0.30), s(0.88)),
        Point::new(s(0.30), s(0.38)),
        Point::new(s(0.22), s(0.45)),
        Point::new(s(0.12), s(0.32)),
    ]);
    let mut mask = Mat::new_rows_cols_with_default(size, size, core::CV_8UC1, Scalar::all(0.0))?;
    let polys: Vector<Vector<Point>> = Vector::from_iter([shirt]);
    imgproc::fill_poly(
        &mut mask,
        &polys,
        Scalar::all(255.0),
        imgproc::LINE_8,
        0,
        Point::new(0, 0),
    )?;
    let mut canvas =
        Mat::new_rows_cols_with_default(size, size, core::CV_8UC3, Scalar::all(255.0))?;
    // the shadow edge a photographed garment has against its background
    // (drawn first, so only its outer half shows)
    let edge = Scalar::all(200.0);
    imgproc::polylines(
        &mut canvas,
        &polys,
        true,
        edge,
        (size / 50).max(1),
        imgproc::LINE_8,
        0,
    )?;
    fabric.copy_to_masked(&mut canvas, &mask)?;
    let mut out: Vector<u8> = Vector::new();
    imgcodecs::imencode_def(ext, &canvas, &mut out)?;
    Ok(out.to_vec())
}
