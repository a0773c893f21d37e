//! Request bodies, query strings and path parameters through the real router
//! (the same `Router` the server serves) over a SQLite store, driven in-process
//! with `tower::ServiceExt::oneshot`.
//!
//! Input: byte 0 picks the route, byte 1 the headers (bits 0-1: our token, none,
//! a garbage token, the admin token; bit 2: no `Content-Type`), the rest is the
//! body, the query string or the path segment.
//!
//! Invariants: no answer is a 5xx; every 4xx is our JSON error
//! `{"error","message"}`; every 2xx is JSON; a profile that `PUT` accepts is
//! what `GET` then returns.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::{
    Router,
    body::{Body, to_bytes},
    http::{Method, Request, StatusCode, header},
};
use libfuzzer_sys::fuzz_target;
use outfit_server::{Application, chaos::Chaos, config::Settings};
use serde_json::Value;
use tower::ServiceExt as _;

const ADMIN_TOKEN: &str = "fuzz-admin-token-0123456789";

struct Harness {
    rt: tokio::runtime::Runtime,
    router: Router,
    chaos: Arc<Chaos>,
    token: String,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary folder: {e}"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let url = format!("sqlite://{}/fuzz.db", dir.path().display());
        let mut settings = Settings {
            listen: ([127, 0, 0, 1], 0).into(),
            database_url: url.into(),
            seed_garments: 300,
            catalog_refresh_s: 3600,
            admin_token: Some(ADMIN_TOKEN.to_string().into()),
            ..Settings::default()
        };
        settings.chaos.enabled = true;
        let (router, chaos, token) = rt.block_on(async {
            let app = Application::build(settings)
                .await
                .unwrap_or_else(|e| panic!("the server does not build: {e:#}"));
            let state = app.state().clone();
            let chaos = state.chaos.clone().unwrap_or_else(|| panic!("chaos is on"));
            let router = outfit_server::api::app(state);
            let response = router
                .clone()
                .oneshot(request(
                    Method::POST,
                    "/v1/users",
                    None,
                    Body::empty(),
                    false,
                ))
                .await
                .unwrap_or_else(|e| panic!("register: {e}"));
            let body = to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap_or_else(|e| panic!("register body: {e}"));
            let body: Value = serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("register answer is not JSON: {e}"));
            let token = body["token"]
                .as_str()
                .unwrap_or_else(|| panic!("no token in {body}"))
                .to_string();
            // the server's listener is not served: requests go through the router only
            drop(app);
            (router, chaos, token)
        });
        Harness {
            rt,
            router,
            chaos,
            token,
            _dir: dir,
        }
    })
}

fn request(method: Method, uri: &str, auth: Option<&str>, body: Body, json: bool) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(token) = auth {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if json {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    builder
        .body(body)
        .unwrap_or_else(|e| panic!("request {uri}: {e}"))
}

/// Percent-encodes what a URI may not hold; `%` stays, so bad escapes get through.
fn uri_part(raw: &[u8], keep: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        if b.is_ascii_alphanumeric() || b"-._~%".contains(&b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn send(h: &Harness, req: Request<Body>) -> (StatusCode, Vec<u8>) {
    let what = format!("{} {}", req.method(), req.uri());
    let response = h
        .router
        .clone()
        .oneshot(req)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = response.status();
    let body = to_bytes(response.into_body(), 16 << 20)
        .await
        .unwrap_or_else(|e| panic!("{what}: reading the body: {e}"));
    check_answer(&what, status, &body);
    (status, body.to_vec())
}

fn check_answer(what: &str, status: StatusCode, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    assert!(
        !status.is_server_error(),
        "{what} answered {status}: {text}"
    );
    let value: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!("{what} answered {status} with a body that is not JSON ({e}): {text}")
    });
    if status.is_client_error() {
        assert!(
            value["error"].is_string() && value["message"].is_string(),
            "{what} answered {status} without {{\"error\",\"message\"}}: {text}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let [route, flags, rest @ ..] = data else {
        return;
    };
    let h = harness();
    let admin = flags & 3 == 3;
    let auth = match flags & 3 {
        0 => Some(h.token.as_str()),
        1 => None,
        2 => Some("not-a-token"),
        _ => Some(ADMIN_TOKEN),
    };
    let json = flags & 4 == 0;
    let body = || Body::from(rest.to_vec());
    h.rt.block_on(async {
        match route % 6 {
            0 => {
                let put = request(Method::PUT, "/v1/users/me/profile", auth, body(), json);
                let (status, saved) = send(h, put).await;
                if status == StatusCode::OK {
                    let get = request(
                        Method::GET,
                        "/v1/users/me/profile",
                        auth,
                        Body::empty(),
                        false,
                    );
                    let (status, read) = send(h, get).await;
                    assert_eq!(status, StatusCode::OK, "a saved profile cannot be read");
                    let saved: Value = serde_json::from_slice(&saved).unwrap_or_default();
                    let read: Value = serde_json::from_slice(&read).unwrap_or_default();
                    assert_eq!(read, saved, "GET returns another profile than PUT saved");
                }
            }
            1 => {
                let post = request(Method::POST, "/v1/outfits/feedback", auth, body(), json);
                send(h, post).await;
            }
            2 => {
                let uri = format!("/v1/outfits?{}", uri_part(rest, b"=&+,;:@/?!$'()*"));
                send(h, request(Method::GET, &uri, auth, Body::empty(), false)).await;
            }
            3 => {
                let uri = format!("/v1/garments?{}", uri_part(rest, b"=&+,;:@/?!$'()*"));
                send(h, request(Method::GET, &uri, auth, Body::empty(), false)).await;
            }
            4 => {
                let uri = format!("/v1/garments/{}", uri_part(rest, b"+,;:@!$'()*"));
                send(h, request(Method::GET, &uri, auth, Body::empty(), false)).await;
            }
            _ => {
                let post = request(Method::POST, "/admin/chaos/faults", auth, body(), json);
                let (status, _) = send(h, post).await;
                if status.is_success() {
                    assert!(admin, "a fault was added without the admin token");
                }
                // an added fault (a hang, a panic, a leak) must not outlive this input
                h.chaos.remove(None);
            }
        }
    });
});
