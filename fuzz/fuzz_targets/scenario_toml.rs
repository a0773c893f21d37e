//! Scenario files: strict TOML plus validation. Errors must point inside the
//! file; a scenario that parses must print back to TOML that parses to itself.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use scenarios::{Scenario, ScenarioError};

const FILE: &str = "fuzz.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Scenario::parse(text, Path::new(FILE)) {
        Ok(scenario) => {
            let toml = scenario
                .to_toml()
                .unwrap_or_else(|e| panic!("a valid scenario does not serialize: {e}"));
            let again = Scenario::parse(&toml, Path::new(FILE))
                .unwrap_or_else(|e| panic!("a printed scenario does not parse: {e}\n{toml}"));
            assert_eq!(
                again, scenario,
                "printing and parsing changed the scenario:\n{toml}"
            );
            assert!(scenario.peak_users().is_finite());
            let _ = scenario.total_duration();
        }
        Err(ScenarioError::Invalid(located)) => {
            assert_eq!(located.file, FILE);
            assert!(!located.message.is_empty(), "an error without a message");
            let lines = text.split('\n').count();
            assert!(
                located.line <= lines,
                "error at line {} of a {lines}-line file",
                located.line
            );
            if located.line > 0 {
                let line = text.split('\n').nth(located.line - 1).unwrap_or("");
                assert!(
                    located.column >= 1 && located.column <= line.len() + 1,
                    "error at column {} of a {}-byte line",
                    located.column,
                    line.len()
                );
            }
            let shown = located.to_string();
            assert!(shown.starts_with(FILE), "{shown:?} does not name the file");
        }
        Err(e @ ScenarioError::Read { .. }) => panic!("parsing text cannot fail to read: {e}"),
    }
});
