//! Texts and message webhooks on PostgreSQL (see `store::text` for the rules): whichever node
//! inserts a text's key first claims it; a receipt or reply commits with its webhook id.

use deadpool_postgres::GenericClient;

use super::PostgresStore;
use crate::clock;
use crate::store::text::{FINAL_STATUSES_SQL, NewText, OpenText, Receipt, StoredText, TextClaim};
use crate::store::{EscalationId, StoreError, TimelineEntry};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

impl PostgresStore {
    pub async fn claim_text(&self, text: NewText) -> Result<TextClaim, StoreError> {
        let client = self.pool.get().await?;
        let escalation = text.escalation.to_string();
        let attempt = i64::from(text.attempt);
        let now = clock::now_rfc3339();
        let statement = client
            .prepare_cached(
                "INSERT INTO texts (escalation_id, attempt, to_number, code, status, node,
                     created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'sending', $5, $6, $6)
                 ON CONFLICT (escalation_id, attempt) DO NOTHING",
            )
            .await?;
        let inserted = client
            .execute(
                &statement,
                &[
                    &escalation,
                    &attempt,
                    &text.to,
                    &text.code,
                    &self.node.id,
                    &now,
                ],
            )
            .await?;
        if inserted == 1 {
            return Ok(text.decide(None));
        }
        // A conflict waits for the other insert to commit, so its row is visible here.
        let statement = client
            .prepare_cached(
                "SELECT message_id FROM texts WHERE escalation_id = $1 AND attempt = $2",
            )
            .await?;
        let existing = client
            .query_opt(&statement, &[&escalation, &attempt])
            .await?
            .map(|row| row.try_get::<_, Option<String>>(0))
            .transpose()?;
        Ok(text.decide(existing))
    }

    pub async fn text_sent(
        &self,
        escalation: EscalationId,
        attempt: u32,
        message_id: Option<String>,
        status: String,
        line: TimelineEntry,
    ) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let escalation = escalation.to_string();
        append(&tx, &escalation, std::slice::from_ref(&line)).await?;
        let statement = tx
            .prepare_cached(
                "UPDATE texts SET message_id = COALESCE($3, message_id), status = $4,
                     updated_at = $5
                 WHERE escalation_id = $1 AND attempt = $2",
            )
            .await?;
        tx.execute(
            &statement,
            &[
                &escalation,
                &i64::from(attempt),
                &message_id,
                &status,
                &clock::now_rfc3339(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn open_texts_to(&self, number: String) -> Result<Vec<OpenText>, StoreError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(
                "SELECT t.escalation_id, t.attempt, t.code FROM texts t
                 JOIN escalations e ON e.id = t.escalation_id
                 WHERE t.to_number = $1 AND e.status = 'active'
                 ORDER BY t.created_at DESC, t.attempt DESC",
            )
            .await?;
        client
            .query(&statement, &[&number])
            .await?
            .iter()
            .map(|row| {
                let escalation: String = row.try_get(0)?;
                let attempt: i64 = row.try_get(1)?;
                Ok(OpenText {
                    escalation: escalation
                        .parse()
                        .map_err(|e| corrupt("texts.escalation_id", e))?,
                    attempt: u32::try_from(attempt).map_err(|e| corrupt("texts.attempt", e))?,
                    code: row.try_get(2)?,
                })
            })
            .collect()
    }

    pub async fn texts_of(&self, escalation: EscalationId) -> Result<Vec<StoredText>, StoreError> {
        let client = self.pool.get().await?;
        let statement = client
            .prepare_cached(
                "SELECT attempt, to_number, code, message_id, status FROM texts
                 WHERE escalation_id = $1 ORDER BY attempt",
            )
            .await?;
        client
            .query(&statement, &[&escalation.to_string()])
            .await?
            .iter()
            .map(|row| {
                let attempt: i64 = row.try_get(0)?;
                Ok(StoredText {
                    attempt: u32::try_from(attempt).map_err(|e| corrupt("texts.attempt", e))?,
                    to: row.try_get(1)?,
                    code: row.try_get(2)?,
                    message_id: row.try_get(3)?,
                    status: row.try_get(4)?,
                })
            })
            .collect()
    }

    pub async fn record_text_receipt(
        &self,
        webhook_id: String,
        message_id: String,
        status: String,
        line: TimelineEntry,
    ) -> Result<Receipt, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        if !first_sight(&tx, &webhook_id).await? {
            return Ok(Receipt::Duplicate);
        }
        let statement = tx
            .prepare_cached("SELECT escalation_id FROM texts WHERE message_id = $1")
            .await?;
        let escalation: Option<String> = tx
            .query_opt(&statement, &[&message_id])
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
        let Some(escalation) = escalation else {
            tx.commit().await?;
            return Ok(Receipt::Unknown);
        };
        let statement = tx
            .prepare_cached(&format!(
                "UPDATE texts SET status = $2, updated_at = $3
                 WHERE message_id = $1
                   AND ($2 IN {FINAL_STATUSES_SQL} OR status NOT IN {FINAL_STATUSES_SQL})"
            ))
            .await?;
        tx.execute(&statement, &[&message_id, &status, &clock::now_rfc3339()])
            .await?;
        append(&tx, &escalation, std::slice::from_ref(&line)).await?;
        tx.commit().await?;
        Ok(match escalation.parse::<EscalationId>() {
            Ok(id) => Receipt::Recorded(id),
            Err(_) => Receipt::Unknown,
        })
    }

    pub async fn record_text_reply(
        &self,
        webhook_id: String,
        lines: Vec<(EscalationId, TimelineEntry)>,
    ) -> Result<bool, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        if !first_sight(&tx, &webhook_id).await? {
            return Ok(false);
        }
        for (escalation, line) in &lines {
            append(&tx, &escalation.to_string(), std::slice::from_ref(line)).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// Records a message webhook's id; false when some node recorded it before.
async fn first_sight(client: &impl GenericClient, id: &str) -> Result<bool, StoreError> {
    let statement = client
        .prepare_cached(
            "INSERT INTO text_webhooks (id, received_at) VALUES ($1, $2)
             ON CONFLICT (id) DO NOTHING",
        )
        .await?;
    Ok(client
        .execute(&statement, &[&id, &clock::now_rfc3339()])
        .await?
        == 1)
}

/// Adds lines after the escalation's last one. The row is updated first: that takes the lock
/// a step's save takes, so two writers never pick the same numbers.
async fn append(
    client: &impl GenericClient,
    escalation: &str,
    lines: &[TimelineEntry],
) -> Result<(), StoreError> {
    let statement = client
        .prepare_cached("UPDATE escalations SET updated_at = $2 WHERE id = $1")
        .await?;
    client
        .execute(&statement, &[&escalation, &clock::now_rfc3339()])
        .await?;
    let next: i64 = client
        .query_one(
            "SELECT COALESCE(MAX(n), 0) + 1 FROM escalation_timeline WHERE escalation_id = $1",
            &[&escalation],
        )
        .await?
        .try_get(0)?;
    let statement = client
        .prepare_cached(
            "INSERT INTO escalation_timeline (escalation_id, n, at, kind, detail)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    for (n, line) in (next..).zip(lines) {
        client
            .execute(
                &statement,
                &[
                    &escalation,
                    &n,
                    &line.at,
                    &line.kind,
                    &line.detail.to_string(),
                ],
            )
            .await?;
    }
    Ok(())
}
