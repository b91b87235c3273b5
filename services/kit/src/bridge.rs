//! The bridge from the embedded store to PostgreSQL: every table of
//! `migrations-sqlite/` copied into its PostgreSQL twin of `migrations/`, for a `hop up` that
//! outgrows one machine (`hop copy-to-postgres`). The mapping between the two schemas is
//! this crate's, as both schemas are; [`TABLES`] is that mapping, one entry per table.
//!
//! The copy is checked first, then written in one PostgreSQL transaction, and idempotent:
//! - **checked**: no source user or link may meet a target row with the same id but another
//!   email or code, or the same email or code under another id ([`check`]); one that does
//!   stops the copy before anything is written;
//! - **idempotent**: rows are inserted by primary key and skipped when present; rollups keep
//!   the larger count; raw clicks, which have no key, are copied once, the range of source
//!   rows copied being kept in `import_ranges` (kind `embedded-clicks`);
//! - **sequences** follow: the user and event identities, and `link_ids` past every id the
//!   embedded store leased, so no id or code is ever handed out twice.
//!
//! The source is read in key order, [`CHUNK`] rows at a time, from a store the caller holds
//! open (and so locked: no `hop up` writes meanwhile).

use crate::sqlite::rusqlite::types::Value;
use crate::sqlite::{Sqlite, SqliteError, from_micros};
use tokio_postgres::Transaction;
use tokio_postgres::types::ToSql;

/// Source rows read, and target rows written, per round trip.
pub const CHUNK: usize = 5_000;

/// How a source column becomes a target column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    SmallInt,
    Text,
    /// 0 or 1 → boolean.
    Bool,
    /// Unix microseconds → timestamptz.
    Micros,
    /// Unix seconds → timestamptz.
    Seconds,
    /// Unix seconds of a day's midnight → date.
    Day,
    /// JSON text → jsonb.
    Json,
    /// A JSON array of strings → text[] (a link's tags).
    Strings,
    Blob,
}

impl Kind {
    fn array(self) -> &'static str {
        match self {
            Self::Int => "bigint[]",
            Self::SmallInt => "smallint[]",
            Self::Text | Self::Json | Self::Strings => "text[]",
            Self::Bool => "boolean[]",
            Self::Micros | Self::Seconds => "timestamptz[]",
            Self::Day => "date[]",
            Self::Blob => "bytea[]",
        }
    }
}

/// One table of the copy.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// The source's key, read in order: the primary key, or `rowid` for a table without.
    pub key: &'static [&'static str],
    pub columns: &'static [(&'static str, Kind)],
    /// What to do with a row whose key the target holds.
    pub on_conflict: &'static str,
    /// The identity column is generated always: insert with OVERRIDING SYSTEM VALUE.
    pub overriding: bool,
    /// The natural key that must agree with the id (users: email, links: code).
    pub unique: Option<&'static str>,
    /// Only with `--sessions`.
    pub sessions: bool,
    /// A table without a key: the copied source rowids are kept in `import_ranges`
    /// under this kind.
    pub ledger: Option<&'static str>,
}

use Kind::*;

/// Every table, parents before children.
pub const TABLES: &[Table] = &[
    Table {
        name: "users",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("email", Text),
            ("username", Text),
            ("password_hash", Text),
            ("created_at", Micros),
            ("updated_at", Micros),
        ],
        on_conflict: "ON CONFLICT DO NOTHING",
        overriding: false,
        unique: Some("email"),
        sessions: false,
        ledger: None,
    },
    Table {
        name: "api_keys",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("user_id", Int),
            ("name", Text),
            ("prefix", Text),
            ("secret_hash", Blob),
            ("scopes", Text),
            ("expires_at", Micros),
            ("created_at", Micros),
            ("last_used_at", Micros),
            ("revoked_at", Micros),
        ],
        on_conflict: "ON CONFLICT DO NOTHING",
        overriding: false,
        unique: None,
        sessions: false,
        ledger: None,
    },
    Table {
        name: "links",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("code", Text),
            ("target_url", Text),
            ("title", Text),
            ("owner_id", Int),
            ("redirect_type", SmallInt),
            ("is_active", Bool),
            ("expires_at", Micros),
            ("created_at", Micros),
            ("updated_at", Micros),
            ("deleted_at", Micros),
            ("tags", Strings),
        ],
        on_conflict: "ON CONFLICT DO NOTHING",
        overriding: false,
        unique: Some("code"),
        sessions: false,
        ledger: None,
    },
    Table {
        name: "link_events",
        key: &["id"],
        columns: &[
            ("id", Int),
            ("link_id", Int),
            ("user_id", Int),
            ("kind", Text),
            ("at", Micros),
            ("details", Json),
        ],
        on_conflict: "ON CONFLICT DO NOTHING",
        overriding: true,
        unique: None,
        sessions: false,
        ledger: None,
    },
    Table {
        name: "sessions",
        key: &["id"],
        columns: &[
            ("id", Text),
            ("user_id", Int),
            ("created_at", Micros),
            ("expires_at", Micros),
            ("rotated_at", Micros),
            ("revoked_at", Micros),
        ],
        on_conflict: "ON CONFLICT DO NOTHING",
        overriding: false,
        unique: None,
        sessions: true,
        ledger: None,
    },
    Table {
        name: "refresh_tokens",
        key: &["token_hash"],
        columns: &[
            ("token_hash", Blob),
            ("session_id", Text),
            ("issued_at", Micros),
            ("used_at", Micros),
        ],
        on_conflict: "ON CONFLICT DO NOTHING",
        overriding: false,
        unique: None,
        sessions: true,
        ledger: None,
    },
    Table {
        name: "click_counts",
        key: &["link_id", "bucket", "agent_class"],
        columns: &[
            ("link_id", Int),
            ("bucket", Seconds),
            ("agent_class", Text),
            ("clicks", Int),
        ],
        on_conflict: "ON CONFLICT (link_id, bucket, agent_class) \
                      DO UPDATE SET clicks = greatest(click_counts.clicks, excluded.clicks)",
        overriding: false,
        unique: None,
        sessions: false,
        ledger: None,
    },
    Table {
        name: "click_referrers",
        key: &["link_id", "day", "referrer_host", "is_bot"],
        columns: &[
            ("link_id", Int),
            ("day", Day),
            ("referrer_host", Text),
            ("is_bot", Bool),
            ("clicks", Int),
        ],
        on_conflict: "ON CONFLICT (link_id, day, referrer_host, is_bot) \
                      DO UPDATE SET clicks = greatest(click_referrers.clicks, excluded.clicks)",
        overriding: false,
        unique: None,
        sessions: false,
        ledger: None,
    },
    Table {
        name: "clicks",
        key: &["rowid"],
        columns: &[
            ("at", Seconds),
            ("link_id", Int),
            ("referrer_host", Text),
            ("agent_class", Text),
            ("country", Text),
            ("clicks", Int),
        ],
        on_conflict: "",
        overriding: false,
        unique: None,
        sessions: false,
        ledger: Some("embedded-clicks"),
    },
    Table {
        name: "import_ranges",
        key: &["kind", "first_id"],
        columns: &[
            ("kind", Text),
            ("first_id", Int),
            ("last_id", Int),
            ("imported_at", Micros),
        ],
        on_conflict: "ON CONFLICT DO NOTHING",
        overriding: false,
        unique: None,
        sessions: false,
        ledger: None,
    },
];

/// Why the copy stopped.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("reading the embedded store: {0}")]
    Source(#[from] SqliteError),
    #[error("writing PostgreSQL: {0}")]
    Target(#[from] tokio_postgres::Error),
    #[error(
        "the target already holds other data under the same ids, emails or codes; nothing was copied:\n{0}"
    )]
    Conflicts(String),
    #[error("the embedded store holds a value the copy cannot take: {0}")]
    BadValue(String),
}

/// What one table's copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    pub read: u64,
    pub written: u64,
}

/// How many rows each table of the copy has in the source.
pub async fn count(
    source: &Sqlite,
    sessions: bool,
) -> Result<Vec<(&'static Table, u64)>, BridgeError> {
    let mut counts = Vec::new();
    for table in TABLES.iter().filter(|t| sessions || !t.sessions) {
        let sql = format!("SELECT count(*) FROM {}", table.name);
        let n: i64 = source
            .read(move |c| Ok(c.query_row(&sql, [], |r| r.get(0))?))
            .await?;
        counts.push((table, n as u64));
    }
    Ok(counts)
}

/// Fails, listing up to ten of them, when a source user or link meets a target row with the
/// same id and another email or code, or the same email or code under another id.
pub async fn check(source: &Sqlite, target: &Transaction<'_>) -> Result<(), BridgeError> {
    let mut conflicts = Vec::new();
    for table in TABLES {
        let Some(unique) = table.unique else { continue };
        let mut after: Option<i64> = None;
        loop {
            let sql = format!(
                "SELECT id, {unique} FROM {} WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT {CHUNK}",
                table.name
            );
            let rows: Vec<(i64, String)> = source
                .read(move |c| {
                    let mut statement = c.prepare(&sql)?;
                    let rows = statement
                        .query_map([after], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<Result<_, _>>()?;
                    Ok(rows)
                })
                .await?;
            let Some(last) = rows.last() else { break };
            after = Some(last.0);
            let (ids, keys): (Vec<i64>, Vec<String>) = rows.into_iter().unzip();
            let found = target
                .query(
                    &format!(
                        "SELECT s.id, s.k, t.id, t.{unique} FROM unnest($1::bigint[], $2::text[]) AS s(id, k) \
                         JOIN {name} t ON t.id = s.id OR t.{unique} = s.k \
                         WHERE t.id <> s.id OR t.{unique} <> s.k LIMIT 10",
                        name = table.name
                    ),
                    &[&ids, &keys],
                )
                .await?;
            for row in found {
                let (id, key, other_id, other_key): (i64, String, i64, String) =
                    (row.get(0), row.get(1), row.get(2), row.get(3));
                conflicts.push(format!(
                    "  {} {id} ({unique} {key:?}) meets the target's {} {other_id} ({unique} {other_key:?})",
                    singular(table.name),
                    singular(table.name),
                ));
            }
            if conflicts.len() >= 10 {
                break;
            }
        }
    }
    if conflicts.is_empty() {
        return Ok(());
    }
    conflicts.truncate(10);
    Err(BridgeError::Conflicts(conflicts.join("\n")))
}

fn singular(table: &str) -> &str {
    table.strip_suffix('s').unwrap_or(table)
}

/// Copies `table` from `source` into `target`, telling `progress` how many source rows
/// each chunk read.
pub async fn copy_table(
    source: &Sqlite,
    target: &Transaction<'_>,
    table: &'static Table,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Copied, BridgeError> {
    let mut copied = Copied::default();
    let mut after: Option<Vec<Value>> = match table.ledger {
        Some(kind) => target
            .query_one(
                "SELECT max(last_id) FROM import_ranges WHERE kind = $1",
                &[&kind],
            )
            .await?
            .get::<_, Option<i64>>(0)
            .map(|last| vec![Value::Integer(last)]),
        None => None,
    };
    let mut first_copied: Option<i64> = None;
    let mut last_copied: Option<i64> = None;
    loop {
        let rows = read_chunk(source, table, after.clone()).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last[..table.key.len()].to_vec());
        if table.ledger.is_some() {
            let rowid = |row: &Vec<Value>| match row[0] {
                Value::Integer(id) => Some(id),
                _ => None,
            };
            first_copied = first_copied.or_else(|| rowid(&rows[0]));
            last_copied = rowid(last);
        }
        copied.read += rows.len() as u64;
        copied.written += write_chunk(target, table, &rows).await?;
        progress(rows.len() as u64);
    }
    if let (Some(kind), Some(first), Some(last)) = (table.ledger, first_copied, last_copied) {
        target
            .execute(
                "INSERT INTO import_ranges (kind, first_id, last_id) VALUES ($1, $2, $3)",
                &[&kind, &first, &last],
            )
            .await?;
    }
    Ok(copied)
}

/// The next chunk of `table` after the key `after`: the key's columns, then the copied ones.
async fn read_chunk(
    source: &Sqlite,
    table: &'static Table,
    after: Option<Vec<Value>>,
) -> Result<Vec<Vec<Value>>, BridgeError> {
    let key = table.key.join(", ");
    let columns: Vec<&str> = table
        .key
        .iter()
        .copied()
        .chain(table.columns.iter().map(|c| c.0))
        .collect();
    let placeholders: Vec<String> = (1..=table.key.len()).map(|i| format!("?{i}")).collect();
    let filter = match &after {
        Some(_) => format!("WHERE ({key}) > ({})", placeholders.join(", ")),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {} FROM {} {filter} ORDER BY {key} LIMIT {CHUNK}",
        columns.join(", "),
        table.name
    );
    let width = columns.len();
    Ok(source
        .read(move |c| {
            let mut statement = c.prepare(&sql)?;
            let params = after.unwrap_or_default();
            let rows = statement
                .query_map(crate::sqlite::rusqlite::params_from_iter(params), |r| {
                    (0..width).map(|i| r.get::<_, Value>(i)).collect()
                })?
                .collect::<Result<Vec<Vec<Value>>, _>>()?;
            Ok(rows)
        })
        .await?)
}

/// One column of a chunk, as the array PostgreSQL unnests.
enum ColumnValues {
    Int(Vec<Option<i64>>),
    SmallInt(Vec<Option<i16>>),
    Text(Vec<Option<String>>),
    Bool(Vec<Option<bool>>),
    Time(Vec<Option<chrono::DateTime<chrono::Utc>>>),
    Day(Vec<Option<chrono::NaiveDate>>),
    Blob(Vec<Option<Vec<u8>>>),
}

impl ColumnValues {
    fn as_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Self::Int(v) => v,
            Self::SmallInt(v) => v,
            Self::Text(v) => v,
            Self::Bool(v) => v,
            Self::Time(v) => v,
            Self::Day(v) => v,
            Self::Blob(v) => v,
        }
    }
}

fn int(value: &Value) -> Result<Option<i64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Integer(n) => Ok(Some(*n)),
        other => Err(format!("expected an integer, found {other:?}")),
    }
}

fn column(kind: Kind, values: impl Iterator<Item = Value>) -> Result<ColumnValues, String> {
    let values: Vec<Value> = values.collect();
    let ints = || values.iter().map(int).collect::<Result<Vec<_>, _>>();
    Ok(match kind {
        Kind::Int => ColumnValues::Int(ints()?),
        Kind::SmallInt => ColumnValues::SmallInt(
            ints()?
                .into_iter()
                .map(|n| n.map(i16::try_from).transpose())
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?,
        ),
        Kind::Bool => ColumnValues::Bool(ints()?.into_iter().map(|n| n.map(|n| n != 0)).collect()),
        Kind::Micros => {
            ColumnValues::Time(ints()?.into_iter().map(|n| n.map(from_micros)).collect())
        }
        Kind::Seconds => ColumnValues::Time(
            ints()?
                .into_iter()
                .map(|n| n.map(|s| from_micros(s.saturating_mul(1_000_000))))
                .collect(),
        ),
        Kind::Day => ColumnValues::Day(
            ints()?
                .into_iter()
                .map(|n| n.map(|s| from_micros(s.saturating_mul(1_000_000)).date_naive()))
                .collect(),
        ),
        Kind::Text | Kind::Json | Kind::Strings => ColumnValues::Text(
            values
                .into_iter()
                .map(|v| match v {
                    Value::Null => Ok(None),
                    Value::Text(s) => Ok(Some(s)),
                    other => Err(format!("expected text, found {other:?}")),
                })
                .collect::<Result<_, _>>()?,
        ),
        Kind::Blob => ColumnValues::Blob(
            values
                .into_iter()
                .map(|v| match v {
                    Value::Null => Ok(None),
                    Value::Blob(b) => Ok(Some(b)),
                    other => Err(format!("expected bytes, found {other:?}")),
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// Inserts a chunk in one statement; how many rows the target took.
async fn write_chunk(
    target: &Transaction<'_>,
    table: &'static Table,
    rows: &[Vec<Value>],
) -> Result<u64, BridgeError> {
    // Each row holds the key's columns first (for the next chunk's start), then the copied
    // ones.
    let offset = table.key.len();
    let mut arrays = Vec::with_capacity(table.columns.len());
    for (i, (name, kind)) in table.columns.iter().enumerate() {
        let values = rows.iter().map(|row| row[offset + i].clone());
        arrays.push(
            column(*kind, values)
                .map_err(|e| BridgeError::BadValue(format!("{}.{name}: {e}", table.name)))?,
        );
    }
    let names: Vec<&str> = table.columns.iter().map(|c| c.0).collect();
    let unnest: Vec<String> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| format!("${}::{}", i + 1, kind.array()))
        .collect();
    let select: Vec<String> = table
        .columns
        .iter()
        .map(|(name, kind)| match kind {
            Kind::Json => format!("{name}::jsonb"),
            Kind::Strings => format!("ARRAY(SELECT jsonb_array_elements_text({name}::jsonb))"),
            _ => (*name).to_owned(),
        })
        .collect();
    let sql = format!(
        "INSERT INTO {table} ({names}) {overriding} SELECT {select} FROM unnest({unnest}) AS s({names}) {conflict}",
        table = table.name,
        names = names.join(", "),
        overriding = if table.overriding {
            "OVERRIDING SYSTEM VALUE"
        } else {
            ""
        },
        select = select.join(", "),
        unnest = unnest.join(", "),
        conflict = table.on_conflict,
    );
    let params: Vec<&(dyn ToSql + Sync)> = arrays.iter().map(ColumnValues::as_sql).collect();
    Ok(target.execute(&sql, &params).await?)
}

/// Moves the target's sequences past everything copied: the user, API key and event
/// identities, and `link_ids` past every id the embedded store leased (`next_link_id`).
pub async fn advance_sequences(
    target: &Transaction<'_>,
    next_link_id: i64,
) -> Result<(), BridgeError> {
    target
        .batch_execute(
            "SELECT setval(pg_get_serial_sequence('api_keys', 'id'), \
                           greatest((SELECT max(id) FROM api_keys), 1)); \
             SELECT setval(pg_get_serial_sequence('users', 'id'), \
                           greatest((SELECT max(id) FROM users), 1)); \
             SELECT setval(pg_get_serial_sequence('link_events', 'id'), \
                           greatest((SELECT max(id) FROM link_events), 1));",
        )
        .await?;
    // The next block the target would lease, and the one after everything copied.
    let row = target
        .query_one(
            "SELECT CASE WHEN is_called THEN last_value + \
                      (SELECT seqincrement FROM pg_sequence WHERE seqrelid = 'link_ids'::regclass) \
                    ELSE last_value END, \
                    (SELECT coalesce(max(id), 0) + 1 FROM links) \
             FROM link_ids",
            &[],
        )
        .await?;
    let next = next_link_id.max(row.get(0)).max(row.get(1));
    target
        .execute("SELECT setval('link_ids', $1, false)", &[&next])
        .await?;
    Ok(())
}

/// The next id the embedded store would lease.
pub async fn next_link_id(source: &Sqlite) -> Result<i64, BridgeError> {
    Ok(source
        .read(|c| Ok(c.query_row("SELECT next FROM link_ids", [], |r| r.get(0))?))
        .await?)
}
