//! Test support for hop: each test gets real PostgreSQL and Redis, isolated.
//!
//! - [`TestDb`]: a fresh schema (migrated) in the `hop_test` database of the local
//!   PostgreSQL, dropped when the test ends; tests run in parallel without seeing each other.
//! - [`redis_args`]: settings for the local Redis under a key prefix of the test's own.
//! - [`TestStores`]: either of those, or the embedded store and in-process bus of `hop up`,
//!   as `HOP_TEST_BACKEND` says, so one suite runs against both backends.
//! - [`RedisServer`] and [`PostgresServer`]: throwaway servers started from the installed
//!   binaries, for tests that stop a dependency for real; [`Certs`]: a throwaway CA and
//!   certificates, for the mTLS tests; [`RedisCluster`] (three masters, three replicas)
//!   and [`RedisSentinel`] (a primary, a replica, three sentinels), for the tests of
//!   those deployments and their failovers.
//! - [`eventually`] and [`until`]: wait for something that happens in the background,
//!   with a deadline and a message naming what never happened.
//!
//! The shared servers default to the standard local ports; `TEST_DATABASE_URL` and
//! `TEST_REDIS_URL` point elsewhere (`scripts/test.sh` sets them when it has to start
//! throwaway servers itself).

mod certs;
mod cluster;
mod servers;
mod stores;
mod wait;

pub use certs::Certs;
pub use cluster::{RedisCluster, RedisSentinel, SENTINEL_SERVICE};
pub use servers::{PostgresServer, RedisServer, free_port};
pub use stores::{Backend, TestStores};
pub use wait::{eventually, until};

use hop_kit::postgres::DatabaseArgs;
use hop_kit::redis::RedisArgs;

/// The database tests create their schemas in.
pub fn database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/hop_test".to_owned())
}

/// The Redis tests share (each under its own prefix).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A random lower-case identifier: `<prefix>_<16 hex digits>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}_{:016x}", rand::random::<u64>())
}

/// Redis settings with a prefix no other test uses, and short-lived entries.
pub fn redis_args() -> RedisArgs {
    redis_args_for(&redis_url())
}

/// Like [`redis_args`], for a given server.
pub fn redis_args_for(url: &str) -> RedisArgs {
    let mut args = RedisArgs::from_url(url, &format!("{}:", unique("hoptest")));
    args.redis_link_ttl_secs = 600;
    args
}

/// A migrated schema of its own in the test database; dropped on drop.
pub struct TestDb {
    pub args: DatabaseArgs,
    url: String,
}

impl TestDb {
    /// A new schema in the shared test database.
    pub async fn new() -> Self {
        Self::at(&database_url()).await
    }

    /// A new schema in the database at `url` (a throwaway server's, say).
    pub async fn at(url: &str) -> Self {
        let args = DatabaseArgs::from_url(url, &unique("t"));
        hop_kit::postgres::migrate(&args)
            .await
            .unwrap_or_else(|e| panic!("migrating a test schema at {url}: {e:#}"));
        Self {
            args,
            url: url.to_owned(),
        }
    }

    pub fn schema(&self) -> &str {
        &self.args.database_schema
    }

    /// A direct connection with the schema on its search_path, for seeding and assertions.
    pub async fn client(&self) -> tokio_postgres::Client {
        let config = self.args.pg_config().expect("test database URL parses");
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connecting to the test database");
        tokio::spawn(connection);
        client
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.args.database_schema.clone());
        // Drop runs outside any runtime's async context; use a small one of our own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async move {
                    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
                        return;
                    };
                    if let Ok((client, connection)) = config.connect(tokio_postgres::NoTls).await {
                        tokio::spawn(connection);
                        let _ = client
                            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                            .await;
                    }
                });
            }
        })
        .join();
    }
}
