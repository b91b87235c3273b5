//! The links service's statements on PostgreSQL. Each is one round trip (the link and
//! its event in one statement), prepared once per pooled connection (`prepare_cached`).

use super::NewRow;
use crate::edit::LinkChanges;
use crate::error::LinksError;
use crate::model::Link;
use chrono::{DateTime, Utc};
use hop_kit::postgres::Pool;
use hop_proto::link::RedirectType;
use std::collections::HashMap;
use tokio_postgres::Row;

const LINK_COLUMNS: &str = "id, code, target_url, title, owner_id, redirect_type, is_active, \
                            expires_at, created_at, updated_at, deleted_at, tags";

/// Separates a row's tags in the one text the batch insert passes per row (a tag holds
/// no control character).
const TAG_SEPARATOR: &str = "\u{1f}";

/// Leases a block of ids from the `link_ids` sequence in one round trip: the block's
/// first id, and its size (the sequence's increment).
pub async fn lease_ids(pool: &Pool) -> Result<(i64, i64), LinksError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT nextval('link_ids'), \
                 (SELECT seqincrement FROM pg_sequence WHERE seqrelid = 'link_ids'::regclass)",
        )
        .await?;
    let row = client.query_one(&statement, &[]).await?;
    Ok((row.get(0), row.get(1)))
}

/// Inserts a batch of links and their `created` events in one statement: one round
/// trip and one commit for the whole batch. Returns, for each row in order, the stored
/// link, or `None` when its code was taken (by an existing link or an earlier row of
/// the same batch).
pub async fn insert_many(pool: &Pool, rows: &[NewRow]) -> Result<Vec<Option<Link>>, LinksError> {
    let sql = format!(
        "WITH input AS ( \
               SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], \
                                    $5::bigint[], $6::smallint[], $7::timestamptz[], $8::text[]) \
                 AS t(id, code, target_url, title, owner_id, redirect_type, expires_at, tags) \
             ), link AS ( \
               INSERT INTO links (id, code, target_url, title, owner_id, redirect_type, expires_at, \
                                  tags) \
               SELECT id, code, target_url, title, owner_id, redirect_type, expires_at, \
                      string_to_array(tags, E'\\x1f') FROM input \
               ON CONFLICT (code) DO NOTHING \
               RETURNING {LINK_COLUMNS} \
             ), event AS ( \
               INSERT INTO link_events (link_id, user_id, kind, details) \
               SELECT id, owner_id, 'created', jsonb_build_object('code', code, 'url', target_url) \
               FROM link \
             ) \
             SELECT {LINK_COLUMNS} FROM link"
    );
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let codes: Vec<&str> = rows.iter().map(|r| r.code.as_str()).collect();
    let urls: Vec<&str> = rows.iter().map(|r| r.link.url.as_str()).collect();
    let titles: Vec<Option<&str>> = rows.iter().map(|r| r.link.title.as_deref()).collect();
    let owners: Vec<Option<i64>> = rows.iter().map(|r| r.link.owner_id).collect();
    let types: Vec<i16> = rows
        .iter()
        .map(|r| r.link.redirect_type.status() as i16)
        .collect();
    let expiries: Vec<Option<DateTime<Utc>>> = rows.iter().map(|r| r.link.expires_at).collect();
    let tags: Vec<String> = rows
        .iter()
        .map(|r| r.link.tags.join(TAG_SEPARATOR))
        .collect();
    let client = pool.get().await?;
    let statement = client.prepare_cached(&sql).await?;
    let stored = client
        .query(
            &statement,
            &[
                &ids, &codes, &urls, &titles, &owners, &types, &expiries, &tags,
            ],
        )
        .await?;
    let mut by_id: HashMap<i64, Link> = HashMap::with_capacity(stored.len());
    for row in &stored {
        let link = link_from_row(row)?;
        by_id.insert(link.id, link);
    }
    Ok(rows.iter().map(|r| by_id.remove(&r.id)).collect())
}

/// The owner's live links, newest first, after the keyset position `after`.
pub async fn list(
    pool: &Pool,
    owner: i64,
    limit: i64,
    after: Option<(DateTime<Utc>, i64)>,
    pattern: Option<&str>,
    tag: Option<&str>,
) -> Result<Vec<Link>, LinksError> {
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM links \
             WHERE owner_id = $1 AND deleted_at IS NULL \
               AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
               AND ($5::text IS NULL OR code ILIKE $5 ESCAPE '\\' \
                    OR target_url ILIKE $5 ESCAPE '\\' OR title ILIKE $5 ESCAPE '\\') \
               AND ($6::text IS NULL OR tags @> ARRAY[$6::text]) \
             ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    let (after_at, after_id) = (after.map(|a| a.0), after.map_or(0, |a| a.1));
    let client = pool.get().await?;
    let statement = client.prepare_cached(&sql).await?;
    let rows = client
        .query(
            &statement,
            &[&owner, &after_at, &after_id, &limit, &pattern, &tag],
        )
        .await?;
    rows.iter().map(link_from_row).collect()
}

pub async fn page(
    pool: &Pool,
    owner: i64,
    query: &crate::model::PageQuery,
) -> Result<(Vec<Link>, u64), LinksError> {
    const FILTER: &str = "owner_id = $1 AND deleted_at IS NULL \
         AND ($2::text IS NULL OR code ILIKE $2 ESCAPE '\\' \
              OR target_url ILIKE $2 ESCAPE '\\' OR title ILIKE $2 ESCAPE '\\') \
         AND (cardinality($3::text[]) = 0 \
              OR CASE WHEN $4 THEN tags @> $3 ELSE tags && $3 END)";
    let order = query.order.sql(query.descending);
    let client = pool.get().await?;
    let page = client
        .prepare_cached(&format!(
            "SELECT {LINK_COLUMNS} FROM links WHERE {FILTER} ORDER BY {order} LIMIT $5 OFFSET $6"
        ))
        .await?;
    let count = client
        .prepare_cached(&format!("SELECT count(*) FROM links WHERE {FILTER}"))
        .await?;
    let filter: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&owner, &query.pattern, &query.tags, &query.all_tags];
    let mut params = filter.to_vec();
    params.extend([
        &query.limit as &(dyn tokio_postgres::types::ToSql + Sync),
        &query.offset,
    ]);
    let rows = client.query(&page, &params).await?;
    let total: i64 = client.query_one(&count, &filter).await?.get(0);
    let links = rows.iter().map(link_from_row).collect::<Result<_, _>>()?;
    Ok((links, total.max(0) as u64))
}

pub async fn ids(pool: &Pool, owner: i64) -> Result<Vec<i64>, LinksError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached("SELECT id FROM links WHERE owner_id = $1 AND deleted_at IS NULL")
        .await?;
    let rows = client.query(&statement, &[&owner]).await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Applies `changes` to the owner's live link and records an `updated` event, in one
/// statement. `None` when the code is unknown, deleted or not the owner's.
pub async fn update(
    pool: &Pool,
    code: &str,
    owner: i64,
    changes: &LinkChanges,
) -> Result<Option<Link>, LinksError> {
    let sql = format!(
        "WITH link AS ( \
               UPDATE links SET \
                 target_url = COALESCE($3, target_url), \
                 title = CASE WHEN $4 THEN $5 ELSE title END, \
                 is_active = COALESCE($6, is_active), \
                 expires_at = CASE WHEN $7 THEN $8 ELSE expires_at END, \
                 redirect_type = COALESCE($9, redirect_type), \
                 tags = CASE WHEN $11 THEN $12::text[] ELSE tags END, \
                 updated_at = greatest(now(), updated_at + interval '1 microsecond') \
               WHERE code = $1 AND owner_id = $2 AND deleted_at IS NULL \
               RETURNING {LINK_COLUMNS} \
             ), event AS ( \
               INSERT INTO link_events (link_id, user_id, kind, details) \
               SELECT id, $2, 'updated', $10::jsonb FROM link \
             ) \
             SELECT {LINK_COLUMNS} FROM link"
    );
    let url = changes.url.as_ref().map(|u| u.as_str());
    let title = changes.title.clone().flatten();
    let expires_at = changes.expires_at.flatten();
    let redirect_type = changes.redirect_type.map(|r| r.status() as i16);
    let details = changes.describe();
    let tags = changes.tags.clone().unwrap_or_default();
    let client = pool.get().await?;
    let statement = client.prepare_cached(&sql).await?;
    let row = client
        .query_opt(
            &statement,
            &[
                &code,
                &owner,
                &url,
                &changes.title.is_some(),
                &title,
                &changes.is_active,
                &changes.expires_at.is_some(),
                &expires_at,
                &redirect_type,
                &details,
                &changes.tags.is_some(),
                &tags,
            ],
        )
        .await?;
    row.as_ref().map(link_from_row).transpose()
}

/// Soft-deletes the owner's live link and records a `deleted` event. The row stays, so
/// the code is never handed out again. `None` when there is no such live link of theirs.
pub async fn delete(pool: &Pool, code: &str, owner: i64) -> Result<Option<Link>, LinksError> {
    let sql = format!(
        "WITH link AS ( \
               UPDATE links SET deleted_at = now(), \
                 updated_at = greatest(now(), updated_at + interval '1 microsecond') \
               WHERE code = $1 AND owner_id = $2 AND deleted_at IS NULL \
               RETURNING {LINK_COLUMNS} \
             ), event AS ( \
               INSERT INTO link_events (link_id, user_id, kind, details) \
               SELECT id, $2, 'deleted', jsonb_build_object('code', code) FROM link \
             ) \
             SELECT {LINK_COLUMNS} FROM link"
    );
    let client = pool.get().await?;
    let statement = client.prepare_cached(&sql).await?;
    let row = client.query_opt(&statement, &[&code, &owner]).await?;
    row.as_ref().map(link_from_row).transpose()
}

/// A live link by code.
pub async fn get(pool: &Pool, code: &str) -> Result<Option<Link>, LinksError> {
    let sql = format!("SELECT {LINK_COLUMNS} FROM links WHERE code = $1 AND deleted_at IS NULL");
    let client = pool.get().await?;
    let statement = client.prepare_cached(&sql).await?;
    let row = client.query_opt(&statement, &[&code]).await?;
    row.as_ref().map(link_from_row).transpose()
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
        deleted_at: row.try_get("deleted_at")?,
        tags: row.try_get("tags")?,
    })
}

/// The owner's tags with the ids of the live links that carry each.
pub async fn tags(pool: &Pool, owner: i64) -> Result<Vec<(String, Vec<i64>)>, LinksError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT tag, array_agg(id ORDER BY id) FROM links, unnest(tags) AS tag \
             WHERE owner_id = $1 AND deleted_at IS NULL GROUP BY tag ORDER BY tag",
        )
        .await?;
    let rows = client.query(&statement, &[&owner]).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Renames (`Some(to)`) or removes (`None`) a tag on every live link of the owner, each
/// change recorded as an `updated` event: the links changed.
pub async fn retag(
    pool: &Pool,
    owner: i64,
    from: &str,
    to: Option<&str>,
) -> Result<Vec<Link>, LinksError> {
    let sql = format!(
        "WITH link AS ( \
               UPDATE links SET \
                 tags = ARRAY(SELECT DISTINCT t FROM unnest( \
                          CASE WHEN $3::text IS NULL THEN array_remove(tags, $2) \
                               ELSE array_replace(tags, $2, $3) END) AS t ORDER BY t), \
                 updated_at = greatest(now(), updated_at + interval '1 microsecond') \
               WHERE owner_id = $1 AND deleted_at IS NULL AND tags @> ARRAY[$2::text] \
               RETURNING {LINK_COLUMNS} \
             ), event AS ( \
               INSERT INTO link_events (link_id, user_id, kind, details) \
               SELECT id, $1, 'updated', jsonb_build_object('tags', to_jsonb(tags)) FROM link \
             ) \
             SELECT {LINK_COLUMNS} FROM link"
    );
    let client = pool.get().await?;
    let statement = client.prepare_cached(&sql).await?;
    let rows = client.query(&statement, &[&owner, &from, &to]).await?;
    rows.iter().map(link_from_row).collect()
}
