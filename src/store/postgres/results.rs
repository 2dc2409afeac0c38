//! Pipeline results for PostgreSQL, committed in batches: each event's trace, its deliveries
//! and its escalations. One transaction (one WAL flush) carries many events' results, so the
//! pipeline path costs a few statements per batch instead of a transaction per event.

use std::collections::HashSet;
use std::sync::Arc;

use deadpool_postgres::Pool;

use super::{Node, deliveries, escalations, events};
use crate::store::{DeliveryId, EscalationId, EventId, NewDelivery, NewEscalation, StoreError};

/// One event's pipeline result, waiting for its batch.
#[derive(Clone)]
pub struct PipelineResult {
    pub event: EventId,
    pub trace: String,
    pub deliveries: Vec<NewDelivery>,
    pub escalations: Vec<NewEscalation>,
    pub now_ms: i64,
}

/// What one result created: a re-run (on any node) creates nothing twice.
pub type Created = (Vec<DeliveryId>, Vec<EscalationId>);

/// Commits a batch of results in one transaction; answers each with what it created.
pub async fn commit_batch(
    pool: Pool,
    node: Arc<Node>,
    batch: Vec<PipelineResult>,
) -> Result<Vec<Created>, StoreError> {
    let now_ms = batch.iter().map(|r| r.now_ms).max().unwrap_or_default();
    let traces: Vec<(EventId, &str)> = batch.iter().map(|r| (r.event, r.trace.as_str())).collect();
    let new_deliveries: Vec<NewDelivery> = batch
        .iter()
        .flat_map(|r| r.deliveries.iter().cloned())
        .collect();
    let new_escalations: Vec<NewEscalation> = batch
        .iter()
        .flat_map(|r| r.escalations.iter().cloned())
        .collect();
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    events::complete_pipelines(&tx, &traces).await?;
    let delivered: HashSet<DeliveryId> = deliveries::insert(&tx, &node, &new_deliveries, now_ms)
        .await?
        .into_iter()
        .collect();
    let escalated: HashSet<EscalationId> =
        escalations::insert(&tx, &node, &new_escalations, now_ms)
            .await?
            .into_iter()
            .collect();
    tx.commit().await?;
    Ok(batch
        .iter()
        .map(|r| {
            (
                r.deliveries
                    .iter()
                    .map(|d| d.id)
                    .filter(|id| delivered.contains(id))
                    .collect(),
                r.escalations
                    .iter()
                    .map(|e| e.id)
                    .filter(|id| escalated.contains(id))
                    .collect(),
            )
        })
        .collect())
}
