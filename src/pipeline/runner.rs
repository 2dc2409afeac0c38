//! The pipeline runner: takes every accepted event that some pipeline wants, runs the
//! pipelines, and commits the trace and the deliveries in one transaction.
//!
//! Events reach it in two ways. The ingest handler submits each new event right after its
//! commit (the fast path). The event row also carries `pipeline_state = 'pending'`, written
//! in the same transaction as the event, so at start-up, or whenever the hand-off queue was
//! full, the runner scans the store for pending events: nothing accepted is ever skipped.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::run::StepServices;
use super::run::{EventView, RunTrace, run};
use super::spec::{DestinationSpec, PipelineSpec, TypePattern};
use crate::clock;
use crate::delivery::WorkerHandle;
use crate::delivery::worker;
use crate::store::{
    DeliveryJob, EventId, Inserted, NewDelivery, NewEscalation, NewEvent, PendingEvent, Source,
    Store, StoreError,
};
use crate::voice::EngineHandle;
use crate::voice::escalation::machine::State as MachineState;
use crate::voice::settings::Policy;
use sha2::{Digest, Sha256};

/// Events that may wait in the hand-off queue; past this they wait in the store instead.
const QUEUE_CAPACITY: usize = 64 * 1024;
/// Events whose pipelines run at once (a model call can take seconds).
const MAX_CONCURRENT_EVENTS: usize = 256;
/// Pending events read per page during a scan.
const SCAN_PAGE: usize = 512;
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Submits events to the runner; cheap to clone.
#[derive(Clone)]
pub struct RunnerHandle {
    queue: mpsc::Sender<PendingEvent>,
    /// Set when the queue was full: the runner must rescan the store.
    missed: Arc<AtomicBool>,
    wake: Arc<Notify>,
    store: Store,
    /// Which event types some pipeline takes.
    types: Arc<Vec<TypePattern>>,
}

impl RunnerHandle {
    /// Stores an event Klaxon emits itself (source `klaxon`) and runs it through the
    /// pipelines like any other. `key` makes it idempotent: the same key stores nothing new.
    pub async fn publish(
        &self,
        event_type: &str,
        payload: &Value,
        key: String,
    ) -> Result<(), StoreError> {
        self.publish_from(Source::Klaxon, event_type, payload, key)
            .await
            .map(drop)
    }

    /// Stores an event that did not come through HTTP (an escalation's outcome, a Merge
    /// reconciliation poll) under `source`, and runs it through the pipelines like any
    /// other. `key` is the idempotency key within `source`: the same key stores nothing new.
    /// Returns whether the event was new.
    pub async fn publish_from(
        &self,
        source: Source,
        event_type: &str,
        payload: &Value,
        key: String,
    ) -> Result<bool, StoreError> {
        let now = clock::now_rfc3339();
        let payload = payload.to_string();
        let event = NewEvent {
            id: EventId::new(),
            source,
            event_type: event_type.to_owned(),
            request_hash: hex::encode(Sha256::digest(payload.as_bytes())),
            payload,
            occurred_at: now.clone(),
            received_at: now,
            idempotency_key: Some(key),
            pipeline_pending: self.types.iter().any(|t| t.matches(event_type)),
        };
        let pending = event.pipeline_pending.then(|| PendingEvent {
            id: event.id,
            event_type: event.event_type.clone(),
            payload: event.payload.clone(),
            occurred_at: event.occurred_at.clone(),
        });
        let Inserted::Created(_) = self.store.insert_event(event).await? else {
            return Ok(false);
        };
        if let Some(pending) = pending {
            self.submit(pending);
        }
        Ok(true)
    }

    /// Hands over a committed event. Never blocks: when the queue is full the event is
    /// picked up from the store by the next scan.
    pub fn submit(&self, event: PendingEvent) {
        if self.queue.try_send(event).is_err() {
            self.missed.store(true, Ordering::Release);
            self.wake.notify_one();
        }
    }
}

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

/// The running runner.
pub struct PipelineRunner {
    handle: RunnerHandle,
    task: JoinHandle<()>,
}

impl PipelineRunner {
    pub fn start(
        pipelines: Vec<PipelineSpec>,
        policies: BTreeMap<String, Policy>,
        services: StepServices,
        store: Store,
        worker: WorkerHandle,
        escalations: Option<EngineHandle>,
        shutdown: watch::Receiver<bool>,
    ) -> PipelineRunner {
        let (queue, events) = mpsc::channel(QUEUE_CAPACITY);
        let types = Arc::new(
            pipelines
                .iter()
                .flat_map(|p| p.on.iter().cloned())
                .collect(),
        );
        let handle_store = store.clone();
        // Start with a scan: events accepted before the last stop may be pending.
        let missed = Arc::new(AtomicBool::new(true));
        let wake = Arc::new(Notify::new());
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
        let task = tokio::spawn(run_loop(
            shared,
            events,
            missed.clone(),
            wake.clone(),
            shutdown,
        ));
        PipelineRunner {
            handle: RunnerHandle {
                queue,
                missed,
                wake,
                store: handle_store,
                types,
            },
            task,
        }
    }

    pub fn handle(&self) -> RunnerHandle {
        self.handle.clone()
    }

    /// Waits for the runner to stop after the shutdown signal.
    pub async fn join(self) {
        drop(self.handle);
        let _ = self.task.await;
    }
}

async fn run_loop(
    shared: Arc<Shared>,
    mut events: mpsc::Receiver<PendingEvent>,
    missed: Arc<AtomicBool>,
    wake: Arc<Notify>,
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
        if missed.swap(false, Ordering::AcqRel) {
            scan(&shared, &permits, &shutdown).await;
            continue;
        }
        let event = tokio::select! {
            event = events.recv() => event,
            _ = wake.notified() => continue,
            _ = tick(&mut rescan) => {
                missed.store(true, Ordering::Release);
                continue;
            }
            _ = shutdown.wait_for(|stop| *stop) => None,
        };
        let Some(event) = event else { break };
        if !start(&shared, &permits, event, &shutdown).await {
            break;
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
        if !spec.takes(&event.event_type) {
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
    let lease_until = worker::lease_until(now);
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
