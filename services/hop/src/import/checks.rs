//! What only all the staged rows together show, checked in PostgreSQL (which sorts and
//! hashes millions of rows without the importer holding them): duplicates within a file,
//! references to users and links the export does not have, and codes hop already gives to
//! another link. Each problem is reported with its file and line, like a malformed row.

use super::rows::{Problems, SHOWN_ERRORS};
use anyhow::bail;
use tokio_postgres::Transaction;

/// One check: the file it names, and a query giving `(line, message)` of each offending
/// row in line order.
struct Check {
    file: &'static str,
    query: &'static str,
}

const CHECKS: [Check; 8] = [
    Check {
        file: "seed-users.csv",
        query: "SELECT line, 'id ' || id || ' appears twice' FROM ( \
                  SELECT line, id, row_number() OVER (PARTITION BY id ORDER BY line) AS n \
                  FROM stage_users) t WHERE n > 1",
    },
    Check {
        file: "seed-urls.csv",
        query: "SELECT line, 'id ' || id || ' appears twice' FROM ( \
                  SELECT line, id, row_number() OVER (PARTITION BY id ORDER BY line) AS n \
                  FROM stage_urls) t WHERE n > 1",
    },
    Check {
        file: "seed-events.csv",
        query: "SELECT line, 'id ' || id || ' appears twice' FROM ( \
                  SELECT line, id, row_number() OVER (PARTITION BY id ORDER BY line) AS n \
                  FROM stage_events) t WHERE n > 1",
    },
    Check {
        file: "seed-users.csv",
        query: "SELECT line, 'email ' || email || ' appears twice' FROM ( \
                  SELECT line, email, row_number() OVER (PARTITION BY email ORDER BY line) AS n \
                  FROM stage_users) t WHERE n > 1",
    },
    Check {
        file: "seed-urls.csv",
        query: "SELECT line, 'short_code ' || code || ' appears twice' FROM ( \
                  SELECT line, code, row_number() OVER (PARTITION BY code ORDER BY line) AS n \
                  FROM stage_urls) t WHERE n > 1",
    },
    Check {
        file: "seed-urls.csv",
        query: "SELECT line, 'user_id ' || user_id || ' is not in the users file' FROM stage_urls u \
                WHERE NOT EXISTS (SELECT 1 FROM stage_users s WHERE s.id = u.user_id)",
    },
    Check {
        file: "seed-events.csv",
        query: "SELECT line, 'url_id ' || url_id || ' is not in the urls file' FROM stage_events e \
                WHERE NOT EXISTS (SELECT 1 FROM stage_urls s WHERE s.id = e.url_id)",
    },
    Check {
        file: "seed-events.csv",
        query: "SELECT line, 'user_id ' || user_id || ' is not in the users file' FROM stage_events e \
                WHERE e.user_id IS NOT NULL \
                  AND NOT EXISTS (SELECT 1 FROM stage_users s WHERE s.id = e.user_id)",
    },
];

/// Duplicates and dangling references; an error listing them (nothing is written then).
pub async fn across_rows(tx: &Transaction<'_>) -> anyhow::Result<()> {
    let mut problems = Problems::default();
    for check in &CHECKS {
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

/// Codes of the export that hop already gives to a link pointing elsewhere.
pub async fn codes_taken(tx: &Transaction<'_>) -> anyhow::Result<()> {
    let sql = format!(
        "SELECT s.line, s.code, count(*) OVER () FROM stage_urls s JOIN links l ON l.code = s.code \
         WHERE l.target_url <> s.url ORDER BY s.line LIMIT {SHOWN_ERRORS}"
    );
    let rows = tx.query(&sql, &[]).await?;
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let total: i64 = first.get(2);
    let listed: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "line {}: code {} already belongs to another link",
                r.get::<_, i64>(0),
                r.get::<_, String>(1)
            )
        })
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
