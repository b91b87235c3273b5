//! The `hop` command; see the `hop` library crate for what each subcommand does.

use clap::Parser;

/// jemalloc instead of glibc's malloc: with glibc, the redirect service's L1 cache and
/// the click writer's buffers held about twice their live heap as RSS (per-thread arenas
/// that are not given back). Its options are built in (`.cargo/config.toml`): freed pages
/// go back to the system after about a second, from a background thread. See "Click
/// buffer memory" in docs/capacity-plan.md.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = hop::cli::Cli::parse();
    match hop::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
