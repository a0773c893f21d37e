//! Admission control: the server never accepts work it cannot finish in time.
//!
//! Requests take one of `max_inflight` execution slots. With none free they
//! may wait in a bounded queue for at most `queue_timeout`; past either bound
//! they are shed at once with `503`, `Retry-After` and a JSON body the app can
//! show. Every admitted request runs under a deadline counted from arrival; a
//! request past it is cancelled and answered `503` too. No request is left
//! without an answer, which is what the original server failed at.
//!
//! The queue is bounded twice: by `max_queue`, and by what the completion
//! rate can admit within `queue_timeout` (in a FIFO queue the k-th waiter
//! gets a slot after about k / rate, so a request queued beyond that bound
//! would only wait out the timeout and be shed anyway). A request that finds
//! every slot taken and the queue at its bound is shed at the door
//! ([`Admission::shed_at_door`]), before routing, tracing and JSON: under ten
//! times the load a server can serve, nine requests in ten are shed, and what
//! each shed costs comes out of the CPU the admitted work needs.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus::{Histogram, IntCounter};
use tokio::sync::{Semaphore, SemaphorePermit};

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
    /// The queue bound the completion rate allows (see the module's docs).
    queue_bound: AtomicUsize,
    /// Start (ms since `started`) and completions of the current rate window.
    window_start_ms: AtomicU64,
    window_done: AtomicU64,
    door: Door,
}

/// What a shed at the door needs, prepared once: the body, and the metric
/// handles (a labelled lookup per shed would cost what the door saves).
#[derive(Debug)]
struct Door {
    body: Bytes,
    shed: IntCounter,
    answered: IntCounter,
    duration: Histogram,
}

/// The `route` label of requests shed at the door, before routing.
pub const DOOR_ROUTE: &str = "door";

/// How often the completion rate, and so the queue bound, is re-estimated.
const RATE_WINDOW_MS: u64 = 100;

impl Admission {
    pub fn new(settings: &OverloadSettings, metrics: Arc<Metrics>) -> Arc<Admission> {
        Arc::new(Admission {
            slots: Semaphore::new(settings.max_inflight),
            queued: AtomicUsize::new(0),
            max_queue: settings.max_queue,
            queue_timeout: Duration::from_millis(settings.queue_timeout_ms),
            deadline: Duration::from_millis(settings.request_deadline_ms),
            retry_after_s: settings.retry_after_s,
            door: Door {
                body: Bytes::from(shed_body(ShedReason::QueueFull, settings.retry_after_s)),
                shed: metrics
                    .http_shed
                    .with_label_values(&[ShedReason::QueueFull.as_str()]),
                answered: metrics
                    .http_requests
                    .with_label_values(&[DOOR_ROUTE, "503"]),
                duration: metrics.http_shed_duration.clone(),
            },
            metrics,
            started: Instant::now(),
            last_shed_ms: AtomicI64::new(-1),
            queue_bound: AtomicUsize::new(settings.max_queue),
            window_start_ms: AtomicU64::new(0),
            window_done: AtomicU64::new(0),
        })
    }

    /// The queue's current bound: `max_queue`, or less while the completion
    /// rate cannot admit that many within the queue timeout.
    pub fn queue_bound(&self) -> usize {
        self.queue_bound.load(Ordering::Relaxed)
    }

    /// Sheds a request for an admitted route at once, before routing, when
    /// every slot is taken and the queue is at its bound: admission would
    /// shed it as `queue_full` anyway. Monitoring routes never stop here.
    /// Answers the same contract `503`, counted under `route="door"`.
    pub fn shed_at_door(&self, path: &str) -> Option<Response> {
        if !admitted_path(path)
            || self.slots.available_permits() > 0
            || self.queued.load(Ordering::Acquire) < self.queue_bound()
        {
            return None;
        }
        let started = Instant::now();
        self.last_shed_ms
            .store(self.started.elapsed().as_millis() as i64, Ordering::Relaxed);
        let mut response = Response::new(Body::from(self.door.body.clone()));
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::RETRY_AFTER, HeaderValue::from(self.retry_after_s));
        response
            .extensions_mut()
            .insert(Shed(ShedReason::QueueFull));
        self.door.shed.inc();
        self.door.answered.inc();
        self.door.duration.observe(started.elapsed().as_secs_f64());
        Some(response)
    }

    /// Counts an admitted request's completion and, once per window,
    /// re-estimates the queue bound from the completion rate.
    fn completed(&self) {
        let done = self.window_done.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.started.elapsed().as_millis() as u64;
        let start = self.window_start_ms.load(Ordering::Relaxed);
        let span = now.saturating_sub(start);
        if span < RATE_WINDOW_MS
            || self
                .window_start_ms
                .compare_exchange(start, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        // completions racing this reset are lost to the estimate, not to anyone
        self.window_done.store(0, Ordering::Relaxed);
        let bound = queue_bound(
            done,
            span,
            self.queue_timeout.as_millis() as u64,
            self.max_queue,
        );
        self.queue_bound.store(bound, Ordering::Relaxed);
    }

    /// Whether anything was shed within `window`.
    pub fn shed_recently(&self, window: Duration) -> bool {
        let last = self.last_shed_ms.load(Ordering::Relaxed);
        last >= 0 && (self.started.elapsed().as_millis() as i64 - last) <= window.as_millis() as i64
    }

    /// The metrics admission reports to (the accept loop counts connections there too).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Takes an execution slot, waiting in the bounded queue for at most
    /// `queue_timeout` when none is free. Dropping the future (a client that
    /// hangs up while queued) gives its place in the queue back.
    async fn wait_for_slot(&self) -> Result<SemaphorePermit<'_>, ShedReason> {
        if let Ok(permit) = self.slots.try_acquire() {
            return Ok(permit);
        }
        let seat = QueueSeat::take(self).ok_or(ShedReason::QueueFull)?;
        let waited = tokio::time::timeout(self.queue_timeout, self.slots.acquire()).await;
        drop(seat);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            // the semaphore is never closed; treat it like a timeout anyway
            Ok(Err(_)) | Err(_) => Err(ShedReason::QueueTimeout),
        }
    }

    /// Builds a shed answer (counted in `http_shed_total` where responses are recorded).
    pub fn shed(&self, reason: ShedReason) -> Response {
        self.last_shed_ms
            .store(self.started.elapsed().as_millis() as i64, Ordering::Relaxed);
        overloaded_response(reason, self.retry_after_s)
    }
}

/// Whether a path is served behind admission (everything but monitoring,
/// the OpenAPI document and the admin routes).
pub fn admitted_path(path: &str) -> bool {
    path.starts_with("/v1/") || path == "/readyz"
}

/// The queue bound for `done` completions in `span_ms`: as many waiters as
/// that rate admits within `queue_timeout_ms`, at least 1, at most
/// `max_queue`. A window longer than four rate windows followed a quiet
/// spell and says nothing about capacity: `max_queue` again.
fn queue_bound(done: u64, span_ms: u64, queue_timeout_ms: u64, max_queue: usize) -> usize {
    if span_ms == 0 || span_ms > 4 * RATE_WINDOW_MS {
        return max_queue;
    }
    let admissible = (done.saturating_mul(queue_timeout_ms)).div_ceil(span_ms);
    usize::try_from(admissible)
        .unwrap_or(usize::MAX)
        .max(1)
        .min(max_queue)
}

/// Marks a response as shed, so the request recorder counts it under its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shed(pub ShedReason);

/// The contract's `503`: `Retry-After` plus `{"error","message","retry_after_s"}`.
pub fn overloaded_response(reason: ShedReason, retry_after_s: u64) -> Response {
    let (code, message) = shed_text(reason);
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

/// The `error` code and the message the app can show, for `reason`.
fn shed_text(reason: ShedReason) -> (&'static str, &'static str) {
    match reason {
        ShedReason::Deadline => (
            "deadline_exceeded",
            "This took too long on our side. Please try again in a few seconds.",
        ),
        _ => (
            "overloaded",
            "We're very busy right now. Please try again in a few seconds.",
        ),
    }
}

/// The contract's JSON body for `reason`, serialised.
fn shed_body(reason: ShedReason, retry_after_s: u64) -> Vec<u8> {
    let (code, message) = shed_text(reason);
    serde_json::to_vec(&serde_json::json!({
        "error": code,
        "message": message,
        "retry_after_s": retry_after_s,
    }))
    .unwrap_or_default()
}

/// Middleware: admit, queue briefly, or shed; then enforce the deadline.
pub async fn admit(State(admission): State<Arc<Admission>>, req: Request, next: Next) -> Response {
    let arrived = Instant::now();
    let permit = match admission.wait_for_slot().await {
        Ok(permit) => permit,
        Err(reason) => return admission.shed(reason),
    };
    let inflight = Inflight::enter(&admission.metrics);
    let remaining = admission.deadline.saturating_sub(arrived.elapsed());
    let result = tokio::time::timeout(remaining, next.run(req)).await;
    drop(inflight);
    drop(permit);
    admission.completed();
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

/// A place in the wait queue, counted in `queued` and `http_queue_depth`
/// while it lives. Giving it back on drop matters: when a client hangs up,
/// hyper drops the waiting request, and a count given back only after the
/// wait would stay up for good, until every busy moment shed at the door.
struct QueueSeat<'a>(&'a Admission);

impl<'a> QueueSeat<'a> {
    /// Takes a seat, or `None` when the queue is at its bound.
    fn take(admission: &'a Admission) -> Option<QueueSeat<'a>> {
        let before = admission.queued.fetch_add(1, Ordering::AcqRel);
        if before >= admission.queue_bound() {
            admission.queued.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        admission.metrics.http_queue_depth.inc();
        Some(QueueSeat(admission))
    }
}

impl Drop for QueueSeat<'_> {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::AcqRel);
        self.0.metrics.http_queue_depth.dec();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clients_that_hang_up_while_queued_give_their_place_back() {
        const HANG_UPS: usize = 40;
        let settings = OverloadSettings {
            max_inflight: 1,
            max_queue: HANG_UPS,
            queue_timeout_ms: 10_000,
            ..OverloadSettings::default()
        };
        let metrics = Metrics::new();
        let admission = Admission::new(&settings, metrics.clone());
        let held = admission.slots.try_acquire().expect("the one slot");
        let mut waiting: Vec<_> = (0..HANG_UPS)
            .map(|_| Box::pin(admission.wait_for_slot()))
            .collect();
        for wait in &mut waiting {
            assert!(futures::poll!(wait.as_mut()).is_pending(), "queued");
        }
        assert_eq!(admission.queued.load(Ordering::Acquire), HANG_UPS);
        assert_eq!(metrics.http_queue_depth.get(), HANG_UPS as i64);
        // every client hangs up: hyper drops their request futures
        drop(waiting);
        assert_eq!(admission.queued.load(Ordering::Acquire), 0);
        assert_eq!(metrics.http_queue_depth.get(), 0);
        // the next request, slot still taken, waits in the queue instead of being shed
        let mut next = Box::pin(admission.wait_for_slot());
        assert!(
            futures::poll!(next.as_mut()).is_pending(),
            "queued, not shed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(futures::poll!(next.as_mut()).is_pending(), "still waiting");
        assert_eq!(metrics.http_queue_depth.get(), 1);
        drop(held);
        let permit = tokio::time::timeout(Duration::from_secs(1), next)
            .await
            .expect("a slot within the timeout");
        assert!(permit.is_ok(), "the freed slot, not a shed");
        assert_eq!(metrics.http_queue_depth.get(), 0);
    }

    #[test]
    fn the_queue_holds_what_the_completion_rate_admits_within_the_timeout() {
        // 260 completions a second, a 25 ms queue timeout: 6.5 waiters, rounded up
        assert_eq!(queue_bound(26, 100, 25, 128), 7);
        // never more than configured
        assert_eq!(queue_bound(10_000, 100, 25, 128), 128);
        // never less than one waiter, even when nothing completed
        assert_eq!(queue_bound(0, 100, 25, 128), 1);
        // a configured bound of zero stays zero
        assert_eq!(queue_bound(26, 100, 25, 0), 0);
    }

    #[test]
    fn a_window_after_a_quiet_spell_restores_the_configured_bound() {
        assert_eq!(queue_bound(1, 10_000, 25, 128), 128);
        assert_eq!(queue_bound(1, 0, 25, 128), 128);
    }

    #[test]
    fn monitoring_and_admin_routes_never_stop_at_the_door() {
        for path in ["/v1/outfits", "/v1/garments/12", "/readyz"] {
            assert!(admitted_path(path), "{path}");
        }
        for path in [
            "/healthz",
            "/metrics",
            "/openapi.json",
            "/admin/chaos/faults",
        ] {
            assert!(!admitted_path(path), "{path}");
        }
    }

    #[test]
    fn the_door_answers_the_contract_only_when_admission_is_full() {
        let settings = OverloadSettings {
            max_inflight: 1,
            max_queue: 0,
            ..OverloadSettings::default()
        };
        let metrics = Metrics::new();
        let admission = Admission::new(&settings, metrics.clone());
        assert!(
            admission.shed_at_door("/v1/outfits").is_none(),
            "a slot is free"
        );
        let _held = admission.slots.try_acquire().expect("the one slot");
        assert!(admission.shed_at_door("/healthz").is_none());
        let shed = admission.shed_at_door("/v1/outfits").expect("shed");
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.headers()[header::RETRY_AFTER], "2");
        assert_eq!(
            shed.extensions().get::<Shed>(),
            Some(&Shed(ShedReason::QueueFull))
        );
        let body: serde_json::Value =
            serde_json::from_slice(&admission.door.body).expect("JSON body");
        assert_eq!(body["error"], "overloaded");
        assert_eq!(body["retry_after_s"], settings.retry_after_s);
        assert_eq!(
            metrics.http_shed.with_label_values(&["queue_full"]).get(),
            1
        );
        assert_eq!(
            metrics
                .http_requests
                .with_label_values(&[DOOR_ROUTE, "503"])
                .get(),
            1
        );
    }
}
