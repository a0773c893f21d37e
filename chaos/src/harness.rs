//! Test and benchmark harness: the real `outfit-server` binary as a child
//! process, and a small bounded HTTP load.
//!
//! The binary is looked up next to the running executable (the same target
//! directory and profile, `target/debug/outfit-server` for tests); when it is
//! missing it is built with `cargo build -p outfit-server` into that directory.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// Why the server could not be run.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("cannot find the running executable's target directory")]
    NoTargetDir,
    #[error("building outfit-server failed ({0}); build it first: cargo build -p outfit-server")]
    Build(String),
    #[error("cannot start {path}")]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("outfit-server did not say where it listens within {0:?}; its log ends:\n{1}")]
    NotReady(Duration, String),
    #[error("cannot create a temporary directory")]
    TempDir(#[source] std::io::Error),
}

/// The profile directory (`target/debug`, `target/release`) of the running executable.
fn profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .skip(1)
        .take(3)
        .find(|d| {
            d.file_name()
                .is_some_and(|n| n == "debug" || n == "release")
        })
        .map(Path::to_path_buf)
}

/// The `outfit-server` binary of this build, built when missing.
pub fn server_binary() -> Result<PathBuf, HarnessError> {
    let dir = profile_dir().ok_or(HarnessError::NoTargetDir)?;
    let bin = dir.join(format!("outfit-server{}", std::env::consts::EXE_SUFFIX));
    if bin.exists() {
        return Ok(bin);
    }
    let target = dir.parent().ok_or(HarnessError::NoTargetDir)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["build", "-p", "outfit-server", "--target-dir"])
        .arg(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd
        .status()
        .map_err(|e| HarnessError::Build(e.to_string()))?;
    if !status.success() || !bin.exists() {
        return Err(HarnessError::Build(status.to_string()));
    }
    Ok(bin)
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// `--chaos-fault` specs.
    pub faults: Vec<String>,
    /// Extra environment, e.g. `APP_POOL__LEAK_THRESHOLD_MS=500`.
    pub env: Vec<(String, String)>,
    /// Default: a fresh SQLite file in the server's temporary directory.
    pub database_url: Option<String>,
    pub seed_garments: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            faults: Vec::new(),
            env: Vec::new(),
            database_url: None,
            seed_garments: 500,
        }
    }
}

/// A running `outfit-server`; killed when dropped, stopped gently by
/// [`ServerProcess::stop`], crashed on purpose by [`ServerProcess::kill9`] and
/// brought back on the same address and database by [`ServerProcess::start_again`].
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    dir: tempfile::TempDir,
    opts: ServerOptions,
    database_url: String,
}

const READY_WITHIN: Duration = Duration::from_secs(60);

impl ServerProcess {
    pub async fn spawn(opts: &ServerOptions) -> Result<ServerProcess, HarnessError> {
        let dir = tempfile::tempdir().map_err(HarnessError::TempDir)?;
        let db = opts
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("outfits.db").display()));
        let (child, url) = Self::launch(opts, &db, dir.path(), "127.0.0.1:0").await?;
        Ok(ServerProcess {
            child,
            base_url: url,
            dir,
            opts: opts.clone(),
            database_url: db,
        })
    }

    /// Kills the server with SIGKILL (no shutdown, no drain: a crash) and waits for it.
    pub async fn kill9(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Starts the server again (after [`ServerProcess::kill9`] or an exit) on
    /// the same address and database; returns the time until it was ready.
    pub async fn start_again(&mut self) -> Result<Duration, HarnessError> {
        let started = Instant::now();
        let _ = self.child.kill().await;
        let listen = self
            .base_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let (child, url) =
            Self::launch(&self.opts, &self.database_url, self.dir.path(), &listen).await?;
        self.child = child;
        self.base_url = url;
        Ok(started.elapsed())
    }

    async fn launch(
        opts: &ServerOptions,
        db: &str,
        dir: &Path,
        listen: &str,
    ) -> Result<(Child, String), HarnessError> {
        let bin = server_binary()?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .map_err(HarnessError::TempDir)?;
        let mut cmd = Command::new(&bin);
        cmd.args(["serve", "--listen", listen, "--database-url", db])
            .args(["--seed-garments", &opts.seed_garments.to_string()])
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        for f in &opts.faults {
            cmd.args(["--chaos-fault", f]);
        }
        let mut child = cmd.spawn().map_err(|source| HarnessError::Spawn {
            path: bin.clone(),
            source,
        })?;
        let Some(stdout) = child.stdout.take() else {
            return Err(HarnessError::NotReady(READY_WITHIN, String::new()));
        };
        let mut lines = BufReader::new(stdout).lines();
        // ends at the ready line, or at end of output when the server exits early
        let ready = async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return Some(url.trim().to_string());
                }
            }
            None
        };
        let url = tokio::time::timeout(READY_WITHIN, ready)
            .await
            .ok()
            .flatten();
        // keep reading stdout so the server never writes into a closed pipe
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        match url {
            Some(url) => Ok((child, url)),
            None => {
                let _ = child.kill().await;
                Err(HarnessError::NotReady(READY_WITHIN, log_tail(dir)))
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The last lines of the server's log (stderr).
    pub fn log_tail(&self) -> String {
        log_tail(self.dir.path())
    }

    /// SIGTERM, then up to 10 s for a clean exit, then SIGKILL.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

fn log_tail(dir: &Path) -> String {
    let text = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A bounded load: `concurrency` workers cycling through `routes` until
/// `duration` passes or `max_requests` are sent. `{id}` in a route becomes a
/// garment id cycling through 1..=`ids`.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    pub base_url: String,
    /// Paths with weights, e.g. `("/v1/garments/{id}", 3)`.
    pub routes: Vec<(String, u32)>,
    pub concurrency: usize,
    pub duration: Duration,
    pub max_requests: u64,
    pub ids: u64,
}

impl LoadPlan {
    pub fn new(base_url: &str, duration: Duration) -> LoadPlan {
        LoadPlan {
            base_url: base_url.trim_end_matches('/').to_string(),
            routes: vec![
                ("/v1/garments/{id}".into(), 3),
                ("/v1/garments?limit=20".into(), 1),
                ("/healthz".into(), 1),
            ],
            concurrency: 4,
            duration,
            max_requests: 1_000_000,
            ids: 500,
        }
    }
}

/// What a load run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    pub sent: u64,
    /// 2xx answers.
    pub ok: u64,
    pub failed: u64,
    pub elapsed: Duration,
}

/// Runs the plan; never longer than its duration plus one request timeout.
pub async fn drive(plan: &LoadPlan) -> LoadStats {
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    else {
        return LoadStats::default();
    };
    let table: Arc<Vec<String>> = Arc::new(
        plan.routes
            .iter()
            .flat_map(|(r, w)| std::iter::repeat_n(r.clone(), (*w).min(100) as usize))
            .collect(),
    );
    if table.is_empty() {
        return LoadStats::default();
    }
    let counter = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..plan.concurrency.clamp(1, 256))
        .map(|_| {
            let (client, table, counter, ok) =
                (client.clone(), table.clone(), counter.clone(), ok.clone());
            let (base, duration, max, ids) = (
                plan.base_url.clone(),
                plan.duration,
                plan.max_requests,
                plan.ids.max(1),
            );
            tokio::spawn(async move {
                while started.elapsed() < duration {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    if n >= max {
                        break;
                    }
                    let route = &table[(n % table.len() as u64) as usize];
                    let path =
                        route.replace("{id}", &(n / table.len() as u64 % ids + 1).to_string());
                    if let Ok(r) = client.get(format!("{base}{path}")).send().await {
                        let good = r.status().is_success();
                        if r.bytes().await.is_ok() && good {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let sent = counter.load(Ordering::Relaxed).min(plan.max_requests);
    let ok = ok.load(Ordering::Relaxed);
    LoadStats {
        sent,
        ok,
        failed: sent.saturating_sub(ok),
        elapsed: started.elapsed(),
    }
}
