//! The Spikeproof outfit server.
//!
//! It suggests outfits from a garment catalog, and it is built to survive a
//! traffic spike: bounded admission with fast `503`s, deadlines on every
//! request, pool connections tracked to the code site that took them, and
//! memory figures exact enough to see a 3-byte-per-request leak.
//!
//! Layout:
//! - [`config`]: typed settings from a file and `APP_*` variables;
//! - [`domain`]: garments, profiles, contexts, outfits;
//! - [`engine`]: outfit generation, pure and allocation-free in its hot loop;
//! - [`feeds`]: datafeed ingest (Google Merchant XML/TSV, Awin CSV), OpenCV image analysis;
//! - [`catalog`]: the engine's in-memory catalog, refreshed from the store;
//! - [`store`]: sqlx repositories and migrations (SQLite, PostgreSQL);
//! - [`api`]: axum routes, errors, extractors;
//! - [`overload`]: admission control, load shedding, deadlines;
//! - [`polltime`]: poll timing per route and the runtime lag probe, to name blocking handlers;
//! - [`ratelimit`]: per-user write limits in a table of fixed size;
//! - [`openapi`]: the OpenAPI 3.1 document served at `/openapi.json`;
//! - [`taste`]: the "similar taste" model (feature flag `taste_model`, off by default);
//! - [`chaos`]: fault hooks (leaks, hangs, slowness), inert unless started with them;
//! - [`telemetry`]: tracing and Prometheus metrics;
//! - [`alloc`]: the counting global allocator behind the memory metrics;
//! - [`heapprof`]: jemalloc's heap profiler, inactive until the gate asks;
//! - [`cli`]: the `outfit-server` command line, callable with extra middleware;
//! - [`serve`]: the accept loop with connection caps and slow-client timeouts;
//! - [`startup`]: `Application::build` and `run_until_stopped`.

pub mod alloc;
pub mod api;
pub mod catalog;
pub mod chaos;
pub mod cli;
pub mod config;
pub mod domain;
pub mod engine;
pub mod feeds;
pub mod heapprof;
pub mod openapi;
pub mod overload;
pub mod polltime;
pub mod ratelimit;
pub mod serve;
pub mod startup;
pub mod store;
pub mod taste;
pub mod telemetry;

pub use startup::Application;
