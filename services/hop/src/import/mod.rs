//! `hop import`: the original system's CSV exports (users, urls, events) into hop,
//! streamed: memory stays bounded whatever the size of the export.
//!
//! Everything happens in one transaction, so an import either happens whole or not at all:
//!
//! 1. **Stage.** Each file is read a row at a time; each row is checked on its own
//!    ([`rows`]) and copied (binary `COPY`) into a temporary table of the transaction. A
//!    malformed row is recorded with its file and line, and reading goes on, so one run
//!    reports them all.
//! 2. **Check.** What needs more than one row: users and links referred to but not in
//!    the export, checked against bitmaps of the ids as the rows stream past
//!    ([`references`]); then in PostgreSQL ([`checks`]) duplicate ids (unless a file's ids
//!    rose strictly), emails and codes, and codes already taken in hop by another link.
//!    Any problem rolls everything back: nothing is written.
//! 3. **Write.** Users are matched by email, links by code (and must point where they
//!    did), and events by their source id in `import_ranges` (runs of consecutive ids), so
//!    a second run adds nothing.
//!    New links get ids leased in whole blocks of the `link_ids` sequence, like the links
//!    service's. Click events become clicks through `hop-clicks` (folded, with their
//!    rollups, exactly as recorded clicks are), read back from the stage a chunk at a time;
//!    the rest become link events.
//!
//! Links keep their 6-character codes, owners, titles and active flags. Users come in
//! without a usable password: they set one with `hop users set-password`.

mod checks;
pub mod embedded;
mod references;
mod rows;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hop_kit::postgres::DatabaseArgs;
use hop_kit::postgres::StageTable;
use indicatif::{ProgressBar, ProgressStyle};
use references::{References, Refers};
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

/// Where the export's events are staged: the non-click ones go to `hop-links`, the clicks
/// to `hop-clicks` (users and links are staged in their owners' tables,
/// [`hop_auth::import::STAGE`] and [`hop_links::import::STAGE`]).
const STAGE_EVENTS: StageTable = StageTable {
    create: "CREATE TEMP TABLE stage_events (line bigint, id bigint, url_id bigint, user_id bigint, \
             kind text, at timestamptz, details jsonb) ON COMMIT DROP",
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
};

/// Imports `sources` into the database of `db` (migrating it first).
pub async fn run(
    db: &DatabaseArgs,
    sources: &Sources,
    show_progress: bool,
) -> anyhow::Result<Summary> {
    let (users, urls, events, total_bytes) = open(sources)?;

    hop_kit::postgres::migrate(db).await?;
    let (mut client, connection) = db
        .migration_config()?
        .connect(tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(connection);
    let tx = client.transaction().await?;
    tx.batch_execute(&format!("SET LOCAL work_mem = '{WORK_MEM}'"))
        .await?;
    for table in [
        hop_auth::import::STAGE,
        hop_links::import::STAGE,
        STAGE_EVENTS,
    ] {
        tx.batch_execute(table.create).await.context("staging")?;
    }

    let progress = Progress::new(show_progress, total_bytes);
    let mut problems = Problems::default();
    // Users, then links, then events: each file's references are checked against the ids
    // of the files before it as its rows stream past.
    let mut references = References::default();
    let staged_users =
        stage::<rows::User>(&tx, users, &mut problems, &mut references, &progress).await?;
    let staged_urls =
        stage::<rows::Url>(&tx, urls, &mut problems, &mut references, &progress).await?;
    let staged_events =
        stage::<rows::Event>(&tx, events, &mut problems, &mut references, &progress).await?;
    // Rows that are wrong on their own first; then what only all of them together show.
    problems.into_result()?;
    progress.phase("checking");
    tx.batch_execute("ANALYZE stage_users; ANALYZE stage_urls; ANALYZE stage_events;")
        .await?;
    let unique_ids = unique_ids(staged_users, staged_urls, staged_events);
    checks::across_rows(&tx, &unique_ids, references).await?;
    checks::codes_taken(&tx).await?;

    let mut summary = Summary::default();
    progress.phase("writing users");
    write_users(&tx, staged_users.rows, &mut summary).await?;
    progress.phase("writing links");
    let first = write_links(&tx, &mut summary).await?;
    progress.phase("writing events");
    write_events(&tx, staged_events.rows, first, &mut summary).await?;
    progress.phase("writing clicks");
    write_clicks(&tx, &mut summary, &progress).await?;
    progress.phase("committing");
    tx.commit().await.context("committing the import")?;
    progress.finish();
    Ok(summary)
}

/// The three files, each open with the right header (checked before anything else
/// happens), and their total size.
fn open(sources: &Sources) -> anyhow::Result<(Reader, Reader, Reader, u64)> {
    let read = Arc::new(AtomicU64::new(0));
    let users = Reader::open(&sources.users, &rows::USER_COLUMNS, read.clone())?;
    let urls = Reader::open(&sources.urls, &rows::URL_COLUMNS, read.clone())?;
    let events = Reader::open(&sources.events, &rows::EVENT_COLUMNS, read.clone())?;
    let total_bytes = [&sources.users, &sources.urls, &sources.events]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    Ok((users, urls, events, total_bytes))
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

/// What staging a file found: how many rows, and whether their ids rose strictly from
/// line to line (an export's usual order), which proves them unique without asking
/// PostgreSQL to sort them.
#[derive(Debug, Clone, Copy)]
struct Staged {
    rows: u64,
    ids_ascending: bool,
}

/// The stage tables whose ids are known unique (they rose strictly while staged), so
/// their duplicate check is skipped.
fn unique_ids(users: Staged, urls: Staged, events: Staged) -> Vec<&'static str> {
    [
        ("stage_users", users),
        ("stage_urls", urls),
        ("stage_events", events),
    ]
    .iter()
    .filter(|(_, staged)| staged.ids_ascending)
    .map(|(table, _)| *table)
    .collect()
}

/// Copies each good row of `reader` into `table` (binary COPY, one statement per file);
/// `parse` checks a record, `values` gives its values after the line number.
async fn stage<T: Row>(
    tx: &Transaction<'_>,
    mut reader: Reader,
    problems: &mut Problems,
    references: &mut References,
    progress: &Progress,
) -> anyhow::Result<Staged> {
    let sink = tx.copy_in(T::STAGE.copy).await?;
    let writer = BinaryCopyInWriter::new(sink, T::STAGE.types);
    let mut writer = std::pin::pin!(writer);
    let mut staged = Staged {
        rows: 0,
        ids_ascending: true,
    };
    let mut last_id = None;
    while let Some((line, record)) = reader.next() {
        let parsed = record.and_then(T::parse);
        match parsed {
            Ok(row) => {
                row.refer(references, line);
                let this = row.source_id();
                staged.ids_ascending &= last_id.is_none_or(|last| this > last);
                last_id = Some(this);
                // Once a row is bad nothing will be written: stop copying, keep checking.
                if problems.is_empty() {
                    let line = line as i64;
                    let mut fields: Vec<&(dyn ToSql + Sync)> = vec![&line];
                    fields.extend(row.values());
                    writer.as_mut().write(&fields).await?;
                }
                staged.rows += 1;
            }
            Err(message) => problems.add(reader.name(), line, message),
        }
        if staged.rows.is_multiple_of(8192) {
            progress.read(&reader);
        }
    }
    progress.read(&reader);
    writer.finish().await.context("staging rows")?;
    Ok(staged)
}

/// One file's row: how a record is parsed, where it is staged, with which values.
trait Row: Sized + rows::Sourced + Refers {
    const STAGE: StageTable;
    fn parse(record: &csv::StringRecord) -> Result<Self, String>;
    /// The staged columns after the line number.
    fn values(&self) -> Vec<&(dyn ToSql + Sync)>;
}

impl Row for rows::User {
    const STAGE: StageTable = hop_auth::import::STAGE;
    fn parse(record: &csv::StringRecord) -> Result<Self, String> {
        rows::user(record)
    }
    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![&self.id, &self.username, &self.email, &self.created_at]
    }
}

impl Row for rows::Url {
    const STAGE: StageTable = hop_links::import::STAGE;
    fn parse(record: &csv::StringRecord) -> Result<Self, String> {
        rows::url(record)
    }
    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.user_id,
            &self.code,
            &self.url,
            &self.title,
            &self.is_active,
            &self.created_at,
            &self.updated_at,
        ]
    }
}

impl Row for rows::Event {
    const STAGE: StageTable = STAGE_EVENTS;
    fn parse(record: &csv::StringRecord) -> Result<Self, String> {
        rows::event(record)
    }
    fn values(&self) -> Vec<&(dyn ToSql + Sync)> {
        vec![
            &self.id,
            &self.url_id,
            &self.user_id,
            &self.kind,
            &self.at,
            &self.details,
        ]
    }
}

/// Users by email, through their owner (which leaves `map_users` for the links).
async fn write_users(
    tx: &Transaction<'_>,
    staged: u64,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let added = hop_auth::import::add_staged(tx)
        .await
        .context("importing users")?;
    summary.users_added = added;
    summary.users_present = staged - added;
    Ok(())
}

/// Links by code, through their owner (which leaves `map_links` for the events).
/// Whether this is a first import ([`hop_links::import::Added::first`]).
async fn write_links(tx: &Transaction<'_>, summary: &mut Summary) -> anyhow::Result<bool> {
    let links = hop_links::import::add_staged(tx)
        .await
        .context("importing links")?;
    summary.links_added = links.added;
    summary.links_present = links.present;
    Ok(links.first)
}

/// Events by source id, through the ledger: those not imported before (`fresh_events`),
/// the non-click ones into `link_events` through their owner.
async fn write_events(
    tx: &Transaction<'_>,
    staged: u64,
    first: bool,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    // The ledger holds runs of consecutive ids, a few per import, so the anti-join below
    // checks each staged event against a handful of ranges. What was imported before is
    // dropped from the stage, and what is left is renamed `fresh_events` (the name the
    // link events' owner reads) rather than copied; its ids are recorded as the runs they
    // form.
    let present = tx
        .execute(
            "DELETE FROM stage_events e WHERE EXISTS ( \
               SELECT 1 FROM import_ranges r \
               WHERE r.kind = 'event' AND e.id BETWEEN r.first_id AND r.last_id)",
            &[],
        )
        .await
        .context("matching the events against the ledger")?;
    tx.batch_execute(
        "ALTER TABLE stage_events RENAME TO fresh_events; \
         INSERT INTO import_ranges (kind, first_id, last_id) \
           SELECT 'event', min(id), max(id) FROM ( \
             SELECT id, id - row_number() OVER (ORDER BY id) AS run FROM fresh_events) ids \
           GROUP BY run;",
    )
    .await
    .context("recording the events in the ledger")?;
    debug_assert!(present <= staged);
    summary.events_present = present;
    summary.events_added = hop_links::import::add_events(tx, first)
        .await
        .context("importing link events")?;
    Ok(())
}

/// The fresh click events, through the clicks' owner like recorded clicks: read back a
/// chunk at a time (a portal of the transaction), folded and written. They come in link
/// order, so each chunk's rollup rows are new and next to each other in the rollups'
/// primary keys, instead of every chunk touching every link.
async fn write_clicks(
    tx: &Transaction<'_>,
    summary: &mut Summary,
    progress: &Progress,
) -> anyhow::Result<()> {
    let statement = tx
        .prepare(
            "SELECT e.at, ml.link_id FROM fresh_events e JOIN map_links ml ON ml.source_id = e.url_id \
             WHERE e.kind = 'click' ORDER BY ml.link_id, e.at",
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
        hop_clicks::store::postgres::write(tx, &batch)
            .await
            .context("importing clicks")?;
        summary.clicks_added += batch.clicks() as u64;
        progress.0.tick();
    }
    Ok(())
}
