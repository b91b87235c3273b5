//! `hop import` into the embedded store: the same three phases as on PostgreSQL (stage,
//! check, write; see the parent module), as one job of the store's writer, so the import
//! happens whole or not at all and nothing else writes meanwhile. The stage and map tables
//! are temporary tables of the writer's connection; each owner (`hop-auth`, `hop-links`,
//! `hop-clicks`) writes its own tables from them, as on PostgreSQL.

use super::references::References;
use super::rows::{self, Problems, Reader};
use super::{Progress, Row, Sources, Summary, checks};
use hop_kit::sqlite::rusqlite::{CachedStatement, Connection, params};
use hop_kit::sqlite::{Sqlite, SqliteError, micros, now_micros};

/// Click events read back from the stage and folded at a time.
const CLICK_CHUNK: usize = 50_000;

const STAGE_EVENTS: &str = "CREATE TEMP TABLE stage_events (line INTEGER, id INTEGER, \
    url_id INTEGER, user_id INTEGER, kind TEXT, at INTEGER, details TEXT)";

/// Imports `sources` into `db`, which the caller holds open (and so locked).
pub async fn run(db: &Sqlite, sources: &Sources, show_progress: bool) -> anyhow::Result<Summary> {
    let (users, urls, events, total_bytes) = super::open(sources)?;
    let progress = Progress::new(show_progress, total_bytes);
    let result = db
        .write(move |c| {
            let outcome = import(c, users, urls, events, &progress);
            progress.finish();
            // A refused import undoes the whole job: its error says why.
            outcome.map_err(|e| SqliteError::Aborted(format!("{e:#}")))
        })
        .await;
    match result {
        Ok(summary) => Ok(summary),
        Err(SqliteError::Aborted(why)) => Err(anyhow::anyhow!(why)),
        Err(e) => Err(e.into()),
    }
}

fn import(
    c: &Connection,
    users: Reader,
    urls: Reader,
    events: Reader,
    progress: &Progress,
) -> anyhow::Result<Summary> {
    c.execute_batch(&format!(
        "{}; {}; {STAGE_EVENTS};",
        hop_auth::import::embedded::STAGE,
        hop_links::import::embedded::STAGE
    ))?;
    let mut problems = Problems::default();
    let mut references = References::default();
    let staged_users = stage::<rows::User>(c, users, &mut problems, &mut references, progress)?;
    let staged_urls = stage::<rows::Url>(c, urls, &mut problems, &mut references, progress)?;
    let staged_events = stage::<rows::Event>(c, events, &mut problems, &mut references, progress)?;
    problems.into_result()?;
    progress.phase("checking");
    let unique_ids = super::unique_ids(staged_users, staged_urls, staged_events);
    c.execute_batch(
        "CREATE INDEX temp.stage_users_id ON stage_users (id); \
         CREATE INDEX temp.stage_urls_id ON stage_urls (id); \
         CREATE INDEX temp.stage_urls_code ON stage_urls (code);",
    )?;
    checks::across_rows_embedded(c, &unique_ids, references)?;
    checks::codes_taken_embedded(c)?;

    let mut summary = Summary::default();
    progress.phase("writing users");
    summary.users_added = hop_auth::import::embedded::add_staged(c)?;
    summary.users_present = staged_users.rows - summary.users_added;
    progress.phase("writing links");
    let links = hop_links::import::embedded::add_staged(c)?;
    summary.links_added = links.added;
    summary.links_present = links.present;
    progress.phase("writing events");
    // The ledger's runs of ids: what was imported before is dropped from the stage, and
    // what is left (`fresh_events`, the name the owners read) is recorded.
    summary.events_present = c.execute(
        "DELETE FROM stage_events AS e WHERE EXISTS ( \
           SELECT 1 FROM import_ranges r \
           WHERE r.kind = 'event' AND e.id BETWEEN r.first_id AND r.last_id)",
        [],
    )? as u64;
    c.execute_batch("ALTER TABLE stage_events RENAME TO fresh_events")?;
    c.execute(
        "INSERT INTO import_ranges (kind, first_id, last_id, imported_at) \
         SELECT 'event', min(id), max(id), ?1 FROM ( \
           SELECT id, id - row_number() OVER (ORDER BY id) AS run FROM fresh_events) \
         GROUP BY run",
        [now_micros()],
    )?;
    summary.events_added = hop_links::import::embedded::add_events(c)?;
    progress.phase("writing clicks");
    summary.clicks_added = write_clicks(c, progress)?;
    c.execute_batch(
        "DROP TABLE temp.stage_users; DROP TABLE temp.stage_urls; DROP TABLE temp.fresh_events; \
         DROP TABLE temp.map_users; DROP TABLE temp.map_links;",
    )?;
    Ok(summary)
}

/// The fresh click events, through the clicks' owner like recorded clicks, in link order.
fn write_clicks(c: &Connection, progress: &Progress) -> anyhow::Result<u64> {
    let mut statement = c.prepare(
        "SELECT e.at, ml.link_id FROM fresh_events e JOIN map_links ml ON ml.source_id = e.url_id \
         WHERE e.kind = 'click' ORDER BY ml.link_id, e.at",
    )?;
    let mut rows = statement.query([])?;
    let mut added = 0;
    let mut chunk = Vec::with_capacity(CLICK_CHUNK);
    loop {
        let row = rows.next()?;
        if let Some(row) = row {
            let at: i64 = row.get(0)?;
            chunk.push((hop_kit::sqlite::from_micros(at), row.get::<_, i64>(1)?));
        }
        if chunk.len() == CLICK_CHUNK || (row.is_none() && !chunk.is_empty()) {
            let batch = hop_clicks::Batch::imported(chunk.drain(..));
            hop_clicks::store::sqlite::write(c, &batch)?;
            added += batch.clicks() as u64;
            progress.0.tick();
        }
        if row.is_none() {
            return Ok(added);
        }
    }
}

/// How a row is staged on the embedded store.
trait EmbeddedRow: Row {
    const INSERT: &'static str;
    fn insert(&self, statement: &mut CachedStatement<'_>, line: i64) -> Result<(), SqliteError>;
}

impl EmbeddedRow for rows::User {
    const INSERT: &'static str = "INSERT INTO stage_users (line, id, username, email, created_at) VALUES (?1, ?2, ?3, ?4, ?5)";
    fn insert(&self, statement: &mut CachedStatement<'_>, line: i64) -> Result<(), SqliteError> {
        statement.execute(params![
            line,
            self.id,
            self.username,
            self.email,
            micros(self.created_at)
        ])?;
        Ok(())
    }
}

impl EmbeddedRow for rows::Url {
    const INSERT: &'static str = "INSERT INTO stage_urls (line, id, user_id, code, url, title, \
        is_active, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    fn insert(&self, statement: &mut CachedStatement<'_>, line: i64) -> Result<(), SqliteError> {
        statement.execute(params![
            line,
            self.id,
            self.user_id,
            self.code,
            self.url,
            self.title,
            self.is_active,
            micros(self.created_at),
            micros(self.updated_at)
        ])?;
        Ok(())
    }
}

impl EmbeddedRow for rows::Event {
    const INSERT: &'static str = "INSERT INTO stage_events (line, id, url_id, user_id, kind, at, \
        details) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    fn insert(&self, statement: &mut CachedStatement<'_>, line: i64) -> Result<(), SqliteError> {
        statement.execute(params![
            line,
            self.id,
            self.url_id,
            self.user_id,
            self.kind,
            micros(self.at),
            self.details.to_string()
        ])?;
        Ok(())
    }
}

/// Stages each good row of `reader`; as the PostgreSQL stage, with one insert per row.
fn stage<T: EmbeddedRow>(
    c: &Connection,
    mut reader: Reader,
    problems: &mut Problems,
    references: &mut References,
    progress: &Progress,
) -> anyhow::Result<super::Staged> {
    let mut statement = c.prepare_cached(T::INSERT)?;
    let mut staged = super::Staged {
        rows: 0,
        ids_ascending: true,
    };
    let mut last_id = None;
    while let Some((line, record)) = reader.next() {
        match record.and_then(T::parse) {
            Ok(row) => {
                row.refer(references, line);
                let this = row.source_id();
                staged.ids_ascending &= last_id.is_none_or(|last| this > last);
                last_id = Some(this);
                if problems.is_empty() {
                    row.insert(&mut statement, line as i64)?;
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
    Ok(staged)
}
