//! The redirect read model: each link written through to Redis as a versioned
//! [`hop_kit::link::ReadEntry`] (a tombstone once deleted), and its code published on the invalidation
//! channel so every redirect instance drops the L1 entry it may hold (including a cached
//! "not found" from before the link existed).
//!
//! Entries carry the link's version (`updated_at` in microseconds) and Redis keeps the
//! newest (a Lua check), so neither racing writers nor a redirect instance refilling Redis
//! from an older read can put a stale entry back.

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

    /// Writes the current state of `links` (live, or tombstones for deleted ones) and
    /// announces their codes, in one round trip. Failures are logged, not returned:
    /// Postgres holds the truth, redirect falls back to it, and L1 entries expire on their
    /// own.
    pub async fn put_many(&self, links: &[&Link]) {
        if links.is_empty() {
            return;
        }
        let entries: Vec<(String, String, i64)> = links
            .iter()
            .map(|l| {
                let entry = l.read_entry();
                let key = self.redis.key(REDIS_LINK_KEY, &l.code);
                (key, entry.encode(), entry.version())
            })
            .collect();
        let codes: Vec<&str> = links.iter().map(|l| l.code.as_str()).collect();
        let written = self
            .redis
            .write_newer_then_publish(&entries, self.ttl, &self.channel, &codes)
            .await;
        if let Err(e) = written {
            tracing::warn!(links = links.len(), error = %e, "read_model_write_failed");
        }
    }

    pub async fn put(&self, link: &Link) {
        self.put_many(&[link]).await;
    }
}
