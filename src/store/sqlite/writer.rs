//! The group-commit writer: one thread owns the write connection and commits batches.
//!
//! Requests queue on a channel. The thread takes the first, then everything else already
//! waiting (up to `max_batch`), runs them all in one `BEGIN IMMEDIATE … COMMIT`, and only then
//! answers each request. While it waits for the fsync, new requests pile up for the next
//! batch, so one fsync is shared by as many requests as arrived during the previous one.
//!
//! Invariant: no reply is sent before the transaction holding its write has committed. A
//! batch that fails as a whole (I/O error, lock timeout) answers every request in it with the
//! error, and nothing of it is stored.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::store::{EventId, Inserted, NewEvent, StoreError};

/// Requests that may wait for the writer. Beyond this, `insert_event` waits for room, which
/// pushes back on clients instead of growing memory without bound.
const QUEUE_CAPACITY: usize = 16 * 1024;

enum WriteOp {
    InsertEvent {
        event: NewEvent,
        reply: oneshot::Sender<Result<Inserted, StoreError>>,
    },
    /// Succeeds when a write transaction can be opened and committed.
    Probe {
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Commit what came before, then stop.
    Close { reply: oneshot::Sender<()> },
}

/// The sending side; cloned into every request handler.
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

    pub async fn insert_event(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(WriteOp::InsertEvent { event, reply }).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub async fn probe(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(WriteOp::Probe { reply }).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub async fn close(&self) {
        let (reply, answer) = oneshot::channel();
        if self.submit(WriteOp::Close { reply }).await.is_ok() {
            let _ = answer.await;
        }
    }

    async fn submit(&self, op: WriteOp) -> Result<(), StoreError> {
        self.queue.send(op).await.map_err(|_| StoreError::Closed)
    }
}

fn run(mut conn: Connection, mut ops: mpsc::Receiver<WriteOp>, max_batch: usize) {
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(first) = ops.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match ops.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let closing = commit_batch(&mut conn, &mut batch);
        if let Some(reply) = closing {
            ops.close();
            // Requests queued behind the close are refused, not silently dropped.
            while let Ok(op) = ops.try_recv() {
                refuse(op);
            }
            let _ = reply.send(());
            return;
        }
    }
}

/// Runs one batch in one transaction and answers every op in it. Returns the reply of a
/// `Close` op if the batch held one.
fn commit_batch(conn: &mut Connection, batch: &mut Vec<WriteOp>) -> Option<oneshot::Sender<()>> {
    let mut outcomes = Vec::with_capacity(batch.len());
    let committed = (|| -> Result<(), rusqlite::Error> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for op in batch.iter() {
            if let WriteOp::InsertEvent { event, .. } = op {
                outcomes.push(insert_event(&tx, event)?);
            }
        }
        tx.commit()
    })();

    if let Err(error) = &committed {
        tracing::error!(%error, ops = batch.len(), "group commit failed; nothing in it was stored");
    }
    let mut outcomes = outcomes.into_iter();
    let mut closing = None;
    for op in batch.drain(..) {
        match op {
            WriteOp::InsertEvent { reply, .. } => {
                let outcome = match &committed {
                    Ok(()) => outcomes.next().ok_or(StoreError::Closed),
                    Err(e) => Err(clone_error(e)),
                };
                let _ = reply.send(outcome);
            }
            WriteOp::Probe { reply } => {
                let _ = reply.send(committed.as_ref().map(|_| ()).map_err(clone_error));
            }
            WriteOp::Close { reply } => closing = Some(reply),
        }
    }
    closing
}

/// Inserts unless the (source, key) pair exists; then compares request hashes.
fn insert_event(tx: &rusqlite::Transaction<'_>, event: &NewEvent) -> rusqlite::Result<Inserted> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO events
                 (id, source, type, payload, occurred_at, received_at, idempotency_key, request_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (source, idempotency_key) DO NOTHING",
        )?
        .execute((
            event.id.to_string(),
            event.source.as_str(),
            &event.event_type,
            &event.payload,
            &event.occurred_at,
            &event.received_at,
            &event.idempotency_key,
            &event.request_hash,
        ))?;
    if inserted == 1 {
        return Ok(Inserted::Created(event.id));
    }
    let existing: Option<(String, String)> = tx
        .prepare_cached(
            "SELECT id, request_hash FROM events WHERE source = ?1 AND idempotency_key = ?2",
        )?
        .query_row((event.source.as_str(), &event.idempotency_key), |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let Some((id, hash)) = existing else {
        // ON CONFLICT only fires on the (source, key) constraint, so the row must exist.
        return Err(rusqlite::Error::QueryReturnedNoRows);
    };
    let id: EventId = id.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(if hash == event.request_hash {
        Inserted::Duplicate(id)
    } else {
        Inserted::Conflict(id)
    })
}

fn refuse(op: WriteOp) {
    match op {
        WriteOp::InsertEvent { reply, .. } => drop(reply.send(Err(StoreError::Closed))),
        WriteOp::Probe { reply } => drop(reply.send(Err(StoreError::Closed))),
        WriteOp::Close { reply } => drop(reply.send(())),
    }
}

/// rusqlite errors are not `Clone`; every op of a failed batch gets an equivalent copy.
fn clone_error(error: &rusqlite::Error) -> StoreError {
    match error {
        rusqlite::Error::SqliteFailure(code, message) => {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(*code, message.clone()))
        }
        other => StoreError::WriteFailed(other.to_string()),
    }
}
