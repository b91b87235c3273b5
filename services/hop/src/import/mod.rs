//! `hop import`: the original system's CSV exports (users, urls, events) into hop,
//! streamed: memory stays bounded whatever the size of the export.
//!
//! Everything happens in one transaction, so an import either happens whole or not at all:
//!
//! 1. **Stage.** Each file is read a row at a time; each row is checked on its own
//!    ([`rows`]) and copied (binary `COPY`) into a temporary table of the transaction. A
//!    malformed row is recorded with its file and line, and reading goes on, so one run
//!    reports them all.
//! 2. **Check.** What needs more than one row is checked in PostgreSQL ([`checks`]):
//!    duplicate emails and codes, users and links referred to but not in the export, and
//!    codes already taken in hop by another link. Any problem rolls everything back:
//!    nothing is written.
//! 3. **Write.** Users are matched by email, links by code (and must point where they
//!    did), and events by their source id in `import_ledger`, so a second run adds nothing.
//!    New links get ids leased in whole blocks of the `link_ids` sequence, like the links
//!    service's. Click events become clicks through `hop-clicks` (folded, with their
//!    rollups, exactly as recorded clicks are), read back from the stage a chunk at a time;
//!    the rest become link events.
//!
//! Links keep their 6-character codes, owners, titles and active flags. Users come in
//! without a usable password: they set one with `hop users set-password`.

mod checks;
mod rows;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hop_kit::config::DatabaseArgs;
use indicatif::{ProgressBar, ProgressStyle};
use rows::{Problems, Reader};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

/// Click events read back from the stage and folded at a time.
const CLICK_CHUNK: i32 = 50_000;

/// Memory PostgreSQL may use per sort or hash of the import's joins (its own, not hop's),
/// so the checks over millions of staged rows stay in memory instead of spilling.
const WORK_MEM: &str = "64MB";

/// The three files of an export.
#[derive(Debug, Clone)]
pub struct Sources {
    pub users: PathBuf,
    pub urls: PathBuf,
    pub events: PathBuf,
}

impl Sources {
    /// `seed-users.csv`, `seed-urls.csv` and `seed-events.csv` in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            users: dir.join("seed-users.csv"),
            urls: dir.join("seed-urls.csv"),
            events: dir.join("seed-events.csv"),
        }
    }
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub users_added: u64,
    pub users_present: u64,
    pub links_added: u64,
    pub links_present: u64,
    pub events_added: u64,
    pub clicks_added: u64,
    pub events_present: u64,
}

/// The temporary tables rows are staged in (dropped at commit or rollback).
const STAGE: &str = "\
    SET LOCAL work_mem = '64MB'; \
    CREATE TEMP TABLE stage_users (line bigint, id bigint, username text, email text, created_at timestamptz) ON COMMIT DROP; \
    CREATE TEMP TABLE stage_urls (line bigint, id bigint, user_id bigint, code text, url text, title text, \
        is_active boolean, created_at timestamptz, updated_at timestamptz) ON COMMIT DROP; \
    CREATE TEMP TABLE stage_events (line bigint, id bigint, url_id bigint, user_id bigint, kind text, \
        at timestamptz, details jsonb) ON COMMIT DROP;";

/// Imports `sources` into the database of `db` (migrating it first).
pub async fn run(
    db: &DatabaseArgs,
    sources: &Sources,
    show_progress: bool,
) -> anyhow::Result<Summary> {
    // Every file opens and has the right header before anything else happens.
    let read = Arc::new(AtomicU64::new(0));
    let users = Reader::open(&sources.users, &rows::USER_COLUMNS, read.clone())?;
    let urls = Reader::open(&sources.urls, &rows::URL_COLUMNS, read.clone())?;
    let events = Reader::open(&sources.events, &rows::EVENT_COLUMNS, read.clone())?;
    let total_bytes = [&sources.users, &sources.urls, &sources.events]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();

    hop_kit::postgres::migrate(db).await?;
    let (mut client, connection) = db
        .migration_config()?
        .connect(tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(connection);
    let tx = client.transaction().await?;
    debug_assert!(STAGE.contains(WORK_MEM));
    tx.batch_execute(STAGE).await.context("staging")?;

    let progress = Progress::new(show_progress, total_bytes);
    let mut problems = Problems::default();
    let staged = Staged {
        users: stage_users(&tx, users, &mut problems, &progress).await?,
        urls: stage_urls(&tx, urls, &mut problems, &progress).await?,
        events: stage_events(&tx, events, &mut problems, &progress).await?,
    };
    // Rows that are wrong on their own first; then what only all of them together show.
    problems.into_result()?;
    progress.phase("checking");
    tx.batch_execute("ANALYZE stage_users; ANALYZE stage_urls; ANALYZE stage_events;")
        .await?;
    checks::across_rows(&tx).await?;
    checks::codes_taken(&tx).await?;

    let mut summary = Summary::default();
    progress.phase("writing users");
    write_users(&tx, staged.users, &mut summary).await?;
    progress.phase("writing links");
    write_links(&tx, staged.urls, &mut summary).await?;
    progress.phase("writing events");
    write_events(&tx, staged.events, &mut summary).await?;
    progress.phase("writing clicks");
    write_clicks(&tx, &mut summary, &progress).await?;
    progress.phase("committing");
    tx.commit().await.context("committing the import")?;
    progress.finish();
    Ok(summary)
}

/// How many rows of each file were staged.
struct Staged {
    users: u64,
    urls: u64,
    events: u64,
}

/// A bar over the bytes of the export while it is read, then a spinner per phase.
struct Progress(ProgressBar);

impl Progress {
    fn new(show: bool, total_bytes: u64) -> Self {
        if !show {
            return Self(ProgressBar::hidden());
        }
        let bar = ProgressBar::new(total_bytes);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message("reading and checking");
        Self(bar)
    }

    fn read(&self, reader: &Reader) {
        self.0.set_position(reader.bytes_read());
    }

    fn phase(&self, what: &'static str) {
        tracing::info!(phase = what, "import_phase");
        if self.0.is_hidden() {
            return;
        }
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            self.0.set_style(style);
        }
        self.0.set_message(what);
        self.0
            .enable_steady_tick(std::time::Duration::from_millis(200));
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// A staging table: its COPY statement and its columns' types (the line number first).
struct Table {
    copy: &'static str,
    types: &'static [Type],
}

/// Copies each good row of `reader` into `table` (binary COPY, one statement per file);
/// `parse` checks a record, `values` gives its values after the line number.
async fn stage<T>(
    tx: &Transaction<'_>,
    mut reader: Reader,
    table: Table,
    problems: &mut Problems,
    progress: &Progress,
    parse: impl Fn(&csv::StringRecord) -> Result<T, String>,
    values: impl for<'a> Fn(&'a T) -> Vec<&'a (dyn ToSql + Sync)>,
) -> anyhow::Result<u64> {
    let sink = tx.copy_in(table.copy).await?;
    let writer = BinaryCopyInWriter::new(sink, table.types);
    let mut writer = std::pin::pin!(writer);
    let mut staged = 0u64;
    while let Some((line, record)) = reader.next() {
        let parsed = record.and_then(&parse);
        match parsed {
            Ok(row) => {
                // Once a row is bad nothing will be written: stop copying, keep checking.
                if problems.is_empty() {
                    let line = line as i64;
                    let mut fields: Vec<&(dyn ToSql + Sync)> = vec![&line];
                    fields.extend(values(&row));
                    writer.as_mut().write(&fields).await?;
                }
                staged += 1;
            }
            Err(message) => problems.add(reader.name(), line, message),
        }
        if staged.is_multiple_of(8192) {
            progress.read(&reader);
        }
    }
    progress.read(&reader);
    writer.finish().await.context("staging rows")?;
    Ok(staged)
}

async fn stage_users(
    tx: &Transaction<'_>,
    reader: Reader,
    problems: &mut Problems,
    progress: &Progress,
) -> anyhow::Result<u64> {
    stage(
        tx,
        reader,
        Table {
            copy: "COPY stage_users (line, id, username, email, created_at) FROM STDIN BINARY",
            types: &[
                Type::INT8,
                Type::INT8,
                Type::TEXT,
                Type::TEXT,
                Type::TIMESTAMPTZ,
            ],
        },
        problems,
        progress,
        rows::user,
        |u| vec![&u.id, &u.username, &u.email, &u.created_at],
    )
    .await
}

async fn stage_urls(
    tx: &Transaction<'_>,
    reader: Reader,
    problems: &mut Problems,
    progress: &Progress,
) -> anyhow::Result<u64> {
    stage(
        tx,
        reader,
        Table {
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
        },
        problems,
        progress,
        rows::url,
        |u| {
            vec![
                &u.id,
                &u.user_id,
                &u.code,
                &u.url,
                &u.title,
                &u.is_active,
                &u.created_at,
                &u.updated_at,
            ]
        },
    )
    .await
}

async fn stage_events(
    tx: &Transaction<'_>,
    reader: Reader,
    problems: &mut Problems,
    progress: &Progress,
) -> anyhow::Result<u64> {
    stage(
        tx,
        reader,
        Table {
            copy: "COPY stage_events (line, id, url_id, user_id, kind, at, details) FROM STDIN BINARY",
            types: &[
                Type::INT8,
                Type::INT8,
                Type::INT8,
                Type::INT8,
                Type::TEXT,
                Type::TIMESTAMPTZ,
                Type::JSONB,
            ],
        },
        problems,
        progress,
        rows::event,
        |e| vec![&e.id, &e.url_id, &e.user_id, &e.kind, &e.at, &e.details],
    )
    .await
}

/// Users by email, and the map from source user id to hop user id (`map_users`).
async fn write_users(
    tx: &Transaction<'_>,
    staged: u64,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let added = tx
        .execute(
            "INSERT INTO users (email, username, password_hash, created_at, updated_at) \
             SELECT email, username, NULL, created_at, created_at FROM stage_users ORDER BY line \
             ON CONFLICT (email) DO NOTHING",
            &[],
        )
        .await
        .context("importing users")?;
    summary.users_added = added;
    summary.users_present = staged - added;
    tx.batch_execute(
        "CREATE TEMP TABLE map_users ON COMMIT DROP AS \
           SELECT s.id AS source_id, u.id AS user_id FROM stage_users s JOIN users u ON u.email = s.email; \
         ANALYZE map_users;",
    )
    .await?;
    Ok(())
}

/// Links by code, with ids leased in whole blocks of `link_ids` (so imported links never
/// collide with minted ones), and the map from source url id to link id (`map_links`).
async fn write_links(
    tx: &Transaction<'_>,
    staged: u64,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    // Links already in hop (a second run), before any is added.
    tx.batch_execute(
        "CREATE TEMP TABLE map_links ON COMMIT DROP AS \
           SELECT s.id AS source_id, l.id AS link_id FROM stage_urls s JOIN links l ON l.code = s.code; \
         ANALYZE map_links;",
    )
    .await?;
    let present: i64 = tx
        .query_one("SELECT count(*) FROM map_links", &[])
        .await?
        .get(0);
    let fresh = staged as i64 - present;
    summary.links_present = present as u64;
    if fresh == 0 {
        return Ok(());
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
    // are filled from one end instead of at random. (`size` is the sequence's increment,
    // an integer read above: inlined, since CREATE TABLE AS takes no parameters.)
    tx.batch_execute(&format!(
        "CREATE TEMP TABLE new_links ON COMMIT DROP AS \
           SELECT b.start + f.k % {size} AS link_id, f.* FROM ( \
             SELECT s.*, row_number() OVER (ORDER BY s.code) - 1 AS k FROM stage_urls s \
             WHERE NOT EXISTS (SELECT 1 FROM map_links m WHERE m.source_id = s.id)) f \
           JOIN id_blocks b ON b.block = f.k / {size};"
    ))
    .await?;
    summary.links_added = tx
        .execute(
            "INSERT INTO links (id, code, target_url, title, owner_id, is_active, created_at, updated_at) \
             SELECT n.link_id, n.code, n.url, n.title, m.user_id, n.is_active, n.created_at, \
                    greatest(n.updated_at, n.created_at) \
             FROM new_links n LEFT JOIN map_users m ON m.source_id = n.user_id \
             ORDER BY n.k",
            &[],
        )
        .await
        .context("importing links")?;
    tx.batch_execute("INSERT INTO map_links SELECT id, link_id FROM new_links; ANALYZE map_links;")
        .await?;
    Ok(())
}

/// Events by source id, through the ledger: those not imported before (`fresh_events`),
/// the non-click ones into `link_events`.
async fn write_events(
    tx: &Transaction<'_>,
    staged: u64,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    tx.batch_execute(
        "CREATE TEMP TABLE fresh_events ON COMMIT DROP AS \
           SELECT e.* FROM stage_events e \
           WHERE NOT EXISTS (SELECT 1 FROM import_ledger l WHERE l.kind = 'event' AND l.source_id = e.id); \
         ANALYZE fresh_events; \
         INSERT INTO import_ledger (kind, source_id) SELECT 'event', id FROM fresh_events ORDER BY id;",
    )
    .await
    .context("recording the events in the ledger")?;
    let fresh: i64 = tx
        .query_one("SELECT count(*) FROM fresh_events", &[])
        .await?
        .get(0);
    summary.events_present = staged - fresh as u64;
    summary.events_added = tx
        .execute(
            "INSERT INTO link_events (link_id, user_id, kind, at, details) \
             SELECT ml.link_id, mu.user_id, e.kind, e.at, e.details \
             FROM fresh_events e JOIN map_links ml ON ml.source_id = e.url_id \
             LEFT JOIN map_users mu ON mu.source_id = e.user_id \
             WHERE e.kind <> 'click' ORDER BY ml.link_id, e.at",
            &[],
        )
        .await
        .context("importing link events")?;
    Ok(())
}

/// The fresh click events, through the clicks' owner like recorded clicks: read back in
/// time order a chunk at a time (a portal of the transaction), folded and written.
async fn write_clicks(
    tx: &Transaction<'_>,
    summary: &mut Summary,
    progress: &Progress,
) -> anyhow::Result<()> {
    let statement = tx
        .prepare(
            "SELECT e.at, ml.link_id FROM fresh_events e JOIN map_links ml ON ml.source_id = e.url_id \
             WHERE e.kind = 'click' ORDER BY e.at, ml.link_id",
        )
        .await?;
    let portal = tx.bind(&statement, &[]).await?;
    loop {
        let rows = tx.query_portal(&portal, CLICK_CHUNK).await?;
        if rows.is_empty() {
            break;
        }
        let batch = hop_clicks::Batch::imported(
            rows.iter()
                .map(|r| (r.get::<_, DateTime<Utc>>(0), r.get::<_, i64>(1))),
        );
        hop_clicks::store::write(tx, &batch)
            .await
            .context("importing clicks")?;
        summary.clicks_added += batch.clicks() as u64;
        progress.0.tick();
    }
    Ok(())
}
