//! The redirect read model: each link written through to Redis as a [`CachedLink`], and its
//! code published on the invalidation channel so every redirect instance drops the L1
//! entry it may hold (including a cached "not found" from before the link existed).

use crate::domain::Link;
use hop_kit::link::{INVALIDATION_CHANNEL, REDIS_LINK_KEY};
use hop_kit::redis::Redis;
use std::time::Duration;

#[derive(Clone)]
pub struct ReadModel {
    redis: Redis,
    ttl: Duration,
    channel: String,
}

impl ReadModel {
    pub fn new(redis: Redis, ttl: Duration) -> Self {
        let channel = redis.channel(INVALIDATION_CHANNEL);
        Self {
            redis,
            ttl,
            channel,
        }
    }

    /// Writes `link` through and announces it. Failures are logged, not returned: Postgres
    /// holds the truth, redirect falls back to it, and L1 entries expire on their own.
    pub async fn put(&self, link: &Link) {
        let key = self.redis.key(REDIS_LINK_KEY, &link.code);
        // In this order: an instance that hears the message must find the new entry.
        let written = match self
            .redis
            .set_ex(&key, link.cached().encode(), self.ttl)
            .await
        {
            Ok(()) => self.redis.publish(&self.channel, &link.code).await,
            Err(e) => Err(e),
        };
        if let Err(e) = written {
            tracing::warn!(code = %link.code, error = %e, "read_model_write_failed");
        }
    }
}
