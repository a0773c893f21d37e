//! Admission control: the server never accepts work it cannot finish in time.
//!
//! Requests take one of `max_inflight` execution slots. With none free they
//! may wait in a bounded queue for at most `queue_timeout`; past either bound
//! they are shed at once with `503`, `Retry-After` and a JSON body the app can
//! show. Every admitted request runs under a deadline counted from arrival; a
//! request past it is cancelled and answered `503` too. No request is left
//! without an answer, which is what the original server failed at.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tokio::sync::Semaphore;

use crate::{config::OverloadSettings, telemetry::Metrics};

/// Why a request was shed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShedReason {
    /// The wait queue was full.
    QueueFull,
    /// No execution slot freed up within the queue timeout.
    QueueTimeout,
    /// The request did not finish within its deadline.
    Deadline,
    /// No database connection freed up within the acquire timeout.
    PoolTimeout,
    /// The database's locks stayed taken past the busy timeout.
    DbBusy,
}

impl ShedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ShedReason::QueueFull => "queue_full",
            ShedReason::QueueTimeout => "queue_timeout",
            ShedReason::Deadline => "deadline",
            ShedReason::PoolTimeout => "pool_timeout",
            ShedReason::DbBusy => "db_busy",
        }
    }
}

/// The admission controller shared by all requests.
#[derive(Debug)]
pub struct Admission {
    slots: Semaphore,
    queued: AtomicUsize,
    max_queue: usize,
    queue_timeout: Duration,
    deadline: Duration,
    retry_after_s: u64,
    metrics: Arc<Metrics>,
    started: Instant,
    /// Milliseconds since `started` of the last shed, or -1.
    last_shed_ms: AtomicI64,
}

impl Admission {
    pub fn new(settings: &OverloadSettings, metrics: Arc<Metrics>) -> Arc<Admission> {
        Arc::new(Admission {
            slots: Semaphore::new(settings.max_inflight),
            queued: AtomicUsize::new(0),
            max_queue: settings.max_queue,
            queue_timeout: Duration::from_millis(settings.queue_timeout_ms),
            deadline: Duration::from_millis(settings.request_deadline_ms),
            retry_after_s: settings.retry_after_s,
            metrics,
            started: Instant::now(),
            last_shed_ms: AtomicI64::new(-1),
        })
    }

    /// Whether anything was shed within `window`.
    pub fn shed_recently(&self, window: Duration) -> bool {
        let last = self.last_shed_ms.load(Ordering::Relaxed);
        last >= 0 && (self.started.elapsed().as_millis() as i64 - last) <= window.as_millis() as i64
    }

    /// Builds a shed answer (counted in `http_shed_total` where responses are recorded).
    pub fn shed(&self, reason: ShedReason) -> Response {
        self.last_shed_ms
            .store(self.started.elapsed().as_millis() as i64, Ordering::Relaxed);
        overloaded_response(reason, self.retry_after_s)
    }
}

/// Marks a response as shed, so the request recorder counts it under its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shed(pub ShedReason);

/// The contract's `503`: `Retry-After` plus `{"error","message","retry_after_s"}`.
pub fn overloaded_response(reason: ShedReason, retry_after_s: u64) -> Response {
    let (code, message) = match reason {
        ShedReason::Deadline => (
            "deadline_exceeded",
            "This took too long on our side. Please try again in a few seconds.",
        ),
        _ => (
            "overloaded",
            "We're very busy right now. Please try again in a few seconds.",
        ),
    };
    let body = serde_json::json!({
        "error": code,
        "message": message,
        "retry_after_s": retry_after_s,
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
    response.extensions_mut().insert(Shed(reason));
    response
}

/// Middleware: admit, queue briefly, or shed; then enforce the deadline.
pub async fn admit(State(admission): State<Arc<Admission>>, req: Request, next: Next) -> Response {
    let arrived = Instant::now();
    let permit = match admission.slots.try_acquire() {
        Ok(permit) => permit,
        Err(_) => {
            // bounded queue: count ourselves in, or shed if it is full
            let before = admission.queued.fetch_add(1, Ordering::AcqRel);
            if before >= admission.max_queue {
                admission.queued.fetch_sub(1, Ordering::AcqRel);
                return admission.shed(ShedReason::QueueFull);
            }
            let waited =
                tokio::time::timeout(admission.queue_timeout, admission.slots.acquire()).await;
            admission.queued.fetch_sub(1, Ordering::AcqRel);
            match waited {
                Ok(Ok(permit)) => permit,
                // the semaphore is never closed; treat it like a timeout anyway
                Ok(Err(_)) | Err(_) => return admission.shed(ShedReason::QueueTimeout),
            }
        }
    };
    let inflight = Inflight::enter(&admission.metrics);
    let remaining = admission.deadline.saturating_sub(arrived.elapsed());
    let result = tokio::time::timeout(remaining, next.run(req)).await;
    drop(inflight);
    drop(permit);
    match result {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                deadline_ms = admission.deadline.as_millis() as u64,
                "request cancelled at its deadline"
            );
            admission.shed(ShedReason::Deadline)
        }
    }
}

/// Counts an executing request in `http_inflight_requests`, also when the
/// client goes away and the request future is dropped.
struct Inflight<'a>(&'a Metrics);

impl<'a> Inflight<'a> {
    fn enter(metrics: &'a Metrics) -> Inflight<'a> {
        metrics.http_inflight.inc();
        Inflight(metrics)
    }
}

impl Drop for Inflight<'_> {
    fn drop(&mut self) {
        self.0.http_inflight.dec();
    }
}
