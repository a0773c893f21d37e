//! Toxics: what a proxy does to the bytes of a link, with Toxiproxy's JSON shape.
//!
//! A toxic serializes as `{"name", "type", "stream", "toxicity", "attributes"}`,
//! the way Toxiproxy's API and clients expect. Attributes are whole numbers in
//! Toxiproxy's units: milliseconds, KB/s (1 KB = 1000 bytes), microseconds for
//! the slicer's delay, bytes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Which way the toxic acts: `upstream` is client to server, `downstream` server to client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Upstream,
    Downstream,
}

impl Stream {
    /// The name Toxiproxy uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }
}

/// The toxic types and their attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "attributes", rename_all = "snake_case")]
pub enum ToxicKind {
    /// Delays each chunk by `latency` ms, plus or minus up to `jitter` ms.
    Latency { latency: u64, jitter: u64 },
    /// Caps throughput at `rate` KB/s.
    Bandwidth { rate: u64 },
    /// Delays the close (EOF) by `delay` ms.
    SlowClose { delay: u64 },
    /// Lets no data through and closes the link after `timeout` ms (0: holds until removed).
    Timeout { timeout: u64 },
    /// On data, waits `timeout` ms, then resets both sides (TCP RST).
    ResetPeer { timeout: u64 },
    /// Cuts data into pieces of `average_size` +- `size_variation` bytes, `delay` µs apart.
    Slicer {
        average_size: u64,
        size_variation: u64,
        delay: u64,
    },
    /// Closes the link once `bytes` have passed.
    LimitData { bytes: u64 },
}

/// One toxic on one proxy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Toxic {
    /// Unique per proxy; defaults to `<type>_<stream>`.
    pub name: String,
    #[serde(flatten)]
    pub kind: ToxicKind,
    pub stream: Stream,
    /// Probability (0..=1) that the toxic applies to a given connection.
    pub toxicity: f32,
}

/// A toxic that Toxiproxy would refuse (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ToxicError(pub String);

/// Longest time attribute accepted (one day, in ms): a typo must not hold a link for years.
const MAX_MS: u64 = 86_400_000;

const TYPES: &str = "latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data";

impl ToxicKind {
    /// Toxiproxy's type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::Slicer { .. } => "slicer",
            ToxicKind::LimitData { .. } => "limit_data",
        }
    }

    /// Builds a toxic of type `kind` from JSON attributes; missing ones take `base`'s
    /// value (an update) or 0 (a create).
    fn from_attributes(
        kind: &str,
        attrs: &Map<String, Value>,
        base: Option<&ToxicKind>,
    ) -> Result<ToxicKind, ToxicError> {
        let names: &[&str] = match kind {
            "latency" => &["latency", "jitter"],
            "bandwidth" => &["rate"],
            "slow_close" => &["delay"],
            "timeout" | "reset_peer" => &["timeout"],
            "slicer" => &["average_size", "size_variation", "delay"],
            "limit_data" => &["bytes"],
            other => {
                return Err(ToxicError(format!(
                    "invalid toxic type: {other:?} (one of {TYPES})"
                )));
            }
        };
        if let Some(unknown) = attrs.keys().find(|k| !names.contains(&k.as_str())) {
            return Err(ToxicError(format!(
                "{kind} has no attribute {unknown:?} (it takes {})",
                names.join(", ")
            )));
        }
        let old = base.map(|b| serde_json::to_value(b).unwrap_or(Value::Null));
        let get = |name: &str| -> Result<u64, ToxicError> {
            let value = attrs
                .get(name)
                .or_else(|| old.as_ref().and_then(|o| o.get("attributes")?.get(name)));
            match value {
                None => Ok(0),
                Some(v) => v.as_u64().ok_or_else(|| {
                    ToxicError(format!(
                        "{kind} attribute {name} must be a whole number >= 0, not {v}"
                    ))
                }),
            }
        };
        let ms = |name: &str| -> Result<u64, ToxicError> {
            let v = get(name)?;
            if v > MAX_MS {
                return Err(ToxicError(format!(
                    "{kind} attribute {name}={v} is above {MAX_MS} ms"
                )));
            }
            Ok(v)
        };
        let kind = match kind {
            "latency" => ToxicKind::Latency {
                latency: ms("latency")?,
                jitter: ms("jitter")?,
            },
            "bandwidth" => match get("rate")? {
                0 => {
                    return Err(ToxicError(
                        "bandwidth rate must be at least 1 KB/s (a timeout toxic stops data)"
                            .into(),
                    ));
                }
                rate => ToxicKind::Bandwidth { rate },
            },
            "slow_close" => ToxicKind::SlowClose {
                delay: ms("delay")?,
            },
            "timeout" => ToxicKind::Timeout {
                timeout: ms("timeout")?,
            },
            "reset_peer" => ToxicKind::ResetPeer {
                timeout: ms("timeout")?,
            },
            "slicer" => {
                let (average_size, size_variation) = (get("average_size")?, get("size_variation")?);
                if average_size == 0 || size_variation >= average_size {
                    return Err(ToxicError(format!(
                        "slicer needs average_size >= 1 and size_variation below it \
                         (got {average_size} and {size_variation})"
                    )));
                }
                let delay = get("delay")?;
                if delay > MAX_MS * 1000 {
                    return Err(ToxicError(format!("slicer delay={delay} µs is too long")));
                }
                ToxicKind::Slicer {
                    average_size,
                    size_variation,
                    delay,
                }
            }
            _ => ToxicKind::LimitData {
                bytes: get("bytes")?,
            },
        };
        Ok(kind)
    }
}

impl Toxic {
    /// A toxic on the downstream, always applied, named `<type>_downstream`.
    pub fn new(kind: ToxicKind) -> Toxic {
        Toxic {
            name: format!("{}_downstream", kind.type_name()),
            kind,
            stream: Stream::Downstream,
            toxicity: 1.0,
        }
    }

    /// Moves the toxic to `stream`, renaming a default name to match.
    pub fn on(mut self, stream: Stream) -> Toxic {
        if self.name == format!("{}_{}", self.kind.type_name(), self.stream.as_str()) {
            self.name = format!("{}_{}", self.kind.type_name(), stream.as_str());
        }
        self.stream = stream;
        self
    }

    pub fn named(mut self, name: impl Into<String>) -> Toxic {
        self.name = name.into();
        self
    }

    pub fn with_toxicity(mut self, toxicity: f32) -> Toxic {
        self.toxicity = toxicity;
        self
    }

    /// Checks what the builders cannot: toxicity in 0..=1, a non-empty name.
    pub fn validate(&self) -> Result<(), ToxicError> {
        if !(0.0..=1.0).contains(&self.toxicity) {
            return Err(ToxicError(format!(
                "toxicity must be between 0 and 1, not {}",
                self.toxicity
            )));
        }
        if self.name.trim().is_empty() {
            return Err(ToxicError("toxic name must not be empty".into()));
        }
        // the JSON path checks attributes; the builders get the same checks here
        let value = serde_json::to_value(&self.kind).unwrap_or(Value::Null);
        let attrs = value
            .get("attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        ToxicKind::from_attributes(self.kind.type_name(), &attrs, None).map(drop)
    }

    /// Reads a toxic from a request body, as `POST /proxies/{name}/toxics` (no `base`)
    /// or `POST /proxies/{name}/toxics/{toxic}` (`base`: the toxic being updated) does.
    pub fn from_json(body: &Value, base: Option<&Toxic>) -> Result<Toxic, ToxicError> {
        let obj = body
            .as_object()
            .ok_or_else(|| ToxicError("bad request body: expected a JSON object".into()))?;
        let text = |key: &str| -> Result<Option<&str>, ToxicError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(other) => Err(ToxicError(format!("{key} must be a string, not {other}"))),
            }
        };
        let type_name = match (text("type")?, base) {
            (Some(t), Some(b)) if t != b.kind.type_name() => {
                return Err(ToxicError(format!(
                    "a toxic's type cannot change ({} to {t}); delete it and add a new one",
                    b.kind.type_name()
                )));
            }
            (Some(t), _) => t.to_string(),
            (None, Some(b)) => b.kind.type_name().to_string(),
            (None, None) => return Err(ToxicError("missing required field: type".into())),
        };
        let stream = match text("stream")? {
            None => base.map_or(Stream::Downstream, |b| b.stream),
            Some("upstream") => Stream::Upstream,
            Some("downstream") => Stream::Downstream,
            Some(other) => {
                return Err(ToxicError(format!(
                    "stream was invalid, can be either upstream or downstream (got {other:?})"
                )));
            }
        };
        let toxicity = match obj.get("toxicity") {
            None | Some(Value::Null) => base.map_or(1.0, |b| b.toxicity),
            Some(v) => match v.as_f64() {
                Some(t) if (0.0..=1.0).contains(&t) => t as f32,
                _ => {
                    return Err(ToxicError(format!(
                        "toxicity must be a number between 0 and 1, not {v}"
                    )));
                }
            },
        };
        let empty = Map::new();
        let attrs = match obj.get("attributes") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(a)) => a,
            Some(other) => {
                return Err(ToxicError(format!(
                    "attributes must be an object, not {other}"
                )));
            }
        };
        let kind = ToxicKind::from_attributes(&type_name, attrs, base.map(|b| &b.kind))?;
        let name = match (text("name")?, base) {
            (_, Some(b)) => b.name.clone(),
            (Some(n), None) if !n.trim().is_empty() => n.to_string(),
            (Some(_), None) => return Err(ToxicError("toxic name must not be empty".into())),
            (None, None) => format!("{type_name}_{}", stream.as_str()),
        };
        Ok(Toxic {
            name,
            kind,
            stream,
            toxicity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_toxic_serializes_with_toxiproxys_field_names() {
        let t = Toxic::new(ToxicKind::Latency {
            latency: 100,
            jitter: 5,
        })
        .on(Stream::Upstream);
        assert_eq!(
            serde_json::to_value(&t).expect("json"),
            json!({"name": "latency_upstream", "type": "latency", "stream": "upstream",
                   "toxicity": 1.0, "attributes": {"latency": 100, "jitter": 5}})
        );
    }

    #[test]
    fn a_created_toxic_takes_defaults_and_an_update_keeps_what_it_does_not_name() {
        let t = Toxic::from_json(
            &json!({"type": "slicer", "attributes":
            {"average_size": 10, "size_variation": 3, "delay": 50}}),
            None,
        )
        .expect("slicer");
        assert_eq!(t.name, "slicer_downstream");
        assert_eq!(t.toxicity, 1.0);
        let u = Toxic::from_json(
            &json!({"attributes": {"delay": 7}, "toxicity": 0.5}),
            Some(&t),
        )
        .expect("update");
        assert_eq!(
            u.kind,
            ToxicKind::Slicer {
                average_size: 10,
                size_variation: 3,
                delay: 7
            }
        );
        assert_eq!(u.toxicity, 0.5);
    }

    #[test]
    fn invalid_toxics_say_what_is_wrong() {
        for (body, expected) in [
            (
                json!({"type": "latency", "stream": "sideways"}),
                "stream was invalid",
            ),
            (json!({"type": "tsunami"}), "invalid toxic type"),
            (json!({"attributes": {}}), "missing required field: type"),
            (json!({"type": "latency", "toxicity": 1.5}), "toxicity"),
            (
                json!({"type": "latency", "attributes": {"latency": -1}}),
                "whole number",
            ),
            (
                json!({"type": "latency", "attributes": {"latncy": 1}}),
                "no attribute",
            ),
            (
                json!({"type": "bandwidth", "attributes": {"rate": 0}}),
                "at least 1",
            ),
            (
                json!({"type": "slicer", "attributes": {"average_size": 0}}),
                "slicer needs",
            ),
            (
                json!({"type": "timeout", "attributes": {"timeout": u64::MAX}}),
                "above",
            ),
            (json!([1, 2]), "JSON object"),
        ] {
            let err = Toxic::from_json(&body, None).expect_err(&body.to_string());
            assert!(err.0.contains(expected), "{body}: {err}");
        }
    }
}
