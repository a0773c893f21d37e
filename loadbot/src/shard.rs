//! One shard of a run spread over many machines: `--shard I/N` (I from 0 to
//! N-1, so a Kubernetes completion index is a shard number as it is), the
//! shard's own seed, the shared start time, and `shard.json`, the mergeable
//! result: per phase the outcome counters and the HDR latency histograms
//! (hdrhistogram's V2 format, base64), with the scenario, seed and self-check.

use std::{collections::BTreeMap, fmt, path::Path, str::FromStr, time::Duration};

use anyhow::Context;
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use hdrhistogram::{
    Histogram,
    serialization::{Deserializer, Serializer, V2Serializer},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{outcome::Outcome, selfcheck::SelfCheck, stats::PhaseStats};

/// The result file a shard writes in its report folder.
pub(crate) const FILE: &str = "shard.json";
/// Version of `shard.json`'s layout; merge refuses others.
pub(crate) const FORMAT: u32 = 1;
/// A shard whose fleet started this much after `--start-at` started late.
pub(crate) const MAX_START_LATENESS: Duration = Duration::from_secs(1);

/// Shard `index` of `count`, `index` counted from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct ShardSpec {
    pub(crate) index: u32,
    pub(crate) count: u32,
}

impl FromStr for ShardSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<ShardSpec, String> {
        let usage = || format!("{s:?}: use I/N with 0 <= I < N, like 0/3");
        let (i, n) = s.split_once('/').ok_or_else(usage)?;
        let index: u32 = i.trim().parse().map_err(|_| usage())?;
        let count: u32 = n.trim().parse().map_err(|_| usage())?;
        if count == 0 || index >= count {
            return Err(usage());
        }
        Ok(ShardSpec { index, count })
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl ShardSpec {
    /// The seed this shard's arrivals, journeys and think times use: distinct
    /// per shard, the same for the same (seed, shard) on every machine.
    pub(crate) fn seed(self, seed: u64) -> u64 {
        let tag = (u64::from(self.index) << 32) | u64::from(self.count);
        splitmix64(seed ^ splitmix64(tag))
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `--start-at`: RFC 3339 (`2026-11-30T13:00:00Z`) or unix seconds.
pub(crate) fn parse_start_at(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(secs) = s.trim().parse::<i64>() {
        return chrono::DateTime::from_timestamp(secs, 0)
            .ok_or_else(|| format!("{s:?}: unix seconds out of range"));
    }
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.to_utc())
        .map_err(|e| format!("{s:?}: use RFC 3339 (2026-11-30T13:00:00Z) or unix seconds: {e}"))
}

/// SHA-256 of the scenario's canonical TOML: shards of one run share it.
pub(crate) fn scenario_hash(toml: &str) -> String {
    hex::encode(Sha256::digest(toml.as_bytes()))
}

/// A histogram in hdrhistogram's V2 format, base64.
pub(crate) fn encode(h: &Histogram<u64>) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| anyhow::anyhow!("serializing a histogram: {e:?}"))?;
    Ok(BASE64.encode(bytes))
}

/// The inverse of [`encode`].
pub(crate) fn decode(text: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = BASE64.decode(text).context("histogram is not base64")?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("histogram is not in hdrhistogram's V2 format: {e:?}"))
}

/// One phase as a shard saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ShardPhase {
    pub(crate) name: String,
    pub(crate) start_s: f64,
    pub(crate) end_s: f64,
    /// Requests per outcome (`ok`, `shed`, ...).
    pub(crate) outcomes: BTreeMap<String, u64>,
    pub(crate) arrivals: u64,
    pub(crate) late_starts: u64,
    pub(crate) dropped_arrivals: u64,
    /// `ok`, `shed` and `shed_from_send` latency in microseconds: V2 histograms, base64.
    pub(crate) latency_us: BTreeMap<String, String>,
}

impl ShardPhase {
    pub(crate) fn new(name: &str, span: (f64, f64), p: &PhaseStats) -> anyhow::Result<ShardPhase> {
        Ok(ShardPhase {
            name: name.to_owned(),
            start_s: span.0,
            end_s: span.1,
            outcomes: Outcome::ALL
                .iter()
                .map(|o| (o.as_str().to_owned(), p.count(*o)))
                .collect(),
            arrivals: p.arrivals,
            late_starts: p.late_starts,
            dropped_arrivals: p.dropped_arrivals,
            latency_us: [
                ("ok".to_owned(), encode(&p.ok_latency)?),
                ("shed".to_owned(), encode(&p.shed_latency)?),
                ("shed_from_send".to_owned(), encode(&p.shed_sent_latency)?),
            ]
            .into_iter()
            .collect(),
        })
    }

    /// Adds this phase's counters and histograms into `into`.
    pub(crate) fn add_to(&self, into: &mut PhaseStats) -> anyhow::Result<()> {
        for (name, n) in &self.outcomes {
            let o = Outcome::ALL
                .iter()
                .find(|o| o.as_str() == name)
                .with_context(|| format!("unknown outcome {name:?}"))?;
            into.outcomes[o.index()] += n;
        }
        into.arrivals += self.arrivals;
        into.late_starts += self.late_starts;
        into.dropped_arrivals += self.dropped_arrivals;
        for (kind, h) in [
            ("ok", &mut into.ok_latency),
            ("shed", &mut into.shed_latency),
            ("shed_from_send", &mut into.shed_sent_latency),
        ] {
            if let Some(text) = self.latency_us.get(kind) {
                let add = decode(text).with_context(|| format!("{kind} latency"))?;
                h.add(&add)
                    .map_err(|e| anyhow::anyhow!("adding the {kind} latency: {e:?}"))?;
            }
        }
        Ok(())
    }
}

/// `shard.json`: everything `loadbot merge` needs from one shard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ShardFile {
    pub(crate) format: u32,
    pub(crate) scenario: String,
    pub(crate) scenario_hash: String,
    /// The scenario itself, so the merge judges the very SLOs the shards ran under.
    pub(crate) scenario_toml: String,
    /// The run's seed (each shard derives its own from it and its index).
    pub(crate) seed: u64,
    pub(crate) shard: ShardSpec,
    pub(crate) start_at: Option<String>,
    /// When this shard's fleet actually started (RFC 3339).
    pub(crate) started_at: String,
    /// Seconds past `start_at` the fleet started; negative when early.
    pub(crate) start_lateness_s: Option<f64>,
    pub(crate) late: bool,
    pub(crate) target: String,
    pub(crate) duration_s: f64,
    pub(crate) time_factor: f64,
    /// This shard's multiplier on the scenario's users and arrival rates.
    pub(crate) load_factor: f64,
    pub(crate) peak_users: f64,
    pub(crate) expected_arrivals: f64,
    pub(crate) interrupted: bool,
    pub(crate) loadbot_errors: u64,
    pub(crate) abandoned_at_stop: u64,
    pub(crate) phases: Vec<ShardPhase>,
    pub(crate) self_check: SelfCheck,
}

impl ShardFile {
    pub(crate) fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self).context("serializing shard.json")?;
        std::fs::write(dir.join(FILE), json + "\n").context("writing shard.json")
    }

    pub(crate) fn read(path: &Path) -> anyhow::Result<ShardFile> {
        let text = std::fs::read_to_string(path)?;
        let file: ShardFile = serde_json::from_str(&text).context("not a loadbot shard.json")?;
        anyhow::ensure!(
            file.format == FORMAT,
            "format {} (this loadbot reads {FORMAT})",
            file.format
        );
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{histogram, record};

    #[test]
    fn shard_specs_count_from_zero_and_reject_the_impossible() {
        assert_eq!("0/3".parse(), Ok(ShardSpec { index: 0, count: 3 }));
        assert_eq!("2/3".parse(), Ok(ShardSpec { index: 2, count: 3 }));
        for bad in ["3/3", "1/0", "x/2", "1", "-1/2", ""] {
            assert!(bad.parse::<ShardSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shard_seeds_are_distinct_and_reproducible() {
        let seeds: Vec<u64> = (0..8)
            .map(|index| ShardSpec { index, count: 8 }.seed(42))
            .collect();
        let mut unique = seeds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 8);
        assert_eq!(seeds[3], ShardSpec { index: 3, count: 8 }.seed(42));
        assert_ne!(seeds[3], ShardSpec { index: 3, count: 8 }.seed(43));
    }

    #[test]
    fn start_times_take_rfc3339_or_unix_seconds() {
        let a = parse_start_at("2026-11-30T13:00:00Z").expect("rfc 3339");
        let b = parse_start_at("1796043600").expect("unix seconds");
        assert_eq!(a, b);
        assert!(parse_start_at("tomorrow").is_err());
    }

    #[test]
    fn histograms_survive_the_round_trip() {
        let mut h = histogram();
        for ms in [1, 5, 5, 40, 900] {
            record(&mut h, Duration::from_millis(ms));
        }
        let back = decode(&encode(&h).expect("encodes")).expect("decodes");
        assert_eq!(back, h);
        assert!(decode("not base64!").is_err());
    }
}
