//! The durable store: every accepted event is committed here before Klaxon answers.
//!
//! [`Store`] is a cheap-to-clone handle over one of two backends, chosen by `DATABASE_URL`:
//! SQLite (`sqlite/`: one writer thread doing group commit, plus a small pool of read
//! connections) for one node, or PostgreSQL (`postgres/`: pooled connections, batched
//! writes, leases) for any number of nodes on one database. Callers never see which one
//! runs; the few multi-node duties (leases, take-over) are no-ops on SQLite.

mod delivery;
mod dial;
mod disk_space;
mod escalation;
mod event;
mod health;
mod inbound;
mod migrations;
mod node;
pub mod overrides;
pub(crate) mod postgres;
mod postgres_url;
pub mod settings;
mod sqlite;
mod target;
mod text;
mod write_health;

use std::sync::Arc;
use std::time::Duration;

pub use delivery::{
    AfterAttempt, Attempt, DELIVERY_LEASE, Delivery, DeliveryId, DeliveryJob, DeliveryPage,
    DeliveryQuery, DeliveryState, NewDelivery, QueueDepth, Replay, TransitionCheck, lease_until,
};
pub use dial::{ClaimedDial, DialClaim, Dialling, NewDial, NewLeg};
pub use disk_space::LowDisk;
pub use escalation::{
    Escalation, EscalationId, EscalationPage, EscalationRecord, EscalationUpdate, Hold,
    NewEscalation, TimelineEntry,
};
pub use event::{
    Cursor, Event, EventId, EventPage, EventQuery, Inserted, NewEvent, PendingEvent, Source,
};
pub use health::Problem;
pub use inbound::{
    INBOUND_PREFIX, InboundId, InboundRecord, InboundSaved, InboundUpdate, NewInboundCall,
};
pub use node::NodeStatus;
pub use postgres_url::{PostgresUrl, TlsMode};
pub use settings::{DatabaseUrl, StoreSettings};
pub use target::Target;
pub use text::{NewText, OpenText, Receipt, StoredText, TextClaim};
pub use write_health::Outage;

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
    /// The URL is shown with its password redacted.
    #[error("cannot connect to PostgreSQL at {url}: {}", postgres_detail(.source))]
    Connect {
        url: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("PostgreSQL schema migration {version} ({name}) failed: {source}")]
    PostgresMigration {
        version: i64,
        name: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("PostgreSQL error: {}", postgres_detail(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No pooled PostgreSQL connection could be had (server down, pool exhausted too long).
    #[error("no PostgreSQL connection: {0}")]
    Pool(String),
    #[error("cannot set up TLS for PostgreSQL: {0}")]
    Tls(String),
    /// The database refused this one write's data (a constraint, a value it cannot store).
    /// Sending the same write again cannot help; the text is the database's reason. Group
    /// commit makes sure only the write at fault gets this, never its batch-mates.
    #[error("the database refused the write: {0}")]
    Rejected(String),
    /// One caller's copy of the error that failed a whole batch because the store cannot
    /// write (see [`Outage`]); the original error is not `Clone`.
    #[error("write failed ({cause}): {message}")]
    CannotWrite { cause: Outage, message: String },
}

/// The server's message and SQLSTATE when there is one, else the driver's error with its
/// causes: the driver's own `Display` says only "db error" or "error performing TLS
/// handshake", leaving the reason to its source.
fn postgres_detail(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => crate::error_text::with_causes(error),
    }
}

impl StoreError {
    /// True for a PostgreSQL deadlock or serialization failure: nothing was written and the
    /// same transaction may simply run again.
    pub fn is_transient(&self) -> bool {
        use tokio_postgres::error::SqlState;
        matches!(self, StoreError::Postgres(e)
            if e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED)
                || e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE))
    }

    /// True when the failure is the store being unreachable or busy rather than bad data,
    /// so the right answer is 503 and a retry.
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, StoreError::Corrupt(_) | StoreError::Rejected(_))
    }

    /// The database's reason when it refused the data of a write, rather than failing as a
    /// whole: PostgreSQL SQLSTATE class 22 (data exception, e.g. NUL in text) or 23
    /// (integrity constraint), SQLite's constraint, type-mismatch and too-big errors (a
    /// trigger's `RAISE(ABORT, …)` is a constraint error). In a batch, such an error is one
    /// row's fault; connection, I/O and lock errors are not, and give `None`.
    pub fn refusal(&self) -> Option<String> {
        match self {
            StoreError::Rejected(reason) => Some(reason.clone()),
            StoreError::Postgres(error) => {
                let db = error.as_db_error()?;
                let class = db.code().code().get(..2)?;
                matches!(class, "22" | "23").then(|| db.message().to_owned())
            }
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, message)) => {
                use rusqlite::ErrorCode;
                matches!(
                    failure.code,
                    ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch | ErrorCode::TooBig
                )
                .then(|| message.clone().unwrap_or_else(|| failure.to_string()))
            }
            _ => None,
        }
    }
}

/// A handle to the store.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// The outcome of recent writes and the free disk space, for `/health`.
    watch: Arc<health::Watch>,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PostgresStore),
}

/// Calls the same method on whichever backend runs.
macro_rules! dispatch {
    ($store:expr, $backend:ident => $call:expr) => {
        match &$store.backend {
            Backend::Sqlite($backend) => $call,
            Backend::Postgres($backend) => $call,
        }
    };
}

/// [`dispatch!`] for a write: its outcome is recorded for `/health`.
macro_rules! dispatch_write {
    ($store:expr, $backend:ident => $call:expr) => {{
        let outcome = dispatch!($store, $backend => $call);
        $store.watch.writes.record(&outcome);
        outcome
    }};
}

/// Splits a newest-first result of up to `limit + 1` rows (the extra row shows that another
/// page exists) into the page and the cursor of its last (oldest) row.
fn paginate<T>(mut rows: Vec<(i64, T)>, limit: usize) -> (Vec<T>, Option<String>) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = more
        .then(|| rows.last().map(|(seq, _)| Cursor(*seq).to_string()))
        .flatten();
    (rows.into_iter().map(|(_, row)| row).collect(), next_cursor)
}

impl Store {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub async fn open(url: &DatabaseUrl, settings: &StoreSettings) -> Result<Store, StoreError> {
        let watch = Arc::new(health::Watch {
            writes: write_health::WriteHealth::default(),
            disk: match url {
                DatabaseUrl::Sqlite(path) => {
                    disk_space::DiskSpace::for_database(path, settings.min_free_disk_bytes)
                }
                DatabaseUrl::Postgres(_) => None,
            },
        });
        let backend = match url {
            DatabaseUrl::Sqlite(path) => {
                let path = path.clone();
                let settings = settings.clone();
                Backend::Sqlite(
                    tokio::task::spawn_blocking(move || {
                        sqlite::SqliteStore::open(&path, &settings)
                    })
                    .await
                    .map_err(|_| StoreError::Closed)??,
                )
            }
            DatabaseUrl::Postgres(url) => {
                Backend::Postgres(postgres::PostgresStore::open(url, settings).await?)
            }
        };
        Ok(Store { backend, watch })
    }

    /// True when other nodes may share the database (PostgreSQL): work left by a node that
    /// died must be looked for periodically, not only at start-up.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// How long a dead node's claims last before another node may take its work over
    /// (`None` for SQLite, where this process is the only node).
    pub fn lease(&self) -> Option<Duration> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg) => Some(pg.lease()),
        }
    }

    /// Waits until this node may step the escalation: the only one, across all nodes, doing
    /// so until [`Store::release_escalation`]. On SQLite (one node) the engine's own
    /// per-escalation lock is enough, so this returns at once.
    pub async fn hold_escalation(&self, id: EscalationId) -> Result<Hold, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Hold::Clean),
            Backend::Postgres(pg) => pg.hold_escalation(id).await,
        }
    }

    /// Ends the hold taken by [`Store::hold_escalation`].
    pub async fn release_escalation(&self, id: EscalationId) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(pg) => pg.release_escalation(id).await,
        }
    }

    /// Active escalations whose node died while stepping them (its lease ran out), to
    /// resume; whichever node holds one first takes it over ([`Hold::TakenOver`]). Always
    /// empty on SQLite.
    pub async fn orphaned_escalations(&self) -> Result<Vec<EscalationId>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Vec::new()),
            Backend::Postgres(pg) => pg.orphaned_escalations().await,
        }
    }

    /// Resolves when another node announced a delivery that is due now (a replay). Never
    /// resolves on SQLite, where every such job is poked in-process.
    pub async fn jobs_announced(&self) {
        match &self.backend {
            Backend::Sqlite(_) => std::future::pending().await,
            Backend::Postgres(pg) => pg.jobs_announced().await,
        }
    }

    /// Resolves when some node disabled or enabled a destination (PostgreSQL). Never
    /// resolves on SQLite, where the one node knows its own changes.
    pub async fn destinations_changed(&self) {
        match &self.backend {
            Backend::Sqlite(_) => std::future::pending().await,
            Backend::Postgres(pg) => pg.destinations_changed().await,
        }
    }

    /// Stores an event, or reports the earlier event with the same idempotency key. Returns
    /// only after the outcome is durable.
    pub async fn insert_event(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        let (source, event_type) = (event.source, event.event_type.clone());
        let inserted = dispatch_write!(self, b => b.insert_event(event).await)?;
        if let Inserted::Created(_) = inserted {
            crate::metrics::metrics()
                .events_ingested
                .inc(&[source.as_str(), &event_type]);
        }
        Ok(inserted)
    }

    pub async fn get_event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        dispatch!(self, b => b.get_event(id).await)
    }

    pub async fn list_events(&self, query: EventQuery) -> Result<EventPage, StoreError> {
        dispatch!(self, b => b.list_events(query).await)
    }

    /// Proves the store can still commit a write, within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        tokio::time::timeout(timeout, async { dispatch!(self, b => b.ping().await) })
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
        dispatch!(self, b => b.pending_events(after, limit).await)
    }

    /// In one transaction: records an event's pipeline trace, marks it done, and creates its
    /// deliveries (leased to the caller until `lease_until` so it can send them at once; on
    /// PostgreSQL leased to this node, renewed while it lives) and escalations. Returns those actually created (a re-run never duplicates one).
    pub async fn complete_pipeline(
        &self,
        event: EventId,
        trace: String,
        deliveries: Vec<NewDelivery>,
        escalations: Vec<NewEscalation>,
        now_ms: i64,
        lease_until: i64,
    ) -> Result<(Vec<DeliveryId>, Vec<EscalationId>), StoreError> {
        let outcome = match &self.backend {
            Backend::Sqlite(b) => {
                b.complete_pipeline(event, trace, deliveries, escalations, now_ms, lease_until)
                    .await
            }
            Backend::Postgres(b) => {
                b.complete_pipeline(event, trace, deliveries, escalations, now_ms)
                    .await
            }
        };
        self.watch.writes.record(&outcome);
        outcome
    }

    pub async fn load_escalation(
        &self,
        id: EscalationId,
    ) -> Result<Option<EscalationRecord>, StoreError> {
        dispatch!(self, b => b.load_escalation(id).await)
    }

    /// Escalations still running, optionally only those unchanged since `before` (RFC 3339).
    pub async fn active_escalations(
        &self,
        before: Option<String>,
    ) -> Result<Vec<EscalationId>, StoreError> {
        dispatch!(self, b => b.active_escalations(before).await)
    }

    /// Persists a transition: new state, timeline lines, legs dialled, and the events it
    /// records (returns those created: an event whose key exists is not stored again).
    pub async fn save_escalation(
        &self,
        update: EscalationUpdate,
    ) -> Result<Vec<EventId>, StoreError> {
        dispatch_write!(self, b => b.save_escalation(update).await)
    }

    /// Claims a dial just before the carrier is asked to place it. The database's key on
    /// (escalation, attempt, leg, n) decides, across processes and nodes, and
    /// [`NewDial::decide`] says what an existing claim allows. Durable when this returns.
    pub async fn claim_dial(&self, dial: NewDial) -> Result<DialClaim, StoreError> {
        dispatch_write!(self, b => b.claim_dial(dial).await)
    }

    /// Records a carrier webhook (its id, and its body until processed); false if it was
    /// received before (a redelivery).
    pub async fn first_sight_of_webhook(
        &self,
        id: String,
        body: String,
    ) -> Result<bool, StoreError> {
        dispatch_write!(self, b => b.first_sight_of_webhook(id, body).await)
    }

    /// The engine has acted on the webhook; its body is dropped.
    pub async fn webhook_processed(&self, id: String) -> Result<(), StoreError> {
        dispatch_write!(self, b => b.webhook_processed(id).await)
    }

    /// Webhooks received but not acted upon (a crash in between), oldest first: (id, body).
    pub async fn unprocessed_webhooks(&self) -> Result<Vec<(String, String)>, StoreError> {
        dispatch!(self, b => b.unprocessed_webhooks().await)
    }

    /// Records a call to Klaxon's number; false when its leg was recorded before.
    pub async fn inbound_call_arrived(&self, call: NewInboundCall) -> Result<bool, StoreError> {
        dispatch_write!(self, b => b.inbound_call_arrived(call).await)
    }

    /// An inbound call by our id.
    pub async fn inbound_call(&self, id: InboundId) -> Result<Option<InboundRecord>, StoreError> {
        dispatch!(self, b => b.find_inbound_call("id", id.to_string()).await)
    }

    /// The inbound call whose caller's leg this is.
    pub async fn inbound_call_by_leg(
        &self,
        call_control_id: String,
    ) -> Result<Option<InboundRecord>, StoreError> {
        dispatch!(self, b => b.find_inbound_call("call_control_id", call_control_id).await)
    }

    /// The inbound call that started this escalation, if one did.
    pub async fn inbound_call_of(
        &self,
        escalation: EscalationId,
    ) -> Result<Option<InboundRecord>, StoreError> {
        dispatch!(self, b => b.find_inbound_call("escalation_id", escalation.to_string()).await)
    }

    /// Saves an inbound call's transition with the events and escalation it creates.
    pub async fn save_inbound_call(
        &self,
        update: InboundUpdate,
    ) -> Result<InboundSaved, StoreError> {
        dispatch_write!(self, b => b.save_inbound_call(update).await)
    }

    /// Inbound calls still waiting on the escalation they started.
    pub async fn waiting_inbound_calls(&self) -> Result<Vec<InboundId>, StoreError> {
        dispatch!(self, b => b.waiting_inbound_calls().await)
    }

    /// The escalation, attempt and leg (`A`/`B`) a call control id belongs to.
    pub async fn find_leg(
        &self,
        call_control_id: String,
    ) -> Result<Option<(EscalationId, u32, String)>, StoreError> {
        dispatch!(self, b => b.find_leg(call_control_id).await)
    }

    /// One escalation with its timeline.
    pub async fn get_escalation(&self, id: EscalationId) -> Result<Option<Escalation>, StoreError> {
        dispatch!(self, b => b.get_escalation(id).await)
    }

    pub async fn list_escalations(
        &self,
        status: Option<String>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<EscalationPage, StoreError> {
        dispatch!(self, b => b.list_escalations(status, after, limit).await)
    }

    /// Creates deliveries outside a pipeline run (e.g. Merge write-back jobs), leased to the
    /// caller until `lease_until`; returns those created ((event, destination) is unique).
    pub async fn insert_deliveries(
        &self,
        new: Vec<NewDelivery>,
        now_ms: i64,
        lease_until: i64,
    ) -> Result<Vec<DeliveryId>, StoreError> {
        let outcome = match &self.backend {
            Backend::Sqlite(b) => b.insert_deliveries(new, now_ms, lease_until).await,
            Backend::Postgres(b) => b.insert_deliveries(new, now_ms).await,
        };
        self.watch.writes.record(&outcome);
        outcome
    }

    /// Leases up to `limit` deliveries that are due and not leased (on PostgreSQL, to this
    /// node, with its own lease length; `lease_until` is SQLite's).
    pub async fn claim_due(
        &self,
        now_ms: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        let outcome = match &self.backend {
            Backend::Sqlite(b) => b.claim_due(now_ms, lease_until, limit).await,
            Backend::Postgres(b) => b.claim_due(now_ms, limit).await,
        };
        // The worker polls even with nothing due; an empty claim changed no row, so its
        // commit proves nothing about writes (on a full disk it still succeeds).
        if !matches!(&outcome, Ok(claimed) if claimed.is_empty()) {
            self.watch.writes.record(&outcome);
        }
        outcome
    }

    /// When the next delivery falls due or its lease runs out (unix ms).
    pub async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        dispatch!(self, b => b.next_due().await)
    }

    /// Every node on the database, oldest first (see [`NodeStatus`]).
    pub async fn nodes(&self) -> Result<Vec<NodeStatus>, StoreError> {
        dispatch!(self, b => b.nodes().await)
    }

    /// The delivery queue at `now_ms`, for `/metrics`.
    pub async fn queue_depth(&self, now_ms: i64) -> Result<QueueDepth, StoreError> {
        dispatch!(self, b => b.queue_depth(now_ms).await)
    }

    /// Frees every lease; for start-up, when this process is the only worker. On PostgreSQL
    /// other nodes may hold leases, so nothing is freed: a dead node's leases run out.
    pub async fn release_all_leases(&self) -> Result<usize, StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => b.release_all_leases().await,
            Backend::Postgres(_) => Ok(0),
        }
    }

    pub async fn record_attempt(
        &self,
        id: DeliveryId,
        attempt: Attempt,
        after: AfterAttempt,
    ) -> Result<(), StoreError> {
        let attempt = Attempt {
            error: attempt.error.map(crate::stored_text::without_nul),
            response: attempt.response.map(crate::stored_text::without_nul),
            ..attempt
        };
        dispatch_write!(self, b => b.record_attempt(id, attempt, after).await)
    }

    /// Puts a leased delivery back without an attempt, due at `until` (unix ms): our own
    /// pacing held it back. Its attempts, retry schedule position and state are unchanged.
    pub async fn postpone(&self, id: DeliveryId, until: i64) -> Result<(), StoreError> {
        dispatch_write!(self, b => b.postpone(id, until).await)
    }

    /// Dead-letters a delivery without attempting it.
    pub async fn bury(&self, id: DeliveryId, reason: String) -> Result<(), StoreError> {
        dispatch_write!(self, b => b.bury(id, reason).await)
    }

    pub async fn replay(&self, id: DeliveryId, now_ms: i64) -> Result<Replay, StoreError> {
        dispatch_write!(self, b => b.replay(id, now_ms).await)
    }

    pub async fn get_delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, StoreError> {
        dispatch!(self, b => b.get_delivery(id).await)
    }

    pub async fn list_deliveries(&self, query: DeliveryQuery) -> Result<DeliveryPage, StoreError> {
        dispatch!(self, b => b.list_deliveries(query).await)
    }

    pub async fn disable_destination(
        &self,
        name: String,
        reason: String,
    ) -> Result<(), StoreError> {
        dispatch_write!(self, b => b.disable_destination(name, reason).await)
    }

    /// Enables a destination again; false if it was not disabled.
    pub async fn enable_destination(&self, name: String) -> Result<bool, StoreError> {
        dispatch_write!(self, b => b.enable_destination(name).await)
    }

    /// Disabled destinations and why.
    pub async fn disabled_destinations(&self) -> Result<Vec<(String, String)>, StoreError> {
        dispatch!(self, b => b.disabled_destinations().await)
    }

    pub async fn cached_label(&self, key: String) -> Result<Option<String>, StoreError> {
        dispatch!(self, b => b.cached_label(key).await)
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
        event: String,
    ) -> Result<bool, StoreError> {
        dispatch_write!(self, b => b.transition(step, key, holds, repage_after_ms, now_ms, event).await)
    }

    /// Where the reconciliation poll `name` resumes (see [`Store::set_poll_cursor`]).
    pub async fn poll_cursor(&self, name: String) -> Result<Option<String>, StoreError> {
        dispatch!(self, b => b.poll_cursor(name).await)
    }

    /// Records where the poll `name` resumes next time; durable when this returns.
    pub async fn set_poll_cursor(&self, name: String, cursor: String) -> Result<(), StoreError> {
        dispatch_write!(self, b => b.set_poll_cursor(name, cursor).await)
    }

    pub async fn cache_label(
        &self,
        key: String,
        label: String,
        model: String,
    ) -> Result<(), StoreError> {
        dispatch_write!(self, b => b.cache_label(key, label, model).await)
    }

    /// Commits everything already queued, then stops the writer. Later writes fail with
    /// [`StoreError::Closed`].
    pub async fn close(&self) {
        dispatch!(self, b => b.close().await)
    }
}

// After the macros above, which it uses.
mod alert_group;
pub use alert_group::{
    AlertGroup, AlertNotice, AlertStatus, AlertToSettle, EpisodeEscalations, Noted, opening_key,
};
