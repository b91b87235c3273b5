//! Where the state that services share lives: Redis, or — in one `hop up` process without
//! REDIS_URL — an in-process [`Bus`] that does for that process what Redis does for many:
//! pub/sub [`Topic`]s (read-model invalidations, revocation announcements; delivered
//! before `publish` returns, which Redis cannot promise) and scored sets
//! (the session deny-list). The owners of each contract (`hop-read-model`,
//! `hop-revocations`) keep their names and messages for both; only the transport differs.
//! Rate limits count in memory when there is no Redis (the gateway's fallback).

use crate::config::ConfigError;
use crate::redis::{Redis, RedisArgs};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Which shared state a service is given, before it connects.
#[derive(Debug, Clone)]
pub enum SharedConfig {
    Redis(RedisArgs),
    InProcess(Bus),
}

impl From<RedisArgs> for SharedConfig {
    fn from(args: RedisArgs) -> Self {
        Self::Redis(args)
    }
}

impl From<Bus> for SharedConfig {
    fn from(bus: Bus) -> Self {
        Self::InProcess(bus)
    }
}

/// A service's shared state, connected.
#[derive(Clone)]
pub enum Shared {
    Redis(Redis),
    InProcess(Bus),
}

impl SharedConfig {
    /// Redis, which a service run on its own (`hop serve`) requires. Unset, the error says
    /// so and what to set.
    pub fn redis(args: &RedisArgs, command: &str) -> Result<Self, ConfigError> {
        Ok(Self::Redis(args.require(command)?.clone()))
    }

    /// Starts connecting to Redis in the background (see [`Redis::connect`]), or hands over
    /// the process's bus. [`Shared::first_connection`] waits for the first attempt.
    pub fn connect(&self) -> Result<Shared, ConfigError> {
        match self {
            Self::Redis(args) => Ok(Shared::Redis(Redis::connect(args)?)),
            Self::InProcess(bus) => Ok(Shared::InProcess(bus.clone())),
        }
    }

    /// Lifetime of a read-model entry in Redis (REDIS_LINK_TTL_SECS); none in process.
    pub fn link_ttl(&self) -> Option<std::time::Duration> {
        match self {
            Self::Redis(args) => Some(std::time::Duration::from_secs(args.redis_link_ttl_secs)),
            Self::InProcess(_) => None,
        }
    }
}

impl Shared {
    /// Waits for Redis's first connection attempt to end ([`Redis::first_connection`]), so
    /// a service whose Redis is up serves its first requests with it, and one whose Redis
    /// is down starts degraded after one failed attempt. At once on the bus.
    pub async fn first_connection(&self) {
        if let Self::Redis(redis) = self {
            redis.first_connection().await;
        }
    }

    pub fn redis(&self) -> Option<&Redis> {
        match self {
            Self::Redis(redis) => Some(redis),
            Self::InProcess(_) => None,
        }
    }

    /// Closes the Redis connection.
    pub async fn quit(&self) {
        if let Self::Redis(redis) = self {
            redis.quit().await;
        }
    }
}

/// The in-process stand-in for Redis pub/sub and sorted sets. Cheap to clone; every clone
/// is the same bus.
#[derive(Clone, Default)]
pub struct Bus {
    inner: Arc<BusInner>,
}

#[derive(Default)]
struct BusInner {
    topics: Mutex<HashMap<String, Arc<Topic>>>,
    sets: Mutex<HashMap<String, Arc<ScoredSet>>>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus").finish_non_exhaustive()
    }
}

impl Bus {
    pub fn new() -> Self {
        Self::default()
    }

    /// The topic `name`.
    pub fn topic(&self, name: &str) -> Arc<Topic> {
        lock(&self.inner.topics)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// The scored set `name`.
    pub fn scored_set(&self, name: &str) -> Arc<ScoredSet> {
        lock(&self.inner.sets)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }
}

/// What a subscriber does with a message: something quick that does not block (evict a
/// cache entry, note a revocation), since the publisher waits for it.
type Handler = Arc<dyn Fn(&str) + Send + Sync>;

/// A channel whose messages reach every subscriber before [`Topic::publish`] returns.
/// That is what one process can promise and Redis pub/sub cannot: a link edited through
/// `hop up` is out of the redirect cache before the edit is answered, and a logout is in
/// the gateway's deny-list before the logout is.
#[derive(Default)]
pub struct Topic {
    subscribers: Mutex<Vec<(u64, Handler)>>,
    next: AtomicU64,
}

impl Topic {
    /// Calls every subscriber with `message`, in this thread.
    pub fn publish(&self, message: &str) {
        let handlers: Vec<Handler> = lock(&self.subscribers)
            .iter()
            .map(|(_, h)| h.clone())
            .collect();
        for handler in handlers {
            handler(message);
        }
    }

    /// Calls `handler` with every message published until the subscription is dropped.
    pub fn subscribe(
        self: &Arc<Self>,
        handler: impl Fn(&str) + Send + Sync + 'static,
    ) -> Subscription {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        lock(&self.subscribers).push((id, Arc::new(handler)));
        Subscription {
            topic: self.clone(),
            id,
        }
    }
}

/// A subscriber of a [`Topic`]; dropping it unsubscribes.
pub struct Subscription {
    topic: Arc<Topic>,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        lock(&self.topic.subscribers).retain(|(id, _)| *id != self.id);
    }
}

/// Members with a score, as a Redis sorted set holds them (without the ordering, which
/// no caller needs).
#[derive(Default)]
pub struct ScoredSet {
    members: Mutex<HashMap<String, i64>>,
}

impl ScoredSet {
    /// Adds `member` with `score`, keeping a higher score it already has.
    pub fn add_max(&self, member: &str, score: i64) {
        let mut members = lock(&self.members);
        let held = members.entry(member.to_owned()).or_insert(score);
        *held = (*held).max(score);
    }

    /// Drops the members scored below `score`.
    pub fn remove_below(&self, score: i64) {
        lock(&self.members).retain(|_, s| *s >= score);
    }

    /// The members scored at least `score`, with their scores.
    pub fn at_least(&self, score: i64) -> Vec<(String, i64)> {
        lock(&self.members)
            .iter()
            .filter(|(_, s)| **s >= score)
            .map(|(m, s)| (m.clone(), *s))
            .collect()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_topics_and_sets() {
        let bus = Bus::new();
        let heard = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = heard.clone();
        let subscription = bus
            .clone()
            .topic("a")
            .subscribe(move |m| lock(&sink).push(m.to_owned()));
        bus.topic("a").publish("hello");
        assert_eq!(*lock(&heard), ["hello"], "heard before publish returned");
        drop(subscription);
        bus.topic("a").publish("gone");
        assert_eq!(lock(&heard).len(), 1, "unsubscribed on drop");
        bus.scored_set("s").add_max("x", 10);
        bus.clone().scored_set("s").add_max("x", 5);
        bus.scored_set("s").add_max("y", 3);
        bus.scored_set("s").remove_below(4);
        assert_eq!(bus.scored_set("s").at_least(0), vec![("x".to_owned(), 10)]);
    }
}
