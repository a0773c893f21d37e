//! `baseline-migrations`: the candidate must run on the database the last
//! released build left behind. The baseline command starts on a fresh
//! database (so its migrations create the schema), a user registers through
//! it and it stops; then the candidate starts on that same database (its
//! migrations must apply on top, and it must accept the history it finds) and
//! must still know the baseline's user.
//!
//! This catches the release that edits a migration already shipped (sqlx
//! refuses a database whose applied migration no longer matches its file),
//! one that cannot read rows written by the previous build, and a rollback
//! onto a database a newer build has migrated.

use std::{path::Path, time::Duration};

use anyhow::{Context as _, anyhow};

use crate::{
    candidate::{Candidate, Launch},
    suite::Context,
    verdict::{Check, Status},
};

const STEP: &str = "baseline-migrations";

pub(crate) async fn run(
    baseline: &str,
    cx: &Context<'_>,
    database_url: &str,
    dir: &Path,
) -> Vec<Check> {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return vec![Check::new(
                STEP,
                "http client",
                Status::Inconclusive,
                e.to_string(),
            )];
        }
    };
    let baseline_log = dir.join("baseline.log");
    let launch = Launch {
        command: baseline,
        database_url,
        garments: 200,
        env: &cx.env,
        log: &baseline_log,
    };
    let old = match Candidate::start(&launch).await {
        Ok(b) => b,
        Err(e) => {
            return vec![Check::new(
                STEP,
                "baseline starts",
                Status::Inconclusive,
                format!("the baseline build did not start on a fresh database: {e:#}"),
            )];
        }
    };
    let token = register(&client, &old.url).await;
    old.stop().await;
    let token = match token {
        Ok(t) => t,
        Err(e) => {
            return vec![Check::new(
                STEP,
                "baseline writes",
                Status::Inconclusive,
                format!("registering a user through the baseline: {e:#}"),
            )];
        }
    };
    let mut found = vec![Check::pass(
        STEP,
        "baseline writes",
        "the baseline migrated a fresh database and registered a user",
    )];
    let log = dir.join("candidate.log");
    let launch = Launch {
        command: cx.candidate,
        database_url,
        garments: 200,
        env: &cx.env,
        log: &log,
    };
    let new = match Candidate::start(&launch).await {
        Ok(c) => c,
        Err(e) => {
            found.push(Check::fail(
                STEP,
                "candidate starts on the baseline's database",
                format!(
                    "the candidate does not start on the database the baseline left: {}; {e:#}",
                    last_error(&log)
                ),
            ));
            return found;
        }
    };
    found.push(Check::pass(
        STEP,
        "candidate starts on the baseline's database",
        format!("migrated forward and listened on {}", new.url),
    ));
    let status = client
        .get(format!("{}/v1/users/me/saved", new.url))
        .bearer_auth(&token)
        .send()
        .await
        .map(|r| r.status().as_u16());
    found.push(match status {
        Ok(200) => Check::pass(
            STEP,
            "baseline data readable",
            "the user the baseline registered signs in on the candidate",
        ),
        Ok(s) => Check::fail(
            STEP,
            "baseline data readable",
            format!("the user the baseline registered gets {s} from the candidate (expected 200)"),
        ),
        Err(e) => Check::fail(
            STEP,
            "baseline data readable",
            format!("no answer from the candidate: {e}"),
        ),
    });
    new.stop().await;
    found
}

async fn register(client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let answer = client
        .post(format!("{base}/v1/users"))
        .send()
        .await
        .context("POST /v1/users")?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.context("reading the answer")?;
    body["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("POST /v1/users answered {status} without a token: {body}"))
}

/// The last log line that reports an error, to name the cause in the check.
fn last_error(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .find(|l| l.contains("ERROR") || l.contains("error"))
        .map_or_else(
            || "its log names no error".to_string(),
            |l| l.trim().to_string(),
        )
}
