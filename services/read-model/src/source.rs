//! The read model's source: a code's entry built from the `links` table, for the redirect
//! service when neither its L1 nor Redis has it. The one query redirect makes.

use crate::{CachedLink, ReadEntry};
use hop_kit::postgres::Pool;
use hop_proto::link::RedirectType;

/// Why Postgres gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no connection: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error("stored redirect_type {0} is not a redirect")]
    BadRow(i16),
}

/// The read-model entry for `code` (a tombstone when it was deleted), or `None` when no
/// link ever had it.
pub async fn find(pool: &Pool, code: &str) -> Result<Option<ReadEntry>, StoreError> {
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
    let version: i64 = row.try_get(4)?;
    if row.try_get::<_, bool>(5)? {
        return Ok(Some(ReadEntry::Deleted { version }));
    }
    let status: i16 = row.try_get(1)?;
    let redirect_type =
        RedirectType::from_status(i64::from(status)).ok_or(StoreError::BadRow(status))?;
    let link = CachedLink {
        id: row.try_get(6)?,
        url: row.try_get(0)?,
        redirect_type,
        is_active: row.try_get(2)?,
        expires_at: row.try_get(3)?,
    };
    Ok(Some(ReadEntry::Live { version, link }))
}
