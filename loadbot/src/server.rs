//! The bundled `outfit-server` as a child process in its own process group
//! (so a terminal's Ctrl-C reaches loadbot only), on a fresh SQLite database
//! or the PostgreSQL one given; stopped with SIGTERM, then killed after a grace.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, anyhow, bail};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// How long the server gets to print its `listening on` line (it seeds first).
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the server gets to stop after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(10);
const BINARY: &str = "outfit-server";

/// Where the server binary is, from the flag/env or next to loadbot's own executable.
pub(crate) fn locate(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let how = "build it with `cargo build --release -p outfit-server` (or point --server-bin / SPIKEPROOF_SERVER_BIN at it)";
    if let Some(path) = explicit {
        if path.is_file() {
            return Ok(path.to_owned());
        }
        bail!("no outfit-server binary at {}: {how}", path.display());
    }
    let exe = std::env::current_exe().context("finding loadbot's own executable")?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow!("loadbot's executable has no folder"))?;
    // tests run from target/<profile>/deps
    for candidate in [dir.join(BINARY), dir.join("..").join(BINARY)] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "no outfit-server binary next to loadbot in {}: {how}",
        dir.display()
    )
}

/// A running child server.
#[derive(Debug)]
pub(crate) struct ChildServer {
    child: Child,
    pub(crate) url: String,
    /// The SQLite database's folder, removed with the server.
    _dir: Option<tempfile::TempDir>,
}

/// What to start.
#[derive(Debug)]
pub(crate) struct Launch<'a> {
    pub(crate) bin: &'a Path,
    pub(crate) database_url: Option<&'a str>,
    pub(crate) garments: u32,
    pub(crate) extra: &'a [String],
    /// The server's stderr (its logs) goes here.
    pub(crate) log: &'a Path,
}

impl ChildServer {
    pub(crate) async fn start(l: &Launch<'_>) -> anyhow::Result<ChildServer> {
        let (dir, url) = match l.database_url {
            Some(url) => (None, url.to_owned()),
            None => {
                let dir = tempfile::tempdir().context("creating a folder for the database")?;
                let url = format!("sqlite://{}/spike.db", dir.path().display());
                (Some(dir), url)
            }
        };
        let log = std::fs::File::create(l.log)
            .with_context(|| format!("creating the server log {}", l.log.display()))?;
        let mut child = Command::new(l.bin)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--database-url", &url])
            .args(["--seed-garments", &l.garments.to_string()])
            .args(l.extra)
            // the log goes to a file: JSON lines, unless the flags chose a format
            .args(if l.extra.iter().any(|a| a.starts_with("--log-format")) {
                &[][..]
            } else {
                &["--log-format", "json"][..]
            })
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", l.bin.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no stdout from the server"))?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(READY_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return Ok::<_, std::io::Error>(Some(url.trim().to_owned()));
                }
            }
            Ok(None)
        })
        .await;
        let tail = || log_tail(l.log);
        let url = match ready {
            Ok(Ok(Some(url))) => url,
            Ok(Ok(None)) | Ok(Err(_)) => {
                let status = child
                    .wait()
                    .await
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                bail!(
                    "outfit-server exited ({status}) before it listened; its log ends:\n{}",
                    tail()
                );
            }
            Err(_) => {
                let _ = child.kill().await;
                bail!(
                    "outfit-server did not listen within {READY_TIMEOUT:?}; its log ends:\n{}",
                    tail()
                );
            }
        };
        // keep draining stdout so the server never blocks on a full pipe
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ChildServer {
            child,
            url,
            _dir: dir,
        })
    }

    /// SIGTERM, then a kill after the grace period.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
        match tokio::time::timeout(STOP_GRACE, self.child.wait()).await {
            Ok(status) => {
                status.context("waiting for outfit-server")?;
            }
            Err(_) => {
                eprintln!(
                    "loadbot: outfit-server did not stop within {STOP_GRACE:?} of SIGTERM; killing it"
                );
                self.child.kill().await.context("killing outfit-server")?;
            }
        }
        Ok(())
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
