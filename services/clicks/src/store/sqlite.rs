//! The click tables on the embedded store: a batch's raw rows and rollup upserts in one
//! writer job, stats from the rollups, and raw rows dropped by date after the retention
//! (there are no partitions to drop).

use crate::batch::Batch;
use crate::stats::{Stats, StatsQuery, TOP_REFERRERS};
use chrono::{DateTime, Utc};
use hop_kit::error::Backend;
use hop_kit::sqlite::rusqlite::{Connection, params};
use hop_kit::sqlite::{Sqlite, SqliteError};

const DAY: i64 = 86_400;

/// A raw click row: at (unix seconds), link, referrer host, agent class, country, clicks.
type RawRow = (i64, i64, Option<String>, &'static str, Option<String>, i32);

/// A batch's rows, owned, so the writer thread can take them.
struct Rows {
    raw: Vec<RawRow>,
    hourly: Vec<(i64, i64, &'static str, i64)>,
    referrers: Vec<(i64, i64, String, bool, i64)>,
}

impl Rows {
    fn of(batch: &Batch) -> Self {
        let raw = batch
            .raw()
            .into_iter()
            .map(|r| {
                (
                    r.at.timestamp(),
                    r.link_id,
                    r.referrer.map(str::to_owned),
                    r.agent_class,
                    r.country.map(str::to_owned),
                    r.clicks,
                )
            })
            .collect();
        let h = batch.hourly();
        let hourly = (0..h.links.len())
            .map(|i| {
                (
                    h.links[i],
                    h.buckets[i].timestamp(),
                    h.classes[i],
                    h.clicks[i],
                )
            })
            .collect();
        let r = batch.referrers();
        let referrers = (0..r.links.len())
            .map(|i| {
                let day = r.days[i]
                    .and_hms_opt(0, 0, 0)
                    .map_or(0, |d| d.and_utc().timestamp());
                (
                    r.links[i],
                    day,
                    r.hosts[i].to_owned(),
                    r.bots[i],
                    r.clicks[i],
                )
            })
            .collect();
        Self {
            raw,
            hourly,
            referrers,
        }
    }
}

pub(super) async fn write_batch(db: &Sqlite, batch: &Batch) -> Result<(), Backend> {
    if batch.clicks() == 0 {
        return Ok(());
    }
    let rows = Rows::of(batch);
    Ok(db.write(move |c| write_rows(c, &rows)).await?)
}

/// Writes `batch` on the caller's connection, inside its transaction (`hop import`).
pub fn write(connection: &Connection, batch: &Batch) -> Result<(), SqliteError> {
    write_rows(connection, &Rows::of(batch))
}

fn write_rows(c: &Connection, rows: &Rows) -> Result<(), SqliteError> {
    let mut raw = c.prepare_cached(
        "INSERT INTO clicks (at, link_id, referrer_host, agent_class, country, clicks) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (at, link, referrer, class, country, clicks) in &rows.raw {
        raw.execute(params![at, link, referrer, class, country, clicks])?;
    }
    let mut hourly = c.prepare_cached(
        "INSERT INTO click_counts (link_id, bucket, agent_class, clicks) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (link_id, bucket, agent_class) DO UPDATE SET clicks = clicks + excluded.clicks",
    )?;
    for (link, bucket, class, clicks) in &rows.hourly {
        hourly.execute(params![link, bucket, class, clicks])?;
    }
    let mut referrers = c.prepare_cached(
        "INSERT INTO click_referrers (link_id, day, referrer_host, is_bot, clicks) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (link_id, day, referrer_host, is_bot) DO UPDATE SET clicks = clicks + excluded.clicks",
    )?;
    for (link, day, host, bot, clicks) in &rows.referrers {
        referrers.execute(params![link, day, host, bot, clicks])?;
    }
    Ok(())
}

pub(super) async fn read_stats(
    db: &Sqlite,
    link_id: i64,
    query: &StatsQuery,
) -> Result<Stats, Backend> {
    let from = query.from.timestamp();
    let to = query.to.timestamp();
    let step = query.unit.step().num_seconds();
    let bots = query.include_bots;
    // Referrer rows are daily: every day the range touches.
    let first_day = from - from.rem_euclid(DAY);
    let end_day = to - to.rem_euclid(DAY) + if to.rem_euclid(DAY) == 0 { 0 } else { DAY };
    let read = db.read(move |c| {
        let mut buckets = c.prepare_cached(
            "SELECT bucket, sum(clicks) FROM click_counts \
             WHERE link_id = ?1 AND bucket >= ?2 AND bucket < ?3 AND (?4 OR agent_class <> 'bot') \
             GROUP BY bucket",
        )?;
        let counts: Vec<(i64, i64)> = buckets
            .query_map(params![link_id, from, to, bots], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut classes = c.prepare_cached(
            "SELECT agent_class, sum(clicks) AS n FROM click_counts \
             WHERE link_id = ?1 AND bucket >= ?2 AND bucket < ?3 AND (?4 OR agent_class <> 'bot') \
             GROUP BY 1 ORDER BY 2 DESC, 1",
        )?;
        let agent_classes: Vec<(String, i64)> = classes
            .query_map(params![link_id, from, to, bots], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut referrers = c.prepare_cached(
            "SELECT referrer_host, sum(clicks) AS n FROM click_referrers \
             WHERE link_id = ?1 AND day >= ?2 AND day < ?3 AND (?4 OR NOT is_bot) \
             GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT ?5",
        )?;
        let top: Vec<(String, i64)> = referrers
            .query_map(
                params![link_id, first_day, end_day, bots, TOP_REFERRERS],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .collect::<Result<_, _>>()?;
        let referred: i64 = c
            .prepare_cached(
                "SELECT COALESCE(sum(clicks), 0) FROM click_referrers \
                 WHERE link_id = ?1 AND day >= ?2 AND day < ?3 AND (?4 OR NOT is_bot)",
            )?
            .query_row(params![link_id, first_day, end_day, bots], |r| r.get(0))?;
        Ok((counts, agent_classes, top, referred))
    });
    let (counts, agent_classes, top, referred) = read.await?;
    // The zero-filled series: every unit of [from, to), summing the hours inside it.
    let points = ((to - from) / step).max(0) as usize;
    let mut series: Vec<(DateTime<Utc>, i64)> = (0..points)
        .map(|i| {
            let at = from + i as i64 * step;
            (DateTime::from_timestamp(at, 0).unwrap_or_default(), 0)
        })
        .collect();
    for (bucket, clicks) in counts {
        let index = ((bucket - from) / step) as usize;
        if let Some(point) = series.get_mut(index) {
            point.1 += clicks;
        }
    }
    Ok(super::assemble(series, agent_classes, top, referred))
}

/// Raw rows deleted per writer job, so retention never holds the writer for long.
const DELETE_CHUNK: usize = 10_000;

/// Drops raw clicks older than `retention_days` before `now`'s day; how many rows went.
/// The rollups stay (stats outlive the raw rows, as on PostgreSQL).
pub async fn drop_before(
    db: &Sqlite,
    retention_days: u32,
    now: DateTime<Utc>,
) -> Result<usize, Backend> {
    let today = now.timestamp() - now.timestamp().rem_euclid(DAY);
    let cutoff = today - i64::from(retention_days) * DAY;
    let mut dropped = 0;
    loop {
        let deleted = db
            .write(move |c| {
                Ok(c.execute(
                    "DELETE FROM clicks WHERE rowid IN \
                     (SELECT rowid FROM clicks WHERE at < ?1 LIMIT ?2)",
                    params![cutoff, DELETE_CHUNK],
                )?)
            })
            .await?;
        dropped += deleted;
        if deleted < DELETE_CHUNK {
            return Ok(dropped);
        }
    }
}

pub async fn totals(
    db: &Sqlite,
    link_ids: &[i64],
) -> Result<std::collections::HashMap<i64, super::Totals>, Backend> {
    let ids = format!(
        "[{}]",
        link_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok(db
        .read(move |c| {
            let mut statement = c.prepare_cached(
                "SELECT link_id, \
                        COALESCE(sum(clicks) FILTER (WHERE agent_class <> 'bot'), 0), \
                        COALESCE(sum(clicks) FILTER (WHERE agent_class = 'bot'), 0) \
                 FROM click_counts WHERE link_id IN (SELECT value FROM json_each(?1)) \
                 GROUP BY link_id",
            )?;
            let totals = statement
                .query_map([ids], |r| {
                    let totals = super::Totals {
                        humans: r.get::<_, i64>(1)?.max(0) as u64,
                        bots: r.get::<_, i64>(2)?.max(0) as u64,
                    };
                    Ok((r.get::<_, i64>(0)?, totals))
                })?
                .collect::<Result<_, _>>()?;
            Ok(totals)
        })
        .await?)
}

pub async fn visits(
    db: &Sqlite,
    link_id: i64,
    query: &super::VisitsQuery,
) -> Result<(Vec<super::Visit>, u64), Backend> {
    const FILTER: &str = "link_id = ?1 AND (?2 IS NULL OR at >= ?2) AND (?3 IS NULL OR at < ?3) \
                          AND (NOT ?4 OR agent_class <> 'bot')";
    let from = query.from.map(|t| t.timestamp());
    let to = query.to.map(|t| t.timestamp());
    let (bots, limit, offset) = (query.exclude_bots, query.limit, query.offset);
    Ok(db
        .read(move |c| {
            // A folded row is as many visits as it counts: joined with 1..its count.
            let mut page = c.prepare_cached(&format!(
                "WITH RECURSIVE n(i) AS ( \
                   SELECT 1 UNION ALL SELECT i + 1 FROM n \
                   WHERE i < (SELECT COALESCE(max(clicks), 1) FROM clicks WHERE {FILTER})) \
                 SELECT at, referrer_host, agent_class, country FROM clicks JOIN n ON n.i <= clicks \
                 WHERE {FILTER} ORDER BY at DESC LIMIT ?5 OFFSET ?6"
            ))?;
            let visits = page
                .query_map(params![link_id, from, to, bots, limit, offset], |r| {
                    Ok(super::Visit {
                        at: DateTime::from_timestamp(r.get(0)?, 0).unwrap_or_default(),
                        referrer_host: r.get(1)?,
                        agent_class: r.get(2)?,
                        country: r.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let total: i64 = c
                .prepare_cached(&format!(
                    "SELECT COALESCE(sum(clicks), 0) FROM clicks WHERE {FILTER}"
                ))?
                .query_row(params![link_id, from, to, bots], |r| r.get(0))?;
            Ok((visits, total.max(0) as u64))
        })
        .await?)
}
