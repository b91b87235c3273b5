//! The read model's source: a code's entry built from the `links` table, for the redirect
//! service when neither its L1 nor Redis has it. The one query redirect makes, once per
//! database.

use crate::{CachedLink, ReadEntry};
use hop_kit::database::Database;
use hop_kit::postgres::Pool;
use hop_kit::sqlite::{Sqlite, SqliteError};
use hop_proto::link::RedirectType;

/// Why the database gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error("{0}")]
    Sqlite(#[from] SqliteError),
    #[error("stored redirect_type {0} is not a redirect")]
    BadRow(i64),
}

/// The row a code's entry is built from, as both databases return it.
struct Row {
    url: String,
    status: i64,
    is_active: bool,
    /// Unix seconds.
    expires_at: Option<i64>,
    /// `updated_at` in microseconds.
    version: i64,
    deleted: bool,
    id: i64,
}

/// The read-model entry for `code` (a tombstone when it was deleted), or `None` when no
/// link ever had it.
pub async fn find(database: &Database, code: &str) -> Result<Option<ReadEntry>, StoreError> {
    let row = match database {
        Database::Postgres(pool) => find_postgres(pool, code).await?,
        Database::Sqlite(db) => find_sqlite(db, code).await?,
    };
    let Some(row) = row else {
        return Ok(None);
    };
    if row.deleted {
        return Ok(Some(ReadEntry::Deleted {
            version: row.version,
        }));
    }
    let redirect_type =
        RedirectType::from_status(row.status).ok_or(StoreError::BadRow(row.status))?;
    let link = CachedLink {
        id: row.id,
        url: row.url,
        redirect_type,
        is_active: row.is_active,
        expires_at: row.expires_at,
    };
    Ok(Some(ReadEntry::Live {
        version: row.version,
        link,
    }))
}

async fn find_postgres(pool: &Pool, code: &str) -> Result<Option<Row>, StoreError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT target_url, redirect_type, is_active, \
                    extract(epoch FROM expires_at)::bigint AS expires_at, \
                    (extract(epoch FROM updated_at) * 1000000)::bigint AS version, \
                    deleted_at IS NOT NULL AS deleted, id \
             FROM links WHERE code = $1",
        )
        .await?;
    let Some(row) = client.query_opt(&statement, &[&code]).await? else {
        return Ok(None);
    };
    Ok(Some(Row {
        url: row.try_get(0)?,
        status: i64::from(row.try_get::<_, i16>(1)?),
        is_active: row.try_get(2)?,
        expires_at: row.try_get(3)?,
        version: row.try_get(4)?,
        deleted: row.try_get(5)?,
        id: row.try_get(6)?,
    }))
}

/// A point read by the unique code: run in place ([`Sqlite::read_now`]).
async fn find_sqlite(db: &Sqlite, code: &str) -> Result<Option<Row>, StoreError> {
    Ok(db.read_now(|c| {
        let mut statement = c.prepare_cached(
            "SELECT target_url, redirect_type, is_active, expires_at, updated_at, \
                        deleted_at IS NOT NULL, id \
                 FROM links WHERE code = ?1",
        )?;
        let mut rows = statement.query([code])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        Ok(Some(Row {
            url: row.get(0)?,
            status: row.get(1)?,
            is_active: row.get(2)?,
            // Stored in microseconds; the entry carries unix seconds, rounded as
            // PostgreSQL's `extract(epoch …)::bigint` rounds them.
            expires_at: row
                .get::<_, Option<i64>>(3)?
                .map(|us| (us + 500_000).div_euclid(1_000_000)),
            version: row.get(4)?,
            deleted: row.get(5)?,
            id: row.get(6)?,
        }))
    })?)
}
