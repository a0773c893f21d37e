//! Checklist files (`kind = "checklist"`): HTTP steps walked in order, each
//! asserted on its status and on the content of its JSON answer.
//!
//! A step sends `request` (method, path, optional bearer `auth` and JSON
//! `body`), expects `expect.status`, runs every `[[steps.expect.json]]`
//! assertion (a JSON `pointer` and exactly one matcher, see [`Matcher`]) and
//! keeps `save`d values (name = pointer) for later steps. Strings in paths,
//! auth, bodies and matchers refer to `[vars]` and saved values as `{name}`
//! (see [`parts`]); a reference to a name nothing defined before is an error.
//! Pointers are RFC 6901 JSON pointers with one addition: a `*` segment maps
//! over an array, so the pointer selects the list of what follows.
//!
//! Like scenarios, unknown keys and bad shapes are errors naming the file, the
//! line and the key. This crate only parses; the gate (`ci/src/checklist.rs`)
//! runs the steps.

use std::{
    collections::{BTreeMap, HashSet},
    fmt,
    path::Path,
};

use serde::Deserialize;
use toml::{Spanned, Value};

use crate::{Dur, ScenarioError, error::Source};

/// The shipped onboarding checklist, as text.
pub const ONBOARDING_CHECKLIST: &str = include_str!("../onboarding-checklist.toml");
/// The name under which [`ONBOARDING_CHECKLIST`] reports its problems.
pub const ONBOARDING_CHECKLIST_FILE: &str = "scenarios/onboarding-checklist.toml";

/// Slots an outfit's items may fill (the server's `Slot`).
pub const SLOTS: [&str; 6] = ["top", "bottom", "dress", "shoes", "outerwear", "accessory"];

/// A validated checklist.
#[derive(Debug, Clone, PartialEq)]
pub struct Checklist {
    pub name: String,
    pub description: String,
    /// The slowest a single step may be, unless the runner sets its own.
    pub step_bound: Dur,
    /// Constants the steps refer to as `{name}`, e.g. the onboarding profile.
    pub vars: BTreeMap<String, Value>,
    pub steps: Vec<Step>,
}

/// One request and what its answer must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: String,
    pub request: Request,
    pub status: u16,
    pub json: Vec<Assertion>,
    /// Values taken from the answer for later steps: name to pointer.
    pub save: BTreeMap<String, Pointer>,
}

/// What a step sends; strings may hold `{name}` references.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    /// Path and query, appended to the server's base URL.
    pub path: String,
    /// A bearer token.
    pub auth: Option<String>,
    /// A JSON body; a string that is only `{name}` stands for that value.
    pub body: Option<Value>,
}

/// The HTTP methods a step may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ];
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        })
    }
}

/// A matcher applied to what a pointer selects in the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    pub pointer: Pointer,
    pub matcher: Matcher,
}

/// The closed set of content matchers.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// `equals = V`: exactly this JSON value (after `{name}` substitution).
    Equals(Value),
    /// `is = "..."`: a shape.
    Is(Shape),
    /// `hex = N`: a string of exactly N hex digits.
    Hex(usize),
    /// `len = N`: an array of exactly N elements.
    Len(usize),
    /// `min_len = N`: an array of at least N elements.
    MinLen(usize),
    /// `outfits_fit = { profile, slots }`: an array of outfits that honour a profile.
    OutfitsFit {
        /// The onboarding profile, usually `"{profile}"`.
        profile: Value,
        /// Slots every outfit has, besides a dress or a top and a bottom.
        slots: Vec<String>,
    },
}

/// The shapes `is` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    PositiveInteger,
    Integer,
    String,
    NonEmptyString,
    NonEmptyArray,
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Equals(v) => write!(f, "equal to {}", Shown(v)),
            Matcher::Is(Shape::PositiveInteger) => f.write_str("a positive integer"),
            Matcher::Is(Shape::Integer) => f.write_str("an integer"),
            Matcher::Is(Shape::String) => f.write_str("a string"),
            Matcher::Is(Shape::NonEmptyString) => f.write_str("a non-empty string"),
            Matcher::Is(Shape::NonEmptyArray) => f.write_str("a non-empty array"),
            Matcher::Hex(n) => write!(f, "a string of {n} hex digits"),
            Matcher::Len(n) => write!(f, "an array of {n}"),
            Matcher::MinLen(n) => write!(f, "an array of at least {n}"),
            Matcher::OutfitsFit { profile, slots } => write!(
                f,
                "outfits that fit {} (with {}, and a dress or a top and a bottom)",
                Shown(profile),
                slots.join(", ")
            ),
        }
    }
}

/// A value as the file writes it, a lone `{name}` reference bare.
#[derive(Debug)]
pub struct Shown<'a>(pub &'a Value);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_str().and_then(whole_ref) {
            Some(name) => write!(f, "{{{name}}}"),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A JSON pointer (`""` is the whole answer); a `*` segment maps over an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer(String);

impl Pointer {
    /// Checks the syntax: empty, or `/`-separated segments with `~0`/`~1` escapes.
    pub fn parse(text: &str) -> Result<Pointer, String> {
        if !text.is_empty() && !text.starts_with('/') {
            return Err(format!(
                "{text:?}: a JSON pointer is empty or starts with '/'"
            ));
        }
        let mut rest = text;
        while let Some(i) = rest.find('~') {
            if !matches!(rest.as_bytes().get(i + 1), Some(b'0' | b'1')) {
                return Err(format!("{text:?}: '~' must be followed by 0 or 1"));
            }
            rest = &rest[i + 2..];
        }
        Ok(Pointer(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The unescaped segments; `None` stands for a `*` wildcard.
    pub fn segments(&self) -> Vec<Option<String>> {
        self.0
            .split('/')
            .skip(1)
            .map(|s| (s != "*").then(|| s.replace("~1", "/").replace("~0", "~")))
            .collect()
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("the whole answer")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// A piece of a string with `{name}` references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    Text(&'a str),
    Ref(&'a str),
}

/// Splits `text` into literal text and `{name}` references (a name is ASCII
/// letters, digits and `_`, not starting with a digit); any other brace is text.
pub fn parts(text: &str) -> Vec<Part<'_>> {
    let mut out = Vec::new();
    let (mut from, mut i) = (0, 0);
    while let Some(open) = text[i..].find('{').map(|o| i + o) {
        let name_len = text[open + 1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len() - open - 1);
        let name = &text[open + 1..open + 1 + name_len];
        let closes = text[open + 1 + name_len..].starts_with('}');
        if is_name(name) && closes {
            if open > from {
                out.push(Part::Text(&text[from..open]));
            }
            out.push(Part::Ref(name));
            from = open + name_len + 2;
            i = from;
        } else {
            i = open + 1;
        }
    }
    if from < text.len() {
        out.push(Part::Text(&text[from..]));
    }
    out
}

/// The name when `text` is exactly one `{name}` reference.
pub fn whole_ref(text: &str) -> Option<&str> {
    match parts(text).as_slice() {
        [Part::Ref(name)] => Some(name),
        _ => None,
    }
}

fn is_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Checklist {
    /// Whether TOML text declares itself a checklist (`kind = "checklist"`).
    pub fn declared_in(text: &str) -> bool {
        text.parse::<toml::Table>()
            .is_ok_and(|t| t.get("kind").and_then(Value::as_str) == Some("checklist"))
    }

    /// Reads and validates a checklist file.
    pub fn from_file(path: &Path) -> Result<Checklist, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Read {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        Checklist::parse(&text, path)
    }

    /// Parses and validates checklist text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Checklist, ScenarioError> {
        let src = Source::new(file, text);
        let raw: RawChecklist = toml::from_str(text).map_err(|e| tidy(src.toml_error(&e)))?;
        raw.validate(&src)
    }

    /// The shipped onboarding checklist.
    pub fn onboarding() -> Result<Checklist, ScenarioError> {
        Checklist::parse(ONBOARDING_CHECKLIST, Path::new(ONBOARDING_CHECKLIST_FILE))
    }
}

/// Names the key of serde's errors where the span alone reads poorly.
fn tidy(mut err: ScenarioError) -> ScenarioError {
    if let ScenarioError::Invalid(l) = &mut err {
        let missing = l.message.strip_prefix("missing field `");
        if let Some(field) = missing.and_then(|m| m.split('`').next()) {
            // the span is the table that lacks it
            l.key = field.to_owned();
        } else if l.key.contains('{') {
            // a key inside an inline table of a multi-line array reads as `{ a.b`
            l.key = l
                .key
                .rsplit(['{', '.', ' '])
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    }
    err
}

// === the file as serde reads it ===

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChecklist {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    /// Tells a checklist from a load scenario; only `"checklist"`.
    #[allow(dead_code)]
    kind: Kind,
    step_bound: Spanned<Dur>,
    #[serde(default)]
    vars: BTreeMap<String, Spanned<Value>>,
    steps: Spanned<Vec<Spanned<RawStep>>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Checklist,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: Spanned<String>,
    request: RawRequest,
    expect: RawExpect,
    #[serde(default)]
    save: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    method: Spanned<String>,
    path: Spanned<String>,
    #[serde(default)]
    auth: Option<Spanned<String>>,
    #[serde(default)]
    body: Option<Spanned<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    status: Spanned<u16>,
    #[serde(default)]
    json: Vec<Spanned<RawAssertion>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssertion {
    pointer: Spanned<String>,
    #[serde(default)]
    equals: Option<Spanned<Value>>,
    #[serde(default)]
    is: Option<Shape>,
    #[serde(default)]
    hex: Option<Spanned<usize>>,
    #[serde(default)]
    len: Option<usize>,
    #[serde(default)]
    min_len: Option<usize>,
    #[serde(default)]
    outfits_fit: Option<Spanned<RawOutfitsFit>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutfitsFit {
    profile: Spanned<Value>,
    #[serde(default)]
    slots: Vec<Spanned<String>>,
}

// === validation ===

type Checked<T> = Result<T, ScenarioError>;

impl RawChecklist {
    fn validate(self, src: &Source<'_>) -> Checked<Checklist> {
        if self.name.get_ref().trim().is_empty() {
            return Err(src.at(self.name.span(), "name", "must not be empty".into()));
        }
        if self.step_bound.get_ref().is_zero() {
            return Err(src.at(
                self.step_bound.span(),
                "step_bound",
                "must be longer than 0s".into(),
            ));
        }
        let mut known: HashSet<String> = HashSet::new();
        let mut vars = BTreeMap::new();
        for (name, value) in self.vars {
            let key = format!("vars.{name}");
            if !is_name(&name) {
                return Err(src.at(value.span(), &key, bad_name(&name)));
            }
            no_datetime(&value, src, &key)?;
            known.insert(name.clone());
            vars.insert(name, value.into_inner());
        }
        let steps_span = self.steps.span();
        if self.steps.get_ref().is_empty() {
            return Err(src.at(
                steps_span,
                "steps",
                "a checklist needs at least one [[steps]] table".into(),
            ));
        }
        let mut names = HashSet::new();
        let mut steps = Vec::new();
        for (i, step) in self.steps.into_inner().into_iter().enumerate() {
            let step = step.into_inner();
            let key = |k: &str| format!("steps[{i}].{k}");
            let name = step.name.get_ref().trim().to_owned();
            if name.is_empty() || !names.insert(name.clone()) {
                let why = if name.is_empty() {
                    "must not be empty".to_owned()
                } else {
                    format!("{name:?} names two steps")
                };
                return Err(src.at(step.name.span(), &key("name"), why));
            }
            steps.push(step.validate(src, &key, &mut known)?);
        }
        Ok(Checklist {
            name: self.name.into_inner(),
            description: self.description,
            step_bound: self.step_bound.into_inner(),
            vars,
            steps,
        })
    }
}

impl RawStep {
    fn validate(
        self,
        src: &Source<'_>,
        key: &dyn Fn(&str) -> String,
        known: &mut HashSet<String>,
    ) -> Checked<Step> {
        let RawRequest {
            method,
            path,
            auth,
            body,
        } = self.request;
        let Some(method) = Method::ALL
            .into_iter()
            .find(|m| m.to_string() == *method.get_ref())
        else {
            let all: Vec<String> = Method::ALL.iter().map(Method::to_string).collect();
            return Err(src.at(
                method.span(),
                &key("request.method"),
                format!("{:?} is not one of {}", method.get_ref(), all.join(", ")),
            ));
        };
        if !path.get_ref().starts_with('/') {
            return Err(src.at(
                path.span(),
                &key("request.path"),
                format!("{:?} must start with '/'", path.get_ref()),
            ));
        }
        refs_known(
            &Value::String(path.get_ref().clone()),
            path.span(),
            src,
            &key("request.path"),
            known,
        )?;
        if let Some(auth) = &auth {
            refs_known(
                &Value::String(auth.get_ref().clone()),
                auth.span(),
                src,
                &key("request.auth"),
                known,
            )?;
        }
        if let Some(body) = &body {
            no_datetime(body, src, &key("request.body"))?;
            refs_known(
                body.get_ref(),
                body.span(),
                src,
                &key("request.body"),
                known,
            )?;
        }
        let status = *self.expect.status.get_ref();
        if !(100..=599).contains(&status) {
            return Err(src.at(
                self.expect.status.span(),
                &key("expect.status"),
                format!("{status} is not an HTTP status (100 to 599)"),
            ));
        }
        let mut json = Vec::new();
        for (j, a) in self.expect.json.into_iter().enumerate() {
            json.push(assertion(
                a,
                src,
                &key(&format!("expect.json[{j}]")),
                known,
            )?);
        }
        let mut save = BTreeMap::new();
        for (name, pointer) in self.save {
            let k = key(&format!("save.{name}"));
            if !is_name(&name) {
                return Err(src.at(pointer.span(), &k, bad_name(&name)));
            }
            let p = Pointer::parse(pointer.get_ref()).map_err(|m| src.at(pointer.span(), &k, m))?;
            save.insert(name, p);
        }
        // saved values are for the steps after this one
        known.extend(save.keys().cloned());
        Ok(Step {
            name: self.name.into_inner().trim().to_owned(),
            request: Request {
                method,
                path: path.into_inner(),
                auth: auth.map(Spanned::into_inner),
                body: body.map(Spanned::into_inner),
            },
            status,
            json,
            save,
        })
    }
}

fn assertion(
    raw: Spanned<RawAssertion>,
    src: &Source<'_>,
    key: &str,
    known: &HashSet<String>,
) -> Checked<Assertion> {
    let span = raw.span();
    let a = raw.into_inner();
    let pointer = Pointer::parse(a.pointer.get_ref())
        .map_err(|m| src.at(a.pointer.span(), &format!("{key}.pointer"), m))?;
    let mut matchers = Vec::new();
    if let Some(v) = a.equals {
        no_datetime(&v, src, &format!("{key}.equals"))?;
        refs_known(v.get_ref(), v.span(), src, &format!("{key}.equals"), known)?;
        matchers.push(Matcher::Equals(v.into_inner()));
    }
    if let Some(shape) = a.is {
        matchers.push(Matcher::Is(shape));
    }
    if let Some(n) = a.hex {
        if *n.get_ref() == 0 {
            return Err(src.at(n.span(), &format!("{key}.hex"), "must be at least 1".into()));
        }
        matchers.push(Matcher::Hex(n.into_inner()));
    }
    matchers.extend(a.len.map(Matcher::Len));
    matchers.extend(a.min_len.map(Matcher::MinLen));
    if let Some(fit) = a.outfits_fit {
        let k = format!("{key}.outfits_fit");
        let fit = fit.into_inner();
        refs_known(fit.profile.get_ref(), fit.profile.span(), src, &k, known)?;
        let mut slots = Vec::new();
        for slot in fit.slots {
            if !SLOTS.contains(&slot.get_ref().as_str()) {
                return Err(src.at(
                    slot.span(),
                    &format!("{k}.slots"),
                    format!(
                        "{:?} is not a slot (slots: {})",
                        slot.get_ref(),
                        SLOTS.join(", ")
                    ),
                ));
            }
            slots.push(slot.into_inner());
        }
        matchers.push(Matcher::OutfitsFit {
            profile: fit.profile.into_inner(),
            slots,
        });
    }
    if matchers.len() != 1 {
        return Err(src.at(
            span,
            key,
            format!(
                "an assertion has `pointer` and exactly one matcher ({}), not {}",
                "equals, is, hex, len, min_len, outfits_fit",
                matchers.len()
            ),
        ));
    }
    let matcher = matchers.remove(0);
    Ok(Assertion { pointer, matcher })
}

/// Every `{name}` in `value`'s strings names a var or an earlier step's save.
fn refs_known(
    value: &Value,
    span: std::ops::Range<usize>,
    src: &Source<'_>,
    key: &str,
    known: &HashSet<String>,
) -> Checked<()> {
    let unknown = match value {
        Value::String(s) => parts(s).into_iter().find_map(|p| match p {
            Part::Ref(name) if !known.contains(name) => Some(name.to_owned()),
            _ => None,
        }),
        Value::Array(items) => {
            for v in items {
                refs_known(v, span.clone(), src, key, known)?;
            }
            None
        }
        Value::Table(t) => {
            for v in t.values() {
                refs_known(v, span.clone(), src, key, known)?;
            }
            None
        }
        _ => None,
    };
    match unknown {
        None => Ok(()),
        Some(name) => {
            let mut names: Vec<&str> = known.iter().map(String::as_str).collect();
            names.sort_unstable();
            Err(src.at(
                span,
                key,
                format!(
                    "`{{{name}}}` is neither in [vars] nor saved by an earlier step (known: {})",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            ))
        }
    }
}

/// JSON has no datetimes.
fn no_datetime(value: &Spanned<Value>, src: &Source<'_>, key: &str) -> Checked<()> {
    fn has(v: &Value) -> bool {
        match v {
            Value::Datetime(_) => true,
            Value::Array(a) => a.iter().any(has),
            Value::Table(t) => t.values().any(has),
            _ => false,
        }
    }
    if has(value.get_ref()) {
        return Err(src.at(
            value.span(),
            key,
            "a TOML datetime has no JSON form; write it as a string".into(),
        ));
    }
    Ok(())
}

fn bad_name(name: &str) -> String {
    format!("{name:?}: a name is letters, digits and '_', not starting with a digit")
}
