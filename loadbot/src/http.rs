//! One request of a journey stage, sent through goose's request API (so goose's
//! own metrics and reports see it), read to the last byte and classified.

use std::time::Duration;

use goose::prelude::{GooseMethod, GooseRequest, GooseUser};
use rand::Rng;
use serde::Deserialize;
use url::Url;

use crate::{
    journeys::{Answer, Learned, SimUser, Stage},
    outcome::{Outcome, classify},
};

/// Request settings that do not change during a run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpSettings {
    pub(crate) client_timeout: Duration,
    /// An impatient user's wait before pulling to refresh.
    pub(crate) refresh_after: Option<Duration>,
    pub(crate) page_size: u32,
}

/// Onboarding answers the synthetic catalog can dress.
const PROFILES: [&str; 3] = [
    r#"{"gender":"female","sizes":{"top":"M","bottom":"M","shoes":"39"},"styles":["casual","minimal","classic"],"favorite_colors":["navy","white"],"disliked_colors":["orange"],"budget_cents":60000,"currency":"EUR","climate":"temperate"}"#,
    r#"{"gender":"male","sizes":{"top":"L","bottom":"W32","shoes":"43"},"styles":["casual","sporty","streetwear"],"favorite_colors":["black","grey"],"disliked_colors":["pink"],"budget_cents":40000,"currency":"EUR","climate":"cold"}"#,
    r#"{"gender":"unisex","sizes":{"top":"S","bottom":"S","shoes":"37"},"styles":["boho","casual"],"favorite_colors":["green","beige"],"disliked_colors":[],"budget_cents":90000,"currency":"EUR","climate":"warm"}"#,
];

/// The name goose aggregates a stage's requests under.
pub(crate) fn request_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Register => "register",
        Stage::Profile => "profile",
        Stage::Outfits => "outfits",
        Stage::Feedback => "feedback",
        Stage::Saved => "saved",
        Stage::Page => "garments",
        Stage::Detail => "garment",
        Stage::Health => "healthz",
        Stage::Done => "done",
    }
}

/// The target's URLs, parsed once, so that a request to a fixed path parses none.
#[derive(Debug, Clone)]
pub(crate) struct Urls {
    register: Url,
    profile: Url,
    outfits: Url,
    feedback: Url,
    saved: Url,
    garments: Url,
    healthz: Url,
}

impl Urls {
    pub(crate) fn new(target: &str) -> Result<Urls, url::ParseError> {
        let base = Url::parse(target)?;
        let at = |path: &str| base.join(path);
        Ok(Urls {
            register: at("/v1/users")?,
            profile: at("/v1/users/me/profile")?,
            outfits: at("/v1/outfits?count=5")?,
            feedback: at("/v1/outfits/feedback")?,
            saved: at("/v1/users/me/saved")?,
            garments: at("/v1/garments")?,
            healthz: at("/healthz")?,
        })
    }
}

/// Sends `user`'s current stage. `Err` is a fault of loadbot, not of the server.
pub(crate) async fn send(
    goose: &mut GooseUser,
    user: &mut SimUser,
    s: HttpSettings,
    urls: &Urls,
) -> Result<Answer, String> {
    let stage = user.stage;
    let (method, url, body): (GooseMethod, Url, Option<String>) = match stage {
        Stage::Register => (GooseMethod::Post, urls.register.clone(), None),
        Stage::Profile => {
            let i = user.rng.random_range(0..PROFILES.len());
            (
                GooseMethod::Put,
                urls.profile.clone(),
                Some(PROFILES[i].into()),
            )
        }
        Stage::Outfits => (GooseMethod::Get, urls.outfits.clone(), None),
        Stage::Feedback => {
            let ids = &user.ids[..usize::from(user.id_count)];
            let action = ["like", "like", "dislike", "save"][user.rng.random_range(0..4)];
            let key: u64 = user.rng.random();
            let body = serde_json::json!({
                "action": action,
                "garment_ids": ids,
                "idempotency_key": format!("{key:016x}"),
            });
            (
                GooseMethod::Post,
                urls.feedback.clone(),
                Some(body.to_string()),
            )
        }
        Stage::Saved => (GooseMethod::Get, urls.saved.clone(), None),
        Stage::Page => {
            let mut url = urls.garments.clone();
            match user.cursor {
                Some(c) => url.set_query(Some(&format!("limit={}&cursor={c}", s.page_size))),
                None => url.set_query(Some(&format!("limit={}", s.page_size))),
            }
            (GooseMethod::Get, url, None)
        }
        Stage::Detail => {
            let n = usize::from(user.id_count).max(1);
            let id = user.ids[user.rng.random_range(0..n)];
            let mut url = urls.garments.clone();
            url.set_path(&format!("/v1/garments/{id}"));
            (GooseMethod::Get, url, None)
        }
        Stage::Health => (GooseMethod::Get, urls.healthz.clone(), None),
        Stage::Done => return Err("a finished journey has no request".into()),
    };
    let impatient = user.journey == crate::journeys::JourneyKind::Impatient;
    let wait = match (impatient, s.refresh_after) {
        (true, Some(r)) => r,
        _ => s.client_timeout,
    };
    let gave_up = if impatient && s.refresh_after.is_some() {
        Outcome::Refreshed
    } else {
        Outcome::Silent
    };
    // goose's own request builder would parse the URL twice
    let mut builder = match method {
        GooseMethod::Post => goose.client.post(url),
        GooseMethod::Put => goose.client.put(url),
        _ => goose.client.get(url),
    }
    .timeout(wait);
    if let Some(token) = &user.token {
        builder = builder.bearer_auth(token);
    }
    if let Some(body) = body {
        builder = builder
            .header("content-type", "application/json")
            .body(body);
    }
    let request = GooseRequest::builder()
        .name(request_name(stage))
        .set_request_builder(builder)
        .build();
    let response = goose
        .request(request)
        .await
        .map_err(|e| format!("goose request {}: {e}", request_name(stage)))?;
    let response = match response.response {
        Ok(r) => r,
        Err(e) => {
            let outcome = if e.is_timeout() {
                gave_up
            } else {
                Outcome::ConnectionError
            };
            return Ok(Answer {
                outcome,
                retry_after_s: None,
                learned: Learned::default(),
            });
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = match response.bytes().await {
        Ok(b) => b,
        Err(e) => {
            let outcome = if e.is_timeout() {
                gave_up
            } else {
                Outcome::ConnectionError
            };
            return Ok(Answer {
                outcome,
                retry_after_s: None,
                learned: Learned::default(),
            });
        }
    };
    let (outcome, retry_after_s) = classify(status, retry_after.as_deref(), &bytes);
    let learned = if outcome == Outcome::Ok {
        learn(stage, &bytes)
    } else {
        Learned::default()
    };
    Ok(Answer {
        outcome,
        retry_after_s,
        learned,
    })
}

#[derive(Deserialize)]
struct Registered {
    token: String,
}

#[derive(Deserialize)]
struct Outfits {
    outfits: Vec<Outfit>,
}

#[derive(Deserialize)]
struct Outfit {
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    garment: IdOnly,
}

#[derive(Deserialize)]
struct IdOnly {
    id: i64,
}

#[derive(Deserialize)]
struct Page {
    items: Vec<IdOnly>,
    next_cursor: Option<i64>,
}

/// What the journeys need from a 2xx body; a body that does not parse teaches nothing.
fn learn(stage: Stage, body: &[u8]) -> Learned {
    match stage {
        Stage::Register => Learned {
            token: serde_json::from_slice::<Registered>(body)
                .ok()
                .map(|r| r.token.into_boxed_str()),
            ..Learned::default()
        },
        Stage::Outfits => {
            let ids = serde_json::from_slice::<Outfits>(body)
                .ok()
                .and_then(|o| o.outfits.into_iter().next())
                .map(|o| o.items.into_iter().map(|i| i.garment.id).collect())
                .unwrap_or_default();
            Learned {
                ids,
                ..Learned::default()
            }
        }
        Stage::Page => match serde_json::from_slice::<Page>(body) {
            Ok(p) => Learned {
                ids: p.items.into_iter().map(|i| i.id).collect(),
                next_cursor: p.next_cursor,
                token: None,
            },
            Err(_) => Learned::default(),
        },
        _ => Learned::default(),
    }
}
