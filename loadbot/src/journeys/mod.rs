//! User journeys as light state machines: a simulated app user is a few dozen
//! bytes (token, journey, stage, counters, next due time), not a task or a
//! goose user. One module per journey decides the stage after each answer.
//!
//! - `new_install`: register, onboarding, first outfits, a few likes/dislikes.
//! - `returning`: outfits, feedback, saved outfits.
//! - `browser`: catalog pages and garment details.
//! - `impatient`: pulls to refresh when slow; on a 503 waits or storms.

mod browser;
mod impatient;
mod new_install;
mod returning;

use std::time::Duration;

use rand::{Rng, rngs::SmallRng};
use scenarios::{Impatient, Journeys, RetryPolicy, Scenario, Think};

use crate::outcome::Outcome;

/// Which journey a simulated user is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JourneyKind {
    NewInstall,
    Returning,
    Browser,
    Impatient,
    /// `GET /healthz`: calibrates loadbot's own cost per request.
    Probe,
}

/// The next request of a journey, or its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Register,
    Profile,
    Outfits,
    Feedback,
    Saved,
    Page,
    Detail,
    Health,
    Done,
}

/// Most garment ids a user remembers (one outfit, or a page's first few).
pub(crate) const KEPT_IDS: usize = 6;

/// One simulated app user.
#[derive(Debug)]
pub(crate) struct SimUser {
    /// Arrived through the open model: leaves after its journey.
    pub(crate) open: bool,
    pub(crate) journey: JourneyKind,
    pub(crate) stage: Stage,
    /// Repetitions left of the current stage (feedback, pages).
    pub(crate) left: u8,
    /// Garment details left on the current page.
    pub(crate) inner: u8,
    /// Refreshes and retries of the current request.
    pub(crate) retries: u8,
    pub(crate) token: Option<Box<str>>,
    /// Onboarding answers were stored: outfits need them.
    pub(crate) onboarded: bool,
    pub(crate) ids: [i64; KEPT_IDS],
    pub(crate) id_count: u8,
    pub(crate) cursor: Option<i64>,
    pub(crate) rng: SmallRng,
}

/// What a journey learns from an answer.
#[derive(Debug, Default)]
pub(crate) struct Learned {
    pub(crate) token: Option<Box<str>>,
    pub(crate) ids: Vec<i64>,
    pub(crate) next_cursor: Option<i64>,
}

/// An answer as the journeys see it.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) outcome: Outcome,
    pub(crate) retry_after_s: Option<u64>,
    pub(crate) learned: Learned,
}

/// The journey mix of a scenario, ready to sample.
#[derive(Debug, Clone)]
pub(crate) struct Mix {
    journeys: Journeys,
    /// Cumulative weights in [`JourneyKind`] order.
    cumulative: [u32; 5],
}

/// What happens after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// The next request after this delay.
    Next(Duration),
    /// The journey is over.
    Done,
}

impl Mix {
    pub(crate) fn new(scenario: &Scenario) -> Mix {
        let j = scenario.journeys.clone();
        let weights = [
            j.new_install.as_ref().map_or(0, |n| n.weight),
            j.returning.as_ref().map_or(0, |r| r.weight),
            j.browser.as_ref().map_or(0, |b| b.weight),
            j.impatient.as_ref().map_or(0, |i| i.weight),
            j.probe.as_ref().map_or(0, |p| p.weight),
        ];
        let mut cumulative = [0u32; 5];
        let mut sum = 0u32;
        for (c, w) in cumulative.iter_mut().zip(weights) {
            sum = sum.saturating_add(w);
            *c = sum;
        }
        Mix {
            journeys: j,
            cumulative,
        }
    }

    /// A journey drawn by weight for a closed-model user.
    pub(crate) fn pick(&self, rng: &mut SmallRng) -> JourneyKind {
        let total = self.cumulative[4];
        if total == 0 {
            return JourneyKind::NewInstall;
        }
        let x = rng.random_range(0..total);
        let kinds = [
            JourneyKind::NewInstall,
            JourneyKind::Returning,
            JourneyKind::Browser,
            JourneyKind::Impatient,
            JourneyKind::Probe,
        ];
        let i = self.cumulative.iter().position(|c| x < *c).unwrap_or(4);
        kinds[i]
    }

    fn think_of(&self, kind: JourneyKind) -> Think {
        let j = &self.journeys;
        let think = match kind {
            JourneyKind::NewInstall => j.new_install.as_ref().map(|n| *n.think.get_ref()),
            JourneyKind::Returning => j.returning.as_ref().map(|r| *r.think.get_ref()),
            JourneyKind::Browser => j.browser.as_ref().map(|b| *b.think.get_ref()),
            JourneyKind::Impatient => j.impatient.as_ref().map(|i| *i.think.get_ref()),
            JourneyKind::Probe => j.probe.as_ref().map(|p| *p.think.get_ref()),
        };
        think.unwrap_or(Think::Constant(scenarios::Dur::from_secs(1)))
    }

    /// A think time of `kind`'s distribution.
    pub(crate) fn think(&self, kind: JourneyKind, rng: &mut SmallRng) -> Duration {
        sample(&self.think_of(kind), rng)
    }

    pub(crate) fn impatient(&self) -> Option<&Impatient> {
        self.journeys.impatient.as_ref()
    }

    /// Starts `kind` for `user`: the first stage and its counters.
    pub(crate) fn start(&self, user: &mut SimUser, kind: JourneyKind) {
        user.journey = kind;
        user.retries = 0;
        user.left = 0;
        user.inner = 0;
        user.stage = match kind {
            JourneyKind::NewInstall => new_install::first(user),
            JourneyKind::Returning => returning::first(user),
            JourneyKind::Browser => browser::first(user, &self.journeys),
            JourneyKind::Impatient => impatient::first(user),
            JourneyKind::Probe => Stage::Health,
        };
    }

    /// Moves `user` on after `answer` to its current stage.
    pub(crate) fn after(&self, user: &mut SimUser, answer: &Answer) -> After {
        if let Some(token) = &answer.learned.token {
            user.token = Some(token.clone());
            user.onboarded = false;
        }
        if user.stage == Stage::Profile && answer.outcome == Outcome::Ok {
            user.onboarded = true;
        }
        if user.journey == JourneyKind::Impatient
            && let Some(delay) = self.impatient_retry(user, answer)
        {
            return After::Next(delay);
        }
        user.retries = 0;
        let ok = answer.outcome == Outcome::Ok;
        user.stage = match user.journey {
            JourneyKind::NewInstall => {
                new_install::after(user, ok, &answer.learned, &self.journeys)
            }
            JourneyKind::Returning => returning::after(user, ok, &answer.learned, &self.journeys),
            JourneyKind::Browser => browser::after(user, ok, &answer.learned, &self.journeys),
            JourneyKind::Impatient => impatient::after(user, ok, &answer.learned),
            JourneyKind::Probe => Stage::Done,
        };
        if user.stage == Stage::Done {
            After::Done
        } else {
            After::Next(self.think(user.journey, &mut user.rng))
        }
    }

    /// An impatient retry of the same stage: at once after a refresh, after a
    /// shed as the scenario's policy says.
    fn impatient_retry(&self, user: &mut SimUser, answer: &Answer) -> Option<Duration> {
        let cfg = self.impatient()?;
        if u32::from(user.retries) >= *cfg.max_retries.get_ref() {
            return None;
        }
        let delay = match (answer.outcome, cfg.on_503) {
            (Outcome::Refreshed, _) => Duration::ZERO,
            (Outcome::Shed, RetryPolicy::RetryImmediately) => Duration::ZERO,
            (Outcome::Shed, RetryPolicy::HonourRetryAfter) => {
                Duration::from_secs(answer.retry_after_s.unwrap_or(1).min(60))
            }
            _ => return None,
        };
        user.retries = user.retries.saturating_add(1);
        Some(delay)
    }
}

/// Where a journey that needs an onboarded user starts.
pub(crate) fn signed_in_start(user: &SimUser, then: Stage) -> Stage {
    match (&user.token, user.onboarded) {
        (None, _) => Stage::Register,
        (Some(_), false) => Stage::Profile,
        (Some(_), true) => then,
    }
}

/// Keeps up to [`KEPT_IDS`] garment ids.
pub(crate) fn keep_ids(user: &mut SimUser, ids: &[i64]) {
    let n = ids.len().min(KEPT_IDS);
    user.ids[..n].copy_from_slice(&ids[..n]);
    user.id_count = n as u8;
}

/// A draw from `[lo, hi]` as a counter.
pub(crate) fn draw(rng: &mut SmallRng, [lo, hi]: [u32; 2]) -> u8 {
    rng.random_range(lo..=hi.max(lo)).min(255) as u8
}

/// A sample of a think-time distribution; exponential draws are capped at 20x the mean.
pub(crate) fn sample(think: &Think, rng: &mut SmallRng) -> Duration {
    match think {
        Think::Constant(d) => d.get(),
        Think::Exponential(mean) => {
            let u: f64 = rng.random_range(f64::EPSILON..1.0);
            mean.get().mul_f64((-u.ln()).min(20.0))
        }
        Think::Uniform([lo, hi]) => {
            let (lo, hi) = (lo.get(), hi.get());
            lo + (hi - lo).mul_f64(rng.random::<f64>())
        }
    }
}

#[cfg(test)]
mod tests;
