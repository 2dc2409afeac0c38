//! Inbound call SQL for SQLite: record a call once, load it, and save a transition with the
//! events and the escalation it creates, in one transaction.

use rusqlite::{Connection, OptionalExtension, Row, Transaction};

use super::deliveries::conversion_error;
use crate::clock;
use crate::store::{
    InboundId, InboundRecord, InboundSaved, InboundUpdate, Inserted, NewInboundCall, StoreError,
};

/// Records a new call; false when its leg was recorded before (a redelivery).
pub fn arrived(tx: &Transaction<'_>, call: &NewInboundCall) -> rusqlite::Result<bool> {
    let now = clock::now_rfc3339();
    Ok(tx
        .prepare_cached(
            "INSERT INTO inbound_calls
                 (id, call_control_id, caller, called, state, status, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?6)
             ON CONFLICT (call_control_id) DO NOTHING",
        )?
        .execute((
            call.id.to_string(),
            &call.call_control_id,
            &call.caller,
            &call.called,
            &call.state,
            &now,
        ))?
        == 1)
}

const COLUMNS: &str = "id, call_control_id, caller, state, status, escalation_id";

fn read(row: &Row<'_>) -> rusqlite::Result<InboundRecord> {
    let escalation: Option<String> = row.get(5)?;
    Ok(InboundRecord {
        id: row.get::<_, String>(0)?.parse().map_err(conversion_error)?,
        call_control_id: row.get(1)?,
        caller: row.get(2)?,
        state: row.get(3)?,
        status: row.get(4)?,
        escalation: escalation
            .map(|e| e.parse().map_err(conversion_error))
            .transpose()?,
    })
}

/// The call by our id, by its leg, or by the escalation it started.
pub fn find(
    conn: &Connection,
    column: &'static str,
    value: &str,
) -> Result<Option<InboundRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM inbound_calls WHERE {column} = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([value], read)
        .optional()?)
}

/// Saves a transition; inserts its events, then its escalation (which needs its event).
pub fn save(tx: &Transaction<'_>, update: &InboundUpdate) -> rusqlite::Result<InboundSaved> {
    let mut saved = InboundSaved::default();
    for event in &update.events {
        if let Inserted::Created(id) = super::events::insert(tx, event)? {
            saved.events.push(id);
        }
    }
    if let Some(escalation) = &update.escalation {
        saved.escalation = super::escalations::insert(tx, std::slice::from_ref(escalation))?
            .into_iter()
            .next();
    }
    let now = clock::now_rfc3339();
    tx.prepare_cached(
        "UPDATE inbound_calls SET state = ?2, status = ?3, updated_at = ?4,
             ended_at = CASE WHEN ?5 THEN COALESCE(ended_at, ?4) ELSE ended_at END,
             escalation_id = COALESCE(escalation_id, ?6)
         WHERE id = ?1",
    )?
    .execute((
        update.id.to_string(),
        &update.state,
        &update.status,
        &now,
        update.ended,
        saved.escalation.map(|e| e.to_string()),
    ))?;
    Ok(saved)
}

/// Calls still waiting on an escalation, for the check after a restart.
pub fn waiting(conn: &Connection) -> Result<Vec<InboundId>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id FROM inbound_calls
         WHERE status = 'active' AND escalation_id IS NOT NULL ORDER BY created_at",
    )?;
    let rows = statement.query_map([], |row| {
        row.get::<_, String>(0)?.parse().map_err(conversion_error)
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}
