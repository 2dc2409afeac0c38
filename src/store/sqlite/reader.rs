//! Read connections and the read queries.
//!
//! A tiny pool: a mutex-guarded stack of connections, each used on a blocking thread. A
//! handful of connections and no health checks, so a crate would add more than it saves.

use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Row};
use serde_json::value::RawValue;
use tokio::sync::Semaphore;

use crate::store::{Cursor, Event, EventId, EventPage, EventQuery, StoreError};

pub struct ReaderPool {
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection, so a caller waits for a free connection instead of failing.
    permits: Semaphore,
}

impl ReaderPool {
    pub fn new(connections: Vec<Connection>) -> ReaderPool {
        ReaderPool {
            permits: Semaphore::new(connections.len()),
            idle: Mutex::new(connections),
        }
    }

    /// Runs `f` with a connection on the blocking thread pool.
    pub async fn with<T, F>(self: &std::sync::Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pool = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let conn = pool.take().ok_or(StoreError::Closed)?;
            let result = f(&conn);
            pool.put(conn);
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?;
        drop(permit);
        result
    }

    fn take(&self) -> Option<Connection> {
        self.idle.lock().ok()?.pop()
    }

    fn put(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }
}

const EVENT_COLUMNS: &str =
    "seq, id, type, source, payload, occurred_at, received_at, idempotency_key";

pub fn get_event(conn: &Connection, id: EventId) -> Result<Option<Event>, StoreError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1");
    let row = conn
        .prepare_cached(&sql)?
        .query_row([id.to_string()], |row| Ok(read_event(row)))
        .optional()?;
    row.map(|r| r.map(|(_, event)| event)).transpose()
}

pub fn list_events(conn: &Connection, query: &EventQuery) -> Result<EventPage, StoreError> {
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
    // The cursor of a page is the position of its last (oldest) row, given only when the
    // extra row shows there is more.
    let more = data.len() > query.limit;
    data.truncate(query.limit);
    let next_cursor = more
        .then(|| data.last().map(|(seq, _)| Cursor(*seq).to_string()))
        .flatten();
    Ok(EventPage {
        data: data.into_iter().map(|(_, e)| e).collect(),
        next_cursor,
    })
}

fn read_event(row: &Row<'_>) -> Result<(i64, Event), StoreError> {
    let payload: String = row.get(4)?;
    let payload = RawValue::from_string(payload).map_err(|e| {
        StoreError::Corrupt(format!(
            "payload of event {:?}: {e}",
            row.get::<_, String>(1)
        ))
    })?;
    Ok((
        row.get(0)?,
        Event {
            id: row.get(1)?,
            event_type: row.get(2)?,
            source: row.get(3)?,
            payload,
            occurred_at: row.get(5)?,
            received_at: row.get(6)?,
            idempotency_key: row.get(7)?,
        },
    ))
}
