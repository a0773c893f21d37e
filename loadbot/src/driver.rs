//! goose as the fleet's engine room: a fixed number of goose users act as
//! workers, each running one transaction over and over that takes a due
//! simulated user from the dispatcher and sends its request with goose's
//! request API. goose's metrics and HTML/JSON reports so see every request;
//! the simulated users themselves cost a few hundred bytes each, not a goose user.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use goose::{
    GooseAttack,
    client::GooseClientBuilder,
    config::GooseConfiguration,
    prelude::{Scenario, Transaction, TransactionFunction},
};

use crate::engine::Engine;

/// How goose runs.
#[derive(Debug)]
pub(crate) struct GooseRun<'a> {
    pub(crate) target: &'a str,
    pub(crate) workers: usize,
    /// Folder for goose's `goose-report.html` and `goose-report.json`; `None` writes none.
    pub(crate) report_dir: Option<&'a Path>,
    pub(crate) client_timeout: Duration,
}

/// goose's report files, relative to the report folder.
pub(crate) const REPORTS: [&str; 2] = ["goose-report.html", "goose-report.json"];

/// Runs goose until the engine stops; the dispatcher must run beside it.
pub(crate) async fn run(engine: Arc<Engine>, r: &GooseRun<'_>) -> anyhow::Result<()> {
    let workers = r.workers.to_string();
    let timeout = r.client_timeout.as_secs().max(1).to_string();
    let mut args: Vec<String> = [
        "--host",
        r.target,
        "--users",
        &workers,
        "--increase-rate",
        &workers,
        "--no-reset-metrics",
        "--quiet",
        "--no-print-metrics",
        "--no-error-summary",
        "--no-telnet",
        "--co-mitigation",
        "disabled",
        "--timeout",
        &timeout,
        "--no-transaction-metrics",
        "--no-scenario-metrics",
        "--no-gzip",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if let Some(dir) = r.report_dir {
        for name in REPORTS {
            args.push("--report-file".into());
            args.push(dir.join(name).to_string_lossy().into_owned());
        }
    }
    let config = GooseConfiguration::parse_args_default(&args)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("configuring goose")?;
    let worker = Arc::clone(&engine);
    let drive: TransactionFunction = Arc::new(move |user| {
        let engine = Arc::clone(&worker);
        Box::pin(async move { engine.work(user).await })
    });
    let client = GooseClientBuilder::new()
        .without_cookies()
        .timeout(r.client_timeout)
        .user_agent("spikeproof-loadbot");
    let attack = GooseAttack::initialize_with_config(config)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .register_scenario(
            Scenario::new("app users")
                .register_transaction(Transaction::new(drive).set_name("request")),
        )
        .set_client_builder_without_cookies(client)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // goose stops on its killswitch; pull it once the engine stops
    let watcher = {
        let engine = Arc::clone(&engine);
        tokio::spawn(async move {
            engine.stopped().await;
            goose::trigger_killswitch("the scenario's shape has ended");
        })
    };
    let result = attack.execute().await;
    watcher.abort();
    engine.stop();
    result
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("goose: {e}"))
}
