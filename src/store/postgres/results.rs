//! Pipeline results for PostgreSQL, committed in batches: each event's trace, its deliveries
//! and its escalations. One commit (one WAL flush) carries many events' results: a batch
//! without escalations is a single statement, one with them a short transaction.

use std::collections::HashSet;
use std::sync::Arc;

use deadpool_postgres::Pool;

use super::{Node, deliveries, escalations};
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
    // The common batch (no escalation) is one statement: one round trip, one commit.
    let (delivered, escalated) = if new_escalations.is_empty() {
        let delivered = deliveries::insert(&client, &node, &new_deliveries, &traces, now_ms);
        (delivered.await?, Vec::new())
    } else {
        let tx = client.transaction().await?;
        let delivered = deliveries::insert(&tx, &node, &new_deliveries, &traces, now_ms).await?;
        let escalated = escalations::insert(&tx, &node, &new_escalations, now_ms).await?;
        tx.commit().await?;
        (delivered, escalated)
    };
    let delivered: HashSet<DeliveryId> = delivered.into_iter().collect();
    let escalated: HashSet<EscalationId> = escalated.into_iter().collect();
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
