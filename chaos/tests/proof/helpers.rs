//! Shared helpers: watching a real server under a bounded load, and an echo upstream.

use std::{net::SocketAddr, time::Duration};

use chaos::{
    Report,
    harness::{LoadPlan, LoadStats, ServerOptions, ServerProcess, drive},
    watch::{Watch, WatchConfig},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// Runs the server, watches it through `load_for` of load and up to `settle`
/// after, and returns the report (the server is stopped).
pub(crate) async fn watch_server(
    opts: ServerOptions,
    load_for: Duration,
    max_requests: u64,
    database_url: Option<String>,
) -> (Report, LoadStats) {
    let server = ServerProcess::spawn(&opts).await.expect("server starts");
    let mut config = WatchConfig::new(&server.base_url);
    config.interval = Duration::from_millis(250);
    config.max_duration = Duration::from_secs(120);
    config.database_url = database_url;
    config.budgets.settle_within = Duration::from_secs(5);
    // a fixed limit, so the runway figure does not depend on this machine
    config.budgets.memory_limit_bytes = Some(8 << 30);
    let watch = Watch::start(config).await.expect("watch starts");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    watch.mark_load_start();
    let mut plan = LoadPlan::new(&server.base_url, load_for);
    plan.max_requests = max_requests;
    let stats = drive(&plan).await;
    watch.mark_load_end();
    watch.wait_settled(Duration::from_secs(6)).await;
    let report = watch.finish().await;
    let log = server.log_tail();
    server.stop().await;
    assert!(stats.ok > 0, "no request succeeded: {stats:?}\n{log}");
    eprintln!("{stats:?}\n{report}");
    (report, stats)
}

/// An upstream that echoes every byte back until the client closes.
pub(crate) async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

/// Writes `data` and reads the same number of bytes back (or fails after 10 s).
pub(crate) async fn round_trip(s: &mut TcpStream, data: &[u8]) -> std::io::Result<Vec<u8>> {
    s.write_all(data).await?;
    let mut back = vec![0u8; data.len()];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut back))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    Ok(back)
}
