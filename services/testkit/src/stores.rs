//! The stores a suite runs against, chosen by `HOP_TEST_BACKEND`: PostgreSQL and Redis
//! (unset or `postgres`: a schema and a key prefix of the test's own), or the embedded
//! SQLite store and the in-process bus that `hop up` uses without them (`sqlite`: a file
//! in a temporary directory of the test's own). One suite, run once per backend by
//! `scripts/test.sh`; a test that is about PostgreSQL or Redis themselves asks for
//! [`TestStores::servers`].

use crate::TestDb;

/// Runs each named test once per backend, as `postgres::<name>` and `sqlite::<name>`: each
/// `async fn <name>(stores: TestStores)` of the calling module is given
/// [`TestStores::servers`], then [`TestStores::embedded`]. One body, both backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::TestStores::servers().await).await
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::TestStores::embedded()).await
                }
            )*
        }
    };
}
use hop_kit::database::DatabaseConfig;
use hop_kit::redis::RedisArgs;
use hop_kit::shared::{Bus, SharedConfig};
use hop_kit::sqlite::Sqlite;

/// Which backend `HOP_TEST_BACKEND` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Servers,
    Embedded,
}

impl Backend {
    /// `HOP_TEST_BACKEND`: `postgres` (or unset) or `sqlite`; anything else is a mistake
    /// in the test command, and panics.
    pub fn from_env() -> Self {
        match std::env::var("HOP_TEST_BACKEND").as_deref() {
            Err(_) | Ok("") | Ok("postgres") => Self::Servers,
            Ok("sqlite") => Self::Embedded,
            Ok(other) => panic!("HOP_TEST_BACKEND={other}: expected postgres or sqlite"),
        }
    }
}

/// A test's database and shared state, isolated from every other test's.
pub enum TestStores {
    /// A migrated schema in the test PostgreSQL, and the test Redis under a fresh prefix.
    Servers {
        db: Box<TestDb>,
        redis: Box<RedisArgs>,
    },
    /// An embedded store in a directory removed at the end, and a bus of its own.
    Embedded {
        sqlite: Sqlite,
        bus: Bus,
        _dir: tempfile::TempDir,
    },
}

impl TestStores {
    /// The backend `HOP_TEST_BACKEND` names.
    pub async fn new() -> Self {
        match Backend::from_env() {
            Backend::Servers => Self::servers().await,
            Backend::Embedded => Self::embedded(),
        }
    }

    /// PostgreSQL and Redis whatever the run's backend (tests of those servers' failures).
    pub async fn servers() -> Self {
        Self::on_redis(crate::redis_args()).await
    }

    /// PostgreSQL and the Redis that `redis` names.
    pub async fn on_redis(redis: RedisArgs) -> Self {
        Self::Servers {
            db: Box::new(TestDb::new().await),
            redis: Box::new(redis),
        }
    }

    /// The embedded store and an in-process bus.
    pub fn embedded() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let sqlite = Sqlite::open(&dir.path().join("hop-data"))
            .unwrap_or_else(|e| panic!("opening a test store: {e}"));
        Self::Embedded {
            sqlite,
            bus: Bus::new(),
            _dir: dir,
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Servers { .. } => Backend::Servers,
            Self::Embedded { .. } => Backend::Embedded,
        }
    }

    /// The database every service of the test shares.
    pub fn database(&self) -> DatabaseConfig {
        match self {
            Self::Servers { db, .. } => DatabaseConfig::Postgres(db.args.clone()),
            Self::Embedded { sqlite, .. } => DatabaseConfig::Sqlite(sqlite.clone()),
        }
    }

    /// The shared state every service of the test shares.
    pub fn shared(&self) -> SharedConfig {
        match self {
            Self::Servers { redis, .. } => SharedConfig::Redis(RedisArgs::clone(redis)),
            Self::Embedded { bus, .. } => SharedConfig::InProcess(bus.clone()),
        }
    }

    /// The Redis settings, for a test that inspects Redis itself; panics on the embedded
    /// backend (such a test runs on [`TestStores::servers`]).
    pub fn redis(&self) -> &RedisArgs {
        match self {
            Self::Servers { redis, .. } => redis,
            Self::Embedded { .. } => {
                panic!("this test needs Redis: build it on TestStores::servers")
            }
        }
    }

    /// Runs `sql` with `params` (`$1`, `$2`, … bound as text) and returns the first column
    /// of every row as text: assertions about stored rows, on either backend. Write the
    /// statement once, in SQL both understand; `$N` becomes `?N` for SQLite.
    pub async fn strings(&self, sql: &str, params: &[&str]) -> Vec<String> {
        match self {
            Self::Servers { db, .. } => {
                let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                db.client()
                    .await
                    .query(sql, &params)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .iter()
                    .map(|r| r.get::<_, String>(0))
                    .collect()
            }
            Self::Embedded { sqlite, .. } => {
                let sql = sql.replace('$', "?");
                let params: Vec<String> = params.iter().map(|p| (*p).to_owned()).collect();
                sqlite
                    .read(move |c| {
                        let mut statement = c.prepare(&sql)?;
                        let rows = statement
                            .query_map(
                                hop_kit::sqlite::rusqlite::params_from_iter(params.iter()),
                                |r| r.get::<_, String>(0),
                            )?
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok(rows)
                    })
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        }
    }

    /// Runs a statement that changes rows (seeding, or breaking something on purpose), on
    /// either backend; how many rows it changed.
    pub async fn execute(&self, sql: &str) -> u64 {
        match self {
            Self::Servers { db, .. } => db
                .client()
                .await
                .execute(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Self::Embedded { sqlite, .. } => {
                let sql = sql.to_owned();
                sqlite
                    .write(move |c| Ok(c.execute(&sql, [])? as u64))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        }
    }
}
