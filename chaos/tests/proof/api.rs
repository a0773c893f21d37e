//! The Toxiproxy-compatible API: shapes, status codes and errors as Toxiproxy
//! clients expect them, and its toxics acting on real traffic.

use std::time::{Duration, Instant};

use chaos::proxy::{Registry, api};
use serde_json::{Value, json};

use crate::helpers::{echo_server, round_trip};

async fn start() -> (String, reqwest::Client) {
    let (addr, _task) = api::serve("127.0.0.1:0".parse().expect("addr"), Registry::new(false))
        .await
        .expect("api");
    (format!("http://{addr}"), reqwest::Client::new())
}

async fn call(
    client: &reqwest::Client,
    method: &str,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let req = match method {
        "GET" => client.get(url),
        "DELETE" => client.delete(url),
        _ => client.post(url),
    };
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn proxies_and_toxics_round_trip_through_the_api_with_toxiproxys_shapes() {
    let (base, c) = start().await;
    let upstream = echo_server().await;
    let (s, v) = call(&c, "GET", format!("{base}/version"), None).await;
    assert_eq!(s, 200);
    assert!(v["version"].is_string());
    let (s, created) = call(
        &c,
        "POST",
        format!("{base}/proxies"),
        Some(json!({"name": "db", "listen": "127.0.0.1:0", "upstream": upstream.to_string()})),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["name"], "db");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["upstream"], upstream.to_string());
    assert_eq!(created["toxics"], json!([]));
    let listen: std::net::SocketAddr = created["listen"]
        .as_str()
        .expect("listen")
        .parse()
        .expect("bound address");
    assert_ne!(listen.port(), 0);

    let (s, err) = call(
        &c,
        "POST",
        format!("{base}/proxies"),
        Some(json!({"name": "db", "upstream": upstream.to_string()})),
    )
    .await;
    assert_eq!(
        (s, err),
        (409, json!({"error": "proxy already exists", "status": 409}))
    );

    let (s, t) = call(
        &c,
        "POST",
        format!("{base}/proxies/db/toxics"),
        Some(json!({"type": "latency", "attributes": {"latency": 150}})),
    )
    .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(
        t,
        json!({"name": "latency_downstream", "type": "latency", "stream": "downstream",
        "toxicity": 1.0, "attributes": {"latency": 150, "jitter": 0}})
    );
    let mut sock = tokio::net::TcpStream::connect(listen)
        .await
        .expect("connect");
    let started = Instant::now();
    round_trip(&mut sock, b"x").await.expect("echo");
    assert!(
        started.elapsed() >= Duration::from_millis(145),
        "{:?}",
        started.elapsed()
    );

    let (s, t) = call(
        &c,
        "POST",
        format!("{base}/proxies/db/toxics/latency_downstream"),
        Some(json!({"attributes": {"jitter": 10}})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(t["attributes"], json!({"latency": 150, "jitter": 10}));
    let (s, list) = call(&c, "GET", format!("{base}/proxies/db/toxics"), None).await;
    assert_eq!((s, list.as_array().map(Vec::len)), (200, Some(1)));
    let (s, all) = call(&c, "GET", format!("{base}/proxies"), None).await;
    assert_eq!(s, 200);
    assert_eq!(all["db"]["toxics"][0]["name"], "latency_downstream");

    let (s, _) = call(
        &c,
        "DELETE",
        format!("{base}/proxies/db/toxics/latency_downstream"),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, err) = call(
        &c,
        "GET",
        format!("{base}/proxies/db/toxics/latency_downstream"),
        None,
    )
    .await;
    assert_eq!((s, err["error"].as_str()), (404, Some("toxic not found")));

    let (s, p) = call(
        &c,
        "POST",
        format!("{base}/proxies/db"),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!((s, &p["enabled"]), (200, &json!(false)));
    assert!(
        tokio::net::TcpStream::connect(listen).await.is_err(),
        "disabled refuses"
    );
    let (s, _) = call(
        &c,
        "POST",
        format!("{base}/proxies/db/toxics"),
        Some(json!({"type": "timeout", "attributes": {"timeout": 0}})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = call(&c, "POST", format!("{base}/reset"), None).await;
    assert_eq!(s, 204);
    let (_, p) = call(&c, "GET", format!("{base}/proxies/db"), None).await;
    assert_eq!((&p["enabled"], &p["toxics"]), (&json!(true), &json!([])));
    let mut sock = tokio::net::TcpStream::connect(listen)
        .await
        .expect("enabled again, same address");
    round_trip(&mut sock, b"y").await.expect("echo");

    let (s, _) = call(&c, "DELETE", format!("{base}/proxies/db"), None).await;
    assert_eq!(s, 204);
    let (s, err) = call(&c, "GET", format!("{base}/proxies/db"), None).await;
    assert_eq!(
        (s, err),
        (404, json!({"error": "proxy not found", "status": 404}))
    );
}

#[tokio::test]
async fn invalid_parameters_get_400_with_a_message_in_toxiproxys_error_shape() {
    let (base, c) = start().await;
    let upstream = echo_server().await;
    let (s, _) = call(
        &c,
        "POST",
        format!("{base}/proxies"),
        Some(json!({"name": "p", "upstream": upstream.to_string()})),
    )
    .await;
    assert_eq!(s, 201);
    for (body, expected) in [
        (
            json!({"type": "latency", "stream": "sideways"}),
            "stream was invalid",
        ),
        (
            json!({"type": "latency", "attributes": {"latency": -5}}),
            "whole number",
        ),
        (
            json!({"type": "bandwidth", "attributes": {"rate": 0}}),
            "at least 1",
        ),
        (json!({"type": "nope"}), "invalid toxic type"),
        (json!({"type": "latency", "toxicity": 2}), "toxicity"),
    ] {
        let (s, err) = call(
            &c,
            "POST",
            format!("{base}/proxies/p/toxics"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, 400, "{body}");
        assert_eq!(err["status"], 400);
        assert!(
            err["error"].as_str().is_some_and(|m| m.contains(expected)),
            "{body}: {err}"
        );
    }
    let r = c
        .post(format!("{base}/proxies"))
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let (s, err) = call(
        &c,
        "POST",
        format!("{base}/proxies"),
        Some(json!({"name": "q"})),
    )
    .await;
    assert_eq!(
        (s, err["error"].as_str()),
        (400, Some("missing required field: upstream"))
    );
    let (s, err) = call(
        &c,
        "POST",
        format!("{base}/proxies"),
        Some(json!({"name": "wide", "listen": "0.0.0.0:0", "upstream": upstream.to_string()})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        err["error"]
            .as_str()
            .is_some_and(|m| m.contains("loopback")),
        "{err}"
    );
    let (s, _) = call(
        &c,
        "POST",
        format!("{base}/proxies/p/toxics"),
        Some(json!({"type": "latency", "name": "l"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, err) = call(
        &c,
        "POST",
        format!("{base}/proxies/p/toxics"),
        Some(json!({"type": "slicer", "name": "l", "attributes": {"average_size": 5}})),
    )
    .await;
    assert_eq!(
        (s, err["error"].as_str()),
        (409, Some("toxic already exists"))
    );
}
