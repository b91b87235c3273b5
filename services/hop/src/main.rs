//! The `hop` command; see the `hop` library crate for what each subcommand does.

use clap::Parser;

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
