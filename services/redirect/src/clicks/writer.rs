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
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_util::sync::CancellationToken;

/// How often the writer looks at the buffer's depth.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Attempts to write what is left at shutdown before giving up on it.
const SHUTDOWN_ATTEMPTS: usize = 5;

/// Clicks taken from the channel between yields to the runtime.
const TAKE_CHUNK: usize = 1024;

/// Rollup rows per upsert statement (see [`write`]).
const UPSERT_CHUNK: usize = 4096;

/// User-Agents whose class is remembered before the cache starts over.
const AGENT_CACHE_MAX: usize = 10_000;

type Error = Box<dyn std::error::Error + Send + Sync>;

pub struct ClickWriter {
    receiver: mpsc::Receiver<Click>,
    pool: Pool,
    metrics: ClickMetrics,
    batch_max: usize,
    flush_every: Duration,
    /// The preparer thread's inbox; dropping it (with the writer) ends the thread.
    jobs: std::sync::mpsc::Sender<Job>,
}

/// Clicks to prepare, and where to send the batch.
type Job = (Vec<Click>, oneshot::Sender<Batch>);

/// How much lower than the redirect workers the preparer thread runs (a nice value).
const PREPARER_NICENESS: i32 = 10;

/// A click as stored, before folding.
struct Row {
    at: DateTime<Utc>,
    link_id: i64,
    referrer: Option<String>,
    agent_class: &'static str,
    country: Option<String>,
}

/// What makes two clicks identical in the raw table: the second, the link, the referrer
/// host, the agent class and the country. Identical clicks are written as one row with a
/// count (migration V5), so a busy link costs a row per second per kind of visitor.
type RawKey<'a> = (i64, i64, Option<&'a str>, &'static str, Option<&'a str>);

/// One raw row: a click's second, link, referrer host, agent class and country, and how
/// many identical clicks it stands for.
struct RawRow {
    at: DateTime<Utc>,
    link_id: i64,
    referrer: Option<String>,
    agent_class: &'static str,
    country: Option<String>,
    clicks: i32,
}

/// The hourly rollup's increments, as the columns of one `unnest` upsert.
#[derive(Default)]
struct HourlyIncrements {
    links: Vec<i64>,
    buckets: Vec<DateTime<Utc>>,
    classes: Vec<&'static str>,
    clicks: Vec<i64>,
}

/// The daily referrer rollup's increments, as the columns of one `unnest` upsert.
#[derive(Default)]
struct ReferrerIncrements {
    links: Vec<i64>,
    days: Vec<NaiveDate>,
    hosts: Vec<String>,
    bots: Vec<bool>,
    clicks: Vec<i64>,
}

/// A batch ready to write: classified, folded and owned, so a failed write is retried
/// as it is, without classifying again.
#[derive(Default)]
struct Batch {
    /// How many clicks the batch holds.
    clicks: usize,
    raw: Vec<RawRow>,
    hourly: HourlyIncrements,
    referrers: ReferrerIncrements,
}

/// Turns clicks into a [`Batch`]: classifies and folds them. That is the writer's CPU
/// work, about 10 ms for a full batch, and it runs on a thread of its own at a lower
/// priority (nice +10), so the kernel gives the redirect workers the core whenever both
/// want it. (In `scripts/bench.sh` this, like the blocking pool before it, did not move
/// the redirect p99 measurably; see capacity-plan.md.)
#[derive(Default)]
struct Preparer {
    classifier: Classifier,
    agents: HashMap<Vec<u8>, &'static str>,
}

impl Preparer {
    /// Starts the preparer thread; it serves jobs until every sender is gone.
    fn spawn() -> std::sync::mpsc::Sender<Job> {
        let (jobs, inbox) = std::sync::mpsc::channel::<Job>();
        let started = std::thread::Builder::new()
            .name("hop-click-prep".into())
            .spawn(move || {
                lower_priority();
                let mut preparer = Preparer::default();
                for (clicks, reply) in inbox {
                    // A panic in a classifier loses that batch (the reply is dropped, and
                    // the writer counts the clicks), not the thread; the caches start over.
                    let prepared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        preparer.prepare(clicks)
                    }));
                    match prepared {
                        // The writer may be gone (shutdown gave up): nothing to do then.
                        Ok(batch) => drop(reply.send(batch)),
                        Err(_) => preparer = Preparer::default(),
                    }
                }
            });
        if let Err(e) = started {
            // Without the thread every prepare fails, and the clicks are counted as lost.
            tracing::error!(service = "redirect", error = %e, "click_preparer_not_started");
        }
        jobs
    }

    fn prepare(&mut self, clicks: Vec<Click>) -> Batch {
        // Each click (and its header copies) is freed as soon as it is classified, off the
        // async workers: the clicks and their rows are never all in memory at once.
        let rows: Vec<Row> = clicks.into_iter().map(|c| self.classify(&c)).collect();
        fold(&rows)
    }

    fn classify(&mut self, click: &Click) -> Row {
        let agent_class = match click.user_agent() {
            Some(ua) => match self.agents.get(ua) {
                Some(class) => class,
                None => {
                    let class = self.classifier.agent_class(Some(ua));
                    if self.agents.len() >= AGENT_CACHE_MAX {
                        self.agents.clear();
                    }
                    self.agents.insert(ua.to_vec(), class);
                    class
                }
            },
            None => "other",
        };
        Row {
            at: DateTime::<Utc>::from(click.at),
            link_id: click.link_id,
            referrer: referrer_host(click.referer()),
            agent_class,
            country: country(click.country()),
        }
    }
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
            jobs: Preparer::spawn(),
        }
    }

    /// Writes batches until `stop`, then writes what is left and returns.
    pub async fn run(mut self, stop: CancellationToken) {
        // A batch whose write failed, retried before anything newer.
        let mut failed: Option<Batch> = None;
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
            // Due: the flush interval has passed. A full buffer does not wait for it,
            // unless a write just failed: then only the interval paces the retries.
            let due = last_flush.elapsed() >= self.flush_every;
            let full = self.receiver.len() >= self.batch_max;
            if !due && (!full || failed.is_some()) {
                continue;
            }
            last_flush = tokio::time::Instant::now();
            if let Some(batch) = failed.take() {
                failed = self.write(batch).await;
            }
            // A full batch may mean more is waiting; a failed write waits for the next
            // interval (the channel fills meanwhile, and new clicks are dropped).
            while failed.is_none() {
                let clicks = self.take().await;
                if clicks.is_empty() {
                    break;
                }
                let full = clicks.len() == self.batch_max;
                let batch = self.prepare(clicks).await;
                failed = self.write(batch).await;
                if !full || self.receiver.len() < self.batch_max {
                    break;
                }
            }
            let waiting = failed.as_ref().map_or(0, |b| b.clicks);
            self.metrics
                .buffered
                .set((self.receiver.len() + waiting) as i64);
        }
        self.drain(failed).await;
    }

    /// At shutdown: everything still buffered (and a batch that failed before) is written,
    /// retried a few times, and what still cannot be written is logged and counted.
    async fn drain(&mut self, failed: Option<Batch>) {
        self.receiver.close();
        let mut batches: Vec<Batch> = failed.into_iter().collect();
        loop {
            let clicks = self.take().await;
            if clicks.is_empty() {
                break;
            }
            batches.push(self.prepare(clicks).await);
        }
        for attempt in 0..SHUTDOWN_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let mut left = Vec::new();
            for batch in batches {
                // Once one write fails, the rest wait for the next attempt.
                if left.is_empty() {
                    left.extend(self.write(batch).await);
                } else {
                    left.push(batch);
                }
            }
            batches = left;
            if batches.is_empty() {
                break;
            }
        }
        let lost: usize = batches.iter().map(|b| b.clicks).sum();
        if lost > 0 {
            tracing::error!(service = "redirect", lost, "clicks_lost_at_shutdown");
            self.metrics.dropped.inc_by(lost as u64);
        }
        self.metrics.buffered.set(0);
    }

    /// Up to a batch of queued clicks, taken a chunk at a time with a yield between
    /// chunks, so draining 50,000 of them never holds this async worker for more than a
    /// chunk's worth (the benchmark showed no p99 change either way; capacity-plan.md).
    async fn take(&mut self) -> Vec<Click> {
        let mut clicks = Vec::with_capacity(self.receiver.len().min(self.batch_max));
        while clicks.len() < self.batch_max && !self.receiver.is_empty() {
            let room = (self.batch_max - clicks.len()).min(TAKE_CHUNK);
            // Not empty, and this task is the only receiver: returns at once.
            if self.receiver.recv_many(&mut clicks, room).await == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        self.metrics.held.release(&clicks);
        clicks
    }

    /// Classifies and folds `clicks` on the preparer thread.
    async fn prepare(&self, clicks: Vec<Click>) -> Batch {
        let count = clicks.len();
        let (reply, batch) = oneshot::channel();
        if self.jobs.send((clicks, reply)).is_ok()
            && let Ok(batch) = batch.await
        {
            return batch;
        }
        // Only a panic in the classifiers (or a thread that never started) gets here; the
        // clicks are lost with it.
        tracing::error!(
            service = "redirect",
            lost = count,
            "click_batch_prepare_failed"
        );
        self.metrics.dropped.inc_by(count as u64);
        Batch::default()
    }

    /// Writes `batch`; gives it back when the write failed, for a later attempt.
    async fn write(&self, batch: Batch) -> Option<Batch> {
        if batch.clicks == 0 {
            return None;
        }
        match write(&self.pool, &batch).await {
            Ok(()) => {
                self.metrics.written.inc_by(batch.clicks as u64);
                self.metrics.rows_written.inc_by(batch.raw.len() as u64);
                None
            }
            Err(e) => {
                self.metrics.write_failures.inc();
                tracing::warn!(service = "redirect", error = %e, waiting = batch.clicks, "click_write_failed");
                Some(batch)
            }
        }
    }
}

/// Lowers the calling thread's priority by [`PREPARER_NICENESS`]. Lowering needs no
/// privilege; where it is refused anyway (a sandbox), the thread runs at normal priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // On Linux, setpriority on a thread id sets that thread's nice value alone.
        let thread = rustix::thread::gettid();
        let result = rustix::process::getpriority_process(Some(thread)).and_then(|nice| {
            rustix::process::setpriority_process(Some(thread), nice + PREPARER_NICENESS)
        });
        if let Err(e) = result {
            tracing::warn!(service = "redirect", error = %e, "click_preparer_priority_unchanged");
        }
    }
}

/// Folds identical clicks (see [`RawKey`]) into one raw row each, in time order so the
/// COPY appends in order, and sums the rollups' increments, so each rollup row appears
/// once per statement.
fn fold(rows: &[Row]) -> Batch {
    let mut raw: HashMap<RawKey<'_>, i32> = HashMap::with_capacity(rows.len() / 4);
    let mut hourly: HashMap<(i64, i64, &'static str), i64> = HashMap::new();
    let mut referrers: HashMap<(i64, NaiveDate, &str, bool), i64> = HashMap::new();
    for row in rows {
        let second = row.at.timestamp();
        let count = raw
            .entry((
                second,
                row.link_id,
                row.referrer.as_deref(),
                row.agent_class,
                row.country.as_deref(),
            ))
            .or_default();
        *count = count.saturating_add(1);
        let hour = second - second.rem_euclid(3600);
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
    let at = |second: i64| DateTime::<Utc>::from_timestamp(second, 0).unwrap_or_default();
    let mut raw: Vec<RawRow> = raw
        .into_iter()
        .map(
            |((second, link_id, referrer, agent_class, country), clicks)| RawRow {
                at: at(second),
                link_id,
                referrer: referrer.map(str::to_owned),
                agent_class,
                country: country.map(str::to_owned),
                clicks,
            },
        )
        .collect();
    raw.sort_unstable_by_key(|row| (row.at, row.link_id));
    let mut batch = Batch {
        clicks: rows.len(),
        raw,
        ..Batch::default()
    };
    for ((link, hour, class), n) in hourly {
        batch.hourly.links.push(link);
        batch.hourly.buckets.push(at(hour));
        batch.hourly.classes.push(class);
        batch.hourly.clicks.push(n);
    }
    for ((link, day, host, bot), n) in referrers {
        batch.referrers.links.push(link);
        batch.referrers.days.push(day);
        batch.referrers.hosts.push(host.to_owned());
        batch.referrers.bots.push(bot);
        batch.referrers.clicks.push(n);
    }
    batch
}

/// One transaction: the raw rows by COPY, then the two rollup upserts.
async fn write(pool: &Pool, batch: &Batch) -> Result<(), Error> {
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
    for row in &batch.raw {
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
    // The rollups in statements of at most UPSERT_CHUNK rows: a connection keeps its
    // buffers at the size of the largest message it sent, so one 50,000-row Bind message
    // would pin megabytes for the life of the connection.
    let hourly = &batch.hourly;
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
    let referrers = &batch.referrers;
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
    tx.commit().await?;
    Ok(())
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
        let batch = fold(&rows);
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let (second, next) = (at("2026-11-28T10:00:00Z"), at("2026-11-28T10:00:01Z"));
        let count =
            |at: DateTime<Utc>, link: i64, referrer: Option<&str>, country: Option<&str>| {
                batch
                    .raw
                    .iter()
                    .find(|r| {
                        (r.at, r.link_id, r.referrer.as_deref(), r.country.as_deref())
                            == (at, link, referrer, country)
                    })
                    .map(|r| r.clicks)
            };
        assert_eq!(count(second, 1, None, None), Some(2));
        assert_eq!(count(next, 1, None, None), Some(1));
        assert_eq!(count(second, 2, None, None), Some(1));
        assert_eq!(count(second, 1, Some("news.example.org"), None), Some(1));
        assert_eq!(count(second, 1, None, Some("NL")), Some(2));
        assert_eq!(batch.raw.len(), 5);
        assert_eq!(batch.clicks, rows.len());
        let total: i32 = batch.raw.iter().map(|r| r.clicks).sum();
        assert_eq!(total as usize, rows.len());
        // In time order, so the COPY appends.
        assert!(batch.raw.windows(2).all(|w| w[0].at <= w[1].at));
        // The hourly rollup: link 1 and link 2 in hour 10:00, all mobile.
        let hourly: i64 = batch.hourly.clicks.iter().sum();
        assert_eq!(hourly, rows.len() as i64);
        assert_eq!(batch.hourly.links.len(), 2);
        // The referrer rollup holds only the referred click.
        assert_eq!(batch.referrers.hosts, ["news.example.org"]);
        assert_eq!(batch.referrers.clicks, [1]);
    }
}
