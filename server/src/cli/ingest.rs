//! `outfit-server ingest`: runs a feed ingest with progress on a terminal,
//! prints the report's summary and writes the JSON report.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use crate::{
    feeds::{self, FeedFormat, IngestOptions, Progress},
    store::Db,
};
use anyhow::Context;
use clap::Args;

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// The feed: a file path, a `file://` or an `http(s)://` URL.
    source: String,
    /// The feed's format; sniffed when not given.
    #[arg(long, value_enum)]
    format: Option<FeedFormat>,
    /// The feed's name (garments are keyed by feed and product id);
    /// defaults to the source's file name without its extension.
    #[arg(long)]
    feed: Option<String>,
    /// Write the JSON report to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Neither fetch nor analyse images (colours come from the feed's words).
    #[arg(long)]
    no_images: bool,
    /// Leave garments that this pull does not mention as they are.
    #[arg(long)]
    no_prune: bool,
    /// Image downloads at once.
    #[arg(long, default_value_t = 16)]
    image_concurrency: usize,
}

/// The feed name a source implies: `shop-a` for `.../shop-a.csv`.
fn default_feed_name(source: &str) -> String {
    let last = source
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(source);
    let last = last.split(['?', '#']).next().unwrap_or(last);
    let stem = last.split('.').next().unwrap_or(last);
    if stem.is_empty() {
        "feed".to_string()
    } else {
        stem.to_string()
    }
}

pub(crate) async fn run(db: &Db, args: &IngestArgs) -> anyhow::Result<()> {
    let feed = args
        .feed
        .clone()
        .unwrap_or_else(|| default_feed_name(&args.source));
    let mut opts = IngestOptions::new(feed);
    opts.format = args.format;
    opts.images &= !args.no_images;
    opts.prune = !args.no_prune;
    opts.fetch_concurrency = args.image_concurrency.max(1);
    if !feeds::analysis::ENABLED {
        eprintln!("note: image analysis is off: {}", feeds::analysis::status());
    }
    let progress = Arc::new(Progress::default());
    let ticker = std::io::stderr().is_terminal().then(|| {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{}", progress.view().line());
                let _ = err.flush();
            }
        })
    });
    let result = feeds::ingest(db, &args.source, &opts, progress.clone()).await;
    if let Some(t) = ticker {
        t.abort();
        eprint!("\r\x1b[2K");
    }
    let report = result.with_context(|| format!("ingesting {}", args.source))?;
    print!("{}", report.summary());
    if let Some(path) = &args.report {
        let json = serde_json::to_vec_pretty(&report)?;
        std::fs::write(path, json)
            .with_context(|| format!("writing the report to {}", path.display()))?;
        println!("report written to {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn feed_names_come_from_the_file_name() {
        assert_eq!(super::default_feed_name("data/shop-a.csv"), "shop-a");
        assert_eq!(
            super::default_feed_name("https://x.example/f/feed.xml?k=1"),
            "feed"
        );
        assert_eq!(super::default_feed_name("/"), "feed");
    }
}
