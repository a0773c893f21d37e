//! Connection tracking: which code site holds which pooled connection, and for how long.
//!
//! sqlx has no leak detection; this is HikariCP's `leakDetectionThreshold`:
//! a connection held past the threshold is logged once, with the site that
//! acquired it, and counted in `db_pool_held_too_long_total{site}`. A connection
//! that is forgotten (`mem::forget`) keeps its entry forever, so it keeps being
//! visible in [`Tracker::snapshot`].
//!
//! Every hold that ends is timed in `db_pool_hold_seconds{site}`, so the site
//! that keeps connections longest shows before any hold passes the threshold.

use std::{
    collections::HashMap,
    fmt,
    ops::{Deref, DerefMut},
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::{Any, AnyConnection, pool::PoolConnection};

use crate::telemetry::Metrics;

/// A connection that is currently checked out.
#[derive(Debug, Clone)]
pub struct Hold {
    pub site: &'static str,
    pub held_for: Duration,
}

#[derive(Debug)]
struct Entry {
    site: &'static str,
    since: Instant,
    reported: bool,
}

#[derive(Debug)]
pub(crate) struct Tracker {
    holds: Mutex<HashMap<u64, Entry>>,
    next_id: AtomicU64,
    threshold: Duration,
    metrics: Arc<Metrics>,
}

impl Tracker {
    /// Creates the tracker and its watchdog task (which ends when the tracker is dropped).
    pub(crate) fn start(threshold: Duration, metrics: Arc<Metrics>) -> Arc<Tracker> {
        let tracker = Arc::new(Tracker {
            holds: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            threshold,
            metrics,
        });
        let period = (threshold / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
        let weak: Weak<Tracker> = Arc::downgrade(&tracker);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(tracker) => tracker.report_overdue(),
                    None => break,
                }
            }
        });
        tracker
    }

    pub(crate) fn hold(self: &Arc<Self>, site: &'static str) -> HoldGuard {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            site,
            since: Instant::now(),
            reported: false,
        };
        self.lock().insert(id, entry);
        HoldGuard {
            id,
            tracker: self.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        // a panic while holding this lock cannot leave the map inconsistent
        self.holds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Logs and counts every connection newly past the threshold.
    fn report_overdue(&self) {
        let now = Instant::now();
        let mut overdue = Vec::new();
        for entry in self.lock().values_mut() {
            let held = now.duration_since(entry.since);
            if !entry.reported && held >= self.threshold {
                entry.reported = true;
                overdue.push((entry.site, held));
            }
        }
        for (site, held) in overdue {
            self.metrics
                .pool_held_too_long
                .with_label_values(&[site])
                .inc();
            tracing::warn!(
                site,
                held_ms = held.as_millis() as u64,
                threshold_ms = self.threshold.as_millis() as u64,
                "database connection held past the leak threshold"
            );
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<Hold> {
        let now = Instant::now();
        let mut holds: Vec<Hold> = self
            .lock()
            .values()
            .map(|e| Hold {
                site: e.site,
                held_for: now.duration_since(e.since),
            })
            .collect();
        holds.sort_by_key(|h| std::cmp::Reverse(h.held_for));
        holds
    }
}

/// Removes its entry when the connection goes back to the pool.
#[derive(Debug)]
pub(crate) struct HoldGuard {
    id: u64,
    tracker: Arc<Tracker>,
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        // the lock is released before the metric is touched
        let removed = self.tracker.lock().remove(&self.id);
        if let Some(entry) = removed {
            self.tracker
                .metrics
                .pool_hold
                .with_label_values(&[entry.site])
                .observe(entry.since.elapsed().as_secs_f64());
        }
    }
}

/// A pooled connection that knows where it was taken.
#[derive(Debug)]
pub struct TrackedConn {
    // dropped before `_hold`, so the pool has it back before the entry goes
    conn: PoolConnection<Any>,
    _hold: HoldGuard,
}

impl TrackedConn {
    pub(crate) fn new(conn: PoolConnection<Any>, hold: HoldGuard) -> TrackedConn {
        TrackedConn { conn, _hold: hold }
    }

    /// Takes the connection out of the pool, which opens a new one in its place
    /// when it needs one; the returned hold keeps the site on record until dropped.
    pub fn detach(self) -> (AnyConnection, impl Sized + fmt::Debug) {
        let TrackedConn { conn, _hold } = self;
        (conn.detach(), _hold)
    }
}

impl Deref for TrackedConn {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl DerefMut for TrackedConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_released_hold_is_timed_under_the_site_that_took_it() {
        let metrics = Metrics::new();
        let tracker = Tracker::start(Duration::from_secs(5), metrics.clone());
        let site = "outfit_server::store::tests:1";
        let hold = tracker.hold(site);
        assert_eq!(tracker.snapshot().len(), 1);
        drop(hold);
        assert!(tracker.snapshot().is_empty());
        let timed = metrics.pool_hold.with_label_values(&[site]);
        assert_eq!(timed.get_sample_count(), 1);
        assert!(timed.get_sample_sum() < 5.0, "a hold of a moment");
        let other = metrics.pool_hold.with_label_values(&["elsewhere:2"]);
        assert_eq!(other.get_sample_count(), 0);
    }
}
