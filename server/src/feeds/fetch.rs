//! Image download: HTTP(S) with timeouts, a size cap, a content-type check,
//! retries with backoff for transient failures, and conditional requests
//! (`If-None-Match` / `If-Modified-Since`) so an unchanged image is not
//! downloaded again; `file://` URLs are read from disk under the same cap.
//! The number of downloads at once is bounded by the caller's semaphore.

use std::time::Duration;

use reqwest::{StatusCode, header};

use super::report::Reason;

/// Limits of image downloads.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Larger images are refused (checked on `Content-Length` and while streaming).
    pub max_bytes: u64,
    pub connect_timeout: Duration,
    /// Whole-request timeout, body included.
    pub timeout: Duration,
    /// Attempts after the first for timeouts, connection errors, 429 and 5xx.
    pub retries: u32,
    /// First backoff; doubles per retry.
    pub backoff: Duration,
    /// Whether `file://` image links are read (only for feeds read from this machine).
    pub allow_files: bool,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            max_bytes: 10 * 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(20),
            retries: 2,
            backoff: Duration::from_millis(200),
            allow_files: true,
        }
    }
}

/// Validators of a copy we already analysed.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// What a fetch brought back.
#[derive(Debug)]
pub enum Fetched {
    Body {
        bytes: Vec<u8>,
        validators: Validators,
    },
    /// `304 Not Modified`: the cached analysis still holds.
    NotModified,
}

/// Why an image could not be had; becomes a report reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct FetchError {
    pub reason: Reason,
    pub detail: String,
}

fn fail(reason: Reason, detail: impl Into<String>) -> FetchError {
    FetchError {
        reason,
        detail: detail.into(),
    }
}

/// An HTTP client for images.
pub fn client(settings: &FetchSettings) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("spikeproof-feeds/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Fetches `url` (http, https or file), sending `known` validators when given.
pub async fn fetch(
    client: &reqwest::Client,
    settings: &FetchSettings,
    url: &str,
    known: Option<&Validators>,
) -> Result<Fetched, FetchError> {
    if let Some(path) = url.strip_prefix("file://") {
        if !settings.allow_files {
            return Err(fail(
                Reason::ImageUnreachable,
                "file:// images are read only for feeds from this machine",
            ));
        }
        return read_file(path, settings.max_bytes).await;
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(fail(
            Reason::ImageUnreachable,
            format!("unsupported URL {url:?}"),
        ));
    }
    let mut attempt = 0;
    loop {
        match fetch_once(client, settings, url, known).await {
            Err((e, true)) if attempt < settings.retries => {
                let wait = settings
                    .backoff
                    .saturating_mul(2u32.saturating_pow(attempt));
                // a little jitter so retries from many tasks do not arrive together
                let jitter = Duration::from_millis(rand::random::<u64>() % 50);
                tracing::debug!(url, attempt, error = %e, "image fetch failed; retrying");
                tokio::time::sleep(wait + jitter).await;
                attempt += 1;
            }
            Err((e, _)) => return Err(e),
            Ok(f) => return Ok(f),
        }
    }
}

/// One attempt; the flag says whether a retry may help.
async fn fetch_once(
    client: &reqwest::Client,
    settings: &FetchSettings,
    url: &str,
    known: Option<&Validators>,
) -> Result<Fetched, (FetchError, bool)> {
    let mut request = client.get(url);
    if let Some(v) = known {
        if let Some(etag) = &v.etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(lm) = &v.last_modified {
            request = request.header(header::IF_MODIFIED_SINCE, lm);
        }
    }
    let mut response = request.send().await.map_err(|e| {
        let transient = e.is_timeout() || e.is_connect() || e.is_request();
        (fail(Reason::ImageUnreachable, describe(&e)), transient)
    })?;
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED && known.is_some() {
        return Ok(Fetched::NotModified);
    }
    if !status.is_success() {
        let transient = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
        return Err((
            fail(Reason::ImageUnreachable, format!("HTTP {status}")),
            transient,
        ));
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !content_type.is_empty()
        && !content_type.starts_with("image/")
        && !content_type.starts_with("application/octet-stream")
    {
        return Err((
            fail(
                Reason::ImageNotAnImage,
                format!("content type {content_type:?}"),
            ),
            false,
        ));
    }
    if let Some(len) = response.content_length()
        && len > settings.max_bytes
    {
        return Err((
            fail(
                Reason::ImageTooLarge,
                format!("{len} bytes (limit {})", settings.max_bytes),
            ),
            false,
        ));
    }
    let header_str = |name: header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let validators = Validators {
        etag: header_str(header::ETAG),
        last_modified: header_str(header::LAST_MODIFIED),
    };
    let mut bytes = Vec::with_capacity(
        response
            .content_length()
            .unwrap_or(64 * 1024)
            .min(settings.max_bytes) as usize,
    );
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if (bytes.len() + chunk.len()) as u64 > settings.max_bytes {
                    return Err((
                        fail(
                            Reason::ImageTooLarge,
                            format!("over the limit of {} bytes", settings.max_bytes),
                        ),
                        false,
                    ));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                let transient = e.is_timeout() || e.is_body();
                return Err((fail(Reason::ImageUnreachable, describe(&e)), transient));
            }
        }
    }
    if content_type.is_empty() && !looks_like_image(&bytes) {
        return Err((
            fail(
                Reason::ImageNotAnImage,
                "no content type and no image signature",
            ),
            false,
        ));
    }
    Ok(Fetched::Body { bytes, validators })
}

async fn read_file(path: &str, max_bytes: u64) -> Result<Fetched, FetchError> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| fail(Reason::ImageUnreachable, format!("{path}: {e}")))?;
    if meta.len() > max_bytes {
        return Err(fail(
            Reason::ImageTooLarge,
            format!("{} bytes (limit {max_bytes})", meta.len()),
        ));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| fail(Reason::ImageUnreachable, format!("{path}: {e}")))?;
    Ok(Fetched::Body {
        bytes,
        validators: Validators::default(),
    })
}

/// JPEG, PNG, GIF, WebP or BMP magic bytes.
pub fn looks_like_image(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
        || bytes.starts_with(b"\x89PNG")
        || bytes.starts_with(b"GIF8")
        || (bytes.len() > 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP")
        || bytes.starts_with(b"BM")
}

/// An error's chain in one line, without the URL (the report has the row).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}
