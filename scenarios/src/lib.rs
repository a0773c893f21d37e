//! Spikeproof scenario files: the traffic shape, the journey mix and the SLOs
//! of a load run, strictly parsed.
//!
//! A scenario is TOML (see `appstore-spike.toml` beside this crate). Unknown
//! keys, bad units and impossible shapes are errors that name the file, the
//! line and the key. Durations are strings like `"30s"`, `"2m"`, `"1h30m"`.
//!
//! Layout:
//! - `duration.rs`: [`Dur`], the duration strings, parse and canonical print.
//! - `model.rs`: the serde types ([`Scenario`], [`Phase`], [`Journeys`], [`Slos`], ...).
//! - `validate.rs`: the checks serde cannot make.
//! - `error.rs`: [`ScenarioError`] and byte spans turned into lines.
//! - `checklist.rs`: [`Checklist`], the `kind = "checklist"` files (HTTP steps
//!   asserted on content, e.g. `onboarding-checklist.toml`).
//!
//! [`APPSTORE_SPIKE`] embeds the shipped App Store spike scenario.

pub mod checklist;
mod duration;
mod error;
mod model;
mod validate;

use std::path::Path;

pub use checklist::Checklist;
pub use duration::{Dur, DurationError};
pub use error::{Located, ScenarioError};
pub use model::{
    Browser, Fault, Impatient, Journeys, LeakBudgets, NewInstall, Phase, Ramp, Regression,
    RetryPolicy, Returning, Scenario, SloSet, Slos, Think,
};
pub use toml::Spanned;

/// The shipped App Store spike scenario, as text.
pub const APPSTORE_SPIKE: &str = include_str!("../appstore-spike.toml");
/// The name under which [`APPSTORE_SPIKE`] reports its problems.
pub const APPSTORE_SPIKE_FILE: &str = "scenarios/appstore-spike.toml";

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn from_file(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Read {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        Scenario::parse(&text, path)
    }

    /// Parses and validates scenario text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Scenario, ScenarioError> {
        let src = error::Source::new(file, text);
        let scenario: Scenario = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        validate::validate(&scenario, &src)?;
        Ok(scenario)
    }

    /// The shipped App Store spike scenario.
    pub fn appstore_spike() -> Result<Scenario, ScenarioError> {
        Scenario::parse(APPSTORE_SPIKE, Path::new(APPSTORE_SPIKE_FILE))
    }

    /// The whole shape's length.
    pub fn total_duration(&self) -> Dur {
        let ms = self
            .phases
            .iter()
            .map(|p| p.get_ref().duration.get_ref().as_millis())
            .fold(0u64, u64::saturating_add);
        Dur::from_millis(ms)
    }

    /// The most concurrent users any phase asks for.
    pub fn peak_users(&self) -> f64 {
        self.phases
            .iter()
            .filter_map(|p| p.get_ref().users.as_ref())
            .map(|r| r.get_ref().max())
            .fold(0.0, f64::max)
    }

    /// Requests per second `users` concurrent users send by this file's think
    /// times (Little's law on the closed model: each user sends one request per
    /// mean think time; the time to answer is left out, so the figure is an
    /// upper bound). `None` when no journey has a weight.
    pub fn request_rate(&self, users: f64) -> Option<f64> {
        let think = self.journeys.mean_think_s()?;
        (think > 0.0).then(|| users / think)
    }

    /// The SLOs of a phase: the defaults with the phase's own keys over them.
    pub fn slo_for(&self, phase: &str) -> SloSet {
        let mut set = self.slo.default.clone();
        if let Some(own) = self.slo.phases.get(phase) {
            let own = own.get_ref();
            macro_rules! over {
                ($($f:ident),*) => { $( if own.$f.is_some() { set.$f = own.$f.clone(); } )* };
            }
            over!(
                p50_ms,
                p95_ms,
                p99_ms,
                max_error_rate,
                max_shed_rate,
                min_goodput,
                max_silent,
                shed_p99_ms,
                min_goodput_of_peak,
                peak_phase
            );
        }
        set
    }

    /// Serializes back to TOML.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}
