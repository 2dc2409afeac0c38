//! The SQLite backend: one file in WAL mode, one writer thread, a few readers.
//!
//! Why this shape: SQLite allows one writer at a time, and a durable commit costs an fsync.
//! Funnelling every write through one thread lets it put all requests that arrived during
//! the previous fsync into the next transaction (group commit), so throughput grows with
//! concurrency while each request is still answered only after its own commit. Readers use
//! their own connections; WAL lets them run while the writer commits.

mod alert_groups;
mod deliveries;
mod dials;
mod escalations;
mod events;
mod inbound;
mod overrides;
mod poll_cursors;
mod reader;
mod texts;
mod writer;

use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags};

use super::paginate;
use super::{
    AfterAttempt, Attempt, Cursor, Delivery, DeliveryId, DeliveryJob, DeliveryPage, DeliveryQuery,
    Escalation, EscalationId, EscalationPage, EscalationRecord, EscalationUpdate, Event, EventId,
    EventPage, EventQuery, Inserted, NewDelivery, NewEscalation, NewEvent, PendingEvent,
    QueueDepth, Replay, StoreError, TransitionCheck, migrations,
};
use super::{DialClaim, NewDial, NodeStatus};
use crate::store::StoreSettings;

/// How long a connection waits for a lock held by another process before giving up.
const BUSY_TIMEOUT_MS: u32 = 5_000;
/// Read connections; reads are short, and two cores rarely need more.
const READERS: usize = 4;

#[derive(Clone)]
pub struct SqliteStore {
    writer: writer::WriterHandle,
    readers: Arc<reader::ReaderPool>,
    /// Who this process is in the records it signs (dial claims): `node_<pid>`, the shape of a
    /// PostgreSQL node id, since on SQLite the process owning the file is the only node.
    node: Arc<str>,
    /// When this process opened the store (RFC 3339).
    started_at: Arc<str>,
}

impl SqliteStore {
    /// Opens the file, applies migrations, and starts the writer thread. Blocking.
    pub fn open(path: &Path, settings: &StoreSettings) -> Result<SqliteStore, StoreError> {
        let mut conn = open_connection(path, OpenFlags::default())?;
        // WAL lets readers work during commits. synchronous=FULL makes every commit fsync the
        // WAL, so an acknowledged event survives power loss, not just a process crash;
        // group commit is what pays for it.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        migrations::apply_sqlite(&mut conn)?;

        let readers = (0..READERS)
            .map(|_| {
                let reader = open_connection(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                reader.pragma_update(None, "query_only", true)?;
                Ok(reader)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;

        Ok(SqliteStore {
            writer: writer::WriterHandle::start(conn, settings.group_commit_max_batch),
            readers: Arc::new(reader::ReaderPool::new(readers)),
            node: format!("node_{}", std::process::id()).into(),
            started_at: crate::clock::now_rfc3339().into(),
        })
    }

    pub async fn insert_event(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        self.writer
            .write(move |tx| events::insert(tx, &event))
            .await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.writer.write(|_| Ok(())).await
    }

    pub async fn close(&self) {
        self.writer.close().await
    }

    pub async fn get_event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        self.readers.with(move |conn| events::get(conn, id)).await
    }

    pub async fn list_events(&self, query: EventQuery) -> Result<EventPage, StoreError> {
        self.readers
            .with(move |conn| events::list(conn, &query))
            .await
    }

    pub async fn pending_events(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, PendingEvent)>, StoreError> {
        self.readers
            .with(move |conn| events::pending(conn, after, limit))
            .await
    }

    pub async fn complete_pipeline(
        &self,
        event: EventId,
        trace: String,
        deliveries: Vec<NewDelivery>,
        escalations: Vec<NewEscalation>,
        now_ms: i64,
        lease_until: i64,
    ) -> Result<(Vec<DeliveryId>, Vec<EscalationId>), StoreError> {
        self.writer
            .write(move |tx| {
                events::complete_pipeline(tx, event, &trace)?;
                Ok((
                    deliveries::insert(tx, &deliveries, now_ms, lease_until)?,
                    escalations::insert(tx, &escalations)?,
                ))
            })
            .await
    }

    pub async fn load_escalation(
        &self,
        id: EscalationId,
    ) -> Result<Option<EscalationRecord>, StoreError> {
        self.readers
            .with(move |conn| escalations::load(conn, id))
            .await
    }

    pub async fn active_escalations(
        &self,
        before: Option<String>,
    ) -> Result<Vec<EscalationId>, StoreError> {
        self.readers
            .with(move |conn| escalations::active(conn, before.as_deref()))
            .await
    }

    pub async fn save_escalation(
        &self,
        update: EscalationUpdate,
    ) -> Result<Vec<EventId>, StoreError> {
        self.writer
            .write(move |tx| escalations::save(tx, &update))
            .await
    }

    pub async fn inbound_call_arrived(
        &self,
        call: super::NewInboundCall,
    ) -> Result<bool, StoreError> {
        self.writer
            .write(move |tx| inbound::arrived(tx, &call))
            .await
    }

    pub async fn find_inbound_call(
        &self,
        column: &'static str,
        value: String,
    ) -> Result<Option<super::InboundRecord>, StoreError> {
        self.readers
            .with(move |conn| inbound::find(conn, column, &value))
            .await
    }

    pub async fn save_inbound_call(
        &self,
        update: super::InboundUpdate,
    ) -> Result<super::InboundSaved, StoreError> {
        self.writer
            .write(move |tx| inbound::save(tx, &update))
            .await
    }

    pub async fn waiting_inbound_calls(&self) -> Result<Vec<super::InboundId>, StoreError> {
        self.readers.with(inbound::waiting).await
    }

    pub async fn claim_dial(&self, dial: NewDial) -> Result<DialClaim, StoreError> {
        let node = self.node.clone();
        self.writer
            .write(move |tx| dials::claim(tx, &node, &dial))
            .await
    }

    pub async fn first_sight_of_webhook(
        &self,
        id: String,
        body: String,
    ) -> Result<bool, StoreError> {
        self.writer
            .write(move |tx| escalations::first_sight(tx, &id, &body))
            .await
    }

    pub async fn webhook_processed(&self, id: String) -> Result<(), StoreError> {
        self.writer
            .write(move |tx| escalations::processed(tx, &id))
            .await
    }

    pub async fn unprocessed_webhooks(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.readers.with(escalations::unprocessed).await
    }

    pub async fn find_leg(
        &self,
        call_control_id: String,
    ) -> Result<Option<(EscalationId, u32, String)>, StoreError> {
        self.readers
            .with(move |conn| escalations::find_leg(conn, &call_control_id))
            .await
    }

    pub async fn get_escalation(&self, id: EscalationId) -> Result<Option<Escalation>, StoreError> {
        self.readers
            .with(move |conn| escalations::get(conn, id))
            .await
    }

    pub async fn list_escalations(
        &self,
        status: Option<String>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<EscalationPage, StoreError> {
        self.readers
            .with(move |conn| escalations::list(conn, status.as_deref(), after, limit))
            .await
    }

    pub async fn insert_deliveries(
        &self,
        new: Vec<NewDelivery>,
        now_ms: i64,
        lease_until: i64,
    ) -> Result<Vec<DeliveryId>, StoreError> {
        self.writer
            .write(move |tx| deliveries::insert(tx, &new, now_ms, lease_until))
            .await
    }

    pub async fn claim_due(
        &self,
        now_ms: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        self.writer
            .write(move |tx| deliveries::claim_due(tx, now_ms, lease_until, limit))
            .await
    }

    pub async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        self.readers.with(deliveries::next_due).await
    }

    pub async fn queue_depth(&self, now_ms: i64) -> Result<QueueDepth, StoreError> {
        self.readers
            .with(move |conn| deliveries::queue_depth(conn, now_ms))
            .await
    }

    /// This process, the only node, with the deliveries it has in flight.
    pub async fn nodes(&self) -> Result<Vec<NodeStatus>, StoreError> {
        let in_flight = self.readers.with(deliveries::in_flight).await?;
        Ok(vec![NodeStatus {
            id: self.node.to_string(),
            started_at: self.started_at.to_string(),
            alive_until: None,
            alive: true,
            deliveries_held: in_flight,
            escalations_held: 0,
            this_node: true,
        }])
    }

    pub async fn release_all_leases(&self) -> Result<usize, StoreError> {
        self.writer.write(deliveries::release_all_leases).await
    }

    pub async fn record_attempt(
        &self,
        id: DeliveryId,
        attempt: Attempt,
        after: AfterAttempt,
    ) -> Result<(), StoreError> {
        self.writer
            .write(move |tx| deliveries::record_attempt(tx, id, &attempt, after))
            .await
    }

    pub async fn postpone(&self, id: DeliveryId, until: i64) -> Result<(), StoreError> {
        self.writer
            .write(move |tx| deliveries::postpone(tx, id, until))
            .await
    }

    pub async fn bury(&self, id: DeliveryId, reason: String) -> Result<(), StoreError> {
        self.writer
            .write(move |tx| deliveries::bury(tx, id, &reason))
            .await
    }

    pub async fn replay(&self, id: DeliveryId, now_ms: i64) -> Result<Replay, StoreError> {
        self.writer
            .write(move |tx| deliveries::replay(tx, id, now_ms))
            .await
    }

    pub async fn get_delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, StoreError> {
        self.readers
            .with(move |conn| deliveries::get(conn, id))
            .await
    }

    pub async fn list_deliveries(&self, query: DeliveryQuery) -> Result<DeliveryPage, StoreError> {
        self.readers
            .with(move |conn| deliveries::list(conn, &query))
            .await
    }

    pub async fn disable_destination(
        &self,
        name: String,
        reason: String,
    ) -> Result<(), StoreError> {
        self.writer
            .write(move |tx| deliveries::disable_destination(tx, &name, &reason))
            .await
    }

    pub async fn enable_destination(&self, name: String) -> Result<bool, StoreError> {
        self.writer
            .write(move |tx| deliveries::enable_destination(tx, &name))
            .await
    }

    pub async fn disabled_destinations(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.readers.with(deliveries::disabled_destinations).await
    }

    pub async fn transition(
        &self,
        step: String,
        key: String,
        holds: bool,
        repage_after_ms: Option<i64>,
        now_ms: i64,
        event: String,
    ) -> Result<bool, StoreError> {
        self.writer
            .write(move |tx| {
                deliveries::transition(
                    tx,
                    &TransitionCheck {
                        step: &step,
                        key: &key,
                        holds,
                        repage_after_ms,
                        now_ms,
                        event: &event,
                    },
                )
            })
            .await
    }

    pub async fn poll_cursor(&self, name: String) -> Result<Option<String>, StoreError> {
        self.readers
            .with(move |conn| poll_cursors::get(conn, &name))
            .await
    }

    pub async fn set_poll_cursor(&self, name: String, cursor: String) -> Result<(), StoreError> {
        self.writer
            .write(move |tx| poll_cursors::set(tx, &name, &cursor))
            .await
    }

    pub async fn cached_label(&self, key: String) -> Result<Option<String>, StoreError> {
        self.readers
            .with(move |conn| deliveries::cached_label(conn, &key))
            .await
    }

    pub async fn cache_label(
        &self,
        key: String,
        label: String,
        model: String,
    ) -> Result<(), StoreError> {
        self.writer
            .write(move |tx| deliveries::cache_label(tx, &key, &label, &model))
            .await
    }
}

fn open_connection(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
        path: path.display().to_string(),
        source,
    })?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
    Ok(conn)
}
