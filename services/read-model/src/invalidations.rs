//! The invalidation channel's subscriber side: every code links announces, on Redis or on
//! the process's bus, delivered to a handler (the redirect service evicts it from L1).
//!
//! While the subscription is down, messages are lost, so every resumed subscription is
//! reported ([`Event::Subscribed`] with `resumed`), as is a lagging receiver
//! ([`Event::Missed`]): the handler then drops everything it holds. A TTL on what it holds
//! bounds staleness if a message is lost any other way.

use crate::store::{INVALIDATION_CHANNEL, announced_codes, invalidation_channel};
use fred::prelude::*;
use hop_kit::redis::{Redis, RedisError};
use hop_kit::shared::{Bus, Shared};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// What the subscriber tells its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Subscribed; `resumed` after a reconnect, when messages may have been lost.
    Subscribed { resumed: bool },
    /// The subscription is down (until the next `Subscribed`).
    Unsubscribed,
    /// The link with this code changed.
    Changed(&'a str),
    /// Messages were lost (the receiver lagged).
    Missed,
}

/// Subscribes in the background until `stop` is cancelled, calling `handle` for each event:
/// to the Redis channel, or to the process's bus.
pub fn listen<H>(shared: &Shared, stop: CancellationToken, handle: H) -> Result<(), RedisError>
where
    H: Fn(Event<'_>) + Send + 'static,
{
    match shared {
        Shared::Redis(redis) => listen_redis(redis, stop, handle),
        Shared::InProcess(bus) => {
            listen_bus(bus, stop, handle);
            Ok(())
        }
    }
}

/// The bus never drops a subscription, so the handler hears `Subscribed` once, and each
/// change before the writer's `put_many` returns (the handler runs in the writer's
/// thread, so it must be quick: an eviction).
fn listen_bus<H>(bus: &Bus, stop: CancellationToken, handle: H)
where
    H: Fn(Event<'_>) + Send + 'static,
{
    let handle = Arc::new(Mutex::new(handle));
    let hears = handle.clone();
    let subscription = bus
        .topic(INVALIDATION_CHANNEL)
        .subscribe(move |code| (lock(&hears))(Event::Changed(code)));
    (lock(&handle))(Event::Subscribed { resumed: false });
    tokio::spawn(async move {
        stop.cancelled().await;
        drop(subscription);
        (lock(&handle))(Event::Unsubscribed);
    });
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn listen_redis<H>(redis: &Redis, stop: CancellationToken, handle: H) -> Result<(), RedisError>
where
    H: Fn(Event<'_>) + Send + 'static,
{
    let subscriber = redis.subscriber()?;
    let channel = invalidation_channel(redis);
    let mut messages = subscriber.message_rx();
    let mut reconnects = subscriber.reconnect_rx();
    let mut errors = subscriber.error_rx();
    let _connection = subscriber.connect();
    tokio::spawn(async move {
        // Every connection, the first included, is announced on `reconnects`: one per
        // server, so a cluster's masters each announce theirs at start. A connection is a
        // resumption (messages may have been lost) when its server was connected before,
        // or when a connection failed since the subscription was first made (a failover
        // brings a server never seen).
        let mut seen = HashSet::new();
        let mut subscribed_once = false;
        let mut lost = false;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                reconnected = reconnects.recv() => match reconnected {
                    Ok(server) => {
                        let resumed = !seen.insert(server) || lost;
                        lost = false;
                        handle(Event::Unsubscribed);
                        match subscriber.subscribe(&channel).await {
                            Ok(()) => {
                                handle(Event::Subscribed { resumed: resumed && subscribed_once });
                                subscribed_once = true;
                                tracing::info!(service = "redirect", channel, "invalidations_subscribed");
                            }
                            Err(e) => tracing::warn!(service = "redirect", error = %e, "invalidations_subscribe_failed"),
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        lost = true;
                        handle(Event::Missed);
                    }
                    Err(RecvError::Closed) => break,
                },
                failed = errors.recv() => match failed {
                    Ok(_) | Err(RecvError::Lagged(_)) => lost = subscribed_once,
                    Err(RecvError::Closed) => break,
                },
                message = messages.recv() => match message {
                    Ok(message) => {
                        if let Some(text) = message.value.as_str() {
                            for code in announced_codes(&text) {
                                handle(Event::Changed(code));
                            }
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "invalidations_lagged");
                        handle(Event::Missed);
                    }
                    Err(RecvError::Closed) => break,
                },
            }
        }
        handle(Event::Unsubscribed);
        let _ = subscriber.quit().await;
    });
    Ok(())
}
