//! Toxiproxy API toxic bodies (`POST /proxies/{name}/toxics[/{toxic}]`): an
//! accepted toxic is valid and its own JSON reads back to the same toxic.
#![no_main]

use chaos::Toxic;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(toxic) = Toxic::from_json(&body, None) else {
        return;
    };
    if let Err(e) = toxic.validate() {
        panic!("an accepted toxic is invalid: {e}: {body}");
    }
    let json = serde_json::to_value(&toxic)
        .unwrap_or_else(|e| panic!("an accepted toxic does not serialize: {e}"));
    match Toxic::from_json(&json, None) {
        Ok(again) => assert_eq!(again, toxic, "{body} read back from {json}"),
        Err(e) => panic!("{body} printed as {json}, which is refused: {e}"),
    }
    // the same body as an update of the toxic itself
    if let Ok(updated) = Toxic::from_json(&body, Some(&toxic)) {
        assert!(
            updated.validate().is_ok(),
            "an accepted update is invalid: {body}"
        );
    }
});
