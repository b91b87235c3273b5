//! Links and link events brought in by `hop import`: staged in bulk inside the import's
//! transaction, then added in set-based statements. The importer parses and checks the
//! export's rows and copies them into [`STAGE`]; what becomes of them in `links` and
//! `link_events`, and how their ids are leased from `link_ids`, is decided here, beside
//! the service's other statements on those tables ([`crate::store`]).
//!
//! The contract with the importer, all temporary tables of its transaction:
//! - it fills `stage_urls (line, id, user_id, code, url, title, is_active, created_at,
//!   updated_at)`, one row per link of the export (`id` and `user_id` are the export's
//!   own ids, `line` the row's line in its file);
//! - `map_users (source_id, user_id)` is there before [`add_staged`] runs
//!   (`hop_auth::import::add_staged` leaves it);
//! - [`add_staged`] leaves `map_links (source_id, link_id)`: each export link id with the
//!   hop link it is now;
//! - [`add_events`] reads `fresh_events (url_id, user_id, kind, at, details)`: the
//!   export's events not imported before, clicks among them (those are `hop-clicks`'s).

use hop_kit::postgres::StageTable;
use tokio_postgres::Transaction;
use tokio_postgres::types::Type;

/// Where the importer copies the export's links.
pub const STAGE: StageTable = StageTable {
    create: "CREATE TEMP TABLE stage_urls (line bigint, id bigint, user_id bigint, code text, \
             url text, title text, is_active boolean, created_at timestamptz, \
             updated_at timestamptz) ON COMMIT DROP",
    copy: "COPY stage_urls (line, id, user_id, code, url, title, is_active, created_at, \
           updated_at) FROM STDIN BINARY",
    types: &[
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::BOOL,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
    ],
};

/// Staged links whose code hop already gives to a link that points elsewhere: the first
/// `limit` as `(line, code)` in line order, and how many there are in all.
pub async fn codes_taken(
    tx: &Transaction<'_>,
    limit: i64,
) -> Result<(Vec<(i64, String)>, u64), tokio_postgres::Error> {
    let rows = tx
        .query(
            "SELECT s.line, s.code, count(*) OVER () FROM stage_urls s JOIN links l ON l.code = s.code \
             WHERE l.target_url <> s.url ORDER BY s.line LIMIT $1",
            &[&limit],
        )
        .await?;
    let total = rows.first().map_or(0, |r| r.get::<_, i64>(2)) as u64;
    let listed = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok((listed, total))
}

/// What [`add_staged`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    pub added: u64,
    /// Staged links whose code hop had already (a second run): matched, not added.
    pub present: u64,
    /// `links` was empty (a first import): its indexes were taken off for the load and
    /// `links` and `link_events` are locked until the import commits, so [`add_events`]
    /// may take the events' foreign keys off too.
    pub first: bool,
}

/// Adds the staged links whose code hop does not have yet, with ids leased in whole
/// blocks of `link_ids` (so imported links never collide with minted ones), owned by the
/// hop user `map_users` gives their export user, and maps every staged link to its hop id.
pub async fn add_staged(tx: &Transaction<'_>) -> Result<Added, tokio_postgres::Error> {
    if links_empty(tx).await? {
        // Both tables locked at once, in the order a create writes them (no deadlock with
        // one), then looked at again: a create that committed in between sends the import
        // the live way below, which then holds the locks until it commits (a race of
        // milliseconds on an empty hop).
        tx.batch_execute("LOCK TABLE links, link_events IN ACCESS EXCLUSIVE MODE")
            .await?;
        if links_empty(tx).await? {
            return add_first(tx).await;
        }
    }
    // Links already in hop (a second run), before any is added.
    tx.batch_execute(
        "CREATE TEMP TABLE map_links ON COMMIT DROP AS \
           SELECT s.id AS source_id, l.id AS link_id FROM stage_urls s JOIN links l ON l.code = s.code; \
         ANALYZE map_links;",
    )
    .await?;
    let counts = tx
        .query_one(
            "SELECT (SELECT count(*) FROM map_links), (SELECT count(*) FROM stage_urls)",
            &[],
        )
        .await?;
    let (present, staged): (i64, i64) = (counts.get(0), counts.get(1));
    let fresh = staged - present;
    let mut outcome = Added {
        added: 0,
        present: present as u64,
        first: false,
    };
    if fresh == 0 {
        return Ok(outcome);
    }
    let size = lease_blocks(tx, fresh).await?;
    // Numbered in code order: ids then grow with codes, so both unique indexes of `links`
    // are filled from one end instead of at random. Codes are unique among the staged
    // links (checked before), so the numbering is the same each time it is computed: once
    // narrow, for the map, and once wide, for the insert, rather than one wide copy of
    // every new link written to a temporary table and read back. (`size` is the sequence's
    // increment, an integer read above: inlined, since CREATE TABLE AS takes no
    // parameters.)
    let numbered = |columns: &str| {
        format!(
            "SELECT b.start + f.k % {size} AS link_id, f.* FROM ( \
               SELECT {columns}, row_number() OVER (ORDER BY s.code) - 1 AS k FROM stage_urls s \
               WHERE NOT EXISTS (SELECT 1 FROM map_links m WHERE m.source_id = s.id)) f \
             JOIN id_blocks b ON b.block = f.k / {size}"
        )
    };
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE new_ids ON COMMIT DROP AS SELECT id AS source_id, link_id FROM ({}) n",
        numbered("s.id")
    ))
    .await?;
    // No ORDER BY: the rows leave the window in code order and the joins after it (with
    // two small tables) keep that order, which is all the indexes need; a sort of every
    // new link would only make sure of it.
    outcome.added = tx
        .execute(
            &format!(
                "INSERT INTO links (id, code, target_url, title, owner_id, is_active, created_at, updated_at) \
                 SELECT n.link_id, n.code, n.url, n.title, m.user_id, n.is_active, n.created_at, \
                        greatest(n.updated_at, n.created_at) \
                 FROM ({}) n LEFT JOIN map_users m ON m.source_id = n.user_id",
                numbered("s.code, s.url, s.title, s.user_id, s.is_active, s.created_at, s.updated_at")
            ),
            &[],
        )
        .await?;
    tx.batch_execute(
        "INSERT INTO map_links SELECT source_id, link_id FROM new_ids; ANALYZE map_links;",
    )
    .await?;
    Ok(outcome)
}

/// A first import, into an empty `links` (the usual way onto hop; `links` and
/// `link_events` locked by the caller): every staged link is new, and the indexes other than the primary key are taken off during the load and
/// built after it, each with one sort, instead of filled row by row (the owner index at
/// random, its key leading with the owner; docs/capacity-plan.md, "Import at scale").
/// With no index on the code to fill in order, the links are numbered in line order,
/// from the line itself: no sort at all, the primary key filled from one end, and the
/// map and the insert each one pass over the stage. (A gap in the lines, a record over
/// several lines, leaves an id of a leased block unused.) Taking the indexes off locks
/// `links` until the import commits, which an empty hop can afford; all in the import's
/// transaction, so if it fails the indexes are back as they were.
async fn add_first(tx: &Transaction<'_>) -> Result<Added, tokio_postgres::Error> {
    tx.batch_execute(
        "CREATE TEMP TABLE map_links (source_id bigint, link_id bigint) ON COMMIT DROP",
    )
    .await?;
    let lines = tx
        .query_one("SELECT min(line), max(line) FROM stage_urls", &[])
        .await?;
    let (Some(first), Some(last)): (Option<i64>, Option<i64>) = (lines.get(0), lines.get(1)) else {
        return Ok(Added {
            added: 0,
            present: 0,
            first: true,
        });
    };
    let size = lease_blocks(tx, last - first + 1).await?;
    // `first` and `size` are integers read above, inlined as in `add_staged`.
    let k = format!("(s.line - {first})");
    let link_id = format!("b.start + {k} % {size}");
    let blocks = format!("JOIN id_blocks b ON b.block = {k} / {size}");
    tx.batch_execute(&format!(
        "INSERT INTO map_links SELECT s.id, {link_id} FROM stage_urls s {blocks}; \
         ANALYZE map_links;"
    ))
    .await?;
    let rebuild = take_indexes_off(tx).await?;
    let added = tx
        .execute(
            &format!(
                "INSERT INTO links (id, code, target_url, title, owner_id, is_active, created_at, updated_at) \
                 SELECT {link_id}, s.code, s.url, s.title, m.user_id, s.is_active, s.created_at, \
                        greatest(s.updated_at, s.created_at) \
                 FROM stage_urls s {blocks} LEFT JOIN map_users m ON m.source_id = s.user_id"
            ),
            &[],
        )
        .await?;
    // Room to sort in memory, for this transaction only.
    tx.batch_execute("SET LOCAL maintenance_work_mem = '256MB'")
        .await?;
    for statement in &rebuild {
        tx.batch_execute(statement).await?;
    }
    Ok(Added {
        added,
        present: 0,
        first: true,
    })
}

async fn links_empty(tx: &Transaction<'_>) -> Result<bool, tokio_postgres::Error> {
    Ok(tx
        .query_one("SELECT NOT EXISTS (SELECT 1 FROM links)", &[])
        .await?
        .get(0))
}

/// Leases enough whole blocks of `link_ids` for `ids` links into `id_blocks (block,
/// start)`, and returns the block size (the sequence's increment).
async fn lease_blocks(tx: &Transaction<'_>, ids: i64) -> Result<i64, tokio_postgres::Error> {
    let size: i64 = tx
        .query_one(
            "SELECT seqincrement FROM pg_sequence WHERE seqrelid = 'link_ids'::regclass",
            &[],
        )
        .await?
        .get(0);
    let size = size.max(1);
    let blocks = (ids + size - 1) / size;
    tx.execute(
        "CREATE TEMP TABLE id_blocks ON COMMIT DROP AS \
           SELECT b - 1 AS block, nextval('link_ids') AS start FROM generate_series(1, $1::bigint) AS b",
        &[&blocks],
    )
    .await?;
    Ok(size)
}

/// Drops every index of `links` but its primary key (a unique one as the constraint it
/// backs) and returns the statements that make them again, unique ones first, as the
/// migrations made them.
async fn take_indexes_off(tx: &Transaction<'_>) -> Result<Vec<String>, tokio_postgres::Error> {
    let indexes = tx
        .query(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), \
                    quote_ident(c.conname), pg_get_constraintdef(c.oid) \
             FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid \
               AND c.conrelid = i.indrelid AND c.contype IN ('u', 'x') \
             WHERE i.indrelid = 'links'::regclass AND NOT i.indisprimary \
             ORDER BY i.indisunique DESC, 1",
            &[],
        )
        .await?;
    let mut rebuild = Vec::with_capacity(indexes.len());
    for index in &indexes {
        let (name, definition): (String, String) = (index.get(0), index.get(1));
        match index.get::<_, Option<String>>(2) {
            Some(constraint) => {
                let constraint_definition: String = index.get(3);
                tx.batch_execute(&format!("ALTER TABLE links DROP CONSTRAINT {constraint}"))
                    .await?;
                rebuild.push(format!(
                    "ALTER TABLE links ADD CONSTRAINT {constraint} {constraint_definition}"
                ));
            }
            None => {
                tx.batch_execute(&format!("DROP INDEX {name}")).await?;
                rebuild.push(definition);
            }
        }
    }
    Ok(rebuild)
}

/// Adds the fresh events that are not clicks to `link_events`, on the hop link and user
/// they map to. Returns how many were added. `first`: [`add_staged`] found `links` empty
/// ([`Added::first`]), so `link_events` is empty too and both are locked: its foreign
/// keys are added again after the insert instead of checked row by row.
pub async fn add_events(tx: &Transaction<'_>, first: bool) -> Result<u64, tokio_postgres::Error> {
    let checked_after = if first {
        take_foreign_keys_off(tx, "link_events").await?
    } else {
        Vec::new()
    };
    let added = tx
        .execute(
            "INSERT INTO link_events (link_id, user_id, kind, at, details) \
             SELECT ml.link_id, mu.user_id, e.kind, e.at, e.details \
             FROM fresh_events e JOIN map_links ml ON ml.source_id = e.url_id \
             LEFT JOIN map_users mu ON mu.source_id = e.user_id \
             WHERE e.kind <> 'click' ORDER BY ml.link_id, e.at",
            &[],
        )
        .await?;
    for constraint in &checked_after {
        tx.batch_execute(constraint).await?;
    }
    Ok(added)
}

/// Drops the foreign keys of `table` (empty, in a first import) and returns the
/// statements that add them again after the load, which checks every row in one join
/// instead of one trigger query per row: for `link_events` that was a third of a large
/// import's events (decision 36). In the import's transaction, as the indexes are.
async fn take_foreign_keys_off(
    tx: &Transaction<'_>,
    table: &str,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let keys = tx
        .query(
            "SELECT quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = $1::text::regclass AND contype = 'f' ORDER BY 1",
            &[&table],
        )
        .await?;
    let mut add_again = Vec::with_capacity(keys.len());
    for key in &keys {
        let (name, definition): (String, String) = (key.get(0), key.get(1));
        tx.batch_execute(&format!("ALTER TABLE {table} DROP CONSTRAINT {name}"))
            .await?;
        add_again.push(format!(
            "ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"
        ));
    }
    Ok(add_again)
}

/// The same contract on the embedded store, where the importer's whole run is one job of
/// the writer: the stage and map tables are temporary tables of that job's connection,
/// and ids are leased from `link_ids` in one contiguous run of blocks.
pub mod embedded {
    use hop_kit::sqlite::SqliteError;
    use hop_kit::sqlite::rusqlite::{Connection, params};

    /// The stage the importer fills: as [`super::STAGE`], times in unix microseconds.
    pub const STAGE: &str = "CREATE TEMP TABLE stage_urls (line INTEGER, id INTEGER, \
        user_id INTEGER, code TEXT, url TEXT, title TEXT, is_active INTEGER, \
        created_at INTEGER, updated_at INTEGER)";

    /// As [`super::codes_taken`].
    pub fn codes_taken(
        c: &Connection,
        limit: i64,
    ) -> Result<(Vec<(i64, String)>, u64), SqliteError> {
        let mut statement = c.prepare(
            "SELECT s.line, s.code, count(*) OVER () FROM stage_urls s JOIN links l ON l.code = s.code \
             WHERE l.target_url <> s.url ORDER BY s.line LIMIT ?1",
        )?;
        let rows: Vec<(i64, String, i64)> = statement
            .query_map([limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let total = rows.first().map_or(0, |r| r.2) as u64;
        Ok((rows.into_iter().map(|(l, c, _)| (l, c)).collect(), total))
    }

    /// As [`super::add_staged`]: the links whose code hop lacks, on ids leased in whole
    /// blocks, and `map_links` for every staged link.
    pub fn add_staged(c: &Connection) -> Result<super::Added, SqliteError> {
        let fresh: i64 = c.query_row(
            "SELECT count(*) FROM stage_urls s WHERE NOT EXISTS (SELECT 1 FROM links l WHERE l.code = s.code)",
            [],
            |r| r.get(0),
        )?;
        let staged: i64 = c.query_row("SELECT count(*) FROM stage_urls", [], |r| r.get(0))?;
        let mut outcome = super::Added {
            added: 0,
            present: (staged - fresh) as u64,
            // Nothing is taken off here: the whole import is one job of the one writer.
            first: false,
        };
        if fresh > 0 {
            let (start, _block): (i64, i64) = c.query_row(
                "UPDATE link_ids SET next = next + ((?1 + block - 1) / block) * block \
                 RETURNING next - ((?1 + block - 1) / block) * block, block",
                [fresh],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            // Numbered in code order, so ids grow with codes as on PostgreSQL.
            outcome.added = c.execute(
                "INSERT INTO links (id, code, target_url, title, owner_id, is_active, created_at, updated_at) \
                 SELECT ?1 + row_number() OVER (ORDER BY s.code) - 1, s.code, s.url, s.title, m.user_id, \
                        s.is_active, s.created_at, max(s.updated_at, s.created_at) \
                 FROM stage_urls s LEFT JOIN map_users m ON m.source_id = s.user_id \
                 WHERE NOT EXISTS (SELECT 1 FROM links l WHERE l.code = s.code) \
                 ORDER BY s.code",
                params![start],
            )? as u64;
        }
        c.execute_batch(
            "CREATE TEMP TABLE map_links AS \
               SELECT s.id AS source_id, l.id AS link_id FROM stage_urls s JOIN links l ON l.code = s.code; \
             CREATE INDEX temp.map_links_source ON map_links (source_id);",
        )?;
        Ok(outcome)
    }

    /// As [`super::add_events`], from `fresh_events`.
    pub fn add_events(c: &Connection) -> Result<u64, SqliteError> {
        Ok(c.execute(
            "INSERT INTO link_events (link_id, user_id, kind, at, details) \
             SELECT ml.link_id, mu.user_id, e.kind, e.at, e.details \
             FROM fresh_events e JOIN map_links ml ON ml.source_id = e.url_id \
             LEFT JOIN map_users mu ON mu.source_id = e.user_id \
             WHERE e.kind <> 'click' ORDER BY ml.link_id, e.at",
            [],
        )? as u64)
    }
}
