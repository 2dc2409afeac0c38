//! The delivery worker: runs attempts with bounded concurrency and records each one.
//!
//! Jobs arrive two ways. Fresh deliveries come straight from the pipeline runner over a
//! channel, already leased in the same transaction that created them, so the first attempt
//! starts without another database round trip. Retries, replays and anything left behind by
//! a crash are found by the poller, which claims due rows under a lease and sleeps until the
//! next one falls due (or until it is poked because a retry or replay was just scheduled).
//!
//! A send that a destination's own pace held back never left Klaxon: it is postponed to its
//! turn without an attempt, so pacing alone can never use up a delivery's retry schedule.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::DeliverySettings;
use super::schedule::next_attempt_at;
use crate::clock;
use crate::destinations::{Outbox, Target, Verdict};
use crate::store::{AfterAttempt, Attempt, DeliveryJob, Store, lease_until};

/// The poller looks again at least this often, in case a row appeared that nobody poked
/// about (e.g. written by another process).
const POLL_INTERVAL_MAX: Duration = Duration::from_secs(5);
/// Rows claimed per poll.
const CLAIM_BATCH: usize = 256;
/// On shutdown, attempts in flight get this long to finish and be recorded.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Deliveries to PostgreSQL tables in flight at once, apart from `max_in_flight`: they wait
/// together for one batched `INSERT` over their destination's few connections, so holding
/// many costs little, and a batch (the table's pace) is as large as what is in flight. Under
/// the shared 64, a backlog drained at 11,900 rows/s; with its own 1,024, at about 27,000.
const TABLE_IN_FLIGHT: usize = 1024;

/// Hands jobs to the worker; cheap to clone.
#[derive(Clone)]
pub struct WorkerHandle {
    jobs: mpsc::Sender<DeliveryJob>,
    poke: Arc<Notify>,
    disabled: DisabledDestinations,
}

/// Destinations switched off by a `410 Gone`, with the reason; mirrors the store.
type DisabledDestinations = Arc<Mutex<HashMap<String, String>>>;

impl WorkerHandle {
    /// Queues a leased job for its first attempt. If the worker is gone the job stays in the
    /// store and is claimed again after its lease.
    pub async fn dispatch(&self, job: DeliveryJob) {
        if self.jobs.send(job).await.is_err() {
            tracing::debug!("delivery worker stopped; the job waits in the store");
        }
    }

    /// Tells the poller that a job may have become due (a replay, a retry).
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// Forgets that `destination` was disabled (the caller has enabled it in the store).
    pub fn enable(&self, destination: &str) {
        if let Ok(mut disabled) = self.disabled.lock() {
            disabled.remove(destination);
        }
    }
}

struct Shared {
    store: Store,
    /// Every kind's way of sending, by the job's target.
    outbox: Outbox,
    retry_schedule: Vec<Duration>,
    disabled: DisabledDestinations,
    poke: Arc<Notify>,
}

/// The running worker.
pub struct DeliveryWorker {
    handle: WorkerHandle,
    tasks: Vec<JoinHandle<()>>,
}

impl DeliveryWorker {
    /// Starts the dispatcher and the poller. Jobs for destinations the `outbox` does not
    /// know are dead-lettered with a reason.
    pub async fn start(
        store: Store,
        outbox: Outbox,
        settings: &DeliverySettings,
        shutdown: watch::Receiver<bool>,
    ) -> Result<DeliveryWorker, crate::store::StoreError> {
        // Single node: nobody else can hold a lease, so leases left by a crash are freed now
        // rather than after they run out. (A shared store frees nothing: its leases belong to
        // live nodes or run out.)
        let released = store.release_all_leases().await?;
        if released > 0 {
            tracing::info!(released, "released deliveries leased before the last stop");
        }
        let disabled: DisabledDestinations = Arc::new(Mutex::new(
            store.disabled_destinations().await?.into_iter().collect(),
        ));
        let poke = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            store,
            outbox,
            retry_schedule: settings.retry_schedule.clone(),
            disabled: disabled.clone(),
            poke: poke.clone(),
        });
        let (jobs, queue) = mpsc::channel(4 * 1024);
        let dispatcher = tokio::spawn(dispatch(
            shared.clone(),
            queue,
            InFlight::new(settings.max_in_flight),
            shutdown.clone(),
        ));
        let follower = tokio::spawn(follow_disabled(shared.clone(), shutdown.clone()));
        let poller = tokio::spawn(poll(shared, jobs.clone(), shutdown));
        Ok(DeliveryWorker {
            handle: WorkerHandle {
                jobs,
                poke,
                disabled,
            },
            tasks: vec![dispatcher, poller, follower],
        })
    }

    pub fn handle(&self) -> WorkerHandle {
        self.handle.clone()
    }

    /// Waits for the worker to stop after the shutdown signal (attempts in flight get a
    /// grace period to be recorded).
    pub async fn join(self) {
        drop(self.handle);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// How many attempts may run at once: `max_in_flight`, and apart from it the table kind's
/// own [`TABLE_IN_FLIGHT`].
struct InFlight {
    any: Arc<Semaphore>,
    any_size: usize,
    tables: Arc<Semaphore>,
}

impl InFlight {
    fn new(max_in_flight: usize) -> InFlight {
        InFlight {
            any: Arc::new(Semaphore::new(max_in_flight)),
            any_size: max_in_flight,
            tables: Arc::new(Semaphore::new(TABLE_IN_FLIGHT)),
        }
    }

    fn for_job(&self, job: &DeliveryJob) -> &Arc<Semaphore> {
        match job.target {
            Target::PostgresTable => &self.tables,
            _ => &self.any,
        }
    }

    /// Waits until every attempt in flight has finished.
    async fn drain(&self) {
        let all = |size: usize| u32::try_from(size).unwrap_or(u32::MAX);
        let _ = self.any.acquire_many(all(self.any_size)).await;
        let _ = self.tables.acquire_many(all(TABLE_IN_FLIGHT)).await;
    }
}

async fn dispatch(
    shared: Arc<Shared>,
    mut queue: mpsc::Receiver<DeliveryJob>,
    in_flight: InFlight,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let job = tokio::select! {
            job = queue.recv() => job,
            _ = shutdown.wait_for(|stop| *stop) => None,
        };
        let Some(job) = job else { break };
        let permit = tokio::select! {
            permit = in_flight.for_job(&job).clone().acquire_owned() => permit,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let Ok(permit) = permit else { break };
        let shared = shared.clone();
        tokio::spawn(async move {
            attempt(&shared, job).await;
            drop(permit);
        });
    }
    // Give attempts in flight a moment to finish and be recorded; the rest keep their
    // lease and are claimed again at the next start.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, in_flight.drain()).await;
}

async fn poll(
    shared: Arc<Shared>,
    jobs: mpsc::Sender<DeliveryJob>,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        let now = clock::now_ms();
        let lease_until = lease_until(now);
        let mut wait = POLL_INTERVAL_MAX;
        match shared.store.claim_due(now, lease_until, CLAIM_BATCH).await {
            Ok(claimed) => {
                let full = claimed.len() == CLAIM_BATCH;
                for job in claimed {
                    if jobs.send(job).await.is_err() {
                        return;
                    }
                }
                if full {
                    continue;
                }
                if let Ok(Some(due)) = shared.store.next_due().await {
                    let until_due = u64::try_from(due - clock::now_ms()).unwrap_or(0);
                    wait = wait.min(Duration::from_millis(until_due));
                }
            }
            Err(error) => tracing::warn!(%error, "could not claim due deliveries; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.poke.notified() => {}
            // Another node made a job due now (PostgreSQL `NOTIFY`).
            _ = shared.store.jobs_announced() => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
    }
}

/// Keeps this node's copy of the disabled destinations in step with the store, so a `410
/// Gone` seen by one node stops every node sending there (and an enable resumes all).
async fn follow_disabled(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shared.store.destinations_changed() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        match shared.store.disabled_destinations().await {
            Ok(now) => {
                if let Ok(mut disabled) = shared.disabled.lock() {
                    *disabled = now.into_iter().collect();
                }
            }
            Err(error) => tracing::warn!(%error, "could not reload the disabled destinations"),
        }
    }
}

/// One attempt of one job, recorded whatever happens.
async fn attempt(shared: &Shared, job: DeliveryJob) {
    let disabled = shared
        .disabled
        .lock()
        .ok()
        .and_then(|d| d.get(&job.destination).cloned());
    if let Some(reason) = disabled {
        let reason = format!(
            "destination {:?} is disabled ({reason}); enable it with POST /v1/destinations/{}/enable, then replay",
            job.destination, job.destination
        );
        bury(shared, &job, reason).await;
        return;
    }

    let started_at = clock::now_rfc3339();
    let started = std::time::Instant::now();
    let report = match shared.outbox.send(&job).await {
        Ok(report) => report,
        Err(unroutable) => {
            bury(shared, &job, unroutable.to_string()).await;
            return;
        }
    };
    let mut record = Attempt {
        number: job.attempts + 1,
        started_at,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        status: report.status,
        error: report.error,
        response: report.response,
    };
    let after = match report.verdict {
        Verdict::Delivered => AfterAttempt::Succeeded,
        Verdict::Retry { after } => next_attempt_at(
            &shared.retry_schedule,
            job.run_attempts + 1,
            after,
            clock::now_ms(),
        )
        .map_or(AfterAttempt::Dead, AfterAttempt::RetryAt),
        Verdict::Dead => AfterAttempt::Dead,
        Verdict::Disable => {
            let reason = record.error.clone().unwrap_or_else(|| "gone".into());
            record.error = Some(format!("{reason}; destination disabled"));
            disable(shared, &job.destination, reason).await;
            AfterAttempt::Dead
        }
        // Nothing was sent: there is no attempt to record.
        Verdict::Postpone { after } => {
            postpone(shared, &job, after).await;
            return;
        }
    };
    log_outcome(&job, &record, after);
    if let Err(error) = shared.store.record_attempt(job.id, record, after).await {
        tracing::error!(%error, delivery = %job.id, "could not record a delivery attempt; it will be retried after its lease");
    }
    if matches!(after, AfterAttempt::RetryAt(_)) {
        shared.poke.notify_one();
    }
}

fn log_outcome(job: &DeliveryJob, record: &Attempt, after: AfterAttempt) {
    let metrics = crate::metrics::metrics();
    let outcome = match after {
        AfterAttempt::Succeeded => "succeeded",
        AfterAttempt::RetryAt(_) => "retry",
        AfterAttempt::Dead => "dead",
    };
    metrics.deliveries.inc(&[&job.destination, outcome]);
    metrics
        .delivery_seconds
        .observe(std::time::Duration::from_millis(record.duration_ms));
    let error = record.error.as_deref().unwrap_or("");
    match after {
        AfterAttempt::Succeeded => {
            tracing::debug!(delivery = %job.id, destination = %job.destination, attempt = record.number, "delivered")
        }
        AfterAttempt::RetryAt(at) => {
            tracing::warn!(delivery = %job.id, destination = %job.destination, attempt = record.number, error, retry_at = %clock::ms_to_rfc3339(at), "delivery failed; will retry")
        }
        AfterAttempt::Dead => {
            tracing::error!(delivery = %job.id, destination = %job.destination, attempt = record.number, error, "delivery dead-lettered")
        }
    }
}

/// Puts a job our own pacing held back (nothing was sent) back in the store, due when its
/// turn comes: no attempt is used or recorded, and its retry schedule stays where it was, so
/// a burst to one slow channel waits its turn instead of dead-lettering deliveries that
/// never failed.
async fn postpone(shared: &Shared, job: &DeliveryJob, after: Duration) {
    let until =
        clock::now_ms().saturating_add(i64::try_from(after.as_millis()).unwrap_or(i64::MAX));
    crate::metrics::metrics()
        .delivery_postponements
        .inc(&[&job.destination]);
    tracing::debug!(delivery = %job.id, destination = %job.destination, due_at = %clock::ms_to_rfc3339(until), "paced; postponed without an attempt");
    match shared.store.postpone(job.id, until).await {
        Ok(()) => shared.poke.notify_one(),
        Err(error) => {
            tracing::error!(%error, delivery = %job.id, "could not postpone a delivery; it will be tried again after its lease")
        }
    }
}

async fn bury(shared: &Shared, job: &DeliveryJob, reason: String) {
    tracing::error!(delivery = %job.id, destination = %job.destination, reason, "delivery dead-lettered without an attempt");
    if let Err(error) = shared.store.bury(job.id, reason).await {
        tracing::error!(%error, delivery = %job.id, "could not dead-letter a delivery");
    }
}

async fn disable(shared: &Shared, destination: &str, reason: String) {
    if let Ok(mut disabled) = shared.disabled.lock() {
        disabled.insert(destination.to_owned(), reason.clone());
    }
    if let Err(error) = shared
        .store
        .disable_destination(destination.to_owned(), reason)
        .await
    {
        tracing::error!(%error, destination, "could not record a disabled destination");
    }
}

#[cfg(test)]
mod tests;
