//! Checklist files: the shipped onboarding checklist parses, bad ones are
//! refused naming file, line and key, and `{name}` references are only
//! accepted once something defines them.

use std::path::Path;

use proptest::prelude::*;
use scenarios::{
    Checklist, Located, Scenario,
    checklist::{Matcher, Method, Part, Shape, parts, whole_ref},
};

fn parse(text: &str) -> Result<Checklist, scenarios::ScenarioError> {
    Checklist::parse(text, Path::new("bad.toml"))
}

/// The located error of a checklist that must be refused.
fn refused(text: &str) -> Located {
    match parse(text) {
        Ok(_) => panic!("checklist was accepted:\n{text}"),
        Err(e) => e.located().cloned().expect("a located error"),
    }
}

/// Line 1 is `name`; the first step's `request` is line 9.
const MINIMAL: &str = r#"name = "tiny"
kind = "checklist"
step_bound = "1s"

[vars]
who = "me"

[[steps]]
name = "register"
request = { method = "POST", path = "/v1/users" }
expect.status = 201
save = { token = "/token" }

[[steps.expect.json]]
pointer = "/token"
hex = 64

[[steps]]
name = "read"
request = { method = "GET", path = "/v1/users/{who}", auth = "{token}" }
expect = { status = 200 }
"#;

fn line_of(text: &str, needle: &str) -> usize {
    let at = text.find(needle).expect("needle in text");
    text[..at].matches('\n').count() + 1
}

#[test]
fn the_shipped_onboarding_checklist_parses_with_its_seven_steps() {
    let c = Checklist::onboarding().expect("shipped checklist is valid");
    let names: Vec<&str> = c.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "register",
            "outfits before onboarding",
            "onboarding profile",
            "profile read back",
            "first outfits",
            "save an outfit",
            "saved outfits"
        ]
    );
    assert_eq!(c.step_bound.as_millis(), 1_000);
    assert!(c.vars.contains_key("profile"));
    let register = &c.steps[0];
    assert_eq!(register.request.method, Method::Post);
    assert_eq!(register.status, 201);
    assert!(register.json.iter().any(|a| a.matcher == Matcher::Hex(64)));
    assert!(
        register
            .json
            .iter()
            .any(|a| a.matcher == Matcher::Is(Shape::PositiveInteger))
    );
    let saved = &c.steps[6];
    assert_eq!(saved.json.len(), 3, "{saved:?}");
}

#[test]
fn the_shipped_checklist_file_on_disk_is_the_embedded_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("onboarding-checklist.toml");
    let from_disk = Checklist::from_file(&path).expect("valid");
    assert_eq!(Some(from_disk), Checklist::onboarding().ok());
}

#[test]
fn a_checklist_is_told_from_a_load_scenario() {
    assert!(Checklist::declared_in(MINIMAL));
    assert!(!Checklist::declared_in(scenarios::APPSTORE_SPIKE));
    // and a load scenario parser refuses it rather than guessing
    let e = Scenario::parse(MINIMAL, Path::new("c.toml")).expect_err("not a scenario");
    assert!(e.to_string().contains("kind"), "{e}");
}

#[test]
fn a_minimal_checklist_parses() {
    let c = parse(MINIMAL).expect("valid");
    assert_eq!(c.steps.len(), 2);
    assert_eq!(c.steps[1].request.auth.as_deref(), Some("{token}"));
    assert_eq!(c.steps[0].save["token"].as_str(), "/token");
}

#[test]
fn an_unknown_key_names_its_line_and_key() {
    let text = MINIMAL.replace("hex = 64", "hex = 64\nhexx = 64");
    let e = refused(&text);
    assert_eq!(e.file, "bad.toml");
    assert_eq!(e.line, line_of(&text, "hexx"), "{e}");
    assert_eq!(e.key, "hexx", "{e}");
    assert!(e.message.contains("unknown field"), "{e}");
}

#[test]
fn an_unknown_key_in_an_inline_table_names_the_key() {
    let text = MINIMAL.replace(
        "expect = { status = 200 }",
        "expect = { status = 200, statuz = 1 }",
    );
    let e = refused(&text);
    assert_eq!(e.line, line_of(&text, "statuz"), "{e}");
    assert_eq!(e.key, "expect.statuz", "{e}");
    let text = MINIMAL.replace(
        "expect = { status = 200 }",
        "expect.status = 200\nexpect.json = [\n  { pointer = \"/a\", bogus = 1 },\n]",
    );
    let e = refused(&text);
    assert_eq!(e.line, line_of(&text, "bogus"), "{e}");
    assert_eq!(e.key, "bogus", "{e}");
}

#[test]
fn a_bad_method_names_its_line_and_key() {
    let text = MINIMAL.replace("\"GET\"", "\"FETCH\"");
    let e = refused(&text);
    assert_eq!(e.line, line_of(&text, "FETCH"), "{e}");
    assert_eq!(e.key, "steps[1].request.method", "{e}");
    assert!(
        e.message.contains("FETCH") && e.message.contains("GET"),
        "{e}"
    );
}

#[test]
fn a_bad_matcher_names_its_line_and_key() {
    let text = MINIMAL.replace("hex = 64", "is = \"positive\"");
    let e = refused(&text);
    assert_eq!(e.line, line_of(&text, "positive"), "{e}");
    assert_eq!(e.key, "is", "{e}");
    assert!(e.message.contains("positive_integer"), "{e}");
}

#[test]
fn an_assertion_needs_exactly_one_matcher() {
    let none = MINIMAL.replace("hex = 64", "");
    let e = refused(&none);
    assert_eq!(e.key, "steps[0].expect.json[0]", "{e}");
    assert_eq!(e.line, line_of(&none, "[[steps.expect.json]]"), "{e}");
    let two = MINIMAL.replace("hex = 64", "hex = 64\nlen = 3");
    let e = refused(&two);
    assert!(e.message.contains("exactly one matcher"), "{e}");
}

#[test]
fn a_step_referring_to_an_unsaved_value_names_its_line_and_key() {
    let text = MINIMAL.replace("auth = \"{token}\"", "auth = \"{tokn}\"");
    let e = refused(&text);
    assert_eq!(e.line, line_of(&text, "{tokn}"), "{e}");
    assert_eq!(e.key, "steps[1].request.auth", "{e}");
    assert!(
        e.message.contains("{tokn}") && e.message.contains("token"),
        "{e}"
    );
}

#[test]
fn a_step_cannot_use_what_it_saves_itself() {
    let text = MINIMAL.replace("path = \"/v1/users\"", "path = \"/v1/users/{token}\"");
    let e = refused(&text);
    assert_eq!(e.key, "steps[0].request.path", "{e}");
    assert_eq!(e.line, line_of(&text, "/v1/users/{token}"), "{e}");
}

#[test]
fn empty_steps_name_their_line_and_key() {
    let end = MINIMAL.find("[vars]").expect("vars");
    let text = format!("{}steps = []\n", &MINIMAL[..end]);
    let e = refused(&text);
    assert_eq!(e.key, "steps", "{e}");
    assert_eq!(e.line, line_of(&text, "steps = []"), "{e}");
    assert!(e.message.contains("at least one"), "{e}");
}

#[test]
fn missing_keys_are_named() {
    let end = MINIMAL.find("[[steps]]").expect("steps");
    let e = refused(&MINIMAL[..end]);
    assert_eq!(e.key, "steps", "{e}");
    assert!(e.message.contains("missing"), "{e}");
    let text = MINIMAL.replace("expect = { status = 200 }", "expect = {}");
    let e = refused(&text);
    assert_eq!(e.key, "status", "{e}");
    assert_eq!(e.line, line_of(&text, "expect = {}"), "{e}");
}

#[test]
fn other_bad_shapes_name_their_key() {
    for (from, to, key) in [
        (
            "path = \"/v1/users\"",
            "path = \"v1/users\"",
            "steps[0].request.path",
        ),
        ("status = 200", "status = 99", "steps[1].expect.status"),
        (
            "pointer = \"/token\"",
            "pointer = \"token\"",
            "steps[0].expect.json[0].pointer",
        ),
        (
            "{ token = \"/token\" }",
            "{ token = \"/t~2\" }",
            "steps[0].save.token",
        ),
        ("step_bound = \"1s\"", "step_bound = \"0s\"", "step_bound"),
        ("name = \"read\"", "name = \"register\"", "steps[1].name"),
        ("kind = \"checklist\"", "kind = \"load\"", "kind"),
        ("who = \"me\"", "who = 1979-05-27", "vars.who"),
    ] {
        let text = MINIMAL.replace(from, to);
        let e = refused(&text);
        assert_eq!(e.key, key, "{from} -> {to}: {e}");
        assert!(e.line > 0, "{e}");
    }
}

#[test]
fn a_bad_outfit_slot_is_refused() {
    let text = MINIMAL.replace(
        "hex = 64",
        "outfits_fit = { profile = \"{who}\", slots = [\"hat\"] }",
    );
    let e = refused(&text);
    assert_eq!(e.key, "steps[0].expect.json[0].outfits_fit.slots", "{e}");
    assert!(
        e.message.contains("hat") && e.message.contains("outerwear"),
        "{e}"
    );
}

#[test]
fn references_split_out_of_text() {
    assert_eq!(
        parts("/v1/outfits/{outfit_id}?x={a}{b}"),
        [
            Part::Text("/v1/outfits/"),
            Part::Ref("outfit_id"),
            Part::Text("?x="),
            Part::Ref("a"),
            Part::Ref("b")
        ]
    );
    assert_eq!(
        parts("{ not a ref } {1x} {}"),
        [Part::Text("{ not a ref } {1x} {}")]
    );
    assert_eq!(whole_ref("{profile}"), Some("profile"));
    assert_eq!(whole_ref("x{profile}"), None);
}

proptest! {
    /// Splitting never loses or invents text.
    #[test]
    fn parts_put_back_together_are_the_text(text in "[a-z{}_0-9/ ]{0,40}") {
        let joined: String = parts(&text)
            .into_iter()
            .map(|p| match p {
                Part::Text(t) => t.to_owned(),
                Part::Ref(r) => format!("{{{r}}}"),
            })
            .collect();
        prop_assert_eq!(joined, text);
    }

    /// A step may use a value saved by an earlier step, never by itself or a
    /// later one; a refusal points at the step that uses it.
    #[test]
    fn a_reference_is_accepted_only_after_its_save(steps in 2usize..7, saver in 0usize..7, user in 0usize..7) {
        let (saver, user) = (saver % steps, user % steps);
        let mut text = String::from("name = \"p\"\nkind = \"checklist\"\nstep_bound = \"1s\"\n");
        for i in 0..steps {
            let path = if i == user { "/use/{v}" } else { "/plain" };
            text.push_str(&format!(
                "\n[[steps]]\nname = \"s{i}\"\nrequest = {{ method = \"GET\", path = \"{path}\" }}\nexpect.status = 200\n"
            ));
            if i == saver {
                text.push_str("save = { v = \"/v\" }\n");
            }
        }
        match parse(&text) {
            Ok(_) => prop_assert!(saver < user, "accepted a use before its save:\n{}", text),
            Err(e) => {
                prop_assert!(saver >= user, "{}", e);
                let l = e.located().expect("located");
                prop_assert_eq!(&l.key, &format!("steps[{user}].request.path"));
                prop_assert_eq!(l.line, line_of(&text, "/use/{v}"));
            }
        }
    }
}
