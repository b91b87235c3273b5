//! The links service's statements on the embedded store. Every write is one job of the
//! single writer (a link and its event in one savepoint, committed with the rest of the
//! writer's batch); reads run on the reader pool.

use super::NewRow;
use crate::edit::LinkChanges;
use crate::error::LinksError;
use crate::model::Link;
use chrono::{DateTime, Utc};
use hop_kit::sqlite::rusqlite::types::Type;
use hop_kit::sqlite::rusqlite::{self, Connection, OptionalExtension, Row, params};
use hop_kit::sqlite::{Sqlite, from_micros, micros, now_micros};
use hop_proto::link::RedirectType;

const LINK_COLUMNS: &str = "id, code, target_url, title, owner_id, redirect_type, is_active, \
                            expires_at, created_at, updated_at, deleted_at, tags";

/// Leases the next block of ids: the block's first id, and its size.
pub async fn lease_ids(db: &Sqlite) -> Result<(i64, i64), LinksError> {
    Ok(db
        .write(|c| {
            Ok(c.query_row(
                "UPDATE link_ids SET next = next + block RETURNING next - block, block",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
        .await?)
}

/// One row to insert, owned so the writer thread can take it.
struct Insert {
    id: i64,
    code: String,
    url: String,
    title: Option<String>,
    owner: Option<i64>,
    redirect_type: RedirectType,
    expires_at: Option<i64>,
    tags: Vec<String>,
}

/// Inserts a batch of links and their `created` events in one writer job. Returns, for
/// each row in order, the stored link, or `None` when its code was taken.
pub async fn insert_many(db: &Sqlite, rows: &[NewRow]) -> Result<Vec<Option<Link>>, LinksError> {
    let rows: Vec<Insert> = rows
        .iter()
        .map(|r| Insert {
            id: r.id,
            code: r.code.clone(),
            url: r.link.url.as_str().to_owned(),
            title: r.link.title.clone(),
            owner: r.link.owner_id,
            redirect_type: r.link.redirect_type,
            expires_at: r.link.expires_at.map(micros),
            tags: r.link.tags.clone(),
        })
        .collect();
    Ok(db
        .write(move |c| {
            let now = now_micros();
            // No RETURNING: the row is what was sent, and a RETURNING statement costs a
            // statement journal per row (a third of a bulk create's time, measured).
            let mut link = c.prepare_cached(
                "INSERT INTO links (id, code, target_url, title, owner_id, redirect_type, \
                                    expires_at, created_at, updated_at, tags) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9) \
                 ON CONFLICT (code) DO NOTHING",
            )?;
            let mut event = c.prepare_cached(
                "INSERT INTO link_events (link_id, user_id, kind, at, details) \
                 VALUES (?1, ?2, 'created', ?3, json_object('code', ?4, 'url', ?5))",
            )?;
            let mut stored = Vec::with_capacity(rows.len());
            for r in &rows {
                let tags = serde_json::to_string(&r.tags).unwrap_or_else(|_| "[]".into());
                let changed = link.execute(params![
                    r.id,
                    r.code,
                    r.url,
                    r.title,
                    r.owner,
                    i64::from(r.redirect_type.status()),
                    r.expires_at,
                    now,
                    tags
                ])?;
                let inserted = (changed == 1).then(|| Link {
                    id: r.id,
                    code: r.code.clone(),
                    url: r.url.clone(),
                    title: r.title.clone(),
                    owner_id: r.owner,
                    redirect_type: r.redirect_type,
                    is_active: true,
                    expires_at: r.expires_at.map(from_micros),
                    created_at: from_micros(now),
                    updated_at: from_micros(now),
                    deleted_at: None,
                    tags: r.tags.clone(),
                });
                if inserted.is_some() {
                    event.execute(params![r.id, r.owner, now, r.code, r.url])?;
                }
                stored.push(inserted);
            }
            Ok(stored)
        })
        .await?)
}

/// The owner's live links, newest first, after the keyset position `after`.
pub async fn list(
    db: &Sqlite,
    owner: i64,
    limit: i64,
    after: Option<(DateTime<Utc>, i64)>,
    pattern: Option<&str>,
    tag: Option<&str>,
) -> Result<Vec<Link>, LinksError> {
    let (after_at, after_id) = (after.map(|a| micros(a.0)), after.map_or(0, |a| a.1));
    let (pattern, tag) = (pattern.map(str::to_owned), tag.map(str::to_owned));
    Ok(db
        .read(move |c| {
            // SQLite's LIKE ignores ASCII case, as PostgreSQL's ILIKE does.
            let mut statement = c.prepare_cached(&format!(
                "SELECT {LINK_COLUMNS} FROM links \
                 WHERE owner_id = ?1 AND deleted_at IS NULL \
                   AND (?2 IS NULL OR (created_at, id) < (?2, ?3)) \
                   AND (?5 IS NULL OR code LIKE ?5 ESCAPE '\\' \
                        OR target_url LIKE ?5 ESCAPE '\\' OR title LIKE ?5 ESCAPE '\\') \
                   AND (?6 IS NULL OR EXISTS (SELECT 1 FROM json_each(links.tags) \
                                              WHERE json_each.value = ?6)) \
                 ORDER BY created_at DESC, id DESC LIMIT ?4"
            ))?;
            let links = statement
                .query_map(
                    params![owner, after_at, after_id, limit, pattern, tag],
                    link_from_row,
                )?
                .collect::<Result<_, _>>()?;
            Ok(links)
        })
        .await?)
}

pub async fn page(
    db: &Sqlite,
    owner: i64,
    query: &crate::model::PageQuery,
) -> Result<(Vec<Link>, u64), LinksError> {
    // Tags are a JSON array on both sides: "any" finds one in common, "all" finds none of
    // the asked missing.
    const FILTER: &str = "owner_id = ?1 AND deleted_at IS NULL \
         AND (?2 IS NULL OR code LIKE ?2 ESCAPE '\\' \
              OR target_url LIKE ?2 ESCAPE '\\' OR title LIKE ?2 ESCAPE '\\') \
         AND (json_array_length(?3) = 0 \
              OR (?4 AND NOT EXISTS (SELECT 1 FROM json_each(?3) AS asked \
                      WHERE asked.value NOT IN (SELECT value FROM json_each(links.tags)))) \
              OR (NOT ?4 AND EXISTS (SELECT 1 FROM json_each(?3) AS asked \
                      WHERE asked.value IN (SELECT value FROM json_each(links.tags)))))";
    let order = query.order.sql(query.descending);
    let pattern = query.pattern.clone();
    let tags = serde_json::to_string(&query.tags).unwrap_or_else(|_| "[]".into());
    let (all, limit, offset) = (query.all_tags, query.limit, query.offset);
    Ok(db
        .read(move |c| {
            let mut page = c.prepare_cached(&format!(
                "SELECT {LINK_COLUMNS} FROM links WHERE {FILTER} ORDER BY {order} \
                 LIMIT ?5 OFFSET ?6"
            ))?;
            let links = page
                .query_map(
                    params![owner, pattern, tags, all, limit, offset],
                    link_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            let total: i64 = c
                .prepare_cached(&format!("SELECT count(*) FROM links WHERE {FILTER}"))?
                .query_row(params![owner, pattern, tags, all], |r| r.get(0))?;
            Ok((links, total.max(0) as u64))
        })
        .await?)
}

pub async fn ids(db: &Sqlite, owner: i64) -> Result<Vec<i64>, LinksError> {
    Ok(db
        .read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT id FROM links WHERE owner_id = ?1 AND deleted_at IS NULL",
            )?;
            let ids = statement
                .query_map([owner], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(ids)
        })
        .await?)
}

/// Applies `changes` to the owner's live link and records an `updated` event. `None` when
/// the code is unknown, deleted or not the owner's.
pub async fn update(
    db: &Sqlite,
    code: &str,
    owner: i64,
    changes: &LinkChanges,
) -> Result<Option<Link>, LinksError> {
    let code = code.to_owned();
    let url = changes.url.as_ref().map(|u| u.as_str().to_owned());
    let set_title = changes.title.is_some();
    let title = changes.title.clone().flatten();
    let is_active = changes.is_active;
    let set_expiry = changes.expires_at.is_some();
    let expires_at = changes.expires_at.flatten().map(micros);
    let redirect_type = changes.redirect_type.map(|r| i64::from(r.status()));
    let details = changes.describe().to_string();
    let tags = changes
        .tags
        .as_ref()
        .map(|t| serde_json::to_string(t).unwrap_or_else(|_| "[]".into()));
    Ok(db
        .write(move |c| {
            let mut statement = c.prepare_cached(&format!(
                "UPDATE links SET \
                   target_url = coalesce(?3, target_url), \
                   title = CASE WHEN ?4 THEN ?5 ELSE title END, \
                   is_active = coalesce(?6, is_active), \
                   expires_at = CASE WHEN ?7 THEN ?8 ELSE expires_at END, \
                   redirect_type = coalesce(?9, redirect_type), \
                   tags = coalesce(?11, tags), \
                   updated_at = max(?10, updated_at + 1) \
                 WHERE code = ?1 AND owner_id = ?2 AND deleted_at IS NULL \
                 RETURNING {LINK_COLUMNS}"
            ))?;
            let now = now_micros();
            let link = statement
                .query_row(
                    params![
                        code,
                        owner,
                        url,
                        set_title,
                        title,
                        is_active,
                        set_expiry,
                        expires_at,
                        redirect_type,
                        now,
                        tags
                    ],
                    link_from_row,
                )
                .optional()?;
            if let Some(link) = &link {
                record(c, link.id, owner, "updated", now, &details)?;
            }
            Ok(link)
        })
        .await?)
}

/// Soft-deletes the owner's live link and records a `deleted` event. `None` when there is
/// no such live link of theirs.
pub async fn delete(db: &Sqlite, code: &str, owner: i64) -> Result<Option<Link>, LinksError> {
    let code = code.to_owned();
    Ok(db
        .write(move |c| {
            let mut statement = c.prepare_cached(&format!(
                "UPDATE links SET deleted_at = ?3, updated_at = max(?3, updated_at + 1) \
                 WHERE code = ?1 AND owner_id = ?2 AND deleted_at IS NULL \
                 RETURNING {LINK_COLUMNS}"
            ))?;
            let now = now_micros();
            let link = statement
                .query_row(params![code, owner, now], link_from_row)
                .optional()?;
            if let Some(link) = &link {
                let details = serde_json::json!({ "code": link.code }).to_string();
                record(c, link.id, owner, "deleted", now, &details)?;
            }
            Ok(link)
        })
        .await?)
}

/// A live link by code.
pub async fn get(db: &Sqlite, code: &str) -> Result<Option<Link>, LinksError> {
    let code = code.to_owned();
    Ok(db
        .read(move |c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {LINK_COLUMNS} FROM links WHERE code = ?1 AND deleted_at IS NULL"
            ))?;
            Ok(statement.query_row([code], link_from_row).optional()?)
        })
        .await?)
}

fn record(
    c: &Connection,
    link_id: i64,
    user: i64,
    kind: &str,
    at: i64,
    details: &str,
) -> rusqlite::Result<usize> {
    c.prepare_cached(
        "INSERT INTO link_events (link_id, user_id, kind, at, details) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![link_id, user, kind, at, details])
}

fn link_from_row(row: &Row) -> rusqlite::Result<Link> {
    let status: i64 = row.get(5)?;
    let redirect_type = RedirectType::from_status(status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            5,
            Type::Integer,
            format!("stored redirect_type {status}").into(),
        )
    })?;
    Ok(Link {
        id: row.get(0)?,
        code: row.get(1)?,
        url: row.get(2)?,
        title: row.get(3)?,
        owner_id: row.get(4)?,
        redirect_type,
        is_active: row.get(6)?,
        expires_at: row.get::<_, Option<i64>>(7)?.map(from_micros),
        created_at: from_micros(row.get(8)?),
        updated_at: from_micros(row.get(9)?),
        deleted_at: row.get::<_, Option<i64>>(10)?.map(from_micros),
        tags: {
            let text: String = row.get(11)?;
            serde_json::from_str(&text).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(11, Type::Text, Box::new(e))
            })?
        },
    })
}

/// The owner's tags with the ids of the live links that carry each.
pub async fn tags(db: &Sqlite, owner: i64) -> Result<Vec<(String, Vec<i64>)>, LinksError> {
    Ok(db
        .read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT json_each.value, links.id FROM links, json_each(links.tags) \
                 WHERE owner_id = ?1 AND deleted_at IS NULL \
                 ORDER BY json_each.value, links.id",
            )?;
            let mut tags: Vec<(String, Vec<i64>)> = Vec::new();
            let mut rows = statement.query([owner])?;
            while let Some(row) = rows.next()? {
                let (tag, id): (String, i64) = (row.get(0)?, row.get(1)?);
                match tags.last_mut() {
                    Some((last, ids)) if *last == tag => ids.push(id),
                    _ => tags.push((tag, vec![id])),
                }
            }
            Ok(tags)
        })
        .await?)
}

/// Renames (`Some(to)`) or removes (`None`) a tag on every live link of the owner, each
/// change recorded as an `updated` event: the links changed.
pub async fn retag(
    db: &Sqlite,
    owner: i64,
    from: &str,
    to: Option<&str>,
) -> Result<Vec<Link>, LinksError> {
    let (from, to) = (from.to_owned(), to.map(str::to_owned));
    Ok(db
        .write(move |c| {
            let mut statement = c.prepare_cached(&format!(
                "UPDATE links SET \
                   tags = (SELECT coalesce(json_group_array(t), '[]') FROM ( \
                             SELECT DISTINCT CASE WHEN value = ?2 THEN ?3 ELSE value END AS t \
                             FROM json_each(links.tags) \
                             WHERE NOT (value = ?2 AND ?3 IS NULL) ORDER BY t)), \
                   updated_at = max(?4, updated_at + 1) \
                 WHERE owner_id = ?1 AND deleted_at IS NULL \
                   AND EXISTS (SELECT 1 FROM json_each(links.tags) WHERE value = ?2) \
                 RETURNING {LINK_COLUMNS}"
            ))?;
            let now = now_micros();
            let links: Vec<Link> = statement
                .query_map(params![owner, from, to, now], link_from_row)?
                .collect::<Result<_, _>>()?;
            for link in &links {
                let details = serde_json::json!({ "tags": link.tags }).to_string();
                record(c, link.id, owner, "updated", now, &details)?;
            }
            Ok(links)
        })
        .await?)
}
