//! Group commit for PostgreSQL: writes of one kind queue up and are flushed together, one
//! multi-row statement (one transaction, one WAL flush) for the whole batch.
//!
//! Unlike SQLite, PostgreSQL accepts several writers at once, so up to `flushes` batches are
//! in flight together; while they wait for their commits, the next batch fills up. As on
//! SQLite, no caller is answered before the batch holding its write has committed, and a
//! batch that fails answers every caller in it with the error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::store::{Outage, StoreError};

/// Requests that may wait; beyond this callers wait for room (back-pressure, bounded memory).
const QUEUE_CAPACITY: usize = 16 * 1024;
/// Runs of a batch that hit a deadlock or serialization failure (nothing of it was written,
/// so running it again is safe).
const TRANSIENT_RETRIES: usize = 3;

/// Writes one batch; returns one answer per request, in order.
pub type FlushFn<Req, Resp> = Arc<
    dyn Fn(Pool, Vec<Req>) -> Pin<Box<dyn Future<Output = Result<Vec<Resp>, StoreError>> + Send>>
        + Send
        + Sync,
>;

enum Op<Req, Resp> {
    Write(Req, oneshot::Sender<Result<Resp, StoreError>>),
    /// Flush what came before, then stop.
    Close(oneshot::Sender<()>),
}

/// The sending side; cheap to clone.
pub struct Batcher<Req, Resp> {
    queue: mpsc::Sender<Op<Req, Resp>>,
}

impl<Req, Resp> Clone for Batcher<Req, Resp> {
    fn clone(&self) -> Self {
        Batcher {
            queue: self.queue.clone(),
        }
    }
}

impl<Req: Clone + Send + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Starts the batching task.
    pub fn start(
        pool: Pool,
        max_batch: usize,
        flushes: usize,
        flush: FlushFn<Req, Resp>,
    ) -> Batcher<Req, Resp> {
        let (queue, ops) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(pool, ops, max_batch.max(1), flushes.max(1), flush));
        Batcher { queue }
    }

    /// Queues `request` and returns its answer once its batch has committed.
    pub async fn write(&self, request: Req) -> Result<Resp, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Op::Write(request, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Commits everything queued so far; later writes fail with [`StoreError::Closed`].
    pub async fn close(&self) {
        let (reply, answer) = oneshot::channel();
        if self.queue.send(Op::Close(reply)).await.is_ok() {
            let _ = answer.await;
        }
    }
}

async fn run<Req: Clone + Send + 'static, Resp: Send + 'static>(
    pool: Pool,
    mut ops: mpsc::Receiver<Op<Req, Resp>>,
    max_batch: usize,
    flushes: usize,
    flush: FlushFn<Req, Resp>,
) {
    let slots = Arc::new(Semaphore::new(flushes));
    let mut closing = None;
    while closing.is_none() {
        let Some(first) = ops.recv().await else { break };
        // Wait for a free flush slot before draining the queue, so the batch grows while
        // the earlier ones commit.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let mut requests = Vec::new();
        let mut replies = Vec::new();
        for op in std::iter::once(first).chain(std::iter::from_fn(|| ops.try_recv().ok())) {
            match op {
                Op::Write(request, reply) => {
                    requests.push(request);
                    replies.push(reply);
                }
                Op::Close(reply) => {
                    closing = Some(reply);
                    break;
                }
            }
            if requests.len() >= max_batch {
                break;
            }
        }
        if requests.is_empty() {
            continue;
        }
        let (pool, flush) = (pool.clone(), flush.clone());
        tokio::spawn(async move {
            let count = requests.len();
            let mut flushed = flush(pool.clone(), requests.clone()).await;
            for _ in 0..TRANSIENT_RETRIES {
                match &flushed {
                    Err(error) if error.is_transient() => {
                        tracing::debug!(%error, writes = count, "batch hit a transient conflict; running it again");
                        flushed = flush(pool.clone(), requests.clone()).await;
                    }
                    _ => break,
                }
            }
            match flushed {
                Ok(answers) if answers.len() == count => {
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(Ok(answer));
                    }
                }
                Ok(_) => {
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::WriteFailed(
                            "a batch answered the wrong number of writes".into(),
                        )));
                    }
                }
                Err(error) => {
                    tracing::error!(%error, writes = count, "group commit failed; nothing in it was stored");
                    let text = error.to_string();
                    // Each caller gets a copy that still says whether the store cannot write.
                    let copy = || match Outage::of(&error) {
                        Some(cause) => StoreError::CannotWrite {
                            cause,
                            message: text.clone(),
                        },
                        None => StoreError::WriteFailed(text.clone()),
                    };
                    for reply in replies {
                        let _ = reply.send(Err(copy()));
                    }
                }
            }
            drop(slot);
        });
    }
    // Wait for the batches in flight, then refuse what queued behind the close.
    let _ = slots
        .acquire_many(u32::try_from(flushes).unwrap_or(u32::MAX))
        .await;
    ops.close();
    while let Ok(op) = ops.try_recv() {
        match op {
            Op::Write(_, reply) => drop(reply.send(Err(StoreError::Closed))),
            Op::Close(reply) => drop(reply.send(())),
        }
    }
    if let Some(reply) = closing {
        let _ = reply.send(());
    }
}
