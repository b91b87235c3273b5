//! Where accounts are kept: [`Store`] runs each of the auth service's statements on
//! `users`, `sessions` and `refresh_tokens` on the service's [`Database`], PostgreSQL
//! ([`postgres`]) or the embedded store ([`sqlite`]). (The bulk insert of imported users
//! is [`crate::import`]'s.)

mod postgres;
mod sqlite;

use crate::api_keys::{ApiKey, NewKey};
use crate::error::AuthError;
use chrono::{DateTime, Utc};
use hop_kit::database::Database;

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub username: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What presenting a refresh token led to.
#[derive(Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: it is now used, and `new_hash` is the session's token.
    Rotated { session_id: String, user_id: i64 },
    /// The token had already been used: the session is now revoked.
    Reused { session_id: String },
    /// Unknown, or its session is revoked or expired.
    Refused,
}

/// The auth service's statements, on whichever database it runs.
#[derive(Clone)]
pub struct Store {
    database: Database,
}

impl Store {
    pub fn new(database: Database) -> Self {
        Self { database }
    }

    /// `None` when the email is taken.
    pub async fn insert_user(
        &self,
        email: &str,
        username: Option<&str>,
        password_hash: &str,
    ) -> Result<Option<User>, AuthError> {
        match &self.database {
            Database::Postgres(pool) => {
                postgres::insert_user(pool, email, username, password_hash).await
            }
            Database::Sqlite(db) => sqlite::insert_user(db, email, username, password_hash).await,
        }
    }

    /// The account and its password hash (`None` when it has no usable password).
    pub async fn user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<(User, Option<String>)>, AuthError> {
        match &self.database {
            Database::Postgres(pool) => postgres::user_by_email(pool, email).await,
            Database::Sqlite(db) => sqlite::user_by_email(db, email).await,
        }
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, AuthError> {
        match &self.database {
            Database::Postgres(pool) => postgres::user_by_id(pool, id).await,
            Database::Sqlite(db) => sqlite::user_by_id(db, id).await,
        }
    }

    /// A new session with its first refresh token, both or neither.
    pub async fn create_session(
        &self,
        session_id: &str,
        user_id: i64,
        expires_at: DateTime<Utc>,
        token_hash: &[u8],
    ) -> Result<(), AuthError> {
        match &self.database {
            Database::Postgres(pool) => {
                postgres::create_session(pool, session_id, user_id, expires_at, token_hash).await
            }
            Database::Sqlite(db) => {
                sqlite::create_session(db, session_id, user_id, expires_at, token_hash).await
            }
        }
    }

    /// Uses the refresh token `presented` and stores `new_hash` as its successor, atomically.
    /// A token presented twice (a stolen copy, or the thief's second try) revokes its session.
    pub async fn rotate(&self, presented: &[u8], new_hash: &[u8]) -> Result<Rotation, AuthError> {
        match &self.database {
            Database::Postgres(pool) => postgres::rotate(pool, presented, new_hash).await,
            Database::Sqlite(db) => sqlite::rotate(db, presented, new_hash).await,
        }
    }

    /// Revokes a session; whether it was live.
    pub async fn revoke(&self, session_id: &str) -> Result<bool, AuthError> {
        match &self.database {
            Database::Postgres(pool) => postgres::revoke(pool, session_id).await,
            Database::Sqlite(db) => sqlite::revoke(db, session_id).await,
        }
    }

    /// The sessions and API keys (as `apikey:<id>`) revoked after `since`, with when (what
    /// the deny-list is rebuilt from).
    pub async fn revoked_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, AuthError> {
        match &self.database {
            Database::Postgres(pool) => postgres::revoked_since(pool, since).await,
            Database::Sqlite(db) => sqlite::revoked_since(db, since).await,
        }
    }

    /// Whether a session is neither revoked nor expired.
    pub async fn session_active(&self, session_id: &str) -> Result<bool, AuthError> {
        match &self.database {
            Database::Postgres(pool) => postgres::session_active(pool, session_id).await,
            Database::Sqlite(db) => sqlite::session_active(db, session_id).await,
        }
    }

    /// The account's password hash: `None` when there is no such account, `Some(None)`
    /// when it has no usable password.
    pub async fn password_hash(&self, user_id: i64) -> Result<Option<Option<String>>, AuthError> {
        match &self.database {
            Database::Postgres(pool) => postgres::password_hash(pool, user_id).await,
            Database::Sqlite(db) => sqlite::password_hash(db, user_id).await,
        }
    }

    /// Stores a new password hash and revokes every live session of the account but
    /// `keep`, both or neither; the sessions revoked.
    pub async fn change_password(
        &self,
        user_id: i64,
        hash: &str,
        keep: &str,
    ) -> Result<Vec<String>, AuthError> {
        match &self.database {
            Database::Postgres(pool) => postgres::change_password(pool, user_id, hash, keep).await,
            Database::Sqlite(db) => sqlite::change_password(db, user_id, hash, keep).await,
        }
    }

    /// Revokes every live session of the account; the sessions revoked.
    pub async fn revoke_all(&self, user_id: i64) -> Result<Vec<String>, AuthError> {
        match &self.database {
            Database::Postgres(pool) => postgres::revoke_all(pool, user_id).await,
            Database::Sqlite(db) => sqlite::revoke_all(db, user_id).await,
        }
    }

    /// Stores a new key unless the account holds [`crate::api_keys::MAX_KEYS_PER_USER`]
    /// live ones already (`None` then).
    pub async fn insert_api_key(
        &self,
        user_id: i64,
        key: &NewKey,
        prefix: &str,
        hash: &[u8],
    ) -> Result<Option<ApiKey>, AuthError> {
        match &self.database {
            Database::Postgres(pool) => {
                postgres::insert_api_key(pool, user_id, key, prefix, hash).await
            }
            Database::Sqlite(db) => sqlite::insert_api_key(db, user_id, key, prefix, hash).await,
        }
    }

    /// The account's live (unrevoked) keys, newest first.
    pub async fn api_keys(&self, user_id: i64) -> Result<Vec<ApiKey>, AuthError> {
        match &self.database {
            Database::Postgres(pool) => postgres::api_keys(pool, user_id).await,
            Database::Sqlite(db) => sqlite::api_keys(db, user_id).await,
        }
    }

    /// Revokes one of the account's keys: `None` when it has no such key, else whether
    /// the key was live.
    pub async fn revoke_api_key(&self, user_id: i64, id: i64) -> Result<Option<bool>, AuthError> {
        match &self.database {
            Database::Postgres(pool) => postgres::revoke_api_key(pool, user_id, id).await,
            Database::Sqlite(db) => sqlite::revoke_api_key(db, user_id, id).await,
        }
    }

    /// The live key with this hash, its last use written when older than a minute.
    pub async fn use_api_key(&self, hash: &[u8]) -> Result<Option<ApiKey>, AuthError> {
        match &self.database {
            Database::Postgres(pool) => postgres::use_api_key(pool, hash).await,
            Database::Sqlite(db) => sqlite::use_api_key(db, hash).await,
        }
    }

    /// Sets the password hash of the account with `email` (`hop users set-password`);
    /// whether there is one.
    pub async fn set_password(&self, email: &str, hash: &str) -> Result<bool, AuthError> {
        match &self.database {
            Database::Postgres(pool) => postgres::set_password(pool, email, hash).await,
            Database::Sqlite(db) => sqlite::set_password(db, email, hash).await,
        }
    }
}
