//! The background half of click recording: the buffer drained as it fills, and what was
//! drained within one flush interval written in one transaction, at least once per
//! CLICK_FLUSH_MS. What clicks become and how they are written belongs to `hop-clicks`
//! (classified and folded by [`hop_clicks::Preparer`], written by
//! [`hop_clicks::store::write_batch`]); this module is the pipeline around it: when to
//! drain and when to write, the preparer thread, retries and the drain at shutdown.
//!
//! One write per interval, not one per drain: the drains of an interval fold into the same
//! [`Batch`], so a link clicked all through the interval costs one rollup upsert and one
//! raw row per second, however often the buffer filled (decision 28).
//!
//! A batch that cannot be written (Postgres down) is kept and retried on the next tick;
//! meanwhile the buffer fills and further clicks are dropped and counted, so redirects
//! never wait. At shutdown everything still buffered is written before the process exits.

use super::{ClickMetrics, ClickSettings};
use hop_clicks::{Batch, Click, Preparer};
use hop_kit::database::Database;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How often the writer looks at the buffer's depth.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Attempts to write what is left at shutdown before giving up on it.
const SHUTDOWN_ATTEMPTS: usize = 5;

/// Clicks taken from the channel between yields to the runtime.
const TAKE_CHUNK: usize = 1024;

/// Queued clicks that make the writer drain the buffer before the interval is up (or
/// CLICK_BATCH_MAX, if smaller): the buffer never fills while the writer waits.
const DRAIN_AT: usize = 20_000;

pub struct ClickWriter {
    receiver: mpsc::Receiver<Click>,
    database: Database,
    metrics: ClickMetrics,
    batch_max: usize,
    drain_at: usize,
    flush_every: Duration,
    /// The preparer thread's inbox; dropping it (with the writer) ends the thread.
    jobs: std::sync::mpsc::Sender<Job>,
}

/// Clicks to fold into a batch, and where to send the batch back.
type Job = (Vec<Click>, Batch, oneshot::Sender<Batch>);

/// How much lower than the redirect workers the preparer thread runs (a nice value).
const PREPARER_NICENESS: i32 = 10;

/// Starts the preparer thread: it classifies each job's clicks and folds them into the
/// job's batch ([`hop_clicks::Preparer`]), about 10 ms for 50,000 clicks, at a lower priority (nice
/// +10), so the kernel gives the redirect workers the core whenever both want it. It
/// serves jobs until every sender is gone. (In `scripts/bench.sh` this, like the blocking
/// pool before it, did not move the redirect p99 measurably; see capacity-plan.md.)
fn spawn_preparer() -> std::sync::mpsc::Sender<Job> {
    let (jobs, inbox) = std::sync::mpsc::channel::<Job>();
    let started = std::thread::Builder::new()
        .name("hop-click-prep".into())
        .spawn(move || {
            lower_priority();
            let mut preparer = Preparer::default();
            for (clicks, mut batch, reply) in inbox {
                // A panic in a classifier loses that batch (the reply is dropped, and the
                // writer counts the clicks), not the thread; the caches start over.
                let prepared = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    preparer.prepare_into(&mut batch, clicks);
                    batch
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

impl ClickWriter {
    pub fn new(
        receiver: mpsc::Receiver<Click>,
        database: Database,
        settings: &ClickSettings,
        metrics: ClickMetrics,
    ) -> Self {
        let batch_max = settings.click_batch_max as usize;
        Self {
            receiver,
            database,
            metrics,
            batch_max,
            drain_at: batch_max.min(DRAIN_AT),
            flush_every: Duration::from_millis(settings.click_flush_ms),
            jobs: spawn_preparer(),
        }
    }

    /// Writes batches until `stop`, then writes what is left and returns.
    pub async fn run(mut self, stop: CancellationToken) {
        // What has been drained and folded since the last write.
        let mut pending = Batch::default();
        // A batch whose write failed, retried before anything newer.
        let mut failed: Option<Batch> = None;
        // The writer wakes on a short tick: it drains the buffer whenever DRAIN_AT clicks
        // have queued, and writes what it drained once the flush interval is up (or once
        // it holds CLICK_BATCH_MAX clicks). Waiting on the channel instead would wake this
        // task for every single click, tens of thousands of task switches a second paid
        // for by the redirects.
        let mut ticker = tokio::time::interval(self.flush_every.min(CHECK_EVERY));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_flush = tokio::time::Instant::now();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                _ = ticker.tick() => {}
            }
            // While a write is failing nothing more is drained: the buffer fills and new
            // clicks are dropped and counted, and only the interval paces the retries.
            if failed.is_none() {
                while self.receiver.len() >= self.drain_at && pending.clicks() < self.batch_max {
                    pending = self.drain(pending).await;
                }
            }
            let due = last_flush.elapsed() >= self.flush_every;
            if due || (failed.is_none() && pending.clicks() >= self.batch_max) {
                last_flush = tokio::time::Instant::now();
                if let Some(batch) = failed.take() {
                    failed = self.write(batch).await;
                }
                if failed.is_none() {
                    if due {
                        // The interval's last clicks go with it.
                        while !self.receiver.is_empty() && pending.clicks() < self.batch_max {
                            pending = self.drain(pending).await;
                        }
                    }
                    failed = self.write(std::mem::take(&mut pending)).await;
                }
            }
            let waiting = pending.clicks() + failed.as_ref().map_or(0, Batch::clicks);
            self.metrics
                .buffered
                .set((self.receiver.len() + waiting) as i64);
        }
        self.finish(pending, failed).await;
    }

    /// At shutdown: everything still buffered (and a batch that failed before) is written,
    /// retried a few times, and what still cannot be written is logged and counted.
    async fn finish(&mut self, pending: Batch, failed: Option<Batch>) {
        self.receiver.close();
        let mut batches: Vec<Batch> = failed.into_iter().collect();
        let mut pending = pending;
        while !self.receiver.is_empty() {
            if pending.clicks() >= self.batch_max {
                batches.push(std::mem::take(&mut pending));
            }
            pending = self.drain(pending).await;
        }
        batches.push(pending);
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
        let lost: usize = batches.iter().map(|b| b.clicks()).sum();
        if lost > 0 {
            tracing::error!(service = "redirect", lost, "clicks_lost_at_shutdown");
            self.metrics.dropped.inc_by(lost as u64);
        }
        self.metrics.buffered.set(0);
    }

    /// Takes what is queued (up to what `batch` has room for) and folds it into `batch`.
    async fn drain(&mut self, batch: Batch) -> Batch {
        let room = self.batch_max.saturating_sub(batch.clicks()).max(1);
        let clicks = self.take(room).await;
        self.prepare(clicks, batch).await
    }

    /// Up to `max` queued clicks, taken a chunk at a time with a yield between chunks, so
    /// draining 50,000 of them never holds this async worker for more than a chunk's
    /// worth (the benchmark showed no p99 change either way; capacity-plan.md).
    async fn take(&mut self, max: usize) -> Vec<Click> {
        let mut clicks = Vec::with_capacity(self.receiver.len().min(max));
        while clicks.len() < max && !self.receiver.is_empty() {
            let room = (max - clicks.len()).min(TAKE_CHUNK);
            // Not empty, and this task is the only receiver: returns at once.
            if self.receiver.recv_many(&mut clicks, room).await == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        self.metrics.held.release(&clicks);
        clicks
    }

    /// Classifies `clicks` and folds them into `batch` on the preparer thread.
    async fn prepare(&self, clicks: Vec<Click>, batch: Batch) -> Batch {
        if clicks.is_empty() {
            return batch;
        }
        let count = clicks.len() + batch.clicks();
        let (reply, folded) = oneshot::channel();
        if self.jobs.send((clicks, batch, reply)).is_ok()
            && let Ok(batch) = folded.await
        {
            return batch;
        }
        // Only a panic in the classifiers (or a thread that never started) gets here; the
        // clicks are lost with it, and those folded into the batch before.
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
        if batch.clicks() == 0 {
            return None;
        }
        match hop_clicks::store::write_batch(&self.database, &batch).await {
            Ok(()) => {
                self.metrics.written.inc_by(batch.clicks() as u64);
                self.metrics.rows_written.inc_by(batch.raw_rows() as u64);
                None
            }
            Err(e) => {
                self.metrics.write_failures.inc();
                tracing::warn!(service = "redirect", error = %e, waiting = batch.clicks(), "click_write_failed");
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
