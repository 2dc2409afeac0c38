//! Sending rows: one [`PostgresTableSender`] per destination, with its own pool and a
//! batcher task that turns concurrent sends into multi-row inserts.
//!
//! Batching is group commit, as in the store's PostgreSQL backend: a send queues its row
//! and waits; the batcher takes whatever has queued (up to [`MAX_BATCH_ROWS`] rows or
//! [`MAX_BATCH_BYTES`]) as soon as one of [`POOL_SIZE`] flush slots is free, and inserts it
//! with one statement. There is no timer: alone, a row goes at once; under load, batches
//! grow while the earlier ones commit.
//!
//! A batch is one statement, so when it fails nothing of it was stored. When the server
//! refused a value (a data exception or constraint), the batch is inserted again in halves,
//! and halves of the halves that fail, until the rows at fault stand alone: those are dead
//! with the server's reason and every other row is stored. k bad rows in a batch of n cost
//! about 2k·log2(n) extra statements, only then. A deadlock or serialization failure runs
//! the same statement again at once (up to [`TRANSIENT_RERUNS`] times) before the batch is
//! retried later; any other failure answers every row of the batch alike.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{OnceCell, Semaphore, mpsc, oneshot};

use super::failure::{Failure, Kind};
use super::settings::PostgresTableSettings;
use super::sql::Statements;
use crate::destinations::report::Report;
use crate::store::postgres::connect;

/// Connections per destination, and so batches in flight at once.
pub const POOL_SIZE: usize = 4;
/// Rows in one insert at most.
pub const MAX_BATCH_ROWS: usize = 1000;
/// Bytes of rows in one insert at most (a single larger row still goes, alone).
pub const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;
/// Rows that may wait for a batch; beyond this, senders wait for room (bounded memory).
const QUEUE_CAPACITY: usize = 16 * 1024;
/// Immediate re-runs of a batch that hit a deadlock or serialization failure (nothing of it
/// was stored, so running it again is safe).
const TRANSIENT_RERUNS: usize = 2;

/// Why a sender could not be set up (the settings were already validated, so this is rare).
/// Never shows the URL.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("the PostgreSQL URL is not usable: {0}")]
    Url(String),
    #[error("cannot set up TLS for PostgreSQL: {0}")]
    Tls(String),
    #[error("cannot set up the PostgreSQL connection pool: {0}")]
    Pool(String),
}

/// How much a sender has done, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderStats {
    /// `INSERT` statements run (batches, their halves when a row was refused, and re-runs).
    pub statements: u64,
    /// Rows handed to [`PostgresTableSender::send`] and taken into a batch.
    pub rows: u64,
}

/// Writes one destination's rows. Cheap to share behind an `Arc`; the batcher task stops
/// once the sender is dropped and the rows already queued are written.
pub struct PostgresTableSender {
    queue: mpsc::Sender<Pending>,
    shared: Arc<Shared>,
}

/// A row waiting for its batch.
struct Pending {
    body: String,
    reply: oneshot::Sender<Report>,
}

/// What the batcher and its flushes share.
struct Shared {
    pool: Pool,
    statements: Statements,
    timeout: Duration,
    /// Set once `CREATE TABLE IF NOT EXISTS` has succeeded (only with `create_table`); a
    /// failure leaves it unset, so the next batch tries again.
    created: OnceCell<()>,
    statements_run: AtomicU64,
    rows_taken: AtomicU64,
}

impl PostgresTableSender {
    /// Sets up the pool (connections are opened on first use) and starts the batcher.
    /// Must be called within a Tokio runtime.
    pub fn new(settings: &PostgresTableSettings) -> Result<PostgresTableSender, SenderError> {
        let pool = pool(settings)?;
        let shared = Arc::new(Shared {
            pool,
            statements: Statements::new(settings),
            timeout: settings.timeout,
            created: OnceCell::new(),
            statements_run: AtomicU64::new(0),
            rows_taken: AtomicU64::new(0),
        });
        let (queue, pending) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(batcher(shared.clone(), pending));
        Ok(PostgresTableSender { queue, shared })
    }

    /// Stores `body` (a [`super::render`] row) and judges the outcome. A row whose event id
    /// is already in the table counts as delivered (it is an earlier attempt's).
    pub async fn send(&self, body: &str) -> Report {
        if let Err(reason) = check_body(body) {
            return Failure::dead(reason).report();
        }
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            body: body.to_owned(),
            reply,
        };
        if self.queue.send(pending).await.is_err() {
            return Failure::retry("the PostgreSQL table sender has stopped").report();
        }
        answer.await.unwrap_or_else(|_| {
            Failure::retry("the PostgreSQL table sender stopped before answering").report()
        })
    }

    pub fn stats(&self) -> SenderStats {
        SenderStats {
            statements: self.shared.statements_run.load(Ordering::Relaxed),
            rows: self.shared.rows_taken.load(Ordering::Relaxed),
        }
    }
}

/// The pool: Klaxon's own PostgreSQL connection settings (TLS as `sslmode` says), plus a
/// server-side statement timeout equal to the destination's, so a statement the client gave
/// up on does not run on.
fn pool(settings: &PostgresTableSettings) -> Result<Pool, SenderError> {
    // The store's errors would quote the (redacted) URL; keep only their reason.
    let mut config = connect::config(settings.url()).map_err(|e| match e {
        crate::store::StoreError::Connect { source, .. } => SenderError::Url(source.to_string()),
        other => SenderError::Url(other.to_string()),
    })?;
    let tls = connect::tls(settings.url()).map_err(|e| SenderError::Tls(e.to_string()))?;
    let options = config.get_options().unwrap_or_default().to_owned();
    config.options(format!(
        "{options} -c statement_timeout={}",
        settings.timeout.as_millis()
    ));
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(settings.timeout))
        .create_timeout(Some(settings.timeout))
        .build()
        .map_err(|e| SenderError::Pool(e.to_string()))
}

/// A body is one JSON object (as [`super::render`] makes): anything else would change the
/// number of rows in the batch's array, or fail every row of it.
fn check_body(body: &str) -> Result<(), String> {
    match serde_json::from_str::<&serde_json::value::RawValue>(body) {
        Ok(value) if value.get().starts_with('{') => Ok(()),
        Ok(_) => Err("the stored body is not a JSON object (a row of column → value)".into()),
        Err(e) => Err(format!("the stored body is not JSON: {e}")),
    }
}

/// Gathers queued rows into batches and flushes up to [`POOL_SIZE`] of them at once.
async fn batcher(shared: Arc<Shared>, mut queue: mpsc::Receiver<Pending>) {
    let slots = Arc::new(Semaphore::new(POOL_SIZE));
    // A row that did not fit the previous batch; it starts the next one.
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(pending) => pending,
            None => match queue.recv().await {
                Some(pending) => pending,
                None => break,
            },
        };
        // Wait for a free slot before taking more, so the batch grows while others commit.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let mut bytes = first.body.len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_ROWS {
            let Ok(next) = queue.try_recv() else { break };
            if bytes + next.body.len() > MAX_BATCH_BYTES {
                carried = Some(next);
                break;
            }
            bytes += next.body.len();
            batch.push(next);
        }
        shared
            .rows_taken
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let shared = shared.clone();
        tokio::spawn(async move {
            let (bodies, replies): (Vec<String>, Vec<_>) =
                batch.into_iter().map(|p| (p.body, p.reply)).unzip();
            let reports = deliver(&shared, &bodies).await;
            for (reply, report) in replies.into_iter().zip(reports) {
                // The sender may have given up waiting; the row is stored all the same.
                let _ = reply.send(report);
            }
            drop(slot);
        });
    }
}

/// Inserts `bodies` and answers each, in order, isolating rows the server refuses.
async fn deliver(shared: &Shared, bodies: &[String]) -> Vec<Report> {
    if let Err(failure) = ensure_table(shared).await {
        return vec![failure.report(); bodies.len()];
    }
    let mut reports: Vec<Option<Report>> = vec![None; bodies.len()];
    // Parts still to insert; the right half is pushed first so parts run left to right.
    let mut parts: Vec<Range<usize>> = std::iter::once(0..bodies.len()).collect();
    while let Some(part) = parts.pop() {
        match insert_with_reruns(shared, &bodies[part.clone()]).await {
            Ok(stored) => {
                for (report, stored) in reports[part].iter_mut().zip(stored) {
                    let response = if stored {
                        "stored"
                    } else {
                        "already stored (same event id)"
                    };
                    *report = Some(Report::delivered(None, Some(response.to_owned())));
                }
            }
            Err(failure) if failure.kind == Kind::RowData && part.len() > 1 => {
                tracing::debug!(rows = part.len(), reason = %failure.message, "PostgreSQL refused a row of a batch; inserting it in halves");
                let middle = part.start + part.len() / 2;
                parts.push(middle..part.end);
                parts.push(part.start..middle);
            }
            Err(failure) => {
                if failure.kind == Kind::RowData {
                    tracing::warn!(reason = %failure.message, "PostgreSQL refused a row; the others of its batch are unaffected");
                }
                let report = failure.report();
                for slot in &mut reports[part] {
                    *slot = Some(report.clone());
                }
            }
        }
    }
    reports
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Failure::retry("the row was not attempted").report()))
        .collect()
}

/// `CREATE TABLE IF NOT EXISTS`, once per sender, when the settings ask for it.
async fn ensure_table(shared: &Shared) -> Result<(), Failure> {
    let Some(create) = &shared.statements.create else {
        return Ok(());
    };
    shared
        .created
        .get_or_try_init(|| async {
            let client = shared
                .pool
                .get()
                .await
                .map_err(|e| Failure::of_pool(&e, shared.timeout))?;
            match tokio::time::timeout(shared.timeout, client.batch_execute(create)).await {
                Ok(Ok(())) => Ok(()),
                // Two nodes creating the same table at once: one of them loses on the
                // catalog's unique index, and the table exists either way.
                Ok(Err(e))
                    if e.as_db_error()
                        .is_some_and(|db| matches!(db.code().code(), "42P07" | "23505")) =>
                {
                    Ok(())
                }
                Ok(Err(e)) => Err(Failure::of(&e)),
                Err(_) => {
                    let _ = deadpool_postgres::Object::take(client);
                    Err(Failure::retry(format!(
                        "PostgreSQL did not create the table within {:?}",
                        shared.timeout
                    )))
                }
            }
        })
        .await
        .map(|_| ())
}

/// [`insert`], run again at once after a deadlock or serialization failure.
async fn insert_with_reruns(shared: &Shared, bodies: &[String]) -> Result<Vec<bool>, Failure> {
    let mut outcome = insert(shared, bodies).await;
    for _ in 0..TRANSIENT_RERUNS {
        match &outcome {
            Err(failure) if failure.kind == Kind::Conflict => {
                outcome = insert(shared, bodies).await;
            }
            _ => break,
        }
    }
    outcome
}

/// One statement for `bodies`; whether each row was stored now (`false`: already there).
async fn insert(shared: &Shared, bodies: &[String]) -> Result<Vec<bool>, Failure> {
    let mut rows = String::with_capacity(bodies.iter().map(|b| b.len() + 1).sum::<usize>() + 2);
    rows.push('[');
    for (i, body) in bodies.iter().enumerate() {
        if i > 0 {
            rows.push(',');
        }
        rows.push_str(body);
    }
    rows.push(']');
    let client = shared
        .pool
        .get()
        .await
        .map_err(|e| Failure::of_pool(&e, shared.timeout))?;
    shared.statements_run.fetch_add(1, Ordering::Relaxed);
    let run = async {
        let statement = client.prepare_cached(&shared.statements.insert).await?;
        client.query(&statement, &[&rows]).await
    };
    let answered = match tokio::time::timeout(shared.timeout, run).await {
        Ok(answered) => answered,
        Err(_) => {
            // The statement may still be running: never hand this connection out again.
            let _ = deadpool_postgres::Object::take(client);
            return Err(Failure::retry(format!(
                "PostgreSQL did not answer within {:?}",
                shared.timeout
            )));
        }
    };
    let positions = answered.map_err(|e| Failure::of(&e))?;
    let mut stored = vec![false; bodies.len()];
    for row in positions {
        let n: i64 = row.try_get(0).map_err(|e| Failure::retry(e.to_string()))?;
        if let Some(flag) = usize::try_from(n - 1).ok().and_then(|i| stored.get_mut(i)) {
            *flag = true;
        }
    }
    Ok(stored)
}
