//! The accept loop: hyper under our own limits, because a spike brings odd
//! clients too.
//!
//! - at most `http.max_connections` open connections; past that a connection
//!   gets the overload contract's `503` written raw, then is closed, so even
//!   the excess is answered rather than left in the backlog;
//! - a request head must arrive within `http.header_read_timeout_ms`
//!   (slowloris clients trickling headers are cut);
//! - a connection idle past `http.idle_timeout_ms`, or whose client stops
//!   reading our response for `http.write_timeout_ms`, is closed;
//! - a request for an admitted route that admission would shed as
//!   `queue_full` is shed here, before routing ([`Admission::shed_at_door`]);
//! - on shutdown: stop accepting, let open connections finish (graceful).
//!
//! `http_open_connections` counts the connections being served, from accept
//! to the end of their task, however they end.

use std::{future::Future, sync::Arc, time::Duration};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
};
use prometheus::IntGauge;
use tokio::{
    io::AsyncWriteExt,
    net::TcpListener,
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_io_timeout::TimeoutStream;
use tower::Service;

use crate::{config::HttpSettings, overload::Admission};

/// Serves `router` on `listener` until `shutdown` resolves, then waits up to
/// `grace` for open connections to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    admission: Arc<Admission>,
    limits: &HttpSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let open = admission.metrics().http_open_connections.clone();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    let write = Duration::from_millis(limits.write_timeout_ms);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (mut stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // EMFILE and friends: back off a little instead of spinning
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        // the raw-503 answers below are not counted: they hold no slot and close within a second
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    let _ = stream.write_all(TOO_MANY_CONNECTIONS).await;
                    let _ = stream.shutdown().await;
                })
                .await;
            });
            continue;
        };
        let served = OpenConnection::open(permit, open.clone());
        let _ = stream.set_nodelay(true);
        let mut timed = TimeoutStream::new(stream);
        timed.set_read_timeout(Some(idle));
        timed.set_write_timeout(Some(write));
        let io = TokioIo::new(Box::pin(timed));
        let router = router.clone();
        let admission = admission.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            // the cheapest shed there is: no routing, no span, a prepared answer
            let door = admission.shed_at_door(req.uri().path());
            let mut router = router.clone();
            async move {
                match door {
                    Some(shed) => Ok(shed),
                    None => router.call(req.map(axum::body::Body::new)).await,
                }
            }
        });
        let conn = builder.serve_connection_with_upgrades(io, service);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(served);
        });
    }
    drop(listener);
    tracing::info!("stopped accepting; draining open connections");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_s = grace.as_secs(),
            "grace period over; dropping unfinished connections"
        );
    }
}

/// A served connection's slot, counted in `http_open_connections` until the
/// connection's task drops it: after the last response, an error, a timeout,
/// or the runtime dropping the task at shutdown.
struct OpenConnection {
    _slot: OwnedSemaphorePermit,
    gauge: IntGauge,
}

impl OpenConnection {
    fn open(slot: OwnedSemaphorePermit, gauge: IntGauge) -> OpenConnection {
        gauge.inc();
        OpenConnection { _slot: slot, gauge }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// The overload contract, written raw when even a connection slot is lacking.
const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 2\r\n\
connection: close\r\n\
content-length: 114\r\n\
\r\n\
{\"error\":\"overloaded\",\"message\":\"We're very busy right now. Please try again in a few seconds.\",\"retry_after_s\":2}";

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::Router;
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::{TcpListener, TcpStream},
    };

    use crate::{
        config::{HttpSettings, OverloadSettings},
        overload::Admission,
        telemetry::Metrics,
    };

    /// Sends one request on `stream` and reads its whole answer ("ok").
    async fn get_ok(stream: &mut TcpStream) {
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .expect("request written");
        let mut answer = Vec::new();
        let mut buf = [0u8; 512];
        while !answer.ends_with(b"\r\n\r\nok") {
            let n = stream.read(&mut buf).await.expect("answer read");
            assert!(n > 0, "closed before the answer");
            answer.extend_from_slice(&buf[..n]);
        }
    }

    /// Waits up to a second for `gauge` to read `want`.
    async fn settles_at(gauge: &prometheus::IntGauge, want: i64) -> bool {
        for _ in 0..200 {
            if gauge.get() == want {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    #[tokio::test]
    async fn open_connections_count_served_connections_until_they_close() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
        let addr = listener.local_addr().expect("address");
        let metrics = Metrics::new();
        let admission = Admission::new(&OverloadSettings::default(), metrics.clone());
        let limits = HttpSettings {
            max_connections: 1,
            ..HttpSettings::default()
        };
        // a fallback, not a route: every route of the server is in its OpenAPI table
        let router = Router::new().fallback(|| async { "ok" });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            super::serve(
                listener,
                router,
                admission,
                &limits,
                shutdown,
                Duration::from_secs(1),
            )
            .await;
        });
        let open = &metrics.http_open_connections;
        let mut client = TcpStream::connect(addr).await.expect("connected");
        get_ok(&mut client).await;
        assert_eq!(open.get(), 1, "the kept-alive connection");
        // past the cap: the raw 503, not counted
        let mut excess = TcpStream::connect(addr).await.expect("connected");
        let mut answer = Vec::new();
        excess.read_to_end(&mut answer).await.expect("raw answer");
        assert!(answer.starts_with(b"HTTP/1.1 503"));
        assert_eq!(open.get(), 1);
        drop(client);
        assert!(
            settles_at(open, 0).await,
            "the closed connection is uncounted"
        );
        let _ = stop.send(());
        server.await.expect("serve ended");
    }

    #[test]
    fn the_raw_503_declares_its_exact_length() {
        let text = std::str::from_utf8(super::TOO_MANY_CONNECTIONS).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let declared: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.parse().ok())
            .expect("content-length");
        assert_eq!(declared, body.len());
        let json: serde_json::Value = serde_json::from_str(body).expect("json body");
        assert_eq!(json["error"], "overloaded");
    }
}
