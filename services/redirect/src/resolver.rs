//! The tiered lookup behind every redirect: L1 → Redis → Postgres.
//!
//! - L1 is a bounded in-process cache (quick_cache: lock-sharded, CLOCK-Pro eviction, a hit
//!   is a shard read lock and a hash probe) whose entries carry their own expiry. It also
//!   keeps *negative* entries (a code that does not exist) for a shorter time, so a flood
//!   of requests for unknown codes does not reach the stores. Concurrent misses on one code
//!   share one backend lookup; when that lookup fails, the failure is remembered for a
//!   second so the waiters answer 503 at once instead of retrying one after another.
//! - Redis holds the read model the links service writes through. Behind the client's
//!   circuit breaker, a dead Redis costs nothing: lookups go straight to Postgres.
//! - Postgres is the truth. When it is down, codes still cached in L1 or Redis are served;
//!   anything else is `Unavailable` (503), never a false 404.

use crate::metrics::Metrics;
use hop_kit::database::Database;
use hop_kit::redis::{Redis, RedisError};
use hop_kit::replicas::Replicas;
use hop_read_model::{CachedLink, ReadEntry, Reader};
use http::{HeaderValue, StatusCode};
use quick_cache::sync::{Cache, EntryAction, EntryResult};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The cache tiers' settings (environment variables listed in `hop --help`).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Redirect cache")]
pub struct CacheSettings {
    /// Keep resolved links in process memory (L1). Off: every redirect asks Redis.
    #[arg(long, env = "CACHE_L1_ENABLED", value_name = "CACHE_L1_ENABLED", default_value = "true", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub cache_l1_enabled: bool,
    /// Most entries L1 holds (least recently and frequently used go first).
    #[arg(long, env = "CACHE_L1_CAPACITY", value_name = "CACHE_L1_CAPACITY", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_l1_capacity: u64,
    /// Lifetime of an L1 entry: bounds staleness should an invalidation message be lost.
    #[arg(long, env = "CACHE_L1_TTL_SECS", value_name = "CACHE_L1_TTL_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_l1_ttl_secs: u64,
    /// Lifetime of an L1 "no such code" entry.
    #[arg(long, env = "CACHE_L1_NEGATIVE_TTL_SECS", value_name = "CACHE_L1_NEGATIVE_TTL_SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_l1_negative_ttl_secs: u64,
    /// Look links up in Redis before Postgres. Off: every L1 miss asks Postgres.
    #[arg(long, env = "CACHE_REDIS_ENABLED", value_name = "CACHE_REDIS_ENABLED", default_value = "true", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub cache_redis_enabled: bool,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            cache_l1_enabled: true,
            cache_l1_capacity: 100_000,
            cache_l1_ttl_secs: 60,
            cache_l1_negative_ttl_secs: 5,
            cache_redis_enabled: true,
        }
    }
}

/// What a redirect answers with, prepared once per cache fill.
#[derive(Debug)]
pub struct Target {
    /// The link's id, which its clicks are recorded under.
    pub link_id: i64,
    pub status: StatusCode,
    pub location: HeaderValue,
    pub is_active: bool,
    /// Unix seconds.
    pub expires_at: Option<i64>,
}

impl Target {
    /// Whether the link may redirect now. The clock is read only for links that expire.
    pub fn is_live(&self) -> bool {
        self.is_live_at(unix_now)
    }

    fn is_live_at(&self, now: impl Fn() -> i64) -> bool {
        self.is_active && self.expires_at.is_none_or(|t| now() < t)
    }
}

/// A resolved code: a link, or the fact that there is none.
#[derive(Debug, Clone)]
pub enum Entry {
    Link(Arc<Target>),
    Missing,
}

/// How long a failed lookup is remembered in L1 (see the module docs).
const UNAVAILABLE_TTL: Duration = Duration::from_secs(1);

/// An L1 slot: an entry, or a recent failure to find one, until `expires`.
#[derive(Debug, Clone)]
struct Slot {
    entry: Result<Entry, Unavailable>,
    expires: Instant,
}

impl Entry {
    fn from_read(code: &str, entry: ReadEntry) -> Self {
        match entry {
            ReadEntry::Live { link, .. } => Self::from_cached(code, link),
            ReadEntry::Deleted { .. } => Self::Missing,
        }
    }

    fn from_cached(code: &str, link: CachedLink) -> Self {
        match HeaderValue::from_str(&link.url) {
            Ok(location) => Self::Link(Arc::new(Target {
                link_id: link.id,
                status: StatusCode::from_u16(link.redirect_type.status())
                    .unwrap_or(StatusCode::FOUND),
                location,
                is_active: link.is_active,
                expires_at: link.expires_at,
            })),
            Err(_) => {
                // Validated URLs are always valid header values; this is corrupt data.
                tracing::error!(code, "stored_url_not_a_header_value");
                Self::Missing
            }
        }
    }
}

/// No tier could answer: Postgres is unreachable and the code is not cached.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("link store unavailable")]
pub struct Unavailable;

pub struct Resolver {
    l1: Option<Cache<String, Slot>>,
    link_ttl: Duration,
    missing_ttl: Duration,
    redis: Option<Reader>,
    database: Database,
    /// Read replicas asked before the primary (DATABASE_READ_URL); none by default.
    replicas: Option<Replicas>,
    lookup_timeout: Duration,
    metrics: Metrics,
    warned_at: AtomicU64,
}

impl Resolver {
    pub fn new(
        settings: &CacheSettings,
        redis: Option<Redis>,
        database: Database,
        replicas: Option<Replicas>,
        redis_ttl: Duration,
        lookup_timeout: Duration,
        metrics: Metrics,
    ) -> Self {
        let l1 = settings
            .cache_l1_enabled
            .then(|| Cache::new(settings.cache_l1_capacity as usize));
        Self {
            l1,
            link_ttl: Duration::from_secs(settings.cache_l1_ttl_secs),
            missing_ttl: Duration::from_secs(settings.cache_l1_negative_ttl_secs),
            redis: redis
                .filter(|_| settings.cache_redis_enabled)
                .map(|redis| Reader::new(redis, redis_ttl)),
            database,
            replicas,
            lookup_timeout,
            metrics,
            warned_at: AtomicU64::new(0),
        }
    }

    /// The entry for `code` (a code of possible shape) at `now`.
    pub async fn resolve(&self, code: &str, now: Instant) -> Result<Entry, Unavailable> {
        if let Some(l1) = &self.l1
            && let Some(slot) = l1.get(code)
            && slot.expires > now
        {
            hop_kit::metrics::inc(&self.metrics.l1.hit);
            return slot.entry;
        }
        // The rest, boxed: its future (the L1 guard, Redis, Postgres) is large, and inline
        // it would make every request's future that large, L1 hits included; the accept
        // loop moves that future per request (see "Redirect throughput after the security
        // work" in docs/capacity-plan.md).
        Box::pin(self.resolve_missed(code, now)).await
    }

    /// [`Self::resolve`] past an L1 hit: a miss, an expired slot, or no L1 at all.
    async fn resolve_missed(&self, code: &str, now: Instant) -> Result<Entry, Unavailable> {
        let Some(l1) = &self.l1 else {
            return self.lookup(code).await;
        };
        hop_kit::metrics::inc(&self.metrics.l1.miss);
        // A miss or an expired slot: the first caller gets the guard and looks the code up;
        // concurrent callers wait for its answer.
        let fresh = |_: &String, slot: &mut Slot| {
            if slot.expires > now {
                EntryAction::Retain(slot.entry.clone())
            } else {
                EntryAction::ReplaceWithGuard
            }
        };
        let guard = match l1.entry_async(code, fresh).await {
            EntryResult::Retained(entry) => return entry,
            EntryResult::Vacant(guard) | EntryResult::Replaced(guard, _) => guard,
            EntryResult::Removed(..) | EntryResult::Timeout => {
                return self.lookup(code).await;
            }
        };
        let entry = self.lookup(code).await;
        let ttl = match &entry {
            Ok(Entry::Link(_)) => self.link_ttl,
            Ok(Entry::Missing) => self.missing_ttl,
            Err(Unavailable) => UNAVAILABLE_TTL,
        };
        let _ = guard.insert(Slot {
            entry: entry.clone(),
            expires: Instant::now() + ttl,
        });
        entry
    }

    /// Drops `code` from L1 (an invalidation message).
    pub fn evict(&self, code: &str) {
        if let Some(l1) = &self.l1 {
            l1.remove(code);
        }
    }

    /// Drops every L1 entry (after missing invalidation messages).
    pub fn evict_all(&self) {
        if let Some(l1) = &self.l1 {
            l1.clear();
        }
    }

    pub fn l1_entries(&self) -> u64 {
        self.l1.as_ref().map_or(0, |l1| l1.len() as u64)
    }

    /// [`Self::lookup_stores`], in a span when traces are exported: a miss is the part of
    /// a redirect worth a trace (an L1 hit takes microseconds and is not traced unless the
    /// caller sent a `traceparent`).
    async fn lookup(&self, code: &str) -> Result<Entry, Unavailable> {
        if !hop_kit::telemetry::otel::enabled() {
            return self.lookup_stores(code).await;
        }
        use tracing::Instrument;
        let span = tracing::info_span!(
            "lookup",
            service = "redirect",
            code,
            otel.name = "redirect lookup",
            otel.kind = "internal"
        );
        self.lookup_stores(code).instrument(span).await
    }

    async fn lookup_stores(&self, code: &str) -> Result<Entry, Unavailable> {
        if let Some(redis) = &self.redis {
            match redis.get(code).await {
                Ok(Some(entry)) => {
                    hop_kit::metrics::inc(&self.metrics.redis.hit);
                    return Ok(Entry::from_read(code, entry));
                }
                Ok(None) => hop_kit::metrics::inc(&self.metrics.redis.miss),
                Err(RedisError::BreakerOpen) => hop_kit::metrics::inc(&self.metrics.redis.skipped),
                Err(RedisError::Command(_) | RedisError::Task(_)) => {
                    hop_kit::metrics::inc(&self.metrics.redis.error)
                }
            }
        }
        if let Some(entry) = self.lookup_replica(code).await {
            hop_kit::metrics::inc(&self.metrics.replica.hit);
            self.fill_redis(code, &entry);
            return Ok(Entry::from_read(code, entry));
        }
        let found = tokio::time::timeout(
            self.lookup_timeout,
            hop_read_model::source::find(&self.database, code),
        )
        .await;
        match found {
            Ok(Ok(Some(entry))) => {
                hop_kit::metrics::inc(&self.metrics.database.hit);
                self.fill_redis(code, &entry);
                Ok(Entry::from_read(code, entry))
            }
            Ok(Ok(None)) => {
                hop_kit::metrics::inc(&self.metrics.database.miss);
                Ok(Entry::Missing)
            }
            Ok(Err(e)) => {
                hop_kit::metrics::inc(&self.metrics.database.error);
                self.warn_throttled(&e.to_string());
                Err(Unavailable)
            }
            Err(_) => {
                hop_kit::metrics::inc(&self.metrics.database.error);
                self.warn_throttled("lookup timed out");
                Err(Unavailable)
            }
        }
    }

    /// The entry on a healthy read replica, when one holds it. A code the replica does not
    /// have is then looked up on the primary (it may not have been replayed yet), so a
    /// link created a moment ago is never a 404; a failed read takes the replica out of
    /// rotation and falls back to the primary too.
    async fn lookup_replica(&self, code: &str) -> Option<ReadEntry> {
        let replica = self.replicas.as_ref()?.pick()?;
        let database = Database::Postgres(replica.pool().clone());
        let found = tokio::time::timeout(
            self.lookup_timeout,
            hop_read_model::source::find(&database, code),
        )
        .await;
        let failure = match found {
            Ok(Ok(Some(entry))) => return Some(entry),
            Ok(Ok(None)) => {
                hop_kit::metrics::inc(&self.metrics.replica.miss);
                return None;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => "lookup timed out".to_owned(),
        };
        hop_kit::metrics::inc(&self.metrics.replica.error);
        self.warn_throttled(&failure);
        replica.failed(failure);
        None
    }

    /// Puts an entry found in Postgres back into Redis, off the response path, unless
    /// Redis already holds a newer one (links wrote an update in the meantime).
    fn fill_redis(&self, code: &str, entry: &ReadEntry) {
        if let Some(redis) = self.redis.clone() {
            let (code, entry) = (code.to_owned(), entry.clone());
            tokio::spawn(async move {
                let _ = redis.fill(&code, entry).await;
            });
        }
    }

    /// At most one warning per second while Postgres fails, not one per request.
    fn warn_throttled(&self, error: &str) {
        let now = unix_now() as u64;
        let last = self.warned_at.load(Ordering::Relaxed);
        if now > last
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(service = "redirect", error, "link_lookup_failed");
        }
    }
}

pub use hop_kit::time::unix_now;

#[cfg(test)]
mod tests {
    use super::*;

    fn target(is_active: bool, expires_at: Option<i64>) -> Target {
        Target {
            link_id: 1,
            status: StatusCode::FOUND,
            location: HeaderValue::from_static("https://example.com"),
            is_active,
            expires_at,
        }
    }

    #[test]
    fn inactive_and_expired_links_are_not_live() {
        let at = |t| move || t;
        assert!(target(true, None).is_live_at(at(100)));
        assert!(target(true, Some(101)).is_live_at(at(100)));
        assert!(!target(true, Some(100)).is_live_at(at(100)));
        assert!(!target(false, None).is_live_at(at(100)));
    }
}
