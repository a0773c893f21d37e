//! The defect examples' settings, read once from `DEFECT_*` variables so a
//! test can vary the route, the size and the rate of one defect.

use std::sync::LazyLock;

/// The route the defect sits on: `DEFECT_ROUTE`, or `default`.
pub(crate) fn route(default: &'static str) -> &'static str {
    static ROUTE: LazyLock<Option<String>> = LazyLock::new(|| std::env::var("DEFECT_ROUTE").ok());
    ROUTE.as_deref().unwrap_or(default)
}

/// A number from the variable `name`, or `default` when it is unset or not a number.
pub(crate) fn number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
