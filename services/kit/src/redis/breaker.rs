//! The circuit breaker in front of every Redis command.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A consecutive-failure circuit breaker: closed → open after `threshold` failures →
/// half-open (one probe call) after `cooldown` → closed on the probe's success.
///
/// The closed state costs one atomic load per call.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    epoch: Instant,
    failures: AtomicU32,
    /// Milliseconds since `epoch` until which calls are skipped; 0 when closed.
    open_until_ms: AtomicU64,
    probing: AtomicBool,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            epoch: Instant::now(),
            failures: AtomicU32::new(0),
            open_until_ms: AtomicU64::new(0),
            probing: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Whether a call may go ahead now.
    pub fn allow(&self) -> bool {
        let until = self.open_until_ms.load(Ordering::Relaxed);
        if until == 0 {
            return true;
        }
        if self.now_ms() < until {
            return false;
        }
        // Half-open: exactly one caller probes.
        !self.probing.swap(true, Ordering::AcqRel)
    }

    pub fn is_open(&self) -> bool {
        self.open_until_ms.load(Ordering::Relaxed) != 0
    }

    pub fn success(&self) {
        self.failures.store(0, Ordering::Relaxed);
        if self.open_until_ms.swap(0, Ordering::AcqRel) != 0 {
            self.probing.store(false, Ordering::Release);
            tracing::info!("redis_breaker_closed");
        }
    }

    pub fn failure(&self) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.threshold {
            let until = self.now_ms() + self.cooldown.as_millis() as u64;
            let was = self.open_until_ms.swap(until, Ordering::AcqRel);
            self.probing.store(false, Ordering::Release);
            if was == 0 {
                tracing::warn!(
                    failures,
                    cooldown_ms = self.cooldown.as_millis() as u64,
                    "redis_breaker_opened"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_lets_one_probe_through_after_cooldown() {
        let breaker = Breaker::new(3, Duration::from_millis(30));
        assert!(breaker.allow());
        breaker.failure();
        breaker.failure();
        assert!(
            breaker.allow(),
            "below the threshold the breaker stays closed"
        );
        breaker.failure();
        assert!(!breaker.allow(), "open after three failures");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow(), "half-open lets one probe through");
        assert!(!breaker.allow(), "but only one");
        breaker.failure();
        assert!(!breaker.allow(), "a failed probe reopens");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow());
        breaker.success();
        assert!(breaker.allow() && breaker.allow(), "a good probe closes it");
        assert!(!breaker.is_open());
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let breaker = Breaker::new(2, Duration::from_secs(60));
        breaker.failure();
        breaker.success();
        breaker.failure();
        assert!(breaker.allow());
    }
}
