//! The deny-list of revoked sessions that every gateway consults on each authenticated
//! request, kept by the auth service. Its format in Redis (a sorted set, a channel, a typed
//! message) and the script that writes it are `hop-revocations`' ([`Publisher`]), as is
//! its in-process stand-in in a `hop up` without Redis (where nothing can fail to land);
//! this module decides what to write and when.
//!
//! Postgres is the truth (`sessions.revoked_at`, written first); the Redis set is rebuilt
//! from it, so a revocation survives Redis evicting the set, restarting empty or failing
//! over. A revocation is written to Redis before the logout answers, and the logout says
//! whether it was: when it was not (Redis unreachable), the gateway stops trusting its
//! replica until Redis has it, and [`Revocations::run`] rebuilds (and announces) the set
//! every [`RETRY_EVERY`] until it lands. `run` also rebuilds and announces it on start and
//! whenever the Redis connection comes back, and rebuilds it quietly every
//! [`REBUILD_EVERY`].

use crate::store::Store;
use chrono::Utc;
use hop_kit::shared::Shared;
use hop_kit::time::unix_now;
use hop_revocations::{Publisher, Revocation};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// How often the Redis set is rebuilt from Postgres while all is well.
pub const REBUILD_EVERY: Duration = Duration::from_secs(30);
/// How often it is retried while a revocation may be missing from Redis.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Entries written per script call, so one rebuild never holds Redis for long.
const CHUNK: usize = 500;

#[derive(Clone)]
pub struct Revocations {
    publisher: Publisher,
    store: Store,
    /// How long entries live: the access-token lifetime plus the verifiers' leeway.
    ttl: Duration,
    /// Redis may lack a revocation (or the whole set): rebuild and announce soon.
    pending: Arc<AtomicBool>,
    wake: Arc<Notify>,
}

impl Revocations {
    pub fn new(shared: &Shared, store: Store, ttl: Duration) -> Self {
        Self {
            publisher: Publisher::new(shared),
            store,
            ttl,
            pending: Arc::new(AtomicBool::new(true)),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Lists the session as revoked and announces it; whether Redis has it now. If not,
    /// [`Revocations::run`] writes it as soon as Redis is back.
    pub async fn revoke(&self, session_id: &str) -> bool {
        self.revoke_many(&[session_id.to_owned()]).await
    }

    /// [`Revocations::revoke`] for several sessions at once (a sign-out everywhere).
    pub async fn revoke_many(&self, session_ids: &[String]) -> bool {
        if session_ids.is_empty() {
            return true;
        }
        let now = unix_now();
        let until = now + self.ttl.as_secs() as i64;
        let entries: Vec<Revocation> = session_ids
            .iter()
            .map(|id| Revocation::new(id, until))
            .collect();
        let mut listed = true;
        for chunk in entries.chunks(CHUNK) {
            listed &= self.publisher.list(chunk, now, true).await.is_ok();
        }
        if listed {
            return true;
        }
        tracing::warn!(
            sessions = session_ids.len(),
            "revocation_deferred_redis_down"
        );
        self.pending.store(true, Ordering::Release);
        self.wake.notify_one();
        false
    }

    /// Keeps the Redis set rebuilt from Postgres until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let mut connections = self.publisher.redis().map(|redis| redis.reconnections());
        // Quiet about a first failure: at start the connection is usually still being made.
        let (mut listening, mut failing) = (connections.is_some(), true);
        loop {
            let announce = self.pending.swap(false, Ordering::AcqRel);
            match self.rebuild(announce).await {
                Ok(count) => {
                    if announce || failing {
                        tracing::info!(revoked = count, "revocations_rebuilt");
                    }
                    failing = false;
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(error = %error, "revocations_rebuild_failed");
                    }
                    failing = true;
                    self.pending.store(true, Ordering::Release);
                }
            }
            let wait = if self.pending.load(Ordering::Acquire) {
                RETRY_EVERY
            } else {
                REBUILD_EVERY
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
                connected = async { connections.as_mut().expect("listening").recv().await }, if listening => match connected {
                    // A Redis that comes back may have come back empty.
                    Ok(_) | Err(RecvError::Lagged(_)) => self.pending.store(true, Ordering::Release),
                    Err(RecvError::Closed) => listening = false,
                },
            }
        }
    }

    /// Writes every session revoked within the entries' lifetime to Redis, announcing each
    /// when `announce`; how many there were.
    async fn rebuild(&self, announce: bool) -> Result<usize, String> {
        let revoked = self
            .store
            .revoked_since(Utc::now() - self.ttl)
            .await
            .map_err(|e| e.to_string())?;
        let ttl = self.ttl.as_secs() as i64;
        let entries: Vec<Revocation> = revoked
            .into_iter()
            .map(|(session_id, at)| Revocation::new(session_id, at.timestamp() + ttl))
            .collect();
        let now = unix_now();
        for chunk in entries.chunks(CHUNK) {
            self.publisher
                .list(chunk, now, announce)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(entries.len())
    }
}
