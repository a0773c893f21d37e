//! The onboarding checklist: every step of a new install, end to end, asserted
//! on content, not just status codes; each step also has a latency bound, so a
//! "simple" fix that slows onboarding down blocks the release too.
//!
//! The steps live in `scenarios/onboarding-checklist.toml` (parsed by
//! [`scenarios::checklist`]); this module interprets them: it sends each
//! request, substitutes `{name}` references, runs the matchers and times the
//! steps.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::{Context, anyhow, bail, ensure};
use scenarios::checklist::{Assertion, Checklist, Matcher, Method, Part, Pointer, Shape, Step};
use serde_json::{Value, json};

use crate::verdict::{Check, Status};

const SCENARIO: &str = "onboarding-checklist";

/// How the checklist runs.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The checklist file (`scenarios/onboarding-checklist.toml`).
    pub(crate) file: std::path::PathBuf,
    /// New installs walked through, one after another.
    pub(crate) installs: usize,
    /// The slowest a single step may be; wins over the file's `step_bound`.
    pub(crate) step_bound: Duration,
}

/// Onboarding answers the synthetic catalog can dress; the checklist file's
/// `[vars.profile]` holds the same (a test keeps them equal).
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

/// Walks `installs` new users through the checklist; one check per step. A
/// checklist file that cannot be used is inconclusive, which blocks.
pub(crate) async fn run(base: &str, settings: &Settings) -> Vec<Check> {
    let checklist = match Checklist::from_file(&settings.file) {
        Ok(c) => c,
        Err(e) => {
            return vec![Check::new(
                SCENARIO,
                "checklist file",
                Status::Inconclusive,
                e.to_string(),
            )];
        }
    };
    let client = match reqwest::Client::builder()
        .timeout(settings.step_bound * 4 + Duration::from_secs(2))
        .build()
    {
        Ok(c) => c,
        Err(e) => return vec![Check::fail(SCENARIO, "http client", e.to_string())],
    };
    let steps = &checklist.steps;
    let mut slowest = vec![Duration::ZERO; steps.len()];
    let started = Instant::now();
    for install in 0..settings.installs.max(1) {
        let mut timings = vec![Duration::ZERO; steps.len()];
        if let Err((step, e)) = walk(&client, base, &checklist, &mut timings).await {
            return vec![
                Check::fail(
                    SCENARIO,
                    &steps[step].name,
                    format!("new install {}: {e:#}", install + 1),
                )
                .took(started.elapsed().as_secs_f64()),
            ];
        }
        for (s, t) in slowest.iter_mut().zip(timings) {
            *s = (*s).max(t);
        }
    }
    steps
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
                Check::pass(SCENARIO, &step.name, detail)
            } else {
                Check::fail(SCENARIO, &step.name, detail)
            }
        })
        .collect()
}

/// Values `{name}` refers to: the file's `[vars]`, then what steps saved.
type Values = BTreeMap<String, Value>;

/// One new install through every step; the failing step's index on error.
async fn walk(
    client: &reqwest::Client,
    base: &str,
    checklist: &Checklist,
    timings: &mut [Duration],
) -> Result<(), (usize, anyhow::Error)> {
    let mut values = Values::new();
    for (name, v) in &checklist.vars {
        let v = serde_json::to_value(v).map_err(|e| (0, anyhow!("[vars] {name}: {e}")))?;
        values.insert(name.clone(), v);
    }
    for (i, step) in checklist.steps.iter().enumerate() {
        let t = Instant::now();
        let r = one_step(client, base, step, &mut values).await;
        timings[i] = t.elapsed();
        r.map_err(|e| (i, e))?;
    }
    Ok(())
}

async fn one_step(
    client: &reqwest::Client,
    base: &str,
    step: &Step,
    values: &mut Values,
) -> anyhow::Result<()> {
    let req = &step.request;
    let path = render(&req.path, values)?;
    let method = match req.method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    };
    let mut request = client.request(method, format!("{base}{path}"));
    if let Some(auth) = &req.auth {
        request = request.bearer_auth(render(auth, values)?);
    }
    if let Some(body) = &req.body {
        request = request.json(&substitute(&serde_json::to_value(body)?, values)?);
    }
    let what = format!("{} {path}", req.method);
    let r = request.send().await.context(what.clone())?;
    let status = r.status();
    let text = r
        .text()
        .await
        .with_context(|| format!("{what}: reading the body"))?;
    ensure!(
        status.as_u16() == step.status,
        "{what}: expected {}, got {status}: {}",
        step.status,
        short(&text)
    );
    if step.json.is_empty() && step.save.is_empty() {
        return Ok(());
    }
    let body: Value = serde_json::from_str(&text)
        .with_context(|| format!("{what}: the body is not JSON: {}", short(&text)))?;
    for a in &step.json {
        assert_json(a, &body, values).map_err(|e| anyhow!("{what}: {e}"))?;
    }
    for (name, pointer) in &step.save {
        let v = select(&body, pointer)
            .ok_or_else(|| anyhow!("{what}: nothing at {pointer} to save as {name}"))?;
        values.insert(name.clone(), v);
    }
    Ok(())
}

// === substitution ===

/// `{name}` references spliced into text (strings as they are, others as JSON).
fn render(text: &str, values: &Values) -> anyhow::Result<String> {
    let mut out = String::new();
    for part in scenarios::checklist::parts(text) {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Ref(name) => match lookup(name, values)? {
                Value::String(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            },
        }
    }
    Ok(out)
}

/// References replaced throughout a JSON value; a string that is only
/// `{name}` becomes the value itself.
fn substitute(v: &Value, values: &Values) -> anyhow::Result<Value> {
    Ok(match v {
        Value::String(s) => match scenarios::checklist::whole_ref(s) {
            Some(name) => lookup(name, values)?.clone(),
            None => Value::String(render(s, values)?),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| substitute(i, values))
                .collect::<anyhow::Result<_>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, i)| Ok((k.clone(), substitute(i, values)?)))
                .collect::<anyhow::Result<_>>()?,
        ),
        other => other.clone(),
    })
}

fn lookup<'v>(name: &str, values: &'v Values) -> anyhow::Result<&'v Value> {
    // the parser refuses references to names nothing defines before use
    values
        .get(name)
        .ok_or_else(|| anyhow!("`{{{name}}}` has no value"))
}

/// What a pointer selects; a `*` segment maps over an array.
fn select(v: &Value, pointer: &Pointer) -> Option<Value> {
    fn go(v: &Value, segments: &[Option<String>]) -> Option<Value> {
        let Some((first, rest)) = segments.split_first() else {
            return Some(v.clone());
        };
        match first {
            None => v
                .as_array()?
                .iter()
                .map(|item| go(item, rest))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array),
            Some(key) => match v {
                Value::Object(map) => go(map.get(key)?, rest),
                Value::Array(items) => go(items.get(key.parse::<usize>().ok()?)?, rest),
                _ => None,
            },
        }
    }
    go(v, &pointer.segments())
}

/// Long answers cut for messages.
fn short(text: &str) -> String {
    const MOST: usize = 300;
    match text.char_indices().nth(MOST) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_owned(),
    }
}

// === matchers ===

/// `at POINTER: expected MATCHER, got WHAT` when the answer does not hold.
fn assert_json(a: &Assertion, body: &Value, values: &Values) -> anyhow::Result<()> {
    let Some(got) = select(body, &a.pointer) else {
        bail!("at {}: expected {}, got nothing", a.pointer, a.matcher);
    };
    let outcome = match &a.matcher {
        Matcher::Equals(want) => {
            let want = substitute(&serde_json::to_value(want)?, values)?;
            if got == want {
                Ok(())
            } else {
                Err(format!(
                    "expected {}, got {}",
                    short(&want.to_string()),
                    short(&got.to_string())
                ))
            }
        }
        Matcher::OutfitsFit { profile, slots } => {
            let profile = substitute(&serde_json::to_value(profile)?, values)?;
            outfits_fit(&got, &profile, slots).map_err(|e| {
                format!(
                    "expected {} outfits that fit the profile, got {e}",
                    slots.join(", ")
                )
            })
        }
        m => {
            let holds = match m {
                Matcher::Is(Shape::PositiveInteger) => got.as_i64().is_some_and(|n| n > 0),
                Matcher::Is(Shape::Integer) => got.is_i64() || got.is_u64(),
                Matcher::Is(Shape::String) => got.is_string(),
                Matcher::Is(Shape::NonEmptyString) => got.as_str().is_some_and(|s| !s.is_empty()),
                Matcher::Is(Shape::NonEmptyArray) => got.as_array().is_some_and(|a| !a.is_empty()),
                Matcher::Hex(n) => got
                    .as_str()
                    .is_some_and(|s| s.len() == *n && s.bytes().all(|b| b.is_ascii_hexdigit())),
                Matcher::Len(n) => got.as_array().is_some_and(|a| a.len() == *n),
                Matcher::MinLen(n) => got.as_array().is_some_and(|a| a.len() >= *n),
                Matcher::Equals(_) | Matcher::OutfitsFit { .. } => true,
            };
            if holds {
                Ok(())
            } else {
                let got = match got.as_array() {
                    Some(a) if !a.is_empty() => format!("an array of {}", a.len()),
                    _ => short(&got.to_string()),
                };
                Err(format!("expected {m}, got {got}"))
            }
        }
    };
    outcome.map_err(|e| anyhow!("at {}: {e}", a.pointer))
}

/// Every outfit in `outfits` honours the profile: the `slots` and a dress or
/// a top and a bottom; each garment available, cut for the profile's gender
/// or unisex, in its sizes and currency, not mainly in a disliked colour; the
/// total within the budget and the sum of the garments' prices.
fn outfits_fit(outfits: &Value, profile: &Value, slots: &[String]) -> Result<(), String> {
    let outfits = outfits
        .as_array()
        .ok_or_else(|| format!("not a list: {}", short(&outfits.to_string())))?;
    for (i, o) in outfits.iter().enumerate() {
        outfit_fits(o, profile, slots).map_err(|e| format!("outfit {i}: {e}"))?;
    }
    Ok(())
}

fn outfit_fits(o: &Value, profile: &Value, required: &[String]) -> Result<(), String> {
    let items = o["items"].as_array().ok_or("an outfit without items")?;
    let slots: Vec<&str> = items.iter().filter_map(|i| i["slot"].as_str()).collect();
    if let Some(missing) = required.iter().find(|s| !slots.contains(&s.as_str())) {
        return Err(format!("no {missing}: {slots:?}"));
    }
    if !(slots.contains(&"dress") || (slots.contains(&"top") && slots.contains(&"bottom"))) {
        return Err(format!("neither a dress nor top and bottom: {slots:?}"));
    }
    let gender = profile["gender"].as_str().unwrap_or_default();
    let disliked = profile["disliked_colors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut total = 0;
    for item in items {
        let g = &item["garment"];
        let id = &g["id"];
        let slot = item["slot"].as_str().unwrap_or_default();
        if g["available"] != true {
            return Err(format!("garment {id} is not available"));
        }
        if let Some(cut) = g["gender"]
            .as_str()
            .filter(|c| *c != gender && *c != "unisex")
        {
            return Err(format!(
                "garment {id} is cut for {cut}, the profile is {gender}"
            ));
        }
        if g["price"]["currency"] != profile["currency"] {
            return Err(format!("garment {id} is not in {}", profile["currency"]));
        }
        if disliked.contains(&g["colors"][0]["name"]) {
            return Err(format!(
                "garment {id} has a disliked colour, {}",
                g["colors"][0]["name"]
            ));
        }
        let size = match slot {
            "shoes" => profile["sizes"]["shoes"].as_str(),
            "bottom" => profile["sizes"]["bottom"].as_str(),
            "accessory" => None,
            _ => profile["sizes"]["top"].as_str(),
        };
        if let Some(size) = size {
            let sizes: Vec<&str> = g["sizes"]
                .as_array()
                .map(|s| s.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !(sizes.is_empty() || sizes.iter().any(|s| s.eq_ignore_ascii_case(size))) {
                return Err(format!(
                    "garment {id} ({slot}) is not in size {size}: {sizes:?}"
                ));
            }
        }
        total += g["price"]["amount_cents"]
            .as_i64()
            .ok_or_else(|| format!("garment {id} without a price"))?;
    }
    let budget = profile["budget_cents"].as_i64().unwrap_or(i64::MAX);
    if total > budget {
        return Err(format!(
            "outfit costs {total} cents, over the {budget} budget"
        ));
    }
    if o["total_price"]["amount_cents"].as_i64() != Some(total) {
        return Err(format!(
            "total_price {} is not the sum of its garments ({total})",
            o["total_price"]["amount_cents"]
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use scenarios::checklist::{Assertion, Checklist};
    use serde_json::{Value, json};

    use super::{Settings, Values, assert_json, profile, run, select, substitute};
    use crate::verdict::Status;

    /// One assertion, as the file writes it (`pointer = ..., matcher = ...`).
    fn assertion(fields: &str) -> Assertion {
        let text = format!(
            "name = \"t\"\nkind = \"checklist\"\nstep_bound = \"1s\"\n[vars]\nid = 7\n\
             [[steps]]\nname = \"s\"\nrequest = {{ method = \"GET\", path = \"/\" }}\n\
             expect = {{ status = 200, json = [{{ {fields} }}] }}\n"
        );
        let c = Checklist::parse(&text, Path::new("t.toml")).expect("valid checklist");
        c.steps[0].json[0].clone()
    }

    fn failure(fields: &str, body: &Value) -> String {
        let values = Values::from([("id".to_owned(), json!(7))]);
        match assert_json(&assertion(fields), body, &values) {
            Ok(()) => panic!("{fields} held on {body}"),
            Err(e) => e.to_string(),
        }
    }

    fn outfit(size: &str, cents: i64) -> Value {
        let garment = |id: i64, slot: &str, size: &str| {
            json!({ "slot": slot, "garment": {
                "id": id, "available": true, "gender": "unisex", "sizes": [size],
                "price": { "currency": "EUR", "amount_cents": cents },
                "colors": [{ "name": "navy" }] } })
        };
        json!({ "outfit_id": "o1", "total_price": { "amount_cents": cents * 4 }, "items": [
            garment(1, "top", size), garment(2, "bottom", "M"),
            garment(3, "shoes", "39"), garment(4, "outerwear", "M")] })
    }

    #[test]
    fn the_shipped_checklist_sends_the_ledgers_profile() {
        let c = Checklist::onboarding().expect("shipped checklist is valid");
        let in_file = serde_json::to_value(&c.vars["profile"]).expect("JSON");
        assert_eq!(in_file, profile());
    }

    #[test]
    fn failing_matchers_name_the_pointer_what_was_expected_and_what_came() {
        let e = failure("pointer = \"/token\", hex = 64", &json!({ "token": "abc" }));
        assert_eq!(
            e,
            "at /token: expected a string of 64 hex digits, got \"abc\""
        );
        let e = failure(
            "pointer = \"/outfits\", len = 3",
            &json!({ "outfits": [1, 2] }),
        );
        assert_eq!(e, "at /outfits: expected an array of 3, got an array of 2");
        let e = failure(
            "pointer = \"/id\", equals = \"{id}\"",
            &json!({ "id": "7" }),
        );
        assert_eq!(e, "at /id: expected 7, got \"7\"");
        let e = failure(
            "pointer = \"/user_id\", is = \"positive_integer\"",
            &json!({}),
        );
        assert_eq!(e, "at /user_id: expected a positive integer, got nothing");
    }

    #[test]
    fn an_outfit_in_the_wrong_size_or_over_budget_is_named() {
        let a = assertion(&format!(
            "pointer = \"/outfits\", outfits_fit = {{ profile = {}, slots = [\"shoes\", \"outerwear\"] }}",
            toml_profile()
        ));
        let values = Values::new();
        let body = |o: Value| json!({ "outfits": [outfit("M", 100), o] });
        assert!(assert_json(&a, &body(outfit("M", 100)), &values).is_ok());
        let e = assert_json(&a, &body(outfit("S", 100)), &values).expect_err("size S");
        assert!(
            e.to_string()
                .starts_with("at /outfits: expected shoes, outerwear outfits"),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("outfit 1: garment 1 (top) is not in size M"),
            "{e}"
        );
        let e = assert_json(&a, &body(outfit("M", 20_000)), &values).expect_err("over budget");
        assert!(e.to_string().contains("over the 60000 budget"), "{e}");
    }

    /// The profile as an inline TOML table, for an assertion written in place.
    fn toml_profile() -> String {
        "{ gender = \"female\", sizes = { top = \"M\", bottom = \"M\", shoes = \"39\" }, \
         disliked_colors = [\"orange\"], budget_cents = 60000, currency = \"EUR\" }"
            .to_owned()
    }

    #[test]
    fn references_keep_their_type_alone_and_are_spliced_in_text() {
        let values = Values::from([
            ("ids".to_owned(), json!([1, 2])),
            ("t".to_owned(), json!("x")),
        ]);
        let v =
            substitute(&json!({ "a": "{ids}", "b": "t={t} ids={ids}" }), &values).expect("known");
        assert_eq!(v, json!({ "a": [1, 2], "b": "t=x ids=[1,2]" }));
    }

    #[test]
    fn a_star_in_a_pointer_maps_over_an_array() {
        let body = json!({ "items": [{ "g": { "id": 1 } }, { "g": { "id": 2 } }] });
        let p = scenarios::checklist::Pointer::parse("/items/*/g/id").expect("pointer");
        assert_eq!(select(&body, &p), Some(json!([1, 2])));
        let p = scenarios::checklist::Pointer::parse("/items/1/g").expect("pointer");
        assert_eq!(select(&body, &p), Some(json!({ "id": 2 })));
    }

    #[tokio::test]
    async fn a_bad_checklist_file_is_inconclusive_naming_file_line_and_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("onboarding-checklist.toml");
        let text = scenarios::checklist::ONBOARDING_CHECKLIST.replace("hex = 64", "hexx = 64");
        std::fs::write(&file, &text).expect("write");
        let settings = Settings {
            file: file.clone(),
            installs: 1,
            step_bound: std::time::Duration::from_secs(1),
        };
        // nothing listens there: the file is refused before any request
        let checks = run("http://127.0.0.1:9", &settings).await;
        assert_eq!(checks.len(), 1, "{checks:?}");
        assert_eq!(checks[0].status, Status::Inconclusive);
        let line = text[..text.find("hexx").expect("hexx")]
            .matches('\n')
            .count()
            + 1;
        let at = format!("{}:{line}:", file.display());
        assert!(checks[0].detail.starts_with(&at), "{}", checks[0].detail);
        assert!(
            checks[0].detail.contains("key `hexx`"),
            "{}",
            checks[0].detail
        );
    }
}
