//! PostgreSQL read replicas (`DATABASE_READ_URL`): pools for reads that may be a moment
//! behind the primary: a redirect's lookup of a code no cache holds, click statistics.
//!
//! Each replica is probed every second: its replay lag (0 while it has replayed all it
//! received; else the time since the last transaction it replayed) must stay within
//! `DATABASE_READ_MAX_LAG_MS`. One that does not answer, or lags past that, is out of
//! rotation until a probe finds it healthy again; `/health` and
//! `hop_dependency_up{dependency="postgres-replica-N"}` show each one. A caller that
//! finds nothing on a replica asks the primary before answering "no such thing", since
//! the row may not have reached the replica yet.

use crate::config::ConfigError;
use crate::health::{Check, Health};
use crate::postgres::{DatabaseArgs, Pool};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often each replica's health and lag are probed.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Milliseconds a replica is behind: 0 once it has replayed everything it received (or
/// it is no standby at all), else the age of the last transaction it replayed.
const LAG_MS: &str = "SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
    ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000, 0)
  END::float8";

/// The read replicas of a service, in rotation while healthy. Cheap to clone.
#[derive(Clone)]
pub struct Replicas {
    inner: Arc<Inner>,
}

struct Inner {
    replicas: Vec<Replica>,
    next: AtomicUsize,
    max_lag: Duration,
}

struct Replica {
    name: &'static str,
    pool: Pool,
    /// Set when the probes start; until then the replica is not used.
    check: OnceLock<Arc<Check>>,
}

impl Replicas {
    /// The replicas DATABASE_READ_URL names (none: `None`), each a lazily connecting pool
    /// with the primary's other settings (schema, pool size, timeouts, TLS).
    pub fn connect(args: &DatabaseArgs) -> Result<Option<Self>, ConfigError> {
        // An empty DATABASE_READ_URL (a compose file's `${DATABASE_READ_URL:-}`) is none.
        let urls: Vec<&String> = args
            .database_read_url
            .iter()
            .filter(|url| !url.trim().is_empty())
            .collect();
        if urls.is_empty() {
            return Ok(None);
        }
        let mut replicas = Vec::with_capacity(urls.len());
        for (i, url) in urls.into_iter().enumerate() {
            let replica_args = DatabaseArgs {
                database_url: Some(url.clone()),
                database_host: None,
                database_read_url: Vec::new(),
                ..args.clone()
            };
            replica_args.pg_config().map_err(|e| {
                ConfigError::new(
                    "DATABASE_READ_URL",
                    format!("entry {}: {}", i + 1, e.message),
                )
            })?;
            // A name for health reports and metrics; a handful per process, made once.
            let name: &'static str =
                Box::leak(format!("postgres-replica-{}", i + 1).into_boxed_str());
            replicas.push(Replica {
                name,
                pool: crate::postgres::pool(&replica_args)?,
                check: OnceLock::new(),
            });
        }
        Ok(Some(Self {
            inner: Arc::new(Inner {
                replicas,
                next: AtomicUsize::new(0),
                max_lag: Duration::from_millis(args.database_read_max_lag_ms),
            }),
        }))
    }

    /// Probes every replica until `stop`; each shows in `health` (not required: the
    /// primary serves without them).
    pub fn spawn_probes(&self, health: &Health, stop: &CancellationToken) {
        let max_lag = self.inner.max_lag;
        for replica in &self.inner.replicas {
            let pool = replica.pool.clone();
            let check = health.spawn_probe(
                replica.name,
                false,
                PROBE_INTERVAL,
                stop.clone(),
                move || {
                    let pool = pool.clone();
                    async move { lag(&pool).await.and_then(|lag| within(lag, max_lag)) }
                },
            );
            let _ = replica.check.set(check);
        }
    }

    /// A healthy replica's pool, in turn; `None` while none is healthy.
    pub fn pick(&self) -> Option<ReadReplica<'_>> {
        let replicas = &self.inner.replicas;
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        (0..replicas.len())
            .map(|i| &replicas[(start + i) % replicas.len()])
            .find(|r| r.check.get().is_some_and(|c| c.is_up()))
            .map(|replica| ReadReplica { replica })
    }

    /// Closes every replica's pool (graceful shutdown).
    pub fn close(&self) {
        for replica in &self.inner.replicas {
            replica.pool.close();
        }
    }
}

/// One replica, picked for a read.
pub struct ReadReplica<'a> {
    replica: &'a Replica,
}

impl ReadReplica<'_> {
    pub fn pool(&self) -> &Pool {
        &self.replica.pool
    }

    /// Takes it out of rotation at once (a read on it failed); the next successful probe
    /// puts it back.
    pub fn failed(&self, error: String) {
        if let Some(check) = self.replica.check.get() {
            check.set(Err(error));
        }
    }
}

async fn lag(pool: &Pool) -> Result<Duration, String> {
    let client = pool.get().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(LAG_MS, &[])
        .await
        .map_err(|e| e.to_string())?;
    let ms: f64 = row.get(0);
    Ok(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
}

fn within(lag: Duration, max: Duration) -> Result<(), String> {
    if lag <= max {
        Ok(())
    } else {
        Err(format!(
            "replay lag {} ms is past DATABASE_READ_MAX_LAG_MS ({} ms)",
            lag.as_millis(),
            max.as_millis()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_past_the_lag_bound_is_unhealthy_and_says_why() {
        let max = Duration::from_millis(500);
        assert!(within(Duration::from_millis(499), max).is_ok());
        assert!(within(max, max).is_ok());
        let refused = within(Duration::from_millis(1200), max).unwrap_err();
        assert!(refused.contains("1200 ms"), "{refused}");
        assert!(refused.contains("DATABASE_READ_MAX_LAG_MS"), "{refused}");
    }
}
