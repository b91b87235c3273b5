//! The gateway's in-memory replica of the session deny-list, so checking a session on every
//! authenticated request costs a hash lookup, not a Redis round trip.
//!
//! On every (re)connection of its subscriber the replica subscribes to the revocation
//! channel and reloads the whole list from Redis; afterwards each announced revocation is
//! added as it is published. While the subscription is down the replica is not trusted
//! ([`DenyList::check`] answers `None`) and sessions are checked with the auth service.
//! A revocation made through this gateway is added locally before the logout returns.

use fred::prelude::*;
use hop_kit::redis::Redis;
use hop_kit::token::{REVOCATION_CHANNEL, REVOKED_SESSIONS};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[derive(Default)]
pub struct DenyList {
    /// Session id → unix time after which the entry no longer matters.
    revoked: RwLock<HashMap<String, i64>>,
    synced: AtomicBool,
}

impl DenyList {
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

    /// Adds a revocation (announced, or made through this gateway).
    pub fn insert(&self, session_id: String, until: i64) {
        let mut revoked = self.revoked.write().unwrap_or_else(|p| p.into_inner());
        if revoked.len() > 10_000 {
            let now = unix_now();
            revoked.retain(|_, until| *until >= now);
        }
        revoked.insert(session_id, until);
    }

    fn replace(&self, entries: Vec<(String, i64)>) {
        *self.revoked.write().unwrap_or_else(|p| p.into_inner()) = entries.into_iter().collect();
    }

    fn set_synced(&self, synced: bool) {
        self.synced.store(synced, Ordering::Release);
    }

    /// Keeps the replica in sync until `stop`.
    pub fn spawn_sync(
        self: &Arc<Self>,
        redis: &Redis,
        stop: CancellationToken,
    ) -> anyhow::Result<()> {
        let subscriber = redis.subscriber()?;
        let (channel, set) = (
            redis.channel(REVOCATION_CHANNEL),
            redis.name(REVOKED_SESSIONS),
        );
        let mut messages = subscriber.message_rx();
        let mut connections = subscriber.reconnect_rx();
        let mut errors = subscriber.error_rx();
        let _connection = subscriber.connect();
        let (list, redis) = (self.clone(), redis.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    connected = connections.recv() => match connected {
                        Ok(_) | Err(RecvError::Lagged(_)) => list.resync(&subscriber, &redis, &channel, &set).await,
                        Err(RecvError::Closed) => break,
                    },
                    error = errors.recv() => match error {
                        Ok(_) | Err(RecvError::Lagged(_)) => list.set_synced(false),
                        Err(RecvError::Closed) => break,
                    },
                    message = messages.recv() => match message {
                        Ok(message) => {
                            let text = message.value.as_string().unwrap_or_default();
                            if let Some((sid, until)) = text.split_once(' ')
                                && let Ok(until) = until.parse()
                            {
                                list.insert(sid.to_owned(), until);
                            }
                        }
                        Err(RecvError::Lagged(_)) => list.set_synced(false),
                        Err(RecvError::Closed) => break,
                    },
                }
            }
            list.set_synced(false);
            let _ = subscriber.quit().await;
        });
        Ok(())
    }

    /// Subscribes, then loads the whole list: anything revoked while the subscription was
    /// down is in the set, and anything revoked from now on arrives as a message.
    async fn resync(
        &self,
        subscriber: &fred::clients::SubscriberClient,
        redis: &Redis,
        channel: &str,
        set: &str,
    ) {
        self.set_synced(false);
        if let Err(e) = subscriber.subscribe(channel).await {
            tracing::warn!(error = %e, "revocations_subscribe_failed");
            return;
        }
        match redis.live_revocations(set, unix_now()).await {
            Ok(entries) => {
                let count = entries.len();
                self.replace(entries);
                self.set_synced(true);
                tracing::info!(service = "gateway", revoked = count, "revocations_synced");
            }
            Err(e) => tracing::warn!(error = %e, "revocations_load_failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsynced_replica_is_not_trusted() {
        let list = DenyList::default();
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
}
