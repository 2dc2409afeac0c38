//! The pipeline runner: takes every accepted event that some pipeline wants, runs the
//! pipelines, and commits the trace and the deliveries in one transaction.
//!
//! Events reach it from [`crate::intake`] in two ways: each new event right after its commit
//! (the fast path), and, since the event row carries `pipeline_state = 'pending'` written in
//! the same transaction, by scanning the store at start-up or whenever the hand-off queue was
//! full: nothing accepted is ever skipped.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use super::run::StepServices;
use super::run::{EventView, RunTrace, run};
use super::spec::{DestinationSpec, PipelineSpec};
use crate::clock;
use crate::delivery::WorkerHandle;
use crate::intake::{Arrival, Arrivals};
use crate::store::{DeliveryJob, EventId, NewDelivery, NewEscalation, PendingEvent, Store};
use crate::voice::EngineHandle;
use crate::voice::escalation::machine::State as MachineState;
use crate::voice::settings::Policy;

/// Events whose pipelines run at once (a model call can take seconds).
const MAX_CONCURRENT_EVENTS: usize = 256;
/// Pending events read per page during a scan.
const SCAN_PAGE: usize = 512;
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

struct Shared {
    pipelines: Vec<(PipelineSpec, Vec<Arc<DestinationSpec>>)>,
    /// Escalation policies, for `voice` destinations.
    policies: BTreeMap<String, Policy>,
    /// Where new escalations go; `None` in settings without voice (benchmarks, tests).
    escalations: Option<EngineHandle>,
    services: StepServices,
    store: Store,
    worker: WorkerHandle,
    /// Events being run now, so a scan does not start the same event twice.
    in_progress: Mutex<HashSet<EventId>>,
}

/// What the runner runs and where its results go.
pub struct RunnerParts {
    pub pipelines: Vec<PipelineSpec>,
    /// Escalation policies, for `voice` destinations.
    pub policies: BTreeMap<String, Policy>,
    pub services: StepServices,
    pub store: Store,
    /// Gets every new delivery right after its commit.
    pub worker: WorkerHandle,
    /// Where new escalations go; `None` in settings without voice (benchmarks, tests).
    pub escalations: Option<EngineHandle>,
}

/// The running runner.
pub struct PipelineRunner {
    task: JoinHandle<()>,
}

impl PipelineRunner {
    /// Runs the pipelines for every event that `arrivals` brings (and every pending one in
    /// the store) until `shutdown`.
    pub fn start(
        parts: RunnerParts,
        arrivals: Arrivals,
        shutdown: watch::Receiver<bool>,
    ) -> PipelineRunner {
        let RunnerParts {
            pipelines,
            policies,
            services,
            store,
            worker,
            escalations,
        } = parts;
        let shared = Arc::new(Shared {
            pipelines: pipelines
                .into_iter()
                .map(|p| {
                    let destinations = p.destinations.iter().cloned().map(Arc::new).collect();
                    (p, destinations)
                })
                .collect(),
            policies,
            escalations,
            services,
            store,
            worker,
            in_progress: Mutex::new(HashSet::new()),
        });
        let task = tokio::spawn(run_loop(shared, arrivals, shutdown));
        PipelineRunner { task }
    }

    /// Waits for the runner to stop after the shutdown signal.
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

async fn run_loop(
    shared: Arc<Shared>,
    mut arrivals: Arrivals,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_EVENTS));
    // On a shared store, events accepted by a node that died before running them are found
    // by rescanning (the store returns only those older than one lease).
    let mut rescan = shared.store.lease().map(|lease| {
        let mut every = tokio::time::interval(lease / 2);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every
    });
    loop {
        let arrival = tokio::select! {
            arrival = arrivals.next() => arrival,
            _ = tick(&mut rescan) => Arrival::ScanDue,
            _ = shutdown.wait_for(|stop| *stop) => Arrival::Closed,
        };
        match arrival {
            Arrival::ScanDue => scan(&shared, &permits, &shutdown).await,
            Arrival::Event(event) => {
                if !start(&shared, &permits, event, &shutdown).await {
                    break;
                }
            }
            Arrival::Closed => break,
        }
    }
    let all = u32::try_from(MAX_CONCURRENT_EVENTS).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, permits.acquire_many(all)).await;
}

async fn tick(every: &mut Option<tokio::time::Interval>) {
    match every {
        Some(every) => drop(every.tick().await),
        None => std::future::pending().await,
    }
}

/// Runs every pending event found in the store.
async fn scan(shared: &Arc<Shared>, permits: &Arc<Semaphore>, shutdown: &watch::Receiver<bool>) {
    let mut after = 0;
    loop {
        let page = match shared.store.pending_events(after, SCAN_PAGE).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "could not scan for pending events; will retry");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let done = page.len() < SCAN_PAGE;
        for (seq, event) in page {
            after = seq;
            if !start(shared, permits, event, shutdown).await {
                return;
            }
        }
        if done {
            return;
        }
    }
}

/// Starts one event's pipelines on a task; false when shutting down.
async fn start(
    shared: &Arc<Shared>,
    permits: &Arc<Semaphore>,
    event: PendingEvent,
    shutdown: &watch::Receiver<bool>,
) -> bool {
    if *shutdown.borrow() {
        return false;
    }
    let fresh = shared
        .in_progress
        .lock()
        .map_or(true, |mut running| running.insert(event.id));
    if !fresh {
        return true;
    }
    let Ok(permit) = permits.clone().acquire_owned().await else {
        return false;
    };
    let shared = shared.clone();
    tokio::spawn(async move {
        let id = event.id;
        process(&shared, event).await;
        if let Ok(mut running) = shared.in_progress.lock() {
            running.remove(&id);
        }
        drop(permit);
    });
    true
}

/// An event's pipeline record (`GET /v1/events/{id}` → `pipeline`).
#[derive(Serialize)]
struct EventTrace<'a> {
    /// The labels of every run together.
    labels: Map<String, Value>,
    runs: Vec<RunTrace<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn trace_json(trace: &EventTrace<'_>) -> String {
    // Strings, numbers and string-keyed maps always serialize.
    serde_json::to_string(trace).unwrap_or_else(|_| "{}".to_owned())
}

async fn process(shared: &Shared, event: PendingEvent) {
    let payload: Value = match serde_json::from_str(&event.payload) {
        Ok(payload) => payload,
        Err(error) => {
            // Cannot happen for events stored by ingest (it validated the JSON); recorded
            // rather than retried forever.
            let trace = EventTrace {
                labels: Map::new(),
                runs: Vec::new(),
                error: Some(format!("payload is not JSON: {error}")),
            };
            complete(shared, event.id, &trace, Vec::new(), Vec::new()).await;
            return;
        }
    };
    let view = EventView {
        id: event.id,
        event_type: &event.event_type,
        occurred_at: &event.occurred_at,
        payload: &payload,
    };
    let mut runs = Vec::new();
    let mut labels = Map::new();
    let mut deliveries = Vec::new();
    let mut escalations = Vec::new();
    for (spec, destinations) in &shared.pipelines {
        if !spec.runs_for(&event) {
            continue;
        }
        let result = run(
            spec,
            destinations,
            view,
            &shared.services,
            &shared.policies,
            Some(&shared.store),
        )
        .await;
        escalations.extend(result.escalations.into_iter().map(|planned| NewEscalation {
            id: planned.id,
            event_id: event.id,
            pipeline: spec.name.clone(),
            destination: planned.destination.name.clone(),
            policy: planned.policy,
            // Plans and machine states are plain data; serializing them cannot fail.
            plan: serde_json::to_string(&planned.plan).unwrap_or_default(),
            state: serde_json::to_string(&MachineState::new()).unwrap_or_default(),
        }));
        labels.extend(
            result
                .trace
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        crate::metrics::metrics()
            .pipeline_decisions
            .inc(&[&spec.name, result.trace.outcome.as_str()]);
        runs.push(result.trace);
        deliveries.extend(result.deliveries.into_iter().map(|planned| NewDelivery {
            id: planned.id,
            event_id: event.id,
            pipeline: spec.name.clone(),
            destination: planned.destination.name.clone(),
            target: planned.target,
            body: planned.body,
        }));
    }
    let trace = EventTrace {
        labels,
        runs,
        error: None,
    };
    complete(shared, event.id, &trace, deliveries, escalations).await;
}

/// Commits the trace and deliveries, then hands the new deliveries to the worker.
async fn complete(
    shared: &Shared,
    event: EventId,
    trace: &EventTrace<'_>,
    deliveries: Vec<NewDelivery>,
    escalations: Vec<NewEscalation>,
) {
    let now = clock::now_ms();
    let lease_until = crate::store::lease_until(now);
    let jobs: Vec<DeliveryJob> = deliveries
        .iter()
        .map(|d| DeliveryJob::fresh(d.clone()))
        .collect();
    let created = shared
        .store
        .complete_pipeline(
            event,
            trace_json(trace),
            deliveries,
            escalations,
            now,
            lease_until,
        )
        .await;
    match created {
        Ok((created, escalations)) => {
            if let Some(engine) = &shared.escalations {
                for id in escalations {
                    engine.start(id);
                }
            }
            for job in jobs {
                if created.contains(&job.id) {
                    shared.worker.dispatch(job).await;
                }
            }
        }
        // The event stays pending; the next scan (at the latest, the next start) retries.
        Err(error) => tracing::error!(%error, %event, "could not record a pipeline result"),
    }
}

#[cfg(test)]
mod tests;
