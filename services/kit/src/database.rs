//! The database a service runs on: PostgreSQL (a pool per service instance) or the
//! embedded SQLite file that `hop up` uses when no PostgreSQL is configured. A closed
//! enum: each owner of a contract (links, accounts, the read model's source, clicks,
//! import) matches on it and keeps one implementation per backend beside the other.

use crate::config::ConfigError;
use crate::postgres::{DatabaseArgs, Pool};
use crate::sqlite::Sqlite;
use std::time::Duration;

/// Which database a service is given, before it connects.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "built once per service at start; a box would only add an indirection"
)]
pub enum DatabaseConfig {
    /// Connect a pool of its own with these settings.
    Postgres(DatabaseArgs),
    /// Share this embedded store (one writer for every service of the process).
    Sqlite(Sqlite),
}

impl From<DatabaseArgs> for DatabaseConfig {
    fn from(args: DatabaseArgs) -> Self {
        Self::Postgres(args)
    }
}

impl From<Sqlite> for DatabaseConfig {
    fn from(db: Sqlite) -> Self {
        Self::Sqlite(db)
    }
}

/// A service's database, connected.
#[derive(Clone)]
pub enum Database {
    Postgres(Pool),
    Sqlite(Sqlite),
}

/// How long one statement may take on the embedded store before its caller gives up.
const SQLITE_TIMEOUT: Duration = Duration::from_secs(5);

impl DatabaseConfig {
    /// PostgreSQL, which a service run on its own (`hop serve`) requires: the services of
    /// a split deployment share it. Unset, the error says so and what to set.
    pub fn postgres(args: &DatabaseArgs, command: &str) -> Result<Self, ConfigError> {
        Ok(Self::Postgres(args.require(command)?.clone()))
    }

    /// The service's database: a lazily connecting pool of DATABASE_POOL_SIZE, or the
    /// shared embedded store. Touches no network.
    pub fn connect(&self) -> Result<Database, ConfigError> {
        match self {
            Self::Postgres(args) => Ok(Database::Postgres(crate::postgres::pool(args)?)),
            Self::Sqlite(db) => Ok(Database::Sqlite(db.clone())),
        }
    }

    /// Like [`Self::connect`], with a PostgreSQL pool of `size` (a task that wants
    /// connections of its own, like the click writer). The embedded store is shared.
    pub fn connect_with(&self, size: usize) -> Result<Database, ConfigError> {
        match self {
            Self::Postgres(args) => Ok(Database::Postgres(crate::postgres::pool_of(args, size)?)),
            Self::Sqlite(db) => Ok(Database::Sqlite(db.clone())),
        }
    }

    /// The bound on one statement (DATABASE_TIMEOUT_MS on PostgreSQL).
    pub fn timeout(&self) -> Duration {
        match self {
            Self::Postgres(args) => args.timeout(),
            Self::Sqlite(_) => SQLITE_TIMEOUT,
        }
    }
}

impl Database {
    /// The dependency's name in health checks and `hop_dependency_up`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), String> {
        match self {
            Self::Postgres(pool) => crate::postgres::ping(pool).await,
            Self::Sqlite(db) => db.ping().await,
        }
    }

    /// The pool's gauges on PostgreSQL; the writer's (disk full, failed commits) on the
    /// embedded store.
    pub fn register_metrics(&self, registry: &prometheus::Registry) {
        match self {
            Self::Postgres(pool) => crate::postgres::register_metrics(pool, registry),
            Self::Sqlite(db) => db.health().register(registry),
        }
    }

    /// Closes the pool; the embedded store closes when its last handle goes.
    pub fn close(&self) {
        if let Self::Postgres(pool) = self {
            pool.close();
        }
    }
}
