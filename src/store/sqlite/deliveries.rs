//! Delivery SQL: create with the pipeline result, claim due jobs under a lease, record
//! attempts (or postpone a paced send), replay, list; plus disabled destinations and the
//! classification cache.

use rusqlite::{Connection, OptionalExtension, Row, Transaction};

use crate::clock;
use crate::store::{
    AfterAttempt, Attempt, Delivery, DeliveryId, DeliveryJob, DeliveryPage, DeliveryQuery,
    DeliveryState, NewDelivery, QueueDepth, Replay, StoreError, TransitionCheck,
};

/// Wraps a parse failure of a stored value as rusqlite's conversion error.
pub(super) fn conversion_error(
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
}

/// Inserts deliveries already leased by the caller until `lease_until`; returns the ones
/// created (an existing (event, destination) pair is skipped, so a re-run pipeline never
/// sends twice).
pub fn insert(
    tx: &Transaction<'_>,
    deliveries: &[NewDelivery],
    now_ms: i64,
    lease_until: i64,
) -> rusqlite::Result<Vec<DeliveryId>> {
    let now = clock::ms_to_rfc3339(now_ms);
    let mut statement = tx.prepare_cached(
        "INSERT INTO deliveries
             (id, event_id, pipeline, destination, target, body, state, due_at, lease_until,
              created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?9, ?5, 'pending', ?6, ?7, ?8, ?8)
         ON CONFLICT (event_id, destination) DO NOTHING",
    )?;
    let mut created = Vec::with_capacity(deliveries.len());
    for d in deliveries {
        let n = statement.execute((
            d.id.to_string(),
            d.event_id.to_string(),
            &d.pipeline,
            &d.destination,
            &d.body,
            now_ms,
            lease_until,
            &now,
            d.target.to_json(),
        ))?;
        if n == 1 {
            created.push(d.id);
        }
    }
    Ok(created)
}

/// Leases up to `limit` due jobs (pending or failed, due, not leased) until `lease_until`.
pub fn claim_due(
    tx: &Transaction<'_>,
    now_ms: i64,
    lease_until: i64,
    limit: usize,
) -> rusqlite::Result<Vec<DeliveryJob>> {
    let mut statement = tx.prepare_cached(
        "UPDATE deliveries SET lease_until = ?2
         WHERE seq IN (
             SELECT seq FROM deliveries
             WHERE state IN ('pending', 'failed') AND due_at <= ?1
               AND (lease_until IS NULL OR lease_until <= ?1)
             ORDER BY due_at LIMIT ?3)
         RETURNING id, event_id, destination, body, attempts, run_attempts, target",
    )?;
    let rows = statement.query_map(
        (
            now_ms,
            lease_until,
            i64::try_from(limit).unwrap_or(i64::MAX),
        ),
        |row| {
            Ok(DeliveryJob {
                id: row.get::<_, String>(0)?.parse().map_err(conversion_error)?,
                event_id: row.get::<_, String>(1)?.parse().map_err(conversion_error)?,
                destination: row.get(2)?,
                body: row.get(3)?,
                attempts: row.get(4)?,
                run_attempts: row.get(5)?,
                target: row.get::<_, String>(6)?.parse().map_err(conversion_error)?,
            })
        },
    )?;
    rows.collect()
}

/// When the earliest unleased job falls due (unix ms), if any.
pub fn next_due(conn: &Connection) -> Result<Option<i64>, StoreError> {
    let due = conn
        .prepare_cached(
            "SELECT MIN(COALESCE(MAX(due_at, lease_until), due_at)) FROM deliveries
             WHERE state IN ('pending', 'failed')",
        )?
        .query_row([], |row| row.get::<_, Option<i64>>(0))?;
    Ok(due)
}

/// Jobs waiting (pending or failed), how many are due, and the oldest due time.
pub fn queue_depth(conn: &Connection, now_ms: i64) -> Result<QueueDepth, StoreError> {
    let depth = conn
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(due_at <= ?1), 0), MIN(CASE WHEN due_at <= ?1 THEN due_at END)
             FROM deliveries WHERE state IN ('pending', 'failed')",
        )?
        .query_row([now_ms], |row| {
            Ok(QueueDepth {
                waiting: row.get::<_, i64>(0)?.try_into().unwrap_or(0),
                due: row.get::<_, i64>(1)?.try_into().unwrap_or(0),
                oldest_due_at: row.get(2)?,
            })
        })?;
    Ok(depth)
}

/// Deliveries claimed by a worker and not yet recorded.
pub fn in_flight(conn: &Connection) -> Result<u64, StoreError> {
    let count: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM deliveries
             WHERE state IN ('pending', 'failed') AND lease_until IS NOT NULL",
        )?
        .query_row([], |row| row.get(0))?;
    Ok(count.try_into().unwrap_or(0))
}

/// Releases every lease: at start-up of a single-node store, no other worker can hold one.
pub fn release_all_leases(tx: &Transaction<'_>) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE deliveries SET lease_until = NULL WHERE lease_until IS NOT NULL",
        [],
    )
}

/// Records an attempt and moves the delivery on; releases the lease.
pub fn record_attempt(
    tx: &Transaction<'_>,
    id: DeliveryId,
    attempt: &Attempt,
    after: AfterAttempt,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO delivery_attempts
             (delivery_id, number, started_at, duration_ms, status, error, response)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute((
        id.to_string(),
        attempt.number,
        &attempt.started_at,
        i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX),
        attempt.status,
        &attempt.error,
        &attempt.response,
    ))?;
    let (state, due_at) = match after {
        AfterAttempt::Succeeded => (DeliveryState::Succeeded, None),
        AfterAttempt::RetryAt(at) => (DeliveryState::Failed, Some(at)),
        AfterAttempt::Dead => (DeliveryState::Dead, None),
    };
    tx.prepare_cached(
        "UPDATE deliveries
         SET state = ?2, due_at = ?3, lease_until = NULL, attempts = ?4,
             run_attempts = run_attempts + 1, last_error = ?5, updated_at = ?6
         WHERE id = ?1",
    )?
    .execute((
        id.to_string(),
        state.as_str(),
        due_at,
        attempt.number,
        &attempt.error,
        clock::now_rfc3339(),
    ))?;
    Ok(())
}

/// Puts a job back unattempted (our own pacing held it back), due at `until`; releases the
/// lease. Its state, attempt counts and last error stay as they were: it lost no attempt.
pub fn postpone(tx: &Transaction<'_>, id: DeliveryId, until: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE deliveries SET due_at = ?2, lease_until = NULL, updated_at = ?3 WHERE id = ?1",
    )?
    .execute((id.to_string(), until, clock::now_rfc3339()))?;
    Ok(())
}

/// Dead-letters a job without an attempt (its destination is gone from the settings or
/// disabled), keeping the reason.
pub fn bury(tx: &Transaction<'_>, id: DeliveryId, reason: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE deliveries SET state = 'dead', due_at = NULL, lease_until = NULL,
             last_error = ?2, updated_at = ?3
         WHERE id = ?1",
    )?
    .execute((id.to_string(), reason, clock::now_rfc3339()))?;
    Ok(())
}

/// Queues a finished delivery (dead or succeeded) again, due now with a fresh schedule.
pub fn replay(tx: &Transaction<'_>, id: DeliveryId, now_ms: i64) -> rusqlite::Result<Replay> {
    let state: Option<String> = tx
        .prepare_cached("SELECT state FROM deliveries WHERE id = ?1")?
        .query_row([id.to_string()], |row| row.get(0))
        .optional()?;
    let Some(state) = state else {
        return Ok(Replay::NotFound);
    };
    let state: DeliveryState = state
        .parse()
        .map_err(|e: String| conversion_error(std::io::Error::other(e)))?;
    if matches!(state, DeliveryState::Pending | DeliveryState::Failed) {
        return Ok(Replay::InProgress(state));
    }
    tx.prepare_cached(
        "UPDATE deliveries SET state = 'pending', due_at = ?2, lease_until = NULL,
             run_attempts = 0, updated_at = ?3
         WHERE id = ?1",
    )?
    .execute((id.to_string(), now_ms, clock::ms_to_rfc3339(now_ms)))?;
    Ok(Replay::Queued)
}

const DELIVERY_COLUMNS: &str = "seq, id, event_id, pipeline, destination, state, attempts, \
     due_at, last_error, created_at, updated_at";

pub fn get(conn: &Connection, id: DeliveryId) -> Result<Option<Delivery>, StoreError> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?1");
    let delivery = conn
        .prepare_cached(&sql)?
        .query_row([id.to_string()], read_delivery)
        .optional()?;
    let Some((_, mut delivery)) = delivery else {
        return Ok(None);
    };
    let mut statement = conn.prepare_cached(
        "SELECT number, started_at, duration_ms, status, error, response
         FROM delivery_attempts WHERE delivery_id = ?1 ORDER BY number",
    )?;
    let attempts = statement
        .query_map([id.to_string()], |row| {
            Ok(Attempt {
                number: row.get(0)?,
                started_at: row.get(1)?,
                duration_ms: row.get::<_, i64>(2)?.try_into().unwrap_or(0),
                status: row.get(3)?,
                error: row.get(4)?,
                response: row.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    delivery.attempt_log = Some(attempts);
    Ok(Some(delivery))
}

pub fn list(conn: &Connection, query: &DeliveryQuery) -> Result<DeliveryPage, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries
         WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR destination = ?2)
           AND (?3 IS NULL OR event_id = ?3) AND (?4 IS NULL OR seq < ?4)
         ORDER BY seq DESC LIMIT ?5"
    );
    let fetch = i64::try_from(query.limit + 1).unwrap_or(i64::MAX);
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(
        (
            query.state.map(DeliveryState::as_str),
            &query.destination,
            query.event_id.map(|id| id.to_string()),
            query.after.map(|c| c.0),
            fetch,
        ),
        read_delivery,
    )?;
    let rows = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let (data, next_cursor) = super::paginate(rows, query.limit);
    Ok(DeliveryPage { data, next_cursor })
}

fn read_delivery(row: &Row<'_>) -> rusqlite::Result<(i64, Delivery)> {
    let state: String = row.get(5)?;
    let state = state
        .parse()
        .map_err(|e: String| conversion_error(std::io::Error::other(e)))?;
    Ok((
        row.get(0)?,
        Delivery {
            id: row.get::<_, String>(1)?.parse().map_err(conversion_error)?,
            event_id: row.get(2)?,
            pipeline: row.get(3)?,
            destination: row.get(4)?,
            state,
            attempts: row.get(6)?,
            next_attempt_at: row.get::<_, Option<i64>>(7)?.map(clock::ms_to_rfc3339),
            last_error: row.get(8)?,
            created_at: row.get(9)?,
            updated_at: row.get(10)?,
            attempt_log: None,
        },
    ))
}

/// Marks a destination disabled (after a `410 Gone`).
pub fn disable_destination(tx: &Transaction<'_>, name: &str, reason: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO disabled_destinations (name, reason, disabled_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET reason = excluded.reason",
    )?
    .execute((name, reason, clock::now_rfc3339()))?;
    Ok(())
}

/// Enables a destination again; true if it was disabled.
pub fn enable_destination(tx: &Transaction<'_>, name: &str) -> rusqlite::Result<bool> {
    Ok(tx.execute("DELETE FROM disabled_destinations WHERE name = ?1", [name])? == 1)
}

/// Every disabled destination with its reason.
pub fn disabled_destinations(conn: &Connection) -> Result<Vec<(String, String)>, StoreError> {
    let mut statement = conn.prepare_cached("SELECT name, reason FROM disabled_destinations")?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// A cached classification label.
pub fn cached_label(conn: &Connection, key: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT label FROM classifications WHERE cache_key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

pub fn cache_label(
    tx: &Transaction<'_>,
    key: &str,
    label: &str,
    model: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO classifications (cache_key, label, model, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (cache_key) DO NOTHING",
    )?
    .execute((key, label, model, clock::now_rfc3339()))?;
    Ok(())
}

/// Records whether a `transition` step's condition holds for `key` now, and says whether the
/// event passes ([`TransitionCheck::fires`] is the rule). Runs in the writer, so two events
/// for one key can never both pass.
pub fn transition(tx: &Transaction<'_>, check: &TransitionCheck<'_>) -> rusqlite::Result<bool> {
    let before: Option<(bool, Option<i64>, Option<String>)> = tx
        .prepare_cached(
            "SELECT holds, fired_at, fired_by FROM transitions WHERE step = ?1 AND key = ?2",
        )?
        .query_row((check.step, check.key), |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    let (held, fired_at, fired_by) = before.unwrap_or((false, None, None));
    let fires = check.fires(held, fired_at, fired_by.as_deref());
    let (fired_at, fired_by) = if fires {
        (Some(check.now_ms), Some(check.event.to_owned()))
    } else {
        (fired_at, fired_by)
    };
    tx.prepare_cached(
        "INSERT INTO transitions (step, key, holds, fired_at, fired_by) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (step, key) DO UPDATE SET holds = excluded.holds,
             fired_at = excluded.fired_at, fired_by = excluded.fired_by",
    )?
    .execute((check.step, check.key, check.holds, fired_at, fired_by))?;
    Ok(fires)
}
