//! The server's TOML configuration file (`--config`): every setting it accepts
//! passes validation, and every refusal says why.
#![no_main]

use std::{path::PathBuf, sync::OnceLock};

use libfuzzer_sys::fuzz_target;
use outfit_server::config::Settings;

/// One file, rewritten by each run (`Settings::load` reads a path).
fn config_path() -> &'static PathBuf {
    static PATH: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = PATH.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary folder: {e}"));
        let path = dir.path().join("server.toml");
        (dir, path)
    });
    path
}

fuzz_target!(|data: &[u8]| {
    let path = config_path();
    if let Err(e) = std::fs::write(path, data) {
        panic!("cannot write the configuration file: {e}");
    }
    match Settings::load(Some(path)) {
        Ok(settings) => {
            if let Err(e) = settings.validate() {
                panic!("loaded settings that do not validate: {e}");
            }
            assert!(settings.request_deadline().as_millis() > 0);
        }
        Err(e) => assert!(
            !e.to_string().is_empty(),
            "a configuration error without a message"
        ),
    }
});
