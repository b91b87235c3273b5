//! Users brought in by `hop import`: staged in bulk inside the import's transaction, then
//! added by email in one statement. The importer parses and checks the export's rows and
//! copies them into [`STAGE`]; what becomes of them in `users` is decided here, beside
//! the service's other statements on that table ([`crate::store`]).
//!
//! The contract with the importer, all temporary tables of its transaction:
//! - it fills `stage_users (line, id, username, email, created_at)`, one row per user of
//!   the export (`id` is the export's own id, `line` its line in the file);
//! - [`add_staged`] leaves `map_users (source_id, user_id)`: each export id with the hop
//!   user it is now, for the link and event owners to join on.

use hop_kit::postgres::StageTable;
use tokio_postgres::Transaction;
use tokio_postgres::types::Type;

/// Where the importer copies the export's users.
pub const STAGE: StageTable = StageTable {
    create: "CREATE TEMP TABLE stage_users (line bigint, id bigint, username text, email text, \
             created_at timestamptz) ON COMMIT DROP",
    copy: "COPY stage_users (line, id, username, email, created_at) FROM STDIN BINARY",
    types: &[
        Type::INT8,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TIMESTAMPTZ,
    ],
};

/// Adds the staged users whose email hop does not know yet (imported users have no
/// password: they set one with `hop users set-password`), and maps every staged user to
/// its hop id. Returns how many were added.
pub async fn add_staged(tx: &Transaction<'_>) -> Result<u64, tokio_postgres::Error> {
    let added = tx
        .execute(
            "INSERT INTO users (email, username, password_hash, created_at, updated_at) \
             SELECT email, username, NULL, created_at, created_at FROM stage_users ORDER BY line \
             ON CONFLICT (email) DO NOTHING",
            &[],
        )
        .await?;
    tx.batch_execute(
        "CREATE TEMP TABLE map_users ON COMMIT DROP AS \
           SELECT s.id AS source_id, u.id AS user_id FROM stage_users s JOIN users u ON u.email = s.email; \
         ANALYZE map_users;",
    )
    .await?;
    Ok(added)
}

/// The same contract on the embedded store (one writer job; temporary tables of its
/// connection; times in unix microseconds).
pub mod embedded {
    use hop_kit::sqlite::SqliteError;
    use hop_kit::sqlite::rusqlite::Connection;

    /// The stage the importer fills: as [`super::STAGE`].
    pub const STAGE: &str = "CREATE TEMP TABLE stage_users (line INTEGER, id INTEGER, \
        username TEXT, email TEXT, created_at INTEGER)";

    /// As [`super::add_staged`].
    pub fn add_staged(c: &Connection) -> Result<u64, SqliteError> {
        // `WHERE true`: SQLite's parser needs it between a SELECT and its ON CONFLICT.
        let added = c.execute(
            "INSERT INTO users (email, username, password_hash, created_at, updated_at) \
             SELECT email, username, NULL, created_at, created_at FROM stage_users WHERE true ORDER BY line \
             ON CONFLICT (email) DO NOTHING",
            [],
        )?;
        c.execute_batch(
            "CREATE TEMP TABLE map_users AS \
               SELECT s.id AS source_id, u.id AS user_id FROM stage_users s JOIN users u ON u.email = s.email; \
             CREATE INDEX temp.map_users_source ON map_users (source_id);",
        )?;
        Ok(added as u64)
    }
}
