//! Event SQL for PostgreSQL: batched idempotent insert, read, list, and the pipeline's
//! pending/done marks.

use std::collections::{HashMap, HashSet};

use deadpool_postgres::{GenericClient, Pool};
use serde_json::value::RawValue;
use tokio_postgres::Row;

use crate::store::{
    Event, EventId, EventPage, EventQuery, Inserted, NewEvent, PendingEvent, StoreError,
};

/// Inserts one event within the caller's transaction (an escalation's transition records its
/// events so); `None` when its (source, key) is taken: the earlier event stands, nothing new
/// is stored.
pub async fn insert_one(
    client: &impl GenericClient,
    event: &NewEvent,
) -> Result<Option<EventId>, StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO events
                 (id, source, type, payload, occurred_at, received_at, idempotency_key,
                  request_hash, pipeline_state)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (source, idempotency_key) DO NOTHING",
        )
        .await?;
    let inserted = client
        .execute(
            &statement,
            &[
                &event.id.to_string(),
                &event.source.as_str(),
                &event.event_type,
                &event.payload,
                &event.occurred_at,
                &event.received_at,
                &event.idempotency_key,
                &event.request_hash,
                &event.pipeline_pending.then_some("pending"),
            ],
        )
        .await?;
    Ok((inserted == 1).then_some(event.id))
}

/// Inserts a batch of events in one statement; for each, whether it was created or which
/// earlier event holds its (source, key). The unique (source, idempotency_key) constraint
/// decides across nodes, so a retry sent to another node is still a duplicate.
pub async fn insert_batch(pool: Pool, events: Vec<NewEvent>) -> Result<Vec<Inserted>, StoreError> {
    let client = pool.get().await?;
    // Rows are inserted in key order: two batches that share keys then lock them in the same
    // order and cannot deadlock.
    let mut order: Vec<&NewEvent> = events.iter().collect();
    order.sort_by(|a, b| {
        (a.source.as_str(), &a.idempotency_key).cmp(&(b.source.as_str(), &b.idempotency_key))
    });
    let column = |f: fn(&NewEvent) -> String| order.iter().map(|e| f(e)).collect::<Vec<_>>();
    let ids = column(|e| e.id.to_string());
    let sources = column(|e| e.source.as_str().to_owned());
    let types = column(|e| e.event_type.clone());
    let payloads = column(|e| e.payload.clone());
    let occurred = column(|e| e.occurred_at.clone());
    let received = column(|e| e.received_at.clone());
    let hashes = column(|e| e.request_hash.clone());
    let keys: Vec<Option<&str>> = order.iter().map(|e| e.idempotency_key.as_deref()).collect();
    let pending: Vec<Option<&str>> = order
        .iter()
        .map(|e| e.pipeline_pending.then_some("pending"))
        .collect();
    let statement = client
        .prepare_cached(
            "INSERT INTO events
                 (id, source, type, payload, occurred_at, received_at, idempotency_key,
                  request_hash, pipeline_state)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::text[], $7::text[], $8::text[], $9::text[])
             ON CONFLICT (source, idempotency_key) DO NOTHING
             RETURNING id",
        )
        .await?;
    let rows = client
        .query(
            &statement,
            &[
                &ids, &sources, &types, &payloads, &occurred, &received, &keys, &hashes, &pending,
            ],
        )
        .await?;
    let created = rows
        .iter()
        .map(|row| row.try_get::<_, String>(0))
        .collect::<Result<HashSet<_>, _>>()?;

    // The rest collided with an earlier event (maybe in this very batch): find it.
    let taken: Vec<&NewEvent> = events
        .iter()
        .filter(|e| !created.contains(&e.id.to_string()))
        .collect();
    let mut existing = HashMap::new();
    if !taken.is_empty() {
        let sources: Vec<&str> = taken.iter().map(|e| e.source.as_str()).collect();
        let keys: Vec<Option<&str>> = taken.iter().map(|e| e.idempotency_key.as_deref()).collect();
        let statement = client
            .prepare_cached(
                "SELECT e.source, e.idempotency_key, e.id, e.request_hash
                 FROM UNNEST($1::text[], $2::text[]) AS k(source, key)
                 JOIN events e ON e.source = k.source AND e.idempotency_key = k.key",
            )
            .await?;
        for row in client.query(&statement, &[&sources, &keys]).await? {
            existing.insert(
                (row.try_get::<_, String>(0)?, row.try_get::<_, String>(1)?),
                (row.try_get::<_, String>(2)?, row.try_get::<_, String>(3)?),
            );
        }
    }
    events
        .iter()
        .map(|event| {
            if created.contains(&event.id.to_string()) {
                return Ok(Inserted::Created(event.id));
            }
            let key = (
                event.source.as_str().to_owned(),
                event.idempotency_key.clone().unwrap_or_default(),
            );
            let Some((id, hash)) = existing.get(&key) else {
                return Err(StoreError::Corrupt(format!(
                    "event {} was neither stored nor a duplicate",
                    event.id
                )));
            };
            let id: EventId = id
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("event id {id:?}: {e}")))?;
            Ok(if *hash == event.request_hash {
                Inserted::Duplicate(id)
            } else {
                Inserted::Conflict(id)
            })
        })
        .collect()
}

/// Events still waiting for their pipeline, oldest first, after position `after`, and (when
/// given) received before `received_before` (RFC 3339).
pub async fn pending(
    client: &impl GenericClient,
    after: i64,
    limit: usize,
    received_before: Option<&str>,
) -> Result<Vec<(i64, PendingEvent)>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT seq, id, type, payload, occurred_at, source = 'klaxon' FROM events
             WHERE pipeline_state = 'pending' AND seq > $1
               AND ($3::text IS NULL OR received_at < $3)
             ORDER BY seq LIMIT $2",
        )
        .await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(&statement, &[&after, &limit, &received_before])
        .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(1)?;
            Ok((
                row.try_get(0)?,
                PendingEvent {
                    id: id
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("event id {id:?}: {e}")))?,
                    event_type: row.try_get(2)?,
                    payload: row.try_get(3)?,
                    occurred_at: row.try_get(4)?,
                    from_klaxon: row.try_get(5)?,
                },
            ))
        })
        .collect()
}

const EVENT_COLUMNS: &str = "seq, id, type, source, payload, occurred_at, received_at, \
     idempotency_key, pipeline_state, pipeline";

pub async fn get(client: &impl GenericClient, id: EventId) -> Result<Option<Event>, StoreError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
    let statement = client.prepare_cached(&sql).await?;
    let row = client.query_opt(&statement, &[&id.to_string()]).await?;
    row.map(|row| read_event(&row).map(|(_, event)| event))
        .transpose()
}

pub async fn list(
    client: &impl GenericClient,
    query: &EventQuery,
) -> Result<EventPage, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events
         WHERE ($1::text IS NULL OR type = $1) AND ($2::bigint IS NULL OR seq < $2)
         ORDER BY seq DESC LIMIT $3"
    );
    let fetch = i64::try_from(query.limit + 1).unwrap_or(i64::MAX);
    let statement = client.prepare_cached(&sql).await?;
    let rows = client
        .query(
            &statement,
            &[&query.event_type, &query.after.map(|c| c.0), &fetch],
        )
        .await?;
    let data = rows.iter().map(read_event).collect::<Result<Vec<_>, _>>()?;
    let (data, next_cursor) = crate::store::paginate(data, query.limit);
    Ok(EventPage { data, next_cursor })
}

fn read_event(row: &Row) -> Result<(i64, Event), StoreError> {
    let id: String = row.try_get(1)?;
    let json = |text: String, what: &str| {
        RawValue::from_string(text)
            .map_err(|e| StoreError::Corrupt(format!("{what} of event {id:?}: {e}")))
    };
    let payload = json(row.try_get(4)?, "payload")?;
    let pipeline = row
        .try_get::<_, Option<String>>(9)?
        .map(|t| json(t, "pipeline trace"))
        .transpose()?;
    Ok((
        row.try_get(0)?,
        Event {
            id: id.clone(),
            event_type: row.try_get(2)?,
            source: row.try_get(3)?,
            payload,
            occurred_at: row.try_get(5)?,
            received_at: row.try_get(6)?,
            idempotency_key: row.try_get(7)?,
            pipeline_state: row.try_get(8)?,
            pipeline,
        },
    ))
}
