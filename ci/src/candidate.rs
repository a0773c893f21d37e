//! The candidate under test: a command line that starts an outfit server.
//!
//! The gate appends `--listen 127.0.0.1:0` and a fresh `--database-url`, waits
//! for the `listening on http://IP:PORT` line, and stops the process with
//! SIGTERM (then SIGKILL after a grace) when the scenario is done.
//!
//! A step may start it under a CPU quota ([`CpuQuota`]): a cgroup of its own
//! with a CFS quota, as a production container has, so that a step's load is
//! measured against a known slice of the machine rather than whatever the
//! machine has spare.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

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
    /// The cgroup it runs in, removed once it has exited.
    quota: Option<CpuQuota>,
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
        Self::start_limited(l, None).await
    }

    /// Starts it in a cgroup of its own limited to `cpus` cores, when given.
    /// A quota that cannot be applied is a [`QuotaError`] in the chain (the
    /// step is then inconclusive, not run on the whole machine).
    pub(crate) async fn start_limited(
        l: &Launch<'_>,
        cpus: Option<f64>,
    ) -> anyhow::Result<Candidate> {
        Self::start_in(
            l,
            cpus.map(|cpus| (Path::new(CGROUP_ROOT), cpus)),
            READY_TIMEOUT,
        )
        .await
    }

    /// [`Candidate::start_limited`] with the cgroupfs mount and the time to
    /// wait for its `listening on` line given. A candidate that is not ready
    /// is killed and reaped, and its cgroup removed, before the error returns.
    async fn start_in(
        l: &Launch<'_>,
        cpus: Option<(&Path, f64)>,
        ready_timeout: Duration,
    ) -> anyhow::Result<Candidate> {
        // made before the spawn, so a machine without a usable cpu controller
        // never starts the candidate at all
        let quota = cpus
            .map(|(root, cpus)| CpuQuota::create(root, cpus, QUOTA_PERIOD))
            .transpose()?;
        let words = shell_words::split(l.command)
            .with_context(|| format!("reading the candidate command {:?}", l.command))?;
        let (program, args) = words
            .split_first()
            .ok_or_else(|| anyhow!("the candidate command is empty"))?;
        let log = std::fs::File::create(l.log)
            .with_context(|| format!("creating the candidate log {}", l.log.display()))?;
        // Under a quota the candidate joins its group before it execs, as in a
        // container: what it sizes at start (its runtime's worker threads from
        // the cores the quota allows) sees the quota, not the whole machine.
        let mut command = match &quota {
            Some(quota) => {
                let mut sh = Command::new("sh");
                sh.args(["-c", ENTER_GROUP_THEN_EXEC, "sh"])
                    .arg(quota.procs_file())
                    .arg(program);
                sh
            }
            None => Command::new(program),
        };
        let mut child = command
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
        if let Some(quota) = &quota {
            // `sh` writes its pid there before exec, but may not have run yet:
            // writing it here too (the same pid, so harmless) lets the
            // membership check below not race it
            let joined = child
                .id()
                .ok_or_else(|| QuotaError::new(quota.dir(), "the candidate exited at once"))
                .and_then(|pid| quota.add(pid));
            if let Err(e) = joined {
                let _ = child.kill().await;
                return Err(e.into());
            }
        }
        match Self::wait_ready(&mut child, l, ready_timeout).await {
            Ok(url) => Ok(Candidate {
                child,
                url,
                database_url: l.database_url.to_string(),
                quota,
            }),
            Err(e) => {
                // reaped before the group goes: the kernel keeps a group with members
                let _ = child.kill().await;
                if let Some(quota) = quota {
                    quota.remove();
                }
                Err(e)
            }
        }
    }

    /// Its `listening on URL` line; stdout is drained afterwards, so the
    /// candidate never blocks on a full pipe.
    async fn wait_ready(
        child: &mut Child,
        l: &Launch<'_>,
        ready_timeout: Duration,
    ) -> anyhow::Result<String> {
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("the candidate's stdout is not captured"))?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(ready_timeout, async {
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
                ready_timeout.as_secs_f64(),
                l.log.display()
            ),
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(url)
    }

    /// The CPU quota it runs under, for the record: "0.25 cores (...)".
    pub(crate) fn quota(&self) -> Option<String> {
        self.quota.as_ref().map(|q| {
            format!(
                "{} cores ({} µs every {} µs in {})",
                q.cpus(),
                q.quota_us,
                q.period_us,
                q.dir().display()
            )
        })
    }

    /// The cores of its CPU quota, when it runs under one.
    pub(crate) fn quota_cpus(&self) -> Option<f64> {
        self.quota.as_ref().map(CpuQuota::cpus)
    }

    /// Its process id, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
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
        if let Some(quota) = self.quota.take() {
            quota.remove();
        }
    }
}

impl Drop for Candidate {
    /// Dropped without [`Candidate::stop`] (a step that returned early): the
    /// process is killed, and reaped for a moment so its cgroup can go too.
    fn drop(&mut self) {
        let Some(quota) = self.quota.take() else {
            return;
        };
        let _ = self.child.start_kill();
        for _ in 0..50 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        quota.remove();
    }
}

// === impl CpuQuota ===

/// Run by `sh` with the group's `cgroup.procs` file and the candidate's command
/// as arguments: joins the group, then becomes the candidate (same pid).
const ENTER_GROUP_THEN_EXEC: &str = r#"echo $$ > "$1" && shift && exec "$@""#;

/// Where cgroupfs is mounted; v1 has a `cpu` hierarchy under it, v2 a
/// `cgroup.controllers` file in it.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The CFS period. Short on purpose: a server that used up its quota stalls
/// until the period ends, at most `period - quota` (7.5 ms of 10 ms at 0.25
/// cores), well inside a 50 ms shed bound; the kernel default of 100 ms would
/// hold every request, sheds included, for up to 75 ms.
const QUOTA_PERIOD: Duration = Duration::from_millis(10);
/// A quota is a ceiling, not a floor: on a busy machine (loadbot, another
/// CI run) the group could get less. Eight times the default weight lets it
/// take its slice first; the quota still caps it.
const V1_SHARES: u32 = 8 * 1_024;
const V2_WEIGHT: u32 = 8 * 100;
/// The kernel refuses quotas below 1 ms.
const MIN_QUOTA_US: u64 = 1_000;

/// Why a CPU quota could not be applied.
#[derive(Debug, thiserror::Error)]
#[error("no CPU quota in {}: {why}", dir.display())]
pub(crate) struct QuotaError {
    dir: PathBuf,
    why: String,
}

impl QuotaError {
    fn new(dir: &Path, why: impl Into<String>) -> QuotaError {
        QuotaError {
            dir: dir.to_owned(),
            why: why.into(),
        }
    }

    fn io(dir: &Path, what: &str, e: &std::io::Error) -> QuotaError {
        QuotaError::new(dir, format!("{what}: {e}"))
    }
}

/// Which cgroup interface the machine has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CgroupVersion {
    /// `cpu/` hierarchy: `cpu.cfs_period_us` and `cpu.cfs_quota_us`.
    V1,
    /// Unified hierarchy: `cpu.max` holds "QUOTA PERIOD".
    V2,
}

/// A cgroup of its own with a CFS quota and a high weight; removed by [`CpuQuota::remove`]
/// (or on drop) once its processes have exited.
#[derive(Debug)]
pub(crate) struct CpuQuota {
    dir: PathBuf,
    version: CgroupVersion,
    quota_us: u64,
    period_us: u64,
    removed: bool,
}

/// `cpus` cores over `period` as the (quota, period) pair in µs the kernel
/// takes; `None` for a quota that is not a positive number of cores.
fn quota_period_us(cpus: f64, period: Duration) -> Option<(u64, u64)> {
    if !cpus.is_finite() || cpus <= 0.0 {
        return None;
    }
    let period_us = u64::try_from(period.as_micros()).ok()?.max(MIN_QUOTA_US);
    let quota_us = ((cpus * period_us as f64).round() as u64).max(MIN_QUOTA_US);
    Some((quota_us, period_us))
}

impl CpuQuota {
    /// Makes a fresh child cgroup under `root` (a cgroupfs mount) limited to
    /// `cpus` cores per `period`.
    pub(crate) fn create(root: &Path, cpus: f64, period: Duration) -> Result<CpuQuota, QuotaError> {
        let (quota_us, period_us) = quota_period_us(cpus, period).ok_or_else(|| {
            QuotaError::new(root, format!("{cpus} is not a positive number of cores"))
        })?;
        let (version, parent) = if root.join("cgroup.controllers").is_file() {
            let controllers = std::fs::read_to_string(root.join("cgroup.controllers"))
                .map_err(|e| QuotaError::io(root, "reading cgroup.controllers", &e))?;
            if !controllers.split_whitespace().any(|c| c == "cpu") {
                return Err(QuotaError::new(
                    root,
                    "cgroup v2 without the cpu controller (cgroup.controllers)",
                ));
            }
            (CgroupVersion::V2, root.to_owned())
        } else if root.join("cpu").join("cpu.cfs_quota_us").is_file() {
            (CgroupVersion::V1, root.join("cpu"))
        } else {
            return Err(QuotaError::new(
                root,
                "neither a cgroup v2 mount (cgroup.controllers) nor a v1 cpu hierarchy (cpu/cpu.cfs_quota_us)",
            ));
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = parent.join(format!(
            "spikeproof-gate-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir)
            .map_err(|e| QuotaError::io(&dir, "making the cgroup (is cgroupfs writable?)", &e))?;
        let quota = CpuQuota {
            dir,
            version,
            quota_us,
            period_us,
            removed: false,
        };
        // on failure `quota` drops here and removes the half-made group
        quota.write_limits()?;
        Ok(quota)
    }

    fn write_limits(&self) -> Result<(), QuotaError> {
        let write = |file: &str, value: String| {
            std::fs::write(self.dir.join(file), &value)
                .map_err(|e| QuotaError::io(&self.dir, &format!("writing {value:?} to {file}"), &e))
        };
        match self.version {
            // the period first: a quota above the old period is fine, the kernel
            // checks each value against the hierarchy, not against each other
            CgroupVersion::V1 => {
                write("cpu.cfs_period_us", self.period_us.to_string())?;
                write("cpu.cfs_quota_us", self.quota_us.to_string())?;
                write("cpu.shares", V1_SHARES.to_string())
            }
            CgroupVersion::V2 => {
                if !self.dir.join("cpu.max").is_file() {
                    return Err(QuotaError::new(
                        &self.dir,
                        "no cpu.max: the parent's cgroup.subtree_control does not enable cpu",
                    ));
                }
                write("cpu.max", format!("{} {}", self.quota_us, self.period_us))?;
                write("cpu.weight", V2_WEIGHT.to_string())
            }
        }
    }

    /// Moves a process (all of its threads) into the group, and checks it is there.
    pub(crate) fn add(&self, pid: u32) -> Result<(), QuotaError> {
        std::fs::write(self.procs_file(), pid.to_string())
            .map_err(|e| QuotaError::io(&self.dir, &format!("adding pid {pid}"), &e))?;
        let procs = std::fs::read_to_string(self.procs_file())
            .map_err(|e| QuotaError::io(&self.dir, "reading cgroup.procs", &e))?;
        if procs.lines().any(|l| l.trim() == pid.to_string()) {
            Ok(())
        } else {
            Err(QuotaError::new(
                &self.dir,
                format!("pid {pid} is not in cgroup.procs after adding it"),
            ))
        }
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a process writes its pid to, to join the group.
    fn procs_file(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }

    fn cpus(&self) -> f64 {
        self.quota_us as f64 / self.period_us as f64
    }

    /// Removes the group; its processes must have exited (the kernel refuses
    /// a group with members), so a few tries while the last one exits, and
    /// any left (a child the candidate started and did not take down with it)
    /// is killed: the group holds nothing else.
    pub(crate) fn remove(mut self) {
        self.removed = true;
        for _ in 0..20 {
            match std::fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(_) => {
                    let procs = std::fs::read_to_string(self.procs_file()).unwrap_or_default();
                    let pids: Vec<&str> = procs.split_whitespace().collect();
                    if !pids.is_empty() {
                        let _ = std::process::Command::new("kill")
                            .arg("-KILL")
                            .args(&pids)
                            .stderr(Stdio::null())
                            .status();
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        eprintln!(
            "warning: could not remove the candidate's cgroup {}",
            self.dir.display()
        );
    }
}

impl Drop for CpuQuota {
    fn drop(&mut self) {
        if !self.removed {
            let _ = std::fs::remove_dir(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// The error `create` returns, or a test failure when it succeeded.
    fn refused(root: &Path, cpus: f64) -> QuotaError {
        match CpuQuota::create(root, cpus, QUOTA_PERIOD) {
            Ok(q) => panic!("a quota was made: {q:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_quarter_core_over_ten_milliseconds_is_2500_microseconds() {
        assert_eq!(
            quota_period_us(0.25, Duration::from_millis(10)),
            Some((2_500, 10_000))
        );
        assert_eq!(
            quota_period_us(1.5, Duration::from_millis(100)),
            Some((150_000, 100_000))
        );
    }

    #[test]
    fn a_quota_below_the_kernel_minimum_is_raised_to_it() {
        assert_eq!(
            quota_period_us(0.01, Duration::from_millis(10)),
            Some((1_000, 10_000))
        );
    }

    #[test]
    fn a_quota_that_is_not_a_positive_number_of_cores_is_refused() -> TestResult {
        for cpus in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(quota_period_us(cpus, QUOTA_PERIOD), None, "{cpus}");
        }
        let root = tempfile::tempdir()?;
        let e = refused(root.path(), 0.0);
        assert!(e.to_string().contains("positive number of cores"), "{e}");
        Ok(())
    }

    #[test]
    fn v1_writes_period_quota_and_shares_and_removes_its_group() -> TestResult {
        let root = tempfile::tempdir()?;
        let cpu = root.path().join("cpu");
        std::fs::create_dir(&cpu)?;
        std::fs::write(cpu.join("cpu.cfs_quota_us"), "-1")?;
        let quota = CpuQuota::create(root.path(), 0.25, QUOTA_PERIOD)?;
        assert_eq!(quota.version, CgroupVersion::V1);
        assert!(quota.dir().starts_with(&cpu));
        let read = |f: &str| std::fs::read_to_string(quota.dir().join(f));
        assert_eq!(read("cpu.cfs_period_us")?, "10000");
        assert_eq!(read("cpu.cfs_quota_us")?, "2500");
        assert_eq!(read("cpu.shares")?, "8192");
        assert!((quota.cpus() - 0.25).abs() < 1e-9);
        // a plain folder keeps the written files; cgroupfs has none to delete
        for f in ["cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares"] {
            std::fs::remove_file(quota.dir().join(f))?;
        }
        let dir = quota.dir().to_owned();
        quota.remove();
        assert!(!dir.exists());
        Ok(())
    }

    #[test]
    fn v2_writes_quota_and_period_to_cpu_max() -> TestResult {
        let root = tempfile::tempdir()?;
        std::fs::write(
            root.path().join("cgroup.controllers"),
            "cpuset cpu io memory\n",
        )?;
        // the kernel makes cpu.max in a new group; a temp dir does not, so
        // this try is refused, naming why, and the half-made group is gone
        let e = refused(root.path(), 0.5);
        assert!(e.to_string().contains("subtree_control"), "{e}");
        let groups = std::fs::read_dir(root.path())?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .count();
        assert_eq!(groups, 0);
        let quota = CpuQuota {
            dir: root.path().to_owned(),
            version: CgroupVersion::V2,
            quota_us: 5_000,
            period_us: 10_000,
            removed: true,
        };
        std::fs::write(root.path().join("cpu.max"), "max 100000")?;
        quota.write_limits()?;
        let read = |f: &str| std::fs::read_to_string(root.path().join(f));
        assert_eq!(read("cpu.max")?, "5000 10000");
        assert_eq!(read("cpu.weight")?, "800");
        Ok(())
    }

    #[test]
    fn v2_without_the_cpu_controller_is_refused() -> TestResult {
        let root = tempfile::tempdir()?;
        std::fs::write(root.path().join("cgroup.controllers"), "cpuset io memory\n")?;
        let e = refused(root.path(), 0.25);
        assert!(e.to_string().contains("without the cpu controller"), "{e}");
        Ok(())
    }

    #[test]
    fn a_machine_without_cgroups_is_refused_naming_both_interfaces() -> TestResult {
        let root = tempfile::tempdir()?;
        let e = refused(root.path(), 0.25);
        assert!(e.to_string().contains("cgroup.controllers"), "{e}");
        assert!(e.to_string().contains("cpu.cfs_quota_us"), "{e}");
        Ok(())
    }

    #[tokio::test]
    async fn a_quota_that_cannot_be_applied_never_starts_the_candidate() -> TestResult {
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("candidate.log");
        let launch = test_launch("true", &log);
        let Err(e) = Candidate::start_in(&launch, Some((dir.path(), 0.25)), READY_TIMEOUT).await
        else {
            panic!("the candidate started without its quota");
        };
        // the suite turns exactly this into an inconclusive step
        assert!(e.downcast_ref::<QuotaError>().is_some(), "{e:#}");
        assert!(!log.exists(), "the candidate was started");
        Ok(())
    }

    /// A launch of `command` that logs to `log`; no database is opened.
    fn test_launch<'a>(command: &'a str, log: &'a Path) -> Launch<'a> {
        Launch {
            command,
            database_url: "sqlite://unused",
            garments: 1,
            env: &[],
            log,
        }
    }

    /// The spikeproof groups under the machine's v1 cpu hierarchy or v2 root.
    fn gate_groups() -> Vec<PathBuf> {
        let root = Path::new(CGROUP_ROOT);
        let parent = if root.join("cgroup.controllers").is_file() {
            root.to_owned()
        } else {
            root.join("cpu")
        };
        let prefix = format!("spikeproof-gate-{}-", std::process::id());
        std::fs::read_dir(parent)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with(&prefix))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The tests on the machine's cgroupfs look for groups left by this
    /// process, so they take turns.
    static ON_CGROUPFS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// On the machine's own cgroupfs: the candidate is in its group from its
    /// first instruction, as in a container, so what it sizes at start sees
    /// the quota. This one tells its cgroup in its `listening on` line.
    #[tokio::test]
    async fn a_candidate_under_a_quota_is_in_its_group_before_it_runs() -> TestResult {
        let _turn = ON_CGROUPFS.lock().await;
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("candidate.log");
        let launch = test_launch(
            r#"sh -c 'echo "listening on $(tr "\n" " " < /proc/self/cgroup)"; sleep 30' --"#,
            &log,
        );
        let candidate = Candidate::start_in(
            &launch,
            Some((Path::new(CGROUP_ROOT), 0.25)),
            Duration::from_secs(5),
        )
        .await?;
        let own_group = format!("/spikeproof-gate-{}-", std::process::id());
        let seen = candidate.url.clone();
        candidate.stop().await;
        assert!(seen.contains(&own_group), "its first cgroup line: {seen}");
        assert_eq!(gate_groups(), Vec::<PathBuf>::new(), "a cgroup was left");
        Ok(())
    }

    /// On the machine's own cgroupfs (as the gate's overload step uses it): a
    /// candidate that never says it listens is killed and its group removed.
    #[tokio::test]
    async fn a_candidate_that_never_gets_ready_leaves_no_process_and_no_cgroup() -> TestResult {
        let _turn = ON_CGROUPFS.lock().await;
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("candidate.log");
        let marker = dir.path().join("still-running");
        let command = format!(
            "sh -c 'sleep 2; touch {}' --",
            shell_words::quote(&marker.display().to_string())
        );
        let launch = test_launch(&command, &log);
        let started = Candidate::start_in(
            &launch,
            Some((Path::new(CGROUP_ROOT), 0.25)),
            Duration::from_millis(300),
        )
        .await;
        let Err(e) = started else {
            panic!("a candidate that prints nothing was taken as ready");
        };
        assert!(
            e.to_string().contains("no `listening on` line within 0.3s"),
            "{e:#}"
        );
        assert!(
            e.downcast_ref::<QuotaError>().is_none(),
            "the quota itself failed here: {e:#}"
        );
        assert_eq!(gate_groups(), Vec::<PathBuf>::new(), "a cgroup was left");
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        assert!(!marker.exists(), "the candidate kept running");
        Ok(())
    }
}
