//! The command line: every setting is a flag and an environment variable, and `--help`
//! lists each with its default.

use clap::{Args, Parser, Subcommand};
use hop_auth::Settings as AuthSettings;
use hop_gateway::Settings as ApiSettings;
use hop_kit::config::PublicArgs;
use hop_kit::grpc::GrpcArgs;
use hop_kit::grpc_tls::GrpcTlsArgs;
use hop_kit::postgres::DatabaseArgs;
use hop_kit::redis::RedisArgs;
use hop_kit::secret::{DataDirArgs, SecretArgs};
use hop_kit::serve::HttpLimits;
use hop_kit::telemetry::LogArgs;
use hop_links::TargetSettings;
use hop_redirect::{CacheSettings, ClickSettings};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "hop",
    version,
    about = "hop: a fast, self-hosted URL shortener",
    long_about = "hop: a fast, self-hosted URL shortener, built as split read/write services.\n\n\
                  `hop up` runs every service in one process behind one port, the web app at `/` \
                  included. `hop serve <service>` \
                  runs one, so each scales on its own. Every setting is also an environment \
                  variable; see the [env: …] of each flag.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every service in one process behind one port (applies migrations first); open
    /// its address in a browser for the web app
    Up(Box<UpArgs>),
    /// Run one service on its own
    #[command(subcommand)]
    Serve(ServeCommand),
    /// Apply pending database migrations and exit
    Migrate(Box<MigrateArgs>),
    /// Import the original system's CSV export (users, urls, events) into PostgreSQL, or the
    /// embedded store when no PostgreSQL is set; safe to run twice
    Import(Box<ImportArgs>),
    /// Copy the embedded store (HOP_DATA_DIR/hop.db) to FILE, consistent as of one moment,
    /// while `hop up` keeps running (SQLite's online backup; FILE must not exist)
    Backup(Box<BackupArgs>),
    /// Copy everything of the embedded store into PostgreSQL (checked first, in one
    /// transaction, safe to run twice), to move a `hop up` onto PostgreSQL with its users,
    /// codes and stats. Stop `hop up` first.
    CopyToPostgres(Box<CopyArgs>),
    /// Manage accounts
    #[command(subcommand)]
    Users(UsersCommand),
    /// Print the service token internal gRPC calls carry (derived from SECRET_KEY), for
    /// `grpcurl -H "x-hop-service-token: $(hop service-token)" ...`
    ServiceToken(Box<ServiceTokenArgs>),
    /// Exit 0 if URL answers 2xx within the timeout, 1 otherwise: a container healthcheck
    /// for images without curl (`hop probe http://127.0.0.1:8080/health/ready`)
    Probe(ProbeArgs),
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// An http:// URL to GET (plain HTTP/1.1; no TLS).
    #[arg(value_name = "URL")]
    pub url: String,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub timeout_ms: u64,
}

#[derive(Debug, Args)]
pub struct ServiceTokenArgs {
    #[command(flatten)]
    pub secret: SecretArgs,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Set a user's password, read from the first line of standard input (imported users
    /// have none until this is run): `echo 'new password' | hop users set-password ada@example.com`
    SetPassword(Box<SetPasswordArgs>),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Folder holding seed-users.csv, seed-urls.csv and seed-events.csv.
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: std::path::PathBuf,
    /// The users file (default: DIR/seed-users.csv).
    #[arg(long, value_name = "FILE")]
    pub users: Option<std::path::PathBuf>,
    /// The urls file (default: DIR/seed-urls.csv).
    #[arg(long, value_name = "FILE")]
    pub urls: Option<std::path::PathBuf>,
    /// The events file (default: DIR/seed-events.csv).
    #[arg(long, value_name = "FILE")]
    pub events: Option<std::path::PathBuf>,
    /// Do not draw the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// With no PostgreSQL set, the import goes into the embedded store here (stop `hop up`
    /// first).
    #[command(flatten)]
    pub data: DataDirArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The copy to write (a new file, mode 0600). Restore it by stopping `hop up` and
    /// putting it in place of HOP_DATA_DIR/hop.db.
    #[arg(value_name = "FILE")]
    pub file: std::path::PathBuf,
    #[command(flatten)]
    pub data: DataDirArgs,
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// Also copy sessions and refresh tokens, so logged-in users stay logged in (with the
    /// same SECRET_KEY or HOP_DATA_DIR/secret).
    #[arg(long)]
    pub sessions: bool,
    /// Do not draw the progress bar.
    #[arg(long)]
    pub no_progress: bool,
    #[command(flatten)]
    pub data: DataDirArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Args)]
pub struct SetPasswordArgs {
    /// The account's email.
    #[arg(value_name = "EMAIL")]
    pub email: String,
    /// With no PostgreSQL set, the account is in the embedded store here (a running
    /// `hop up` may keep running).
    #[command(flatten)]
    pub data: DataDirArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// The public HTTP API (/links*, /auth/*, /health*, /metrics)
    Gateway(Box<GatewayArgs>),
    /// The write service (gRPC hop.links.v1.LinkService)
    Links(Box<LinksArgs>),
    /// The read service (GET|HEAD /{code})
    Redirect(Box<RedirectArgs>),
    /// Users, passwords, tokens and sessions (gRPC hop.auth.v1.AuthService)
    Auth(Box<AuthArgs>),
}

/// How long a stopping service waits for in-flight requests.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Lifecycle")]
pub struct LifecycleArgs {
    /// Seconds to drain in-flight requests after SIGTERM/SIGINT before exiting anyway.
    #[arg(
        long,
        env = "SHUTDOWN_GRACE_SECS",
        value_name = "SHUTDOWN_GRACE_SECS",
        default_value_t = 10
    )]
    pub shutdown_grace_secs: u64,
}

impl LifecycleArgs {
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address to listen on.
    #[arg(long, env = "HOST", value_name = "HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", value_name = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// Base of every short URL. Default: http://localhost:<PORT> (http://<HOST>:<PORT> when HOST is not loopback).
    #[arg(long, env = "PUBLIC_BASE_URL", value_name = "PUBLIC_BASE_URL", value_parser = hop_kit::config::parse_base_url)]
    pub public_base_url: Option<String>,
    #[command(flatten)]
    pub secret: SecretArgs,
    #[command(flatten)]
    pub data: DataDirArgs,
    #[command(flatten)]
    pub targets: TargetSettings,
    #[command(flatten)]
    pub api: ApiSettings,
    #[command(flatten)]
    pub auth: AuthSettings,
    #[command(flatten)]
    pub cache: CacheSettings,
    #[command(flatten)]
    pub clicks: ClickSettings,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
    #[command(flatten)]
    pub http: HttpLimits,
}

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// Address to listen on.
    #[arg(long, env = "HOST", value_name = "HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on.
    #[arg(long, env = "PORT", value_name = "PORT", default_value_t = 8080)]
    pub port: u16,
    /// The links service's gRPC address.
    #[arg(
        long,
        env = "LINKS_GRPC_URL",
        value_name = "LINKS_GRPC_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub links_grpc_url: String,
    /// The auth service's gRPC address.
    #[arg(
        long,
        env = "AUTH_GRPC_URL",
        value_name = "AUTH_GRPC_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub auth_grpc_url: String,
    #[command(flatten)]
    pub public: PublicArgs,
    #[command(flatten)]
    pub secret: SecretArgs,
    #[command(flatten)]
    pub tls: GrpcTlsArgs,
    #[command(flatten)]
    pub api: ApiSettings,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
    #[command(flatten)]
    pub http: HttpLimits,
}

#[derive(Debug, Args)]
pub struct LinksArgs {
    /// Address to listen on (gRPC and admin).
    #[arg(long, env = "HOST", value_name = "HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// gRPC port.
    #[arg(long, env = "PORT", value_name = "PORT", default_value_t = 50051)]
    pub port: u16,
    /// Admin HTTP port (/health*, /metrics).
    #[arg(
        long,
        env = "ADMIN_PORT",
        value_name = "ADMIN_PORT",
        default_value_t = 9091
    )]
    pub admin_port: u16,
    #[command(flatten)]
    pub public: PublicArgs,
    #[command(flatten)]
    pub targets: TargetSettings,
    #[command(flatten)]
    pub secret: SecretArgs,
    #[command(flatten)]
    pub grpc: GrpcArgs,
    #[command(flatten)]
    pub tls: GrpcTlsArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
}

#[derive(Debug, Args)]
pub struct RedirectArgs {
    /// Address to listen on.
    #[arg(long, env = "HOST", value_name = "HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (redirects, /health*, /metrics).
    #[arg(long, env = "PORT", value_name = "PORT", default_value_t = 8081)]
    pub port: u16,
    #[command(flatten)]
    pub cache: CacheSettings,
    #[command(flatten)]
    pub clicks: ClickSettings,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
    #[command(flatten)]
    pub http: HttpLimits,
}

#[derive(Debug, Args)]
pub struct AuthArgs {
    /// Address to listen on (gRPC and admin).
    #[arg(long, env = "HOST", value_name = "HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// gRPC port.
    #[arg(long, env = "PORT", value_name = "PORT", default_value_t = 50052)]
    pub port: u16,
    /// Admin HTTP port (/health*, /metrics).
    #[arg(
        long,
        env = "ADMIN_PORT",
        value_name = "ADMIN_PORT",
        default_value_t = 9092
    )]
    pub admin_port: u16,
    #[command(flatten)]
    pub secret: SecretArgs,
    #[command(flatten)]
    pub grpc: GrpcArgs,
    #[command(flatten)]
    pub tls: GrpcTlsArgs,
    #[command(flatten)]
    pub auth: AuthSettings,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

pub fn addr(host: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(host, port)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = Cli::try_parse_from(["hop", "serve", "redirect", "--database-port", "abc"])
            .unwrap_err();
        assert!(err.to_string().contains("DATABASE_PORT"), "{err}");
        let err = Cli::try_parse_from(["hop", "up", "--public-base-url", "ftp://x"]).unwrap_err();
        assert!(err.to_string().contains("PUBLIC_BASE_URL"), "{err}");
        let err = Cli::try_parse_from(["hop", "up", "--cache-l1-enabled", "maybe"]).unwrap_err();
        assert!(err.to_string().contains("CACHE_L1_ENABLED"), "{err}");
    }
}
