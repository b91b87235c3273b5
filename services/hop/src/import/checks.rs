//! What only all the staged rows together show, checked in PostgreSQL (which sorts and
//! hashes millions of rows without the importer holding them): duplicates within a file,
//! references to users and links the export does not have, and codes hop already gives to
//! another link. Each problem is reported with its file and line, like a malformed row.

use super::references::{EVENTS, References, URLS, USERS};
use super::rows::{Problems, SHOWN_ERRORS};
use anyhow::bail;
use hop_kit::sqlite::rusqlite::Connection;
use tokio_postgres::Transaction;

/// One check: the file it names, and a query giving `(line, message)` of each offending
/// row in line order.
struct Check {
    file: &'static str,
    query: String,
    /// For a duplicate-id check: the table whose ids it checks.
    ids_of: Option<&'static str>,
    /// For a reference check: which one, so one checked while staging is not run again.
    reference: Option<Reference>,
}

/// The references between the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reference {
    UrlUser,
    EventUrl,
    EventUser,
}

/// Rows of `table` (staged from `file`) whose `column` an earlier row already has,
/// reported as `label <value> appears twice`.
fn duplicates(file: &'static str, table: &'static str, column: &str, label: &str) -> Check {
    Check {
        file,
        ids_of: (column == "id").then_some(table),
        reference: None,
        query: format!(
            "SELECT line, '{label} ' || {column} || ' appears twice' AS message FROM ( \
               SELECT line, {column}, row_number() OVER (PARTITION BY {column} ORDER BY line) AS n \
               FROM {table}) t WHERE n > 1"
        ),
    }
}

/// Rows of `table` (staged from `file`) whose `column` names no `id` of `target`
/// (staged from `target_file`); a NULL `column` refers to nothing and passes.
fn dangling(
    reference: Reference,
    file: &'static str,
    table: &str,
    column: &str,
    target: &str,
    target_file: &str,
) -> Check {
    Check {
        file,
        ids_of: None,
        reference: Some(reference),
        query: format!(
            "SELECT line, '{column} ' || {column} || ' is not in the {target_file} file' AS message FROM {table} r \
             WHERE r.{column} IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.id = r.{column})"
        ),
    }
}

fn checks() -> [Check; 8] {
    [
        duplicates(USERS, "stage_users", "id", "id"),
        duplicates(URLS, "stage_urls", "id", "id"),
        duplicates(EVENTS, "stage_events", "id", "id"),
        duplicates(USERS, "stage_users", "email", "email"),
        duplicates(URLS, "stage_urls", "code", "short_code"),
        dangling(
            Reference::UrlUser,
            URLS,
            "stage_urls",
            "user_id",
            "stage_users",
            "users",
        ),
        dangling(
            Reference::EventUrl,
            EVENTS,
            "stage_events",
            "url_id",
            "stage_urls",
            "urls",
        ),
        dangling(
            Reference::EventUser,
            EVENTS,
            "stage_events",
            "user_id",
            "stage_users",
            "users",
        ),
    ]
}

/// The checks still to run over the stage, and what the reference checks made while
/// staging already found. The ids of the tables in `unique_ids` are known to be unique
/// (they rose strictly while they were staged), so they are not checked again; nor are the
/// references checked while staging ([`References`]), whose findings stand in their place.
fn plan(unique_ids: &[&str], references: References) -> (Problems, Vec<Check>) {
    let mut problems = Problems::default();
    let References {
        users,
        urls,
        url_users,
        event_urls,
        event_users,
    } = references;
    let mut found = [
        (Reference::UrlUser, users.complete(), Some(url_users)),
        (Reference::EventUrl, urls.complete(), Some(event_urls)),
        (Reference::EventUser, users.complete(), Some(event_users)),
    ];
    let mut needed = Vec::new();
    for check in checks()
        .into_iter()
        .filter(|c| c.ids_of.is_none_or(|table| !unique_ids.contains(&table)))
    {
        if let Some(reference) = check.reference
            && let Some((_, true, staged)) = found.iter_mut().find(|(r, _, _)| *r == reference)
        {
            problems.absorb(staged.take().unwrap_or_default());
            continue;
        }
        needed.push(check);
    }
    (problems, needed)
}

/// Duplicates and dangling references, in PostgreSQL; an error listing them (nothing is
/// written then).
pub async fn across_rows(
    tx: &Transaction<'_>,
    unique_ids: &[&str],
    references: References,
) -> anyhow::Result<()> {
    let (mut problems, needed) = plan(unique_ids, references);
    for check in needed {
        let sql = format!(
            "SELECT line, message, count(*) OVER () FROM ({}) AS p(line, message) ORDER BY line LIMIT {SHOWN_ERRORS}",
            check.query
        );
        let rows = tx.query(&sql, &[]).await?;
        let total: i64 = rows.first().map_or(0, |r| r.get(2));
        for row in &rows {
            let line: i64 = row.get(0);
            problems.add(check.file, line as u64, row.get::<_, String>(1));
        }
        // The rows beyond those listed still count.
        problems.count_more((total - rows.len() as i64).max(0) as u64);
    }
    problems.into_result()
}

/// [`across_rows`], on the embedded store's stage.
pub fn across_rows_embedded(
    c: &Connection,
    unique_ids: &[&str],
    references: References,
) -> anyhow::Result<()> {
    let (mut problems, needed) = plan(unique_ids, references);
    for check in needed {
        let sql = format!(
            "SELECT line, message, count(*) OVER () FROM ({}) ORDER BY line LIMIT {SHOWN_ERRORS}",
            check.query
        );
        let mut statement = c.prepare(&sql)?;
        let rows: Vec<(i64, String, i64)> = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let total = rows.first().map_or(0, |r| r.2);
        for (line, message, _) in &rows {
            problems.add(check.file, *line as u64, message.clone());
        }
        problems.count_more((total - rows.len() as i64).max(0) as u64);
    }
    problems.into_result()
}

/// Codes of the export that hop already gives to a link pointing elsewhere (asked of the
/// links' owner).
pub async fn codes_taken(tx: &Transaction<'_>) -> anyhow::Result<()> {
    let (taken, total) = hop_links::import::codes_taken(tx, SHOWN_ERRORS as i64).await?;
    refuse_taken(&taken, total)
}

/// [`codes_taken`], on the embedded store.
pub fn codes_taken_embedded(c: &Connection) -> anyhow::Result<()> {
    let (taken, total) = hop_links::import::embedded::codes_taken(c, SHOWN_ERRORS as i64)?;
    refuse_taken(&taken, total)
}

fn refuse_taken(taken: &[(i64, String)], total: u64) -> anyhow::Result<()> {
    if total == 0 {
        return Ok(());
    }
    let listed: Vec<String> = taken
        .iter()
        .map(|(line, code)| format!("line {line}: code {code} already belongs to another link"))
        .collect();
    let more = match total as usize - listed.len() {
        0 => String::new(),
        n => format!("\n  … and {n} more"),
    };
    bail!(
        "{total} code(s) of the urls file are taken in hop; nothing was imported\n  {}{more}",
        listed.join("\n  ")
    )
}
