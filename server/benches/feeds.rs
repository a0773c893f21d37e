//! Feed ingest benchmarks.
//!
//! Prints headline lines, then runs short criterion groups:
//! - `feeds: parse <format>: rows <N>/s on CPU, <M>/s wall`: parsing plus
//!   validation and mapping of a 200,000-row synthetic feed from memory, one
//!   thread (goal >= 100,000); "on CPU" counts only the time the thread ran
//!   (`/proc/thread-self/schedstat`), which holds on a busy shared machine;
//! - `feeds: images per core: <N>/s on CPU`: OpenCV analysis (decode, garment mask,
//!   k-means colours, pattern) of real photos from `SPIKEPROOF_PHOTOS_DIR`
//!   (searched recursively for `.jpg`/`.png`, e.g. the clothing-dataset-small
//!   test split), or of drawn 400x400 garments when it is unset (goal >= 100),
//!   with the pattern classes and segmentation methods it chose.
//!
//! Peak memory of a whole ingest is measured with the CLI instead (see
//! `examples/feed_gen.rs`).
//!
//! Run: `SPIKEPROOF_PHOTOS_DIR=... cargo bench -p outfit-server --bench feeds`.

use std::{
    hint::black_box,
    io::Cursor,
    time::{Duration, Instant},
};

use criterion::{Criterion, Throughput};
use outfit_server::feeds::{
    FeedFormat,
    map::to_draft,
    parse::{self, Parsed},
    synthetic,
};

const ROWS: usize = 200_000;
const FORMATS: [FeedFormat; 3] = [
    FeedFormat::GoogleXml,
    FeedFormat::GoogleTsv,
    FeedFormat::AwinCsv,
];

fn feed(format: FeedFormat, rows: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows * 400);
    synthetic::write_feed(&mut out, format, rows, 7, "https://img.example/p")
        .expect("write to memory");
    out
}

/// Parses and maps every row; returns the rows accepted.
fn parse_and_map(bytes: &[u8]) -> usize {
    let rows = parse::open(Cursor::new(bytes.to_vec()), None, None).expect("a feed");
    let mut accepted = 0;
    for parsed in rows {
        if let Parsed::Item(pos, item) = parsed
            && to_draft(pos, &item).is_ok()
        {
            accepted += 1;
        }
    }
    accepted
}

/// Nanoseconds this thread has run on a CPU (Linux), so that figures per core
/// hold on a machine shared with other work; `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Wall and on-CPU seconds of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, f64, Option<f64>) {
    let (cpu, wall) = (thread_cpu_ns(), Instant::now());
    let out = f();
    let wall = wall.elapsed().as_secs_f64();
    let cpu = cpu.zip(thread_cpu_ns()).map(|(a, b)| (b - a) as f64 / 1e9);
    (out, wall, cpu)
}

fn rate(n: usize, wall: f64, cpu: Option<f64>) -> String {
    match cpu {
        Some(cpu) => format!(
            "{:.0}/s on CPU, {:.0}/s wall",
            n as f64 / cpu,
            n as f64 / wall
        ),
        None => format!("{:.0}/s wall", n as f64 / wall),
    }
}

fn headline_parse(rows: usize) {
    for format in FORMATS {
        let bytes = feed(format, rows);
        let mut best = (f64::MAX, None);
        for _ in 0..3 {
            let (accepted, wall, cpu) = timed(|| black_box(parse_and_map(&bytes)));
            assert_eq!(accepted, rows, "every synthetic row is valid");
            if wall < best.0 {
                best = (wall, cpu);
            }
        }
        println!(
            "feeds: parse {}: rows {} ({} MB, best of 3, one thread)",
            format.as_str(),
            rate(rows, best.0, best.1),
            bytes.len() / 1_000_000
        );
    }
}

#[cfg(feature = "opencv")]
fn photos(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<std::path::PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            photos(&path, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        {
            out.push(path);
        }
    }
}

/// Encoded pictures to analyse and where they came from.
#[cfg(feature = "opencv")]
fn pictures() -> (Vec<Vec<u8>>, String) {
    use outfit_server::{domain::Pattern, feeds::analysis::draw};
    if let Ok(dir) = std::env::var("SPIKEPROOF_PHOTOS_DIR") {
        let mut paths = Vec::new();
        photos(std::path::Path::new(&dir), &mut paths);
        let images: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
        if !images.is_empty() {
            return (images, format!("{} real photos", paths.len()));
        }
        eprintln!("no .jpg/.png under SPIKEPROOF_PHOTOS_DIR; using drawn garments");
    }
    let colors = [
        (200, 30, 40),
        (20, 30, 90),
        (40, 140, 60),
        (235, 200, 40),
        (120, 120, 125),
    ];
    let mut images = Vec::new();
    for (i, pattern) in [
        Pattern::Solid,
        Pattern::Striped,
        Pattern::Checked,
        Pattern::Printed,
    ]
    .into_iter()
    .enumerate()
    {
        for (j, main) in colors.iter().enumerate() {
            let other = colors[(j + 1) % colors.len()];
            let seed = (i * 10 + j) as u64;
            images.push(draw::garment(pattern, *main, other, 400, seed, ".jpg").expect("draw"));
        }
    }
    let n = images.len();
    (images, format!("{n} drawn 400x400 JPEG garments"))
}

#[cfg(feature = "opencv")]
fn headline_images(images: &[Vec<u8>], what: &str) {
    use std::collections::BTreeMap;

    use outfit_server::feeds::analysis;
    analysis::init_thread();
    let mut patterns: BTreeMap<String, usize> = BTreeMap::new();
    let mut methods: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed = 0;
    let ((), wall, cpu) = timed(|| {
        for bytes in images {
            match analysis::analyze(bytes) {
                Ok(a) => {
                    *patterns.entry(format!("{:?}", a.pattern)).or_default() += 1;
                    *methods.entry(format!("{:?}", a.segmentation)).or_default() += 1;
                }
                Err(_) => failed += 1,
            }
        }
    });
    println!(
        "feeds: images per core: {} ({what}; patterns {patterns:?}; segmentation {methods:?}; failed {failed})",
        rate(images.len(), wall, cpu)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --all-targets`) do a quick smoke run
    let full = std::env::args().any(|a| a == "--bench");
    headline_parse(if full { ROWS } else { 2_000 });
    #[cfg(feature = "opencv")]
    let (mut images, what) = pictures();
    #[cfg(feature = "opencv")]
    if !full {
        images.truncate(4);
    }
    #[cfg(feature = "opencv")]
    headline_images(&images, &what);
    #[cfg(not(feature = "opencv"))]
    println!("feeds: images: built without the `opencv` feature");

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1));
    let mut group = c.benchmark_group("feeds/parse");
    let rows = if full { 20_000 } else { 500 };
    for format in FORMATS {
        let bytes = feed(format, rows);
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_function(format.as_str(), |b| {
            b.iter(|| parse_and_map(black_box(&bytes)))
        });
    }
    group.finish();
    #[cfg(feature = "opencv")]
    {
        let mut group = c.benchmark_group("feeds/images");
        let sample: Vec<&Vec<u8>> = images.iter().take(20).collect();
        group.throughput(Throughput::Elements(sample.len() as u64));
        group.bench_function("analyze", |b| {
            b.iter(|| {
                for bytes in &sample {
                    let _ = black_box(outfit_server::feeds::analysis::analyze(bytes));
                }
            })
        });
        group.finish();
    }
    c.final_summary();
}
