//! Running the loadbot binary, finding (or building) outfit-server, scenario
//! files, and small misbehaving servers.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

/// No loadbot run in these tests may take longer.
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// The outfit-server binary in the same target folder as loadbot, built once if missing.
pub(crate) fn server_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let loadbot = PathBuf::from(env!("CARGO_BIN_EXE_loadbot"));
        let dir = loadbot.parent().expect("target folder").to_owned();
        let bin = dir.join("outfit-server");
        if !bin.is_file() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = Command::new(cargo);
            build.args(["build", "-p", "outfit-server"]);
            if dir.file_name().is_some_and(|n| n == "release") {
                build.arg("--release");
            }
            let status = build
                .status()
                .expect("running cargo build -p outfit-server");
            assert!(status.success(), "cargo build -p outfit-server failed");
        }
        assert!(bin.is_file(), "no outfit-server at {}", bin.display());
        bin
    })
    .clone()
}

/// A finished loadbot run.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Everything it printed, for assertion messages.
    pub(crate) fn text(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `loadbot` with `args`, killing it past [`RUN_LIMIT`].
pub(crate) fn loadbot(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadbot"))
        .args(args)
        .env("SPIKEPROOF_SERVER_BIN", server_bin())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting loadbot");
    let started = Instant::now();
    while child.try_wait().expect("waiting for loadbot").is_none() {
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("loadbot output");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Writes a scenario file into `dir`.
pub(crate) fn scenario(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing the scenario");
    path
}

/// summary.json of a run.
pub(crate) fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json written");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

/// A loopback server that stops (and drops its sockets) when dropped.
pub(crate) struct TestServer {
    pub(crate) url: String,
    stop: Arc<AtomicBool>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Longest a test server lives even if never dropped.
const SERVER_LIMIT: Duration = Duration::from_secs(120);

fn serve(on_connection: fn(TcpStream, Arc<AtomicBool>)) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    thread::spawn(move || {
        let started = Instant::now();
        while !flag.load(Ordering::Relaxed) && started.elapsed() < SERVER_LIMIT {
            match listener.accept() {
                Ok((socket, _)) => {
                    let _ = socket.set_nonblocking(false);
                    let flag = Arc::clone(&flag);
                    thread::spawn(move || on_connection(socket, flag));
                }
                Err(_) => thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    TestServer { url, stop }
}

/// Accepts connections and never answers: holds each socket until stopped.
pub(crate) fn silent_server() -> TestServer {
    serve(|socket, stop| {
        let started = Instant::now();
        while !stop.load(Ordering::Relaxed) && started.elapsed() < SERVER_LIMIT {
            thread::sleep(Duration::from_millis(20));
        }
        drop(socket);
    })
}

/// Answers every request with the overload contract's 503.
pub(crate) fn shedding_server() -> TestServer {
    serve(|mut socket, stop| {
        let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
        let body =
            r#"{"error":"overloaded","message":"We're very busy right now.","retry_after_s":1}"#;
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = [0u8; 4096];
        let started = Instant::now();
        while !stop.load(Ordering::Relaxed) && started.elapsed() < SERVER_LIMIT {
            match socket.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
                Err(_) => continue,
            }
            // answer each complete request (headers plus content-length body)
            while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if pending.len() < end + 4 + length {
                    break;
                }
                pending.drain(..end + 4 + length);
                if socket.write_all(answer.as_bytes()).is_err() {
                    return;
                }
            }
        }
    })
}

/// A real outfit-server on loopback (fresh SQLite database), killed when dropped.
pub(crate) struct OutfitServer {
    pub(crate) url: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for OutfitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts outfit-server on a free port and waits until it listens.
pub(crate) fn outfit_server(garments: u32) -> OutfitServer {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}/shards.db", dir.path().display());
    let mut child = Command::new(server_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        .args(["--seed-garments", &garments.to_string()])
        .args(["--log-format", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting outfit-server");
    let stdout = child.stdout.take().expect("server stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut lines = std::io::BufReader::new(stdout).lines();
        let mut sent = false;
        // keep draining so the server never blocks on a full pipe
        while let Some(Ok(line)) = lines.next() {
            if !sent && let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.trim().to_owned());
                sent = true;
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("outfit-server listens within 30 s");
    OutfitServer {
        url,
        child,
        _dir: dir,
    }
}
