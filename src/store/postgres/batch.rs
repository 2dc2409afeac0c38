//! Group commit for PostgreSQL: writes of one kind queue up and are flushed together, one
//! multi-row statement (one transaction, one WAL flush) for the whole batch.
//!
//! Unlike SQLite, PostgreSQL accepts several writers at once, so up to `flushes` batches are
//! in flight together; while they wait for their commits, the next batch fills up. As on
//! SQLite, no caller is answered before the batch holding its write has committed.
//!
//! A batch is one statement or one transaction, so when it fails nothing of it was written.
//! If the database refused some row's data ([`StoreError::refusal`]: a constraint, a value
//! it cannot store), the batch is flushed again in halves, and halves of the halves that
//! fail, until the rows at fault stand alone: each of those gets [`StoreError::Rejected`]
//! and every other write commits. k bad rows in a batch of n cost about 2k·log2(n) extra
//! flushes, and only then: the happy path is the one flush it always was. Any other failure
//! (connection, I/O) answers every caller in the batch with the error, as it would alone.

use std::future::Future;
use std::ops::Range;
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

impl<Req: Clone + Send + Sync + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
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

async fn run<Req: Clone + Send + Sync + 'static, Resp: Send + 'static>(
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
            let answers = flush_isolating(&pool, &flush, requests).await;
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(answer);
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

/// Flushes `requests` and answers each, in order. When the database refuses the data of a
/// part, that part is split in two and each half flushed on its own (nothing of a failed
/// flush was written), down to single rows, which get [`StoreError::Rejected`].
async fn flush_isolating<Req: Clone, Resp>(
    pool: &Pool,
    flush: &FlushFn<Req, Resp>,
    requests: Vec<Req>,
) -> Vec<Result<Resp, StoreError>> {
    let count = requests.len();
    let mut answers: Vec<Option<Result<Resp, StoreError>>> = (0..count).map(|_| None).collect();
    // Parts still to flush; the right half is pushed first so parts run left to right.
    let mut parts: Vec<Range<usize>> = std::iter::once(0..count).collect();
    while let Some(part) = parts.pop() {
        let flushed = flush_with_retries(pool, flush, &requests[part.clone()]).await;
        let error = match flushed {
            Ok(done) if done.len() == part.len() => {
                for (answer, done) in answers[part].iter_mut().zip(done) {
                    *answer = Some(Ok(done));
                }
                continue;
            }
            Ok(_) => StoreError::WriteFailed("a batch answered the wrong number of writes".into()),
            Err(error) => error,
        };
        match error.refusal() {
            Some(_) if part.len() > 1 => {
                tracing::debug!(%error, writes = part.len(), "the database refused a row of a batch; flushing it in halves");
                let middle = part.start + part.len() / 2;
                parts.push(middle..part.end);
                parts.push(part.start..middle);
            }
            Some(reason) => {
                tracing::warn!(%error, "the database refused one write of a batch; the others are unaffected");
                answers[part.start] = Some(Err(StoreError::Rejected(reason)));
            }
            None => {
                tracing::error!(%error, writes = part.len(), "group commit failed; nothing in it was stored");
                let text = error.to_string();
                // Each caller gets a copy that still says whether the store cannot write.
                let copy = || match Outage::of(&error) {
                    Some(cause) => StoreError::CannotWrite {
                        cause,
                        message: text.clone(),
                    },
                    None => StoreError::WriteFailed(text.clone()),
                };
                for answer in &mut answers[part] {
                    *answer = Some(Err(copy()));
                }
            }
        }
    }
    answers
        .into_iter()
        .map(|answer| answer.unwrap_or(Err(StoreError::Closed)))
        .collect()
}

/// One flush, run again up to [`TRANSIENT_RETRIES`] times on a deadlock or serialization
/// failure.
async fn flush_with_retries<Req: Clone, Resp>(
    pool: &Pool,
    flush: &FlushFn<Req, Resp>,
    requests: &[Req],
) -> Result<Vec<Resp>, StoreError> {
    let mut flushed = flush(pool.clone(), requests.to_vec()).await;
    for _ in 0..TRANSIENT_RETRIES {
        match &flushed {
            Err(error) if error.is_transient() => {
                tracing::debug!(%error, writes = requests.len(), "batch hit a transient conflict; running it again");
                flushed = flush(pool.clone(), requests.to_vec()).await;
            }
            _ => break,
        }
    }
    flushed
}
