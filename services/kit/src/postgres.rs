//! PostgreSQL: the connection pool every service uses, and the schema migrations embedded
//! in the binary (applied by `hop migrate` and `hop up`).

use crate::config::{ConfigError, parse_identifier};
use anyhow::Context as _;
use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod, Runtime};
use std::time::Duration;
use tokio_postgres::NoTls;

pub use deadpool_postgres::Pool;

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
    /// PostgreSQL host (127.0.0.1 when only the other DATABASE_* parts are set). With
    /// neither DATABASE_URL nor DATABASE_HOST, `hop up` keeps everything in an embedded
    /// SQLite file (HOP_DATA_DIR/hop.db) and `hop serve` refuses to start.
    #[arg(long, env = "DATABASE_HOST", value_name = "DATABASE_HOST")]
    pub database_host: Option<String>,
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
    /// Read replicas (postgres:// URLs, comma-separated) for reads that may be a moment
    /// behind: redirect's lookups of codes no cache holds, and click statistics. Each is
    /// taken out of rotation while it fails or lags; a code not found on one is looked up
    /// on the primary. The other DATABASE_* settings (schema, pool size, timeouts, TLS)
    /// apply to them too.
    #[arg(
        long,
        env = "DATABASE_READ_URL",
        value_name = "DATABASE_READ_URL",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub database_read_url: Vec<String>,
    /// How far behind a read replica may replay, in ms, before it is taken out of rotation.
    #[arg(long, env = "DATABASE_READ_MAX_LAG_MS", value_name = "DATABASE_READ_MAX_LAG_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub database_read_max_lag_ms: u64,
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
                c.host(self.database_host.as_deref().unwrap_or("127.0.0.1"))
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

    /// Whether PostgreSQL was asked for: DATABASE_URL or DATABASE_HOST is set.
    pub fn is_set(&self) -> bool {
        self.database_url.is_some() || self.database_host.is_some()
    }

    /// These settings, which must name a PostgreSQL (for the commands that have no other
    /// database: `hop serve`, `hop migrate`, `hop users`).
    pub fn require(&self, command: &str) -> Result<&Self, ConfigError> {
        if self.is_set() {
            return Ok(self);
        }
        Err(ConfigError::new(
            "DATABASE_URL",
            format!(
                "is not set (nor DATABASE_HOST): `{command}` needs PostgreSQL. Set \
                 DATABASE_URL=postgres://user:password@host:5432/hop (or DATABASE_HOST and the \
                 other DATABASE_* parts); `hop up` alone runs without it, on an embedded SQLite \
                 file in HOP_DATA_DIR"
            ),
        ))
    }

    /// Settings for a URL, with every other value at its default (tests and tools).
    pub fn from_url(url: &str, schema: &str) -> Self {
        Self {
            database_url: Some(url.to_owned()),
            database_host: None,
            database_port: 5432,
            database_name: "hop".into(),
            database_user: "postgres".into(),
            database_password: String::new(),
            database_schema: schema.to_owned(),
            database_pool_size: 8,
            database_timeout_ms: 2000,
            database_sslmode: "prefer".into(),
            database_ca_file: None,
            database_read_url: Vec::new(),
            database_read_max_lag_ms: 5000,
        }
    }
}

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// A pool that connects lazily: building it never touches the network, so a service starts
/// (and reports itself not ready) while Postgres is down.
pub fn pool(args: &DatabaseArgs) -> Result<Pool, ConfigError> {
    pool_of(args, args.database_pool_size as usize)
}

/// Like [`pool`], with `size` connections instead of DATABASE_POOL_SIZE: for a task that
/// wants connections of its own (the click writer keeps one, so its large COPY and
/// upsert buffers live in one connection rather than in every pooled one).
pub fn pool_of(args: &DatabaseArgs, size: usize) -> Result<Pool, ConfigError> {
    let config = args.pg_config()?;
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match tls(args, &config)? {
        Some(tls) => Manager::from_config(config, tls, manager_config),
        None => Manager::from_config(config, NoTls, manager_config),
    };
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(args.timeout()))
        .create_timeout(Some(args.timeout()))
        .recycle_timeout(Some(args.timeout()))
        .build()
        .map_err(|e| ConfigError::new("DATABASE_POOL_SIZE", format!("cannot build the pool: {e}")))
}

/// Registers the pool's gauges in `registry`, read from the pool at every scrape:
/// `hop_postgres_pool_connections{state="in_use"|"idle"}`,
/// `hop_postgres_pool_max_connections` and `hop_postgres_pool_waiting_requests` (callers
/// queued for a connection, the first sign of saturation).
pub fn register_metrics(pool: &Pool, registry: &prometheus::Registry) {
    let collector = PoolCollector::new(pool.clone());
    registry
        .register(Box::new(collector))
        .expect("the pool's metrics are registered once per registry");
}

struct PoolCollector {
    pool: Pool,
    connections: prometheus::IntGaugeVec,
    max: prometheus::IntGauge,
    waiting: prometheus::IntGauge,
}

impl PoolCollector {
    fn new(pool: Pool) -> Self {
        Self {
            pool,
            connections: prometheus::IntGaugeVec::new(
                prometheus::Opts::new(
                    "hop_postgres_pool_connections",
                    "Pooled Postgres connections by state",
                ),
                &["state"],
            )
            .expect("valid metric"),
            max: prometheus::IntGauge::new(
                "hop_postgres_pool_max_connections",
                "The pool's size limit (DATABASE_POOL_SIZE)",
            )
            .expect("valid metric"),
            waiting: prometheus::IntGauge::new(
                "hop_postgres_pool_waiting_requests",
                "Callers waiting for a pooled connection",
            )
            .expect("valid metric"),
        }
    }
}

impl prometheus::core::Collector for PoolCollector {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        let mut descs = self.connections.desc();
        descs.extend(self.max.desc());
        descs.extend(self.waiting.desc());
        descs
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let status = self.pool.status();
        let idle = status.available as i64;
        self.connections.with_label_values(&["idle"]).set(idle);
        self.connections
            .with_label_values(&["in_use"])
            .set(status.size as i64 - idle);
        self.max.set(status.max_size as i64);
        self.waiting.set(status.waiting as i64);
        let mut families = self.connections.collect();
        families.extend(self.max.collect());
        families.extend(self.waiting.collect());
        families
    }
}

/// The TLS connector when the configuration asks for TLS (`sslmode=require`), else `None`
/// (plain text). `prefer`, libpq's default, is plain text here: hop does not guess, and
/// a connection that should be encrypted says so.
fn tls(
    args: &DatabaseArgs,
    config: &tokio_postgres::Config,
) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>, ConfigError> {
    if config.get_ssl_mode() != tokio_postgres::config::SslMode::Require {
        return Ok(None);
    }
    let client = crate::tls::client_config(args.database_ca_file.as_deref(), "DATABASE_CA_FILE")?;
    Ok(Some(tokio_postgres_rustls::MakeRustlsConnect::new(client)))
}

/// A health probe: one round trip on a pooled connection.
pub async fn ping(pool: &Pool) -> Result<(), String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    client
        .simple_query("SELECT 1")
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Whether `error` means the database is unreachable or overloaded (connection trouble,
/// too many connections, a statement cancelled by `statement_timeout`) rather than a bug:
/// the caller should answer "unavailable, retry", not "internal error".
pub fn is_transient(error: &tokio_postgres::Error) -> bool {
    use std::error::Error as _;
    error.is_closed()
        || match error.as_db_error() {
            None => error.source().is_some_and(|s| s.is::<std::io::Error>()),
            Some(db) => matches!(&db.code().code()[..2], "08" | "53" | "57"),
        }
}

/// Whether `error` is a unique violation of `constraint`.
pub fn is_unique_violation(error: &tokio_postgres::Error, constraint: &str) -> bool {
    error.as_db_error().is_some_and(|db| {
        *db.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION
            && db.constraint() == Some(constraint)
    })
}

/// Applies every pending migration; returns how many ran.
///
/// Creates the database and schema when they do not exist yet (so `hop up` works on a fresh
/// Postgres) and holds an advisory lock, so instances starting together migrate once.
pub async fn migrate(args: &DatabaseArgs) -> anyhow::Result<usize> {
    let config = args.migration_config()?;
    let tls = tls(args, &config)?;
    let mut client = match connect(&config, tls.as_ref()).await {
        Ok(client) => client,
        Err(e) if is_missing_database(&e) => {
            create_database(&config, tls.as_ref()).await?;
            connect(&config, tls.as_ref()).await?
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("connecting to PostgreSQL at {}", describe(&config)));
        }
    };
    let schema = &args.database_schema;
    // One lock per schema: instances of one deployment migrate once, while separate
    // schemas (test runs) migrate side by side.
    let lock = format!("hashtext('hop.migrations.{schema}')");
    client
        .batch_execute(&format!("SELECT pg_advisory_lock({lock})"))
        .await
        .context("taking the migration lock")?;
    if let Err(e) = client
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .await
    {
        let _ = client
            .batch_execute(&format!("SELECT pg_advisory_unlock({lock})"))
            .await;
        return Err(e).context("creating the schema");
    }
    let report = embedded::migrations::runner()
        .run_async(&mut client)
        .await
        .context("applying migrations");
    let _ = client
        .batch_execute(&format!("SELECT pg_advisory_unlock({lock})"))
        .await;
    let applied = report?.applied_migrations().len();
    tracing::info!(applied, schema = %schema, "migrations_applied");
    Ok(applied)
}

async fn connect(
    config: &tokio_postgres::Config,
    tls: Option<&tokio_postgres_rustls::MakeRustlsConnect>,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let client = match tls {
        Some(tls) => {
            let (client, connection) = config.connect(tls.clone()).await?;
            spawn_connection(connection);
            client
        }
        None => {
            let (client, connection) = config.connect(NoTls).await?;
            spawn_connection(connection);
            client
        }
    };
    Ok(client)
}

fn spawn_connection<F>(connection: F)
where
    F: Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "migration_connection_closed");
        }
    });
}

fn is_missing_database(e: &tokio_postgres::Error) -> bool {
    e.as_db_error()
        .is_some_and(|db| *db.code() == tokio_postgres::error::SqlState::INVALID_CATALOG_NAME)
}

async fn create_database(
    config: &tokio_postgres::Config,
    tls: Option<&tokio_postgres_rustls::MakeRustlsConnect>,
) -> anyhow::Result<()> {
    let name = config.get_dbname().unwrap_or("hop").to_owned();
    crate::config::parse_identifier(&name)
        .map_err(|e| ConfigError::new("DATABASE_NAME", format!("cannot be created: {e}")))?;
    let mut admin = config.clone();
    admin.dbname("postgres");
    let client = connect(&admin, tls).await.with_context(|| {
        format!("database {name} does not exist and the postgres database is unreachable")
    })?;
    match client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
    {
        Ok(()) => {
            tracing::info!(database = %name, "database_created");
            Ok(())
        }
        // Another instance created it first.
        Err(e)
            if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE)
                || e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
        {
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("creating database {name}")),
    }
}

fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_default();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""))
}

/// A temporary table that bulk rows are copied into (binary `COPY`) inside a transaction,
/// before one set-based statement moves them where they belong. The owner of the target
/// table defines it, so its columns are written down once.
#[derive(Debug, Clone, Copy)]
pub struct StageTable {
    /// `CREATE TEMP TABLE ... ON COMMIT DROP`.
    pub create: &'static str,
    /// `COPY ... FROM STDIN BINARY`, naming the columns in the order of `types`.
    pub copy: &'static str,
    /// The copied columns' types.
    pub types: &'static [tokio_postgres::types::Type],
}

#[cfg(test)]
mod args_tests {
    use super::*;

    #[test]
    fn a_bad_database_url_names_the_variable() {
        let args = DatabaseArgs::from_url("not a url at all ::", "public");
        let err = args.pg_config().unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
    }
}
