//! `loadbot spike` end to end: the built binary against the real outfit-server
//! on loopback, against servers that never answer or shed everything, and with
//! bad input; sharded runs and their merge. Every run is bounded in time.

mod healthy;
mod helpers;
mod misbehaving_servers;
mod report;
mod shards;
mod usage;
