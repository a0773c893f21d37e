//! `outfit-server`: serve, seed, migrate or ingest a feed. See `outfit_server::cli`.

outfit_server::global_allocator!();

fn main() -> std::process::ExitCode {
    outfit_server::cli::main()
}
