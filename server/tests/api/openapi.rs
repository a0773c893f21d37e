//! The OpenAPI document at `/openapi.json`: a valid 3.1 document, the same
//! routes as the router (both ways), and the security it declares enforced.
//! The document does not depend on the store, so these run on SQLite only.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

const ADMIN: &str = "openapi-admin-token-0123456789";

/// Every route of the HTTP contract (DESIGN.md) with admin and chaos on.
const CONTRACT: &[(&str, &str)] = &[
    ("POST", "/v1/users"),
    ("PUT", "/v1/users/me/profile"),
    ("GET", "/v1/users/me/profile"),
    ("GET", "/v1/users/me/saved"),
    ("GET", "/v1/outfits"),
    ("POST", "/v1/outfits/feedback"),
    ("GET", "/v1/garments"),
    ("GET", "/v1/garments/{id}"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/admin/chaos/faults"),
    ("POST", "/admin/chaos/faults"),
    ("DELETE", "/admin/chaos/faults"),
    ("DELETE", "/admin/chaos/faults/{id}"),
    ("GET", "/admin/ingests"),
    ("POST", "/admin/ingests"),
    ("GET", "/admin/ingests/{id}"),
    ("POST", "/admin/heap/profiling"),
    ("GET", "/admin/heap/profile"),
];

const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "PATCH"];

async fn spawn_with_admin() -> TestApp {
    spawn_app_with(Backend::Sqlite, |s| {
        s.admin_token = Some(ADMIN.to_string().into());
        s.chaos.enabled = true;
    })
    .await
}

async fn document(app: &TestApp) -> Value {
    let r = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("openapi.json");
    assert_eq!(r.status(), 200);
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    r.json().await.expect("the document is JSON")
}

/// `(METHOD, path)` of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method.to_lowercase()).is_some() {
                ops.insert((method.to_string(), path.clone()));
            }
        }
    }
    ops
}

fn contract(with_admin: bool) -> BTreeSet<(String, String)> {
    CONTRACT
        .iter()
        .filter(|(_, p)| with_admin || !p.starts_with("/admin"))
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// Whether an answer came from the router's fallbacks (no route, or no such method).
async fn from_fallback(r: reqwest::Response) -> Option<String> {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    let fallback = (status == 404 && body["message"] == "no such route")
        || (status == 405 && body["error"] == "method_not_allowed");
    fallback.then(|| format!("{status} {body}"))
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
}

fn security_schemes(op: &Value) -> Vec<String> {
    op["security"]
        .as_array()
        .map(|reqs| {
            reqs.iter()
                .filter_map(Value::as_object)
                .flat_map(|r| r.keys().cloned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_openapi_3_1_and_every_ref_resolves() {
    let app = spawn_with_admin().await;
    let doc = document(&app).await;
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1."), "{version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 20, "the document uses shared schemas: {all:?}");
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r} is not local"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let responses = op["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{method} {path} has no responses");
        for name in security_schemes(op) {
            assert!(
                doc["components"]["securitySchemes"][&name].is_object(),
                "{method} {path}: scheme {name} is not declared"
            );
        }
        // every `{param}` of the path is declared as a path parameter
        for param in path.split('/').filter_map(|s| s.strip_prefix('{')) {
            let name = param.trim_end_matches('}');
            let declared = op["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true)
            });
            assert!(declared, "{method} {path}: path parameter {name}");
        }
    }
    // the answers middleware adds, with their header
    let put = &doc["paths"]["/v1/users/me/profile"]["put"]["responses"];
    for status in ["429", "503"] {
        assert!(
            put[status]["headers"]["Retry-After"].is_object(),
            "PUT profile {status}: {put}"
        );
    }
    assert!(doc["paths"]["/v1/outfits"]["get"]["responses"]["429"].is_null());
    assert!(doc["paths"]["/healthz"]["get"]["responses"]["503"].is_null());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_exactly_the_routes_the_router_serves() {
    let app = spawn_with_admin().await;
    let doc = document(&app).await;
    let documented = operations(&doc);
    assert_eq!(documented, contract(true), "document vs contract");
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        let url = app.url(&concrete(path));
        for method in METHODS {
            let m = Method::from_bytes(method.as_bytes()).expect("method");
            let r = app
                .client
                .request(m, &url)
                .bearer_auth(ADMIN)
                .json(&json!({}))
                .send()
                .await
                .expect("request");
            let fallback = from_fallback(r).await;
            if documented.contains(&(method.to_string(), path.clone())) {
                assert_eq!(
                    fallback, None,
                    "{method} {path} is documented but not routed"
                );
            } else {
                assert!(
                    fallback.as_deref().is_some_and(|f| f.starts_with("405")),
                    "{method} {path} is routed but not documented: {fallback:?}"
                );
            }
        }
    }
    app.stop().await;
}

/// The live check above probes the documented paths; a route on a path of
/// its own could only come from plain axum routing, which would bypass the
/// document. Nothing in the server may register a route that way.
#[test]
fn no_route_is_registered_outside_the_documented_table() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src];
    let mut offenders = Vec::new();
    let mut scanned = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read source folder") {
                files.push(entry.expect("entry").path());
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        scanned += 1;
        let text = std::fs::read_to_string(&path).expect("read source");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            // `.route(path, ...)`, not a getter such as `spec.route()`
            let plain = [".route(", ".route_service(", ".nest(", ".nest_service("]
                .iter()
                .any(|p| {
                    code.match_indices(p)
                        .any(|(at, _)| !code[at + p.len()..].starts_with(')'))
                })
                || code.contains("routing::");
            if plain {
                offenders.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(scanned > 20, "scanned {scanned} files");
    assert!(
        offenders.is_empty(),
        "routes must be registered with utoipa_axum's routes! so the document lists them:\n{}",
        offenders.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_admin_token_admin_routes_are_neither_served_nor_documented() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    assert_eq!(operations(&doc), contract(false));
    for (method, path) in contract(true).difference(&contract(false)) {
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let r = app
            .client
            .request(m, app.url(&concrete(path)))
            .bearer_auth(ADMIN)
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 404, "{method} {path}");
    }
    app.stop().await;
}

/// The security each operation declares is what the server enforces: user
/// routes refuse a missing, malformed, unknown or admin token; admin routes
/// refuse a missing, wrong or user token; open routes need none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_enforces_the_security_it_documents() {
    let app = spawn_with_admin().await;
    let doc = document(&app).await;
    let user = app.onboarded_user().await;
    let unknown = "ab".repeat(32);
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let schemes = security_schemes(op);
        let m = Method::from_bytes(method.as_bytes()).expect("method");
        let send = |token: Option<&str>| {
            let mut req = app
                .client
                .request(m.clone(), app.url(&concrete(&path)))
                .json(&json!({}));
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            req.send()
        };
        let refused: Vec<Option<&str>> = match schemes.as_slice() {
            [] => Vec::new(),
            [s] if s == "user_token" => {
                vec![None, Some("not-a-token"), Some(&unknown), Some(ADMIN)]
            }
            [s] if s == "admin_token" => {
                vec![None, Some("wrong-admin-token-000000"), Some(&user)]
            }
            other => panic!("{method} {path}: unexpected security {other:?}"),
        };
        for token in refused {
            let r = send(token).await.expect("request");
            assert_eq!(r.status(), 401, "{method} {path} with {token:?}");
            let body: Value = r.json().await.expect("json");
            assert_eq!(body["error"], "unauthorized", "{method} {path}");
            assert!(body["message"].is_string());
        }
        let right = match schemes.first().map(String::as_str) {
            Some("user_token") => Some(user.as_str()),
            Some(_) => Some(ADMIN),
            None => None,
        };
        let r = send(right).await.expect("request");
        assert_ne!(
            r.status(),
            401,
            "{method} {path} refused its documented credentials"
        );
    }
    app.stop().await;
}
