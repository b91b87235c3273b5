//! The raw clicks table's daily partitions: created a week ahead, dropped after
//! CLICK_RETENTION_DAYS. Runs at start and then hourly in every redirect instance, under an
//! advisory lock so instances do not trip over each other. The embedded store has no
//! partitions: its upkeep deletes the raw rows past the retention by date
//! ([`crate::store::sqlite::drop_before`]).

use chrono::{Days, NaiveDate, Utc};
use hop_kit::database::Database;
use hop_kit::postgres::Pool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Days of partitions kept ready ahead of today.
pub const DAYS_AHEAD: u64 = 7;

const EVERY: Duration = Duration::from_secs(3600);

/// `clicks_YYYYMMDD`.
pub fn partition_name(day: NaiveDate) -> String {
    format!("clicks_{}", day.format("%Y%m%d"))
}

fn day_of(name: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(name.strip_prefix("clicks_")?, "%Y%m%d").ok()
}

/// Creates the partitions from yesterday to a week ahead and drops those older than
/// `retention_days`; returns the names it dropped.
pub async fn maintain(
    pool: &Pool,
    retention_days: u32,
    today: NaiveDate,
) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let client = pool.get().await?;
    client
        .batch_execute(
            "SELECT pg_advisory_lock(hashtext('hop.click_partitions.' || current_schema()))",
        )
        .await?;
    let result = async {
        let first = today.checked_sub_days(Days::new(1)).unwrap_or(today);
        for offset in 0..=DAYS_AHEAD + 1 {
            let Some(day) = first.checked_add_days(Days::new(offset)) else { continue };
            let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {} PARTITION OF clicks FOR VALUES FROM ('{day}') TO ('{next}')",
                partition_name(day)
            );
            if let Err(e) = client.batch_execute(&sql).await {
                // Rows for that day already sit in the default partition (a skewed clock):
                // the day is still recorded, just not in its own partition.
                tracing::warn!(service = "redirect", partition = %partition_name(day), error = %e, "click_partition_not_created");
            }
        }
        let rows = client
            .query(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                 WHERE i.inhparent = 'clicks'::regclass",
                &[],
            )
            .await?;
        let cutoff = today.checked_sub_days(Days::new(u64::from(retention_days))).unwrap_or(today);
        let mut dropped = Vec::new();
        for row in rows {
            let name: String = row.get(0);
            if day_of(&name).is_some_and(|day| day < cutoff) {
                client.batch_execute(&format!("DROP TABLE IF EXISTS {name}")).await?;
                tracing::info!(service = "redirect", partition = %name, "click_partition_dropped");
                dropped.push(name);
            }
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(dropped)
    }
    .await;
    let _ = client
        .batch_execute(
            "SELECT pg_advisory_unlock(hashtext('hop.click_partitions.' || current_schema()))",
        )
        .await;
    result
}

/// Keeps the raw clicks within the retention at start and every hour until `stop`:
/// partitions on PostgreSQL, rows by date on the embedded store.
pub fn spawn(database: Database, retention_days: u32, stop: CancellationToken) {
    tokio::spawn(async move {
        loop {
            let done = match &database {
                Database::Postgres(pool) => maintain(pool, retention_days, Utc::now().date_naive())
                    .await
                    .map(drop),
                Database::Sqlite(db) => {
                    crate::store::sqlite::drop_before(db, retention_days, Utc::now())
                        .await
                        .map(drop)
                        .map_err(Into::into)
                }
            };
            let wait = match done {
                Ok(()) => EVERY,
                Err(e) => {
                    tracing::warn!(service = "redirect", error = %e, "click_partitions_maintenance_failed");
                    Duration::from_secs(30)
                }
            };
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert_eq!(partition_name(day), "clicks_20261127");
        assert_eq!(day_of("clicks_20261127"), Some(day));
        assert_eq!(day_of("clicks_default"), None);
    }
}
