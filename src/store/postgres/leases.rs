//! Leases across nodes: which node may step an escalation, and the heartbeat that keeps this
//! node's leases (on escalations and deliveries) alive while it runs.
//!
//! Why leases and not row locks held for the duration: a step calls the carrier, which can
//! take seconds; holding a transaction (and a pooled connection) open across that would
//! starve the pool. A lease is a row value with an owner and an expiry, so holding one costs
//! nothing, and a node that dies simply stops renewing: one lease later its work is free.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool};
use tokio::sync::Notify;

use super::Node;
use crate::clock;
use crate::store::{EscalationId, Hold, StoreError};

/// The channel on which a node announces that it released an escalation, so a node waiting
/// to step it (e.g. for a webhook it received) tries again at once.
pub const ESCALATIONS_CHANNEL: &str = "klaxon_escalations";
/// Longest wait between two tries for a busy escalation, in case a notification is missed.
const RETRY_MAX: Duration = Duration::from_millis(250);

/// Waits until this node holds the escalation's lease.
pub async fn hold(
    pool: &Pool,
    node: &Node,
    freed: &Notify,
    id: EscalationId,
) -> Result<Hold, StoreError> {
    let mut wait = Duration::from_millis(10);
    loop {
        let notified = freed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(hold) = try_lock(&pool.get().await?, node, id).await? {
            return Ok(hold);
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(RETRY_MAX);
    }
}

/// Takes the lease if it is free, expired or already ours; `None` while another live node
/// holds it.
async fn try_lock(
    client: &impl GenericClient,
    node: &Node,
    id: EscalationId,
) -> Result<Option<Hold>, StoreError> {
    let now = clock::now_ms();
    // The old owner and expiry tell a normal hand-over (no lease: the last step ended) from
    // a take-over (a lease that ran out: its node died mid-step).
    let statement = client
        .prepare_cached(
            "WITH old AS (
                 SELECT lease_owner, lease_until FROM escalations WHERE id = $1 FOR UPDATE)
             UPDATE escalations e SET lease_owner = $2, lease_until = $3
             FROM old
             WHERE e.id = $1
               AND (old.lease_until IS NULL OR old.lease_until <= $4 OR old.lease_owner = $2)
             RETURNING old.lease_until IS NOT NULL AND old.lease_owner IS DISTINCT FROM $2",
        )
        .await?;
    let id = id.to_string();
    let row = client
        .query_opt(&statement, &[&id, &node.id, &node.lease_until(now), &now])
        .await?;
    if let Some(row) = row {
        let taken_over: bool = row.try_get(0)?;
        return Ok(Some(if taken_over {
            Hold::TakenOver
        } else {
            Hold::Clean
        }));
    }
    let exists = client
        .query_opt("SELECT 1 FROM escalations WHERE id = $1", &[&id])
        .await?
        .is_some();
    Ok(if exists { None } else { Some(Hold::Missing) })
}

/// Ends this node's lease on the escalation and tells the other nodes.
pub async fn release(pool: &Pool, node: &Node, id: EscalationId) -> Result<(), StoreError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "WITH released AS (
                 UPDATE escalations SET lease_until = NULL
                 WHERE id = $1 AND lease_owner = $2 RETURNING id)
             SELECT pg_notify($3, id) FROM released",
        )
        .await?;
    client
        .query(
            &statement,
            &[&id.to_string(), &node.id, &ESCALATIONS_CHANNEL],
        )
        .await?;
    Ok(())
}

/// Renews every lease this node holds, every third of the lease, until aborted.
pub async fn heartbeat(pool: Pool, node: Arc<Node>) {
    let every = node.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        if let Err(error) = renew(&pool, &node).await {
            tracing::warn!(%error, "could not renew this node's leases; retrying");
        }
    }
}

async fn renew(pool: &Pool, node: &Node) -> Result<(), StoreError> {
    let client = pool.get().await?;
    let until = node.lease_until(clock::now_ms());
    // SKIP LOCKED: a row locked right now is being released or recorded; waiting for it
    // could deadlock with that writer, and it does not need renewing.
    client
        .execute(
            "UPDATE deliveries SET lease_until = $2
             WHERE seq IN (
                 SELECT seq FROM deliveries
                 WHERE lease_owner = $1 AND lease_until IS NOT NULL
                   AND state IN ('pending', 'failed')
                 FOR UPDATE SKIP LOCKED)",
            &[&node.id, &until],
        )
        .await?;
    client
        .execute(
            "UPDATE escalations SET lease_until = $2
             WHERE seq IN (
                 SELECT seq FROM escalations
                 WHERE lease_owner = $1 AND lease_until IS NOT NULL
                 FOR UPDATE SKIP LOCKED)",
            &[&node.id, &until],
        )
        .await?;
    Ok(())
}
