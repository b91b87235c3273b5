//! The deny-list of revoked sessions that every gateway consults on each authenticated
//! request: a Redis sorted set of session ids scored with the time their last access token
//! expires, plus a message on the revocation channel so gateways' in-memory replicas learn
//! of it at once.
//!
//! Postgres records the revocation first (`sessions.revoked_at`), and gateways ask the auth
//! service while their replica is not in sync. If Redis is down when a session is revoked,
//! the entry is retried in the background until it lands or no longer matters, and a
//! gateway reloads the whole set whenever its subscription comes back, so no replica
//! misses a revocation.

use hop_kit::redis::Redis;
use hop_kit::token::{REVOCATION_CHANNEL, REVOKED_SESSIONS};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Clone)]
pub struct Revocations {
    redis: Redis,
    /// How long entries live: the access-token lifetime plus the verifiers' leeway.
    ttl: Duration,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Revocations {
    pub fn new(redis: Redis, ttl: Duration) -> Self {
        Self { redis, ttl }
    }

    /// Lists the session as revoked and announces it.
    pub async fn revoke(&self, session_id: &str) {
        let now = unix_now();
        let until = now + self.ttl.as_secs() as i64;
        if self.write(session_id, until, now).await {
            return;
        }
        tracing::warn!(session_id, "revocation_deferred_redis_down");
        let (this, session_id) = (self.clone(), session_id.to_owned());
        tokio::spawn(async move {
            while unix_now() < until {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if this.write(&session_id, until, unix_now()).await {
                    tracing::info!(session_id = %session_id, "revocation_written");
                    return;
                }
            }
        });
    }

    async fn write(&self, session_id: &str, until: i64, now: i64) -> bool {
        let set = self.redis.name(REVOKED_SESSIONS);
        let channel = self.redis.channel(REVOCATION_CHANNEL);
        self.redis
            .revoke_session(&set, &channel, session_id, until, now)
            .await
            .is_ok()
    }
}
