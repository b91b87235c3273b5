//! Where links are kept: [`Store`] runs each of the links service's statements on the
//! service's [`Database`], PostgreSQL ([`postgres`]) or the embedded store ([`sqlite`]),
//! one implementation of each beside the other. The bulk statements of `hop import` are
//! [`crate::import`]'s.

mod postgres;
mod sqlite;

use crate::edit::LinkChanges;
use crate::error::LinksError;
use crate::model::{Link, NewLink};
use chrono::{DateTime, Utc};
use hop_kit::database::Database;

/// A link to insert under a given id and code.
#[derive(Debug, Clone)]
pub struct NewRow {
    pub id: i64,
    pub code: String,
    pub link: NewLink,
}

/// The links service's statements, on whichever database it runs.
#[derive(Clone)]
pub struct Store {
    database: Database,
}

impl Store {
    pub fn new(database: Database) -> Self {
        Self { database }
    }

    /// The database itself, for the owners of other tables on it (click stats).
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Leases a block of ids: the block's first id, and its size.
    pub async fn lease_ids(&self) -> Result<(i64, i64), LinksError> {
        match &self.database {
            Database::Postgres(pool) => postgres::lease_ids(pool).await,
            Database::Sqlite(db) => sqlite::lease_ids(db).await,
        }
    }

    /// Inserts a batch of links and their `created` events with one commit. Returns, for
    /// each row in order, the stored link, or `None` when its code was taken (by an
    /// existing link or an earlier row of the same batch).
    pub async fn insert_many(&self, rows: &[NewRow]) -> Result<Vec<Option<Link>>, LinksError> {
        match &self.database {
            Database::Postgres(pool) => postgres::insert_many(pool, rows).await,
            Database::Sqlite(db) => sqlite::insert_many(db, rows).await,
        }
    }

    /// The owner's live links, newest first, after the keyset position `after`; with a
    /// `tag`, only those carrying it; with a
    /// `pattern` (`LIKE`, escaped with a backslash), only those whose code, target or title
    /// match it, case-insensitively.
    pub async fn list(
        &self,
        owner: i64,
        limit: i64,
        after: Option<(DateTime<Utc>, i64)>,
        pattern: Option<&str>,
        tag: Option<&str>,
    ) -> Result<Vec<Link>, LinksError> {
        match &self.database {
            Database::Postgres(pool) => {
                postgres::list(pool, owner, limit, after, pattern, tag).await
            }
            Database::Sqlite(db) => sqlite::list(db, owner, limit, after, pattern, tag).await,
        }
    }

    /// A numbered page of the owner's live links for `query`, and how many match in all.
    pub async fn page(
        &self,
        owner: i64,
        query: &crate::model::PageQuery,
    ) -> Result<(Vec<Link>, u64), LinksError> {
        match &self.database {
            Database::Postgres(pool) => postgres::page(pool, owner, query).await,
            Database::Sqlite(db) => sqlite::page(db, owner, query).await,
        }
    }

    /// The ids of the owner's live links.
    pub async fn ids(&self, owner: i64) -> Result<Vec<i64>, LinksError> {
        match &self.database {
            Database::Postgres(pool) => postgres::ids(pool, owner).await,
            Database::Sqlite(db) => sqlite::ids(db, owner).await,
        }
    }

    /// The owner's tags, by name, with the ids of the live links that carry each.
    pub async fn tags(&self, owner: i64) -> Result<Vec<(String, Vec<i64>)>, LinksError> {
        match &self.database {
            Database::Postgres(pool) => postgres::tags(pool, owner).await,
            Database::Sqlite(db) => sqlite::tags(db, owner).await,
        }
    }

    /// Renames (`Some(to)`) or removes (`None`) tag `from` on every live link of the
    /// owner, with an `updated` event each: the links changed.
    pub async fn retag(
        &self,
        owner: i64,
        from: &str,
        to: Option<&str>,
    ) -> Result<Vec<Link>, LinksError> {
        match &self.database {
            Database::Postgres(pool) => postgres::retag(pool, owner, from, to).await,
            Database::Sqlite(db) => sqlite::retag(db, owner, from, to).await,
        }
    }

    /// Applies `changes` to the owner's live link and records an `updated` event, both or
    /// neither. `None` when the code is unknown, deleted or not the owner's.
    pub async fn update(
        &self,
        code: &str,
        owner: i64,
        changes: &LinkChanges,
    ) -> Result<Option<Link>, LinksError> {
        match &self.database {
            Database::Postgres(pool) => postgres::update(pool, code, owner, changes).await,
            Database::Sqlite(db) => sqlite::update(db, code, owner, changes).await,
        }
    }

    /// Soft-deletes the owner's live link and records a `deleted` event. The row stays, so
    /// the code is never handed out again. `None` when there is no such live link of theirs.
    pub async fn delete(&self, code: &str, owner: i64) -> Result<Option<Link>, LinksError> {
        match &self.database {
            Database::Postgres(pool) => postgres::delete(pool, code, owner).await,
            Database::Sqlite(db) => sqlite::delete(db, code, owner).await,
        }
    }

    /// A live link by code.
    pub async fn get(&self, code: &str) -> Result<Option<Link>, LinksError> {
        match &self.database {
            Database::Postgres(pool) => postgres::get(pool, code).await,
            Database::Sqlite(db) => sqlite::get(db, code).await,
        }
    }
}
