//! Evicts from L1 each code the links service announces, so a link created or changed
//! anywhere is served everywhere within a round trip. The channel and its subscriber are
//! `hop-read-model`'s ([`hop_read_model::invalidations`]); this is what redirect does
//! with what it hears.
//!
//! While the subscription is down, messages are lost; on every resumed subscription (and
//! whenever messages were missed) the whole L1 is dropped, so nothing stale outlives a
//! Redis outage. In a `hop up` without Redis the channel is in process and never down. The L1 TTL bounds staleness if a message is lost any other way.

use crate::http::App;
use hop_kit::shared::Shared;
use hop_read_model::invalidations::{self, Event};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Subscribes in the background until `stop` is cancelled.
pub fn spawn(shared: &Shared, app: Arc<App>, stop: CancellationToken) -> anyhow::Result<()> {
    invalidations::listen(shared, stop, move |event| match event {
        Event::Subscribed { resumed } => {
            if resumed {
                app.resolver().evict_all();
            }
            app.metrics().subscribed.set(1);
        }
        Event::Unsubscribed => app.metrics().subscribed.set(0),
        Event::Changed(code) => {
            app.resolver().evict(code);
            app.metrics().invalidations.inc();
        }
        Event::Missed => app.resolver().evict_all(),
    })?;
    Ok(())
}
