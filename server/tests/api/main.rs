//! Integration tests of the outfit server over a real socket, on SQLite,
//! PostgreSQL and MySQL/MariaDB (a fresh database per test; see `helpers`).

// The counting allocator makes `/metrics` report live allocations here too.
#[global_allocator]
static GLOBAL: outfit_server::alloc::Counting<std::alloc::System> =
    outfit_server::alloc::Counting::new(std::alloc::System);

/// Runs each named `async fn name(backend: Backend)` once per backend, as
/// `name::on_sqlite`, `name::on_postgres` and `name::on_mysql`.
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_sqlite() {
                    super::$name(crate::helpers::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_postgres() {
                    super::$name(crate::helpers::Backend::Postgres).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_mysql() {
                    super::$name(crate::helpers::Backend::MySql).await
                }
            }
        )*
    };
}

mod bad_input;
mod chaos;
mod feeds;
mod garments;
mod helpers;
mod openapi;
mod operations;
mod outfits;
mod overload;
mod pool_tracking;
mod rate_limit;
mod slow_clients;
mod store;
mod taste;
mod users;
