//! A gateway's in-memory replica of the session deny-list, so checking a session on every
//! authenticated request costs a hash lookup, not a Redis round trip.
//!
//! The replica only grows: an entry leaves when it no longer matters (its tokens have
//! expired), never because a reload lacks it. So a logout made through this gateway, added
//! here before the logout answers, cannot be undone by a reload racing it. On every
//! (re)connection of its subscriber, and every [`RESYNC_EVERY`], the replica subscribes to
//! the revocation channel and merges the whole list from Redis (which the auth service
//! rebuilds from Postgres); in between, each announced revocation is added as it arrives.
//!
//! While the replica is not trusted ([`Replica::check`] answers `None`) sessions are
//! checked with the auth service: while the subscription is down, after a lost message, and
//! after a logout auth could not write to Redis, until a reload finds it there. An untrusted
//! replica reloads every [`RETRY_EVERY`].

use crate::Revocation;
use crate::store::{REVOCATION_CHANNEL, REVOKED_SESSIONS, channel_name, listed};
use fred::prelude::*;
use hop_kit::redis::Redis;
use hop_kit::shared::{Bus, Shared};
use hop_kit::time::unix_now;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How often a trusted replica reloads the whole list anyway.
pub const RESYNC_EVERY: Duration = Duration::from_secs(30);
/// How often an untrusted replica tries to reload.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Bound on one reload (a subscription that waits for a connection must not stall the
/// replica).
const RESYNC_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct Replica {
    /// Session id → unix time after which the entry no longer matters.
    revoked: RwLock<HashMap<String, i64>>,
    /// Revocations made here that Redis did not have when they were made: the replica is
    /// not trusted until a reload finds them there. Also serialises every change of
    /// `synced` to true with their arrival.
    unlisted: Mutex<HashMap<String, i64>>,
    synced: AtomicBool,
    reload: Notify,
}

impl Replica {
    /// `Some(revoked?)` while the replica is in sync, `None` when it cannot be trusted.
    pub fn check(&self, session_id: &str) -> Option<bool> {
        if !self.synced.load(Ordering::Acquire) {
            return None;
        }
        let revoked = self.revoked.read().unwrap_or_else(|p| p.into_inner());
        Some(
            revoked
                .get(session_id)
                .is_some_and(|until| *until >= unix_now()),
        )
    }

    /// Adds an announced revocation.
    pub fn insert(&self, session_id: String, until: i64) {
        let mut revoked = self.revoked.write().unwrap_or_else(|p| p.into_inner());
        if revoked.len() > 10_000 {
            let now = unix_now();
            revoked.retain(|_, until| *until >= now);
        }
        let entry = revoked.entry(session_id).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Adds a revocation made through this gateway. `listed`: whether the auth service
    /// wrote it to Redis; if not, the replica is not trusted until Redis has it.
    pub fn insert_here(&self, session_id: String, until: i64, listed: bool) {
        self.insert(session_id.clone(), until);
        if !listed {
            let mut unlisted = self.unlisted.lock().unwrap_or_else(|p| p.into_inner());
            unlisted.insert(session_id, until);
            self.set_synced(false);
            self.reload.notify_one();
        }
    }

    /// Merges a full load from Redis; trusted again unless it lacks a revocation made here.
    fn merge(&self, entries: Vec<(String, i64)>) {
        let now = unix_now();
        let mut unlisted = self.unlisted.lock().unwrap_or_else(|p| p.into_inner());
        unlisted.retain(|sid, until| *until >= now && !entries.iter().any(|(s, _)| s == sid));
        let missing = unlisted.len();
        {
            let mut revoked = self.revoked.write().unwrap_or_else(|p| p.into_inner());
            revoked.retain(|_, until| *until >= now);
            for (sid, until) in entries {
                let entry = revoked.entry(sid).or_insert(until);
                *entry = (*entry).max(until);
            }
        }
        if missing == 0 {
            self.set_synced(true);
        } else {
            tracing::info!(service = "gateway", missing, "revocations_not_yet_listed");
        }
    }

    fn set_synced(&self, synced: bool) {
        self.synced.store(synced, Ordering::Release);
    }

    fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Keeps the replica in sync until `stop`, from Redis or from the process's bus.
    pub fn spawn_sync(
        self: &Arc<Self>,
        shared: &Shared,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        match shared {
            Shared::Redis(redis) => self.spawn_redis_sync(redis, stop),
            Shared::InProcess(bus) => {
                self.spawn_bus_sync(bus, stop);
                Ok(())
            }
        }
    }

    /// In process: subscribed before the first load, so nothing is missed between them;
    /// each announcement is merged before its publisher returns. The set is merged again
    /// on request and every [`RESYNC_EVERY`].
    fn spawn_bus_sync(self: &Arc<Self>, bus: &Bus, stop: CancellationToken) {
        let list = self.clone();
        let subscription = bus.topic(REVOCATION_CHANNEL).subscribe(move |text| {
            if let Some(revocation) = Revocation::decode(text) {
                list.insert(revocation.session_id, revocation.until);
            }
        });
        let set = bus.scored_set(REVOKED_SESSIONS);
        let list = self.clone();
        list.merge(set.at_least(unix_now()));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = list.reload.notified() => list.merge(set.at_least(unix_now())),
                    () = tokio::time::sleep(RESYNC_EVERY) => list.merge(set.at_least(unix_now())),
                }
            }
            drop(subscription);
            list.set_synced(false);
        });
    }

    fn spawn_redis_sync(
        self: &Arc<Self>,
        redis: &Redis,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        let subscriber = redis.subscriber()?;
        let channel = channel_name(redis);
        let mut messages = subscriber.message_rx();
        let mut connections = subscriber.reconnect_rx();
        let mut errors = subscriber.error_rx();
        let _connection = subscriber.connect();
        let (list, redis) = (self.clone(), redis.clone());
        tokio::spawn(async move {
            let resync = || list.resync(&subscriber, &redis, &channel);
            let mut next = Instant::now() + RETRY_EVERY;
            loop {
                let reloaded = tokio::select! {
                    () = stop.cancelled() => break,
                    connected = connections.recv() => match connected {
                        // Messages published while it was down are lost: reload first.
                        Ok(_) | Err(RecvError::Lagged(_)) => {
                            list.set_synced(false);
                            resync().await;
                            true
                        }
                        Err(RecvError::Closed) => break,
                    },
                    error = errors.recv() => match error {
                        Ok(_) | Err(RecvError::Lagged(_)) => { list.set_synced(false); false }
                        Err(RecvError::Closed) => break,
                    },
                    message = messages.recv() => match message {
                        Ok(message) => {
                            let text = message.value.as_string().unwrap_or_default();
                            if let Some(revocation) = Revocation::decode(&text) {
                                list.insert(revocation.session_id, revocation.until);
                            }
                            false
                        }
                        Err(RecvError::Lagged(_)) => { list.set_synced(false); false }
                        Err(RecvError::Closed) => break,
                    },
                    () = list.reload.notified() => { resync().await; true }
                    () = tokio::time::sleep_until(next) => { resync().await; true }
                };
                let period = if list.is_synced() {
                    RESYNC_EVERY
                } else {
                    RETRY_EVERY
                };
                next = if reloaded {
                    Instant::now() + period
                } else {
                    next.min(Instant::now() + period)
                };
            }
            list.set_synced(false);
            let _ = subscriber.quit().await;
        });
        Ok(())
    }

    /// Subscribes, then merges the whole list: anything revoked while the subscription was
    /// down is in the set, and anything revoked from now on arrives as a message.
    async fn resync(
        &self,
        subscriber: &fred::clients::SubscriberClient,
        redis: &Redis,
        channel: &str,
    ) {
        let loaded = tokio::time::timeout(RESYNC_TIMEOUT, load(subscriber, redis, channel));
        match loaded.await {
            Ok(Some(entries)) => {
                let count = entries.len();
                self.merge(entries);
                tracing::debug!(service = "gateway", revoked = count, "revocations_synced");
            }
            Ok(None) => self.set_synced(false),
            Err(_) => {
                self.set_synced(false);
                tracing::warn!(service = "gateway", "revocations_resync_timed_out");
            }
        }
    }
}

async fn load(
    subscriber: &fred::clients::SubscriberClient,
    redis: &Redis,
    channel: &str,
) -> Option<Vec<(String, i64)>> {
    if let Err(e) = subscriber.subscribe(channel).await {
        tracing::warn!(error = %e, "revocations_subscribe_failed");
        return None;
    }
    match listed(redis, unix_now()).await {
        Ok(entries) => Some(
            entries
                .into_iter()
                .map(|r| (r.session_id, r.until))
                .collect(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "revocations_load_failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsynced_replica_is_not_trusted() {
        let list = Replica::default();
        assert_eq!(list.check("s"), None);
        list.set_synced(true);
        assert_eq!(list.check("s"), Some(false));
        list.insert("s".into(), unix_now() + 60);
        assert_eq!(list.check("s"), Some(true));
        list.insert("old".into(), unix_now() - 1);
        assert_eq!(
            list.check("old"),
            Some(false),
            "expired entries no longer matter"
        );
    }

    #[test]
    fn a_reload_never_drops_a_revocation_made_here() {
        let list = Replica::default();
        list.merge(Vec::new());
        list.insert_here("mine".into(), unix_now() + 60, true);
        // A load taken before the logout reached Redis.
        list.merge(vec![("other".into(), unix_now() + 60)]);
        assert_eq!(list.check("mine"), Some(true));
        assert_eq!(list.check("other"), Some(true));
    }

    #[test]
    fn an_unlisted_revocation_distrusts_the_replica_until_redis_has_it() {
        let list = Replica::default();
        list.merge(Vec::new());
        list.insert_here("mine".into(), unix_now() + 60, false);
        assert_eq!(list.check("mine"), None, "ask auth, the truth");
        list.merge(Vec::new());
        assert_eq!(list.check("mine"), None, "Redis still lacks it");
        list.merge(vec![("mine".into(), unix_now() + 60)]);
        assert_eq!(list.check("mine"), Some(true));
    }
}
