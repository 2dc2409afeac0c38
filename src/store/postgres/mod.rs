//! The PostgreSQL backend: many Klaxon nodes on one database.
//!
//! Shape: a pool of connections for reads and ordinary writes; three group-commit batchers
//! for the hot writes (event ingest, pipeline results, delivery attempts), each flushing a
//! batch as one multi-row statement (one commit); one connection in `LISTEN` for the other
//! nodes' announcements; and a heartbeat that renews this node's leases.
//!
//! What makes several nodes safe is in the database, never in memory: unique keys decide
//! idempotency (events, deliveries, escalations, carrier webhooks) and which node may place
//! each outbound dial (one claim per escalation, attempt and leg), `FOR UPDATE SKIP LOCKED`
//! hands each due job to one node, a delivery records the node that holds it (held while that
//! node's row in `nodes` is renewed), and leases with an owner and an expiry say which node
//! may step an escalation. A node that dies stops renewing, and one lease later another node
//! takes its work over; a node that stops cleanly frees its work at once.

mod alert_groups;
mod batch;
pub(crate) mod connect;
mod deliveries;
mod dials;
mod escalations;
mod events;
mod inbound;
mod leases;
mod listen;
mod migrate;
mod overrides;
mod poll_cursors;
mod results;
mod server_settings;
mod texts;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::task::JoinHandle;

use super::{
    AfterAttempt, Attempt, Cursor, Delivery, DeliveryId, DeliveryJob, DeliveryPage, DeliveryQuery,
    Escalation, EscalationId, EscalationPage, EscalationRecord, EscalationUpdate, Event, EventId,
    EventPage, EventQuery, Hold, Inserted, NewDelivery, NewEscalation, NewEvent, NodeStatus,
    PendingEvent, QueueDepth, Replay, StoreError, TransitionCheck,
};
use super::{DialClaim, NewDial};
use crate::clock;
use crate::store::{PostgresUrl, StoreSettings};

/// Batches of one kind committing at once. PostgreSQL flushes the WAL of every commit
/// waiting behind the one it is flushing in one go, so batches that queue behind a flush
/// share the next one: several in flight are what turns a slow fsync into throughput.
/// Capped at a quarter of the pool each, so the three batchers leave room for the rest.
const FLUSHES_MAX: usize = 4;

/// This process as a lease holder.
pub struct Node {
    /// `node_<pid>_<random>`: unique per start, so a restarted process does not inherit the
    /// old one's leases, which run out instead (the old process may still be alive
    /// somewhere); the process id tells an operator which process holds a lease.
    pub id: String,
    pub lease: Duration,
}

impl Node {
    /// When a lease taken at `now_ms` runs out, unless renewed.
    pub fn lease_until(&self, now_ms: i64) -> i64 {
        now_ms.saturating_add(i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX))
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }
}

#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    node: Arc<Node>,
    events: batch::Batcher<NewEvent, Inserted>,
    /// Attempts and postponements: both settle a leased delivery, often many at once.
    attempts: batch::Batcher<deliveries::Settled, ()>,
    results: batch::Batcher<results::PipelineResult, results::Created>,
    wakers: Arc<listen::Wakers>,
    /// The heartbeat and the listener, stopped by [`PostgresStore::close`].
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl PostgresStore {
    /// Connects, applies migrations (one node at a time), and starts the background tasks.
    pub async fn open(
        url: &PostgresUrl,
        settings: &StoreSettings,
    ) -> Result<PostgresStore, StoreError> {
        let pool = connect::pool(url, settings.pool_size)?;
        {
            let mut client = pool.get().await.map_err(|e| match e {
                deadpool_postgres::PoolError::Backend(source) => StoreError::Connect {
                    url: url.to_string(),
                    source,
                },
                other => StoreError::Pool(format!("{url}: {other}")),
            })?;
            let client: &mut tokio_postgres::Client = &mut client;
            let applied = migrate::apply(client).await?;
            if applied > 0 {
                tracing::info!(applied, "applied PostgreSQL schema migrations");
            }
            for warning in server_settings::ServerSettings::read(client)
                .await?
                .warnings()
            {
                tracing::warn!("{warning}");
            }
        }
        let node = Arc::new(Node {
            id: format!(
                "node_{}_{}",
                std::process::id(),
                uuid::Uuid::now_v7().simple()
            ),
            lease: settings.lease,
        });
        leases::register(&pool.get().await?, &node).await?;
        let max_batch = settings.group_commit_max_batch;
        let flushes = (settings.pool_size / 4).clamp(1, FLUSHES_MAX);
        let events = batch::Batcher::start(
            pool.clone(),
            max_batch,
            flushes,
            Arc::new(|pool, batch| Box::pin(events::insert_batch(pool, batch))),
        );
        let attempts = batch::Batcher::start(
            pool.clone(),
            max_batch,
            flushes,
            Arc::new(|pool, batch| Box::pin(deliveries::record_attempts(pool, batch))),
        );
        let results = {
            let node = node.clone();
            batch::Batcher::start(
                pool.clone(),
                max_batch,
                flushes,
                Arc::new(move |pool, batch| {
                    Box::pin(results::commit_batch(pool, node.clone(), batch))
                }),
            )
        };
        let wakers = Arc::new(listen::Wakers::default());
        let tasks = vec![
            tokio::spawn(leases::heartbeat(pool.clone(), node.clone())),
            tokio::spawn(listen::run(
                connect::config(url)?,
                connect::tls(url)?,
                wakers.clone(),
            )),
        ];
        tracing::info!(node = %node.id, lease = ?node.lease, "PostgreSQL store open");
        Ok(PostgresStore {
            pool,
            node,
            events,
            attempts,
            results,
            wakers,
            tasks: Arc::new(Mutex::new(tasks)),
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    pub fn lease(&self) -> Duration {
        self.node.lease
    }

    /// RFC 3339 time one lease ago: work untouched since then belongs to a dead node.
    fn one_lease_ago(&self) -> String {
        clock::ms_to_rfc3339(clock::now_ms() - self.node.lease_ms())
    }

    pub async fn insert_event(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        self.events.write(event).await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.events.close().await;
        self.results.close().await;
        self.attempts.close().await;
        let tasks = self
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        for task in tasks {
            task.abort();
        }
        // What this node still holds is free for the others at once, not a lease from now.
        let retired = match self.client().await {
            Ok(client) => leases::retire(&client, &self.node).await,
            Err(error) => Err(error),
        };
        if let Err(error) = retired {
            tracing::warn!(%error, "could not mark this node stopped; its deliveries are free one lease from now");
        }
        self.pool.close();
    }

    pub async fn get_event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        events::get(&self.client().await?, id).await
    }

    pub async fn list_events(&self, query: EventQuery) -> Result<EventPage, StoreError> {
        events::list(&self.client().await?, &query).await
    }

    /// Pending events received at least one lease ago: newer ones are being run by the node
    /// that accepted them; older ones were left by a node that died.
    pub async fn pending_events(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, PendingEvent)>, StoreError> {
        let before = self.one_lease_ago();
        events::pending(&self.client().await?, after, limit, Some(&before)).await
    }

    /// Queues the result for the next batch; answers once that batch has committed.
    pub async fn complete_pipeline(
        &self,
        event: EventId,
        trace: String,
        deliveries: Vec<NewDelivery>,
        escalations: Vec<NewEscalation>,
        now_ms: i64,
    ) -> Result<(Vec<DeliveryId>, Vec<EscalationId>), StoreError> {
        self.results
            .write(results::PipelineResult {
                event,
                trace,
                deliveries,
                escalations,
                now_ms,
            })
            .await
    }

    pub async fn load_escalation(
        &self,
        id: EscalationId,
    ) -> Result<Option<EscalationRecord>, StoreError> {
        escalations::load(&self.client().await?, id).await
    }

    pub async fn active_escalations(
        &self,
        before: Option<String>,
    ) -> Result<Vec<EscalationId>, StoreError> {
        escalations::active(&self.client().await?, before.as_deref()).await
    }

    pub async fn save_escalation(
        &self,
        update: EscalationUpdate,
    ) -> Result<Vec<EventId>, StoreError> {
        escalations::save(&self.pool, &update).await
    }

    pub async fn inbound_call_arrived(
        &self,
        call: super::NewInboundCall,
    ) -> Result<bool, StoreError> {
        inbound::arrived(&self.client().await?, &call).await
    }

    pub async fn find_inbound_call(
        &self,
        column: &'static str,
        value: String,
    ) -> Result<Option<super::InboundRecord>, StoreError> {
        inbound::find(&self.client().await?, column, &value).await
    }

    pub async fn save_inbound_call(
        &self,
        update: super::InboundUpdate,
    ) -> Result<super::InboundSaved, StoreError> {
        inbound::save(&self.pool, &self.node, &update).await
    }

    pub async fn waiting_inbound_calls(&self) -> Result<Vec<super::InboundId>, StoreError> {
        inbound::waiting(&self.client().await?).await
    }

    pub async fn claim_dial(&self, dial: NewDial) -> Result<DialClaim, StoreError> {
        dials::claim(&self.client().await?, &self.node, &dial).await
    }

    pub async fn first_sight_of_webhook(
        &self,
        id: String,
        body: String,
    ) -> Result<bool, StoreError> {
        escalations::first_sight(&self.client().await?, &id, &body).await
    }

    pub async fn webhook_processed(&self, id: String) -> Result<(), StoreError> {
        escalations::processed(&self.client().await?, &id).await
    }

    /// Webhooks received at least one lease ago and still not acted upon (the node that
    /// received them died), claimed for this node.
    pub async fn unprocessed_webhooks(&self) -> Result<Vec<(String, String)>, StoreError> {
        let before = self.one_lease_ago();
        escalations::claim_unprocessed(&self.client().await?, Some(&before)).await
    }

    pub async fn find_leg(
        &self,
        call_control_id: String,
    ) -> Result<Option<(EscalationId, u32, String)>, StoreError> {
        escalations::find_leg(&self.client().await?, &call_control_id).await
    }

    pub async fn get_escalation(&self, id: EscalationId) -> Result<Option<Escalation>, StoreError> {
        escalations::get(&self.client().await?, id).await
    }

    pub async fn list_escalations(
        &self,
        status: Option<String>,
        after: Option<Cursor>,
        limit: usize,
    ) -> Result<EscalationPage, StoreError> {
        escalations::list(&self.client().await?, status.as_deref(), after, limit).await
    }

    pub async fn hold_escalation(&self, id: EscalationId) -> Result<Hold, StoreError> {
        leases::hold(&self.pool, &self.node, &self.wakers.escalations, id).await
    }

    pub async fn release_escalation(&self, id: EscalationId) -> Result<(), StoreError> {
        leases::release(&self.pool, &self.node, id).await
    }

    pub async fn orphaned_escalations(&self) -> Result<Vec<EscalationId>, StoreError> {
        escalations::orphans(&self.client().await?, clock::now_ms()).await
    }

    pub async fn insert_deliveries(
        &self,
        new: Vec<NewDelivery>,
        now_ms: i64,
    ) -> Result<Vec<DeliveryId>, StoreError> {
        deliveries::insert(&self.client().await?, &self.node, &new, &[], now_ms).await
    }

    pub async fn claim_due(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<DeliveryJob>, StoreError> {
        deliveries::claim_due(&self.client().await?, &self.node, now_ms, limit).await
    }

    pub async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        deliveries::next_due(&self.client().await?, &self.node).await
    }

    pub async fn nodes(&self) -> Result<Vec<NodeStatus>, StoreError> {
        leases::nodes(&self.client().await?, &self.node).await
    }

    pub async fn queue_depth(&self, now_ms: i64) -> Result<QueueDepth, StoreError> {
        deliveries::queue_depth(&self.client().await?, now_ms).await
    }

    pub async fn poll_cursor(&self, name: String) -> Result<Option<String>, StoreError> {
        poll_cursors::get(&self.client().await?, &name).await
    }

    pub async fn set_poll_cursor(&self, name: String, cursor: String) -> Result<(), StoreError> {
        poll_cursors::set(&self.client().await?, &name, &cursor).await
    }

    /// Resolves when another node announced a job that is due now.
    pub async fn jobs_announced(&self) {
        self.wakers.jobs.notified().await
    }

    /// Resolves when a node disabled or enabled a destination.
    pub async fn destinations_changed(&self) {
        self.wakers.destinations.notified().await
    }

    pub async fn record_attempt(
        &self,
        id: DeliveryId,
        attempt: Attempt,
        after: AfterAttempt,
    ) -> Result<(), StoreError> {
        self.settle(deliveries::Settled::Attempted(id, attempt, after))
            .await
    }

    pub async fn postpone(&self, id: DeliveryId, until: i64) -> Result<(), StoreError> {
        self.settle(deliveries::Settled::Postponed(id, until)).await
    }

    /// Writes what became of a leased delivery through the attempts batcher.
    async fn settle(&self, settled: deliveries::Settled) -> Result<(), StoreError> {
        let id = settled.id();
        let recorded = self.attempts.write(settled).await;
        if recorded.is_err() {
            // This node would otherwise renew the lease of a job it no longer works on; free
            // it so the job is attempted again (at least once, as promised).
            if let Err(error) = deliveries::release(&self.client().await?, &self.node, id).await {
                tracing::warn!(%error, delivery = %id, "could not release a delivery; its lease will be renewed until this node stops");
            }
        }
        recorded
    }

    pub async fn bury(&self, id: DeliveryId, reason: String) -> Result<(), StoreError> {
        deliveries::bury(&self.client().await?, id, &reason).await
    }

    pub async fn replay(&self, id: DeliveryId, now_ms: i64) -> Result<Replay, StoreError> {
        deliveries::replay(&self.pool, id, now_ms).await
    }

    pub async fn get_delivery(&self, id: DeliveryId) -> Result<Option<Delivery>, StoreError> {
        deliveries::get(&self.client().await?, id).await
    }

    pub async fn list_deliveries(&self, query: DeliveryQuery) -> Result<DeliveryPage, StoreError> {
        deliveries::list(&self.client().await?, &query).await
    }

    pub async fn disable_destination(
        &self,
        name: String,
        reason: String,
    ) -> Result<(), StoreError> {
        deliveries::disable_destination(&self.client().await?, &name, &reason).await
    }

    pub async fn enable_destination(&self, name: String) -> Result<bool, StoreError> {
        deliveries::enable_destination(&self.client().await?, &name).await
    }

    pub async fn disabled_destinations(&self) -> Result<Vec<(String, String)>, StoreError> {
        deliveries::disabled_destinations(&self.client().await?).await
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
        let check = TransitionCheck {
            step: &step,
            key: &key,
            holds,
            repage_after_ms,
            now_ms,
            event: &event,
        };
        deliveries::transition(&self.pool, &check).await
    }

    pub async fn cached_label(&self, key: String) -> Result<Option<String>, StoreError> {
        deliveries::cached_label(&self.client().await?, &key).await
    }

    pub async fn cache_label(
        &self,
        key: String,
        label: String,
        model: String,
    ) -> Result<(), StoreError> {
        deliveries::cache_label(&self.client().await?, &key, &label, &model).await
    }
}
