//! Per-user write rate limits: a token bucket per user, kept in a table of
//! fixed size.
//!
//! Every write by a user token (`POST`, `PUT`, `PATCH`, `DELETE`) takes one
//! token from that user's bucket; a bucket holds at most `burst` tokens and
//! refills at `writes_per_minute`. An empty bucket answers `429` with
//! `Retry-After` (see [`crate::api::AppError::RateLimited`]).
//!
//! The table never grows: it is allocated once with room for
//! `tracked_users` buckets, as small sets of [`WAYS`] slots chosen by a hash
//! of the user id. A user not in the table takes an empty slot of their set,
//! or else the slot whose bucket is fullest: a full bucket carries no state
//! (a new one starts full too), so eviction only forgets anything when more
//! than `WAYS` users of one set write at once. Memory is therefore constant
//! however many distinct users write, which is what the release gate's
//! allocation-per-request leak detector needs to see.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use crate::config::RateLimitSettings;

/// Slots per set: a user can be evicted only by this many others of the same set.
pub const WAYS: usize = 8;

/// One user's bucket.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// `None` while the slot is free.
    user: Option<i64>,
    /// Tokens left at `at_ms` (fractional: refill is continuous).
    tokens: f64,
    /// When `tokens` was last brought up to date, in ms since the limiter started.
    at_ms: u64,
}

/// The write limiter shared by all requests.
#[derive(Debug)]
pub struct WriteLimiter {
    sets: Box<[Mutex<[Bucket; WAYS]>]>,
    burst: f64,
    /// Refill rate in tokens per millisecond.
    per_ms: f64,
    started: Instant,
    /// Occupied slots, for the `rate_limit_tracked_users` gauge.
    tracked: AtomicUsize,
    enabled: bool,
}

/// The outcome of a write that was refused: seconds until one token is back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl WriteLimiter {
    pub fn new(settings: &RateLimitSettings) -> WriteLimiter {
        let sets = settings
            .tracked_users
            .div_ceil(WAYS)
            .max(1)
            .next_power_of_two();
        WriteLimiter {
            sets: (0..sets)
                .map(|_| Mutex::new([Bucket::default(); WAYS]))
                .collect(),
            burst: f64::from(settings.burst.max(1)),
            per_ms: f64::from(settings.writes_per_minute.max(1)) / 60_000.0,
            started: Instant::now(),
            tracked: AtomicUsize::new(0),
            enabled: settings.enabled,
        }
    }

    /// Buckets the table can hold (fixed at construction).
    pub fn capacity(&self) -> usize {
        self.sets.len() * WAYS
    }

    /// Buckets in use now; never more than [`capacity`](Self::capacity).
    pub fn tracked(&self) -> usize {
        self.tracked.load(Ordering::Relaxed)
    }

    /// Takes a token for one write by `user`, now.
    pub fn check(&self, user: i64) -> Result<(), RetryAfter> {
        if !self.enabled {
            return Ok(());
        }
        let now_ms = self.started.elapsed().as_millis() as u64;
        self.check_at(user, now_ms)
    }

    /// Takes a token for one write by `user` at `now_ms` (ms since the limiter
    /// started; callers pass a non-decreasing clock, tests a made-up one).
    pub fn check_at(&self, user: i64, now_ms: u64) -> Result<(), RetryAfter> {
        let set = &self.sets[set_index(user, self.sets.len())];
        // a panic while holding the lock cannot leave a bucket half-written
        let mut set = set.lock().unwrap_or_else(|p| p.into_inner());
        let slot = match set.iter().position(|b| b.user == Some(user)) {
            Some(i) => i,
            None => {
                let i = self.victim(&set, now_ms);
                if set[i].user.is_none() {
                    self.tracked.fetch_add(1, Ordering::Relaxed);
                }
                set[i] = Bucket {
                    user: Some(user),
                    tokens: self.burst,
                    at_ms: now_ms,
                };
                i
            }
        };
        let bucket = &mut set[slot];
        bucket.tokens = self.refilled(bucket, now_ms);
        bucket.at_ms = bucket.at_ms.max(now_ms);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait_ms = (1.0 - bucket.tokens) / self.per_ms;
            Err(RetryAfter(((wait_ms / 1000.0).ceil() as u64).max(1)))
        }
    }

    fn refilled(&self, bucket: &Bucket, now_ms: u64) -> f64 {
        let elapsed = now_ms.saturating_sub(bucket.at_ms) as f64;
        (bucket.tokens + elapsed * self.per_ms).min(self.burst)
    }

    /// The slot a new user takes: a free one, else the fullest bucket.
    fn victim(&self, set: &[Bucket; WAYS], now_ms: u64) -> usize {
        if let Some(free) = set.iter().position(|b| b.user.is_none()) {
            return free;
        }
        let mut best = 0;
        let mut best_tokens = f64::NEG_INFINITY;
        for (i, b) in set.iter().enumerate() {
            let tokens = self.refilled(b, now_ms);
            if tokens > best_tokens {
                best = i;
                best_tokens = tokens;
            }
        }
        best
    }
}

/// Spreads user ids (sequential in the store) over the sets (splitmix64's finaliser).
fn set_index(user: i64, sets: usize) -> usize {
    let mut z = (user as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z as usize) & (sets - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(burst: u32, writes_per_minute: u32, tracked_users: usize) -> WriteLimiter {
        WriteLimiter::new(&RateLimitSettings {
            enabled: true,
            burst,
            writes_per_minute,
            tracked_users,
        })
    }

    #[test]
    fn a_burst_passes_then_the_next_write_is_refused_with_a_wait() {
        let l = limiter(5, 60, 1024);
        for i in 0..5 {
            assert_eq!(l.check_at(7, 0), Ok(()), "write {i} of the burst");
        }
        // one token per second: the sixth write waits a second
        assert_eq!(l.check_at(7, 0), Err(RetryAfter(1)));
        assert_eq!(l.check_at(7, 10), Err(RetryAfter(1)));
    }

    #[test]
    fn retry_after_is_the_time_until_one_token_is_back() {
        // 6 per minute: a token every 10 s
        let l = limiter(1, 6, 1024);
        assert_eq!(l.check_at(1, 0), Ok(()));
        assert_eq!(l.check_at(1, 0), Err(RetryAfter(10)));
        assert_eq!(l.check_at(1, 7_500), Err(RetryAfter(3)));
        assert_eq!(l.check_at(1, 10_000), Ok(()));
    }

    #[test]
    fn the_bucket_refills_at_the_configured_rate_up_to_the_burst() {
        let l = limiter(3, 60, 1024);
        for _ in 0..3 {
            l.check_at(9, 0).expect("burst");
        }
        assert!(l.check_at(9, 0).is_err());
        // after 2 s, two tokens; not three
        assert_eq!(l.check_at(9, 2_000), Ok(()));
        assert_eq!(l.check_at(9, 2_000), Ok(()));
        assert!(l.check_at(9, 2_000).is_err());
        // after a long pause the bucket holds the burst, not more
        for _ in 0..3 {
            l.check_at(9, 1_000_000).expect("refilled to the burst");
        }
        assert!(l.check_at(9, 1_000_000).is_err());
    }

    #[test]
    fn one_user_spending_their_budget_leaves_others_alone() {
        let l = limiter(2, 60, 1024);
        l.check_at(1, 0).expect("first");
        l.check_at(1, 0).expect("second");
        assert!(l.check_at(1, 0).is_err());
        for other in 2..200 {
            assert_eq!(l.check_at(other, 0), Ok(()), "user {other}");
        }
    }

    #[test]
    fn the_table_stays_bounded_under_a_hundred_thousand_distinct_users() {
        let l = limiter(10, 60, 4096);
        let capacity = l.capacity();
        assert_eq!(capacity, 4096);
        for user in 0..100_000 {
            l.check_at(user, user as u64)
                .expect("a new user has a full bucket");
            assert!(l.tracked() <= capacity);
        }
        assert_eq!(l.tracked(), capacity, "every slot used, none added");
        assert_eq!(l.sets.len() * WAYS, capacity, "the table never grew");
    }

    #[test]
    fn a_busy_user_is_not_evicted_by_a_stream_of_one_off_writers() {
        // one set of 8: the busy user's drained bucket is never the fullest
        let l = limiter(3, 60, WAYS);
        for _ in 0..3 {
            l.check_at(42, 0).expect("burst");
        }
        for user in 1_000..11_000 {
            l.check_at(user, 0).expect("new users start full");
        }
        assert!(
            l.check_at(42, 0).is_err(),
            "the limit survived 10,000 other users"
        );
    }

    #[test]
    fn disabled_limits_let_everything_through() {
        let l = WriteLimiter::new(&RateLimitSettings {
            enabled: false,
            burst: 1,
            writes_per_minute: 1,
            tracked_users: 64,
        });
        for _ in 0..100 {
            l.check(5).expect("no limit");
        }
        assert_eq!(l.tracked(), 0);
    }
}
