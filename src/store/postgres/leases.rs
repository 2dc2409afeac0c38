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
use crate::store::{EscalationId, StoreError};

/// The channel on which a node announces that it released an escalation, so a node waiting
/// to step it (e.g. for a webhook it received) tries again at once.
pub const ESCALATIONS_CHANNEL: &str = "klaxon_escalations";
/// Longest wait between two tries for a busy escalation, in case a notification is missed.
const RETRY_MAX: Duration = Duration::from_millis(250);

enum Lock {
    Acquired,
    Busy,
    Missing,
}

/// Waits until this node holds the escalation's lease; false if it does not exist.
pub async fn hold(
    pool: &Pool,
    node: &Node,
    freed: &Notify,
    id: EscalationId,
) -> Result<bool, StoreError> {
    let mut wait = Duration::from_millis(10);
    loop {
        let notified = freed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        match try_lock(&pool.get().await?, node, id).await? {
            Lock::Acquired => return Ok(true),
            Lock::Missing => return Ok(false),
            Lock::Busy => {}
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(RETRY_MAX);
    }
}

async fn try_lock(
    client: &impl GenericClient,
    node: &Node,
    id: EscalationId,
) -> Result<Lock, StoreError> {
    let now = clock::now_ms();
    let statement = client
        .prepare_cached(
            "UPDATE escalations SET lease_owner = $2, lease_until = $3
             WHERE id = $1 AND (lease_until IS NULL OR lease_until <= $4 OR lease_owner = $2)",
        )
        .await?;
    let id = id.to_string();
    let updated = client
        .execute(&statement, &[&id, &node.id, &node.lease_until(now), &now])
        .await?;
    if updated == 1 {
        return Ok(Lock::Acquired);
    }
    let exists = client
        .query_opt("SELECT 1 FROM escalations WHERE id = $1", &[&id])
        .await?
        .is_some();
    Ok(if exists { Lock::Busy } else { Lock::Missing })
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
    client
        .execute(
            "UPDATE deliveries SET lease_until = $2
             WHERE lease_owner = $1 AND lease_until IS NOT NULL
               AND state IN ('pending', 'failed')",
            &[&node.id, &until],
        )
        .await?;
    client
        .execute(
            "UPDATE escalations SET lease_until = $2
             WHERE lease_owner = $1 AND lease_until IS NOT NULL",
            &[&node.id, &until],
        )
        .await?;
    Ok(())
}
