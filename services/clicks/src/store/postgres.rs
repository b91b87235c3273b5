//! The click tables on PostgreSQL: raw rows by COPY into daily partitions (see
//! [`crate::partitions`]), rollups by `unnest` upserts, stats from the rollups.

use crate::batch::Batch;
use crate::stats::{Stats, StatsQuery, TOP_REFERRERS};
use hop_kit::error::Backend;
use hop_kit::postgres::Pool;
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

/// Rollup rows per upsert statement (see [`write`]).
const UPSERT_CHUNK: usize = 4096;

/// Raw rows per COPY statement: about a second of Postgres's work at its slowest here,
/// so a large batch never runs into `DATABASE_TIMEOUT_MS` in one statement.
const COPY_CHUNK: usize = 50_000;

/// Writes `batch` in its own transaction: the raw rows by COPY, then the two rollup
/// upserts. Nothing of a batch is written unless all of it is.
pub(super) async fn write_batch(pool: &Pool, batch: &Batch) -> Result<(), Backend> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    write(&tx, batch).await?;
    tx.commit().await?;
    Ok(())
}

/// Writes `batch` inside the caller's transaction (`hop import` writes its clicks with
/// the links and events they belong to).
pub async fn write(tx: &Transaction<'_>, batch: &Batch) -> Result<(), tokio_postgres::Error> {
    if batch.clicks() == 0 {
        return Ok(());
    }
    // COPY: the cheapest way into Postgres for many rows, in statements of at most
    // COPY_CHUNK rows, so each stays well inside the statement timeout.
    let types = [
        Type::TIMESTAMPTZ,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::INT4,
    ];
    for rows in batch.raw().chunks(COPY_CHUNK) {
        let sink = tx
            .copy_in(
                "COPY clicks (at, link_id, referrer_host, agent_class, country, clicks) FROM STDIN BINARY",
            )
            .await?;
        let writer = BinaryCopyInWriter::new(sink, &types);
        let mut writer = std::pin::pin!(writer);
        for row in rows {
            writer
                .as_mut()
                .write(&[
                    &row.at,
                    &row.link_id,
                    &row.referrer,
                    &row.agent_class,
                    &row.country,
                    &row.clicks,
                ])
                .await?;
        }
        writer.finish().await?;
    }
    // The rollups in statements of at most UPSERT_CHUNK rows: a connection keeps its
    // buffers at the size of the largest message it sent, so one 50,000-row Bind message
    // would pin megabytes for the life of the connection.
    let hourly = batch.hourly();
    for at in (0..hourly.links.len()).step_by(UPSERT_CHUNK) {
        let rows = at..(at + UPSERT_CHUNK).min(hourly.links.len());
        tx.execute(
            "INSERT INTO click_counts (link_id, bucket, agent_class, clicks) \
             SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::bigint[]) \
             ON CONFLICT (link_id, bucket, agent_class) DO UPDATE SET clicks = click_counts.clicks + EXCLUDED.clicks",
            &[
                &&hourly.links[rows.clone()],
                &&hourly.buckets[rows.clone()],
                &&hourly.classes[rows.clone()],
                &&hourly.clicks[rows],
            ],
        )
        .await?;
    }
    let referrers = batch.referrers();
    for at in (0..referrers.links.len()).step_by(UPSERT_CHUNK) {
        let rows = at..(at + UPSERT_CHUNK).min(referrers.links.len());
        tx.execute(
            "INSERT INTO click_referrers (link_id, day, referrer_host, is_bot, clicks) \
             SELECT * FROM unnest($1::bigint[], $2::date[], $3::text[], $4::boolean[], $5::bigint[]) \
             ON CONFLICT (link_id, day, referrer_host, is_bot) DO UPDATE SET clicks = click_referrers.clicks + EXCLUDED.clicks",
            &[
                &&referrers.links[rows.clone()],
                &&referrers.days[rows.clone()],
                &&referrers.hosts[rows.clone()],
                &&referrers.bots[rows.clone()],
                &&referrers.clicks[rows],
            ],
        )
        .await?;
    }
    Ok(())
}

/// Reads the rollups of link `link_id` for `query`.
pub(super) async fn read_stats(
    pool: &Pool,
    link_id: i64,
    query: &StatsQuery,
) -> Result<Stats, Backend> {
    let client = pool.get().await?;
    let series = client
        .prepare_cached(
            "WITH counts AS ( \
               SELECT date_trunc($2, bucket) AS b, sum(clicks)::bigint AS n FROM click_counts \
               WHERE link_id = $1 AND bucket >= $3 AND bucket < $4 AND ($5 OR agent_class <> 'bot') \
               GROUP BY 1 \
             ) \
             SELECT s.b, COALESCE(counts.n, 0)::bigint \
             FROM generate_series($3, $4 - interval '1 microsecond', make_interval(secs => $6)) AS s(b) \
             LEFT JOIN counts ON counts.b = s.b ORDER BY s.b",
        )
        .await?;
    let classes = client
        .prepare_cached(
            "SELECT agent_class, sum(clicks)::bigint FROM click_counts \
             WHERE link_id = $1 AND bucket >= $2 AND bucket < $3 AND ($4 OR agent_class <> 'bot') \
             GROUP BY 1 ORDER BY 2 DESC, 1",
        )
        .await?;
    let referrers = client
        .prepare_cached(
            "SELECT referrer_host, sum(clicks)::bigint FROM click_referrers \
             WHERE link_id = $1 AND day >= $2::timestamptz::date AND day < $3::timestamptz::date + \
                   CASE WHEN $3::timestamptz::time = '00:00' THEN 0 ELSE 1 END \
               AND ($4 OR NOT is_bot) \
             GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $5",
        )
        .await?;
    let referred = client
        .prepare_cached(
            "SELECT COALESCE(sum(clicks), 0)::bigint FROM click_referrers \
             WHERE link_id = $1 AND day >= $2::timestamptz::date AND day < $3::timestamptz::date + \
                   CASE WHEN $3::timestamptz::time = '00:00' THEN 0 ELSE 1 END \
               AND ($4 OR NOT is_bot)",
        )
        .await?;
    let step = query.unit.step().num_seconds() as f64;
    let (from, to, bots) = (&query.from, &query.to, &query.include_bots);
    let series = client
        .query(
            &series,
            &[&link_id, &query.unit.name(), from, to, bots, &step],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let agent_classes: Vec<(String, i64)> = client
        .query(&classes, &[&link_id, from, to, bots])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let top_referrers: Vec<(String, i64)> = client
        .query(&referrers, &[&link_id, from, to, bots, &TOP_REFERRERS])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // Clicks without a Referer have no referrer rows: they are the total less the rest.
    let referred: i64 = client
        .query_one(&referred, &[&link_id, from, to, bots])
        .await?
        .get(0);
    Ok(super::assemble(
        series,
        agent_classes,
        top_referrers,
        referred,
    ))
}

pub async fn totals(
    pool: &Pool,
    link_ids: &[i64],
) -> Result<std::collections::HashMap<i64, super::Totals>, Backend> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT link_id, \
                    COALESCE(sum(clicks) FILTER (WHERE agent_class <> 'bot'), 0)::bigint, \
                    COALESCE(sum(clicks) FILTER (WHERE agent_class = 'bot'), 0)::bigint \
             FROM click_counts WHERE link_id = ANY($1) GROUP BY link_id",
        )
        .await?;
    let rows = client.query(&statement, &[&link_ids]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let count = |i| r.get::<_, i64>(i).max(0) as u64;
            let totals = super::Totals {
                humans: count(1),
                bots: count(2),
            };
            (r.get::<_, i64>(0), totals)
        })
        .collect())
}

pub async fn visits(
    pool: &Pool,
    link_id: i64,
    query: &super::VisitsQuery,
) -> Result<(Vec<super::Visit>, u64), Backend> {
    const FILTER: &str = "link_id = $1 AND ($2::timestamptz IS NULL OR at >= $2) \
                          AND ($3::timestamptz IS NULL OR at < $3) \
                          AND (NOT $4 OR agent_class <> 'bot')";
    let client = pool.get().await?;
    let page = client
        .prepare_cached(&format!(
            "SELECT at, referrer_host, agent_class, country \
             FROM clicks CROSS JOIN LATERAL generate_series(1, clicks) \
             WHERE {FILTER} ORDER BY at DESC LIMIT $5 OFFSET $6"
        ))
        .await?;
    let count = client
        .prepare_cached(&format!(
            "SELECT COALESCE(sum(clicks), 0)::bigint FROM clicks WHERE {FILTER}"
        ))
        .await?;
    let filter: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&link_id, &query.from, &query.to, &query.exclude_bots];
    let mut params = filter.to_vec();
    params.extend([
        &query.limit as &(dyn tokio_postgres::types::ToSql + Sync),
        &query.offset,
    ]);
    let rows = client.query(&page, &params).await?;
    let total: i64 = client.query_one(&count, &filter).await?.get(0);
    let visits = rows
        .iter()
        .map(|r| super::Visit {
            at: r.get(0),
            referrer_host: r.get(1),
            agent_class: r.get(2),
            country: r.get(3),
        })
        .collect();
    Ok((visits, total.max(0) as u64))
}
