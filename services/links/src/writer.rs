//! Batched creates: concurrent create calls share one INSERT and one commit, and one Redis
//! round trip for their read-model entries.
//!
//! Each create hands its row to a queue and waits. A few writer tasks each take whatever
//! has queued (up to a batch limit) and store it at once. Under light load a batch is a
//! single row and nothing waits longer than it would have alone; under heavy load a
//! commit's cost (the WAL flush) and the round trips are shared by many rows, which is what
//! lets one links instance take thousands of creates per second.

use crate::error::LinksError;
use crate::model::Link;
use crate::store::{NewRow, Store};
use prometheus::{Histogram, HistogramOpts, Registry};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// Rows per INSERT at most.
const MAX_BATCH: usize = 128;
/// Batches in flight at once (each holds one pooled connection).
const WRITERS: usize = 4;

/// What became of a row.
#[derive(Debug)]
pub enum Insert {
    Created(Link),
    /// The code is already in use (by an alias, or a live or deleted link).
    CodeTaken,
}

struct Job {
    row: NewRow,
    done: oneshot::Sender<Result<Insert, LinksError>>,
}

/// The queue in front of the writer tasks. Cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    store: Store,
    read_model: hop_read_model::Writer,
}

impl Writer {
    /// Starts the writer tasks; they stop when every `Writer` clone is dropped.
    pub fn spawn(store: Store, read_model: hop_read_model::Writer, registry: &Registry) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>(MAX_BATCH * WRITERS * 4);
        let queue = Arc::new(Mutex::new(queue));
        let batch_rows = Histogram::with_opts(
            HistogramOpts::new("hop_link_insert_batch_rows", "Rows per batched link insert")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]),
        )
        .expect("valid metric");
        hop_kit::metrics::register(registry, &batch_rows);
        for _ in 0..WRITERS {
            let (store, read_model, queue, batch_rows) = (
                store.clone(),
                read_model.clone(),
                queue.clone(),
                batch_rows.clone(),
            );
            tokio::spawn(async move {
                while let Some(batch) = next_batch(&queue).await {
                    batch_rows.observe(batch.len() as f64);
                    write(&store, &read_model, batch).await;
                }
            });
        }
        Self {
            jobs,
            store,
            read_model,
        }
    }

    /// Stores `row`; resolves once it is committed and written through.
    pub async fn insert(&self, row: NewRow) -> Result<Insert, LinksError> {
        let (done, outcome) = oneshot::channel();
        self.jobs
            .send(Job { row, done })
            .await
            .map_err(|_| LinksError::Internal("the link writer has stopped".into()))?;
        outcome
            .await
            .map_err(|_| LinksError::Internal("the link writer dropped a row".into()))?
    }
}

/// Waits for one job, then takes whatever else is already queued.
async fn next_batch(queue: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let mut queue = queue.lock().await;
    let first = queue.recv().await?;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    batch.push(first);
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    Some(batch)
}

impl Writer {
    /// Stores `rows` at once, outside the queue (a bulk create is its own batch): one
    /// INSERT, one read-model write. One outcome per row, in order.
    pub async fn insert_now(&self, rows: &[NewRow]) -> Result<Vec<Insert>, LinksError> {
        let stored = self.store.insert_many(rows).await?;
        let created: Vec<(&str, _)> = stored
            .iter()
            .flatten()
            .map(|link: &Link| (link.code.as_str(), link.read_entry()))
            .collect();
        self.read_model.put_many(&created).await;
        Ok(stored
            .into_iter()
            .map(|link| link.map_or(Insert::CodeTaken, Insert::Created))
            .collect())
    }
}

async fn write(store: &Store, read_model: &hop_read_model::Writer, batch: Vec<Job>) {
    let rows: Vec<NewRow> = batch.iter().map(|job| job.row.clone()).collect();
    match store.insert_many(&rows).await {
        Ok(stored) => {
            let created: Vec<(&str, _)> = stored
                .iter()
                .flatten()
                .map(|link: &Link| (link.code.as_str(), link.read_entry()))
                .collect();
            read_model.put_many(&created).await;
            for (job, link) in batch.into_iter().zip(stored) {
                let outcome = link.map_or(Insert::CodeTaken, Insert::Created);
                let _ = job.done.send(Ok(outcome));
            }
        }
        Err(e) => {
            let message = e.to_string();
            let cause = match &e {
                LinksError::Unavailable(cause) | LinksError::Internal(cause) => cause.to_string(),
                _ => message.clone(),
            };
            for job in batch {
                let error = match e {
                    LinksError::Unavailable(_) => LinksError::Unavailable(cause.clone().into()),
                    _ => LinksError::Internal(cause.clone().into()),
                };
                let _ = job.done.send(Err(error));
            }
        }
    }
}
