//! Rate limits shared by every gateway instance through Redis (fixed windows: one `INCR`
//! per event, in a script that also sets the window's expiry, so any Redis with scripting
//! serves), with a per-instance count while Redis is down so the limits still hold, per
//! instance, instead of vanishing. Without Redis (one `hop up` process) the per-instance
//! count is the limit. Per-IP subjects are [`crate::caller::ClientIp::limit_key`]:
//! an IPv6 client counts by its /64.

use crate::settings::Limit;
use hop_kit::problem::Problem;
use hop_kit::redis::Redis;
use std::collections::HashMap;
use std::sync::Mutex;

pub struct RateLimiter {
    /// `None`: this process is the only gateway, and counts alone.
    redis: Option<Redis>,
    /// Fallback windows: key → count, for the window each key names.
    local: Mutex<HashMap<String, u64>>,
}

/// Fallback entries kept at most; old windows are dropped past this.
const LOCAL_CAPACITY: usize = 100_000;

impl RateLimiter {
    pub fn new(redis: Option<Redis>) -> Self {
        Self {
            redis,
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one event for `subject` in `bucket`; a 429 problem (with Retry-After, the
    /// seconds left in the window) once the limit is passed.
    pub async fn check(&self, bucket: &str, subject: &str, limit: Limit) -> Result<(), Problem> {
        let Limit::Per { count, window } = limit else {
            return Ok(());
        };
        let now = hop_kit::time::unix_now().max(0) as u64;
        let window_secs = window.as_secs().max(1);
        let index = now / window_secs;
        let subject: String = subject.chars().take(300).collect();
        let name = format!("{bucket}:{index}:{subject}");
        let seen = match &self.redis {
            Some(redis) => {
                let key = redis.key("ratelimit", &name);
                match redis.incr_window(&key, window).await {
                    Ok(seen) => seen,
                    Err(_) => self.count_locally(key, index),
                }
            }
            None => self.count_locally(name, index),
        };
        if seen > count {
            let retry_after = window_secs - now % window_secs;
            tracing::info!(bucket, retry_after, "rate_limited");
            return Err(Problem::too_many_requests(retry_after));
        }
        Ok(())
    }

    fn count_locally(&self, key: String, index: u64) -> u64 {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if local.len() >= LOCAL_CAPACITY {
            let current = format!(":{index}:");
            local.retain(|k, _| k.contains(&current));
        }
        let seen = local.entry(key).or_insert(0);
        *seen += 1;
        *seen
    }
}
