//! A feed source (a path, a `file://` URL or an `http(s)://` URL) as a local
//! file: URLs are streamed to a temporary file, which goes when dropped, so
//! a feed of any size never sits in memory.

use std::{path::PathBuf, sync::atomic::Ordering, time::Duration};

use tokio::io::AsyncWriteExt;

use super::{FeedError, report::Progress};

/// A local copy of a feed; for downloads the temporary file lives as long as this.
#[derive(Debug)]
pub struct LocalFeed {
    pub path: PathBuf,
    _temp: Option<tempfile::TempPath>,
}

impl std::ops::Deref for LocalFeed {
    type Target = PathBuf;

    fn deref(&self) -> &PathBuf {
        &self.path
    }
}

/// The feed at `source` as a local file.
pub async fn local_copy(source: &str, progress: &Progress) -> Result<LocalFeed, FeedError> {
    if source.starts_with("http://") || source.starts_with("https://") {
        return download(source, progress).await;
    }
    let path = source.strip_prefix("file://").unwrap_or(source);
    Ok(LocalFeed {
        path: PathBuf::from(path),
        _temp: None,
    })
}

async fn download(url: &str, progress: &Progress) -> Result<LocalFeed, FeedError> {
    let fail = |detail: String| FeedError::Download {
        url: url.to_string(),
        detail,
    };
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("spikeproof-feeds/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP {}", response.status())));
    }
    if let Some(len) = response.content_length() {
        progress.bytes_total.store(len, Ordering::Relaxed);
    }
    let temp = tempfile::NamedTempFile::new()
        .map_err(|e| fail(format!("cannot create a temporary file: {e}")))?
        .into_temp_path();
    let mut file = tokio::fs::File::create(&temp)
        .await
        .map_err(|e| fail(format!("cannot write the temporary file: {e}")))?;
    while let Some(chunk) = response.chunk().await.map_err(|e| fail(e.to_string()))? {
        file.write_all(&chunk)
            .await
            .map_err(|e| fail(format!("cannot write the temporary file: {e}")))?;
    }
    file.flush()
        .await
        .map_err(|e| fail(format!("cannot write the temporary file: {e}")))?;
    Ok(LocalFeed {
        path: temp.to_path_buf(),
        _temp: Some(temp),
    })
}
