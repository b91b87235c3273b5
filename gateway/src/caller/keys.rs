//! The token-verifying keys a gateway knows, as the auth service publishes them.
//!
//! Keys rotate without a flap: auth publishes the current key and the previous one, and a
//! gateway merges what it fetches into what it knows. A key that a later fetch no longer
//! lists is retired, not forgotten: it stays known for the longest lifetime of a token
//! plus the leeway, so every token it signed verifies until it expires, whichever auth
//! instance a gateway asked last during a rolling restart. Keys are never dropped because
//! auth is unreachable.
//!
//! Fetch attempts are remembered too ([`KeySet::recently_tried`]): a token naming an
//! unknown `kid` triggers at most one fetch per [`MIN_REFETCH`] after a success, and one
//! per [`FAILED_REFETCH`] after a failure, so a flood of such tokens while auth is down
//! costs no gRPC call per request.

use jsonwebtoken::{DecodingKey, Validation};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// After a successful fetch, an unknown `kid` triggers another at most this often: soon
/// enough that a key a rotation just brought is learnt at once, rare enough that tokens with
/// made-up kids cost at most one call a second.
pub const MIN_REFETCH: Duration = Duration::from_secs(1);
/// After a failed fetch, the next is tried no sooner than this.
pub const FAILED_REFETCH: Duration = Duration::from_secs(2);

struct Known {
    key: Arc<DecodingKey>,
    /// When a successful fetch first stopped listing it.
    retired: Option<Instant>,
}

/// What one fetch brought: each key's id and raw Ed25519 public key, and the claims every
/// token must carry.
pub struct Published {
    pub keys: Vec<(String, [u8; 32])>,
    pub validation: Validation,
    /// The longest lifetime (`exp - iat`) auth issues, in seconds.
    pub max_lifetime: i64,
}

#[derive(Default)]
pub struct KeySet {
    by_kid: HashMap<String, Known>,
    validation: Option<Arc<Validation>>,
    max_lifetime: i64,
    /// The last fetch attempt, and whether it succeeded.
    attempt: Option<(Instant, bool)>,
}

impl KeySet {
    /// The key for `kid`, the validation and the longest lifetime, once a fetch succeeded.
    pub fn get(&self, kid: &str) -> Option<(Arc<DecodingKey>, Arc<Validation>, i64)> {
        Some((
            self.by_kid.get(kid)?.key.clone(),
            self.validation.clone()?,
            self.max_lifetime,
        ))
    }

    /// `Some(succeeded)` when the last attempt is too recent to try again.
    pub fn recently_tried(&self, now: Instant) -> Option<bool> {
        let (at, ok) = self.attempt?;
        let wait = if ok { MIN_REFETCH } else { FAILED_REFETCH };
        (now.duration_since(at) < wait).then_some(ok)
    }

    /// How long ago the last attempt succeeded; `None` if it failed or none was made.
    pub fn since_success(&self, now: Instant) -> Option<Duration> {
        match self.attempt {
            Some((at, true)) => Some(now.duration_since(at)),
            _ => None,
        }
    }

    pub fn failed(&mut self, now: Instant) {
        self.attempt = Some((now, false));
    }

    /// Merges a successful fetch: listed keys are current, unlisted ones retire, and keys
    /// retired longer than a token lives (plus `leeway`) are dropped.
    pub fn merge(&mut self, published: Published, leeway: Duration, now: Instant) {
        let lifetime = Duration::from_secs(u64::try_from(published.max_lifetime).unwrap_or(0));
        let listed: HashMap<String, [u8; 32]> = published.keys.into_iter().collect();
        for (kid, known) in &mut self.by_kid {
            if !listed.contains_key(kid) && known.retired.is_none() {
                known.retired = Some(now);
            }
        }
        self.by_kid.retain(|_, known| {
            known
                .retired
                .is_none_or(|at| now.duration_since(at) <= lifetime + leeway)
        });
        for (kid, raw) in listed {
            self.by_kid.insert(
                kid,
                Known {
                    key: Arc::new(DecodingKey::from_ed_der(&raw)),
                    retired: None,
                },
            );
        }
        self.validation = Some(Arc::new(published.validation));
        self.max_lifetime = published.max_lifetime;
        self.attempt = Some((now, true));
    }

    /// The longest lifetime auth issues, in seconds (0 before the first fetch).
    pub fn max_lifetime(&self) -> i64 {
        self.max_lifetime
    }

    /// How many keys are known (current and retired).
    pub fn len(&self) -> usize {
        self.by_kid.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(kids: &[&str]) -> Published {
        Published {
            keys: kids.iter().map(|k| (k.to_string(), [7u8; 32])).collect(),
            validation: Validation::new(jsonwebtoken::Algorithm::EdDSA),
            max_lifetime: 900,
        }
    }

    #[test]
    fn a_key_no_longer_published_verifies_until_its_tokens_expire() {
        let (mut keys, t0) = (KeySet::default(), Instant::now());
        let leeway = Duration::from_secs(30);
        keys.merge(published(&["old"]), leeway, t0);
        keys.merge(published(&["new"]), leeway, t0 + Duration::from_secs(60));
        assert!(keys.get("old").is_some() && keys.get("new").is_some());
        // An auth instance that still publishes the old key (a rollout under way) makes it
        // current again; it retires for good when none does.
        keys.merge(
            published(&["new", "old"]),
            leeway,
            t0 + Duration::from_secs(120),
        );
        keys.merge(published(&["new"]), leeway, t0 + Duration::from_secs(180));
        keys.merge(
            published(&["new"]),
            leeway,
            t0 + Duration::from_secs(180 + 929),
        );
        assert!(
            keys.get("old").is_some(),
            "within lifetime + leeway of its retirement"
        );
        keys.merge(
            published(&["new"]),
            leeway,
            t0 + Duration::from_secs(180 + 931),
        );
        assert!(
            keys.get("old").is_none(),
            "gone once its last token has expired"
        );
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn failed_fetches_are_not_retried_at_once_and_keys_survive_them() {
        let (mut keys, t0) = (KeySet::default(), Instant::now());
        assert_eq!(keys.recently_tried(t0), None);
        keys.merge(published(&["k"]), Duration::ZERO, t0);
        assert_eq!(keys.recently_tried(t0 + MIN_REFETCH / 2), Some(true));
        assert_eq!(keys.recently_tried(t0 + MIN_REFETCH), None);
        keys.failed(t0 + MIN_REFETCH);
        assert_eq!(
            keys.recently_tried(t0 + MIN_REFETCH + Duration::from_secs(1)),
            Some(false)
        );
        assert_eq!(keys.recently_tried(t0 + MIN_REFETCH + FAILED_REFETCH), None);
        assert!(
            keys.get("k").is_some(),
            "an unreachable auth does not make keys unknown"
        );
    }
}
