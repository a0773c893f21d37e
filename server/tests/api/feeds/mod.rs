//! Datafeed ingest: every format with bad rows mixed in, re-ingest on each
//! backend, image analysis of drawn pictures served over loopback, the admin
//! routes, and properties of the parsers.

mod admin;
mod fixtures;
mod formats;
#[cfg(feature = "opencv")]
mod images;
mod props;
mod store;
