//! One garment's image: fetch (conditionally, when a cached analysis has
//! validators), look the bytes up in the analysis cache by URL and by content
//! hash, analyse what is new on a blocking thread (at most one per core), and
//! remember the result.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::{
    analysis::{ANALYZER_VERSION, Analysis, AnalysisError},
    fetch::{FetchError, FetchSettings, Fetched, Validators, fetch},
    report::Reason,
    stored::CachedAnalysis,
};
use crate::store::Db;

/// What became of a garment's image.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Analysed(Analysis),
    /// Reused from the cache (same URL and content, same content elsewhere, or a 304).
    Cached(Analysis),
    Failed(Reason, String),
    /// This build or this run does not analyse images.
    Off,
}

/// Shared by the image tasks of one ingest.
#[derive(Debug, Clone)]
pub struct ImageContext {
    pub db: Db,
    pub client: reqwest::Client,
    pub settings: FetchSettings,
    /// Bounds concurrent downloads.
    pub downloads: Arc<Semaphore>,
    /// Bounds concurrent analyses (one per core).
    pub analyses: Arc<Semaphore>,
}

/// SHA-256 in hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The image of a garment: the main URL, then the alternates, the first that works.
pub async fn process(ctx: &ImageContext, urls: &[&str]) -> Outcome {
    let mut first_failure = None;
    for url in urls {
        match process_one(ctx, url).await {
            Outcome::Failed(reason, detail) => {
                first_failure.get_or_insert(Outcome::Failed(reason, detail));
            }
            done => return done,
        }
    }
    first_failure.unwrap_or(Outcome::Off)
}

async fn process_one(ctx: &ImageContext, url: &str) -> Outcome {
    let url_hash = sha256_hex(url.as_bytes());
    let cached = match ctx.db.cached_analysis(&url_hash).await {
        Ok(c) => c.filter(|c| c.analyzer == ANALYZER_VERSION),
        Err(e) => {
            tracing::warn!(error = %e, "reading the image-analysis cache failed");
            None
        }
    };
    let validators = cached.as_ref().map(|c| Validators {
        etag: Some(c.etag.clone()).filter(|s| !s.is_empty()),
        last_modified: Some(c.last_modified.clone()).filter(|s| !s.is_empty()),
    });
    let known = validators
        .as_ref()
        .filter(|v| v.etag.is_some() || v.last_modified.is_some());
    let fetched = {
        let _permit = ctx.downloads.acquire().await;
        fetch(&ctx.client, &ctx.settings, url, known).await
    };
    let (bytes, validators) = match fetched {
        Ok(Fetched::NotModified) => {
            return match cached.as_ref().and_then(decode) {
                Some(a) => Outcome::Cached(a),
                None => Outcome::Failed(
                    Reason::ImageUnreachable,
                    "304 without a cached analysis".into(),
                ),
            };
        }
        Ok(Fetched::Body { bytes, validators }) => (bytes, validators),
        Err(FetchError { reason, detail }) => return Outcome::Failed(reason, detail),
    };
    let content_hash = sha256_hex(&bytes);
    let etag = validators.etag.unwrap_or_default();
    let last_modified = validators.last_modified.unwrap_or_default();
    let entry = |result: String| CachedAnalysis {
        content_hash: content_hash.clone(),
        etag: etag.clone(),
        last_modified: last_modified.clone(),
        analyzer: ANALYZER_VERSION,
        result,
    };
    if let Some(c) = &cached
        && c.content_hash == content_hash
        && let Some(a) = decode(c)
    {
        // same bytes; keep the new validators for the next conditional request
        if c.etag != etag || c.last_modified != last_modified {
            remember(ctx, &url_hash, url, &entry(c.result.clone())).await;
        }
        return Outcome::Cached(a);
    }
    match ctx
        .db
        .cached_analysis_by_content(&content_hash, ANALYZER_VERSION)
        .await
    {
        Ok(Some(c)) => {
            if let Some(a) = decode(&c) {
                remember(ctx, &url_hash, url, &entry(c.result)).await;
                return Outcome::Cached(a);
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "reading the image-analysis cache failed"),
    }
    match analyse(ctx, bytes).await {
        Ok(a) => {
            if let Ok(json) = serde_json::to_string(&a) {
                remember(ctx, &url_hash, url, &entry(json)).await;
            }
            Outcome::Analysed(a)
        }
        Err(AnalysisError::Corrupt) => {
            Outcome::Failed(Reason::ImageCorrupt, "cannot decode the image".into())
        }
        Err(AnalysisError::NoGarment) => Outcome::Failed(
            Reason::ImageUnanalysable,
            "no garment found against the background".into(),
        ),
        Err(e @ AnalysisError::Cv(_)) => Outcome::Failed(Reason::ImageUnanalysable, e.to_string()),
    }
}

fn decode(c: &CachedAnalysis) -> Option<Analysis> {
    serde_json::from_str(&c.result).ok()
}

async fn remember(ctx: &ImageContext, url_hash: &str, url: &str, entry: &CachedAnalysis) {
    if let Err(e) = ctx.db.store_analysis(url_hash, url, entry).await {
        tracing::warn!(error = %e, "writing the image-analysis cache failed");
    }
}

#[cfg(feature = "opencv")]
async fn analyse(ctx: &ImageContext, bytes: Vec<u8>) -> Result<Analysis, AnalysisError> {
    let _permit = ctx.analyses.acquire().await;
    tokio::task::spawn_blocking(move || super::analysis::analyze(&bytes))
        .await
        .unwrap_or_else(|e| Err(AnalysisError::Cv(format!("analysis task failed: {e}"))))
}

#[cfg(not(feature = "opencv"))]
async fn analyse(_ctx: &ImageContext, _bytes: Vec<u8>) -> Result<Analysis, AnalysisError> {
    Err(AnalysisError::Cv(
        "built without the `opencv` feature".into(),
    ))
}
