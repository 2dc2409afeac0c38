//! Event SQL: insert (idempotent), read, list, and the pipeline's pending/done marks.

use rusqlite::{Connection, OptionalExtension, Row, Transaction};
use serde_json::value::RawValue;

use crate::store::{
    Event, EventId, EventPage, EventQuery, Inserted, NewEvent, PendingEvent, StoreError,
};

/// Inserts unless the (source, key) pair exists; then compares request hashes.
pub fn insert(tx: &Transaction<'_>, event: &NewEvent) -> rusqlite::Result<Inserted> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO events
                 (id, source, type, payload, occurred_at, received_at, idempotency_key,
                  request_hash, pipeline_state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (source, idempotency_key) DO NOTHING",
        )?
        .execute((
            event.id.to_string(),
            event.source.as_str(),
            &event.event_type,
            &event.payload,
            &event.occurred_at,
            &event.received_at,
            &event.idempotency_key,
            &event.request_hash,
            event.pipeline_pending.then_some("pending"),
        ))?;
    if inserted == 1 {
        return Ok(Inserted::Created(event.id));
    }
    let existing: Option<(String, String)> = tx
        .prepare_cached(
            "SELECT id, request_hash FROM events WHERE source = ?1 AND idempotency_key = ?2",
        )?
        .query_row((event.source.as_str(), &event.idempotency_key), |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let Some((id, hash)) = existing else {
        // ON CONFLICT only fires on the (source, key) constraint, so the row must exist.
        return Err(rusqlite::Error::QueryReturnedNoRows);
    };
    let id: EventId = id.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(if hash == event.request_hash {
        Inserted::Duplicate(id)
    } else {
        Inserted::Conflict(id)
    })
}

/// Records the pipeline trace and marks the event done.
pub fn complete_pipeline(tx: &Transaction<'_>, id: EventId, trace: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE events SET pipeline_state = 'done', pipeline = ?2 WHERE id = ?1")?
        .execute((id.to_string(), trace))?;
    Ok(())
}

/// Events still waiting for their pipeline, oldest first, after position `after`.
pub fn pending(
    conn: &Connection,
    after: i64,
    limit: usize,
) -> Result<Vec<(i64, PendingEvent)>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT seq, id, type, payload, occurred_at, source = 'klaxon' FROM events
         WHERE pipeline_state = 'pending' AND seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = statement.query_map((after, i64::try_from(limit).unwrap_or(i64::MAX)), |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, String>(4)?,
            row.get::<_, bool>(5)?,
        ))
    })?;
    let mut pending = Vec::new();
    for row in rows {
        let (seq, id, event_type, payload, occurred_at, from_klaxon) = row?;
        let id = id
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("event id {id:?}: {e}")))?;
        pending.push((
            seq,
            PendingEvent {
                id,
                event_type,
                payload,
                occurred_at,
                from_klaxon,
            },
        ));
    }
    Ok(pending)
}

const EVENT_COLUMNS: &str = "seq, id, type, source, payload, occurred_at, received_at, \
     idempotency_key, pipeline_state, pipeline";

pub fn get(conn: &Connection, id: EventId) -> Result<Option<Event>, StoreError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1");
    let row = conn
        .prepare_cached(&sql)?
        .query_row([id.to_string()], |row| Ok(read_event(row)))
        .optional()?;
    row.map(|r| r.map(|(_, event)| event)).transpose()
}

pub fn list(conn: &Connection, query: &EventQuery) -> Result<EventPage, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events
         WHERE (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR seq < ?2)
         ORDER BY seq DESC LIMIT ?3"
    );
    // One row more than asked tells whether another page exists.
    let fetch = i64::try_from(query.limit + 1).unwrap_or(i64::MAX);
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(
        (&query.event_type, query.after.map(|c| c.0), fetch),
        |row| Ok(read_event(row)),
    )?;
    let mut data = Vec::with_capacity(query.limit + 1);
    for row in rows {
        data.push(row??);
    }
    let (data, next_cursor) = super::paginate(data, query.limit);
    Ok(EventPage { data, next_cursor })
}

fn read_event(row: &Row<'_>) -> Result<(i64, Event), StoreError> {
    let id: String = row.get(1)?;
    let json = |text: String, what: &str| {
        RawValue::from_string(text)
            .map_err(|e| StoreError::Corrupt(format!("{what} of event {id:?}: {e}")))
    };
    let payload = json(row.get(4)?, "payload")?;
    let pipeline = row
        .get::<_, Option<String>>(9)?
        .map(|t| json(t, "pipeline trace"))
        .transpose()?;
    Ok((
        row.get(0)?,
        Event {
            id: id.clone(),
            event_type: row.get(2)?,
            source: row.get(3)?,
            payload,
            occurred_at: row.get(5)?,
            received_at: row.get(6)?,
            idempotency_key: row.get(7)?,
            pipeline_state: row.get(8)?,
            pipeline,
        },
    ))
}
