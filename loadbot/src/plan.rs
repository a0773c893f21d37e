//! A scenario laid out on the run's clock: phases compressed into the wall-clock
//! time asked for, users and arrival rates scaled to the peak asked for.

use std::time::Duration;

use scenarios::{Ramp, Scenario};

/// One phase on the run's clock.
#[derive(Debug, Clone)]
pub(crate) struct PlannedPhase {
    pub(crate) name: String,
    /// Offset of the phase's start from the run's start.
    pub(crate) start: Duration,
    pub(crate) end: Duration,
    /// Concurrent closed-model users, already scaled.
    pub(crate) users: Ramp,
    /// New installs per second, already scaled.
    pub(crate) arrivals_per_s: Ramp,
}

/// The whole shape on the run's clock.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) phases: Vec<PlannedPhase>,
    pub(crate) total: Duration,
    /// Wall-clock seconds per scenario second (below 1 when compressed).
    pub(crate) time_factor: f64,
    /// Multiplier applied to users and arrival rates.
    pub(crate) load_factor: f64,
}

impl Plan {
    /// Lays `scenario` out over `duration` (its own length when `None`) with
    /// its peak users scaled to `peak_users`.
    pub(crate) fn new(
        scenario: &Scenario,
        duration: Option<Duration>,
        peak_users: Option<u32>,
    ) -> Plan {
        let own = scenario.total_duration().get();
        let total = duration.unwrap_or(own);
        let time_factor = if own.is_zero() {
            1.0
        } else {
            total.as_secs_f64() / own.as_secs_f64()
        };
        let peak = scenario.peak_users();
        let load_factor = match peak_users {
            Some(n) if peak > 0.0 => f64::from(n) / peak,
            _ => 1.0,
        };
        let scale = |r: &Ramp| Ramp {
            start: r.start * load_factor,
            end: r.end * load_factor,
        };
        let mut at = Duration::ZERO;
        let phases = scenario
            .phases
            .iter()
            .map(|p| {
                let p = p.get_ref();
                let length = p.duration.get_ref().get().mul_f64(time_factor);
                let phase = PlannedPhase {
                    name: p.name.get_ref().clone(),
                    start: at,
                    end: at + length,
                    users: p
                        .users
                        .as_ref()
                        .map_or(Ramp::constant(0.0), |r| scale(r.get_ref())),
                    arrivals_per_s: p
                        .arrivals_per_s
                        .as_ref()
                        .map_or(Ramp::constant(0.0), |r| scale(r.get_ref())),
                };
                at += length;
                phase
            })
            .collect::<Vec<_>>();
        Plan {
            total: at,
            phases,
            time_factor,
            load_factor,
        }
    }

    /// One shard's part of the plan: 1/`shards` of the users and arrival rates.
    pub(crate) fn share(mut self, shards: u32) -> Plan {
        let f = 1.0 / f64::from(shards.max(1));
        let scale = |r: &Ramp| Ramp {
            start: r.start * f,
            end: r.end * f,
        };
        for p in &mut self.phases {
            p.users = scale(&p.users);
            p.arrivals_per_s = scale(&p.arrivals_per_s);
        }
        self.load_factor *= f;
        self
    }

    /// Index of the phase that holds offset `t` (the last one past the end).
    pub(crate) fn phase_index(&self, t: Duration) -> usize {
        self.phases
            .iter()
            .position(|p| t < p.end)
            .unwrap_or(self.phases.len().saturating_sub(1))
    }

    fn fraction(p: &PlannedPhase, t: Duration) -> f64 {
        let length = (p.end - p.start).as_secs_f64();
        if length <= 0.0 {
            1.0
        } else {
            (t.saturating_sub(p.start)).as_secs_f64() / length
        }
    }

    /// Target concurrent users at offset `t`.
    pub(crate) fn users_at(&self, t: Duration) -> f64 {
        match self.phases.get(self.phase_index(t)) {
            Some(p) => p.users.at(Self::fraction(p, t)),
            None => 0.0,
        }
    }

    /// Arrival rate (per second) at offset `t`.
    pub(crate) fn rate_at(&self, t: Duration) -> f64 {
        match self.phases.get(self.phase_index(t)) {
            Some(p) => p.arrivals_per_s.at(Self::fraction(p, t)),
            None => 0.0,
        }
    }

    /// The highest arrival rate within phase `i`, the bound the thinning uses.
    pub(crate) fn max_rate(&self, i: usize) -> f64 {
        self.phases.get(i).map_or(0.0, |p| p.arrivals_per_s.max())
    }

    /// Expected arrivals over the whole run: the integral of the rate.
    pub(crate) fn expected_arrivals(&self) -> f64 {
        self.phases
            .iter()
            .map(|p| {
                (p.end - p.start).as_secs_f64() * (p.arrivals_per_s.start + p.arrivals_per_s.end)
                    / 2.0
            })
            .sum()
    }

    /// The most users any phase asks for.
    pub(crate) fn peak_users(&self) -> f64 {
        self.phases
            .iter()
            .map(|p| p.users.max())
            .fold(0.0, f64::max)
    }
}
