//! The real `outfit-server` binary as a child process, for tests that need a
//! process of its own (crashes, process-wide allocation counts).

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

/// Starts the server on `url` with `args` and `env`; returns it, its base URL
/// and how long it took to be ready.
pub(crate) async fn start_server(
    url: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Child, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_outfit-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", url])
        .args(["--seed-garments", "300"])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start outfit-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(base) = line.strip_prefix("listening on ") {
                return base.trim().to_string();
            }
        }
        panic!("the server exited before it was ready");
    })
    .await
    .expect("the server became ready within 60 s");
    // keep reading stdout so the server never writes into a closed pipe
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base, started.elapsed())
}
