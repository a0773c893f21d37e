//! Writes a deterministic synthetic product feed, for the ingest memory check:
//!
//! ```sh
//! cargo run --release -p outfit-server --example feed_gen -- google-tsv 1000000 big.tsv
//! /usr/bin/time -v target/release/outfit-server ingest big.tsv --no-images \
//!     --database-url sqlite://big.db
//! ```
//!
//! Arguments: `FORMAT` (`google-xml`, `google-tsv`, `awin-csv`), `ROWS`, `OUT`,
//! and optionally the image URL prefix (default `https://img.example/p`).

use std::{io::BufWriter, process::ExitCode};

use outfit_server::feeds::{FeedFormat, synthetic};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(format), Some(rows), Some(out)) = (
        args.first().and_then(|f| FeedFormat::parse(f)),
        args.get(1).and_then(|n| n.parse::<usize>().ok()),
        args.get(2),
    ) else {
        eprintln!("usage: feed_gen google-xml|google-tsv|awin-csv ROWS OUT [IMAGE_URL_PREFIX]");
        return ExitCode::FAILURE;
    };
    let images = args.get(3).map_or("https://img.example/p", String::as_str);
    let result = std::fs::File::create(out).and_then(|file| {
        let mut w = BufWriter::new(file);
        synthetic::write_feed(&mut w, format, rows, 7, images)?;
        std::io::Write::flush(&mut w)
    });
    match result {
        Ok(()) => {
            println!("wrote {rows} rows of {} to {out}", format.as_str());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: writing {out}: {e}");
            ExitCode::FAILURE
        }
    }
}
