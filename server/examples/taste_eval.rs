//! Offline evaluation of the "similar taste" model on synthetic users with
//! planted taste clusters: hit-rate@10 of one held-out like per user, for the
//! model (ranked by the taste scores the server biases outfits with) and for a
//! popularity baseline. Deterministic (fixed seeds).
//!
//! Run: `cargo run --release -p outfit-server --example taste_eval`

use outfit_server::taste::{
    FitParams,
    synthetic::{PlantedParams, evaluate, planted},
};

/// Recommendations per user that count as a hit.
const K: usize = 10;
/// Neighbours per user (the server's default, `taste.neighbours`).
const NEIGHBOURS: usize = 20;

fn main() {
    let params = FitParams {
        factors: 32,
        iterations: 12,
        seed: 1,
    };
    let mut beaten = true;
    for shape in [
        PlantedParams::default(),
        // closer to a retrain at the default bound: ~300k interactions
        PlantedParams {
            users: 10_000,
            garments: 5_000,
            clusters: 40,
            likes_per_user: 30,
            ..PlantedParams::default()
        },
    ] {
        beaten &= run(&shape, &params);
        println!();
    }
    if !beaten {
        eprintln!("the taste model does not beat popularity");
        std::process::exit(1);
    }
}

/// Evaluates one planted data set; returns whether the model beat popularity.
fn run(shape: &PlantedParams, params: &FitParams) -> bool {
    let data = planted(shape);
    println!(
        "planted data: {} users, {} garments, {} taste clusters, {} likes per user \
         ({:.0}% in-cluster), {} feedback rows, {} held-out likes (seed {})",
        shape.users,
        shape.garments,
        shape.clusters,
        shape.likes_per_user,
        shape.in_cluster * 100.0,
        data.train.len(),
        data.held_out.len(),
        shape.seed,
    );
    let report = evaluate(&data, params, NEIGHBOURS, K);
    println!(
        "implicit ALS: {} factors, {} iterations, fit in {:.2} s; {} users with a model row",
        params.factors, params.iterations, report.fit_seconds, report.model_users
    );
    println!(
        "hit-rate@{K}: taste model {:.3}, popularity baseline {:.3} ({:.1}x)",
        report.model_hit_rate,
        report.popularity_hit_rate,
        report.model_hit_rate / report.popularity_hit_rate.max(f64::EPSILON),
    );
    report.model_hit_rate > report.popularity_hit_rate
}
