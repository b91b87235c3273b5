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

/// Leave for one call, from [`Breaker::allow`]: say how the call went with
/// [`Permit::success`] or [`Permit::failure`].
///
/// A probe's permit dropped without a verdict (its caller was cancelled mid-call: a client
/// that disconnected, a timeout around the call) gives the half-open slot back, so the next
/// call probes. Without that, the breaker would stay open for good.
#[must_use = "report how the call went"]
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
}

impl Permit<'_> {
    pub fn success(self) {
        self.breaker.succeeded();
    }

    pub fn failure(self) {
        self.breaker.failed();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe {
            self.breaker.probing.store(false, Ordering::Release);
        }
    }
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

    /// Leave to make a call now; `None` while the breaker is open, or half-open with
    /// another call probing.
    pub fn allow(&self) -> Option<Permit<'_>> {
        let until = self.open_until_ms.load(Ordering::Relaxed);
        if until == 0 {
            return Some(Permit {
                breaker: self,
                probe: false,
            });
        }
        // Half-open: exactly one caller probes.
        if self.now_ms() < until || self.probing.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some(Permit {
            breaker: self,
            probe: true,
        })
    }

    /// Leave for a call that must not be skipped while the breaker is open (a session
    /// revocation); its outcome counts like any other.
    pub fn bypass(&self) -> Permit<'_> {
        Permit {
            breaker: self,
            probe: false,
        }
    }

    pub fn is_open(&self) -> bool {
        self.open_until_ms.load(Ordering::Relaxed) != 0
    }

    fn succeeded(&self) {
        self.failures.store(0, Ordering::Relaxed);
        if self.open_until_ms.swap(0, Ordering::AcqRel) != 0 {
            tracing::info!("redis_breaker_closed");
        }
    }

    fn failed(&self) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= self.threshold {
            let until = self.now_ms() + self.cooldown.as_millis() as u64;
            let was = self.open_until_ms.swap(until, Ordering::AcqRel);
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

    fn fail(breaker: &Breaker) {
        breaker.allow().expect("the call is let through").failure();
    }

    #[test]
    fn opens_after_threshold_and_lets_one_probe_through_after_cooldown() {
        let breaker = Breaker::new(3, Duration::from_millis(30));
        fail(&breaker);
        fail(&breaker);
        assert!(
            breaker.allow().is_some(),
            "below the threshold the breaker stays closed"
        );
        fail(&breaker);
        assert!(breaker.allow().is_none(), "open after three failures");
        std::thread::sleep(Duration::from_millis(40));
        let probe = breaker.allow().expect("half-open lets one probe through");
        assert!(breaker.allow().is_none(), "but only one");
        probe.failure();
        assert!(breaker.allow().is_none(), "a failed probe reopens");
        std::thread::sleep(Duration::from_millis(40));
        breaker.allow().expect("a second probe").success();
        assert!(
            breaker.allow().is_some() && breaker.allow().is_some(),
            "a good probe closes it"
        );
        assert!(!breaker.is_open());
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let breaker = Breaker::new(2, Duration::from_secs(60));
        fail(&breaker);
        breaker.allow().unwrap().success();
        fail(&breaker);
        assert!(breaker.allow().is_some());
    }

    #[test]
    fn a_probe_dropped_without_a_verdict_hands_the_probe_on() {
        let breaker = Breaker::new(1, Duration::from_millis(10));
        fail(&breaker);
        std::thread::sleep(Duration::from_millis(20));
        let probe = breaker.allow().expect("half-open");
        drop(probe); // its caller went away mid-call
        breaker
            .allow()
            .expect("the next call probes instead of the breaker staying open")
            .success();
        assert!(!breaker.is_open());
    }

    #[test]
    fn a_late_failure_does_not_let_a_second_probe_in() {
        let breaker = Breaker::new(1, Duration::from_millis(10));
        let slow = breaker.allow().expect("closed");
        fail(&breaker);
        std::thread::sleep(Duration::from_millis(20));
        let _probe = breaker.allow().expect("half-open");
        slow.failure(); // a call from before the breaker opened fails now
        std::thread::sleep(Duration::from_millis(20));
        assert!(breaker.allow().is_none(), "still one probe at a time");
    }
}
