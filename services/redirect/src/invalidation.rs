//! Listens on the links service's invalidation channel and evicts each announced code
//! from L1, so a link created or changed anywhere is served everywhere within a round trip.
//!
//! While the subscription is down, messages are lost; on every (re)connect the whole L1 is
//! dropped, so nothing stale outlives a Redis outage. The L1 TTL bounds staleness if a
//! message is lost any other way.

use crate::http::App;
use fred::prelude::*;
use hop_kit::link::INVALIDATION_CHANNEL;
use hop_kit::redis::Redis;
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// Subscribes in the background until `stop` is cancelled.
pub fn spawn(redis: &Redis, app: Arc<App>, stop: CancellationToken) -> anyhow::Result<()> {
    let subscriber = redis.subscriber()?;
    let channel = redis.channel(INVALIDATION_CHANNEL);
    let mut messages = subscriber.message_rx();
    let mut reconnects = subscriber.reconnect_rx();
    let _connection = subscriber.connect();
    tokio::spawn(async move {
        // Every connection, the first included, is announced on `reconnects`.
        let mut connections = 0u64;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                reconnected = reconnects.recv() => match reconnected {
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        app.metrics().subscribed.set(0);
                        connections += 1;
                        subscribe(&subscriber, &channel, &app, connections > 1).await;
                    }
                    Err(RecvError::Closed) => break,
                },
                message = messages.recv() => match message {
                    Ok(message) => {
                        if let Some(code) = message.value.as_str() {
                            app.resolver().evict(&code);
                            app.metrics().invalidations.inc();
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "invalidations_lagged");
                        app.resolver().evict_all();
                    }
                    Err(RecvError::Closed) => break,
                },
            }
        }
        app.metrics().subscribed.set(0);
        let _ = subscriber.quit().await;
    });
    Ok(())
}

/// Subscribes; after a reconnect (`resumed`), also drops L1, since messages published
/// while the subscription was down are lost.
async fn subscribe(
    subscriber: &fred::clients::SubscriberClient,
    channel: &str,
    app: &App,
    resumed: bool,
) {
    match subscriber.subscribe(channel).await {
        Ok(()) => {
            if resumed {
                app.resolver().evict_all();
            }
            app.metrics().subscribed.set(1);
            tracing::info!(service = "redirect", channel, "invalidations_subscribed");
        }
        Err(e) => {
            tracing::warn!(service = "redirect", error = %e, "invalidations_subscribe_failed")
        }
    }
}
