//! Every SQL statement of the links service. Statements are prepared once per pooled
//! connection (`prepare_cached`).

use crate::domain::{Link, NewLink};
use crate::error::LinksError;
use hop_kit::link::RedirectType;
use hop_kit::postgres::Pool;
use tokio_postgres::Row;

const LINK_COLUMNS: &str = "id, code, target_url, title, owner_id, redirect_type, is_active, \
                            expires_at, created_at, updated_at";

/// The outcome of an insert.
#[derive(Debug)]
pub enum Insert {
    Created(Link),
    /// The code is already in use (by an alias, or a live or deleted link).
    CodeTaken,
}

#[derive(Clone)]
pub struct Store {
    pool: Pool,
}

impl Store {
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Inserts the link and its `created` event in one statement (one round trip, atomic).
    pub async fn insert(&self, id: i64, code: &str, new: &NewLink) -> Result<Insert, LinksError> {
        let sql = format!(
            "WITH link AS ( \
               INSERT INTO links (id, code, target_url, title, owner_id, redirect_type, expires_at) \
               VALUES ($1, $2, $3, $4, $5, $6, $7) \
               ON CONFLICT (code) DO NOTHING \
               RETURNING {LINK_COLUMNS} \
             ), event AS ( \
               INSERT INTO link_events (link_id, user_id, kind, details) \
               SELECT id, owner_id, 'created', jsonb_build_object('code', code, 'url', target_url) \
               FROM link \
             ) \
             SELECT {LINK_COLUMNS} FROM link"
        );
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(&sql).await?;
        let redirect_type = new.redirect_type.status() as i16;
        let rows = client
            .query(
                &statement,
                &[
                    &id,
                    &code,
                    &new.url.as_str(),
                    &new.title,
                    &new.owner_id,
                    &redirect_type,
                    &new.expires_at,
                ],
            )
            .await?;
        match rows.first() {
            Some(row) => Ok(Insert::Created(link_from_row(row)?)),
            None => Ok(Insert::CodeTaken),
        }
    }

    /// A live link by code.
    pub async fn get(&self, code: &str) -> Result<Option<Link>, LinksError> {
        let sql =
            format!("SELECT {LINK_COLUMNS} FROM links WHERE code = $1 AND deleted_at IS NULL");
        let client = self.pool.get().await?;
        let statement = client.prepare_cached(&sql).await?;
        let row = client.query_opt(&statement, &[&code]).await?;
        row.as_ref().map(link_from_row).transpose()
    }
}

fn link_from_row(row: &Row) -> Result<Link, LinksError> {
    let status: i16 = row.try_get("redirect_type")?;
    let redirect_type = RedirectType::from_status(i64::from(status))
        .ok_or_else(|| LinksError::Internal(format!("stored redirect_type {status}").into()))?;
    Ok(Link {
        id: row.try_get("id")?,
        code: row.try_get("code")?,
        url: row.try_get("target_url")?,
        title: row.try_get("title")?,
        owner_id: row.try_get("owner_id")?,
        redirect_type,
        is_active: row.try_get("is_active")?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
