//! Every toxic, measured through the proxy with a real TCP client and a real
//! echo upstream on loopback, against the same link without it.

use std::{
    io::ErrorKind,
    net::SocketAddr,
    time::{Duration, Instant},
};

use chaos::{Proxy, Stream, Toxic, ToxicKind};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

use crate::helpers::{echo_server, round_trip};

async fn proxy() -> (Proxy, SocketAddr) {
    let upstream = echo_server().await;
    let p = Proxy::start("127.0.0.1:0".parse().expect("addr"), upstream)
        .await
        .expect("proxy");
    let addr = p.listen_addr().expect("bound");
    (p, addr)
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s
}

/// Time of one small round trip.
async fn rtt(addr: SocketAddr) -> Duration {
    let mut s = connect(addr).await;
    let started = Instant::now();
    assert_eq!(round_trip(&mut s, b"ping").await.expect("echo"), b"ping");
    started.elapsed()
}

/// Reads until EOF or error; returns the bytes and how it ended.
async fn read_to_end(s: &mut TcpStream, within: Duration) -> (Vec<u8>, Result<(), ErrorKind>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        match timeout(
            deadline.saturating_duration_since(Instant::now()),
            s.read(&mut buf),
        )
        .await
        {
            Err(_) => return (out, Err(ErrorKind::TimedOut)),
            Ok(Ok(0)) => return (out, Ok(())),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => return (out, Err(e.kind())),
        }
    }
}

#[tokio::test]
async fn latency_adds_its_delay_to_each_direction_within_tolerance() {
    let (p, addr) = proxy().await;
    let base = rtt(addr).await;
    assert!(base < Duration::from_millis(100), "{base:?}");
    p.add_toxic(Toxic::new(ToxicKind::Latency {
        latency: 200,
        jitter: 0,
    }))
    .expect("toxic");
    let one_way = rtt(addr).await;
    assert!(
        one_way >= Duration::from_millis(195)
            && one_way < Duration::from_millis(200) + base + Duration::from_millis(150),
        "{one_way:?} (base {base:?})"
    );
    p.add_toxic(
        Toxic::new(ToxicKind::Latency {
            latency: 100,
            jitter: 20,
        })
        .on(Stream::Upstream),
    )
    .expect("toxic");
    let both = rtt(addr).await;
    assert!(both >= Duration::from_millis(275), "{both:?}");
    assert!(both < Duration::from_millis(520) + base, "{both:?}");
}

#[tokio::test]
async fn a_toxicity_of_zero_leaves_the_link_alone() {
    let (p, addr) = proxy().await;
    p.add_toxic(
        Toxic::new(ToxicKind::Latency {
            latency: 500,
            jitter: 0,
        })
        .with_toxicity(0.0),
    )
    .expect("toxic");
    assert!(rtt(addr).await < Duration::from_millis(300));
}

#[tokio::test]
async fn bandwidth_caps_the_rate() {
    let (p, addr) = proxy().await;
    let data = vec![7u8; 100_000];
    let mut s = connect(addr).await;
    let started = Instant::now();
    round_trip(&mut s, &data).await.expect("echo");
    let free = started.elapsed();
    p.add_toxic(Toxic::new(ToxicKind::Bandwidth { rate: 100 }))
        .expect("toxic");
    let mut s = connect(addr).await;
    let started = Instant::now();
    assert_eq!(round_trip(&mut s, &data).await.expect("echo"), data);
    let capped = started.elapsed();
    // 100 KB at 100 KB/s: a second, where the free link took a few milliseconds
    assert!(free < Duration::from_millis(300), "{free:?}");
    assert!(
        capped >= Duration::from_millis(850) && capped < Duration::from_millis(2_500),
        "{capped:?}"
    );
}

#[tokio::test]
async fn reset_peer_is_seen_as_a_reset() {
    let (p, addr) = proxy().await;
    p.add_toxic(Toxic::new(ToxicKind::ResetPeer { timeout: 100 }).on(Stream::Upstream))
        .expect("toxic");
    let mut s = connect(addr).await;
    s.write_all(b"hello").await.expect("write");
    let started = Instant::now();
    let (data, end) = read_to_end(&mut s, Duration::from_secs(5)).await;
    assert!(data.is_empty(), "{data:?}");
    assert_eq!(end, Err(ErrorKind::ConnectionReset));
    assert!(started.elapsed() >= Duration::from_millis(90));
}

#[tokio::test]
async fn timeout_holds_the_data_and_closes_after_its_time() {
    let (p, addr) = proxy().await;
    p.add_toxic(Toxic::new(ToxicKind::Timeout { timeout: 500 }))
        .expect("toxic");
    let mut s = connect(addr).await;
    let started = Instant::now();
    s.write_all(b"hello").await.expect("write");
    let (data, end) = read_to_end(&mut s, Duration::from_secs(5)).await;
    let held = started.elapsed();
    assert!(data.is_empty(), "{data:?}");
    assert!(end != Err(ErrorKind::TimedOut), "closed after its timeout");
    assert!(
        held >= Duration::from_millis(480) && held < Duration::from_millis(1_500),
        "{held:?}"
    );
}

#[tokio::test]
async fn a_zero_timeout_holds_until_the_toxic_is_removed() {
    let (p, addr) = proxy().await;
    let t = p
        .add_toxic(Toxic::new(ToxicKind::Timeout { timeout: 0 }))
        .expect("toxic");
    let mut s = connect(addr).await;
    s.write_all(b"lost").await.expect("write");
    let mut buf = [0u8; 16];
    assert!(
        timeout(Duration::from_millis(800), s.read(&mut buf))
            .await
            .is_err(),
        "nothing passes while the toxic is on"
    );
    p.remove_toxic(&t.name).expect("remove");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        round_trip(&mut s, b"back").await.expect("flows again"),
        b"back"
    );
}

#[tokio::test]
async fn limit_data_closes_after_its_bytes() {
    let (p, addr) = proxy().await;
    p.add_toxic(Toxic::new(ToxicKind::LimitData { bytes: 10 }))
        .expect("toxic");
    let mut s = connect(addr).await;
    s.write_all(&[1u8; 100]).await.expect("write");
    let (data, end) = read_to_end(&mut s, Duration::from_secs(5)).await;
    assert_eq!(data.len(), 10);
    assert!(end != Err(ErrorKind::TimedOut), "closed, not hung");
}

#[tokio::test]
async fn the_slicer_delivers_everything_in_small_late_pieces() {
    let (p, addr) = proxy().await;
    p.add_toxic(Toxic::new(ToxicKind::Slicer {
        average_size: 10,
        size_variation: 0,
        delay: 20_000,
    }))
    .expect("toxic");
    let mut s = connect(addr).await;
    let data: Vec<u8> = (0..100).collect();
    s.write_all(&data).await.expect("write");
    let started = Instant::now();
    let mut got = Vec::new();
    let mut reads = 0;
    let mut buf = [0u8; 4096];
    while got.len() < data.len() {
        let n = timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("in time")
            .expect("read");
        assert!(n > 0 && n <= 20, "piece of {n}");
        got.extend_from_slice(&buf[..n]);
        reads += 1;
    }
    assert_eq!(got, data);
    assert!(reads >= 5, "{reads} reads");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn slow_close_delays_the_close() {
    let (p, addr) = proxy().await;
    p.add_toxic(Toxic::new(ToxicKind::SlowClose { delay: 500 }))
        .expect("toxic");
    let mut s = connect(addr).await;
    assert_eq!(round_trip(&mut s, b"bye").await.expect("echo"), b"bye");
    let started = Instant::now();
    s.shutdown().await.expect("half close");
    let (data, end) = read_to_end(&mut s, Duration::from_secs(5)).await;
    assert!(data.is_empty());
    assert_eq!(end, Ok(()));
    assert!(
        started.elapsed() >= Duration::from_millis(480),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_disabled_proxy_cuts_open_links_and_refuses_new_ones_until_enabled() {
    let (p, addr) = proxy().await;
    let mut open = connect(addr).await;
    assert_eq!(round_trip(&mut open, b"a").await.expect("echo"), b"a");
    p.disable().await;
    let (_, end) = read_to_end(&mut open, Duration::from_secs(2)).await;
    assert!(end != Err(ErrorKind::TimedOut), "the open link is cut");
    let refused = TcpStream::connect(addr).await;
    assert_eq!(
        refused.err().map(|e| e.kind()),
        Some(ErrorKind::ConnectionRefused)
    );
    assert_eq!(p.enable().await.expect("enable"), addr);
    let mut again = connect(addr).await;
    assert_eq!(round_trip(&mut again, b"b").await.expect("echo"), b"b");
}
