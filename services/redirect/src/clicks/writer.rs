//! The background half of click recording: batches from the buffer, written in one
//! transaction each, at least once per CLICK_FLUSH_MS. A batch is folded before it goes
//! out: identical clicks in the same second become one raw row with a count (COPY), and
//! each link costs one row per hour and agent class in the rollup upsert. Postgres's work
//! therefore follows the number of distinct links and visitor kinds, not the click rate.
//!
//! A batch that cannot be written (Postgres down) is kept and retried on the next tick;
//! meanwhile the buffer fills and further clicks are dropped and counted, so redirects
//! never wait. At shutdown everything still buffered is written before the process exits.

use super::classify::{Classifier, country, referrer_host};
use super::{Click, ClickMetrics, ClickSettings};
use chrono::{DateTime, NaiveDate, Utc};
use hop_kit::postgres::Pool;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_util::sync::CancellationToken;

/// How often the writer looks at the buffer's depth.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Attempts to write what is left at shutdown before giving up on it.
const SHUTDOWN_ATTEMPTS: usize = 5;

pub struct ClickWriter {
    receiver: mpsc::Receiver<Click>,
    pool: Pool,
    metrics: ClickMetrics,
    batch_max: usize,
    flush_every: Duration,
    classifier: Classifier,
    agents: HashMap<Vec<u8>, &'static str>,
}

/// A click as stored.
struct Row {
    at: DateTime<Utc>,
    link_id: i64,
    referrer: Option<String>,
    agent_class: &'static str,
    country: Option<String>,
}

impl ClickWriter {
    pub fn new(
        receiver: mpsc::Receiver<Click>,
        pool: Pool,
        settings: &ClickSettings,
        metrics: ClickMetrics,
    ) -> Self {
        Self {
            receiver,
            pool,
            metrics,
            batch_max: settings.click_batch_max as usize,
            flush_every: Duration::from_millis(settings.click_flush_ms),
            classifier: Classifier::default(),
            agents: HashMap::new(),
        }
    }

    /// Writes batches until `stop`, then writes what is left and returns.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut pending: Vec<Click> = Vec::with_capacity(self.batch_max);
        // The writer wakes on a short tick and takes what has queued: a full batch at once,
        // anything at least every flush interval. Waiting on the channel instead would wake
        // this task for every single click, tens of thousands of task switches a second
        // paid for by the redirects.
        let mut ticker = tokio::time::interval(self.flush_every.min(CHECK_EVERY));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_flush = tokio::time::Instant::now();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let due = last_flush.elapsed() >= self.flush_every;
            if !due && self.receiver.len() + pending.len() < self.batch_max {
                continue;
            }
            last_flush = tokio::time::Instant::now();
            loop {
                self.take(&mut pending);
                if pending.is_empty() {
                    break;
                }
                self.flush(&mut pending).await;
                // A full batch may mean more is waiting; a failed write waits for the next
                // tick (the channel fills meanwhile, and new clicks are dropped).
                if !pending.is_empty() || self.receiver.len() < self.batch_max {
                    break;
                }
            }
            self.metrics
                .buffered
                .set((self.receiver.len() + pending.len()) as i64);
        }
        self.receiver.close();
        while let Ok(click) = self.receiver.try_recv() {
            pending.push(click);
        }
        for _ in 0..SHUTDOWN_ATTEMPTS {
            while !pending.is_empty() {
                let size = pending.len().min(self.batch_max);
                let mut batch: Vec<Click> = pending.drain(..size).collect();
                self.flush(&mut batch).await;
                if !batch.is_empty() {
                    pending.splice(0..0, batch);
                    break;
                }
            }
            if pending.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if !pending.is_empty() {
            tracing::error!(
                service = "redirect",
                lost = pending.len(),
                "clicks_lost_at_shutdown"
            );
            self.metrics.dropped.inc_by(pending.len() as u64);
        }
        self.metrics.buffered.set(0);
    }

    /// Moves queued clicks into `pending`, up to a batch.
    fn take(&mut self, pending: &mut Vec<Click>) {
        while pending.len() < self.batch_max {
            match self.receiver.try_recv() {
                Ok(click) => pending.push(click),
                Err(_) => break,
            }
        }
    }

    /// Writes `pending` and empties it; on failure keeps it for the next attempt.
    async fn flush(&mut self, pending: &mut Vec<Click>) {
        let rows: Vec<Row> = pending.iter().map(|c| self.classify(c)).collect();
        match write(&self.pool, &rows).await {
            Ok(raw_rows) => {
                self.metrics.written.inc_by(rows.len() as u64);
                self.metrics.rows_written.inc_by(raw_rows as u64);
                pending.clear();
            }
            Err(e) => {
                self.metrics.write_failures.inc();
                tracing::warn!(service = "redirect", error = %e, waiting = pending.len(), "click_write_failed");
            }
        }
    }

    fn classify(&mut self, click: &Click) -> Row {
        let agent_class = match &click.user_agent {
            Some(ua) => match self.agents.get(ua.as_bytes()) {
                Some(class) => class,
                None => {
                    let class = self.classifier.agent_class(Some(ua));
                    if self.agents.len() > 10_000 {
                        self.agents.clear();
                    }
                    self.agents.insert(ua.as_bytes().to_vec(), class);
                    class
                }
            },
            None => "other",
        };
        Row {
            at: DateTime::<Utc>::from(click.at),
            link_id: click.link_id,
            referrer: referrer_host(click.referer.as_ref()),
            agent_class,
            country: country(click.country.as_ref()),
        }
    }
}

/// What makes two clicks identical in the raw table: the second, the link, the referrer
/// host, the agent class and the country. Identical clicks are written as one row with a
/// count (migration V5), so a busy link costs a row per second per kind of visitor.
type RawKey<'a> = (i64, i64, Option<&'a str>, &'static str, Option<&'a str>);

/// Folds identical clicks (see [`RawKey`]) into one row each, with how many there were.
/// Sorted by time and link so the COPY appends in order.
fn coalesce(rows: &[Row]) -> Vec<(RawKey<'_>, i32)> {
    let mut folded: HashMap<RawKey<'_>, i32> = HashMap::with_capacity(rows.len() / 4);
    for row in rows {
        let key = (
            row.at.timestamp(),
            row.link_id,
            row.referrer.as_deref(),
            row.agent_class,
            row.country.as_deref(),
        );
        let count = folded.entry(key).or_default();
        *count = count.saturating_add(1);
    }
    let mut folded: Vec<_> = folded.into_iter().collect();
    folded.sort_unstable_by_key(|((second, link, ..), _)| (*second, *link));
    folded
}

/// One transaction: the raw rows (identical clicks folded into one row with a count), then
/// the rollups (aggregated here, so each rollup row appears once per statement).
/// Returns how many raw rows were written.
async fn write(
    pool: &Pool,
    rows: &[Row],
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let raw = coalesce(rows);
    let mut hourly: HashMap<(i64, i64, &str), i64> = HashMap::new();
    let mut referrers: HashMap<(i64, NaiveDate, &str, bool), i64> = HashMap::new();
    for row in rows {
        let hour = row.at.timestamp() - row.at.timestamp().rem_euclid(3600);
        *hourly
            .entry((row.link_id, hour, row.agent_class))
            .or_default() += 1;
        // Only referred clicks: "direct" is the total less these, so the common case (no
        // Referer) costs no rollup row.
        if let Some(referrer) = row.referrer.as_deref() {
            let key = (
                row.link_id,
                row.at.date_naive(),
                referrer,
                row.agent_class == "bot",
            );
            *referrers.entry(key).or_default() += 1;
        }
    }
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // COPY: the cheapest way into Postgres for many rows.
    let sink = tx
        .copy_in(
            "COPY clicks (at, link_id, referrer_host, agent_class, country, clicks) FROM STDIN BINARY",
        )
        .await?;
    let types = [
        Type::TIMESTAMPTZ,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::INT4,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    let mut writer = std::pin::pin!(writer);
    for ((second, link_id, referrer, agent_class, country), count) in &raw {
        let at = DateTime::<Utc>::from_timestamp(*second, 0).unwrap_or_default();
        writer
            .as_mut()
            .write(&[&at, link_id, referrer, agent_class, country, count])
            .await?;
    }
    writer.finish().await?;
    let (mut links, mut buckets, mut classes, mut counts) = (vec![], vec![], vec![], vec![]);
    for ((link, hour, class), n) in &hourly {
        links.push(*link);
        buckets.push(DateTime::<Utc>::from_timestamp(*hour, 0).unwrap_or_default());
        classes.push(*class);
        counts.push(*n);
    }
    tx.execute(
        "INSERT INTO click_counts (link_id, bucket, agent_class, clicks) \
         SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::bigint[]) \
         ON CONFLICT (link_id, bucket, agent_class) DO UPDATE SET clicks = click_counts.clicks + EXCLUDED.clicks",
        &[&links, &buckets, &classes, &counts],
    )
    .await?;
    let (mut links, mut days, mut hosts, mut bots, mut counts) =
        (vec![], vec![], vec![], vec![], vec![]);
    for ((link, day, host, bot), n) in &referrers {
        links.push(*link);
        days.push(*day);
        hosts.push(*host);
        bots.push(*bot);
        counts.push(*n);
    }
    if !links.is_empty() {
        tx.execute(
        "INSERT INTO click_referrers (link_id, day, referrer_host, is_bot, clicks) \
         SELECT * FROM unnest($1::bigint[], $2::date[], $3::text[], $4::boolean[], $5::bigint[]) \
         ON CONFLICT (link_id, day, referrer_host, is_bot) DO UPDATE SET clicks = click_referrers.clicks + EXCLUDED.clicks",
        &[&links, &days, &hosts, &bots, &counts],
    )
    .await?;
    }
    tx.commit().await?;
    Ok(raw.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at: &str, link_id: i64, referrer: Option<&str>, country: Option<&str>) -> Row {
        Row {
            at: at.parse().unwrap(),
            link_id,
            referrer: referrer.map(str::to_owned),
            agent_class: "mobile",
            country: country.map(str::to_owned),
        }
    }

    #[test]
    fn identical_clicks_in_a_second_share_a_row_and_nothing_is_lost() {
        let rows = [
            row("2026-11-28T10:00:00.100Z", 1, None, None),
            row("2026-11-28T10:00:00.900Z", 1, None, None),
            row("2026-11-28T10:00:01.000Z", 1, None, None),
            row("2026-11-28T10:00:00.500Z", 2, None, None),
            row(
                "2026-11-28T10:00:00.500Z",
                1,
                Some("news.example.org"),
                None,
            ),
            row("2026-11-28T10:00:00.600Z", 1, None, Some("NL")),
            row("2026-11-28T10:00:00.700Z", 1, None, Some("NL")),
        ];
        let folded = coalesce(&rows);
        let second = "2026-11-28T10:00:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap()
            .timestamp();
        let count = |key: RawKey<'_>| folded.iter().find(|(k, _)| *k == key).map(|(_, n)| *n);
        assert_eq!(count((second, 1, None, "mobile", None)), Some(2));
        assert_eq!(count((second + 1, 1, None, "mobile", None)), Some(1));
        assert_eq!(count((second, 2, None, "mobile", None)), Some(1));
        assert_eq!(
            count((second, 1, Some("news.example.org"), "mobile", None)),
            Some(1)
        );
        assert_eq!(count((second, 1, None, "mobile", Some("NL"))), Some(2));
        assert_eq!(folded.len(), 5);
        let total: i32 = folded.iter().map(|(_, n)| n).sum();
        assert_eq!(total as usize, rows.len());
        // In time order, so the COPY appends.
        assert!(folded.windows(2).all(|w| w[0].0.0 <= w[1].0.0));
    }
}
