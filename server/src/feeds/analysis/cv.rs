//! The OpenCV pipeline (costs measured on ~400 px photos, one thread):
//!
//! 1. decode at half size when the picture is large (`IMREAD_REDUCED_COLOR_2`
//!    lets libjpeg skip most of the work), shrink to [`WORK`] px on the long side;
//! 2. Lab; the background colour is the median of the border pixels; when the
//!    border is plain, the garment is what differs from it, closed
//!    morphologically and with its holes filled (~1 ms); otherwise GrabCut on
//!    an [`GRABCUT`] px copy (tens of ms, so only as a fall-back);
//! 3. k-means (k = 4) on up to [`SAMPLES`] garment pixels in real L*a*b*,
//!    close clusters merged (ΔE00 < 5), the three largest kept with their shares;
//! 4. Sobel on the Lab picture inside the eroded garment: few colour edges
//!    is solid; edge orientations in one direction are stripes, in two
//!    perpendicular directions checks, anything else a print.

use opencv::{
    core::{self, Mat, Point, Rect, Scalar, Size, TermCriteria, Vector},
    imgcodecs, imgproc,
    prelude::*,
};

use super::{Analysis, AnalysisError, Segmentation, Swatch};
use crate::{
    domain::{Lab, Pattern},
    feeds::color::{ciede2000, lab_from_cv8},
};

/// Long side of the working picture, px.
const WORK: i32 = 160;
/// Long side of the GrabCut picture, px.
const GRABCUT: i32 = 80;
/// Garment pixels fed to k-means at most.
const SAMPLES: usize = 4_000;
const CLUSTERS: usize = 4;
/// ΔE76 (real units) within which a pixel is background-coloured.
const BACKGROUND_DE: f32 = 14.0;
/// Sobel magnitude (3x3, L*a*b* units) of a colour edge worth counting: a
/// sharp step of about ΔE 20 and more.
const EDGE: f32 = 80.0;
/// Below this fraction of edge pixels the garment is solid.
const SOLID_DENSITY: f32 = 0.15;

/// Keeps OpenCV to one thread: callers run one analysis per core themselves.
pub fn init_thread() {
    let _ = core::set_num_threads(1);
}

/// Analyses an encoded image (JPEG, PNG, WebP, ...).
pub fn analyze(bytes: &[u8]) -> Result<Analysis, AnalysisError> {
    match run(bytes) {
        Ok(result) => result,
        Err(e) => Err(AnalysisError::Cv(e.message)),
    }
}

fn run(bytes: &[u8]) -> opencv::Result<Result<Analysis, AnalysisError>> {
    if bytes.is_empty() {
        return Ok(Err(AnalysisError::Corrupt));
    }
    let buf = Mat::from_slice(bytes)?;
    let decode = |flags| imgcodecs::imdecode(&buf, flags).unwrap_or_default();
    let mut img = decode(imgcodecs::IMREAD_REDUCED_COLOR_2);
    if img.empty() || img.rows().max(img.cols()) < WORK {
        img = decode(imgcodecs::IMREAD_COLOR);
    }
    if img.empty() || img.rows() < 8 || img.cols() < 8 {
        return Ok(Err(AnalysisError::Corrupt));
    }
    let small = shrink(&img, WORK)?;
    let mut lab = Mat::default();
    imgproc::cvt_color_def(&small, &mut lab, imgproc::COLOR_BGR2Lab)?;
    let (rows, cols) = (lab.rows(), lab.cols());
    let lab_px: Vec<Lab> = lab
        .data_bytes()?
        .chunks_exact(3)
        .map(|p| lab_from_cv8(f32::from(p[0]), f32::from(p[1]), f32::from(p[2])))
        .collect();
    let n = lab_px.len();
    let mut segmentation = Segmentation::Threshold;
    let mut silhouette = match plain_background(&lab_px, rows as usize, cols as usize) {
        Some(bg) => {
            let raw: Vec<u8> = lab_px
                .iter()
                .map(|p| {
                    if p.delta_e(bg) > BACKGROUND_DE {
                        255
                    } else {
                        0
                    }
                })
                .collect();
            let raw = Mat::new_rows_cols_with_data(rows, cols, &raw)?;
            fill(&raw)?
        }
        None => Mat::default(),
    };
    let coverage = |m: &Mat| -> opencv::Result<f32> {
        if m.empty() {
            Ok(0.0)
        } else {
            Ok(core::count_non_zero(m)? as f32 / n as f32)
        }
    };
    let mut cover = coverage(&silhouette)?;
    // no plain background, nearly nothing or everything differs from it, or only
    // a fragment does (a light garment on a light background): try GrabCut
    if !(0.15..=0.97).contains(&cover) {
        let cut = grab_cut(&small)?;
        let cut_cover = coverage(&cut)?;
        if cut_cover > cover || cover > 0.97 {
            segmentation = Segmentation::GrabCut;
            silhouette = cut;
            cover = cut_cover;
        }
        if !(0.02..=0.99).contains(&cover) {
            return Ok(Err(AnalysisError::NoGarment));
        }
    }
    let mask = silhouette.data_bytes()?;
    let colors = dominant_colors(&lab_px, mask)?;
    let pattern = pattern(&lab, &silhouette)?;
    Ok(Ok(Analysis {
        colors,
        pattern,
        segmentation,
        coverage: cover,
    }))
}

/// `img` with its long side at most `side` px.
fn shrink(img: &Mat, side: i32) -> opencv::Result<Mat> {
    let long = img.rows().max(img.cols());
    if long <= side {
        return Ok(img.clone());
    }
    let scale = f64::from(side) / f64::from(long);
    let size = Size::new(
        ((f64::from(img.cols()) * scale).round() as i32).max(1),
        ((f64::from(img.rows()) * scale).round() as i32).max(1),
    );
    let mut out = Mat::default();
    imgproc::resize(img, &mut out, size, 0.0, 0.0, imgproc::INTER_AREA)?;
    Ok(out)
}

/// The background colour when the picture's border is plain (70% of it within ΔE 10 of its median).
fn plain_background(px: &[Lab], rows: usize, cols: usize) -> Option<Lab> {
    if rows < 3 || cols < 3 {
        return None;
    }
    let mut border = Vec::with_capacity(2 * (rows + cols));
    for c in 0..cols {
        border.push(px[c]);
        border.push(px[(rows - 1) * cols + c]);
    }
    for r in 1..rows - 1 {
        border.push(px[r * cols]);
        border.push(px[r * cols + cols - 1]);
    }
    let median = |f: fn(&Lab) -> f32| {
        let mut v: Vec<f32> = border.iter().map(f).collect();
        v.sort_by(f32::total_cmp);
        v[v.len() / 2]
    };
    let bg = Lab::new(median(|p| p.l), median(|p| p.a), median(|p| p.b));
    let near = border.iter().filter(|p| p.delta_e(bg) < 10.0).count();
    (near as f32 >= 0.7 * border.len() as f32).then_some(bg)
}

/// Closes a raw foreground mask, drops specks, and fills the holes of what is left.
fn fill(raw: &(impl core::ToInputArray + MatTraitConst)) -> opencv::Result<Mat> {
    let ellipse = |k| imgproc::get_structuring_element_def(imgproc::MORPH_ELLIPSE, Size::new(k, k));
    let mut closed = Mat::default();
    imgproc::morphology_ex_def(raw, &mut closed, imgproc::MORPH_CLOSE, &ellipse(7)?)?;
    let mut opened = Mat::default();
    imgproc::morphology_ex_def(&closed, &mut opened, imgproc::MORPH_OPEN, &ellipse(3)?)?;
    let mut contours: Vector<Vector<Point>> = Vector::new();
    imgproc::find_contours_def(
        &opened,
        &mut contours,
        imgproc::RETR_EXTERNAL,
        imgproc::CHAIN_APPROX_SIMPLE,
    )?;
    let min_area = f64::from(raw.rows() * raw.cols()) * 0.01;
    let mut kept: Vector<Vector<Point>> = Vector::new();
    for c in contours.iter() {
        if imgproc::contour_area_def(&c)? >= min_area {
            kept.push(c);
        }
    }
    let mut out =
        Mat::new_rows_cols_with_default(raw.rows(), raw.cols(), core::CV_8UC1, Scalar::all(0.0))?;
    if !kept.is_empty() {
        imgproc::draw_contours(
            &mut out,
            &kept,
            -1,
            Scalar::all(255.0),
            imgproc::FILLED,
            imgproc::LINE_8,
            &core::no_array(),
            i32::MAX,
            Point::new(0, 0),
        )?;
    }
    Ok(out)
}

/// GrabCut from a rectangle inset 6% on a small copy, scaled back to `small`'s size.
fn grab_cut(small: &Mat) -> opencv::Result<Mat> {
    let tiny = shrink(small, GRABCUT)?;
    let (w, h) = (tiny.cols(), tiny.rows());
    let (dx, dy) = ((w * 6 / 100).max(1), (h * 6 / 100).max(1));
    let rect = Rect::new(dx, dy, (w - 2 * dx).max(1), (h - 2 * dy).max(1));
    let mut mask = Mat::default();
    let (mut bgd, mut fgd) = (Mat::default(), Mat::default());
    imgproc::grab_cut(
        &tiny,
        &mut mask,
        rect,
        &mut bgd,
        &mut fgd,
        3,
        imgproc::GC_INIT_WITH_RECT,
    )?;
    let fg: Vec<u8> = mask
        .data_bytes()?
        .iter()
        .map(|&m| if m == 1 || m == 3 { 255 } else { 0 })
        .collect();
    let fg = Mat::new_rows_cols_with_data(h, w, &fg)?;
    let mut up = Mat::default();
    imgproc::resize(
        &fg,
        &mut up,
        Size::new(small.cols(), small.rows()),
        0.0,
        0.0,
        imgproc::INTER_NEAREST,
    )?;
    fill(&up)
}

/// The three largest colour clusters of the garment's pixels.
fn dominant_colors(px: &[Lab], mask: &[u8]) -> opencv::Result<Vec<Swatch>> {
    let inside: Vec<&Lab> = px
        .iter()
        .zip(mask)
        .filter(|(_, m)| **m != 0)
        .map(|(p, _)| p)
        .collect();
    let stride = inside.len().div_ceil(SAMPLES).max(1);
    let samples: Vec<f32> = inside
        .iter()
        .step_by(stride)
        .flat_map(|p| [p.l, p.a, p.b])
        .collect();
    let count = samples.len() / 3;
    if count == 0 {
        return Ok(Vec::new());
    }
    let k = CLUSTERS.min(count);
    let data = Mat::new_rows_cols_with_data(count as i32, 3, &samples)?;
    let mut labels = Mat::default();
    let mut centers = Mat::default();
    // k-means seeds from OpenCV's thread RNG: a fixed seed makes results repeatable
    core::set_rng_seed(0x5eed)?;
    let criteria = TermCriteria::new(core::TermCriteria_COUNT + core::TermCriteria_EPS, 12, 0.5)?;
    core::kmeans(
        &data,
        k as i32,
        &mut labels,
        criteria,
        1,
        core::KMEANS_PP_CENTERS,
        &mut centers,
    )?;
    let centers = centers.data_typed::<f32>()?;
    let mut clusters: Vec<(Lab, f32)> = centers
        .chunks_exact(3)
        .map(|c| (Lab::new(c[0], c[1], c[2]), 0.0))
        .collect();
    for &label in labels.data_typed::<i32>()? {
        if let Some(c) = usize::try_from(label)
            .ok()
            .and_then(|l| clusters.get_mut(l))
        {
            c.1 += 1.0 / count as f32;
        }
    }
    // merge near-identical clusters (k-means splits one colour's shading)
    clusters.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut merged: Vec<(Lab, f32)> = Vec::new();
    for (lab, share) in clusters {
        match merged.iter_mut().find(|(m, _)| ciede2000(*m, lab) < 5.0) {
            Some((m, s)) => {
                let t = share / (*s + share);
                *m = Lab::new(
                    m.l + (lab.l - m.l) * t,
                    m.a + (lab.a - m.a) * t,
                    m.b + (lab.b - m.b) * t,
                );
                *s += share;
            }
            None => merged.push((lab, share)),
        }
    }
    merged.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(merged
        .into_iter()
        .enumerate()
        .filter(|(i, (_, share))| *i == 0 || *share >= 0.05)
        .take(3)
        .map(|(_, (lab, share))| Swatch { lab, share })
        .collect())
}

/// The pattern class from edge density and edge orientations inside the garment.
/// Edges are colour edges (Sobel on L*a*b*), so the shading of a fold, which
/// changes lightness a little, counts far less than a print's change of colour.
fn pattern(lab: &Mat, silhouette: &Mat) -> opencv::Result<Pattern> {
    let (mut gx, mut gy) = (Mat::default(), Mat::default());
    imgproc::sobel_def(lab, &mut gx, core::CV_32F, 1, 0)?;
    imgproc::sobel_def(lab, &mut gy, core::CV_32F, 0, 1)?;
    let kernel = imgproc::get_structuring_element_def(imgproc::MORPH_ELLIPSE, Size::new(9, 9))?;
    let mut interior = Mat::default();
    imgproc::erode(
        silhouette,
        &mut interior,
        &kernel,
        Point::new(-1, -1),
        1,
        core::BORDER_CONSTANT,
        Scalar::all(0.0),
    )?;
    // three channels per pixel, read as a flat run of floats
    let (gx, gy) = (gx.reshape(1, 0)?, gy.reshape(1, 0)?);
    let (gx, gy, inside) = (
        gx.data_typed::<f32>()?,
        gy.data_typed::<f32>()?,
        interior.data_bytes()?,
    );
    let mut bins = [0f32; 12];
    let (mut pixels, mut edges) = (0u32, 0u32);
    let l_scale = 100.0 / 255.0;
    for ((x, y), &m) in gx.chunks_exact(3).zip(gy.chunks_exact(3)).zip(inside) {
        if m == 0 {
            continue;
        }
        pixels += 1;
        // the colour gradient: L scaled to real units, a and b as they are
        let (xl, yl) = (x[0] * l_scale, y[0] * l_scale);
        let xx = xl * xl + x[1] * x[1] + x[2] * x[2];
        let yy = yl * yl + y[1] * y[1] + y[2] * y[2];
        let mag = (xx + yy).sqrt();
        if mag < EDGE {
            continue;
        }
        edges += 1;
        // orientation from the channel with the strongest response
        let (sx, sy) = [(xl, yl), (x[1], y[1]), (x[2], y[2])]
            .into_iter()
            .max_by(|a, b| (a.0.hypot(a.1)).total_cmp(&b.0.hypot(b.1)))
            .unwrap_or((xl, yl));
        let angle = sy.atan2(sx).to_degrees().rem_euclid(180.0);
        bins[((angle / 15.0) as usize).min(11)] += mag;
    }
    Ok(classify(pixels, edges, &bins))
}

/// Solid, striped, checked or printed from the edge statistics.
fn classify(pixels: u32, edges: u32, bins: &[f32; 12]) -> Pattern {
    if pixels < 50 || (edges as f32) < SOLID_DENSITY * pixels as f32 {
        return Pattern::Solid;
    }
    let total: f32 = bins.iter().sum();
    if total <= 0.0 {
        return Pattern::Solid;
    }
    let window = |b: usize| (bins[(b + 11) % 12] + bins[b] + bins[(b + 1) % 12]) / total;
    let (best, main) = (0..12)
        .map(|b| (b, window(b)))
        .max_by(|x, y| x.1.total_cmp(&y.1))
        .unwrap_or((0, 0.0));
    let across = window((best + 6) % 12);
    // real photos add folds and seams in every direction, hence the margins
    if main >= 0.5 && across * 2.5 <= main {
        Pattern::Striped
    } else if across >= 0.25 && main + across >= 0.65 {
        Pattern::Checked
    } else {
        Pattern::Printed
    }
}
