//! Admin feed ingest (present only with an admin token):
//! `POST /admin/ingests` starts an ingest in the background and answers
//! `202` with its id; `GET /admin/ingests/{id}` shows its progress and, once
//! it is done, its report; `GET /admin/ingests` lists the recent ones.
//! One ingest per feed runs at a time.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{Extension, Router, extract::State, http::StatusCode, routing::get};
use serde::{Deserialize, Serialize};

use super::{AppError, AppJson, AppPath, AppState, admin::Admin};
use crate::feeds::{self, FeedFormat, IngestOptions, IngestReport, Progress, report::ProgressView};

/// Finished ingests kept for `GET`.
const KEPT: usize = 16;

/// The routes, with their own job list.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/ingests", get(list).post(start))
        .route("/admin/ingests/{id}", get(show))
        .layer(Extension(Arc::new(Jobs::default())))
}

#[derive(Debug, Default)]
pub(super) struct Jobs {
    next_id: AtomicU64,
    jobs: Mutex<VecDeque<Arc<Job>>>,
}

impl Jobs {
    /// The job list; a panic elsewhere cannot leave it inconsistent.
    fn list(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Job>>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug)]
struct Job {
    id: u64,
    feed: String,
    source: String,
    progress: Arc<Progress>,
    outcome: Mutex<Option<Result<IngestReport, String>>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum JobState {
    Running,
    Finished,
    Failed,
}

#[derive(Debug, Serialize)]
pub(super) struct JobView {
    id: u64,
    feed: String,
    source: String,
    state: JobState,
    progress: ProgressView,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<IngestReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Job {
    fn view(&self, with_report: bool) -> JobView {
        let outcome = self.outcome.lock().map(|o| o.clone()).unwrap_or(None);
        let (state, report, error) = match outcome {
            None => (JobState::Running, None, None),
            Some(Ok(r)) => (JobState::Finished, with_report.then_some(r), None),
            Some(Err(e)) => (JobState::Failed, None, Some(e)),
        };
        JobView {
            id: self.id,
            feed: self.feed.clone(),
            source: self.source.clone(),
            state,
            progress: self.progress.view(),
            report,
            error,
        }
    }

    fn running(&self) -> bool {
        self.outcome.lock().map(|o| o.is_none()).unwrap_or(false)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewIngest {
    /// A path on the server, a `file://` or an `http(s)://` URL.
    source: String,
    feed: String,
    format: Option<String>,
    /// Fetch and analyse images (default: when the build can).
    images: Option<bool>,
    /// Mark garments the pull does not mention unavailable (default: yes).
    prune: Option<bool>,
}

#[derive(Debug, Serialize)]
pub(super) struct Started {
    id: u64,
    status_url: String,
}

/// Starts an ingest.
#[tracing::instrument(skip_all, fields(feed = %new.feed))]
pub(super) async fn start(
    State(state): State<AppState>,
    _admin: Admin,
    Extension(jobs): Extension<Arc<Jobs>>,
    AppJson(new): AppJson<NewIngest>,
) -> Result<(StatusCode, AppJson<Started>), AppError> {
    let format = match new.format.as_deref() {
        None | Some("auto") => None,
        Some(f) => Some(FeedFormat::parse(f).ok_or_else(|| {
            AppError::unprocessable(
                "invalid_format",
                "format is one of auto, google-xml, google-tsv, awin-csv",
            )
        })?),
    };
    if new.source.trim().is_empty() || new.feed.trim().is_empty() {
        return Err(AppError::unprocessable(
            "invalid_ingest",
            "source and feed must not be empty",
        ));
    }
    let mut opts = IngestOptions::new(new.feed.trim());
    opts.format = format;
    opts.images &= new.images.unwrap_or(true);
    opts.prune = new.prune.unwrap_or(true);
    let job = {
        let mut list = jobs.list();
        if list.iter().any(|j| j.feed == opts.feed && j.running()) {
            return Err(AppError::conflict(
                "ingest_running",
                "an ingest of this feed is running",
            ));
        }
        let job = Arc::new(Job {
            id: jobs.next_id.fetch_add(1, Ordering::Relaxed) + 1,
            feed: opts.feed.clone(),
            source: new.source.clone(),
            progress: Arc::new(Progress::default()),
            outcome: Mutex::new(None),
        });
        list.push_back(job.clone());
        while list.len() > KEPT {
            match list.iter().position(|j| !j.running()) {
                Some(i) => {
                    list.remove(i);
                }
                None => break,
            }
        }
        job
    };
    let db = state.db.clone();
    let task_job = job.clone();
    tokio::spawn(async move {
        let source = task_job.source.clone();
        let progress = task_job.progress.clone();
        // its own task, so a panic ends this job as failed instead of "running" forever
        let run = tokio::spawn(async move { feeds::ingest(&db, &source, &opts, progress).await });
        let outcome = match run.await {
            Ok(result) => result.map_err(|e| format!("{:#}", anyhow::Error::from(e))),
            Err(e) => Err(format!("the ingest stopped unexpectedly: {e}")),
        };
        match &outcome {
            Ok(r) => {
                tracing::info!(feed = %r.feed, rows = r.rows, rejected = r.rejected, "ingest finished")
            }
            Err(e) => tracing::warn!(error = %e, "ingest failed"),
        }
        *task_job.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
    });
    Ok((
        StatusCode::ACCEPTED,
        AppJson(Started {
            id: job.id,
            status_url: format!("/admin/ingests/{}", job.id),
        }),
    ))
}

/// One ingest, with its report once done.
pub(super) async fn show(
    _admin: Admin,
    Extension(jobs): Extension<Arc<Jobs>>,
    AppPath(id): AppPath<u64>,
) -> Result<AppJson<JobView>, AppError> {
    let list = jobs.list();
    list.iter()
        .find(|j| j.id == id)
        .map(|j| AppJson(j.view(true)))
        .ok_or(AppError::NotFound("ingest"))
}

#[derive(Debug, Serialize)]
pub(super) struct JobList {
    ingests: Vec<JobView>,
}

/// Recent ingests, without their reports.
pub(super) async fn list(
    _admin: Admin,
    Extension(jobs): Extension<Arc<Jobs>>,
) -> Result<AppJson<JobList>, AppError> {
    let list = jobs.list();
    Ok(AppJson(JobList {
        ingests: list.iter().map(|j| j.view(false)).collect(),
    }))
}
