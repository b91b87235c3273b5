//! The deny-list of revoked sessions that every gateway checks on each authenticated
//! request: `<prefix>revoked:<session id>` in Redis, kept until the session's last access
//! token has expired.
//!
//! Postgres records the revocation first (`sessions.revoked_at`), and gateways ask the auth
//! service when Redis is down. If Redis is down when a session is revoked, the entry is
//! retried in the background until it lands or no longer matters, so a gateway that
//! trusts Redis again never misses a revocation.

use hop_kit::redis::Redis;
use hop_kit::token::REVOKED_SESSION_KEY;
use std::time::Duration;

#[derive(Clone)]
pub struct Revocations {
    redis: Redis,
    /// How long entries live: the access-token lifetime plus the verifiers' leeway.
    ttl: Duration,
}

impl Revocations {
    pub fn new(redis: Redis, ttl: Duration) -> Self {
        Self { redis, ttl }
    }

    /// Lists the session as revoked.
    pub async fn revoke(&self, session_id: &str) {
        let key = self.redis.key(REVOKED_SESSION_KEY, session_id);
        if self.redis.set_ex(&key, "1".into(), self.ttl).await.is_ok() {
            return;
        }
        tracing::warn!(session_id, "revocation_deferred_redis_down");
        let (redis, ttl) = (self.redis.clone(), self.ttl);
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + ttl;
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if redis.set_ex(&key, "1".into(), ttl).await.is_ok() {
                    tracing::info!("revocation_written");
                    return;
                }
            }
        });
    }
}
