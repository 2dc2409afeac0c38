//! Intake: where every event enters Klaxon. It stores the event durably and hands it on to
//! the pipelines, the same way for every ingress: `POST /v1/events`, the webhooks, the
//! reference endpoints, the Merge reconciliation poll, and the events Klaxon emits itself
//! (an escalation's outcome).
//!
//! An event some pipeline takes is stored with `pipeline_state = 'pending'` in the same
//! transaction, then handed over on a bounded queue right after the commit (the fast path).
//! The hand-over never blocks: when the queue is full the event stays pending in the store,
//! and [`Arrivals`] tells the pipeline runner to scan for it. Nothing accepted is skipped.
//!
//! Intake knows the store and nothing above it: which event types the pipelines take is
//! given to it as a predicate, and whoever runs pipelines takes the [`Arrivals`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc};

use crate::clock;
use crate::store::{EventId, Inserted, NewEvent, PendingEvent, Source, Store, StoreError};

/// Events handed over but not yet taken by the runner; beyond this they wait in the store.
const QUEUE_CAPACITY: usize = 64 * 1024;

/// An event that passed its ingress's checks, ready for the store.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub source: Source,
    pub event_type: String,
    /// Compact JSON text.
    pub payload: String,
    /// RFC 3339; the receive time when absent.
    pub occurred_at: Option<String>,
    pub idempotency_key: Option<String>,
    /// Equal hashes under one key mean "the same event again".
    pub request_hash: String,
}

/// Stores events and hands them on; cheap to clone.
#[derive(Clone)]
pub struct Intake {
    store: Store,
    /// Whether some pipeline takes an event type.
    wanted: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    handoff: Handoff,
}

/// The sending side of the hand-over queue.
#[derive(Clone)]
struct Handoff {
    queue: mpsc::Sender<PendingEvent>,
    signals: Arc<Signals>,
}

/// What the runner is told besides the events themselves.
#[derive(Default)]
struct Signals {
    /// Set when an event could not be queued (or at start): the runner must rescan the store.
    missed: AtomicBool,
    wake: Notify,
}

/// The receiving side: events accepted since start, for the pipeline runner.
pub struct Arrivals {
    events: mpsc::Receiver<PendingEvent>,
    signals: Arc<Signals>,
}

impl Intake {
    /// An intake over `store`; `wanted` says whether some pipeline takes an event type. The
    /// [`Arrivals`] start with a rescan due: events accepted before the last stop may be
    /// pending.
    pub fn new(
        store: Store,
        wanted: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> (Intake, Arrivals) {
        Intake::with_capacity(store, wanted, QUEUE_CAPACITY)
    }

    /// [`Intake::new`] with a hand-over queue of `capacity` events (at least one).
    pub(crate) fn with_capacity(
        store: Store,
        wanted: impl Fn(&str) -> bool + Send + Sync + 'static,
        capacity: usize,
    ) -> (Intake, Arrivals) {
        let (queue, events) = mpsc::channel(capacity.max(1));
        let signals = Arc::new(Signals {
            missed: AtomicBool::new(true),
            wake: Notify::new(),
        });
        let intake = Intake {
            store,
            wanted: Arc::new(wanted),
            handoff: Handoff {
                queue,
                signals: signals.clone(),
            },
        };
        (intake, Arrivals { events, signals })
    }

    /// Whether some pipeline takes events of this type.
    pub fn wants(&self, event_type: &str) -> bool {
        (self.wanted)(event_type)
    }

    /// Stores an event durably and, once committed, hands it to the pipelines. Duplicates
    /// and conflicting reuses of an idempotency key are outcomes, not errors.
    pub async fn accept(&self, incoming: Incoming) -> Result<Inserted, StoreError> {
        let received_at = clock::now_rfc3339();
        let event = NewEvent {
            id: EventId::new(),
            pipeline_pending: self.wants(&incoming.event_type),
            source: incoming.source,
            request_hash: incoming.request_hash,
            payload: incoming.payload,
            occurred_at: incoming.occurred_at.unwrap_or_else(|| received_at.clone()),
            received_at,
            event_type: incoming.event_type,
            idempotency_key: incoming.idempotency_key,
        };
        // What the runner needs, kept before the event moves into the store.
        let pending = event.pipeline_pending.then(|| PendingEvent {
            id: event.id,
            event_type: event.event_type.clone(),
            payload: event.payload.clone(),
            occurred_at: event.occurred_at.clone(),
            from_klaxon: event.source == Source::Klaxon,
        });
        let inserted = self.store.insert_event(event).await?;
        if let (Inserted::Created(_), Some(pending)) = (inserted, pending) {
            self.hand_on(pending);
        }
        Ok(inserted)
    }

    /// Stores an event that did not come through HTTP (an escalation's outcome, a Merge
    /// reconciliation poll) under `source`. `key` is the idempotency key within `source`:
    /// the same key stores nothing new. Returns whether the event was new.
    pub async fn publish(
        &self,
        source: Source,
        event_type: &str,
        payload: &Value,
        key: String,
    ) -> Result<bool, StoreError> {
        let payload = payload.to_string();
        let inserted = self
            .accept(Incoming {
                source,
                event_type: event_type.to_owned(),
                request_hash: hex::encode(Sha256::digest(payload.as_bytes())),
                payload,
                occurred_at: None,
                idempotency_key: Some(key),
            })
            .await?;
        Ok(matches!(inserted, Inserted::Created(_)))
    }

    /// Hands over an event committed elsewhere (in the same transaction as something else).
    /// Never blocks: when the queue is full the event is picked up by the next scan.
    pub fn hand_on(&self, event: PendingEvent) {
        if self.handoff.queue.try_send(event).is_err() {
            self.handoff.signals.missed.store(true, Ordering::Release);
            self.handoff.signals.wake.notify_one();
        }
    }
}

/// What the runner does next.
#[derive(Debug)]
pub enum Arrival {
    /// Run this event.
    Event(PendingEvent),
    /// Scan the store: an event could not be queued, or this is the start.
    ScanDue,
    /// Every [`Intake`] is gone.
    Closed,
}

impl Arrivals {
    /// Waits for the next thing to do. Cancel-safe: nothing is lost when another branch of
    /// a `select!` wins.
    pub async fn next(&mut self) -> Arrival {
        loop {
            if self.signals.missed.swap(false, Ordering::AcqRel) {
                return Arrival::ScanDue;
            }
            tokio::select! {
                event = self.events.recv() => return event.map_or(Arrival::Closed, Arrival::Event),
                // A wake without the flag is a stale permit; look again.
                _ = self.signals.wake.notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
