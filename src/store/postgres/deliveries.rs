//! Delivery SQL for PostgreSQL: create leased to this node, claim due jobs with
//! `FOR UPDATE SKIP LOCKED`, record attempts (and postponements) in batches, replay, list;
//! plus disabled destinations, the classification cache and `transition` steps.

use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::Row;

use super::Node;
use crate::clock;
use crate::store::{
    AfterAttempt, Attempt, Delivery, DeliveryId, DeliveryJob, DeliveryPage, DeliveryQuery,
    DeliveryState, EventId, NewDelivery, QueueDepth, Replay, StoreError, TransitionCheck,
};

/// The channel on which nodes announce jobs that became due now (a replay), so idle workers
/// on every node wake at once instead of at their next poll.
pub const JOBS_CHANNEL: &str = "klaxon_jobs";
/// The channel on which a node announces that it disabled (a `410 Gone`) or enabled a
/// destination, so every node stops (or resumes) sending to it at once.
pub const DESTINATIONS_CHANNEL: &str = "klaxon_destinations";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Inserts deliveries held by this node (for as long as it lives); returns the ones created
/// (an existing (event, destination) pair is skipped, so a pipeline re-run on any node never
/// sends twice). In the same statement, marks the pipelines of `completed` events done with
/// their traces: a batch of pipeline results is one round trip and one commit.
pub async fn insert(
    client: &impl GenericClient,
    node: &Node,
    deliveries: &[NewDelivery],
    completed: &[(EventId, &str)],
    now_ms: i64,
) -> Result<Vec<DeliveryId>, StoreError> {
    if deliveries.is_empty() && completed.is_empty() {
        return Ok(Vec::new());
    }
    let now = clock::ms_to_rfc3339(now_ms);
    let ids: Vec<String> = deliveries.iter().map(|d| d.id.to_string()).collect();
    let events: Vec<String> = deliveries.iter().map(|d| d.event_id.to_string()).collect();
    let pipelines: Vec<&str> = deliveries.iter().map(|d| d.pipeline.as_str()).collect();
    let destinations: Vec<&str> = deliveries.iter().map(|d| d.destination.as_str()).collect();
    let bodies: Vec<&str> = deliveries.iter().map(|d| d.body.as_str()).collect();
    let targets: Vec<String> = deliveries.iter().map(|d| d.target.to_json()).collect();
    // Events are updated in id order, so two batches that share an event cannot deadlock.
    let mut completed: Vec<&(EventId, &str)> = completed.iter().collect();
    completed.sort_by_key(|(id, _)| id.to_string());
    let done: Vec<String> = completed.iter().map(|(id, _)| id.to_string()).collect();
    let traces: Vec<&str> = completed.iter().map(|(_, trace)| *trace).collect();
    let statement = client
        .prepare_cached(
            "WITH completed AS (
                 UPDATE events AS e SET pipeline_state = 'done', pipeline = c.trace
                 FROM UNNEST($9::text[], $10::text[]) AS c(id, trace)
                 WHERE e.id = c.id)
             INSERT INTO deliveries
                 (id, event_id, pipeline, destination, target, body, state, due_at,
                  lease_owner, created_at, updated_at)
             SELECT id, event_id, pipeline, destination, target, body, 'pending', $6, $7, $8, $8
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $11::text[], $5::text[])
                  AS d(id, event_id, pipeline, destination, target, body)
             ON CONFLICT (event_id, destination) DO NOTHING
             RETURNING id",
        )
        .await?;
    let rows = client
        .query(
            &statement,
            &[
                &ids,
                &events,
                &pipelines,
                &destinations,
                &bodies,
                &now_ms,
                &node.id,
                &now,
                &done,
                &traces,
                &targets,
            ],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0)?;
            id.parse().map_err(|e| corrupt("delivery id", e))
        })
        .collect()
}

/// The condition "nobody alive holds this job", for a query on `deliveries` at time `$1`:
/// unheld, or held by a node whose liveness ran out (it died; see `leases::renew`).
const FREE: &str = "(lease_owner IS NULL
     OR lease_owner NOT IN (SELECT id FROM nodes WHERE alive_until > $1))";

/// Hands up to `limit` due jobs to this node. `SKIP LOCKED` lets every node claim at once
/// without waiting on each other's rows, and no row is ever handed to two nodes.
pub async fn claim_due(
    client: &impl GenericClient,
    node: &Node,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<DeliveryJob>, StoreError> {
    let sql = format!(
        "UPDATE deliveries SET lease_owner = $3
         WHERE seq IN (
             SELECT seq FROM deliveries
             WHERE state IN ('pending', 'failed') AND due_at <= $1 AND {FREE}
             ORDER BY due_at LIMIT $2
             FOR UPDATE SKIP LOCKED)
         RETURNING id, event_id, destination, body, attempts, run_attempts, target"
    );
    let statement = client.prepare_cached(&sql).await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(&statement, &[&now_ms, &limit, &node.id])
        .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0)?;
            let event: String = row.try_get(1)?;
            Ok(DeliveryJob {
                id: id.parse().map_err(|e| corrupt("delivery id", e))?,
                event_id: event.parse().map_err(|e| corrupt("event id", e))?,
                destination: row.try_get(2)?,
                body: row.try_get(3)?,
                attempts: count(row.try_get(4)?),
                run_attempts: count(row.try_get(5)?),
                target: row
                    .try_get::<_, String>(6)?
                    .parse()
                    .map_err(|e| corrupt("delivery target", e))?,
            })
        })
        .collect()
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// When a job may next be claimed (unix ms), if any: the earliest due job nobody alive
/// holds, or the moment another node's liveness runs out (if it dies, what it holds is free
/// then).
pub async fn next_due(client: &impl GenericClient, node: &Node) -> Result<Option<i64>, StoreError> {
    let sql = format!(
        "SELECT LEAST(
             (SELECT due_at FROM deliveries
              WHERE state IN ('pending', 'failed') AND {FREE}
              ORDER BY due_at LIMIT 1),
             (SELECT MIN(alive_until) FROM nodes WHERE alive_until > $1 AND id <> $2))"
    );
    let statement = client.prepare_cached(&sql).await?;
    Ok(client
        .query_one(&statement, &[&clock::now_ms(), &node.id])
        .await?
        .try_get(0)?)
}

/// Jobs waiting (pending or failed), how many are due, and the oldest due time.
pub async fn queue_depth(
    client: &impl GenericClient,
    now_ms: i64,
) -> Result<QueueDepth, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE due_at <= $1),
                    MIN(due_at) FILTER (WHERE due_at <= $1)
             FROM deliveries WHERE state IN ('pending', 'failed')",
        )
        .await?;
    let row = client.query_one(&statement, &[&now_ms]).await?;
    Ok(QueueDepth {
        waiting: row.try_get::<_, i64>(0)?.try_into().unwrap_or(0),
        due: row.try_get::<_, i64>(1)?.try_into().unwrap_or(0),
        oldest_due_at: row.try_get(2)?,
    })
}

/// What the attempts batcher writes for one leased delivery: an attempt and where it leaves
/// the delivery, or a postponement (our own pacing held the send back: no attempt).
#[derive(Debug, Clone)]
pub enum Settled {
    Attempted(DeliveryId, Attempt, AfterAttempt),
    /// Due again at this unix time in ms; attempts, schedule and state unchanged.
    Postponed(DeliveryId, i64),
}

impl Settled {
    pub fn id(&self) -> DeliveryId {
        match self {
            Settled::Attempted(id, ..) | Settled::Postponed(id, _) => *id,
        }
    }
}

/// Records a batch of attempts and postponements and releases their leases: one statement
/// (one round trip, one commit) per round, and one transaction around the rounds when there
/// are several.
pub async fn record_attempts(pool: Pool, batch: Vec<Settled>) -> Result<Vec<()>, StoreError> {
    let count = batch.len();
    // One statement cannot touch a row twice; the rare repeat goes into a later round.
    let mut rounds: Vec<Vec<&Settled>> = Vec::new();
    for item in &batch {
        match rounds
            .iter_mut()
            .find(|r| r.iter().all(|other| other.id() != item.id()))
        {
            Some(round) => round.push(item),
            None => rounds.push(vec![item]),
        }
    }
    let mut client = pool.get().await?;
    if let [round] = rounds.as_mut_slice() {
        record_round(&client, round).await?;
    } else {
        let tx = client.transaction().await?;
        for round in &mut rounds {
            record_round(&tx, round).await?;
        }
        tx.commit().await?;
    }
    Ok(vec![(); count])
}

/// One round of [`record_attempts`]: the attempts' rows and their deliveries' new states.
/// A postponed delivery has no attempt row and no state in `u`: only its due time changes.
async fn record_round(
    client: &impl GenericClient,
    round: &mut [&Settled],
) -> Result<(), StoreError> {
    // Rows updated in one order by every node: concurrent batches cannot deadlock.
    round.sort_by_key(|item| item.id().to_string());
    let statement = client
        .prepare_cached(
            "WITH recorded AS (
                 INSERT INTO delivery_attempts
                     (delivery_id, number, started_at, duration_ms, status, error, response)
                 SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int8[],
                                      $5::int8[], $6::text[], $7::text[])
                 ON CONFLICT (delivery_id, number) DO UPDATE SET
                     started_at = excluded.started_at, duration_ms = excluded.duration_ms,
                     status = excluded.status, error = excluded.error,
                     response = excluded.response)
             UPDATE deliveries AS d
             SET state = COALESCE(u.state, d.state), due_at = u.due_at, lease_until = NULL,
                 lease_owner = NULL, attempts = COALESCE(u.attempts, d.attempts),
                 run_attempts = d.run_attempts + CASE WHEN u.attempts IS NULL THEN 0 ELSE 1 END,
                 last_error = CASE WHEN u.attempts IS NULL THEN d.last_error ELSE u.error END,
                 updated_at = $13
             FROM UNNEST($8::text[], $9::text[], $10::int8[], $11::int8[], $12::text[])
                  AS u(id, state, due_at, attempts, error)
             WHERE d.id = u.id",
        )
        .await?;
    let attempted: Vec<(DeliveryId, &Attempt)> = round
        .iter()
        .filter_map(|item| match item {
            Settled::Attempted(id, attempt, _) => Some((*id, attempt)),
            Settled::Postponed(..) => None,
        })
        .collect();
    let attempt_ids: Vec<String> = attempted.iter().map(|a| a.0.to_string()).collect();
    let numbers: Vec<i64> = attempted.iter().map(|a| i64::from(a.1.number)).collect();
    let started: Vec<&str> = attempted.iter().map(|a| a.1.started_at.as_str()).collect();
    let durations: Vec<i64> = attempted
        .iter()
        .map(|a| i64::try_from(a.1.duration_ms).unwrap_or(i64::MAX))
        .collect();
    let statuses: Vec<Option<i64>> = attempted
        .iter()
        .map(|a| a.1.status.map(i64::from))
        .collect();
    let errors: Vec<Option<&str>> = attempted.iter().map(|a| a.1.error.as_deref()).collect();
    let responses: Vec<Option<&str>> = attempted.iter().map(|a| a.1.response.as_deref()).collect();

    let ids: Vec<String> = round.iter().map(|item| item.id().to_string()).collect();
    let mut states: Vec<Option<&str>> = Vec::with_capacity(round.len());
    let mut due: Vec<Option<i64>> = Vec::with_capacity(round.len());
    let mut attempts: Vec<Option<i64>> = Vec::with_capacity(round.len());
    let mut last_errors: Vec<Option<&str>> = Vec::with_capacity(round.len());
    for item in round.iter() {
        let (state, due_at, number, error) = match item {
            Settled::Attempted(_, attempt, after) => {
                let (state, due_at) = match after {
                    AfterAttempt::Succeeded => (DeliveryState::Succeeded, None),
                    AfterAttempt::RetryAt(at) => (DeliveryState::Failed, Some(*at)),
                    AfterAttempt::Dead => (DeliveryState::Dead, None),
                };
                (
                    Some(state.as_str()),
                    due_at,
                    Some(i64::from(attempt.number)),
                    attempt.error.as_deref(),
                )
            }
            Settled::Postponed(_, until) => (None, Some(*until), None, None),
        };
        states.push(state);
        due.push(due_at);
        attempts.push(number);
        last_errors.push(error);
    }
    client
        .execute(
            &statement,
            &[
                &attempt_ids,
                &numbers,
                &started,
                &durations,
                &statuses,
                &errors,
                &responses,
                &ids,
                &states,
                &due,
                &attempts,
                &last_errors,
                &clock::now_rfc3339(),
            ],
        )
        .await?;
    Ok(())
}

/// Gives up this node's lease on a job, so any node may claim it again.
pub async fn release(
    client: &impl GenericClient,
    node: &Node,
    id: DeliveryId,
) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL
             WHERE id = $1 AND lease_owner = $2",
            &[&id.to_string(), &node.id],
        )
        .await?;
    Ok(())
}

/// Dead-letters a job without an attempt, keeping the reason.
pub async fn bury(
    client: &impl GenericClient,
    id: DeliveryId,
    reason: &str,
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE deliveries SET state = 'dead', due_at = NULL, lease_until = NULL,
                 lease_owner = NULL, last_error = $2, updated_at = $3
             WHERE id = $1",
        )
        .await?;
    client
        .execute(
            &statement,
            &[&id.to_string(), &reason, &clock::now_rfc3339()],
        )
        .await?;
    Ok(())
}

/// Queues a finished delivery again, due now, and wakes every node's worker.
pub async fn replay(pool: &Pool, id: DeliveryId, now_ms: i64) -> Result<Replay, StoreError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let row = tx
        .query_opt(
            "SELECT state FROM deliveries WHERE id = $1 FOR UPDATE",
            &[&id.to_string()],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Replay::NotFound);
    };
    let state: String = row.try_get(0)?;
    let state: DeliveryState = state.parse().map_err(|e| corrupt("delivery state", e))?;
    if matches!(state, DeliveryState::Pending | DeliveryState::Failed) {
        return Ok(Replay::InProgress(state));
    }
    tx.execute(
        "UPDATE deliveries SET state = 'pending', due_at = $2, lease_until = NULL,
             lease_owner = NULL, run_attempts = 0, updated_at = $3
         WHERE id = $1",
        &[&id.to_string(), &now_ms, &clock::ms_to_rfc3339(now_ms)],
    )
    .await?;
    tx.execute(&format!("NOTIFY {JOBS_CHANNEL}"), &[]).await?;
    tx.commit().await?;
    Ok(Replay::Queued)
}

const DELIVERY_COLUMNS: &str = "seq, id, event_id, pipeline, destination, state, attempts, \
     due_at, last_error, created_at, updated_at";

pub async fn get(
    client: &impl GenericClient,
    id: DeliveryId,
) -> Result<Option<Delivery>, StoreError> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1");
    let statement = client.prepare_cached(&sql).await?;
    let Some(row) = client.query_opt(&statement, &[&id.to_string()]).await? else {
        return Ok(None);
    };
    let (_, mut delivery) = read_delivery(&row)?;
    let statement = client
        .prepare_cached(
            "SELECT number, started_at, duration_ms, status, error, response
             FROM delivery_attempts WHERE delivery_id = $1 ORDER BY number",
        )
        .await?;
    let attempts = client
        .query(&statement, &[&id.to_string()])
        .await?
        .iter()
        .map(|row| {
            Ok(Attempt {
                number: count(row.try_get(0)?),
                started_at: row.try_get(1)?,
                duration_ms: row.try_get::<_, i64>(2)?.try_into().unwrap_or(0),
                status: row
                    .try_get::<_, Option<i64>>(3)?
                    .and_then(|s| u16::try_from(s).ok()),
                error: row.try_get(4)?,
                response: row.try_get(5)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    delivery.attempt_log = Some(attempts);
    Ok(Some(delivery))
}

pub async fn list(
    client: &impl GenericClient,
    query: &DeliveryQuery,
) -> Result<DeliveryPage, StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM deliveries
         WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR destination = $2)
           AND ($3::text IS NULL OR event_id = $3) AND ($4::bigint IS NULL OR seq < $4)
         ORDER BY seq DESC LIMIT $5"
    );
    let fetch = i64::try_from(query.limit + 1).unwrap_or(i64::MAX);
    let statement = client.prepare_cached(&sql).await?;
    let rows = client
        .query(
            &statement,
            &[
                &query.state.map(DeliveryState::as_str),
                &query.destination,
                &query.event_id.map(|id| id.to_string()),
                &query.after.map(|c| c.0),
                &fetch,
            ],
        )
        .await?;
    let rows = rows
        .iter()
        .map(read_delivery)
        .collect::<Result<Vec<_>, _>>()?;
    let (data, next_cursor) = crate::store::paginate(rows, query.limit);
    Ok(DeliveryPage { data, next_cursor })
}

fn read_delivery(row: &Row) -> Result<(i64, Delivery), StoreError> {
    let state: String = row.try_get(5)?;
    let id: String = row.try_get(1)?;
    Ok((
        row.try_get(0)?,
        Delivery {
            id: id.parse().map_err(|e| corrupt("delivery id", e))?,
            event_id: row.try_get(2)?,
            pipeline: row.try_get(3)?,
            destination: row.try_get(4)?,
            state: state.parse().map_err(|e| corrupt("delivery state", e))?,
            attempts: count(row.try_get(6)?),
            next_attempt_at: row.try_get::<_, Option<i64>>(7)?.map(clock::ms_to_rfc3339),
            last_error: row.try_get(8)?,
            created_at: row.try_get(9)?,
            updated_at: row.try_get(10)?,
            attempt_log: None,
        },
    ))
}

pub async fn disable_destination(
    client: &impl GenericClient,
    name: &str,
    reason: &str,
) -> Result<(), StoreError> {
    client
        .query(
            "WITH disabled AS (
                 INSERT INTO disabled_destinations (name, reason, disabled_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET reason = excluded.reason
                 RETURNING name)
             SELECT pg_notify($4, name) FROM disabled",
            &[&name, &reason, &clock::now_rfc3339(), &DESTINATIONS_CHANNEL],
        )
        .await?;
    Ok(())
}

pub async fn enable_destination(
    client: &impl GenericClient,
    name: &str,
) -> Result<bool, StoreError> {
    let enabled = client
        .query(
            "WITH enabled AS (DELETE FROM disabled_destinations WHERE name = $1 RETURNING name)
             SELECT pg_notify($2, name) FROM enabled",
            &[&name, &DESTINATIONS_CHANNEL],
        )
        .await?;
    Ok(enabled.len() == 1)
}

pub async fn disabled_destinations(
    client: &impl GenericClient,
) -> Result<Vec<(String, String)>, StoreError> {
    client
        .query("SELECT name, reason FROM disabled_destinations", &[])
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
}

pub async fn cached_label(
    client: &impl GenericClient,
    key: &str,
) -> Result<Option<String>, StoreError> {
    let statement = client
        .prepare_cached("SELECT label FROM classifications WHERE cache_key = $1")
        .await?;
    Ok(client
        .query_opt(&statement, &[&key])
        .await?
        .map(|row| row.try_get(0))
        .transpose()?)
}

pub async fn cache_label(
    client: &impl GenericClient,
    key: &str,
    label: &str,
    model: &str,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO classifications (cache_key, label, model, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (cache_key) DO NOTHING",
            &[&key, &label, &model, &clock::now_rfc3339()],
        )
        .await?;
    Ok(())
}

/// A `transition` step's check-and-record (see the SQLite version for the rule). The row is
/// locked for the decision, so two nodes handling events for one key never both pass.
pub async fn transition(pool: &Pool, check: &TransitionCheck<'_>) -> Result<bool, StoreError> {
    let (step, key) = (check.step, check.key);
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // A new key starts as "did not hold", which decides exactly like "never seen".
    tx.execute(
        "INSERT INTO transitions (step, key, holds, fired_at) VALUES ($1, $2, false, NULL)
         ON CONFLICT (step, key) DO NOTHING",
        &[&step, &key],
    )
    .await?;
    let row = tx
        .query_one(
            "SELECT holds, fired_at, fired_by FROM transitions WHERE step = $1 AND key = $2 FOR UPDATE",
            &[&step, &key],
        )
        .await?;
    let (held, fired_at, fired_by): (bool, Option<i64>, Option<String>) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let fires = check.fires(held, fired_at, fired_by.as_deref());
    let (fired_at, fired_by) = if fires {
        (Some(check.now_ms), Some(check.event.to_owned()))
    } else {
        (fired_at, fired_by)
    };
    tx.execute(
        "UPDATE transitions SET holds = $3, fired_at = $4, fired_by = $5 WHERE step = $1 AND key = $2",
        &[&step, &key, &check.holds, &fired_at, &fired_by],
    )
    .await?;
    tx.commit().await?;
    Ok(fires)
}
