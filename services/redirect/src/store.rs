//! The redirect service's one query: a link by its unique code.

use hop_kit::link::{CachedLink, RedirectType};
use hop_kit::postgres::Pool;

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

/// The read-model entry for `code`, or `None` when it does not exist or was deleted.
pub async fn find(pool: &Pool, code: &str) -> Result<Option<CachedLink>, StoreError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT target_url, redirect_type, is_active, \
                    extract(epoch FROM expires_at)::bigint AS expires_at \
             FROM links WHERE code = $1 AND deleted_at IS NULL",
        )
        .await?;
    let Some(row) = client.query_opt(&statement, &[&code]).await? else {
        return Ok(None);
    };
    let status: i16 = row.try_get(1)?;
    let redirect_type =
        RedirectType::from_status(i64::from(status)).ok_or(StoreError::BadRow(status))?;
    Ok(Some(CachedLink {
        url: row.try_get(0)?,
        redirect_type,
        is_active: row.try_get(2)?,
        expires_at: row.try_get(3)?,
    }))
}
