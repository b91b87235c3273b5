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

    /// Writes `links` through and announces them, in one round trip. Failures are logged,
    /// not returned: Postgres holds the truth, redirect falls back to it, and L1 entries
    /// expire on their own.
    pub async fn put_many(&self, links: &[&Link]) {
        if links.is_empty() {
            return;
        }
        let entries: Vec<(String, String)> = links
            .iter()
            .map(|l| (self.redis.key(REDIS_LINK_KEY, &l.code), l.cached().encode()))
            .collect();
        let codes: Vec<&str> = links.iter().map(|l| l.code.as_str()).collect();
        // Pipelined in this order: an instance that hears a code finds its new entry.
        let written = self
            .redis
            .set_ex_then_publish(&entries, self.ttl, &self.channel, &codes)
            .await;
        if let Err(e) = written {
            tracing::warn!(links = links.len(), error = %e, "read_model_write_failed");
        }
    }
}
