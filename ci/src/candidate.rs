//! The candidate under test: a command line that starts an outfit server.
//!
//! The gate appends `--listen 127.0.0.1:0` and a fresh `--database-url`, waits
//! for the `listening on http://IP:PORT` line, and stops the process with
//! SIGTERM (then SIGKILL after a grace) when the scenario is done.

use std::{path::Path, process::Stdio, time::Duration};

use anyhow::{Context, anyhow, bail};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// How long a candidate may take to print its `listening on` line.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a candidate gets to stop after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A started candidate.
#[derive(Debug)]
pub(crate) struct Candidate {
    child: Child,
    pub(crate) url: String,
    pub(crate) database_url: String,
}

/// How to start one.
#[derive(Debug, Clone)]
pub(crate) struct Launch<'a> {
    /// The candidate command, shell-quoted (`target/release/outfit-server serve --chaos-fault ...`).
    pub(crate) command: &'a str,
    pub(crate) database_url: &'a str,
    pub(crate) garments: u32,
    /// Extra environment, e.g. a short leak threshold for the detectors.
    pub(crate) env: &'a [(String, String)],
    /// The candidate's stderr (its logs) goes here.
    pub(crate) log: &'a Path,
}

impl Candidate {
    pub(crate) async fn start(l: &Launch<'_>) -> anyhow::Result<Candidate> {
        let words = shell_words::split(l.command)
            .with_context(|| format!("reading the candidate command {:?}", l.command))?;
        let (program, args) = words
            .split_first()
            .ok_or_else(|| anyhow!("the candidate command is empty"))?;
        let log = std::fs::File::create(l.log)
            .with_context(|| format!("creating the candidate log {}", l.log.display()))?;
        let mut child = Command::new(program)
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--database-url", l.database_url])
            .args(["--seed-garments", &l.garments.to_string()])
            .envs(l.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the candidate {program:?}"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("the candidate's stdout is not captured"))?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(READY_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return Ok::<_, std::io::Error>(Some(url.trim().to_string()));
                }
            }
            Ok(None)
        })
        .await;
        let url = match url {
            Ok(Ok(Some(url))) => url,
            Ok(Ok(None)) | Ok(Err(_)) => {
                let status = child.wait().await.ok();
                bail!(
                    "the candidate exited before it was ready ({}); its log: {}",
                    status.map(|s| s.to_string()).unwrap_or_default(),
                    l.log.display()
                );
            }
            Err(_) => bail!(
                "the candidate printed no `listening on` line within {}s; its log: {}",
                READY_TIMEOUT.as_secs(),
                l.log.display()
            ),
        };
        // keep draining stdout so the candidate never blocks on a full pipe
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Candidate {
            child,
            url,
            database_url: l.database_url.to_string(),
        })
    }

    /// Whether the process is still running.
    pub(crate) fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then SIGKILL after the grace period.
    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        if tokio::time::timeout(STOP_GRACE, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
