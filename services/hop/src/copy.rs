//! `hop copy-to-postgres`: everything of the embedded store (HOP_DATA_DIR/hop.db) into
//! PostgreSQL, for a `hop up` that outgrows one machine: users with their password hashes,
//! links with their codes and events, click rollups and raw clicks, the import ledger, and
//! with `--sessions` the sessions and refresh tokens. The mapping and its guarantees
//! (checked first, one transaction, idempotent, sequences advanced) are
//! [`hop_kit::bridge`]'s; this is the command around it: the lock, the progress bar, the
//! report.

use crate::cli::CopyArgs;
use anyhow::Context as _;
use hop_kit::bridge;
use hop_kit::sqlite::Sqlite;
use indicatif::{ProgressBar, ProgressStyle};

pub async fn run(args: CopyArgs) -> anyhow::Result<()> {
    let _telemetry = hop_kit::telemetry::init_telemetry("copy", &args.log)?;
    let target = args.database.require("hop copy-to-postgres")?;
    let data = &args.data.hop_data_dir;
    let file = data.join(hop_kit::sqlite::FILE);
    if !file.is_file() {
        anyhow::bail!(
            "HOP_DATA_DIR {} holds no embedded store ({} does not exist)",
            data.display(),
            file.display()
        );
    }
    // Opening takes the directory's lock: a running `hop up` must be stopped first, so the
    // copy is of one consistent state and nothing is written to the old store after it.
    let source = Sqlite::open(data)?;
    hop_kit::postgres::migrate(target)
        .await
        .context("applying the PostgreSQL migrations")?;
    let (mut client, connection) = target
        .migration_config()?
        .connect(tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(connection);

    let tables = bridge::count(&source, args.sessions).await?;
    let total: u64 = tables.iter().map(|(_, n)| n).sum();
    let bar = progress(!args.no_progress, total);
    let tx = client.transaction().await?;
    bar.set_message("checking");
    bridge::check(&source, &tx).await?;
    let mut report = Vec::new();
    for (table, _) in &tables {
        bar.set_message(table.name);
        let copied = bridge::copy_table(&source, &tx, table, &|n| bar.inc(n)).await?;
        tracing::info!(
            table = table.name,
            read = copied.read,
            written = copied.written,
            "copy_table_done"
        );
        report.push((table.name, copied));
    }
    bar.set_message("sequences");
    bridge::advance_sequences(&tx, bridge::next_link_id(&source).await?).await?;
    bar.set_message("committing");
    tx.commit().await.context("committing the copy")?;
    bar.finish_and_clear();

    for (table, copied) in &report {
        println!(
            "{table}: {} copied, {} already there",
            copied.written,
            copied.read.saturating_sub(copied.written)
        );
    }
    if !args.sessions {
        println!("sessions: not copied (users log in again; --sessions keeps them logged in)");
    }
    println!(
        "done: run `hop up` with DATABASE_URL (and the same HOP_DATA_DIR, for its secret) to serve from PostgreSQL"
    );
    Ok(())
}

/// A bar over the rows to read.
fn progress(show: bool, total: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {msg} [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}
