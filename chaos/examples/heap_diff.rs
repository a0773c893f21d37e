//! Which code sites grew between two heap profiles, as the release gate's
//! growth-rounds step reads them:
//!
//! ```text
//! cargo run -p chaos --example heap_diff -- heap-first.pb.gz heap-last.pb.gz [TOP]
//! ```
//!
//! Prints the sites that grew, most first, with the floor each must pass
//! (six KiB for the project's own allocations, eight times that through a
//! dependency) and whether it did; a site with no project frame on its stack
//! is shown and never judged.

use std::process::ExitCode;

use chaos::heap::{self, HeapProfile};

/// The gate's floor for one site (see `ci/src/rounds.rs`).
const FLOOR_BYTES: f64 = 6144.0;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(first), Some(last)) = (args.first(), args.get(1)) else {
        eprintln!("usage: heap_diff FIRST.pb.gz LAST.pb.gz [TOP]");
        return ExitCode::from(2);
    };
    let top = args.get(2).and_then(|t| t.parse().ok()).unwrap_or(10);
    let read = |path: &String| {
        std::fs::read(path)
            .map_err(|e| format!("{path}: {e}"))
            .and_then(|b| HeapProfile::decode(&b).map_err(|e| format!("{path}: {e}")))
    };
    let (first, last) = match (read(first), read(last)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let root = heap::project_root([&first, &last]);
    for g in heap::diff(&first, &last).iter().take(top) {
        let floor = g.site.floor(FLOOR_BYTES);
        let verdict = match () {
            _ if g.site.frames.is_empty() => ", not judged",
            _ if g.grew > floor => ", past it",
            _ => "",
        };
        println!(
            "{:>9.0} B grew (floor {floor:>6.0}{verdict}): {}",
            g.grew,
            g.site.describe(&root)
        );
    }
    ExitCode::SUCCESS
}
