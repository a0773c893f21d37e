//! Garment image analysis: the garment's dominant colours (Lab, with their
//! shares) and its pattern class.
//!
//! Layout:
//! - this file: the result types, shared by the analysis cache and the report;
//! - `cv` (feature `opencv`): the OpenCV pipeline: decode at reduced size,
//!   separate the garment from a plain background (border colour threshold +
//!   morphological close + hole fill; low-resolution GrabCut when the
//!   background is not plain), k-means in Lab, edge-orientation statistics;
//! - `draw` (feature `opencv`): synthetic garment pictures (solid, striped,
//!   checked, printed on white) for tests and benchmarks.
//!
//! Without the `opencv` feature, [`ENABLED`] is false and ingest stores the
//! feed's own colour and pattern words instead.

use serde::{Deserialize, Serialize};

use crate::domain::{Lab, Pattern};

#[cfg(feature = "opencv")]
mod cv;
#[cfg(feature = "opencv")]
pub mod draw;

#[cfg(feature = "opencv")]
pub use cv::{analyze, init_thread};

/// Whether this build analyses images.
pub const ENABLED: bool = cfg!(feature = "opencv");

/// Bumped when the analysis changes, so cached results from an older one are redone.
pub const ANALYZER_VERSION: i64 = 1;

/// What the report says about analysis in this build.
pub fn status() -> &'static str {
    if ENABLED {
        "opencv"
    } else {
        "off (built without the `opencv` feature: colours and patterns come from the feed's words)"
    }
}

/// One dominant colour and the share of garment pixels near it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Swatch {
    pub lab: Lab,
    /// Fraction of the garment's pixels, `0..=1`.
    pub share: f32,
}

/// How the garment was told from the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Segmentation {
    /// A plain background, thresholded on its border colour.
    Threshold,
    /// GrabCut at low resolution.
    GrabCut,
}

/// The result of analysing one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Up to three colours, most dominant first.
    pub colors: Vec<Swatch>,
    pub pattern: Pattern,
    pub segmentation: Segmentation,
    /// Fraction of the picture covered by the garment.
    pub coverage: f32,
}

impl Analysis {
    pub fn labs(&self) -> Vec<Lab> {
        self.colors.iter().map(|s| s.lab).collect()
    }
}

/// Why an image could not be analysed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalysisError {
    /// Not a decodable image.
    #[error("cannot decode the image")]
    Corrupt,
    /// No garment could be told from the background.
    #[error("no garment found in the image")]
    NoGarment,
    #[error("image analysis failed: {0}")]
    Cv(String),
}
