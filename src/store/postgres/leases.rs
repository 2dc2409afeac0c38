//! Leases across nodes: which node may step an escalation, this node's liveness (through
//! which it holds its deliveries), and the heartbeat that renews both while it runs.
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
use crate::store::{EscalationId, Hold, NodeStatus, StoreError};

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

/// Records this node as alive for one lease. Called once at start, before it claims anything.
pub async fn register(client: &impl GenericClient, node: &Node) -> Result<(), StoreError> {
    let now = clock::now_ms();
    client
        .execute(
            "INSERT INTO nodes (id, alive_until, started_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET alive_until = excluded.alive_until",
            &[&node.id, &node.lease_until(now), &clock::ms_to_rfc3339(now)],
        )
        .await?;
    Ok(())
}

/// Marks this node dead now (a clean stop): whatever it still holds is free at once.
pub async fn retire(client: &impl GenericClient, node: &Node) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE nodes SET alive_until = $2 WHERE id = $1",
            &[&node.id, &clock::now_ms()],
        )
        .await?;
    Ok(())
}

/// Every node the database remembers, oldest first, with what it holds now.
pub async fn nodes(
    client: &impl GenericClient,
    node: &Node,
) -> Result<Vec<NodeStatus>, StoreError> {
    let now = clock::now_ms();
    // A delivery is held through its node's liveness; an escalation by its own lease.
    let statement = client
        .prepare_cached(
            "SELECT n.id, n.started_at, n.alive_until,
                    (SELECT COUNT(*) FROM deliveries d
                     WHERE d.lease_owner = n.id AND d.state IN ('pending', 'failed')),
                    (SELECT COUNT(*) FROM escalations e
                     WHERE e.lease_owner = n.id AND e.lease_until > $1)
             FROM nodes n ORDER BY n.started_at, n.id",
        )
        .await?;
    client
        .query(&statement, &[&now])
        .await?
        .iter()
        .map(|row| {
            let id: String = row.try_get(0)?;
            let alive_until: i64 = row.try_get(2)?;
            Ok(NodeStatus {
                this_node: id == node.id,
                id,
                started_at: row.try_get(1)?,
                alive_until: Some(clock::ms_to_rfc3339(alive_until)),
                alive: alive_until > now,
                deliveries_held: row.try_get::<_, i64>(3)?.try_into().unwrap_or(0),
                escalations_held: row.try_get::<_, i64>(4)?.try_into().unwrap_or(0),
            })
        })
        .collect()
}

/// Renews this node's liveness and its escalation leases every third of the lease, until
/// aborted.
pub async fn heartbeat(pool: Pool, node: Arc<Node>) {
    let every = node.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        if let Err(error) = renew(&pool, &node).await {
            tracing::warn!(%error, "could not renew this node's leases; retrying");
        }
    }
}

/// How long a dead node's row is kept, so an operator can still see which node held what.
const FORGET_DEAD_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

async fn renew(pool: &Pool, node: &Node) -> Result<(), StoreError> {
    let client = pool.get().await?;
    let now = clock::now_ms();
    let until = node.lease_until(now);
    // One row, whatever this node holds: its deliveries are held through it.
    let renewed = client
        .query_opt(
            "WITH old AS (SELECT alive_until FROM nodes WHERE id = $1)
             UPDATE nodes SET alive_until = $2 FROM old WHERE nodes.id = $1
             RETURNING old.alive_until",
            &[&node.id, &until],
        )
        .await?;
    match renewed.map(|row| row.try_get::<_, i64>(0)).transpose()? {
        Some(was) if was > now => {}
        // Paused for longer than a lease (or forgotten): other nodes may have claimed what
        // this one held, so an attempt in flight here may be made twice (at least once).
        lapsed => {
            tracing::warn!(node = %node.id, "this node's lease had run out; other nodes may have taken over its deliveries");
            if lapsed.is_none() {
                register(&client, node).await?;
            }
        }
    }
    client
        .execute(
            "DELETE FROM nodes WHERE alive_until < $1",
            &[&(now - FORGET_DEAD_AFTER_MS)],
        )
        .await?;
    // Escalations are few and each is leased on its own, because a step's hold is what
    // tells a normal hand-over from a take-over (see `try_lock`).
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
