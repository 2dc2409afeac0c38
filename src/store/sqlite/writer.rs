//! The group-commit writer: one thread owns the write connection and commits batches.
//!
//! Requests queue on a channel. The thread takes the first, then everything else already
//! waiting (up to `max_batch`), runs them all in one `BEGIN IMMEDIATE … COMMIT`, and only then
//! answers each request. While it waits for the fsync, new requests pile up for the next
//! batch, so one fsync is shared by as many requests as arrived during the previous one.
//!
//! A request is a closure over the open transaction ([`WriterHandle::write`]), so every kind
//! of write (events, deliveries, attempts, cache rows) shares the same batching.
//!
//! Invariant: no reply is sent before the transaction holding its write has committed. A
//! batch that fails as a whole (I/O error, lock timeout) answers every request in it with the
//! error, and nothing of it is stored.
//!
//! A write that fails on its own (the database refused its data: a constraint, a trigger's
//! `RAISE(ABORT, …)`, a type mismatch; or its own code failed) fails alone: the transaction
//! is rolled back, that write is answered with its error ([`StoreError::Rejected`] when the
//! database refused it), and the batch runs again without it. That is why a write is an
//! `FnMut`: it may run more than once, each time in a fresh transaction, and only the run
//! that commits counts. The happy path is unchanged: one transaction, no savepoints.

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::store::StoreError;

/// Requests that may wait for the writer. Beyond this, writers wait for room, which pushes
/// back on clients instead of growing memory without bound.
const QUEUE_CAPACITY: usize = 16 * 1024;

/// One write waiting for its batch: run inside the transaction, then told the outcome.
trait PendingWrite: Send {
    fn apply(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()>;
    /// Called once the batch committed (`Ok`) or rolled back (`Err`).
    fn settle(self: Box<Self>, committed: Result<(), StoreError>);
}

/// A closure and the channel its caller waits on.
struct Write<T, F> {
    work: F,
    /// The last run's result; a run in a batch that was rolled back is replaced by the next.
    output: Option<T>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> PendingWrite for Write<T, F>
where
    T: Send,
    F: FnMut(&Transaction<'_>) -> rusqlite::Result<T> + Send,
{
    fn apply(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        self.output = Some((self.work)(tx)?);
        Ok(())
    }

    fn settle(self: Box<Self>, committed: Result<(), StoreError>) {
        let Write { output, reply, .. } = *self;
        let _ = reply.send(committed.and_then(|()| output.ok_or(StoreError::Closed)));
    }
}

enum WriteOp {
    Write(Box<dyn PendingWrite>),
    /// Commit what came before, then stop.
    Close {
        reply: oneshot::Sender<()>,
    },
}

/// The sending side; cloned into every request handler and worker.
#[derive(Clone)]
pub struct WriterHandle {
    queue: mpsc::Sender<WriteOp>,
}

impl WriterHandle {
    /// Starts the writer thread on `conn`.
    pub fn start(conn: Connection, max_batch: usize) -> WriterHandle {
        let (queue, ops) = mpsc::channel(QUEUE_CAPACITY);
        std::thread::Builder::new()
            .name("klaxon-sqlite-writer".into())
            .spawn(move || run(conn, ops, max_batch.max(1)))
            .expect("spawning the writer thread at start-up");
        WriterHandle { queue }
    }

    /// Runs `work` in the next batch's transaction and returns its result once committed.
    /// An error from `work` fails this write alone (the rest of the batch runs again without
    /// it), so `work` must be safe to run again after a rollback: it only touches `tx`.
    /// Expected outcomes (a duplicate, a missing row) belong in `T`.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let op = Write {
            work,
            output: None,
            reply,
        };
        self.queue
            .send(WriteOp::Write(Box::new(op)))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub async fn close(&self) {
        let (reply, answer) = oneshot::channel();
        if self.queue.send(WriteOp::Close { reply }).await.is_ok() {
            let _ = answer.await;
        }
    }
}

fn run(mut conn: Connection, mut ops: mpsc::Receiver<WriteOp>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    let mut closing = None;
    while let Some(first) = ops.blocking_recv() {
        for op in std::iter::once(first).chain(std::iter::from_fn(|| ops.try_recv().ok())) {
            match op {
                WriteOp::Write(write) => batch.push(write),
                WriteOp::Close { reply } => {
                    closing = Some(reply);
                    break;
                }
            }
            if batch.len() >= max_batch {
                break;
            }
        }
        commit_batch(&mut conn, &mut batch);
        if let Some(reply) = closing {
            ops.close();
            // Requests queued behind the close are refused, not silently dropped.
            while let Ok(op) = ops.try_recv() {
                match op {
                    WriteOp::Write(write) => write.settle(Err(StoreError::Closed)),
                    WriteOp::Close { reply } => drop(reply.send(())),
                }
            }
            let _ = reply.send(());
            return;
        }
    }
}

/// Runs one batch in one transaction and answers every write in it. A write that fails on
/// its own is answered alone and the batch runs again without it (see the module doc).
fn commit_batch(conn: &mut Connection, batch: &mut Vec<Box<dyn PendingWrite>>) {
    while !batch.is_empty() {
        let error = match run_batch(conn, batch) {
            Ok(()) => {
                for write in batch.drain(..) {
                    write.settle(Ok(()));
                }
                return;
            }
            Err(BatchFailure::Write(index, error)) => match blame_the_write(error) {
                Ok(own) => {
                    tracing::warn!(error = %own, writes = batch.len(), "one write of a batch failed; running the others again without it");
                    batch.remove(index).settle(Err(own));
                    continue;
                }
                Err(error) => error,
            },
            Err(BatchFailure::Batch(error)) => error,
        };
        tracing::error!(%error, writes = batch.len(), "group commit failed; nothing in it was stored");
        for write in batch.drain(..) {
            write.settle(Err(clone_error(&error)));
        }
    }
}

/// Why a batch's transaction did not commit (it has been rolled back either way).
enum BatchFailure {
    /// The write at this index failed.
    Write(usize, rusqlite::Error),
    /// Beginning or committing failed: no one write is to blame.
    Batch(rusqlite::Error),
}

fn run_batch(
    conn: &mut Connection,
    batch: &mut [Box<dyn PendingWrite>],
) -> Result<(), BatchFailure> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(BatchFailure::Batch)?;
    for (index, write) in batch.iter_mut().enumerate() {
        // Dropping `tx` on the way out rolls back the writes before this one too.
        write
            .apply(&tx)
            .map_err(|error| BatchFailure::Write(index, error))?;
    }
    tx.commit().map_err(BatchFailure::Batch)
}

/// The error a failed write gets on its own (`Ok`), or back (`Err`) when the failure is the
/// database's as a whole (I/O, a full disk, a lock), which the whole batch shares.
fn blame_the_write(error: rusqlite::Error) -> Result<StoreError, rusqlite::Error> {
    match error {
        // SQLite's own verdicts: the refused-data ones are the write's, the rest are not.
        rusqlite::Error::SqliteFailure(..) => {
            let error = StoreError::Sqlite(error);
            match error.refusal() {
                Some(reason) => Ok(StoreError::Rejected(reason)),
                None => match error {
                    StoreError::Sqlite(error) => Err(error),
                    other => Ok(other),
                },
            }
        }
        // Raised by the write's own code (a value that does not convert, a row it expected):
        // its batch-mates had nothing to do with it.
        other => Ok(StoreError::Sqlite(other)),
    }
}

/// rusqlite errors are not `Clone`; every write of a failed batch gets an equivalent copy.
fn clone_error(error: &rusqlite::Error) -> StoreError {
    match error {
        rusqlite::Error::SqliteFailure(code, message) => {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(*code, message.clone()))
        }
        other => StoreError::WriteFailed(other.to_string()),
    }
}
