//! Is loadbot itself the bottleneck? Scheduler lag (how late the dispatcher's
//! 1 ms tick fires), its CPU time from `/proc/self/stat`, its memory from
//! `/proc/self/status`, and the verdict that a run was inconclusive.

use std::{sync::Mutex, time::Duration};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::stats::{histogram, record};

/// Linux reports CPU times in clock ticks of `USER_HZ`, 100 on every mainstream build.
const TICKS_PER_S: f64 = 100.0;
/// Scheduler lag p99 above this means the runtime was starved.
const MAX_LAG_P99: Duration = Duration::from_millis(50);
/// Share of the machine's cores above which loadbot was CPU-bound.
const MAX_CPU_SHARE: f64 = 0.9;
/// Share of arrivals that may be dropped before a passing run is not believed.
const MAX_DROPPED_SHARE: f64 = 0.01;

/// The dispatcher's tick lateness.
#[derive(Debug)]
pub(crate) struct Lag(Mutex<Histogram<u64>>);

impl Lag {
    pub(crate) fn new() -> Lag {
        Lag(Mutex::new(histogram()))
    }

    pub(crate) fn record(&self, lateness: Duration) {
        if let Ok(mut h) = self.0.lock() {
            record(&mut h, lateness);
        }
    }

    /// (p99, max) in milliseconds.
    pub(crate) fn p99_max_ms(&self) -> (f64, f64) {
        match self.0.lock() {
            Ok(h) if !h.is_empty() => (
                h.value_at_quantile(0.99) as f64 / 1_000.0,
                h.max() as f64 / 1_000.0,
            ),
            _ => (0.0, 0.0),
        }
    }
}

/// CPU seconds (user + system) this process has used, if `/proc` says.
pub(crate) fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // fields after the parenthesised command name; utime and stime are the 12th and 13th
    let after = stat.rsplit_once(')')?.1;
    let mut fields = after.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_S)
}

/// (current, peak) resident memory in bytes, if `/proc` says.
pub(crate) fn rss_bytes() -> (Option<u64>, Option<u64>) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (None, None);
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What the self-check found, as written to summary.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SelfCheck {
    pub(crate) cpu_seconds: Option<f64>,
    pub(crate) wall_seconds: f64,
    pub(crate) cores: usize,
    /// CPU seconds over wall seconds over cores.
    pub(crate) cpu_share: Option<f64>,
    pub(crate) scheduler_lag_p99_ms: f64,
    pub(crate) scheduler_lag_max_ms: f64,
    pub(crate) late_starts: u64,
    pub(crate) arrivals: u64,
    pub(crate) dropped_arrivals: u64,
    pub(crate) workers: usize,
    pub(crate) peak_rss_bytes: Option<u64>,
    pub(crate) requests_per_cpu_second: Option<f64>,
    /// Why the generator may have been the bottleneck; empty when it was not.
    pub(crate) inconclusive: Vec<String>,
}

/// Raw figures the self-check judges.
#[derive(Debug)]
pub(crate) struct Figures {
    pub(crate) cpu_seconds: Option<f64>,
    pub(crate) wall: Duration,
    pub(crate) lag_p99_ms: f64,
    pub(crate) lag_max_ms: f64,
    pub(crate) late_starts: u64,
    pub(crate) arrivals: u64,
    pub(crate) dropped_arrivals: u64,
    pub(crate) requests: u64,
    pub(crate) workers: usize,
}

pub(crate) fn judge(f: &Figures) -> SelfCheck {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let wall = f.wall.as_secs_f64().max(1e-9);
    let cpu_share = f.cpu_seconds.map(|c| c / wall / cores as f64);
    let mut inconclusive = Vec::new();
    if let Some(share) = cpu_share.filter(|s| *s > MAX_CPU_SHARE) {
        inconclusive.push(format!(
            "loadbot used {:.0}% of the machine's {cores} cores: it, not the server, may have been the bottleneck",
            share * 100.0
        ));
    }
    if f.lag_p99_ms > MAX_LAG_P99.as_secs_f64() * 1_000.0 {
        inconclusive.push(format!(
            "loadbot's scheduler ran late (tick lag p99 {:.1} ms > {} ms): its runtime was starved, by its own work or by other processes on this machine",
            f.lag_p99_ms,
            MAX_LAG_P99.as_millis()
        ));
    }
    if f.arrivals > 0 && f.dropped_arrivals as f64 > MAX_DROPPED_SHARE * f.arrivals as f64 {
        inconclusive.push(format!(
            "{} of {} arrivals were dropped: no worker was free before the client timeout (all {} busy); the offered load was not delivered",
            f.dropped_arrivals, f.arrivals, f.workers
        ));
    }
    SelfCheck {
        cpu_seconds: f.cpu_seconds,
        wall_seconds: wall,
        cores,
        cpu_share,
        scheduler_lag_p99_ms: f.lag_p99_ms,
        scheduler_lag_max_ms: f.lag_max_ms,
        late_starts: f.late_starts,
        arrivals: f.arrivals,
        dropped_arrivals: f.dropped_arrivals,
        workers: f.workers,
        peak_rss_bytes: rss_bytes().1,
        requests_per_cpu_second: f
            .cpu_seconds
            .filter(|c| *c > 0.0)
            .map(|c| f.requests as f64 / c),
        inconclusive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_memory_are_read_from_proc() {
        assert!(cpu_seconds().is_some());
        let (rss, peak) = rss_bytes();
        assert!(rss.is_some_and(|r| r > 0) && peak >= rss);
    }

    #[test]
    fn a_starved_or_overloaded_generator_makes_the_run_inconclusive() {
        let base = Figures {
            cpu_seconds: Some(1.0),
            wall: Duration::from_secs(10),
            lag_p99_ms: 1.0,
            lag_max_ms: 2.0,
            late_starts: 0,
            arrivals: 1_000,
            dropped_arrivals: 0,
            requests: 10_000,
            workers: 64,
        };
        assert!(judge(&base).inconclusive.is_empty());
        let lagging = Figures {
            lag_p99_ms: 200.0,
            ..base
        };
        assert_eq!(judge(&lagging).inconclusive.len(), 1);
        let dropping = Figures {
            dropped_arrivals: 50,
            lag_p99_ms: 1.0,
            ..lagging
        };
        assert!(judge(&dropping).inconclusive[0].contains("dropped"));
    }
}
