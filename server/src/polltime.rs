//! Poll timing: how long each `poll` of a request's handler holds its worker.
//!
//! A handler that blocks (a `std::thread::sleep`, a synchronous file read, a
//! CPU loop) stalls every task queued behind it on that worker thread; tokio
//! does not see it, and the request histogram only says that requests got
//! slow. Timing every poll names the route that blocks:
//! `http_poll_duration_seconds{route}` has each poll,
//! `http_request_max_poll_seconds{route}` the longest poll of each request,
//! counted also when the request is cancelled.
//!
//! The lag probe ([`spawn_lag_probe`]) shows the same stall from outside:
//! how late a 10 ms sleep wakes, in `tokio_scheduler_lag_seconds`.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use prometheus::Histogram;
use tokio::task::JoinHandle;

use crate::telemetry::Metrics;

/// Buckets of the poll and lag histograms: 50 µs (an ordinary poll) up to a
/// second, finest between 1 and 10 ms, where a blocking call usually lands.
pub const POLL_BUCKETS: [f64; 15] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1,
    0.25, 1.0,
];

/// How long the lag probe sleeps each round.
const PROBE_PERIOD: Duration = Duration::from_millis(10);

pin_project_lite::pin_project! {
    /// A future whose every poll is timed: two clock reads and one histogram
    /// observation per poll, the inner future pinned in place (no allocation).
    #[derive(Debug)]
    pub struct PollTimed<F> {
        // pinned in place: no allocation per request
        #[pin]
        inner: F,
        polls: Histogram,
        // taken when the longest poll is observed, so it is observed once
        longest_poll: Option<Histogram>,
        longest: Option<Duration>,
    }

    impl<F> PinnedDrop for PollTimed<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            finish(this.longest_poll, *this.longest);
        }
    }
}

impl<F> PollTimed<F> {
    /// Times `inner`'s polls into `polls`, and its longest poll into `longest_poll`.
    pub fn new(inner: F, polls: Histogram, longest_poll: Histogram) -> PollTimed<F> {
        PollTimed {
            inner,
            polls,
            longest_poll: Some(longest_poll),
            longest: None,
        }
    }

    /// Times `inner` under `route` (the labelled handles are looked up here, once).
    pub fn for_route(inner: F, metrics: &Metrics, route: &str) -> PollTimed<F> {
        PollTimed::new(
            inner,
            metrics.http_poll_duration.with_label_values(&[route]),
            metrics.http_request_max_poll.with_label_values(&[route]),
        )
    }
}

/// Observes the longest poll, once: at completion or, for a cancelled
/// request, at drop. A future never polled has no poll to report.
fn finish(histogram: &mut Option<Histogram>, longest: Option<Duration>) {
    if let (Some(histogram), Some(longest)) = (histogram.take(), longest) {
        histogram.observe(longest.as_secs_f64());
    }
}

impl<F: Future> Future for PollTimed<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let started = Instant::now();
        let polled = this.inner.poll(cx);
        let took = started.elapsed();
        this.polls.observe(took.as_secs_f64());
        *this.longest = (*this.longest).max(Some(took));
        if polled.is_ready() {
            finish(this.longest_poll, *this.longest);
        }
        polled
    }
}

/// Middleware: times every poll of the handler below it, by matched route.
pub async fn time_polls(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    // `MatchedPath` is a shared string: cloning it allocates nothing
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    PollTimed::for_route(next.run(req), &metrics, route).await
}

/// Spawns the runtime lag probe: it sleeps 10 ms again and again, and
/// observes how much later than that it wakes in `tokio_scheduler_lag_seconds`.
/// A worker blocked by a handler wakes it late. The timer's 1 ms resolution
/// puts most healthy rounds below about a millisecond.
///
/// It is one task for the life of the server, so `tokio_alive_tasks` is one
/// higher and stays flat; abort the handle at shutdown.
pub fn spawn_lag_probe(metrics: &Metrics) -> JoinHandle<()> {
    let lag = metrics.scheduler_lag.clone();
    tokio::spawn(async move {
        loop {
            let started = Instant::now();
            tokio::time::sleep(PROBE_PERIOD).await;
            let late = started.elapsed().saturating_sub(PROBE_PERIOD);
            lag.observe(late.as_secs_f64());
        }
    })
}

#[cfg(test)]
mod tests {
    use prometheus::core::Metric as _;

    use super::*;

    /// Observations of `histogram` at or below `le`.
    fn at_most(histogram: &Histogram, le: f64) -> u64 {
        histogram
            .metric()
            .get_histogram()
            .get_bucket()
            .iter()
            .find(|b| b.upper_bound() == le)
            .map(|b| b.cumulative_count())
            .expect("a bucket with that bound")
    }

    /// A future that blocks its thread for `block` in each poll and is
    /// ready at its `polls`-th poll.
    fn blocking(block: Duration, polls: usize) -> impl Future<Output = ()> {
        let mut seen = 0;
        std::future::poll_fn(move |cx| {
            std::thread::sleep(block);
            seen += 1;
            if seen == polls {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
    }

    #[tokio::test]
    async fn a_poll_that_blocks_five_ms_lands_in_the_seven_and_a_half_ms_bucket() {
        let metrics = Metrics::new();
        PollTimed::for_route(blocking(Duration::from_millis(5), 1), &metrics, "/test").await;
        let longest = metrics.http_request_max_poll.with_label_values(&["/test"]);
        assert_eq!(longest.get_sample_count(), 1);
        assert_eq!(at_most(&longest, 0.005), 0, "not below 5 ms");
        assert_eq!(at_most(&longest, 0.0075), 1);
    }

    #[tokio::test]
    async fn every_poll_is_timed_and_the_longest_is_observed_once() {
        let metrics = Metrics::new();
        PollTimed::for_route(blocking(Duration::from_millis(1), 3), &metrics, "/test").await;
        let polls = metrics.http_poll_duration.with_label_values(&["/test"]);
        let longest = metrics.http_request_max_poll.with_label_values(&["/test"]);
        assert_eq!(polls.get_sample_count(), 3);
        assert_eq!(longest.get_sample_count(), 1);
        assert!(longest.get_sample_sum() >= 0.001);
    }

    #[tokio::test]
    async fn a_dropped_request_still_observes_its_longest_poll_once() {
        let metrics = Metrics::new();
        let mut cancelled = PollTimed::for_route(
            blocking(Duration::from_millis(2), usize::MAX),
            &metrics,
            "/test",
        );
        assert!(futures::poll!(&mut cancelled).is_pending());
        let longest = metrics.http_request_max_poll.with_label_values(&["/test"]);
        assert_eq!(longest.get_sample_count(), 0, "not before it ends");
        drop(cancelled);
        assert_eq!(longest.get_sample_count(), 1);
        assert!(longest.get_sample_sum() >= 0.002);
    }

    #[tokio::test]
    async fn a_blocked_worker_shows_up_as_scheduler_lag() {
        let metrics = Metrics::new();
        let probe = spawn_lag_probe(&metrics);
        // let the probe start a round, then block the test's only worker
        tokio::time::sleep(Duration::from_millis(3)).await;
        std::thread::sleep(Duration::from_millis(50));
        tokio::time::sleep(Duration::from_millis(30)).await;
        probe.abort();
        let lag = &metrics.scheduler_lag;
        assert!(
            lag.get_sample_count() > at_most(lag, 0.02),
            "a round woke over 20 ms late"
        );
    }
}
