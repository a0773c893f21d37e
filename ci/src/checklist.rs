//! The onboarding checklist: every step of a new install, end to end, asserted
//! on content, not just status codes; each step also has a latency bound, so a
//! "simple" fix that slows onboarding down blocks the release too.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail, ensure};
use serde_json::{Value, json};

use crate::verdict::Check;

const SCENARIO: &str = "onboarding-checklist";

/// How the checklist runs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// New installs walked through, one after another.
    pub(crate) installs: usize,
    /// The slowest a single step may be.
    pub(crate) step_bound: Duration,
}

/// The steps, in order.
const STEPS: [&str; 7] = [
    "register",
    "outfits before onboarding",
    "onboarding profile",
    "profile read back",
    "first outfits",
    "save an outfit",
    "saved outfits",
];

/// Onboarding answers the synthetic catalog can dress.
pub(crate) fn profile() -> Value {
    json!({
        "gender": "female",
        "sizes": { "top": "M", "bottom": "M", "shoes": "39" },
        "styles": ["casual", "minimal"],
        "favorite_colors": ["navy", "white"],
        "disliked_colors": ["orange"],
        "budget_cents": 60000,
        "currency": "EUR",
        "climate": "temperate"
    })
}

/// Walks `installs` new users through onboarding; one check per step.
pub(crate) async fn run(base: &str, settings: &Settings) -> Vec<Check> {
    let client = match reqwest::Client::builder()
        .timeout(settings.step_bound * 4 + Duration::from_secs(2))
        .build()
    {
        Ok(c) => c,
        Err(e) => return vec![Check::fail(SCENARIO, "http client", e.to_string())],
    };
    let mut slowest = [Duration::ZERO; STEPS.len()];
    let started = Instant::now();
    for install in 0..settings.installs.max(1) {
        let mut timings = [Duration::ZERO; STEPS.len()];
        if let Err((step, e)) = walk(&client, base, &mut timings).await {
            return vec![
                Check::fail(
                    SCENARIO,
                    STEPS[step],
                    format!("new install {}: {e:#}", install + 1),
                )
                .took(started.elapsed().as_secs_f64()),
            ];
        }
        for (s, t) in slowest.iter_mut().zip(timings) {
            *s = (*s).max(t);
        }
    }
    STEPS
        .iter()
        .zip(slowest)
        .map(|(step, took)| {
            let detail = format!(
                "slowest of {} installs {:.0} ms (bound {:.0} ms); content checked",
                settings.installs,
                took.as_secs_f64() * 1e3,
                settings.step_bound.as_secs_f64() * 1e3
            );
            if took <= settings.step_bound {
                Check::pass(SCENARIO, step, detail)
            } else {
                Check::fail(SCENARIO, step, detail)
            }
        })
        .collect()
}

type StepResult<T> = Result<T, (usize, anyhow::Error)>;

async fn walk(
    client: &reqwest::Client,
    base: &str,
    timings: &mut [Duration; STEPS.len()],
) -> StepResult<()> {
    let url = |path: &str| format!("{base}{path}");
    let mut step = 0;
    macro_rules! timed {
        ($body:expr) => {{
            let t = Instant::now();
            let r: anyhow::Result<_> = async { $body }.await;
            timings[step] = t.elapsed();
            let v = r.map_err(|e| (step, e))?;
            step += 1;
            v
        }};
    }
    let token: String = timed!({
        let r = client.post(url("/v1/users")).send().await?;
        ensure!(r.status() == 201, "expected 201, got {}", r.status());
        let body: Value = r.json().await.context("body is not JSON")?;
        ensure!(
            body["user_id"].as_i64().is_some_and(|id| id > 0),
            "no user_id in {body}"
        );
        let token = body["token"]
            .as_str()
            .ok_or_else(|| anyhow!("no token in {body}"))?;
        ensure!(
            token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()),
            "the token is not 256 bits of hex"
        );
        Ok(token.to_string())
    });
    timed!({
        let r = client
            .get(url("/v1/outfits"))
            .bearer_auth(&token)
            .send()
            .await?;
        ensure!(
            r.status() == 409,
            "expected 409 before onboarding, got {}",
            r.status()
        );
        let body: Value = r.json().await.context("body is not JSON")?;
        ensure!(
            body["error"] == "profile_required",
            "expected profile_required, got {body}"
        );
        Ok(())
    });
    timed!({
        let r = client
            .put(url("/v1/users/me/profile"))
            .bearer_auth(&token)
            .json(&profile())
            .send()
            .await?;
        ensure!(r.status() == 200, "expected 200, got {}", r.status());
        let body: Value = r.json().await.context("body is not JSON")?;
        ensure!(body == profile(), "the stored profile differs: {body}");
        Ok(())
    });
    timed!({
        let r = client
            .get(url("/v1/users/me/profile"))
            .bearer_auth(&token)
            .send()
            .await?;
        ensure!(r.status() == 200, "expected 200, got {}", r.status());
        let body: Value = r.json().await.context("body is not JSON")?;
        ensure!(body == profile(), "the profile read back differs: {body}");
        Ok(())
    });
    let outfit: Value = timed!({
        let r = client
            .get(url("/v1/outfits?count=3&occasion=everyday&weather=rain"))
            .bearer_auth(&token)
            .send()
            .await?;
        ensure!(r.status() == 200, "expected 200, got {}", r.status());
        let body: Value = r.json().await.context("body is not JSON")?;
        let outfits = body["outfits"]
            .as_array()
            .ok_or_else(|| anyhow!("no outfits in {body}"))?;
        ensure!(
            outfits.len() == 3,
            "asked for 3 outfits, got {}",
            outfits.len()
        );
        for o in outfits {
            check_outfit(o)?;
        }
        Ok(outfits[0].clone())
    });
    let ids: Vec<i64> = outfit["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["garment"]["id"].as_i64())
                .collect()
        })
        .unwrap_or_default();
    let saved_id: i64 = timed!({
        let r = client
            .post(url("/v1/outfits/feedback"))
            .bearer_auth(&token)
            .json(
                &json!({ "action": "save", "garment_ids": ids, "outfit_id": outfit["outfit_id"] }),
            )
            .send()
            .await?;
        ensure!(r.status() == 201, "expected 201, got {}", r.status());
        let body: Value = r.json().await.context("body is not JSON")?;
        body["feedback_id"]
            .as_i64()
            .ok_or_else(|| anyhow!("no feedback_id in {body}"))
    });
    timed!({
        let r = client
            .get(url("/v1/users/me/saved"))
            .bearer_auth(&token)
            .send()
            .await?;
        ensure!(r.status() == 200, "expected 200, got {}", r.status());
        let body: Value = r.json().await.context("body is not JSON")?;
        let saved = body["saved"]
            .as_array()
            .ok_or_else(|| anyhow!("no saved list in {body}"))?;
        ensure!(
            saved.len() == 1,
            "expected the 1 saved outfit, got {}",
            saved.len()
        );
        ensure!(
            saved[0]["feedback_id"] == saved_id,
            "the saved outfit is not the one saved"
        );
        ensure!(
            saved[0]["outfit_id"] == outfit["outfit_id"],
            "the saved outfit id differs"
        );
        Ok(())
    });
    let _ = step;
    Ok(())
}

/// The onboarding answers hold in a generated outfit.
fn check_outfit(o: &Value) -> anyhow::Result<()> {
    let items = o["items"]
        .as_array()
        .ok_or_else(|| anyhow!("an outfit without items"))?;
    let slots: Vec<&str> = items.iter().filter_map(|i| i["slot"].as_str()).collect();
    ensure!(
        slots.contains(&"shoes"),
        "an outfit without shoes: {slots:?}"
    );
    ensure!(
        slots.contains(&"outerwear"),
        "rain, but no outerwear: {slots:?}"
    );
    ensure!(
        slots.contains(&"dress") || (slots.contains(&"top") && slots.contains(&"bottom")),
        "neither a dress nor top and bottom: {slots:?}"
    );
    let mut total = 0;
    for item in items {
        let g = &item["garment"];
        let slot = item["slot"].as_str().unwrap_or_default();
        ensure!(
            g["available"] == true,
            "garment {} is not available",
            g["id"]
        );
        ensure!(g["gender"] != "male", "garment {} is cut for men", g["id"]);
        ensure!(
            g["price"]["currency"] == "EUR",
            "garment {} is not in EUR",
            g["id"]
        );
        ensure!(
            g["colors"][0]["name"] != "orange",
            "garment {} has the disliked colour",
            g["id"]
        );
        let size = match slot {
            "shoes" => Some("39"),
            "accessory" => None,
            _ => Some("M"),
        };
        if let Some(size) = size {
            let sizes: Vec<&str> = g["sizes"]
                .as_array()
                .map(|s| s.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            ensure!(
                sizes.is_empty() || sizes.iter().any(|s| s.eq_ignore_ascii_case(size)),
                "garment {} ({slot}) is not in size {size}: {sizes:?}",
                g["id"]
            );
        }
        total += g["price"]["amount_cents"]
            .as_i64()
            .ok_or_else(|| anyhow!("garment without a price"))?;
    }
    ensure!(
        total <= 60_000,
        "outfit costs {total} cents, over the 60000 budget"
    );
    if o["total_price"]["amount_cents"].as_i64() != Some(total) {
        bail!(
            "total_price {} is not the sum of its garments ({total})",
            o["total_price"]["amount_cents"]
        );
    }
    Ok(())
}
