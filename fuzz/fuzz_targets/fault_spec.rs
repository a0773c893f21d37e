//! Chaos fault specs (`--chaos-fault`, `POST /admin/chaos/faults`): a spec that
//! parses prints back to a spec that parses to the same fault.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outfit_server::chaos::FaultSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match FaultSpec::parse(text) {
        Ok(spec) => {
            let printed = spec.to_string();
            let again = FaultSpec::parse(&printed)
                .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?} which fails: {e}"));
            assert_eq!(again, spec, "{text:?} printed as {printed:?}");
            if let FaultSpec::LeakMemory { bytes, .. } = spec {
                assert!(
                    bytes <= 1 << 20,
                    "a leak of {bytes} bytes per request was accepted"
                );
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
