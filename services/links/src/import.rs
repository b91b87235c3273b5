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
}

/// Adds the staged links whose code hop does not have yet, with ids leased in whole
/// blocks of `link_ids` (so imported links never collide with minted ones), owned by the
/// hop user `map_users` gives their export user, and maps every staged link to its hop id.
pub async fn add_staged(tx: &Transaction<'_>) -> Result<Added, tokio_postgres::Error> {
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
    };
    if fresh == 0 {
        return Ok(outcome);
    }
    let size: i64 = tx
        .query_one(
            "SELECT seqincrement FROM pg_sequence WHERE seqrelid = 'link_ids'::regclass",
            &[],
        )
        .await?
        .get(0);
    let size = size.max(1);
    let blocks = (fresh + size - 1) / size;
    tx.execute(
        "CREATE TEMP TABLE id_blocks ON COMMIT DROP AS \
           SELECT b - 1 AS block, nextval('link_ids') AS start FROM generate_series(1, $1::bigint) AS b",
        &[&blocks],
    )
    .await?;
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
    let rebuilt = drop_secondary_indexes_if_empty(tx).await?;
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
    build_indexes(tx, &rebuilt).await?;
    tx.batch_execute(
        "INSERT INTO map_links SELECT source_id, link_id FROM new_ids; ANALYZE map_links;",
    )
    .await?;
    Ok(outcome)
}

/// Into an empty `links` (a first import, the usual way onto hop), its secondary indexes
/// are built once after the load rather than filled row by row: the owner index is
/// filled at random (its key leads with the owner), and that was most of a large
/// import's time (docs/capacity-plan.md, "Import at scale"). The unique indexes stay, and
/// are filled in order. Dropping an index locks `links` until the import commits, which
/// an empty hop can afford; a hop that has links keeps its indexes live, and readers
/// unblocked. Returns the definitions to build again (none when `links` had rows). All
/// in the import's transaction: if it fails, the indexes are back as they were.
async fn drop_secondary_indexes_if_empty(
    tx: &Transaction<'_>,
) -> Result<Vec<String>, tokio_postgres::Error> {
    let empty: bool = tx
        .query_one("SELECT NOT EXISTS (SELECT 1 FROM links)", &[])
        .await?
        .get(0);
    if !empty {
        return Ok(Vec::new());
    }
    let indexes = tx
        .query(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i \
             WHERE i.indrelid = 'links'::regclass AND NOT i.indisunique AND NOT i.indisprimary \
             ORDER BY 1",
            &[],
        )
        .await?;
    let mut definitions = Vec::with_capacity(indexes.len());
    for index in &indexes {
        let (name, definition): (String, String) = (index.get(0), index.get(1));
        tx.batch_execute(&format!("DROP INDEX {name}")).await?;
        definitions.push(definition);
    }
    Ok(definitions)
}

/// Builds the indexes [`drop_secondary_indexes_if_empty`] dropped, with room to sort in
/// memory (a server setting for this transaction only).
async fn build_indexes(
    tx: &Transaction<'_>,
    definitions: &[String],
) -> Result<(), tokio_postgres::Error> {
    if definitions.is_empty() {
        return Ok(());
    }
    tx.batch_execute("SET LOCAL maintenance_work_mem = '256MB'")
        .await?;
    for definition in definitions {
        tx.batch_execute(definition).await?;
    }
    Ok(())
}

/// Adds the fresh events that are not clicks to `link_events`, on the hop link and user
/// they map to. Returns how many were added.
pub async fn add_events(tx: &Transaction<'_>) -> Result<u64, tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO link_events (link_id, user_id, kind, at, details) \
         SELECT ml.link_id, mu.user_id, e.kind, e.at, e.details \
         FROM fresh_events e JOIN map_links ml ON ml.source_id = e.url_id \
         LEFT JOIN map_users mu ON mu.source_id = e.user_id \
         WHERE e.kind <> 'click' ORDER BY ml.link_id, e.at",
        &[],
    )
    .await
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
