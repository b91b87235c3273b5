//! The background half of click recording: batches from the buffer, written in one
//! transaction each, at least once per CLICK_FLUSH_MS. What a batch becomes and how it is
//! written belongs to `hop-clicks` (classified and folded by [`hop_clicks::Preparer`],
//! written by [`hop_clicks::store::write_batch`]); this module is the pipeline around it:
//! when to take a batch, the preparer thread, retries and the drain at shutdown.
//!
//! A batch that cannot be written (Postgres down) is kept and retried on the next tick;
//! meanwhile the buffer fills and further clicks are dropped and counted, so redirects
//! never wait. At shutdown everything still buffered is written before the process exits.

use super::{ClickMetrics, ClickSettings};
use hop_clicks::{Batch, Click, Preparer};
use hop_kit::postgres::Pool;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How often the writer looks at the buffer's depth.
const CHECK_EVERY: Duration = Duration::from_millis(100);

/// Attempts to write what is left at shutdown before giving up on it.
const SHUTDOWN_ATTEMPTS: usize = 5;

/// Clicks taken from the channel between yields to the runtime.
const TAKE_CHUNK: usize = 1024;

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

/// Starts the preparer thread: it classifies and folds each job's clicks
/// ([`hop_clicks::Preparer`]), about 10 ms for a full batch, at a lower priority (nice
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
            for (clicks, reply) in inbox {
                // A panic in a classifier loses that batch (the reply is dropped, and the
                // writer counts the clicks), not the thread; the caches start over.
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
            jobs: spawn_preparer(),
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
            let waiting = failed.as_ref().map_or(0, |b| b.clicks());
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
        let lost: usize = batches.iter().map(|b| b.clicks()).sum();
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
        if batch.clicks() == 0 {
            return None;
        }
        match hop_clicks::store::write_batch(&self.pool, &batch).await {
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
