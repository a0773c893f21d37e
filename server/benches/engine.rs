//! Outfit engine benchmarks on deterministic synthetic catalogs (1k, 10k, 100k garments).
//!
//! Prints one line per catalog size,
//! `engine: <N> outfits/s/thread (catalog <size>)`, counting scored outfits that
//! satisfy every hard constraint (median of three ~0.5 s single-thread runs of
//! `Planner::score_batch`), then runs short criterion groups for planner
//! construction, the scoring hot loop and the full `generate`.
//!
//! Run: `cargo bench -p outfit-server --bench engine`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use outfit_server::domain::{Context, Occasion, Profile, Weather};
use outfit_server::engine::{self, Catalog, Planner, Scored, WyRand, synthetic};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const CATALOG_SEED: u64 = 42;
const PROFILE_SEED: u64 = 7;
const PROFILES: usize = 32;
/// Outfits sampled per `score_batch` call.
const BATCH: usize = 1024;

/// Every (occasion, weather) pair, so profiles cycle through all of them.
fn contexts() -> Vec<Context> {
    Occasion::ALL
        .into_iter()
        .flat_map(|occasion| {
            Weather::ALL
                .into_iter()
                .map(move |weather| Context { occasion, weather })
        })
        .collect()
}

fn requests(profiles: &[Profile]) -> Vec<(&Profile, Context)> {
    let ctxs = contexts();
    profiles
        .iter()
        .enumerate()
        .map(|(i, p)| (p, ctxs[(i * 7) % ctxs.len()]))
        .collect()
}

/// Single-thread valid outfits per second over `wall`, cycling through the planners.
fn throughput(planners: &[Planner<'_>], wall: Duration) -> f64 {
    let mut buf = vec![Scored::EMPTY; BATCH];
    let mut rng = WyRand::new(1);
    let mut valid = 0u64;
    let mut i = 0;
    let start = Instant::now();
    while start.elapsed() < wall {
        for _ in 0..8 {
            valid += planners[i % planners.len()].score_batch(&mut rng, &mut buf) as u64;
            i += 1;
        }
    }
    black_box(&buf);
    valid as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; without it (e.g. `cargo test --benches`) do a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let wall = if full {
        Duration::from_millis(500)
    } else {
        Duration::from_millis(20)
    };
    let profiles = synthetic::profiles(PROFILES, PROFILE_SEED);
    let reqs = requests(&profiles);
    let catalogs: Vec<Catalog> = SIZES
        .iter()
        .map(|&n| Catalog::new(synthetic::catalog(n, CATALOG_SEED)))
        .collect();

    for catalog in &catalogs {
        let planners: Vec<Planner<'_>> = reqs
            .iter()
            .map(|&(p, ctx)| Planner::new(catalog, p, ctx))
            .filter(Planner::is_feasible)
            .collect();
        if planners.is_empty() {
            println!("engine: 0 outfits/s/thread (catalog {})", catalog.len());
            continue;
        }
        let mut runs: Vec<f64> = (0..3).map(|_| throughput(&planners, wall)).collect();
        runs.sort_by(f64::total_cmp);
        println!(
            "engine: {:.0} outfits/s/thread (catalog {})",
            runs[1],
            catalog.len()
        );
        if catalog.len() == 10_000 {
            // many simultaneous requests: one planner set per request, shared catalog
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(2));
            let mut both: Vec<f64> = (0..3)
                .map(|_| {
                    std::thread::scope(|scope| {
                        let handles: Vec<_> = (0..threads)
                            .map(|_| scope.spawn(|| throughput(&planners, wall)))
                            .collect();
                        handles
                            .into_iter()
                            .map(|h| h.join().unwrap_or(0.0))
                            .sum::<f64>()
                    })
                })
                .collect();
            both.sort_by(f64::total_cmp);
            println!(
                "engine: {:.0} outfits/s on {threads} threads (catalog {}), {:.2}x one thread",
                both[1],
                catalog.len(),
                both[1] / runs[1]
            );
        }
    }

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    criterion_benches(&mut c, &catalogs, &reqs);
    c.final_summary();
}

fn criterion_benches(c: &mut Criterion, catalogs: &[Catalog], reqs: &[(&Profile, Context)]) {
    let mut group = c.benchmark_group("planner_new");
    for catalog in catalogs {
        group.bench_with_input(
            BenchmarkId::from_parameter(catalog.len()),
            catalog,
            |b, catalog| {
                let mut i = 0;
                b.iter(|| {
                    let (p, ctx) = reqs[i % reqs.len()];
                    i += 1;
                    black_box(Planner::new(catalog, p, ctx).is_feasible())
                });
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("score_batch");
    group.throughput(Throughput::Elements(BATCH as u64));
    for catalog in catalogs {
        let planners: Vec<Planner<'_>> = reqs
            .iter()
            .map(|&(p, ctx)| Planner::new(catalog, p, ctx))
            .filter(Planner::is_feasible)
            .collect();
        if planners.is_empty() {
            continue;
        }
        group.bench_function(BenchmarkId::from_parameter(catalog.len()), |b| {
            let mut buf = vec![Scored::EMPTY; BATCH];
            let mut rng = WyRand::new(3);
            let mut i = 0;
            b.iter(|| {
                i += 1;
                black_box(planners[i % planners.len()].score_batch(&mut rng, &mut buf))
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("generate_10");
    for catalog in catalogs {
        group.bench_with_input(
            BenchmarkId::from_parameter(catalog.len()),
            catalog,
            |b, catalog| {
                let mut i = 0u64;
                b.iter(|| {
                    let (p, ctx) = reqs[i as usize % reqs.len()];
                    i += 1;
                    black_box(engine::generate(catalog, p, ctx, 10, i))
                });
            },
        );
    }
    group.finish();
}
