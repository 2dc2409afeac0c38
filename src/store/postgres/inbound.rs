//! Inbound call SQL for PostgreSQL: record a call once (the unique leg decides across
//! nodes), load it, and save a transition with the events and the escalation it creates, in
//! one transaction.

use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::Row;

use super::{Node, escalations, events};
use crate::clock;
use crate::store::{
    InboundId, InboundRecord, InboundSaved, InboundUpdate, NewInboundCall, StoreError,
};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Records a new call; false when its leg was recorded before (a redelivery).
pub async fn arrived(
    client: &impl GenericClient,
    call: &NewInboundCall,
) -> Result<bool, StoreError> {
    let now = clock::now_rfc3339();
    let statement = client
        .prepare_cached(
            "INSERT INTO inbound_calls
                 (id, call_control_id, caller, called, state, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $6)
             ON CONFLICT (call_control_id) DO NOTHING",
        )
        .await?;
    let n = client
        .execute(
            &statement,
            &[
                &call.id.to_string(),
                &call.call_control_id,
                &call.caller,
                &call.called,
                &call.state,
                &now,
            ],
        )
        .await?;
    Ok(n == 1)
}

fn read(row: &Row) -> Result<InboundRecord, StoreError> {
    let id: String = row.try_get(0)?;
    let escalation: Option<String> = row.try_get(5)?;
    Ok(InboundRecord {
        id: id.parse().map_err(|e| corrupt("inbound call id", e))?,
        call_control_id: row.try_get(1)?,
        caller: row.try_get(2)?,
        state: row.try_get(3)?,
        status: row.try_get(4)?,
        escalation: escalation
            .map(|e| e.parse().map_err(|e| corrupt("escalation id", e)))
            .transpose()?,
    })
}

/// The call by our id, by its leg, or by the escalation it started.
pub async fn find(
    client: &impl GenericClient,
    column: &'static str,
    value: &str,
) -> Result<Option<InboundRecord>, StoreError> {
    let sql = format!(
        "SELECT id, call_control_id, caller, state, status, escalation_id
         FROM inbound_calls WHERE {column} = $1"
    );
    let statement = client.prepare_cached(&sql).await?;
    client
        .query_opt(&statement, &[&value])
        .await?
        .as_ref()
        .map(read)
        .transpose()
}

/// Saves a transition in one transaction; inserts its events, then its escalation (leased
/// to this node, which starts it at once).
pub async fn save(
    pool: &Pool,
    node: &Node,
    update: &InboundUpdate,
) -> Result<InboundSaved, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let mut saved = InboundSaved::default();
    for event in &update.events {
        if let Some(id) = events::insert_one(&tx, event).await? {
            saved.events.push(id);
        }
    }
    if let Some(escalation) = &update.escalation {
        saved.escalation =
            escalations::insert(&tx, node, std::slice::from_ref(escalation), clock::now_ms())
                .await?
                .into_iter()
                .next();
    }
    let now = clock::now_rfc3339();
    let statement = tx
        .prepare_cached(
            "UPDATE inbound_calls SET state = $2, status = $3, updated_at = $4,
                 ended_at = CASE WHEN $5 THEN COALESCE(ended_at, $4) ELSE ended_at END,
                 escalation_id = COALESCE(escalation_id, $6)
             WHERE id = $1",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &update.id.to_string(),
            &update.state,
            &update.status,
            &now,
            &update.ended,
            &saved.escalation.map(|e| e.to_string()),
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(saved)
}

/// Calls still waiting on an escalation, for the check after a restart.
pub async fn waiting(client: &impl GenericClient) -> Result<Vec<InboundId>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT id FROM inbound_calls
             WHERE status = 'active' AND escalation_id IS NOT NULL ORDER BY created_at",
        )
        .await?;
    client
        .query(&statement, &[])
        .await?
        .iter()
        .map(|row| {
            let id: String = row.try_get(0)?;
            id.parse().map_err(|e| corrupt("inbound call id", e))
        })
        .collect()
}
