//! Settings every service shares, read from the environment.
//!
//! Each group is a clap [`clap::Args`] with `env` on every field, so `hop --help` lists the
//! variable and its default, and a bad value fails at start with a message naming the
//! variable. The original project's names are kept (`DATABASE_HOST`, `REDIS_URL`,
//! `LOG_LEVEL`, …); `DATABASE_URL` is accepted as one alternative to the parts.

use std::time::Duration;

/// Where PostgreSQL is and how hop talks to it.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "PostgreSQL")]
pub struct DatabaseArgs {
    /// Full connection URL (postgres://user:pass@host:port/db). Overrides the DATABASE_* parts.
    #[arg(
        long,
        env = "DATABASE_URL",
        value_name = "DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// PostgreSQL host.
    #[arg(
        long,
        env = "DATABASE_HOST",
        value_name = "DATABASE_HOST",
        default_value = "127.0.0.1"
    )]
    pub database_host: String,
    /// PostgreSQL port.
    #[arg(
        long,
        env = "DATABASE_PORT",
        value_name = "DATABASE_PORT",
        default_value_t = 5432
    )]
    pub database_port: u16,
    /// Database name.
    #[arg(
        long,
        env = "DATABASE_NAME",
        value_name = "DATABASE_NAME",
        default_value = "hop"
    )]
    pub database_name: String,
    /// Database user.
    #[arg(
        long,
        env = "DATABASE_USER",
        value_name = "DATABASE_USER",
        default_value = "postgres"
    )]
    pub database_user: String,
    /// Database password (empty for trust or peer authentication).
    #[arg(
        long,
        env = "DATABASE_PASSWORD",
        value_name = "DATABASE_PASSWORD",
        default_value = "",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub database_password: String,
    /// Schema that holds hop's tables (its search_path). Lets hop share a database.
    #[arg(long, env = "DATABASE_SCHEMA", value_name = "DATABASE_SCHEMA", default_value = "public", value_parser = parse_identifier)]
    pub database_schema: String,
    /// Connections per service instance.
    #[arg(long, env = "DATABASE_POOL_SIZE", value_name = "DATABASE_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_pool_size: u32,
    /// Bound on connecting, waiting for a pooled connection and on each statement, in ms.
    #[arg(long, env = "DATABASE_TIMEOUT_MS", value_name = "DATABASE_TIMEOUT_MS", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub database_timeout_ms: u64,
    /// TLS to PostgreSQL: `require` encrypts and verifies the server's certificate (against
    /// DATABASE_CA_FILE, else the system's roots); `disable` or `prefer` connect in plain
    /// text. A `sslmode` in DATABASE_URL wins.
    #[arg(long, env = "DATABASE_SSLMODE", value_name = "DATABASE_SSLMODE", default_value = "prefer", value_parser = ["disable", "prefer", "require"])]
    pub database_sslmode: String,
    /// PEM file of the CA that signed the server's certificate (managed providers publish
    /// one). Unset: the system's CA certificates.
    #[arg(long, env = "DATABASE_CA_FILE", value_name = "DATABASE_CA_FILE")]
    pub database_ca_file: Option<std::path::PathBuf>,
}

impl DatabaseArgs {
    /// The tokio-postgres configuration for serving: hop's schema on the search_path and a
    /// statement timeout of DATABASE_TIMEOUT_MS.
    pub fn pg_config(&self) -> Result<tokio_postgres::Config, ConfigError> {
        let mut config = self.base_config()?;
        config.options(format!(
            "-c search_path={} -c statement_timeout={} -c timezone=UTC",
            self.database_schema, self.database_timeout_ms
        ));
        Ok(config)
    }

    /// The configuration for migrations: no statement timeout, which a long migration on a
    /// large table would hit.
    pub fn migration_config(&self) -> Result<tokio_postgres::Config, ConfigError> {
        let mut config = self.base_config()?;
        config.options(format!(
            "-c search_path={} -c timezone=UTC",
            self.database_schema
        ));
        Ok(config)
    }

    fn base_config(&self) -> Result<tokio_postgres::Config, ConfigError> {
        let mut config = match &self.database_url {
            Some(url) => url.parse::<tokio_postgres::Config>().map_err(|e| {
                ConfigError::new("DATABASE_URL", format!("is not a PostgreSQL URL: {e}"))
            })?,
            None => {
                let mut c = tokio_postgres::Config::new();
                c.ssl_mode(match self.database_sslmode.as_str() {
                    "require" => tokio_postgres::config::SslMode::Require,
                    "disable" => tokio_postgres::config::SslMode::Disable,
                    _ => tokio_postgres::config::SslMode::Prefer,
                });
                c.host(&self.database_host)
                    .port(self.database_port)
                    .dbname(&self.database_name)
                    .user(&self.database_user);
                if !self.database_password.is_empty() {
                    c.password(&self.database_password);
                }
                c
            }
        };
        config
            .application_name("hop")
            .connect_timeout(self.timeout());
        Ok(config)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.database_timeout_ms)
    }

    /// Settings for a URL, with every other value at its default (tests and tools).
    pub fn from_url(url: &str, schema: &str) -> Self {
        Self {
            database_url: Some(url.to_owned()),
            database_host: "127.0.0.1".into(),
            database_port: 5432,
            database_name: "hop".into(),
            database_user: "postgres".into(),
            database_password: String::new(),
            database_schema: schema.to_owned(),
            database_pool_size: 8,
            database_timeout_ms: 2000,
            database_sslmode: "prefer".into(),
            database_ca_file: None,
        }
    }
}

/// Where Redis is and how hop uses it.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Redis")]
pub struct RedisArgs {
    /// Redis URL: `redis://[:password@]host:port[/db]`, or `rediss://` for TLS.
    #[arg(
        long,
        env = "REDIS_URL",
        value_name = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: String,
    /// Prefix of every key and channel hop uses, so deployments can share a Redis.
    #[arg(
        long,
        env = "REDIS_KEY_PREFIX",
        value_name = "REDIS_KEY_PREFIX",
        default_value = "hop:"
    )]
    pub redis_key_prefix: String,
    /// Bound on each Redis command, in ms. A slower Redis counts as down.
    #[arg(long, env = "REDIS_TIMEOUT_MS", value_name = "REDIS_TIMEOUT_MS", default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub redis_timeout_ms: u64,
    /// Consecutive Redis failures that open the circuit breaker (Redis is then skipped).
    #[arg(long, env = "REDIS_BREAKER_FAILURES", value_name = "REDIS_BREAKER_FAILURES", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub redis_breaker_failures: u32,
    /// How long an open breaker skips Redis before one probe call, in ms.
    #[arg(
        long,
        env = "REDIS_BREAKER_COOLDOWN_MS",
        value_name = "REDIS_BREAKER_COOLDOWN_MS",
        default_value_t = 2000
    )]
    pub redis_breaker_cooldown_ms: u64,
    /// Lifetime of a link entry in Redis, in seconds.
    #[arg(long, env = "REDIS_LINK_TTL_SECS", value_name = "REDIS_LINK_TTL_SECS", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..))]
    pub redis_link_ttl_secs: u64,
    /// PEM file of the CA that signed a rediss:// server's certificate. Unset: the
    /// system's CA certificates.
    #[arg(long, env = "REDIS_CA_FILE", value_name = "REDIS_CA_FILE")]
    pub redis_ca_file: Option<std::path::PathBuf>,
}

impl RedisArgs {
    /// Settings for a URL and key prefix, with every other value at its default.
    pub fn from_url(url: &str, prefix: &str) -> Self {
        Self {
            redis_url: url.to_owned(),
            redis_key_prefix: prefix.to_owned(),
            redis_timeout_ms: 250,
            redis_breaker_failures: 3,
            redis_breaker_cooldown_ms: 2000,
            redis_link_ttl_secs: 86_400,
            redis_ca_file: None,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Level (error, warn, info, debug, trace) or a full filter such as `info,hop_links=debug`.
    #[arg(
        long,
        env = "LOG_LEVEL",
        value_name = "LOG_LEVEL",
        default_value = "info"
    )]
    pub log_level: String,
    /// Also write logs to this file, rotated by size. Unset: stdout only.
    #[arg(long, env = "LOG_FILE_PATH", value_name = "LOG_FILE_PATH")]
    pub log_file_path: Option<std::path::PathBuf>,
    /// Rotate the log file when it would grow past this many bytes.
    #[arg(long, env = "LOG_FILE_MAX_BYTES", value_name = "LOG_FILE_MAX_BYTES", default_value_t = 10 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub log_file_max_bytes: u64,
    /// Rotated files to keep (app.log.1 … app.log.N); 0 truncates instead.
    #[arg(
        long,
        env = "LOG_FILE_BACKUP_COUNT",
        value_name = "LOG_FILE_BACKUP_COUNT",
        default_value_t = 5
    )]
    pub log_file_backup_count: u32,
    /// Name of this instance in every log line's `logger` field. Default: hostname.
    #[arg(long, env = "INSTANCE_ID", value_name = "INSTANCE_ID")]
    pub instance_id: Option<String>,
    #[command(flatten)]
    pub trace: TraceArgs,
    /// Count requests, cache lookups, RPCs and recorded clicks for /metrics. Off only to
    /// measure what that costs: those series then stand still (drops, writes and gauges
    /// still move).
    #[arg(long, env = "METRICS_ENABLED", value_name = "METRICS_ENABLED", default_value = "true", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), help_heading = "Metrics")]
    pub metrics_enabled: bool,
}

/// Traces, exported by OTLP/gRPC. The names are OpenTelemetry's own.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Traces")]
pub struct TraceArgs {
    /// OTLP/gRPC collector to send spans to, e.g. http://otel-collector:4317. Unset: no traces.
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_parser = parse_otlp_endpoint
    )]
    pub otlp_endpoint: Option<String>,
    /// Which traces to keep: always_on, always_off, traceidratio, parentbased_always_on,
    /// parentbased_always_off or parentbased_traceidratio (a caller's sampled flag wins).
    #[arg(
        long,
        env = "OTEL_TRACES_SAMPLER",
        value_name = "OTEL_TRACES_SAMPLER",
        default_value = "parentbased_traceidratio",
        value_parser = ["always_on", "always_off", "traceidratio", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"]
    )]
    pub sampler: String,
    /// The ratio of new traces kept by the *traceidratio samplers, 0 to 1.
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG", value_name = "OTEL_TRACES_SAMPLER_ARG", default_value_t = 0.05, value_parser = parse_ratio)]
    pub sampler_arg: f64,
    /// The `service.name` resource of every span. Default: `hop-<service>` (`hop` for `hop up`).
    #[arg(long, env = "OTEL_SERVICE_NAME", value_name = "OTEL_SERVICE_NAME")]
    pub service_name: Option<String>,
}

fn parse_otlp_endpoint(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s).map_err(|e| format!("is not a URL: {e}"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(s.trim_end_matches('/').to_owned()),
        _ => Err("must be an http:// or https:// URL with a host".into()),
    }
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err("must be a number from 0 to 1".into()),
    }
}

/// Where the public reaches hop.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Public address")]
pub struct PublicArgs {
    /// Base of every short URL (short_url = PUBLIC_BASE_URL/code). Links to its host are refused.
    #[arg(long, env = "PUBLIC_BASE_URL", value_name = "PUBLIC_BASE_URL", default_value = "http://localhost:8080", value_parser = parse_base_url)]
    pub public_base_url: String,
}

/// How a gRPC service (links, auth) serves.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "gRPC")]
pub struct GrpcArgs {
    /// Serve gRPC server reflection (for grpcurl). Off by default; when on, reflection
    /// calls need the service token like every RPC (`hop service-token` prints it).
    #[arg(long, env = "GRPC_REFLECTION", value_name = "GRPC_REFLECTION", default_value = "false", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub grpc_reflection: bool,
}

/// A configuration value that cannot work, named by its environment variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable} {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, message: impl Into<String>) -> Self {
        Self {
            variable,
            message: message.into(),
        }
    }
}

/// A SQL identifier safe to splice into `search_path`.
pub fn parse_identifier(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(s.to_owned())
    } else {
        Err("must be a lower-case identifier ([a-z_][a-z0-9_]*, at most 63 bytes)".into())
    }
}

/// A public base URL: absolute http(s), no query or fragment, no trailing slash.
pub fn parse_base_url(s: &str) -> Result<String, String> {
    let url = url::Url::parse(s).map_err(|e| format!("is not an absolute URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http(s) URL with a host".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_strict() {
        assert!(parse_identifier("public").is_ok());
        assert!(parse_identifier("t_1").is_ok());
        assert!(parse_identifier("x; drop table links").is_err());
        assert!(parse_identifier("1abc").is_err());
        assert!(parse_identifier("").is_err());
    }

    #[test]
    fn base_urls_lose_their_trailing_slash() {
        assert_eq!(parse_base_url("https://hop.sh/").unwrap(), "https://hop.sh");
        assert_eq!(
            parse_base_url("http://localhost:8080").unwrap(),
            "http://localhost:8080"
        );
        assert_eq!(parse_base_url("https://x.io/s/").unwrap(), "https://x.io/s");
        assert!(parse_base_url("ftp://x").is_err());
        assert!(parse_base_url("hop.sh").is_err());
        assert!(parse_base_url("https://x.io/?a=b").is_err());
    }

    #[test]
    fn a_bad_database_url_names_the_variable() {
        let args = DatabaseArgs::from_url("not a url at all ::", "public");
        let err = args.pg_config().unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
    }
}
