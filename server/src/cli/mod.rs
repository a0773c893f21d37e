//! The `outfit-server` command line: serve, seed, migrate or ingest a feed.
//!
//! It lives in the library so that other programs can serve the same app
//! with middleware of their own around the handlers ([`main_with`]): the
//! defect examples that prove the release gate are built that way, and the
//! production binary ships no switch for them.

use std::{io::Write, net::SocketAddr, path::PathBuf, process::ExitCode};

mod ingest;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::{
    Application,
    api::HandlerLayer,
    config::{LogFormat, Settings},
    startup,
    store::Db,
    telemetry,
};

/// The start of the one stdout line that tools wait for: `listening on http://ADDR`.
pub const READY_PREFIX: &str = "listening on ";

#[derive(Debug, Parser)]
#[command(
    name = "outfit-server",
    version,
    about = "The Spikeproof outfit server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (seeds a synthetic catalog on first start).
    Serve {
        #[command(flatten)]
        common: Common,
        /// Address to listen on; `127.0.0.1:0` picks a free port.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Garments to seed when the catalog is empty.
        #[arg(long)]
        seed_garments: Option<usize>,
        /// Turn the fault hooks on (faults can then be added through the admin API).
        #[arg(long)]
        chaos: bool,
        /// A fault active from start-up, e.g. `leak-memory:bytes=3` (repeatable; implies --chaos).
        #[arg(long = "chaos-fault", value_name = "SPEC")]
        chaos_faults: Vec<String>,
    },
    /// Write a deterministic synthetic catalog.
    Seed {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        garments: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Apply database migrations.
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Ingest a product datafeed (Google Merchant RSS/Atom/TSV, Awin CSV) into the catalog.
    Ingest {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: ingest::IngestArgs,
    },
}

#[derive(Debug, Args)]
struct Common {
    /// A TOML settings file (`APP_*` variables override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// `sqlite://PATH`, `postgres://...`
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
}

impl Common {
    fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = Settings::load(self.config.as_deref())?;
        if let Some(url) = &self.database_url {
            settings.database_url = url.clone().into();
        }
        if let Some(format) = self.log_format {
            settings.log_format = format;
        }
        settings.validate()?;
        Ok(settings)
    }
}

/// Runs the command line of `outfit-server`.
pub fn main() -> ExitCode {
    main_with(None)
}

/// Runs the command line with `layer` around the admitted routes' handlers.
pub fn main_with(layer: Option<HandlerLayer>) -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, layer)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, layer: Option<HandlerLayer>) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            common,
            listen,
            seed_garments,
            chaos,
            chaos_faults,
        } => {
            let mut settings = common.settings()?;
            if let Some(listen) = listen {
                settings.listen = listen;
            }
            if let Some(n) = seed_garments {
                settings.seed_garments = n;
            }
            settings.chaos.enabled |= chaos;
            settings.chaos.faults.extend(chaos_faults);
            settings.validate()?;
            telemetry::init_tracing(settings.log_format);
            raise_open_file_limit();
            let app = Application::build(settings)
                .await?
                .with_handler_layer(layer);
            let addr = app.local_addr();
            // tokio sizes its workers from the cores the process may use, a
            // cgroup's CPU quota included (TOKIO_WORKER_THREADS overrides it)
            let workers = tokio::runtime::Handle::current().metrics().num_workers();
            tracing::info!(%addr, workers, "serving");
            // the one stdout line that tools wait for
            let mut out = std::io::stdout().lock();
            writeln!(out, "{READY_PREFIX}http://{addr}")?;
            out.flush()?;
            drop(out);
            app.run_until_stopped(startup::shutdown_signal()).await
        }
        Command::Seed {
            common,
            garments,
            seed,
        } => {
            let settings = common.settings()?;
            telemetry::init_tracing(settings.log_format);
            let db = connect(&settings).await?;
            let written = startup::seed_catalog(&db, garments, seed).await?;
            db.close().await;
            println!("seeded {written} garments (seed {seed})");
            Ok(())
        }
        Command::Ingest { common, args } => {
            let settings = common.settings()?;
            telemetry::init_tracing(settings.log_format);
            let db = connect(&settings).await?;
            let result = ingest::run(&db, &args).await;
            db.close().await;
            result
        }
        Command::Migrate { common } => {
            let settings = common.settings()?;
            telemetry::init_tracing(settings.log_format);
            let db = connect(&settings).await?;
            db.close().await;
            println!("migrations applied ({})", db.backend().name());
            Ok(())
        }
    }
}

async fn connect(settings: &Settings) -> anyhow::Result<Db> {
    let metrics = telemetry::Metrics::new();
    let db = Db::connect(&settings.database_url, &settings.pool, metrics)
        .await
        .context("connecting to the database")?;
    db.migrate().await.context("migrating the database")?;
    Ok(db)
}

/// A burst of connections must never make `accept` fail with EMFILE.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open file limit"),
    }
}
