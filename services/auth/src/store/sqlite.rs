//! The auth service's statements on the embedded store. A refresh-token rotation is one
//! writer job, so the check and the writes it leads to cannot interleave with another
//! rotation of the same token (there is one writer).

use super::{Rotation, User};
use crate::api_keys::{ApiKey, NewKey};
use crate::error::AuthError;
use chrono::{DateTime, Utc};
use hop_kit::sqlite::rusqlite::{self, OptionalExtension, Row, params};
use hop_kit::sqlite::{Sqlite, from_micros, micros, now_micros};
use hop_proto::api_key::Scopes;

fn user_from_row(row: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        email: row.get(1)?,
        username: row.get(2)?,
        created_at: from_micros(row.get(3)?),
    })
}

pub async fn insert_user(
    db: &Sqlite,
    email: &str,
    username: Option<&str>,
    password_hash: &str,
) -> Result<Option<User>, AuthError> {
    let (email, username, hash) = (
        email.to_owned(),
        username.map(str::to_owned),
        password_hash.to_owned(),
    );
    Ok(db
        .write(move |c| {
            let now = now_micros();
            Ok(c.prepare_cached(
                "INSERT INTO users (email, username, password_hash, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (email) DO NOTHING \
                 RETURNING id, email, username, created_at",
            )?
            .query_row(params![email, username, hash, now], user_from_row)
            .optional()?)
        })
        .await?)
}

pub async fn user_by_email(
    db: &Sqlite,
    email: &str,
) -> Result<Option<(User, Option<String>)>, AuthError> {
    let email = email.to_owned();
    Ok(db
        .read(move |c| {
            Ok(c.prepare_cached(
                "SELECT id, email, username, created_at, password_hash FROM users WHERE email = ?1",
            )?
            .query_row([email], |r| Ok((user_from_row(r)?, r.get(4)?)))
            .optional()?)
        })
        .await?)
}

pub async fn user_by_id(db: &Sqlite, id: i64) -> Result<Option<User>, AuthError> {
    Ok(db
        .read(move |c| {
            Ok(
                c.prepare_cached(
                    "SELECT id, email, username, created_at FROM users WHERE id = ?1",
                )?
                .query_row([id], user_from_row)
                .optional()?,
            )
        })
        .await?)
}

pub async fn create_session(
    db: &Sqlite,
    session_id: &str,
    user_id: i64,
    expires_at: DateTime<Utc>,
    token_hash: &[u8],
) -> Result<(), AuthError> {
    let (session_id, hash, expires_at) = (
        session_id.to_owned(),
        token_hash.to_vec(),
        micros(expires_at),
    );
    Ok(db
        .write(move |c| {
            let now = now_micros();
            c.prepare_cached(
                "INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![session_id, user_id, now, expires_at])?;
            c.prepare_cached(
                "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![hash, session_id, now])?;
            Ok(())
        })
        .await?)
}

pub async fn rotate(db: &Sqlite, presented: &[u8], new_hash: &[u8]) -> Result<Rotation, AuthError> {
    let (presented, new_hash) = (presented.to_vec(), new_hash.to_vec());
    Ok(db
        .write(move |c| {
            let now = now_micros();
            let found: Option<(String, bool, i64, bool)> = c
                .prepare_cached(
                    "SELECT t.session_id, t.used_at IS NOT NULL, s.user_id, \
                            s.revoked_at IS NULL AND s.expires_at > ?2 \
                     FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
                     WHERE t.token_hash = ?1",
                )?
                .query_row(params![presented, now], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            let Some((session_id, used, user_id, live)) = found else {
                return Ok(Rotation::Refused);
            };
            if used {
                c.prepare_cached(
                    "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                )?
                .execute(params![session_id, now])?;
                return Ok(Rotation::Reused { session_id });
            }
            if !live {
                return Ok(Rotation::Refused);
            }
            c.prepare_cached("UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1")?
                .execute(params![presented, now])?;
            c.prepare_cached(
                "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![new_hash, session_id, now])?;
            c.prepare_cached("UPDATE sessions SET rotated_at = ?2 WHERE id = ?1")?
                .execute(params![session_id, now])?;
            Ok(Rotation::Rotated {
                session_id,
                user_id,
            })
        })
        .await?)
}

pub async fn revoke(db: &Sqlite, session_id: &str) -> Result<bool, AuthError> {
    let session_id = session_id.to_owned();
    Ok(db
        .write(move |c| {
            Ok(c.prepare_cached(
                "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![session_id, now_micros()])?
                == 1)
        })
        .await?)
}

pub async fn revoked_since(
    db: &Sqlite,
    since: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>)>, AuthError> {
    let since = micros(since);
    Ok(db
        .read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT id, revoked_at FROM sessions WHERE revoked_at > ?1 \
                     UNION ALL \
                     SELECT 'apikey:' || id, revoked_at FROM api_keys WHERE revoked_at > ?1",
            )?;
            let rows = statement
                .query_map([since], |r| Ok((r.get(0)?, from_micros(r.get(1)?))))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await?)
}

pub async fn session_active(db: &Sqlite, session_id: &str) -> Result<bool, AuthError> {
    let session_id = session_id.to_owned();
    Ok(db
        .read(move |c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM sessions WHERE id = ?1 AND revoked_at IS NULL AND expires_at > ?2",
            )?
            .query_row(params![session_id, now_micros()], |_| Ok(()))
            .optional()?
            .is_some())
        })
        .await?)
}

pub async fn set_password(db: &Sqlite, email: &str, hash: &str) -> Result<bool, AuthError> {
    let (email, hash) = (email.to_owned(), hash.to_owned());
    Ok(db
        .write(move |c| {
            Ok(c.prepare_cached(
                "UPDATE users SET password_hash = ?1, updated_at = ?2 WHERE email = ?3",
            )?
            .execute(params![hash, now_micros(), email])?
                == 1)
        })
        .await?)
}

pub async fn password_hash(db: &Sqlite, user_id: i64) -> Result<Option<Option<String>>, AuthError> {
    Ok(db
        .read(move |c| {
            Ok(
                c.prepare_cached("SELECT password_hash FROM users WHERE id = ?1")?
                    .query_row([user_id], |r| r.get(0))
                    .optional()?,
            )
        })
        .await?)
}

/// The new hash and the revocations in one transaction (the writer's).
pub async fn change_password(
    db: &Sqlite,
    user_id: i64,
    hash: &str,
    keep: &str,
) -> Result<Vec<String>, AuthError> {
    let (hash, keep) = (hash.to_owned(), keep.to_owned());
    Ok(db
        .write(move |c| {
            let now = now_micros();
            c.prepare_cached("UPDATE users SET password_hash = ?1, updated_at = ?2 WHERE id = ?3")?
                .execute(params![hash, now, user_id])?;
            let revoked = c
                .prepare_cached(
                    "UPDATE sessions SET revoked_at = ?1 \
                     WHERE user_id = ?2 AND id <> ?3 AND revoked_at IS NULL RETURNING id",
                )?
                .query_map(params![now, user_id, keep], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(revoked)
        })
        .await?)
}

pub async fn revoke_all(db: &Sqlite, user_id: i64) -> Result<Vec<String>, AuthError> {
    Ok(db
        .write(move |c| {
            let revoked = c
                .prepare_cached(
                    "UPDATE sessions SET revoked_at = ?1 \
                     WHERE user_id = ?2 AND revoked_at IS NULL RETURNING id",
                )?
                .query_map(params![now_micros(), user_id], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(revoked)
        })
        .await?)
}

const KEY_COLUMNS: &str = "id, user_id, name, prefix, scopes, expires_at, created_at, last_used_at";

fn key_from_row(row: &Row) -> rusqlite::Result<ApiKey> {
    let scopes: String = row.get(4)?;
    Ok(ApiKey {
        id: row.get(0)?,
        user_id: row.get(1)?,
        name: row.get(2)?,
        prefix: row.get(3)?,
        scopes: Scopes::parse(scopes.split_whitespace()).unwrap_or_default(),
        expires_at: row.get::<_, Option<i64>>(5)?.map(from_micros),
        created_at: from_micros(row.get(6)?),
        last_used_at: row.get::<_, Option<i64>>(7)?.map(from_micros),
    })
}

/// The count and the insert in one writer job.
pub async fn insert_api_key(
    db: &Sqlite,
    user_id: i64,
    key: &NewKey,
    prefix: &str,
    hash: &[u8],
) -> Result<Option<ApiKey>, AuthError> {
    let (name, prefix, hash) = (key.name.clone(), prefix.to_owned(), hash.to_vec());
    let (scopes, expires_at) = (key.scopes.to_text(), key.expires_at.map(micros));
    Ok(db
        .write(move |c| {
            Ok(c.prepare_cached(&format!(
                "INSERT INTO api_keys \
                   (user_id, name, prefix, secret_hash, scopes, expires_at, created_at) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 \
                 WHERE (SELECT count(*) FROM api_keys \
                        WHERE user_id = ?1 AND revoked_at IS NULL) < ?8 \
                 RETURNING {KEY_COLUMNS}"
            ))?
            .query_row(
                params![
                    user_id,
                    name,
                    prefix,
                    hash,
                    scopes,
                    expires_at,
                    now_micros(),
                    crate::api_keys::MAX_KEYS_PER_USER
                ],
                key_from_row,
            )
            .optional()?)
        })
        .await?)
}

pub async fn api_keys(db: &Sqlite, user_id: i64) -> Result<Vec<ApiKey>, AuthError> {
    Ok(db
        .read(move |c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = ?1 AND revoked_at IS NULL \
                 ORDER BY created_at DESC, id DESC"
            ))?;
            let keys = statement
                .query_map([user_id], key_from_row)?
                .collect::<Result<_, _>>()?;
            Ok(keys)
        })
        .await?)
}

pub async fn revoke_api_key(db: &Sqlite, user_id: i64, id: i64) -> Result<Option<bool>, AuthError> {
    Ok(db
        .write(move |c| {
            let found = c
                .prepare_cached("SELECT 1 FROM api_keys WHERE id = ?1 AND user_id = ?2")?
                .query_row(params![id, user_id], |_| Ok(()))
                .optional()?
                .is_some();
            if !found {
                return Ok(None);
            }
            let revoked = c
                .prepare_cached(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                )?
                .execute(params![id, now_micros()])?;
            Ok(Some(revoked == 1))
        })
        .await?)
}

pub async fn use_api_key(db: &Sqlite, hash: &[u8]) -> Result<Option<ApiKey>, AuthError> {
    let hash = hash.to_vec();
    let key = db
        .read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE secret_hash = ?1 AND revoked_at IS NULL"
            ))?
            .query_row([hash], key_from_row)
            .optional()?)
        })
        .await?;
    let Some(key) = key else {
        return Ok(None);
    };
    if key
        .last_used_at
        .is_none_or(|t| t < Utc::now() - chrono::Duration::seconds(60))
    {
        let id = key.id;
        db.write(move |c| {
            c.prepare_cached("UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1")?
                .execute(params![id, now_micros()])?;
            Ok(())
        })
        .await?;
    }
    Ok(Some(key))
}
