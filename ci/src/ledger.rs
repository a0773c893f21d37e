//! The acknowledged-write ledger of the database-fault steps: while the load
//! runs and the database goes away and comes back, one app user of the gate's
//! own likes a garment every 100 ms, each like with its idempotency key, and
//! notes every like the server acknowledged with a 2xx (a 2xx means durable).
//! After the run the gate reads the database directly and names every
//! acknowledged like that is not there.

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, ensure};
use serde_json::{Value, json};

use crate::verdict::Check;

const EVERY: Duration = Duration::from_millis(100);
/// Longest `Retry-After` honoured (the loop's clock bound stays meaningful).
const MOST_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Most writes one run sends (a bound on the loop, whatever the clock says).
const MOST: usize = 20_000;

/// The likes one user sent, and which the server acknowledged.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    pub(crate) user_id: i64,
    pub(crate) sent: usize,
    /// Idempotency keys of the likes answered 2xx.
    pub(crate) acknowledged: Vec<String>,
}

/// Registers and onboards a user, then likes a garment every 100 ms until `until`.
pub(crate) async fn write_until(base: &str, until: Instant) -> anyhow::Result<Ledger> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let url = |p: &str| format!("{base}{p}");
    let r = client.post(url("/v1/users")).send().await?;
    ensure!(
        r.status() == 201,
        "registering the ledger's user: {}",
        r.status()
    );
    let body: Value = r.json().await?;
    let user_id = body["user_id"]
        .as_i64()
        .ok_or_else(|| anyhow!("no user_id in {body}"))?;
    let token = body["token"]
        .as_str()
        .ok_or_else(|| anyhow!("no token in {body}"))?
        .to_string();
    let r = client
        .put(url("/v1/users/me/profile"))
        .bearer_auth(&token)
        .json(&crate::checklist::profile())
        .send()
        .await?;
    ensure!(
        r.status().is_success(),
        "onboarding the ledger's user: {}",
        r.status()
    );
    let r = client
        .get(url("/v1/outfits?count=1"))
        .bearer_auth(&token)
        .send()
        .await?;
    ensure!(
        r.status().is_success(),
        "outfits for the ledger's user: {}",
        r.status()
    );
    let body: Value = r.json().await?;
    let ids: Vec<i64> = body["outfits"][0]["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["garment"]["id"].as_i64())
                .collect()
        })
        .unwrap_or_default();
    ensure!(!ids.is_empty(), "no garment to like in {body}");
    let mut ledger = Ledger {
        user_id,
        ..Ledger::default()
    };
    while Instant::now() < until && ledger.sent < MOST {
        let key = format!("gate-ledger-{:06}", ledger.sent);
        ledger.sent += 1;
        let answer = client
            .post(url("/v1/outfits/feedback"))
            .bearer_auth(&token)
            .json(&json!({ "action": "like", "garment_ids": ids, "idempotency_key": key }))
            .send()
            .await;
        // like an app, honour the server's per-user write limit (429 + Retry-After)
        // instead of sending writes it is bound to refuse
        let pause = match answer {
            Ok(r) if r.status().is_success() => {
                ledger.acknowledged.push(key);
                EVERY
            }
            Ok(r) if r.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => r
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                .map_or(EVERY, |s| {
                    Duration::from_secs(s).clamp(EVERY, MOST_RETRY_AFTER)
                }),
            _ => EVERY,
        };
        tokio::time::sleep(pause).await;
    }
    Ok(ledger)
}

/// The idempotency keys of `user_id`'s feedback, read from the database itself.
async fn stored_keys(database_url: &str, user_id: i64) -> anyhow::Result<Vec<String>> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    let placeholder = if database_url.starts_with("postgres") {
        "$1"
    } else {
        "?"
    };
    let sql = format!(
        "SELECT idempotency_key FROM feedback WHERE user_id = {placeholder} AND idempotency_key IS NOT NULL"
    );
    let mut conn = sqlx::AnyConnection::connect(database_url).await?;
    let rows = sqlx::query(&sql)
        .bind(user_id)
        .fetch_all(&mut conn)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Every acknowledged like must be in the database.
pub(crate) async fn check(
    scenario: &str,
    database_url: &str,
    ledger: &anyhow::Result<Ledger>,
) -> Check {
    let name = "no acknowledged write lost";
    let ledger = match ledger {
        Ok(l) => l,
        Err(e) => {
            return Check::fail(
                scenario,
                name,
                format!("the ledger's writer could not start: {e:#}"),
            );
        }
    };
    let stored = match stored_keys(database_url, ledger.user_id)
        .await
        .context("reading the feedback table")
    {
        Ok(s) => s,
        Err(e) => return Check::fail(scenario, name, format!("{e:#}")),
    };
    let lost: Vec<&String> = ledger
        .acknowledged
        .iter()
        .filter(|k| !stored.contains(k))
        .collect();
    let detail = format!(
        "{} of {} likes sent through the run were acknowledged; {} of them are missing from the database{}",
        ledger.acknowledged.len(),
        ledger.sent,
        lost.len(),
        if lost.is_empty() {
            String::new()
        } else {
            format!(
                " (user {}, first keys: {})",
                ledger.user_id,
                lost.iter()
                    .take(5)
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    if lost.is_empty() && !ledger.acknowledged.is_empty() {
        Check::pass(scenario, name, detail)
    } else {
        Check::fail(scenario, name, detail)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;

    /// A fresh PostgreSQL database with the feedback table's key columns.
    async fn fresh_feedback_table() -> anyhow::Result<String> {
        let admin = std::env::var("SPIKEPROOF_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("gate_ledger_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&admin).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut conn)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        let url = format!(
            "{}/{name}",
            admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b)
        );
        let mut db = sqlx::PgConnection::connect(&url).await?;
        sqlx::query("CREATE TABLE feedback (user_id BIGINT NOT NULL, idempotency_key TEXT)")
            .execute(&mut db)
            .await?;
        for key in ["k1", "k2", "k3"] {
            sqlx::query("INSERT INTO feedback (user_id, idempotency_key) VALUES (7, $1)")
                .bind(key)
                .execute(&mut db)
                .await?;
        }
        Ok(url)
    }

    #[tokio::test]
    async fn an_acknowledged_write_missing_from_the_database_fails_naming_its_key() {
        let url = fresh_feedback_table()
            .await
            .expect("a PostgreSQL to test on");
        let ledger = |keys: &[&str]| {
            Ok(Ledger {
                user_id: 7,
                sent: 5,
                acknowledged: keys.iter().map(|k| (*k).to_string()).collect(),
            })
        };
        let all_there = check("db-outage", &url, &ledger(&["k1", "k2", "k3"])).await;
        assert_eq!(
            all_there.status,
            crate::verdict::Status::Passed,
            "{}",
            all_there.detail
        );
        // k4 was acknowledged, then deleted (or never made durable)
        let lost = check("db-outage", &url, &ledger(&["k1", "k4"])).await;
        assert_eq!(lost.status, crate::verdict::Status::Failed);
        assert!(
            lost.detail.contains("1 of them are missing") && lost.detail.contains("k4"),
            "{}",
            lost.detail
        );
        // a run that acknowledged nothing proves nothing
        let none = check("db-outage", &url, &ledger(&[])).await;
        assert_eq!(none.status, crate::verdict::Status::Failed);
        let (admin, name) = url.rsplit_once('/').expect("a database name");
        if let Ok(mut conn) = sqlx::PgConnection::connect(&format!("{admin}/postgres")).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
}
