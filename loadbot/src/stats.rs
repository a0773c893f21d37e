//! Per-phase counts and latency histograms (HDR, microseconds), shared by the
//! workers. Latency is timed from when the simulated user meant to send, so
//! queueing in the generator or the server is never hidden (coordinated omission).

use std::{
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use hdrhistogram::Histogram;

use crate::outcome::Outcome;

/// Highest latency a histogram holds, microseconds (10 minutes); larger values are clamped.
const MAX_MICROS: u64 = 600_000_000;

/// A latency histogram at microsecond resolution, 3 significant figures.
pub(crate) fn histogram() -> Histogram<u64> {
    // constant, valid bounds: this cannot fail
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds")
}

/// Records `d` in microseconds, clamped to the histogram's range.
pub(crate) fn record(h: &mut Histogram<u64>, d: Duration) {
    let micros = u64::try_from(d.as_micros())
        .unwrap_or(MAX_MICROS)
        .clamp(1, MAX_MICROS);
    let _ = h.record(micros);
}

/// What one phase saw.
#[derive(Debug)]
pub(crate) struct PhaseStats {
    pub(crate) outcomes: [u64; Outcome::ALL.len()],
    /// 2xx answers, from intended start to the last body byte.
    pub(crate) ok_latency: Histogram<u64>,
    /// Shed answers: the contract wants them fast.
    pub(crate) shed_latency: Histogram<u64>,
    /// Shed answers timed from when loadbot actually sent them: the server's
    /// (and the network's) part, without loadbot's own lateness. Diagnostic
    /// only; the SLO is judged on `shed_latency`.
    pub(crate) shed_sent_latency: Histogram<u64>,
    /// Open-model arrivals scheduled in this phase.
    pub(crate) arrivals: u64,
    /// Requests that started late: picked up past `LATE` after they were due.
    pub(crate) late_starts: u64,
    /// Arrivals no worker could take before the client timeout passed.
    pub(crate) dropped_arrivals: u64,
}

impl PhaseStats {
    pub(crate) fn new() -> PhaseStats {
        PhaseStats {
            outcomes: [0; Outcome::ALL.len()],
            ok_latency: histogram(),
            shed_latency: histogram(),
            shed_sent_latency: histogram(),
            arrivals: 0,
            late_starts: 0,
            dropped_arrivals: 0,
        }
    }

    pub(crate) fn requests(&self) -> u64 {
        self.outcomes.iter().sum()
    }

    pub(crate) fn count(&self, o: Outcome) -> u64 {
        self.outcomes[o.index()]
    }

    pub(crate) fn errors(&self) -> u64 {
        Outcome::ALL
            .iter()
            .filter(|o| o.is_error())
            .map(|o| self.count(*o))
            .sum()
    }
}

/// A request picked up this long after it was due counts as a late start.
pub(crate) const LATE: Duration = Duration::from_millis(50);

/// Every phase's figures plus run-wide counters for the live display.
#[derive(Debug)]
pub(crate) struct Stats {
    phases: Vec<Mutex<PhaseStats>>,
    pub(crate) total_requests: AtomicU64,
    pub(crate) total_errors: AtomicU64,
    pub(crate) total_shed: AtomicU64,
    pub(crate) total_silent: AtomicU64,
    /// Requests in flight when the run stopped; never answered, never counted.
    pub(crate) abandoned_at_stop: AtomicU64,
}

impl Stats {
    pub(crate) fn new(phases: usize) -> Stats {
        Stats {
            phases: (0..phases.max(1))
                .map(|_| Mutex::new(PhaseStats::new()))
                .collect(),
            total_requests: AtomicU64::new(0),
            total_errors: AtomicU64::new(0),
            total_shed: AtomicU64::new(0),
            total_silent: AtomicU64::new(0),
            abandoned_at_stop: AtomicU64::new(0),
        }
    }

    pub(crate) fn phase(&self, i: usize) -> MutexGuard<'_, PhaseStats> {
        let i = i.min(self.phases.len() - 1);
        // a worker that panicked mid-update leaves counts that are still usable
        self.phases[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records one answered (or silent) request of phase `i`: `latency` from
    /// its intended start, `sent` from when it was actually sent.
    pub(crate) fn request(&self, i: usize, outcome: Outcome, latency: Duration, sent: Duration) {
        {
            let mut p = self.phase(i);
            p.outcomes[outcome.index()] += 1;
            match outcome {
                Outcome::Ok => record(&mut p.ok_latency, latency),
                Outcome::Shed => {
                    record(&mut p.shed_latency, latency);
                    record(&mut p.shed_sent_latency, sent);
                }
                _ => {}
            }
        }
        self.total_requests.fetch_add(1, Ordering::Relaxed);
        let counter = match outcome {
            o if o.is_error() => &self.total_errors,
            Outcome::Shed => &self.total_shed,
            Outcome::Silent => &self.total_silent,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
