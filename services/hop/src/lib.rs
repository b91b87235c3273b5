//! hop: the one binary. It runs every service in one process behind one port (`hop up`),
//! or one service on its own (`hop serve <service>`), and applies the schema (`hop
//! migrate`). The services themselves are libraries (hop-gateway, hop-links,
//! hop-redirect, hop-auth); this crate only parses the configuration and starts them.
//!
//! # Layout
//!
//! - [`cli`]: the clap definition: every flag is also an environment variable.
//! - [`serve`]: `hop serve <service>`, `hop migrate`, `hop backup` and the account
//!   commands.
//! - [`import`]: `hop import`, the original system's CSV export into hop.
//! - [`copy`]: `hop copy-to-postgres`, the embedded store into PostgreSQL.
//! - [`probe`]: `hop probe URL`, the containers' healthcheck.
//! - [`up`]: `hop up`: the services in one process, with a front listener that routes like
//!   the production edge (`/links*`, `/auth*`, `/health*`, `/metrics` to the gateway, every
//!   other GET/HEAD to redirect).

pub mod cli;
pub mod copy;
pub mod import;
pub mod probe;
pub mod serve;
pub mod up;

/// Runs the parsed command to completion.
pub async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    use cli::{Command, ServeCommand};
    match cli.command {
        Command::Up(args) => up::main(*args).await,
        Command::Serve(ServeCommand::Gateway(args)) => serve::gateway(*args).await,
        Command::Serve(ServeCommand::Links(args)) => serve::links(*args).await,
        Command::Serve(ServeCommand::Redirect(args)) => serve::redirect(*args).await,
        Command::Serve(ServeCommand::Auth(args)) => serve::auth(*args).await,
        Command::Migrate(args) => serve::migrate(*args).await,
        Command::Import(args) => serve::import(*args).await,
        Command::Backup(args) => serve::backup(&args),
        Command::CopyToPostgres(args) => copy::run(*args).await,
        Command::Users(cli::UsersCommand::SetPassword(args)) => serve::set_password(*args).await,
        Command::Probe(args) => probe::run(&args).await,
        Command::ServiceToken(args) => serve::service_token(*args),
    }
}
