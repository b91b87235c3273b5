//! The auth service's statements on PostgreSQL.

use super::{Rotation, User};
use crate::api_keys::{ApiKey, NewKey};
use crate::error::AuthError;
use chrono::{DateTime, Utc};
use hop_kit::postgres::Pool;
use hop_proto::api_key::Scopes;
use tokio_postgres::Row;

fn user_from_row(row: &Row) -> Result<User, AuthError> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        username: row.try_get("username")?,
        created_at: row.try_get("created_at")?,
    })
}

/// `None` when the email is taken.
pub async fn insert_user(
    pool: &Pool,
    email: &str,
    username: Option<&str>,
    password_hash: &str,
) -> Result<Option<User>, AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "INSERT INTO users (email, username, password_hash) VALUES ($1, $2, $3) \
                 ON CONFLICT (email) DO NOTHING \
                 RETURNING id, email, username, created_at",
        )
        .await?;
    let row = client
        .query_opt(&statement, &[&email, &username, &password_hash])
        .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// The account and its password hash (`None` when it has no usable password).
pub async fn user_by_email(
    pool: &Pool,
    email: &str,
) -> Result<Option<(User, Option<String>)>, AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT id, email, username, created_at, password_hash FROM users WHERE email = $1",
        )
        .await?;
    let Some(row) = client.query_opt(&statement, &[&email]).await? else {
        return Ok(None);
    };
    Ok(Some((user_from_row(&row)?, row.try_get("password_hash")?)))
}

pub async fn user_by_id(pool: &Pool, id: i64) -> Result<Option<User>, AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached("SELECT id, email, username, created_at FROM users WHERE id = $1")
        .await?;
    let row = client.query_opt(&statement, &[&id]).await?;
    row.as_ref().map(user_from_row).transpose()
}

/// A new session with its first refresh token, in one statement.
pub async fn create_session(
    pool: &Pool,
    session_id: &str,
    user_id: i64,
    expires_at: DateTime<Utc>,
    token_hash: &[u8],
) -> Result<(), AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "WITH session AS ( \
                   INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, $3) RETURNING id \
                 ) \
                 INSERT INTO refresh_tokens (token_hash, session_id) SELECT $4, id FROM session",
        )
        .await?;
    client
        .execute(
            &statement,
            &[&session_id, &user_id, &expires_at, &token_hash],
        )
        .await?;
    Ok(())
}

/// Uses the refresh token `presented` and stores `new_hash` as its successor, atomically.
/// A token presented twice (a stolen copy, or the thief's second try) revokes its session.
pub async fn rotate(pool: &Pool, presented: &[u8], new_hash: &[u8]) -> Result<Rotation, AuthError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            "SELECT t.session_id, t.used_at IS NOT NULL AS used, s.user_id, \
                        s.revoked_at IS NULL AND s.expires_at > now() AS live \
                 FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
                 WHERE t.token_hash = $1 FOR UPDATE OF t, s",
            &[&presented],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Rotation::Refused);
    };
    let (session_id, used, user_id, live): (String, bool, i64, bool) = (
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
    );
    if used {
        tx.execute(
            "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
            &[&session_id],
        )
        .await?;
        tx.commit().await?;
        return Ok(Rotation::Reused { session_id });
    }
    if !live {
        return Ok(Rotation::Refused);
    }
    tx.execute(
        "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1",
        &[&presented],
    )
    .await?;
    tx.execute(
        "INSERT INTO refresh_tokens (token_hash, session_id) VALUES ($1, $2)",
        &[&new_hash, &session_id],
    )
    .await?;
    tx.execute(
        "UPDATE sessions SET rotated_at = now() WHERE id = $1",
        &[&session_id],
    )
    .await?;
    tx.commit().await?;
    Ok(Rotation::Rotated {
        session_id,
        user_id,
    })
}

/// Revokes a session; whether it was live.
pub async fn revoke(pool: &Pool, session_id: &str) -> Result<bool, AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "UPDATE sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        )
        .await?;
    Ok(client.execute(&statement, &[&session_id]).await? == 1)
}

/// The sessions revoked after `since`, with when (what the Redis deny-list is rebuilt
/// from).
pub async fn revoked_since(
    pool: &Pool,
    since: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>)>, AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT id, revoked_at FROM sessions WHERE revoked_at > $1 \
             UNION ALL \
             SELECT 'apikey:' || id, revoked_at FROM api_keys WHERE revoked_at > $1",
        )
        .await?;
    let rows = client.query(&statement, &[&since]).await?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

/// Whether a session is neither revoked nor expired.
pub async fn session_active(pool: &Pool, session_id: &str) -> Result<bool, AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT 1 FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > now()",
        )
        .await?;
    Ok(client
        .query_opt(&statement, &[&session_id])
        .await?
        .is_some())
}

pub async fn set_password(pool: &Pool, email: &str, hash: &str) -> Result<bool, AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached("UPDATE users SET password_hash = $1, updated_at = now() WHERE email = $2")
        .await?;
    Ok(client.execute(&statement, &[&hash, &email]).await? == 1)
}

pub async fn password_hash(pool: &Pool, user_id: i64) -> Result<Option<Option<String>>, AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached("SELECT password_hash FROM users WHERE id = $1")
        .await?;
    let row = client.query_opt(&statement, &[&user_id]).await?;
    row.map(|r| Ok(r.try_get(0)?)).transpose()
}

/// The new hash and the revocations in one statement.
pub async fn change_password(
    pool: &Pool,
    user_id: i64,
    hash: &str,
    keep: &str,
) -> Result<Vec<String>, AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "WITH account AS ( \
               UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1 \
             ) \
             UPDATE sessions SET revoked_at = now() \
             WHERE user_id = $1 AND id <> $3 AND revoked_at IS NULL RETURNING id",
        )
        .await?;
    let rows = client.query(&statement, &[&user_id, &hash, &keep]).await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

pub async fn revoke_all(pool: &Pool, user_id: i64) -> Result<Vec<String>, AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "UPDATE sessions SET revoked_at = now() \
             WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
        )
        .await?;
    let rows = client.query(&statement, &[&user_id]).await?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

const KEY_COLUMNS: &str = "id, user_id, name, prefix, scopes, expires_at, created_at, last_used_at";

fn key_from_row(row: &Row) -> Result<ApiKey, AuthError> {
    let scopes: String = row.try_get("scopes")?;
    Ok(ApiKey {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        scopes: Scopes::parse(scopes.split_whitespace()).unwrap_or_default(),
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

/// The count and the insert in one statement.
pub async fn insert_api_key(
    pool: &Pool,
    user_id: i64,
    key: &NewKey,
    prefix: &str,
    hash: &[u8],
) -> Result<Option<ApiKey>, AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&format!(
            "INSERT INTO api_keys (user_id, name, prefix, secret_hash, scopes, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6 \
             WHERE (SELECT count(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL) < $7 \
             RETURNING {KEY_COLUMNS}"
        ))
        .await?;
    let scopes = key.scopes.to_text();
    let row = client
        .query_opt(
            &statement,
            &[
                &user_id,
                &key.name,
                &prefix,
                &hash,
                &scopes,
                &key.expires_at,
                &crate::api_keys::MAX_KEYS_PER_USER,
            ],
        )
        .await?;
    row.as_ref().map(key_from_row).transpose()
}

pub async fn api_keys(pool: &Pool, user_id: i64) -> Result<Vec<ApiKey>, AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL \
             ORDER BY created_at DESC, id DESC"
        ))
        .await?;
    let rows = client.query(&statement, &[&user_id]).await?;
    rows.iter().map(key_from_row).collect()
}

pub async fn revoke_api_key(pool: &Pool, user_id: i64, id: i64) -> Result<Option<bool>, AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "WITH key AS (SELECT id, revoked_at FROM api_keys WHERE id = $1 AND user_id = $2), \
                  revoked AS ( \
                    UPDATE api_keys SET revoked_at = now() \
                    WHERE id = (SELECT id FROM key) AND revoked_at IS NULL RETURNING id \
                  ) \
             SELECT (SELECT count(*) FROM key), (SELECT count(*) FROM revoked)",
        )
        .await?;
    let row = client.query_one(&statement, &[&id, &user_id]).await?;
    let (found, revoked): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    Ok((found == 1).then_some(revoked == 1))
}

pub async fn use_api_key(pool: &Pool, hash: &[u8]) -> Result<Option<ApiKey>, AuthError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL"
        ))
        .await?;
    let Some(row) = client.query_opt(&statement, &[&hash]).await? else {
        return Ok(None);
    };
    let key = key_from_row(&row)?;
    if key
        .last_used_at
        .is_none_or(|t| t < chrono::Utc::now() - chrono::Duration::seconds(60))
    {
        let touch = client
            .prepare_cached("UPDATE api_keys SET last_used_at = now() WHERE id = $1")
            .await?;
        client.execute(&touch, &[&key.id]).await?;
    }
    Ok(Some(key))
}
