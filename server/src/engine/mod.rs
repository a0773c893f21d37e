//! The outfit engine: turns a garment catalog, a user profile and a context
//! (occasion, weather) into a handful of good, varied, always-valid outfits.
//!
//! Pure, synchronous and allocation-free in its hot loop; no async, no I/O.
//!
//! Layout:
//! * `catalog`: the immutable [`Catalog`] (id index, per-slot lists and
//!   user-independent garment features such as the quantised colour), built
//!   once per catalog refresh and shared across threads.
//! * `planner`: a [`Planner`] per (profile, context) that applies all
//!   per-garment hard constraints once, precomputes per-garment partial
//!   scores into compact per-slot pools, and samples + scores candidate
//!   outfits into a caller-owned buffer ([`Planner::score_batch`]);
//!   [`Planner::with_bias`] folds an optional per-garment bias (the taste
//!   model's) into those partial scores and sampling weights;
//!   `pool` holds the per-slot candidate arrays and alias tables.
//! * `color`: colour harmony in LCh as a compile-time pair table over
//!   quantised colours ([`harmony`] exposes the same rule for a colour set).
//! * `select`: [`generate`] (and [`generate_biased`]), which builds a planner, fills a pool of valid
//!   outfits (exhaustive for tiny search spaces, sampled otherwise, with a
//!   budget-aware fallback for tight budgets) and picks a diverse top N.
//! * `rng`: the seedable [`WyRand`] used everywhere, so output for a seed is stable.
//! * [`synthetic`]: deterministic catalogs and profiles for benches, tests and seeding.
//!
//! Hard constraints (always hold): one top + one bottom, or one dress; shoes;
//! outerwear exactly when the weather needs it; at most one accessory; every
//! garment available, fitting the profile's gender and size, priced in the
//! profile's currency (ASCII case-insensitive), main colour not disliked,
//! total within budget; no garment twice in an outfit and no outfit twice in
//! a response. Soft score: style match (profile and occasion), favourite
//! colours, colour harmony, shared style tags, at most one loud pattern, and
//! a mild preference for using ~70 % of the budget.

mod catalog;
mod color;
mod planner;
mod pool;
mod rng;
mod select;
pub mod synthetic;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_alloc;
#[cfg(test)]
mod tests_bias;
#[cfg(test)]
mod tests_color;
#[cfg(test)]
mod tests_prop;

pub use catalog::Catalog;
pub use color::harmony;
pub use planner::{MAX_BIAS, Planner, Scored};
pub use rng::WyRand;
pub use select::{MAX_COUNT, generate, generate_biased};
