//! Feeds the tests write (each format, bad rows mixed in at known rows) and a
//! loopback image server that the feeds' image links point at.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::Response,
    routing::get,
};
use outfit_server::{
    config::PoolSettings,
    feeds::{IngestOptions, IngestReport, Progress},
    store::Db,
    telemetry::Metrics,
};

use crate::helpers::{Backend, FreshDb, fresh_database};

/// A product row of a generated feed.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) title: String,
    pub(crate) price: String,
    pub(crate) image: String,
    pub(crate) category: String,
    pub(crate) gender: String,
    pub(crate) color: String,
    pub(crate) size: String,
    pub(crate) group: String,
    pub(crate) availability: String,
}

/// A good row: a women's shirt whose image is `image`.
pub(crate) fn row(id: &str, image: &str) -> Row {
    Row {
        id: id.to_string(),
        title: format!("Shirt {id}"),
        price: "19.90 EUR".to_string(),
        image: image.to_string(),
        category: "Apparel & Accessories > Clothing > Shirts & Tops".to_string(),
        gender: "female".to_string(),
        color: "Blue".to_string(),
        size: "M".to_string(),
        group: String::new(),
        availability: "in stock".to_string(),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// One RSS `<item>`.
pub(crate) fn rss_item(r: &Row) -> String {
    let mut s = String::from("<item>\n");
    let mut field = |name: &str, value: &str| {
        if !value.is_empty() {
            s.push_str(&format!("  <g:{name}>{}</g:{name}>\n", xml_escape(value)));
        }
    };
    field("id", &r.id);
    field("title", &r.title);
    field("price", &r.price);
    field("image_link", &r.image);
    field("google_product_category", &r.category);
    field("gender", &r.gender);
    field("color", &r.color);
    field("size", &r.size);
    field("item_group_id", &r.group);
    field("availability", &r.availability);
    s.push_str("  <g:shipping><g:price>4.95 EUR</g:price></g:shipping>\n</item>\n");
    s
}

/// An RSS 2.0 feed around pre-rendered items (so tests can slip in broken ones).
pub(crate) fn rss(items: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<rss version=\"2.0\" xmlns:g=\"http://base.google.com/ns/1.0\">\n<channel>\n<title>Shop</title>\n{}</channel>\n</rss>\n",
        items.concat()
    )
}

/// An Atom 1.0 feed of rows.
pub(crate) fn atom(rows: &[Row]) -> String {
    let entries: String = rows
        .iter()
        .map(|r| {
            format!(
                "<entry>\n  <id>urn:x:{0}</id>\n  <title>{1}</title>\n  <link rel=\"alternate\" href=\"https://shop.example/p/{0}\"/>\n  <g:id>{0}</g:id>\n  <g:price>{2}</g:price>\n  <g:image_link>{3}</g:image_link>\n  <g:product_type>{4}</g:product_type>\n</entry>\n",
                xml_escape(&r.id),
                xml_escape(&r.title),
                xml_escape(&r.price),
                xml_escape(&r.image),
                xml_escape(&r.category)
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xmlns:g=\"http://base.google.com/ns/1.0\">\n<title>Shop</title>\n{entries}</feed>\n"
    )
}

pub(crate) const TSV_HEADER: &str = "id\ttitle\tprice\timage_link\tgoogle_product_category\tgender\tcolor\tsize\titem_group_id\tavailability";

/// One TSV line.
pub(crate) fn tsv_line(r: &Row) -> String {
    [
        &r.id,
        &r.title,
        &r.price,
        &r.image,
        &r.category,
        &r.gender,
        &r.color,
        &r.size,
        &r.group,
        &r.availability,
    ]
    .map(|s| s.as_str())
    .join("\t")
}

pub(crate) const AWIN_HEADER: [&str; 10] = [
    "aw_product_id",
    "product_name",
    "search_price",
    "currency",
    "merchant_image_url",
    "colour",
    "in_stock",
    "Fashion:size",
    "Fashion:suitable_for",
    "merchant_category",
];

/// One Awin line with `delimiter`; gender is left empty for the category path to say.
pub(crate) fn awin_line(r: &Row, delimiter: char) -> String {
    let (price, currency) = r.price.split_once(' ').unwrap_or((&r.price, ""));
    let cells = [
        r.id.clone(),
        r.title.clone(),
        price.to_string(),
        currency.to_string(),
        r.image.clone(),
        r.color.clone(),
        if r.availability == "in stock" {
            "1"
        } else {
            "0"
        }
        .to_string(),
        r.size.clone(),
        String::new(),
        format!(
            "Womens > {}",
            r.category.rsplit('>').next().unwrap_or("").trim()
        ),
    ];
    cells
        .iter()
        .map(|c| {
            if c.contains(delimiter) || c.contains('"') {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(&delimiter.to_string())
}

/// A fresh migrated database.
pub(crate) async fn database(backend: Backend) -> (Db, FreshDb) {
    let fresh = fresh_database(backend).await;
    let db = Db::connect(
        &fresh.url.clone().into(),
        &PoolSettings::default(),
        Metrics::new(),
    )
    .await
    .expect("connect");
    db.migrate().await.expect("migrate");
    (db, fresh)
}

/// Writes `text` to a file in `dir` and ingests it.
pub(crate) async fn ingest_text(
    db: &Db,
    dir: &tempfile::TempDir,
    name: &str,
    text: &str,
    opts: &IngestOptions,
) -> IngestReport {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write feed");
    outfit_server::feeds::ingest(
        db,
        path.to_str().expect("utf-8 path"),
        opts,
        Arc::new(Progress::default()),
    )
    .await
    .expect("ingest")
}

/// Options for tests: a name, images off unless a test turns them on, small batches.
pub(crate) fn options(feed: &str) -> IngestOptions {
    let mut o = IngestOptions::new(feed);
    o.images = false;
    o.batch = 7;
    o.fetch.retries = 1;
    o.fetch.backoff = std::time::Duration::from_millis(10);
    o.fetch.max_bytes = 512 * 1024;
    o
}

/// A loopback server of images, with ETags, and paths that fail in known ways.
#[cfg_attr(not(feature = "opencv"), allow(dead_code))]
#[derive(Debug, Clone, Default)]
pub(crate) struct ImageServer {
    images: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    /// Full downloads (200 answers) served.
    pub(crate) bodies: Arc<AtomicU64>,
    flaky: Arc<AtomicU64>,
}

#[cfg_attr(not(feature = "opencv"), allow(dead_code))]
impl ImageServer {
    pub(crate) fn put(&self, name: &str, bytes: Vec<u8>) {
        self.images
            .lock()
            .expect("lock")
            .insert(name.to_string(), bytes);
    }

    /// Serves on a loopback port; returns the base URL.
    pub(crate) async fn start(&self) -> String {
        let app = Router::new()
            .route("/img/{name}", get(serve))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}/img")
    }
}

#[cfg_attr(not(feature = "opencv"), allow(dead_code))]
async fn serve(
    State(server): State<ImageServer>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let answer = |status: StatusCode, ct: &str, body: Vec<u8>| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .expect("response")
    };
    match name.as_str() {
        "missing.png" => return answer(StatusCode::NOT_FOUND, "text/plain", b"no".to_vec()),
        "page.png" => return answer(StatusCode::OK, "text/html", b"<html></html>".to_vec()),
        "corrupt.png" => {
            return answer(StatusCode::OK, "image/png", b"\x89PNG not really".to_vec());
        }
        "huge.png" => return answer(StatusCode::OK, "image/png", vec![0u8; 600 * 1024]),
        "flaky.png" if server.flaky.fetch_add(1, Ordering::Relaxed) == 0 => {
            return answer(StatusCode::SERVICE_UNAVAILABLE, "text/plain", Vec::new());
        }
        _ => {}
    }
    let key = if name == "flaky.png" {
        "flaky-src.png".to_string()
    } else {
        name
    };
    let Some(bytes) = server.images.lock().expect("lock").get(&key).cloned() else {
        return answer(StatusCode::NOT_FOUND, "text/plain", Vec::new());
    };
    let etag = format!("\"{}\"", bytes.len());
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .expect("response");
    }
    server.bodies.fetch_add(1, Ordering::Relaxed);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "image/png")
        .header(header::ETAG, etag)
        .body(Body::from(bytes))
        .expect("response")
}
