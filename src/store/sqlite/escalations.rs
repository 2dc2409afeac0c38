//! Escalation SQL: create with the pipeline result, load and save the machine state with its
//! timeline, map call legs back to escalations, and dedupe carrier webhooks.

use rusqlite::{Connection, OptionalExtension, Row, Transaction};
use serde_json::value::RawValue;

use super::deliveries::conversion_error;
use crate::clock;
use crate::store::{
    Cursor, Escalation, EscalationId, EscalationPage, EscalationRecord, EscalationUpdate, EventId,
    Inserted, NewEscalation, StoreError, TimelineEntry,
};

/// Inserts escalations; an existing (event, destination) pair is skipped. Returns the ids
/// created.
pub fn insert(
    tx: &Transaction<'_>,
    escalations: &[NewEscalation],
) -> rusqlite::Result<Vec<EscalationId>> {
    let now = clock::now_rfc3339();
    let mut statement = tx.prepare_cached(
        "INSERT INTO escalations
             (id, event_id, pipeline, destination, policy, plan, state, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'active', ?8, ?8)
         ON CONFLICT (event_id, destination) DO NOTHING",
    )?;
    let mut created = Vec::with_capacity(escalations.len());
    for e in escalations {
        let n = statement.execute((
            e.id.to_string(),
            e.event_id.to_string(),
            &e.pipeline,
            &e.destination,
            &e.policy,
            &e.plan,
            &e.state,
            &now,
        ))?;
        if n == 1 {
            created.push(e.id);
        }
    }
    Ok(created)
}

pub fn load(conn: &Connection, id: EscalationId) -> Result<Option<EscalationRecord>, StoreError> {
    let record = conn
        .prepare_cached("SELECT id, event_id, plan, state, status FROM escalations WHERE id = ?1")?
        .query_row([id.to_string()], |row| {
            Ok(EscalationRecord {
                id: row.get::<_, String>(0)?.parse().map_err(conversion_error)?,
                event_id: row.get(1)?,
                plan: row.get(2)?,
                state: row.get(3)?,
                status: row.get(4)?,
            })
        })
        .optional()?;
    Ok(record)
}

/// Ids of escalations still running and unchanged since `before` (RFC 3339; `None`: any),
/// oldest first: resumed at start-up, and checked when they have gone quiet.
pub fn active(conn: &Connection, before: Option<&str>) -> Result<Vec<EscalationId>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id FROM escalations
         WHERE status = 'active' AND (?1 IS NULL OR updated_at < ?1) ORDER BY seq",
    )?;
    let rows = statement.query_map([before], |row| {
        row.get::<_, String>(0)?.parse().map_err(conversion_error)
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Saves a transition; returns the events actually created ((source, key) is unique).
pub fn save(tx: &Transaction<'_>, update: &EscalationUpdate) -> rusqlite::Result<Vec<EventId>> {
    let now = clock::now_rfc3339();
    let id = update.id.to_string();
    tx.prepare_cached(
        "UPDATE escalations SET state = ?2, status = ?3, updated_at = ?4,
             ended_at = CASE WHEN ?5 THEN COALESCE(ended_at, ?4) ELSE ended_at END
         WHERE id = ?1",
    )?
    .execute((&id, &update.state, &update.status, &now, update.ended))?;
    if !update.timeline.is_empty() {
        let next: i64 = tx
            .prepare_cached(
                "SELECT COALESCE(MAX(n), 0) + 1 FROM escalation_timeline WHERE escalation_id = ?1",
            )?
            .query_row([&id], |row| row.get(0))?;
        let mut statement = tx.prepare_cached(
            "INSERT INTO escalation_timeline (escalation_id, n, at, kind, detail)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (i, entry) in update.timeline.iter().enumerate() {
            statement.execute((
                &id,
                next + i as i64,
                &entry.at,
                &entry.kind,
                entry.detail.to_string(),
            ))?;
        }
    }
    let mut statement = tx.prepare_cached(
        "INSERT OR IGNORE INTO call_legs (call_control_id, escalation_id, attempt, leg, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for leg in &update.new_legs {
        statement.execute((&leg.call_control_id, &id, leg.attempt, leg.leg, &now))?;
        super::dials::placed(tx, &id, leg)?;
    }
    let mut created = Vec::new();
    for event in &update.events {
        if let Inserted::Created(id) = super::events::insert(tx, event)? {
            created.push(id);
        }
    }
    Ok(created)
}

/// Records a carrier webhook (id and body, until processed); false when it was seen before.
pub fn first_sight(tx: &Transaction<'_>, webhook_id: &str, body: &str) -> rusqlite::Result<bool> {
    Ok(tx
        .prepare_cached(
            "INSERT OR IGNORE INTO voice_webhooks (id, received_at, body) VALUES (?1, ?2, ?3)",
        )?
        .execute((webhook_id, clock::now_rfc3339(), body))?
        == 1)
}

/// Marks a webhook acted upon and drops its body.
pub fn processed(tx: &Transaction<'_>, webhook_id: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE voice_webhooks SET processed_at = ?2, body = NULL WHERE id = ?1")?
        .execute((webhook_id, clock::now_rfc3339()))?;
    Ok(())
}

/// Bodies of webhooks received but not acted upon, oldest first.
pub fn unprocessed(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, body FROM voice_webhooks
         WHERE processed_at IS NULL AND body IS NOT NULL ORDER BY received_at",
    )?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The escalation, attempt and leg of a call control id.
pub fn find_leg(
    conn: &Connection,
    call_control_id: &str,
) -> Result<Option<(EscalationId, u32, String)>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT escalation_id, attempt, leg FROM call_legs WHERE call_control_id = ?1",
        )?
        .query_row([call_control_id], |row| {
            Ok((
                row.get::<_, String>(0)?.parse().map_err(conversion_error)?,
                row.get(1)?,
                row.get(2)?,
            ))
        })
        .optional()?)
}

const COLUMNS: &str = "seq, id, event_id, pipeline, destination, policy, status, state, \
     created_at, updated_at, ended_at";

fn read(row: &Row<'_>) -> rusqlite::Result<(i64, Escalation)> {
    let state: String = row.get(7)?;
    Ok((
        row.get(0)?,
        Escalation {
            id: row.get(1)?,
            event_id: row.get(2)?,
            pipeline: row.get(3)?,
            destination: row.get(4)?,
            policy: row.get(5)?,
            status: row.get(6)?,
            state: RawValue::from_string(state).map_err(conversion_error)?,
            created_at: row.get(8)?,
            updated_at: row.get(9)?,
            ended_at: row.get(10)?,
            timeline: None,
        },
    ))
}

pub fn get(conn: &Connection, id: EscalationId) -> Result<Option<Escalation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM escalations WHERE id = ?1");
    let Some((_, mut escalation)) = conn
        .prepare_cached(&sql)?
        .query_row([id.to_string()], read)
        .optional()?
    else {
        return Ok(None);
    };
    let mut statement = conn.prepare_cached(
        "SELECT at, kind, detail FROM escalation_timeline WHERE escalation_id = ?1 ORDER BY n",
    )?;
    let timeline = statement
        .query_map([id.to_string()], |row| {
            let detail: String = row.get(2)?;
            Ok(TimelineEntry {
                at: row.get(0)?,
                kind: row.get(1)?,
                detail: serde_json::from_str(&detail).map_err(conversion_error)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    escalation.timeline = Some(timeline);
    Ok(Some(escalation))
}

pub fn list(
    conn: &Connection,
    status: Option<&str>,
    after: Option<Cursor>,
    limit: usize,
) -> Result<EscalationPage, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM escalations
         WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR seq < ?2)
         ORDER BY seq DESC LIMIT ?3"
    );
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement
        .query_map((status, after.map(|c| c.0), fetch), read)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let (data, next_cursor) = super::paginate(rows, limit);
    Ok(EscalationPage { data, next_cursor })
}
