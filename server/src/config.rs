//! Typed settings: defaults, then an optional TOML file, then `APP_`-prefixed
//! environment variables (`APP_POOL__MAX_CONNECTIONS=32`), then command-line flags.
//!
//! A bad value fails start-up with a message that names the key.

use std::{net::SocketAddr, path::Path, time::Duration};

use figment::{
    Figment,
    providers::{Env, Format, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Everything the server can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `sqlite://PATH`, `postgres://...` or `mysql://...`; never printed.
    pub database_url: SecretString,
    /// Garments to seed when the catalog is empty at start-up (0: none).
    pub seed_garments: usize,
    /// Seed of the synthetic catalog, so a seeded catalog is reproducible.
    pub catalog_seed: u64,
    /// Seconds between checks for catalog changes in the store.
    pub catalog_refresh_s: u64,
    pub log_format: LogFormat,
    pub pool: PoolSettings,
    pub overload: OverloadSettings,
    pub http: HttpSettings,
    pub features: FeatureFlags,
    /// Schedule and bounds of the "similar taste" model (used only with `features.taste_model`).
    pub taste: TasteSettings,
    /// Seconds that in-flight requests get to finish after a shutdown signal.
    pub shutdown_grace_s: u64,
    /// Bearer token of the admin routes; without one they do not exist.
    pub admin_token: Option<SecretString>,
    pub chaos: ChaosSettings,
    /// Per-user limits on writes (`429` with `Retry-After` past them).
    pub rate_limit: RateLimitSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: SecretString::from("sqlite://data/outfits.db"),
            seed_garments: 5_000,
            catalog_seed: 42,
            catalog_refresh_s: 10,
            log_format: LogFormat::Human,
            pool: PoolSettings::default(),
            overload: OverloadSettings::default(),
            http: HttpSettings::default(),
            features: FeatureFlags::default(),
            taste: TasteSettings::default(),
            shutdown_grace_s: 10,
            admin_token: None,
            chaos: ChaosSettings::default(),
            rate_limit: RateLimitSettings::default(),
        }
    }
}

/// Per-user write limits: a token bucket per user in a table of fixed size.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// Writes a user may make at once after a pause.
    pub burst: u32,
    /// Sustained writes per user per minute (the bucket's refill rate).
    pub writes_per_minute: u32,
    /// Users whose buckets are kept; the table is allocated once at this size.
    pub tracked_users: usize,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        // an app user writes a profile and a few likes per visit; the CI spike's
        // busiest journey makes at most 5 writes in about two seconds
        RateLimitSettings {
            enabled: true,
            burst: 30,
            writes_per_minute: 120,
            tracked_users: 65_536,
        }
    }
}

/// Fault hooks for testing; off in production.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChaosSettings {
    /// Hooks on (faults can be added through the admin API).
    pub enabled: bool,
    /// Faults active from start-up (`leak-memory:bytes=3`, ...); implies `enabled`.
    pub faults: Vec<String>,
    /// Chaos on a non-loopback address is refused unless this is set.
    pub allow_non_loopback: bool,
}

impl ChaosSettings {
    pub fn active(&self) -> bool {
        self.enabled || !self.faults.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// Database pool limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a pooled connection; shorter than the request deadline.
    pub acquire_timeout_ms: u64,
    /// A connection held longer than this is reported as a possible leak, with its site.
    pub leak_threshold_ms: u64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 16,
            acquire_timeout_ms: 1_000,
            leak_threshold_ms: 5_000,
        }
    }
}

/// Admission control: how much work the server takes on before it sheds.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OverloadSettings {
    /// Requests executing at once.
    pub max_inflight: usize,
    /// Requests allowed to wait for an execution slot.
    pub max_queue: usize,
    /// How long a request may wait for a slot before it is shed.
    pub queue_timeout_ms: u64,
    /// Server-side deadline of every request, queue wait included.
    pub request_deadline_ms: u64,
    /// What `Retry-After` tells a shed client.
    pub retry_after_s: u64,
}

impl Default for OverloadSettings {
    fn default() -> Self {
        OverloadSettings {
            max_inflight: 32,
            max_queue: 128,
            queue_timeout_ms: 25,
            request_deadline_ms: 2_000,
            retry_after_s: 2,
        }
    }
}

/// HTTP limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Largest request body accepted.
    pub body_limit_bytes: usize,
    /// Open connections per process; past this a connection gets a raw 503.
    pub max_connections: usize,
    /// A request head must arrive within this (slowloris defence).
    pub header_read_timeout_ms: u64,
    /// A connection with nothing to read for this long is closed.
    pub idle_timeout_ms: u64,
    /// A client that stops reading our response for this long is dropped.
    pub write_timeout_ms: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            body_limit_bytes: 64 * 1024,
            max_connections: 10_000,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            write_timeout_ms: 10_000,
        }
    }
}

/// Experimental features; all default off.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureFlags {
    /// The "similar taste" model (the one that leaked in the original server).
    pub taste_model: bool,
}

impl FeatureFlags {
    /// Every flag with its state, for logs and metrics.
    pub fn all(&self) -> Vec<(&'static str, bool)> {
        vec![("taste_model", self.taste_model)]
    }
}

/// The "similar taste" model: how often it retrains and what bounds it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TasteSettings {
    /// Milliseconds between retrains; the first runs at start-up.
    pub retrain_interval_ms: u64,
    /// Newest feedback rows read per retrain: bounds the data, the fit's time and its memory.
    pub max_interactions: usize,
    /// Embedding dimensions.
    pub factors: u32,
    /// ALS sweeps per fit.
    pub iterations: u32,
    /// Similar users whose feedback shapes one user's outfits.
    pub neighbours: usize,
    /// Largest bias added to a garment's score (the engine's own per-garment score is about 0..1.25).
    pub strength: f32,
    /// Most garments with a bias per user.
    pub max_bias_garments: usize,
    /// Users whose bias lists are cached per model; 0 turns the cache off.
    pub cache_users: usize,
}

impl Default for TasteSettings {
    fn default() -> Self {
        TasteSettings {
            retrain_interval_ms: 10 * 60 * 1000,
            max_interactions: 200_000,
            factors: 32,
            iterations: 12,
            neighbours: 20,
            strength: 0.5,
            max_bias_garments: 200,
            cache_users: 10_000,
        }
    }
}

impl TasteSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, message: &str| {
            Err(ConfigError::Inconsistent {
                key,
                message: message.into(),
            })
        };
        if self.retrain_interval_ms < 100 {
            return bad("taste.retrain_interval_ms", "must be at least 100");
        }
        if !(1..=10_000_000).contains(&self.max_interactions) {
            return bad("taste.max_interactions", "must be in 1..=10000000");
        }
        if !(1..=256).contains(&self.factors) {
            return bad("taste.factors", "must be in 1..=256");
        }
        if !(1..=100).contains(&self.iterations) {
            return bad("taste.iterations", "must be in 1..=100");
        }
        if !(1..=256).contains(&self.neighbours) {
            return bad("taste.neighbours", "must be in 1..=256");
        }
        if !(0.0..=1.0).contains(&self.strength) {
            return bad("taste.strength", "must be in 0..=1");
        }
        if !(1..=10_000).contains(&self.max_bias_garments) {
            return bad("taste.max_bias_garments", "must be in 1..=10000");
        }
        if self.cache_users > 1_000_000 {
            return bad("taste.cache_users", "must be at most 1000000");
        }
        Ok(())
    }
}

/// A setting that could not be loaded, naming its key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid setting: {0}")]
    Invalid(String),
    #[error("invalid setting `{key}`: {message}")]
    Inconsistent { key: &'static str, message: String },
}

impl Settings {
    /// Loads defaults, then `file` (when given), then `APP_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid(format!(
                    "configuration file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("APP_").split("__"));
        let settings: Settings = figment.extract().map_err(|e| {
            // figment names the key and the source (file or variable) of each error
            let all: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
            ConfigError::Invalid(all.join("; "))
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks relations between settings that types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, message: String| Err(ConfigError::Inconsistent { key, message });
        if self.pool.max_connections == 0 {
            return bad("pool.max_connections", "must be at least 1".into());
        }
        if self.overload.max_inflight == 0 {
            return bad("overload.max_inflight", "must be at least 1".into());
        }
        if self.overload.request_deadline_ms == 0 {
            return bad("overload.request_deadline_ms", "must be at least 1".into());
        }
        if self.pool.acquire_timeout_ms >= self.overload.request_deadline_ms {
            return bad(
                "pool.acquire_timeout_ms",
                format!(
                    "{} ms must be shorter than overload.request_deadline_ms ({} ms)",
                    self.pool.acquire_timeout_ms, self.overload.request_deadline_ms
                ),
            );
        }
        if self.overload.queue_timeout_ms >= self.overload.request_deadline_ms {
            return bad(
                "overload.queue_timeout_ms",
                "must be shorter than overload.request_deadline_ms".into(),
            );
        }
        if self.http.body_limit_bytes == 0 {
            return bad("http.body_limit_bytes", "must be at least 1".into());
        }
        self.taste.validate()?;
        if self.rate_limit.burst == 0 {
            return bad("rate_limit.burst", "must be at least 1".into());
        }
        if self.rate_limit.writes_per_minute == 0 {
            return bad("rate_limit.writes_per_minute", "must be at least 1".into());
        }
        if !(64..=16_777_216).contains(&self.rate_limit.tracked_users) {
            return bad(
                "rate_limit.tracked_users",
                "must be in 64..=16777216".into(),
            );
        }
        if self.http.max_connections == 0 {
            return bad("http.max_connections", "must be at least 1".into());
        }
        for (key, ms) in [
            (
                "http.header_read_timeout_ms",
                self.http.header_read_timeout_ms,
            ),
            ("http.idle_timeout_ms", self.http.idle_timeout_ms),
            ("http.write_timeout_ms", self.http.write_timeout_ms),
        ] {
            if ms == 0 {
                return bad(key, "must be at least 1".into());
            }
        }
        for (i, spec) in self.chaos.faults.iter().enumerate() {
            if let Err(e) = crate::chaos::FaultSpec::parse(spec) {
                return Err(ConfigError::Invalid(format!("chaos.faults[{i}]: {e}")));
            }
        }
        if self.chaos.active() && !self.listen.ip().is_loopback() && !self.chaos.allow_non_loopback
        {
            return bad(
                "chaos.enabled",
                format!(
                    "fault hooks on a non-loopback address ({}) need chaos.allow_non_loopback = true",
                    self.listen
                ),
            );
        }
        if let Some(token) = &self.admin_token
            && token.expose_secret().len() < 16
        {
            return bad("admin_token", "must be at least 16 characters".into());
        }
        let url = self.database_url.expose_secret();
        if crate::store::Backend::from_url(url).is_none() {
            return bad(
                "database_url",
                "must start with sqlite:, postgres:, postgresql: or mysql:".into(),
            );
        }
        Ok(())
    }

    pub fn request_deadline(&self) -> Duration {
        Duration::from_millis(self.overload.request_deadline_ms)
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment's error
mod tests {
    use super::*;

    #[test]
    fn defaults_are_consistent() {
        Settings::default()
            .validate()
            .expect("default settings validate");
    }

    #[test]
    fn acquire_timeout_longer_than_deadline_is_rejected_naming_the_key() {
        let mut s = Settings::default();
        s.pool.acquire_timeout_ms = 5_000;
        let err = s.validate().expect_err("must be rejected").to_string();
        assert!(err.contains("pool.acquire_timeout_ms"), "{err}");
    }

    #[test]
    fn chaos_on_a_public_address_is_refused() {
        let mut s = Settings::default();
        s.chaos.faults = vec!["leak-memory:bytes=3".into()];
        s.validate().expect("loopback is fine");
        s.listen = SocketAddr::from(([0, 0, 0, 0], 8080));
        let err = s.validate().expect_err("must be refused").to_string();
        assert!(err.contains("chaos"), "{err}");
        s.chaos.allow_non_loopback = true;
        s.validate().expect("explicitly allowed");
    }

    #[test]
    fn a_bad_fault_spec_is_named() {
        let mut s = Settings::default();
        s.chaos.faults = vec!["leak-memory:bytes=3".into(), "leak-disk".into()];
        let err = s.validate().expect_err("must fail").to_string();
        assert!(
            err.contains("chaos.faults[1]") && err.contains("leak-disk"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_rate_limit_setting_is_named() {
        let mut s = Settings::default();
        s.rate_limit.writes_per_minute = 0;
        let err = s.validate().expect_err("must fail").to_string();
        assert!(err.contains("rate_limit.writes_per_minute"), "{err}");
        s.rate_limit.writes_per_minute = 60;
        s.rate_limit.tracked_users = 10;
        let err = s.validate().expect_err("must fail").to_string();
        assert!(err.contains("rate_limit.tracked_users"), "{err}");
    }

    #[test]
    fn a_bad_taste_setting_is_named() {
        let mut s = Settings::default();
        s.taste.factors = 0;
        let err = s.validate().expect_err("must fail").to_string();
        assert!(err.contains("taste.factors"), "{err}");
        s.taste.factors = 8;
        s.taste.strength = f32::NAN;
        let err = s.validate().expect_err("must fail").to_string();
        assert!(err.contains("taste.strength"), "{err}");
    }

    #[test]
    fn bad_environment_value_names_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("APP_OVERLOAD__MAX_INFLIGHT", "many");
            let err = Settings::load(None).expect_err("must fail").to_string();
            assert!(
                err.to_lowercase().contains("overload.max_inflight"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_key_in_file_is_rejected_naming_it() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("app.toml", "[pool]\nmax_conections = 3\n")?;
            let err = Settings::load(Some(Path::new("app.toml")))
                .expect_err("must fail")
                .to_string();
            assert!(err.contains("max_conections"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("app.toml", "[pool]\nmax_connections = 3\n")?;
            jail.set_env("APP_POOL__MAX_CONNECTIONS", "7");
            let s = Settings::load(Some(Path::new("app.toml"))).expect("loads");
            assert_eq!(s.pool.max_connections, 7);
            Ok(())
        });
    }
}
