//! Accounts and sessions: register, login, refresh, logout.
//!
//! - A login opens a session and returns a short-lived access token (a JWT naming the
//!   session in `sid`) and a refresh token (256 random bits, stored only as SHA-256).
//! - A refresh uses up the refresh token and returns a new pair for the same session. A
//!   refresh token presented a second time can only be a copy, so it revokes the session.
//! - A logout revokes the session: its access tokens stop working at every gateway at once
//!   (the Redis deny-list), and its refresh token stops working here.

use crate::api_keys::{ApiKey, NewKey, NewSecret};
use crate::credentials::{Email, Password, Registration};
use crate::error::AuthError;
use crate::hashing::Hasher;
use crate::keys::Keys;
use crate::revocation::Revocations;
use crate::store::{Rotation, Store, User};
use base64::Engine as _;
use chrono::Utc;
use hop_kit::problem::FieldError;
use hop_proto::token::Claims;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// What access tokens say and how long the two kinds of token live.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

/// What a login or refresh hands back.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u32,
}

pub struct Accounts {
    store: Store,
    hasher: Hasher,
    keys: Keys,
    revocations: Revocations,
    tokens: TokenSettings,
}

impl Accounts {
    pub fn new(
        store: Store,
        hasher: Hasher,
        keys: Keys,
        revocations: Revocations,
        tokens: TokenSettings,
    ) -> Self {
        Self {
            store,
            hasher,
            keys,
            revocations,
            tokens,
        }
    }

    /// The key that signs, and the one that signed before it (published, never used).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn tokens(&self) -> &TokenSettings {
        &self.tokens
    }

    /// Creates an account. The password is hashed before the email is checked, so a taken
    /// email answers no faster than a free one.
    pub async fn register(&self, registration: Registration) -> Result<User, AuthError> {
        let hash = self.hasher.hash(&registration.password).await?;
        let username = registration.username.map(|u| u.into_string());
        let user = self
            .store
            .insert_user(registration.email.as_str(), username.as_deref(), &hash)
            .await?
            .ok_or(AuthError::EmailTaken)?;
        tracing::info!(user_id = user.id, "user_registered");
        Ok(user)
    }

    /// Opens a session. Unknown email and wrong password give the same error after the same
    /// work (a full argon2 verification either way).
    pub async fn login(&self, email: &str, password: &str) -> Result<(User, TokenPair), AuthError> {
        let mut errors = Vec::new();
        let email = Email::parse(email)
            .map_err(|e| errors.push(FieldError::new("email", e)))
            .ok();
        let password = Password::for_login(password)
            .map_err(|e| errors.push(FieldError::new("password", e)))
            .ok();
        let (Some(email), Some(password)) = (email, password) else {
            return Err(AuthError::Invalid(errors));
        };
        let account = self.store.user_by_email(email.as_str()).await?;
        let stored = account.as_ref().and_then(|(_, hash)| hash.as_deref());
        let matches = self.hasher.verify(&password, stored).await?;
        let Some((user, _)) = account.filter(|_| matches) else {
            tracing::info!("login_failed");
            return Err(AuthError::BadCredentials);
        };
        let session_id = random_hex::<16>();
        let (refresh_token, refresh_hash) = new_refresh_token();
        let expires_at = Utc::now() + self.tokens.refresh_ttl;
        self.store
            .create_session(&session_id, user.id, expires_at, &refresh_hash)
            .await?;
        let access_token = self.access_token(user.id, &session_id)?;
        tracing::info!(user_id = user.id, session_id = %session_id, "login_succeeded");
        Ok((user, self.pair(access_token, refresh_token)))
    }

    /// Rotates a refresh token into a new pair for the same session.
    pub async fn refresh(&self, presented: &str) -> Result<TokenPair, AuthError> {
        if presented.is_empty() || presented.len() > 256 {
            return Err(AuthError::BadRefreshToken);
        }
        let (refresh_token, refresh_hash) = new_refresh_token();
        match self.store.rotate(&sha256(presented), &refresh_hash).await? {
            Rotation::Rotated {
                session_id,
                user_id,
            } => {
                let access_token = self.access_token(user_id, &session_id)?;
                Ok(self.pair(access_token, refresh_token))
            }
            Rotation::Reused { session_id } => {
                tracing::warn!(session_id = %session_id, "refresh_token_reused_session_revoked");
                let listed = self.revocations.revoke(&session_id).await;
                Err(AuthError::RefreshTokenReused { session_id, listed })
            }
            Rotation::Refused => Err(AuthError::BadRefreshToken),
        }
    }

    /// Revokes a session (idempotent); whether the Redis deny-list has it yet.
    pub async fn logout(&self, session_id: &str) -> Result<bool, AuthError> {
        if self.store.revoke(session_id).await? {
            tracing::info!(session_id, "logged_out");
        }
        Ok(self.revocations.revoke(session_id).await)
    }

    /// Sets a new password once `current` is checked, and revokes every other session of
    /// the account (`keep` stays signed in): the sessions revoked, and whether the
    /// deny-list has them yet.
    pub async fn change_password(
        &self,
        user_id: i64,
        keep: &str,
        current: &str,
        new: &str,
    ) -> Result<(Vec<String>, bool), AuthError> {
        let mut errors = Vec::new();
        let current = Password::for_login(current)
            .map_err(|e| errors.push(FieldError::new("current_password", e)))
            .ok();
        let new = Password::parse(new)
            .map_err(|e| errors.push(FieldError::new("new_password", e)))
            .ok();
        let (Some(current), Some(new)) = (current, new) else {
            return Err(AuthError::Invalid(errors));
        };
        let stored = self
            .store
            .password_hash(user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        if !self.hasher.verify(&current, stored.as_deref()).await? {
            return Err(AuthError::invalid(
                "current_password",
                "is not this account's password",
            ));
        }
        let hash = self.hasher.hash(&new).await?;
        let revoked = self.store.change_password(user_id, &hash, keep).await?;
        let listed = self.revocations.revoke_many(&revoked).await;
        tracing::info!(user_id, revoked = revoked.len(), "password_changed");
        Ok((revoked, listed))
    }

    /// Revokes every session of the account: the sessions revoked, and whether the
    /// deny-list has them yet.
    pub async fn logout_everywhere(&self, user_id: i64) -> Result<(Vec<String>, bool), AuthError> {
        let revoked = self.store.revoke_all(user_id).await?;
        let listed = self.revocations.revoke_many(&revoked).await;
        tracing::info!(user_id, revoked = revoked.len(), "logged_out_everywhere");
        Ok((revoked, listed))
    }

    /// A new API key for the account: the key and its secret (shown once).
    pub async fn create_api_key(
        &self,
        user_id: i64,
        key: NewKey,
    ) -> Result<(ApiKey, String), AuthError> {
        self.store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let secret = NewSecret::generate();
        let created = self
            .store
            .insert_api_key(user_id, &key, &secret.prefix, &secret.hash)
            .await?
            .ok_or_else(|| {
                AuthError::invalid(
                    "name",
                    format!(
                        "this account holds {} live keys, the most it may: revoke one first",
                        crate::api_keys::MAX_KEYS_PER_USER
                    ),
                )
            })?;
        tracing::info!(user_id, api_key_id = created.id, "api_key_created");
        Ok((created, secret.secret))
    }

    pub async fn api_keys(&self, user_id: i64) -> Result<Vec<ApiKey>, AuthError> {
        self.store.api_keys(user_id).await
    }

    /// Revokes one of the account's keys, on every gateway at once: whether the deny-list
    /// has it yet.
    pub async fn revoke_api_key(&self, user_id: i64, id: i64) -> Result<bool, AuthError> {
        let live = self
            .store
            .revoke_api_key(user_id, id)
            .await?
            .ok_or(AuthError::NoSuchKey)?;
        if live {
            tracing::info!(user_id, api_key_id = id, "api_key_revoked");
        }
        Ok(self
            .revocations
            .revoke(&hop_proto::api_key::revocation_id(id))
            .await)
    }

    /// The live key a secret is; unknown, revoked and expired keys alike are refused.
    pub async fn check_api_key(&self, secret: &str) -> Result<ApiKey, AuthError> {
        if !hop_proto::api_key::is_key(secret) {
            return Err(AuthError::BadApiKey);
        }
        let key = self
            .store
            .use_api_key(&crate::api_keys::hash(secret))
            .await?
            .ok_or(AuthError::BadApiKey)?;
        if key.expired(Utc::now()) {
            return Err(AuthError::BadApiKey);
        }
        Ok(key)
    }

    pub async fn user(&self, id: i64) -> Result<User, AuthError> {
        self.store.user_by_id(id).await?.ok_or(AuthError::NotFound)
    }

    pub async fn session_active(&self, session_id: &str) -> Result<bool, AuthError> {
        self.store.session_active(session_id).await
    }

    fn access_token(&self, user_id: i64, session_id: &str) -> Result<String, AuthError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            iss: self.tokens.issuer.clone(),
            aud: self.tokens.audience.clone(),
            sub: user_id.to_string(),
            sid: session_id.to_owned(),
            jti: random_hex::<16>(),
            iat: now,
            exp: now + self.tokens.access_ttl.as_secs() as i64,
            nbf: None,
        };
        self.keys
            .current
            .sign(&claims)
            .map_err(|e| AuthError::Internal(Box::new(e)))
    }

    fn pair(&self, access_token: String, refresh_token: String) -> TokenPair {
        TokenPair {
            access_token,
            refresh_token,
            expires_in: self.tokens.access_ttl.as_secs() as u32,
        }
    }
}

/// A refresh token (256 random bits, base64url) and the hash that is stored.
fn new_refresh_token() -> (String, Vec<u8>) {
    let bytes: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = sha256(&token);
    (token, hash)
}

fn sha256(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

fn random_hex<const N: usize>() -> String {
    let bytes: [u8; N] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
