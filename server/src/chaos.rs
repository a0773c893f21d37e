//! Fault hooks: compiled in, inert unless the server is started with them.
//!
//! `serve --chaos-fault SPEC` (repeatable) or `--chaos` turns the hooks on;
//! with an admin token, `GET|POST|DELETE /admin/chaos/faults` changes them at
//! run time. Spec names are a contract with the gate and its tests:
//!
//! - `leak-connection:every=N[,route=R][,detach=true]`: every Nth request on R
//!   takes a pool connection and never gives it back (the forgotten close); with
//!   `detach=true` the connection leaves the pool first, so the pool opens a new
//!   one in its place and the database, not the pool, runs out (MySQL's error
//!   1040 "Too many connections", the original outage);
//! - `leak-task:every=N[,route=R]`: every Nth request on R spawns a task that
//!   never ends (a forgotten background job);
//! - `leak-memory:bytes=B[,route=R]`: every request on R leaks B bytes;
//! - `hang:route=R[,every=N]`: accept and never answer;
//! - `slow-query:ms=M[,route=R]`: every request on R holds a connection M ms first;
//! - `panic:route=R[,every=N]`: the handler panics (answered 500 by the catch layer);
//! - `exhaust-pool`: every pool connection is taken and held while the fault is active.
//!
//! A route is matched against axum's route pattern (`/v1/outfits`,
//! `/v1/garments/{id}`); no route means every route.

use std::{
    fmt,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use serde::Serialize;

use crate::store::{Db, TrackedConn};

/// A fault as written on the command line or posted to the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FaultSpec {
    LeakConnection {
        every: u64,
        route: Option<String>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        detach: bool,
    },
    LeakTask {
        every: u64,
        route: Option<String>,
    },
    LeakMemory {
        bytes: usize,
        route: Option<String>,
    },
    Hang {
        route: String,
        every: u64,
    },
    SlowQuery {
        ms: u64,
        route: Option<String>,
    },
    Panic {
        route: String,
        every: u64,
    },
    ExhaustPool,
}

/// Why a spec could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("fault spec {spec:?}: {message}")]
pub struct SpecError {
    spec: String,
    message: String,
}

/// Largest leak per request a spec may ask for (a typo must not eat the machine).
const MAX_LEAK_BYTES: usize = 1 << 20;

impl FaultSpec {
    /// Parses `kind[:key=value,...]`.
    pub fn parse(spec: &str) -> Result<FaultSpec, SpecError> {
        let err = |message: String| SpecError {
            spec: spec.to_string(),
            message,
        };
        let (kind, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let mut params: Vec<(&str, &str)> = Vec::new();
        for part in rest.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| err(format!("{part:?} is not key=value")))?;
            if params.iter().any(|(seen, _)| *seen == k) {
                return Err(err(format!("{k} given twice")));
            }
            params.push((k, v));
        }
        let allowed: &[&str] = match kind {
            "leak-connection" => &["every", "route", "detach"],
            "leak-task" => &["every", "route"],
            "leak-memory" => &["bytes", "route"],
            "hang" | "panic" => &["route", "every"],
            "slow-query" => &["ms", "route"],
            "exhaust-pool" => &[],
            other => {
                return Err(err(format!(
                    "unknown fault {other:?} (leak-connection, leak-memory, leak-task, hang, slow-query, panic, exhaust-pool)"
                )));
            }
        };
        if let Some((k, _)) = params.iter().find(|(k, _)| !allowed.contains(k)) {
            return Err(err(format!(
                "{kind} takes no {k:?} (it takes: {})",
                allowed.join(", ")
            )));
        }
        let get = |k: &str| params.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        let number = |k: &str, min: u64| -> Result<Option<u64>, SpecError> {
            match get(k) {
                None => Ok(None),
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if n >= min => Ok(Some(n)),
                    _ => Err(err(format!("{k}={v:?} must be a whole number >= {min}"))),
                },
            }
        };
        let route = |required: bool| -> Result<Option<String>, SpecError> {
            match get("route") {
                Some(r) if r.starts_with('/') => Ok(Some(r.to_string())),
                Some(r) => Err(err(format!("route={r:?} must start with /"))),
                None if required => Err(err(format!("{kind} needs route=R"))),
                None => Ok(None),
            }
        };
        let required =
            |k: &str, v: Option<u64>| v.ok_or_else(|| err(format!("{kind} needs {k}=N")));
        Ok(match kind {
            "leak-connection" => FaultSpec::LeakConnection {
                every: required("every", number("every", 1)?)?,
                route: route(false)?,
                detach: match get("detach") {
                    None | Some("false") => false,
                    Some("true") => true,
                    Some(v) => return Err(err(format!("detach={v:?} must be true or false"))),
                },
            },
            "leak-task" => FaultSpec::LeakTask {
                every: required("every", number("every", 1)?)?,
                route: route(false)?,
            },
            "leak-memory" => {
                let bytes = required("bytes", number("bytes", 1)?)?;
                if bytes as usize > MAX_LEAK_BYTES {
                    return Err(err(format!("bytes={bytes} is above {MAX_LEAK_BYTES}")));
                }
                FaultSpec::LeakMemory {
                    bytes: bytes as usize,
                    route: route(false)?,
                }
            }
            "hang" => FaultSpec::Hang {
                route: route(true)?.unwrap_or_default(),
                every: number("every", 1)?.unwrap_or(1),
            },
            "panic" => FaultSpec::Panic {
                route: route(true)?.unwrap_or_default(),
                every: number("every", 1)?.unwrap_or(1),
            },
            "slow-query" => FaultSpec::SlowQuery {
                ms: required("ms", number("ms", 1)?)?,
                route: route(false)?,
            },
            _ => FaultSpec::ExhaustPool,
        })
    }

    fn route(&self) -> Option<&str> {
        match self {
            FaultSpec::LeakConnection { route, .. }
            | FaultSpec::LeakTask { route, .. }
            | FaultSpec::LeakMemory { route, .. }
            | FaultSpec::SlowQuery { route, .. } => route.as_deref(),
            FaultSpec::Hang { route, .. } | FaultSpec::Panic { route, .. } => Some(route),
            FaultSpec::ExhaustPool => None,
        }
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let route = |r: &Option<String>| {
            r.as_ref()
                .map(|r| format!(",route={r}"))
                .unwrap_or_default()
        };
        match self {
            FaultSpec::LeakConnection {
                every,
                route: r,
                detach,
            } => {
                write!(f, "leak-connection:every={every}{}", route(r))?;
                if *detach {
                    write!(f, ",detach=true")?;
                }
                Ok(())
            }
            FaultSpec::LeakTask { every, route: r } => {
                write!(f, "leak-task:every={every}{}", route(r))
            }
            FaultSpec::LeakMemory { bytes, route: r } => {
                write!(f, "leak-memory:bytes={bytes}{}", route(r))
            }
            FaultSpec::Hang { route, every } => write!(f, "hang:route={route},every={every}"),
            FaultSpec::SlowQuery { ms, route: r } => write!(f, "slow-query:ms={ms}{}", route(r)),
            FaultSpec::Panic { route, every } => write!(f, "panic:route={route},every={every}"),
            FaultSpec::ExhaustPool => write!(f, "exhaust-pool"),
        }
    }
}

/// An active fault and its request counter.
#[derive(Debug)]
struct Active {
    id: u64,
    spec: FaultSpec,
    seen: AtomicU64,
    /// The code site leaked connections are recorded under; it names the route.
    site: &'static str,
    /// Connections held by `exhaust-pool`, released when the fault is removed.
    held: Mutex<Vec<TrackedConn>>,
}

/// A fault as listed by the admin API.
#[derive(Debug, Clone, Serialize)]
pub struct FaultView {
    pub id: u64,
    pub spec: String,
    #[serde(flatten)]
    pub fault: FaultSpec,
    /// Requests on the fault's route so far.
    pub requests: u64,
}

/// The server's fault hooks; present only when chaos is enabled.
#[derive(Debug)]
pub struct Chaos {
    faults: Mutex<Vec<Arc<Active>>>,
    next_id: AtomicU64,
    db: Db,
}

impl Chaos {
    pub fn new(db: Db) -> Arc<Chaos> {
        Arc::new(Chaos {
            faults: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            db,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Active>>> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Activates a fault; returns its id.
    pub async fn add(&self, spec: FaultSpec) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // one small string per added fault, so the label outlives the fault
        let site: &'static str = Box::leak(
            format!(
                "chaos leak-connection on {}",
                spec.route().unwrap_or("every route")
            )
            .into_boxed_str(),
        );
        let active = Arc::new(Active {
            id,
            spec: spec.clone(),
            seen: AtomicU64::new(0),
            site,
            held: Mutex::new(Vec::new()),
        });
        if spec == FaultSpec::ExhaustPool {
            // take whatever the pool gives within its acquire timeout
            let mut held = Vec::new();
            while let Ok(conn) = self.db.acquire(crate::site!()).await {
                held.push(conn);
                if held.len() >= 10_000 {
                    break;
                }
            }
            tracing::warn!(connections = held.len(), "chaos: pool exhausted");
            *active.held.lock().unwrap_or_else(|p| p.into_inner()) = held;
        }
        tracing::warn!(id, fault = %spec, "chaos: fault active");
        self.lock().push(active);
        id
    }

    /// Removes one fault (`Some(id)`) or all; returns how many went.
    pub fn remove(&self, id: Option<u64>) -> usize {
        let mut faults = self.lock();
        let before = faults.len();
        faults.retain(|f| id.is_some_and(|id| f.id != id));
        before - faults.len()
    }

    pub fn list(&self) -> Vec<FaultView> {
        self.lock()
            .iter()
            .map(|f| FaultView {
                id: f.id,
                spec: f.spec.to_string(),
                fault: f.spec.clone(),
                requests: f.seen.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Faults that apply to `route`, each with this request's ordinal on it.
    fn matching(&self, route: &str, hang: bool) -> Vec<(Arc<Active>, u64)> {
        self.lock()
            .iter()
            .filter(|f| matches!(f.spec, FaultSpec::Hang { .. }) == hang)
            .filter(|f| f.spec.route().is_none_or(|r| r == route))
            .map(|f| {
                let n = f.seen.fetch_add(1, Ordering::Relaxed) + 1;
                (f.clone(), n)
            })
            .collect()
    }
}

fn route_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default()
}

/// Outermost hook: `hang` must escape the deadline, so it runs before admission.
pub async fn outer(State(chaos): State<Arc<Chaos>>, req: Request, next: Next) -> Response {
    let route = route_of(&req);
    for (fault, n) in chaos.matching(&route, true) {
        if let FaultSpec::Hang { every, .. } = fault.spec
            && n % every == 0
        {
            tracing::warn!(route, "chaos: hanging this request");
            std::future::pending::<()>().await;
        }
    }
    next.run(req).await
}

/// Inner hook, inside admission and the deadline: leaks, slowness, panics.
pub async fn inner(State(chaos): State<Arc<Chaos>>, req: Request, next: Next) -> Response {
    let route = route_of(&req);
    for (fault, n) in chaos.matching(&route, false) {
        match &fault.spec {
            FaultSpec::LeakConnection { every, detach, .. } if n % every == 0 => {
                if let Ok(conn) = chaos.db.acquire(fault.site).await {
                    if *detach {
                        // out of the pool's books, still open on the database
                        let (raw, hold) = conn.detach();
                        std::mem::forget(raw);
                        std::mem::forget(hold);
                    } else {
                        // the forgotten close: the pool never sees this one again
                        std::mem::forget(conn);
                    }
                }
            }
            FaultSpec::LeakTask { every, .. } if n % every == 0 => {
                // a background job nobody awaits or cancels
                tokio::spawn(std::future::pending::<()>());
            }
            FaultSpec::LeakMemory { bytes, .. } => {
                let leaked: &'static mut [u8] = Box::leak(vec![0xA5u8; *bytes].into_boxed_slice());
                std::hint::black_box(leaked);
            }
            FaultSpec::SlowQuery { ms, .. } => {
                if let Ok(conn) = chaos.db.acquire(crate::site!()).await {
                    tokio::time::sleep(Duration::from_millis(*ms)).await;
                    drop(conn);
                }
            }
            FaultSpec::Panic { every, .. } if n % every == 0 => {
                panic!("chaos: injected panic on {route}");
            }
            _ => {}
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_spec_parses_and_prints_back() {
        for spec in [
            "leak-connection:every=10000,route=/v1/outfits",
            "leak-connection:every=3",
            "leak-connection:every=50,route=/v1/outfits,detach=true",
            "leak-task:every=7,route=/v1/outfits",
            "leak-memory:bytes=3",
            "leak-memory:bytes=64,route=/v1/outfits",
            "hang:route=/v1/outfits,every=1",
            "slow-query:ms=200,route=/v1/users",
            "panic:route=/v1/garments,every=5",
            "exhaust-pool",
        ] {
            let parsed = FaultSpec::parse(spec).expect(spec);
            assert_eq!(parsed.to_string(), spec);
        }
        assert_eq!(
            FaultSpec::parse("hang:route=/x").expect("hang"),
            FaultSpec::Hang {
                route: "/x".into(),
                every: 1
            }
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, expected) in [
            ("leak-disk:bytes=3", "unknown fault"),
            ("leak-memory", "needs bytes=N"),
            ("leak-memory:bytes=-3", "whole number"),
            ("leak-memory:bytes=0", ">= 1"),
            ("leak-memory:bytes=3,every=2", "takes no \"every\""),
            ("hang:every=2", "needs route=R"),
            ("hang:route=v1", "must start with /"),
            ("leak-connection:every", "not key=value"),
            ("slow-query:ms=1,ms=2", "given twice"),
            ("leak-memory:bytes=99999999", "above"),
            ("leak-connection:every=5,detach=yes", "true or false"),
            ("leak-task", "needs every=N"),
        ] {
            let err = FaultSpec::parse(spec).expect_err(spec).to_string();
            assert!(err.contains(expected), "{spec}: {err}");
        }
    }
}
