//! The durable store: every accepted event is committed here before Klaxon answers.
//!
//! [`Store`] is a cheap-to-clone handle. Today its one backend is SQLite (`sqlite/`): one
//! writer thread doing group commit, plus a small pool of read connections. PostgreSQL will
//! be a second backend behind the same methods; callers never see which one runs.

mod delivery;
mod escalation;
mod event;
mod migrations;
mod sqlite;

use std::time::Duration;

pub use delivery::{
    AfterAttempt, Attempt, Delivery, DeliveryId, DeliveryJob, DeliveryPage, DeliveryQuery,
    DeliveryState, NewDelivery, QueueDepth, Replay,
};
pub use escalation::{
    Escalation, EscalationId, EscalationPage, EscalationRecord, EscalationUpdate, NewEscalation,
    TimelineEntry,
};
pub use event::{
    Cursor, Event, EventId, EventPage, EventQuery, Inserted, NewEvent, PendingEvent, Source,
};

use crate::config::{DatabaseUrl, StoreSettings};

/// Errors from the store. Callers branch on [`StoreError::is_unavailable`] to answer 503.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("schema migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the database has schema version {found}, newer than this Klaxon knows ({known}); upgrade Klaxon"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A batch failed for a reason other than an SQLite error code (rare: a conversion
    /// failure); the text is the original error's.
    #[error("write failed: {0}")]
    WriteFailed(String),
    #[error("the store is shut down")]
    Closed,
    #[error("the store did not answer within {0:?}")]
    Timeout(Duration),
    #[error("a stored row is unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True when the failure is the store being unreachable or busy rather than bad data,
    /// so the right answer is 503 and a retry.
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, StoreError::Corrupt(_))
    }
}

/// A handle to the store.
#[derive(Clone)]
pub struct Store {
    backend: sqlite::SqliteStore,
}

impl Store {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub async fn open(url: &DatabaseUrl, settings: &StoreSettings) -> Result<Store, StoreError> {
        let backend = match url {
            DatabaseUrl::Sqlite(path) => {
                let path = path.clone();
                let settings = settings.clone();
                tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(&path, &settings))
                    .await
                    .map_err(|_| StoreError::Closed)??
            }
        };
        Ok(Store { backend })
    }

    /// Stores an event, or reports the earlier event with the same idempotency key. Returns
    /// only after the outcome is durable.
    pub async fn insert_event(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        let (source, event_type) = (event.source, event.event_type.clone());
        let inserted = self.backend.insert_event(event).await?;
        if let Inserted::Created(_) = inserted {
            crate::metrics::metrics()
                .events_ingested
                .inc(&[source.as_str(), &event_type]);
        }
        Ok(inserted)
    }

    pub async fn get_event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        self.backend.get_event(id).await
    }

    pub async fn list_events(&self, query: EventQuery) -> Result<EventPage, StoreError> {
        self.backend.list_events(query).await
    }

    /// Proves the store can still commit a write, within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        tokio::time::timeout(timeout, self.backend.ping())
            .await
            .map_err(|_| StoreError::Timeout(timeout))?
    }

    /// Events accepted but not yet through their pipeline, oldest first, after `after` (an
    /// opaque position returned with each event).
    pub async fn pending_events(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, PendingEvent)>, StoreError> {
        self.backend.pending_events(after, limit).await
    }

    /// In one transaction: records an event's pipeline trace, marks it done, and creates its
    /// deliveries (leased to the caller until `lease_until` so it can send them at once) and
    /// escalations. Returns those actually created (a re-run never duplicates one).
    pub async fn complete_pipeline(
        &self,
        event: EventId,
        trace: String,
        deliveries: Vec<NewDelivery>,
        escalations: Vec<NewEscalation>,
        now_ms: i64,
        lease_until: i64,
    ) -> Result<(Vec<DeliveryId>, Vec<EscalationId>), StoreError> {
        self.backend
            .complete_pipeline(event, trace, deliveries, escalations, now_ms, lease_until)
            .await
    }

    pub async fn load_escalation(
        &self,
        id: EscalationId,
    ) -> Result<Option<EscalationRecord>, StoreError> {
        self.backend.load_escalation(id).await
    }

    /// Escalations still running, optionally only those unchanged since `before` (RFC 3339).
    pub async fn active_escalations(
        &self,
        before: Option<String>,
    ) -> Result<Vec<EscalationId>, StoreError> {
        self.backend.active_escalations(before).await
    }

    /// Persists a transition: new state, timeline lines, legs dialled, and the jobs it
    /// decided on (returns those created).
    pub async fn save_escalation(
        &self,
        update: EscalationUpdate,
    ) -> Result<Vec<DeliveryId>, StoreError> {
        self.backend.save_escalation(update).await
    }

    /// Records a carrier webhook (its id, and its body until processed); false if it was
    /// received before (a redelivery).
    pub async fn first_sight_of_webhook(
        &self,
        id: String,
        body: String,
    ) -> Result<bool, StoreError> {
        self.backend.first_sight_of_webhook(id, body).await
    }

    /// The engine has acted on the webhook; its body is dropped.
    pub async fn webhook_processed(&self, id: String) -> Result<(), StoreError> {
        self.backend.webhook_processed(id).await
    }

    /// Webhooks received but not acted upon (a crash in between), oldest first: (id, body).
    pub async fn unprocessed_webhooks(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.backend.unprocessed_webhooks().await
    }

    /// The escalation, attempt and leg (`A`/`B`) a call control id belongs to.
    pub async fn find_leg(
        &self,
        call_control_id: String,
    ) -> Result<Option<(EscalationId, u32, String)>, StoreError> {
        self.backend.find_leg(call_control_id).await
    }

    /// One escalation with its timeline.
    pub async fn get_escalation(&self, id: EscalationId) -> Result<Option<Escalation>, StoreError> {
        self.backend.get_escalation(id).await
    }

    pub async fn list_escalations(
        &self,
        status: Option<String>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<EscalationPage, StoreError> {
        self.backend.list_escalations(status, after, limit).await
    }

    /// Creates deliveries outside a pipeline run (e.g. Merge write-back jobs), leased to the
    /// caller until `lease_until`; returns those created ((event, destination) is unique).
    pub async fn insert_deliveries(
        &self,
        new: Vec<NewDelivery>,
        now_ms: i64,
        lease_until: i64,
    ) -> Result<Vec<DeliveryId>, StoreError> {
        self.backend
            .insert_deliveries(new, now_ms, lease_until)
            .await
    }

    /// Leases up to `limit` deliveries that are due and not leased.
    pub async fn claim_due(
        &self,
        now_ms: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        self.backend.claim_due(now_ms, lease_until, limit).await
    }

    /// When the next delivery falls due or its lease runs out (unix ms).
    pub async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        self.backend.next_due().await
    }

    /// The delivery queue at `now_ms`, for `/metrics`.
    pub async fn queue_depth(&self, now_ms: i64) -> Result<QueueDepth, StoreError> {
        self.backend.queue_depth(now_ms).await
    }

    /// Frees every lease; for start-up, when this process is the only worker.
    pub async fn release_all_leases(&self) -> Result<usize, StoreError> {
        self.backend.release_all_leases().await
    }

    pub async fn record_attempt(
        &self,
        id: DeliveryId,
        attempt: Attempt,
        after: AfterAttempt,
    ) -> Result<(), StoreError> {
        self.backend.record_attempt(id, attempt, after).await
    }

    /// Dead-letters a delivery without attempting it.
    pub async fn bury(&self, id: DeliveryId, reason: String) -> Result<(), StoreError> {
        self.backend.bury(id, reason).await
    }

    pub async fn replay(&self, id: DeliveryId, now_ms: i64) -> Result<Replay, StoreError> {
        self.backend.replay(id, now_ms).await
    }

    pub async fn get_delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, StoreError> {
        self.backend.get_delivery(id).await
    }

    pub async fn list_deliveries(&self, query: DeliveryQuery) -> Result<DeliveryPage, StoreError> {
        self.backend.list_deliveries(query).await
    }

    pub async fn disable_destination(
        &self,
        name: String,
        reason: String,
    ) -> Result<(), StoreError> {
        self.backend.disable_destination(name, reason).await
    }

    /// Enables a destination again; false if it was not disabled.
    pub async fn enable_destination(&self, name: String) -> Result<bool, StoreError> {
        self.backend.enable_destination(name).await
    }

    /// Disabled destinations and why.
    pub async fn disabled_destinations(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.backend.disabled_destinations().await
    }

    pub async fn cached_label(&self, key: String) -> Result<Option<String>, StoreError> {
        self.backend.cached_label(key).await
    }

    /// A `transition` step's check-and-record: true when the event passes (the condition
    /// became true for `key`, or still holds after `repage_after_ms`). Atomic per key.
    pub async fn transition(
        &self,
        step: String,
        key: String,
        holds: bool,
        repage_after_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.backend
            .transition(step, key, holds, repage_after_ms, now_ms)
            .await
    }

    /// Where the reconciliation poll `name` resumes (see [`Store::set_poll_cursor`]).
    pub async fn poll_cursor(&self, name: String) -> Result<Option<String>, StoreError> {
        self.backend.poll_cursor(name).await
    }

    /// Records where the poll `name` resumes next time; durable when this returns.
    pub async fn set_poll_cursor(&self, name: String, cursor: String) -> Result<(), StoreError> {
        self.backend.set_poll_cursor(name, cursor).await
    }

    pub async fn cache_label(
        &self,
        key: String,
        label: String,
        model: String,
    ) -> Result<(), StoreError> {
        self.backend.cache_label(key, label, model).await
    }

    /// Commits everything already queued, then stops the writer. Later writes fail with
    /// [`StoreError::Closed`].
    pub async fn close(&self) {
        self.backend.close().await
    }
}
