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

use axum::{Extension, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppError, AppJson, AppPath, AppState, ErrorBody, admin::Admin};
use crate::feeds::{self, FeedFormat, IngestOptions, IngestReport, Progress, report::ProgressView};

/// Finished ingests kept for `GET`.
const KEPT: usize = 16;

/// The routes, with their own job list.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, start))
        .routes(routes!(show))
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = IngestState)]
enum JobState {
    Running,
    Finished,
    Failed,
}

/// An ingest and how far it got.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Ingest)]
pub(super) struct JobView {
    id: u64,
    feed: String,
    source: String,
    state: JobState,
    /// Rows read, written and rejected so far.
    #[schema(value_type = Object)]
    progress: ProgressView,
    /// The final report, once finished (only from `GET /admin/ingests/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
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

/// An ingest to start.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewIngest {
    /// A path on the server, a `file://` or an `http(s)://` URL.
    source: String,
    /// The feed's name; one ingest per feed runs at a time.
    feed: String,
    /// `auto` (default), `google-xml`, `google-tsv` or `awin-csv`.
    format: Option<String>,
    /// Fetch and analyse images (default: when the build can).
    images: Option<bool>,
    /// Mark garments the pull does not mention unavailable (default: yes).
    prune: Option<bool>,
}

/// A started ingest.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = IngestStarted)]
pub(super) struct Started {
    id: u64,
    status_url: String,
}

/// Starts an ingest.
#[utoipa::path(
    post,
    path = "/admin/ingests",
    tag = "admin",
    security(("admin_token" = [])),
    request_body = NewIngest,
    responses(
        (status = 202, description = "Started; poll `status_url`", body = Started),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 409, description = "An ingest of this feed is running", body = ErrorBody),
        (status = 413, description = "The body is larger than the limit", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "The request is not valid", body = ErrorBody),
    ),
)]
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
#[utoipa::path(
    get,
    path = "/admin/ingests/{id}",
    tag = "admin",
    security(("admin_token" = [])),
    params(("id" = u64, Path, description = "The ingest's id")),
    responses(
        (status = 200, description = "The ingest", body = JobView),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such ingest (only the latest are kept)", body = ErrorBody),
    ),
)]
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

/// Recent ingests.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = IngestList)]
pub(super) struct JobList {
    ingests: Vec<JobView>,
}

/// Recent ingests, without their reports.
#[utoipa::path(
    get,
    path = "/admin/ingests",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Recent ingests", body = JobList),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
    ),
)]
pub(super) async fn list(
    _admin: Admin,
    Extension(jobs): Extension<Arc<Jobs>>,
) -> Result<AppJson<JobList>, AppError> {
    let list = jobs.list();
    Ok(AppJson(JobList {
        ingests: list.iter().map(|j| j.view(false)).collect(),
    }))
}
