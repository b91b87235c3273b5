//! Password hashing: argon2id with the OWASP parameters (19 MiB, 2 passes, 1 lane) on a
//! bounded pool of blocking threads.
//!
//! Each hash costs tens of milliseconds of one core by design. The pool admits at most
//! AUTH_HASH_CONCURRENCY hashes at once, so a login flood takes that many cores and no more:
//! in `hop up` the redirect and API paths keep theirs. A caller that cannot get a slot within
//! AUTH_HASH_QUEUE_MS is refused (RESOURCE_EXHAUSTED) rather than queued without bound.

use crate::credentials::Password;
use crate::error::AuthError;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// OWASP's argon2id recommendation: m = 19 MiB, t = 2, p = 1.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

#[derive(Clone)]
pub struct Hasher {
    argon: Argon2<'static>,
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
    /// A hash of a random password: verifying against it costs what a real check costs.
    dummy: Arc<str>,
}

impl Hasher {
    pub fn new(concurrency: usize, queue_timeout: Duration) -> Self {
        let params =
            Params::new(MEMORY_KIB, PASSES, LANES, None).expect("OWASP parameters are valid");
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let random: [u8; 16] = rand::random();
        let dummy = argon
            .hash_password(&random)
            .expect("hashing a random password works")
            .to_string();
        Self {
            argon,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            queue_timeout,
            dummy: dummy.into(),
        }
    }

    /// The PHC string of `password` under a fresh salt.
    pub async fn hash(&self, password: &Password) -> Result<String, AuthError> {
        let argon = self.argon.clone();
        let password = password.expose().to_owned();
        self.run(move || {
            argon
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| AuthError::Internal(e.to_string().into()))
        })
        .await
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown email, or an
    /// account without a password) it checks against the dummy, so every "no" takes as long.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> Result<bool, AuthError> {
        let argon = self.argon.clone();
        let password = password.expose().to_owned();
        let (hash, real) = match stored {
            Some(hash) => (hash.to_owned(), true),
            None => (self.dummy.to_string(), false),
        };
        self.run(move || {
            Ok(real
                && argon
                    .verify_password(password.as_bytes(), hash.as_str())
                    .is_ok())
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, AuthError> + Send + 'static,
    ) -> Result<T, AuthError> {
        let slot = tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| AuthError::Overloaded)?
            .map_err(|_| AuthError::Overloaded)?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        })
        .await
        .map_err(|e| AuthError::Internal(Box::new(e)))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_match() {
        let hasher = Hasher::new(2, Duration::from_secs(5));
        let password = Password::parse("correct horse battery").unwrap();
        let hash = hasher.hash(&password).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.verify(&password, Some(&hash)).await.unwrap());
        let wrong = Password::parse("wrong horse battery").unwrap();
        assert!(!hasher.verify(&wrong, Some(&hash)).await.unwrap());
        assert!(!hasher.verify(&password, None).await.unwrap());
    }

    #[tokio::test]
    async fn a_saturated_pool_refuses_instead_of_queueing_forever() {
        let hasher = Hasher::new(1, Duration::from_millis(1));
        let password = Password::parse("correct horse battery").unwrap();
        let busy = hasher.slots.clone().acquire_owned().await.unwrap();
        assert!(matches!(
            hasher.hash(&password).await,
            Err(AuthError::Overloaded)
        ));
        drop(busy);
        assert!(hasher.hash(&password).await.is_ok());
    }
}
