//! Faults on a scenario's schedule, injected by the gate on the link between
//! the candidate and its database: an in-process chaos proxy sits on that
//! link, so the candidate sees a real database that goes away (`db_outage`)
//! or slows down (`db_latency`) and comes back.
//!
//! Fault times are offsets from the start of the load, compressed with the
//! shape like loadbot compresses it. After an outage the gate registers a
//! user (a database write) every 100 ms until one succeeds: the time from the
//! database's return to that first success is the recovery figure.

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use chaos::{Proxy, Toxic, ToxicKind};
use scenarios::Scenario;

use crate::verdict::Check;

/// How long a candidate may take to serve again after the database returns.
pub(crate) const RECOVER_WITHIN: Duration = Duration::from_secs(5);
/// How long the gate keeps probing for recovery before it gives up.
const PROBE_FOR: Duration = Duration::from_secs(30);
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// What a fault does to the link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// The link is cut: open connections close, new ones are refused.
    Outage,
    /// Every chunk each way waits `latency_ms` plus or minus `jitter_ms`.
    Latency { latency_ms: u64, jitter_ms: u64 },
}

/// One fault on the run's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Planned {
    pub(crate) kind: Kind,
    pub(crate) at: Duration,
    pub(crate) length: Duration,
}

/// The scenario's faults on the run's clock (`factor`: wall-clock seconds per
/// scenario second); an unknown kind or parameter is an error naming it.
pub(crate) fn plan(s: &Scenario, factor: f64) -> anyhow::Result<Vec<Planned>> {
    let mut out = Vec::new();
    for (i, f) in s.faults.iter().enumerate() {
        let key = |k: &str| format!("faults[{i}].{k}");
        let param = |name: &str| -> anyhow::Result<u64> {
            match f.params.get(name) {
                None => Ok(0),
                Some(v) => v
                    .as_integer()
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| {
                        anyhow!(
                            "{}: must be a whole number of ms",
                            key(&format!("params.{name}"))
                        )
                    }),
            }
        };
        let allowed: &[&str] = match f.kind.as_str() {
            "db_outage" => &[],
            "db_latency" => &["latency_ms", "jitter_ms"],
            other => bail!(
                "{}: unknown fault kind {other:?} (the gate injects db_outage and db_latency)",
                key("kind")
            ),
        };
        if let Some(bad) = f.params.keys().find(|k| !allowed.contains(&k.as_str())) {
            bail!("{}: {} takes no parameter {bad:?}", key("params"), f.kind);
        }
        let kind = match f.kind.as_str() {
            "db_outage" => Kind::Outage,
            _ => Kind::Latency {
                latency_ms: param("latency_ms")?,
                jitter_ms: param("jitter_ms")?,
            },
        };
        out.push(Planned {
            kind,
            at: f.at.get().mul_f64(factor),
            length: f.duration.get().mul_f64(factor),
        });
    }
    out.sort_by_key(|p| p.at);
    Ok(out)
}

/// The proxied link between the candidate and its database.
#[derive(Debug)]
pub(crate) struct DbLink {
    proxy: Proxy,
    /// The database URL with the proxy's address in place of the server's.
    pub(crate) proxied_url: String,
}

impl DbLink {
    /// Starts a proxy on loopback in front of the server of `url`.
    pub(crate) async fn start(url: &str) -> anyhow::Result<DbLink> {
        let (before, host_port, after) = split_authority(url)?;
        let upstream = tokio::net::lookup_host(host_port.as_str())
            .await
            .with_context(|| format!("resolving the database server {host_port}"))?
            .next()
            .ok_or_else(|| anyhow!("the database server {host_port} has no address"))?;
        let proxy = Proxy::start(([127, 0, 0, 1], 0).into(), upstream)
            .await
            .context("starting the fault proxy")?;
        let listen = proxy
            .listen_addr()
            .ok_or_else(|| anyhow!("the fault proxy has no address"))?;
        Ok(DbLink {
            proxy,
            proxied_url: format!("{before}{listen}{after}"),
        })
    }

    /// Cuts the link for good (the step is over).
    pub(crate) async fn close(&self) {
        self.proxy.disable().await;
    }
}

/// `scheme://user@`, `host:port` (default port filled in), `/rest` of a database URL.
fn split_authority(url: &str) -> anyhow::Result<(String, String, String)> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow!("the database URL has no scheme"))?;
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, hp)) => (format!("{user}@"), hp),
        None => (String::new(), authority),
    };
    if host_port.is_empty() {
        bail!("the database URL names no server");
    }
    let host_port = if host_port
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host_port.to_string()
    } else if scheme.starts_with("postgres") {
        format!("{host_port}:5432")
    } else {
        format!("{host_port}:3306")
    };
    Ok((format!("{scheme}://{user}"), host_port, path.to_string()))
}

/// Runs the schedule from `t0`; returns a check per fault.
pub(crate) async fn run(
    scenario: &str,
    link: &DbLink,
    plan: &[Planned],
    candidate_url: &str,
    t0: Instant,
) -> Vec<Check> {
    let mut found = Vec::new();
    for (i, f) in plan.iter().enumerate() {
        tokio::time::sleep_until((t0 + f.at).into()).await;
        match f.kind {
            Kind::Outage => {
                link.proxy.disable().await;
                tokio::time::sleep(f.length).await;
                if let Err(e) = link.proxy.enable().await {
                    found.push(Check::fail(
                        scenario,
                        "database back",
                        format!("the fault proxy could not listen again: {e}"),
                    ));
                    continue;
                }
                let back = Instant::now();
                found.push(recovery(scenario, candidate_url, back, f).await);
            }
            Kind::Latency {
                latency_ms,
                jitter_ms,
            } => {
                let name = format!("scheduled_latency_{i}");
                let toxic = Toxic::new(ToxicKind::Latency {
                    latency: latency_ms,
                    jitter: jitter_ms,
                })
                .named(name.clone());
                if let Err(e) = link.proxy.add_toxic(toxic) {
                    found.push(Check::fail(
                        scenario,
                        "database latency",
                        format!("the fault proxy refused the latency toxic: {e}"),
                    ));
                    continue;
                }
                tokio::time::sleep(f.length).await;
                let _ = link.proxy.remove_toxic(&name);
                found.push(Check::pass(
                    scenario,
                    "database latency",
                    format!(
                        "{latency_ms} ms +- {jitter_ms} ms on every chunk of the database link from {:.1} s for {:.1} s",
                        f.at.as_secs_f64(),
                        f.length.as_secs_f64()
                    ),
                ));
            }
        }
    }
    found
}

/// Registers a user every [`PROBE_EVERY`] until one is stored; the check
/// passes when that took at most [`RECOVER_WITHIN`].
async fn recovery(scenario: &str, url: &str, back: Instant, f: &Planned) -> Check {
    let name = "recovers within 5 s of the database's return";
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
    {
        Ok(c) => c,
        Err(e) => return Check::fail(scenario, name, format!("no HTTP client: {e}")),
    };
    let mut last = String::from("no answer yet");
    while back.elapsed() < PROBE_FOR {
        match client.post(format!("{url}/v1/users")).send().await {
            Ok(r) if r.status().is_success() => {
                let took = back.elapsed();
                let detail = format!(
                    "the database was cut at {:.1} s for {:.1} s; the first registration after its return succeeded {:.2} s later (bound {} s)",
                    f.at.as_secs_f64(),
                    f.length.as_secs_f64(),
                    took.as_secs_f64(),
                    RECOVER_WITHIN.as_secs()
                );
                return if took <= RECOVER_WITHIN {
                    Check::pass(scenario, name, detail)
                } else {
                    Check::fail(scenario, name, detail)
                };
            }
            Ok(r) => last = format!("HTTP {}", r.status().as_u16()),
            Err(e) if e.is_timeout() => last = "no answer within 1 s".into(),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
    Check::fail(
        scenario,
        name,
        format!(
            "no registration succeeded within {} s of the database's return (last: {last})",
            PROBE_FOR.as_secs()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_takes_the_place_of_the_database_server_in_the_url() {
        let (a, hp, b) = split_authority("postgres://postgres@127.0.0.1:5432/gate_1").expect("url");
        assert_eq!(
            (a.as_str(), hp.as_str(), b.as_str()),
            ("postgres://postgres@", "127.0.0.1:5432", "/gate_1")
        );
        let (_, hp, b) =
            split_authority("mysql://root:pw@localhost/x?ssl-mode=disabled").expect("url");
        assert_eq!(
            (hp.as_str(), b.as_str()),
            ("localhost:3306", "/x?ssl-mode=disabled")
        );
        assert!(split_authority("sqlite:").is_err());
    }

    #[test]
    fn faults_are_planned_on_the_compressed_clock_and_unknown_kinds_refused() {
        let text = |faults: &str| {
            format!(
                "name = \"f\"\nclient_timeout = \"2s\"\n[[phases]]\nname = \"p\"\nduration = \"60s\"\nusers = 5\n[journeys.returning]\nweight = 1\nthink = {{ constant = \"1s\" }}\n[slo.default]\n{faults}"
            )
        };
        let s = Scenario::parse(
            &text("[[faults]]\nat = \"20s\"\nduration = \"10s\"\nkind = \"db_latency\"\nparams = { latency_ms = 50, jitter_ms = 20 }\n[[faults]]\nat = \"10s\"\nduration = \"4s\"\nkind = \"db_outage\"\n"),
            std::path::Path::new("f.toml"),
        )
        .expect("valid");
        let p = plan(&s, 0.5).expect("planned");
        assert_eq!(p[0].kind, Kind::Outage);
        assert_eq!(
            (p[0].at, p[0].length),
            (Duration::from_secs(5), Duration::from_secs(2))
        );
        assert_eq!(
            p[1].kind,
            Kind::Latency {
                latency_ms: 50,
                jitter_ms: 20
            }
        );
        let s = Scenario::parse(
            &text("[[faults]]\nat = \"1s\"\nduration = \"1s\"\nkind = \"disk_full\"\n"),
            std::path::Path::new("f.toml"),
        )
        .expect("parses: kinds are the gate's");
        let e = plan(&s, 1.0).expect_err("unknown kind");
        assert!(
            e.to_string().contains("faults[0].kind") && e.to_string().contains("disk_full"),
            "{e}"
        );
        let s = Scenario::parse(
            &text("[[faults]]\nat = \"1s\"\nduration = \"1s\"\nkind = \"db_outage\"\nparams = { latency_ms = 5 }\n"),
            std::path::Path::new("f.toml"),
        )
        .expect("parses");
        assert!(plan(&s, 1.0).is_err());
    }
}
