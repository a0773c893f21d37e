//! Process faults on the database: a private PostgreSQL cluster or MariaDB
//! instance on a loopback port of its own, which a test or scenario may stop,
//! kill with SIGKILL and start again on the same data and port.
//!
//! The machine's shared database servers are never touched: restarting them
//! would break every other test running at the time. A private server also
//! takes settings a shared one cannot, such as a low `max_connections`, so
//! MySQL's error 1040 ("Too many connections") is reachable on purpose.
//!
//! The binaries come from the system's packages (`initdb`/`postgres` from
//! PostgreSQL's, `mariadb-install-db`/`mariadbd` from MariaDB's). Run as root,
//! PostgreSQL runs as the `postgres` system user (it refuses root) and MariaDB
//! with `--user=root`. Each server runs in its own process group, so a SIGKILL
//! takes its worker processes with it, as a crashed host would.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use sqlx::Connection;
use tokio::process::{Child, Command};

/// Which database server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    MariaDb,
}

/// Why a private database server could not be set up or started.
#[derive(Debug, thiserror::Error)]
pub enum DbServerError {
    #[error("{0} is not installed (looked for {1})")]
    NotInstalled(&'static str, String),
    #[error("{what} failed: {detail}")]
    Setup { what: String, detail: String },
    #[error("the {0:?} server did not accept connections within {1:?}; its log ends:\n{2}")]
    NotReady(Engine, Duration, String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How long a start may take before it is called failed.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// The unprivileged account the server under test uses on a private MariaDB:
/// it may create and use `spikeproof_*` databases and read the process list,
/// but it has no `CONNECTION ADMIN`, so `max_connections` binds it (root would
/// get one connection past the limit).
pub const MARIADB_USER: &str = "spikeproof";
const MARIADB_PASSWORD: &str = "spikeproof";

/// A private database server; killed when dropped.
#[derive(Debug)]
pub struct DbServer {
    engine: Engine,
    dir: tempfile::TempDir,
    port: u16,
    max_connections: u32,
    child: Option<Child>,
    /// Run PostgreSQL as this system user (uid, gid) when we are root.
    run_as: Option<(u32, u32)>,
}

impl DbServer {
    /// Creates a fresh PostgreSQL cluster (trust authentication, user `postgres`) and starts it.
    pub async fn postgres(max_connections: u32) -> Result<DbServer, DbServerError> {
        let bin = postgres_bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("spikeproof-pg-")
            .tempdir()?;
        let run_as = if is_root() {
            let ids = system_user("postgres").ok_or_else(|| DbServerError::Setup {
                what: "finding the postgres system user".into(),
                detail: "no such user in /etc/passwd".into(),
            })?;
            std::os::unix::fs::chown(dir.path(), Some(ids.0), Some(ids.1))?;
            Some(ids)
        } else {
            None
        };
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .current_dir(dir.path());
        if let Some((uid, gid)) = run_as {
            initdb.uid(uid).gid(gid);
        }
        run_setup("initdb", &mut initdb).await?;
        let mut server = DbServer {
            engine: Engine::Postgres,
            dir,
            port: free_port()?,
            max_connections,
            child: None,
            run_as,
        };
        server.start().await?;
        Ok(server)
    }

    /// Creates a fresh MariaDB data directory and starts it, with the
    /// [`MARIADB_USER`] account for the server under test.
    pub async fn mariadb(max_connections: u32) -> Result<DbServer, DbServerError> {
        let install = which("mariadb-install-db")
            .ok_or_else(|| DbServerError::NotInstalled("MariaDB", "mariadb-install-db".into()))?;
        let dir = tempfile::Builder::new()
            .prefix("spikeproof-mariadb-")
            .tempdir()?;
        let mut cmd = Command::new(install);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", dir.path().join("data").display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if is_root() {
            cmd.arg("--user=root");
        }
        run_setup("mariadb-install-db", &mut cmd).await?;
        let mut server = DbServer {
            engine: Engine::MariaDb,
            dir,
            port: free_port()?,
            max_connections,
            child: None,
            run_as: None,
        };
        server.start().await?;
        let root = format!("mysql://root@127.0.0.1:{}/mysql", server.port);
        let mut conn = sqlx::MySqlConnection::connect(&root)
            .await
            .map_err(|e| setup_error("connecting to the private MariaDB as root", &e))?;
        for sql in [
            format!("CREATE USER '{MARIADB_USER}'@'%' IDENTIFIED BY '{MARIADB_PASSWORD}'"),
            format!("GRANT ALL PRIVILEGES ON `spikeproof\\_%`.* TO '{MARIADB_USER}'@'%'"),
            format!("GRANT PROCESS ON *.* TO '{MARIADB_USER}'@'%'"),
        ] {
            sqlx::raw_sql(&sql)
                .execute(&mut conn)
                .await
                .map_err(|e| setup_error("creating the MariaDB account", &e))?;
        }
        let _ = conn.close().await;
        Ok(server)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn max_connections(&self) -> u32 {
        self.max_connections
    }

    /// A URL to create databases with: PostgreSQL's `postgres` database, or
    /// MariaDB's server root (no database) as [`MARIADB_USER`].
    pub fn admin_url(&self) -> String {
        match self.engine {
            Engine::Postgres => format!("postgres://postgres@127.0.0.1:{}/postgres", self.port),
            Engine::MariaDb => format!(
                "mysql://{MARIADB_USER}:{MARIADB_PASSWORD}@127.0.0.1:{}/",
                self.port
            ),
        }
    }

    /// A URL for database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        match self.engine {
            Engine::Postgres => format!("postgres://postgres@127.0.0.1:{}/{name}", self.port),
            Engine::MariaDb => format!(
                "mysql://{MARIADB_USER}:{MARIADB_PASSWORD}@127.0.0.1:{}/{name}",
                self.port
            ),
        }
    }

    /// Creates database `name` and returns its URL.
    pub async fn create_database(&self, name: &str) -> Result<String, DbServerError> {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(DbServerError::Setup {
                what: format!("creating database {name:?}"),
                detail: "names are letters, digits and _ only".into(),
            });
        }
        let sql = format!("CREATE DATABASE {name}");
        match self.engine {
            Engine::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.admin_url())
                    .await
                    .map_err(|e| setup_error("connecting to PostgreSQL", &e))?;
                sqlx::raw_sql(&sql)
                    .execute(&mut c)
                    .await
                    .map_err(|e| setup_error("CREATE DATABASE", &e))?;
                let _ = c.close().await;
            }
            Engine::MariaDb => {
                let mut c = sqlx::MySqlConnection::connect(&self.admin_url())
                    .await
                    .map_err(|e| setup_error("connecting to MariaDB", &e))?;
                sqlx::raw_sql(&sql)
                    .execute(&mut c)
                    .await
                    .map_err(|e| setup_error("CREATE DATABASE", &e))?;
                let _ = c.close().await;
            }
        }
        Ok(self.url(name))
    }

    /// Starts the server on its data and port; returns how long it took until
    /// it accepted a connection (which includes crash recovery after a kill).
    pub async fn start(&mut self) -> Result<Duration, DbServerError> {
        if self.child.is_some() {
            return Ok(Duration::ZERO);
        }
        let started = Instant::now();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut cmd = match self.engine {
            Engine::Postgres => {
                let mut cmd = Command::new(postgres_bin_dir()?.join("postgres"));
                cmd.arg("-D")
                    .arg(self.dir.path().join("data"))
                    .args(["-p", &self.port.to_string()])
                    .args(["-c", "listen_addresses=127.0.0.1"])
                    .arg("-c")
                    .arg(format!(
                        "unix_socket_directories={}",
                        self.dir.path().display()
                    ))
                    .args(["-c", &format!("max_connections={}", self.max_connections)])
                    .args(["-c", "superuser_reserved_connections=1"])
                    .args(["-c", "shared_buffers=16MB"]);
                if let Some((uid, gid)) = self.run_as {
                    cmd.uid(uid).gid(gid);
                }
                cmd
            }
            Engine::MariaDb => {
                let bin = which("mariadbd")
                    .or_else(|| Some(PathBuf::from("/usr/sbin/mariadbd")).filter(|p| p.exists()))
                    .ok_or_else(|| DbServerError::NotInstalled("MariaDB", "mariadbd".into()))?;
                let d = self.dir.path();
                let mut cmd = Command::new(bin);
                cmd.arg("--no-defaults")
                    .arg(format!("--datadir={}", d.join("data").display()))
                    .arg(format!("--socket={}", d.join("mysqld.sock").display()))
                    .arg(format!("--pid-file={}", d.join("mysqld.pid").display()))
                    .arg(format!("--port={}", self.port))
                    .arg("--bind-address=127.0.0.1")
                    .arg(format!("--max-connections={}", self.max_connections))
                    .args([
                        "--skip-name-resolve",
                        "--skip-log-bin",
                        "--innodb-buffer-pool-size=32M",
                        "--innodb-log-file-size=16M",
                    ]);
                if is_root() {
                    cmd.arg("--user=root");
                }
                cmd
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .kill_on_drop(true);
        self.child = Some(cmd.spawn()?);
        let deadline = started + READY_WITHIN;
        loop {
            if self.accepts().await {
                return Ok(started.elapsed());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .is_some();
            if exited || Instant::now() >= deadline {
                self.kill9().await;
                return Err(DbServerError::NotReady(
                    self.engine,
                    READY_WITHIN,
                    self.log_tail(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the server and every process of its group with SIGKILL, as a
    /// crashed host would, and waits for it to be gone.
    pub async fn kill9(&mut self) {
        self.signal_group(nix::sys::signal::Signal::SIGKILL);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait().await;
        }
        // the group's other processes (PostgreSQL's backends) go with it
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// Stops the server the way its service manager would (PostgreSQL's fast
    /// shutdown, MariaDB's normal one), killing it after 30 s.
    pub async fn stop(&mut self) {
        let signal = match self.engine {
            Engine::Postgres => nix::sys::signal::Signal::SIGINT,
            Engine::MariaDb => nix::sys::signal::Signal::SIGTERM,
        };
        self.signal_group(signal);
        if let Some(child) = self.child.as_mut()
            && tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .is_ok()
        {
            self.child = None;
            return;
        }
        self.kill9().await;
    }

    /// Stops (`hard`: SIGKILL) and starts again; returns the time from the
    /// stop until the server accepted connections again.
    pub async fn restart(&mut self, hard: bool) -> Result<Duration, DbServerError> {
        let begun = Instant::now();
        if hard {
            self.kill9().await;
        } else {
            self.stop().await;
        }
        // a killed PostgreSQL's backends may hold its shared memory for a moment
        let deadline = begun + READY_WITHIN;
        loop {
            match self.start().await {
                Ok(_) => return Ok(begun.elapsed()),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }

    /// Whether the server is running (started and not stopped or killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The last lines of the server's own log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn signal_group(&self, signal: nix::sys::signal::Signal) {
        if let Some(pid) = self
            .child
            .as_ref()
            .and_then(Child::id)
            .and_then(|p| i32::try_from(p).ok())
        {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal);
        }
    }

    async fn accepts(&self) -> bool {
        let probe = async {
            match self.engine {
                Engine::Postgres => match sqlx::PgConnection::connect(&self.admin_url()).await {
                    Ok(c) => {
                        let _ = c.close().await;
                        true
                    }
                    Err(_) => false,
                },
                Engine::MariaDb => {
                    let root = format!("mysql://root@127.0.0.1:{}/mysql", self.port);
                    match sqlx::MySqlConnection::connect(&root).await {
                        Ok(c) => {
                            let _ = c.close().await;
                            true
                        }
                        Err(_) => false,
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(2), probe)
            .await
            .unwrap_or(false)
    }
}

impl Drop for DbServer {
    fn drop(&mut self) {
        self.signal_group(nix::sys::signal::Signal::SIGKILL);
    }
}

fn setup_error(what: &str, e: &sqlx::Error) -> DbServerError {
    DbServerError::Setup {
        what: what.to_string(),
        detail: e.to_string(),
    }
}

async fn run_setup(what: &str, cmd: &mut Command) -> Result<(), DbServerError> {
    let out = tokio::time::timeout(READY_WITHIN, cmd.stdin(Stdio::null()).output())
        .await
        .map_err(|_| DbServerError::Setup {
            what: what.to_string(),
            detail: format!("no answer within {READY_WITHIN:?}"),
        })??;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    Err(DbServerError::Setup {
        what: what.to_string(),
        detail: format!(
            "{}: {}",
            out.status,
            text.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
        ),
    })
}

/// PostgreSQL's server binaries (Debian keeps them per version, off PATH).
fn postgres_bin_dir() -> Result<PathBuf, DbServerError> {
    if let Some(initdb) = which("initdb")
        && let Some(dir) = initdb.parent()
    {
        return Ok(dir.to_path_buf());
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| DbServerError::NotInstalled("PostgreSQL", "initdb".into()))
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Whether this process runs as root (`/proc/self` belongs to the effective user).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// (uid, gid) of a system user, from /etc/passwd.
fn system_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        if f.next()? != name {
            return None;
        }
        let uid = f.nth(1)?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        Some((uid, gid))
    })
}

/// A loopback port nobody listens on now (kept for the server's whole life,
/// so restarts come back where clients expect them).
fn free_port() -> Result<u16, DbServerError> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
