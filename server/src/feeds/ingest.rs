//! The ingest pipeline.
//!
//! A blocking thread parses the feed into a bounded channel; the async side
//! validates rows, merges size variants into batches of garments, gets each
//! new garment's image analysed (bounded downloads, one analysis per core),
//! compares with what is stored and writes only what changed, in batched
//! transactions. At the end, garments of the feed that this pull did not
//! mention become unavailable (unless the pull was cut short or empty).
//!
//! Memory stays bounded: the channel, one batch, and two sets of 64-bit
//! hashes (product ids and garment keys seen, ~16 bytes per row).

use std::{
    collections::HashSet,
    hash::{DefaultHasher, Hash, Hasher},
    sync::Arc,
    time::Instant,
};

use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc};

use super::{
    FeedError, FeedFormat,
    analysis::{self, Analysis},
    fetch::{self, FetchSettings},
    images::{self, ImageContext, Outcome},
    map::to_draft,
    parse::{self, Parsed},
    report::{IngestReport, Progress, Reason},
    stored::FeedGarment,
    variants::{Batch, Group, merge_into},
};
use crate::store::Db;

/// How to ingest a feed.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The feed's name: garments are keyed by (feed, product id).
    pub feed: String,
    /// `None`: sniff the format.
    pub format: Option<FeedFormat>,
    /// Fetch and analyse images (only when the build has OpenCV).
    pub images: bool,
    pub fetch: FetchSettings,
    /// Image downloads at once.
    pub fetch_concurrency: usize,
    /// Image analyses at once.
    pub analysis_threads: usize,
    /// Garments compared and written per batch.
    pub batch: usize,
    /// Mark garments this pull does not mention unavailable.
    pub prune: bool,
}

impl IngestOptions {
    pub fn new(feed: impl Into<String>) -> IngestOptions {
        IngestOptions {
            feed: feed.into(),
            format: None,
            images: analysis::ENABLED,
            fetch: FetchSettings::default(),
            fetch_concurrency: 16,
            analysis_threads: std::thread::available_parallelism().map_or(1, usize::from),
            batch: 500,
            prune: true,
        }
    }
}

/// Rows buffered between the parser thread and the writer.
const CHANNEL: usize = 1_024;

fn key_hash(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Ingests the feed at `source` (a path, `file://` or `http(s)://` URL) into `db`.
pub async fn ingest(
    db: &Db,
    source: &str,
    opts: &IngestOptions,
    progress: Arc<Progress>,
) -> Result<IngestReport, FeedError> {
    let started = Instant::now();
    let feed = opts.feed.trim();
    if feed.is_empty() || feed.len() > 128 {
        return Err(FeedError::WrongFormat {
            expected: "a feed name of 1 to 128 bytes",
            detail: format!("got {} bytes", feed.len()),
        });
    }
    let local = super::source::local_copy(source, &progress).await?;
    let file = std::fs::File::open(&local.path).map_err(|e| FeedError::Unreadable {
        source_name: source.to_string(),
        source: e,
    })?;
    if let Ok(meta) = file.metadata() {
        progress
            .bytes_total
            .store(meta.len(), std::sync::atomic::Ordering::Relaxed);
    }
    let format = opts.format;
    let parse_progress = progress.clone();
    let rows = tokio::task::spawn_blocking(move || parse::open(file, format, Some(parse_progress)))
        .await
        .map_err(|e| FeedError::Task(e.to_string()))??;
    let mut report = IngestReport {
        feed: feed.to_string(),
        source: source.to_string(),
        format: Some(rows.format()),
        ..IngestReport::default()
    };
    let images = opts.images && analysis::ENABLED;
    report.images.analysis = if images {
        analysis::status().to_string()
    } else if analysis::ENABLED {
        "off (turned off for this ingest)".to_string()
    } else {
        analysis::status().to_string()
    };
    if !images {
        tracing::warn!(analysis = %report.images.analysis, "image analysis is off");
    }
    let (tx, mut rx) = mpsc::channel::<Parsed>(CHANNEL);
    let parser = tokio::task::spawn_blocking(move || {
        let mut rows = rows;
        for parsed in rows.by_ref() {
            if tx.blocking_send(parsed).is_err() {
                break;
            }
        }
        rows.stopped().map(str::to_owned)
    });
    let mut run = Run {
        db,
        feed,
        opts,
        images: images
            .then(|| image_context(db, source, opts))
            .transpose()?,
        progress: &progress,
        report,
        seen_ids: HashSet::new(),
        seen_keys: HashSet::new(),
        batch: Batch::default(),
    };
    while let Some(parsed) = rx.recv().await {
        run.row(parsed);
        if run.batch.len() > opts.batch.max(1) {
            run.flush(true).await?;
        }
    }
    let stopped = parser.await.map_err(|e| FeedError::Task(e.to_string()))?;
    run.flush(false).await?;
    let mut report = run.report;
    if let Some(why) = &stopped {
        report.truncated = Some(why.clone());
    }
    report.prune_skipped = if !opts.prune {
        Some("pruning turned off".into())
    } else if stopped.is_some() {
        Some("the feed stopped before its end".into())
    } else if report.accepted == 0 {
        Some("no row was accepted".into())
    } else {
        None
    };
    if report.prune_skipped.is_none() {
        let seen = &run.seen_keys;
        report.marked_unavailable = db
            .mark_missing_unavailable(feed, &|key: &str| seen.contains(&key_hash(key)))
            .await?;
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

fn image_context(db: &Db, source: &str, opts: &IngestOptions) -> Result<ImageContext, FeedError> {
    #[cfg(feature = "opencv")]
    analysis::init_thread();
    let client = fetch::client(&opts.fetch).map_err(|e| FeedError::Task(e.to_string()))?;
    let mut settings = opts.fetch.clone();
    // a feed from elsewhere must not make us read this machine's files
    settings.allow_files &= !(source.starts_with("http://") || source.starts_with("https://"));
    Ok(ImageContext {
        db: db.clone(),
        client,
        settings,
        downloads: Arc::new(Semaphore::new(opts.fetch_concurrency.max(1))),
        analyses: Arc::new(Semaphore::new(opts.analysis_threads.max(1))),
    })
}

/// The state of one ingest.
struct Run<'a> {
    db: &'a Db,
    feed: &'a str,
    opts: &'a IngestOptions,
    images: Option<ImageContext>,
    progress: &'a Progress,
    report: IngestReport,
    /// Product ids seen (duplicates are rejected).
    seen_ids: HashSet<u64>,
    /// Garment keys seen (the rest of the feed's garments are missing).
    seen_keys: HashSet<u64>,
    batch: Batch,
}

impl Run<'_> {
    fn reject(
        &mut self,
        pos: super::report::RowPos,
        id: Option<&str>,
        reason: Reason,
        detail: String,
    ) {
        self.report.rejected += 1;
        Progress::add(&self.progress.rejected, 1);
        self.report.issue(pos, id, reason, detail);
    }

    fn row(&mut self, parsed: Parsed) {
        self.report.rows += 1;
        Progress::add(&self.progress.rows, 1);
        let (pos, item) = match parsed {
            Parsed::Bad {
                pos,
                id,
                reason,
                detail,
            } => return self.reject(pos, id.as_deref(), reason, detail),
            Parsed::Item(pos, item) => (pos, item),
        };
        if !item.id.is_empty() && !self.seen_ids.insert(key_hash(&item.id)) {
            let detail = format!("product id {:?} appeared earlier in the feed", item.id);
            return self.reject(pos, Some(&item.id), Reason::DuplicateId, detail);
        }
        match to_draft(pos, &item) {
            Err((reason, detail)) => self.reject(pos, Some(&item.id), reason, detail),
            Ok(mut draft) => {
                if let Some((reason, detail)) = draft.warning.take() {
                    self.report.issue(pos, Some(&item.id), reason, detail);
                }
                self.report.accepted += 1;
                let hash = key_hash(&draft.key);
                let continues = !self.batch.contains(&draft.key) && self.seen_keys.contains(&hash);
                self.seen_keys.insert(hash);
                self.batch.add(draft, continues);
            }
        }
    }

    /// Writes the batch; with `hold_last` the last group stays for its next variants.
    async fn flush(&mut self, hold_last: bool) -> Result<(), FeedError> {
        let mut groups = self.batch.take();
        if hold_last && let Some(last) = groups.pop() {
            self.batch.add_group(last);
        }
        if groups.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = groups.iter().map(|g| g.first.key.as_str()).collect();
        let stored = self.db.feed_garments(self.feed, &keys).await?;
        let outcomes: Vec<Outcome> = match &self.images {
            Some(ctx) => {
                let jobs: Vec<_> = groups
                    .iter()
                    .map(|g| {
                        let skip = g.continues && stored.contains_key(&g.first.key);
                        image_job(ctx, g, skip, self.progress)
                    })
                    .collect();
                futures::stream::iter(jobs)
                    .buffered(self.opts.fetch_concurrency.max(1))
                    .collect()
                    .await
            }
            None => vec![Outcome::Off; groups.len()],
        };
        let mut writes = Vec::new();
        for (group, outcome) in groups.iter().zip(outcomes) {
            let image_failed = matches!(outcome, Outcome::Failed(..));
            let analysis = self.account(group, outcome);
            let mut fresh = to_feed_garment(group, analysis.as_ref());
            let old = stored.get(&group.first.key);
            // a failed download says nothing new about the picture: keep what was analysed
            if image_failed && let Some(old) = old {
                fresh.garment.colors = old.garment.colors.clone();
                fresh.garment.pattern = old.garment.pattern;
            }
            if group.continues
                && let Some(old) = old
            {
                let mut merged = old.clone();
                merged.garment = merge_into(&old.garment, &fresh.garment);
                if merged.differs_from(old) {
                    writes.push(merged);
                }
                continue;
            }
            self.report.garments += 1;
            match old {
                Some(old) if !fresh.differs_from(old) => self.report.unchanged += 1,
                Some(_) => {
                    self.report.updated += 1;
                    writes.push(fresh);
                }
                None => {
                    self.report.inserted += 1;
                    writes.push(fresh);
                }
            }
        }
        let written = self.db.upsert_feed_garments(self.feed, &writes).await?;
        Progress::add(&self.progress.garments_written, written);
        Ok(())
    }

    /// Counts an image outcome; the analysis when there is one.
    fn account(&mut self, group: &Group, outcome: Outcome) -> Option<Analysis> {
        match outcome {
            Outcome::Analysed(a) => {
                self.report.images.analysed += 1;
                Some(a)
            }
            Outcome::Cached(a) => {
                self.report.images.cached += 1;
                Some(a)
            }
            Outcome::Failed(reason, detail) => {
                self.report.images.failed += 1;
                self.report
                    .issue(group.first.pos, Some(&group.first.id), reason, detail);
                None
            }
            Outcome::Off => None,
        }
    }
}

/// The image outcome of one group (skipped for a later part of a stored group).
async fn image_job(ctx: &ImageContext, group: &Group, skip: bool, progress: &Progress) -> Outcome {
    if skip {
        return Outcome::Off;
    }
    let mut urls = vec![group.first.image_url.as_str()];
    urls.extend(group.first.alt_images.iter().map(String::as_str));
    let outcome = images::process(ctx, &urls).await;
    Progress::add(&progress.images_done, 1);
    outcome
}

fn to_feed_garment(group: &Group, analysis: Option<&Analysis>) -> FeedGarment {
    let garment = match analysis {
        Some(a) if !a.colors.is_empty() => group.garment(a.labs(), Some(a.pattern)),
        _ => group.garment(group.first.feed_colors.clone(), None),
    };
    FeedGarment {
        external_id: group.first.key.clone(),
        garment,
        product_url: group.first.link.clone(),
        description: group.first.description.clone(),
    }
}
