//! Escalation SQL for PostgreSQL: create, load and save the machine state with its timeline,
//! map call legs back to escalations, and dedupe carrier webhooks across nodes.

use deadpool_postgres::{GenericClient, Pool};
use serde_json::value::RawValue;
use tokio_postgres::Row;

use super::{Node, events};
use crate::clock;
use crate::store::{
    Cursor, Escalation, EscalationId, EscalationPage, EscalationRecord, EscalationUpdate, EventId,
    NewEscalation, StoreError, TimelineEntry,
};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Inserts escalations leased to this node, which starts them at once; if it dies first,
/// another node takes them over when the lease runs out. An existing (event, destination)
/// pair is skipped. Returns the ids created.
pub async fn insert(
    client: &impl GenericClient,
    node: &Node,
    escalations: &[NewEscalation],
    now_ms: i64,
) -> Result<Vec<EscalationId>, StoreError> {
    if escalations.is_empty() {
        return Ok(Vec::new());
    }
    let now = clock::now_rfc3339();
    let statement = client
        .prepare_cached(
            "INSERT INTO escalations
                 (id, event_id, pipeline, destination, policy, plan, state, status, created_at,
                  updated_at, lease_owner, lease_until)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $8, $9, $10)
             ON CONFLICT (event_id, destination) DO NOTHING",
        )
        .await?;
    let mut created = Vec::with_capacity(escalations.len());
    for e in escalations {
        let n = client
            .execute(
                &statement,
                &[
                    &e.id.to_string(),
                    &e.event_id.to_string(),
                    &e.pipeline,
                    &e.destination,
                    &e.policy,
                    &e.plan,
                    &e.state,
                    &now,
                    &node.id,
                    &node.lease_until(now_ms),
                ],
            )
            .await?;
        if n == 1 {
            created.push(e.id);
        }
    }
    Ok(created)
}

pub async fn load(
    client: &impl GenericClient,
    id: EscalationId,
) -> Result<Option<EscalationRecord>, StoreError> {
    let statement = client
        .prepare_cached("SELECT id, event_id, plan, state, status FROM escalations WHERE id = $1")
        .await?;
    let Some(row) = client.query_opt(&statement, &[&id.to_string()]).await? else {
        return Ok(None);
    };
    let id: String = row.try_get(0)?;
    Ok(Some(EscalationRecord {
        id: id.parse().map_err(|e| corrupt("escalation id", e))?,
        event_id: row.try_get(1)?,
        plan: row.try_get(2)?,
        state: row.try_get(3)?,
        status: row.try_get(4)?,
    }))
}

/// Ids of escalations still running and unchanged since `before` (RFC 3339), oldest first.
pub async fn active(
    client: &impl GenericClient,
    before: Option<&str>,
) -> Result<Vec<EscalationId>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT id FROM escalations
             WHERE status = 'active' AND ($1::text IS NULL OR updated_at < $1) ORDER BY seq",
        )
        .await?;
    ids(client.query(&statement, &[&before]).await?)
}

fn ids(rows: Vec<Row>) -> Result<Vec<EscalationId>, StoreError> {
    rows.iter()
        .map(|row| {
            let id: String = row.try_get(0)?;
            id.parse().map_err(|e| corrupt("escalation id", e))
        })
        .collect()
}

/// Saves a transition in one transaction; returns the events actually created ((source,
/// key) is unique).
pub async fn save(pool: &Pool, update: &EscalationUpdate) -> Result<Vec<EventId>, StoreError> {
    let now = clock::now_rfc3339();
    let id = update.id.to_string();
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let statement = tx
        .prepare_cached(
            "UPDATE escalations SET state = $2, status = $3, updated_at = $4,
                 ended_at = CASE WHEN $5 THEN COALESCE(ended_at, $4) ELSE ended_at END
             WHERE id = $1",
        )
        .await?;
    tx.execute(
        &statement,
        &[&id, &update.state, &update.status, &now, &update.ended],
    )
    .await?;
    if !update.timeline.is_empty() {
        let next: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(n), 0) + 1 FROM escalation_timeline WHERE escalation_id = $1",
                &[&id],
            )
            .await?
            .try_get(0)?;
        let numbers: Vec<i64> = (0..update.timeline.len())
            .map(|i| next + i64::try_from(i).unwrap_or(i64::MAX))
            .collect();
        let at: Vec<&str> = update.timeline.iter().map(|e| e.at.as_str()).collect();
        let kinds: Vec<&str> = update.timeline.iter().map(|e| e.kind.as_str()).collect();
        let details: Vec<String> = update
            .timeline
            .iter()
            .map(|e| e.detail.to_string())
            .collect();
        let statement = tx
            .prepare_cached(
                "INSERT INTO escalation_timeline (escalation_id, n, at, kind, detail)
                 SELECT $1, * FROM UNNEST($2::int8[], $3::text[], $4::text[], $5::text[])",
            )
            .await?;
        tx.execute(&statement, &[&id, &numbers, &at, &kinds, &details])
            .await?;
    }
    if !update.new_legs.is_empty() {
        let statement = tx
            .prepare_cached(
                "INSERT INTO call_legs (call_control_id, escalation_id, attempt, leg, created_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (call_control_id) DO NOTHING",
            )
            .await?;
        for leg in &update.new_legs {
            tx.execute(
                &statement,
                &[
                    &leg.call_control_id,
                    &id,
                    &i64::from(leg.attempt),
                    &leg.leg,
                    &now,
                ],
            )
            .await?;
            super::dials::placed(&tx, &id, leg).await?;
        }
    }
    let mut created = Vec::new();
    for event in &update.events {
        if let Some(id) = events::insert_one(&tx, event).await? {
            created.push(id);
        }
    }
    tx.commit().await?;
    Ok(created)
}

/// Records a carrier webhook (id and body, until processed); false when any node saw it
/// before (the primary key decides, not memory).
pub async fn first_sight(
    client: &impl GenericClient,
    webhook_id: &str,
    body: &str,
) -> Result<bool, StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO voice_webhooks (id, received_at, body) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO NOTHING",
        )
        .await?;
    Ok(client
        .execute(&statement, &[&webhook_id, &clock::now_rfc3339(), &body])
        .await?
        == 1)
}

pub async fn processed(client: &impl GenericClient, webhook_id: &str) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached("UPDATE voice_webhooks SET processed_at = $2, body = NULL WHERE id = $1")
        .await?;
    client
        .execute(&statement, &[&webhook_id, &clock::now_rfc3339()])
        .await?;
    Ok(())
}

/// Webhooks received but not acted upon, oldest first, received before `before` (RFC
/// 3339) when given. Each one returned is stamped `received_at = now`, so another node's
/// scan leaves it alone while this one acts on it.
pub async fn claim_unprocessed(
    client: &impl GenericClient,
    before: Option<&str>,
) -> Result<Vec<(String, String)>, StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE voice_webhooks SET received_at = $2
             WHERE id IN (
                 SELECT id FROM voice_webhooks
                 WHERE processed_at IS NULL AND body IS NOT NULL
                   AND ($1::text IS NULL OR received_at < $1)
                 ORDER BY received_at LIMIT 1000
                 FOR UPDATE SKIP LOCKED)
             RETURNING id, body",
        )
        .await?;
    let mut rows = client
        .query(&statement, &[&before, &clock::now_rfc3339()])
        .await?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect::<Result<Vec<(String, String)>, StoreError>>()?;
    rows.sort();
    Ok(rows)
}

pub async fn find_leg(
    client: &impl GenericClient,
    call_control_id: &str,
) -> Result<Option<(EscalationId, u32, String)>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT escalation_id, attempt, leg FROM call_legs WHERE call_control_id = $1",
        )
        .await?;
    let Some(row) = client.query_opt(&statement, &[&call_control_id]).await? else {
        return Ok(None);
    };
    let id: String = row.try_get(0)?;
    Ok(Some((
        id.parse().map_err(|e| corrupt("escalation id", e))?,
        u32::try_from(row.try_get::<_, i64>(1)?).map_err(|e| corrupt("attempt", e))?,
        row.try_get(2)?,
    )))
}

const COLUMNS: &str = "seq, id, event_id, pipeline, destination, policy, status, state, \
     created_at, updated_at, ended_at";

fn read(row: &Row) -> Result<(i64, Escalation), StoreError> {
    let state: String = row.try_get(7)?;
    Ok((
        row.try_get(0)?,
        Escalation {
            id: row.try_get(1)?,
            event_id: row.try_get(2)?,
            pipeline: row.try_get(3)?,
            destination: row.try_get(4)?,
            policy: row.try_get(5)?,
            status: row.try_get(6)?,
            state: RawValue::from_string(state).map_err(|e| corrupt("escalation state", e))?,
            created_at: row.try_get(8)?,
            updated_at: row.try_get(9)?,
            ended_at: row.try_get(10)?,
            timeline: None,
        },
    ))
}

pub async fn get(
    client: &impl GenericClient,
    id: EscalationId,
) -> Result<Option<Escalation>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM escalations WHERE id = $1");
    let statement = client.prepare_cached(&sql).await?;
    let Some(row) = client.query_opt(&statement, &[&id.to_string()]).await? else {
        return Ok(None);
    };
    let (_, mut escalation) = read(&row)?;
    let statement = client
        .prepare_cached(
            "SELECT at, kind, detail FROM escalation_timeline WHERE escalation_id = $1 ORDER BY n",
        )
        .await?;
    let timeline = client
        .query(&statement, &[&id.to_string()])
        .await?
        .iter()
        .map(|row| {
            let detail: String = row.try_get(2)?;
            Ok(TimelineEntry {
                at: row.try_get(0)?,
                kind: row.try_get(1)?,
                detail: serde_json::from_str(&detail).map_err(|e| corrupt("timeline detail", e))?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    escalation.timeline = Some(timeline);
    Ok(Some(escalation))
}

pub async fn list(
    client: &impl GenericClient,
    status: Option<&str>,
    after: Option<Cursor>,
    limit: usize,
) -> Result<EscalationPage, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM escalations
         WHERE ($1::text IS NULL OR status = $1) AND ($2::bigint IS NULL OR seq < $2)
         ORDER BY seq DESC LIMIT $3"
    );
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let statement = client.prepare_cached(&sql).await?;
    let rows = client
        .query(&statement, &[&status, &after.map(|c| c.0), &fetch])
        .await?
        .iter()
        .map(read)
        .collect::<Result<Vec<_>, _>>()?;
    let (data, next_cursor) = crate::store::paginate(rows, limit);
    Ok(EscalationPage { data, next_cursor })
}

/// Active escalations whose stepping node died (their lease ran out). Only found, not
/// claimed: resuming is decided under the hold, so any node may try, and one takes over.
pub async fn orphans(
    client: &impl GenericClient,
    now_ms: i64,
) -> Result<Vec<EscalationId>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT id FROM escalations
             WHERE lease_until <= $1 AND status = 'active'
             ORDER BY lease_until LIMIT 100",
        )
        .await?;
    ids(client.query(&statement, &[&now_ms]).await?)
}
