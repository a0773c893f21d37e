//! Slow and hostile clients: slowloris headers, clients that never read, and
//! more connections than the cap. Normal clients keep being served.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::{Backend, TestApp, spawn_app_with};

const SLOWLORIS: usize = 2_000;
/// Generous: on a loaded 2-core machine a normal request takes milliseconds.
const NORMAL_BOUND: Duration = Duration::from_secs(2);

/// Serves `n` normal requests one after another; returns their latencies.
async fn normal_clients_are_served(app: &TestApp, n: usize) -> Vec<Duration> {
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let sent = tokio::time::Instant::now();
        let r = tokio::time::timeout(
            NORMAL_BOUND,
            app.client.get(app.url("/v1/garments/1")).send(),
        )
        .await
        .expect("a normal client was kept waiting")
        .expect("a normal client got no answer");
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await;
        took.push(sent.elapsed());
    }
    took
}

fn p99(mut took: Vec<Duration>) -> Duration {
    took.sort();
    took[(took.len() * 99).div_ceil(100).saturating_sub(1)]
}

/// Scheduler noise on a shared 2-core machine: a quiet p99 of a few
/// milliseconds doubles on one hiccup, so the bound is twice the quiet p99
/// plus this much.
const NOISE: Duration = Duration::from_millis(10);

/// True when the server closed the connection (EOF or reset) within `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_cut_while_normal_clients_are_served() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.http.header_read_timeout_ms = 1_500;
    })
    .await;
    // normal clients' latency with nobody else connected
    let _ = normal_clients_are_served(&app, 20).await;
    let quiet = p99(normal_clients_are_served(&app, 200).await);
    let mut loris = Vec::with_capacity(SLOWLORIS);
    for _ in 0..SLOWLORIS {
        let mut s = TcpStream::connect(app.addr).await.expect("connect");
        s.write_all(b"GET /v1/garments HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        loris.push(s);
    }
    // trickle one byte a second on every connection, twice, serving normal clients between
    let mut loaded = Vec::new();
    for _ in 0..2 {
        for s in &mut loris {
            let _ = s.write_all(b"X").await;
        }
        loaded.extend(normal_clients_are_served(&app, 100).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let loaded = p99(loaded);
    eprintln!(
        "normal clients' p99: {quiet:?} quiet, {loaded:?} beside {SLOWLORIS} slowloris connections"
    );
    assert!(
        loaded <= quiet * 2 + NOISE,
        "slowloris connections slowed normal clients: p99 {loaded:?} vs {quiet:?} quiet"
    );
    let mut cut = 0;
    for s in &mut loris {
        if closed_by_server(s, Duration::from_secs(3)).await {
            cut += 1;
        }
    }
    assert_eq!(cut, SLOWLORIS, "slowloris connections left open");
    normal_clients_are_served(&app, 20).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_responses_is_dropped() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.http.write_timeout_ms = 1_000;
    })
    .await;
    let mut hog = TcpStream::connect(app.addr).await.expect("connect");
    // pipeline far more response bytes than the socket buffers hold, read nothing
    let request = b"GET /v1/garments?limit=200 HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut written = 0usize;
    for _ in 0..2_000 {
        match tokio::time::timeout(Duration::from_millis(500), hog.write_all(request)).await {
            Ok(Ok(())) => written += 1,
            _ => break,
        }
    }
    assert!(written > 10);
    normal_clients_are_served(&app, 10).await;
    // the server gives up on it: its socket ends up closed
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut closed = false;
    let mut buf = vec![0u8; 1 << 16];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), hog.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => continue,
            Err(_) => break,
        }
    }
    assert!(closed, "the server kept a non-reading client forever");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_get_the_overload_answer() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.http.max_connections = 50;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..50 {
        held.push(TcpStream::connect(app.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(app.addr).await.expect("connect");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(2), extra.read_to_string(&mut answer))
        .await
        .expect("answered at once")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 2"));
    assert!(answer.contains("\"error\":\"overloaded\""));
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    normal_clients_are_served(&app, 5).await;
    app.stop().await;
}
