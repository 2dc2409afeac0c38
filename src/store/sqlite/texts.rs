//! Texts and message webhooks in SQLite (see `store::text` for the rules). Writes run in the
//! writer's transactions, so a claim, or a receipt and its timeline line, commit together.

use rusqlite::{Connection, OptionalExtension, Transaction};

use super::SqliteStore;
use crate::clock;
use crate::store::text::{FINAL_STATUSES_SQL, NewText, OpenText, Receipt, StoredText, TextClaim};
use crate::store::{EscalationId, StoreError, TimelineEntry};

impl SqliteStore {
    pub async fn claim_text(&self, text: NewText) -> Result<TextClaim, StoreError> {
        let node = self.node.clone();
        self.writer.write(move |tx| claim(tx, &node, &text)).await
    }

    pub async fn text_sent(
        &self,
        escalation: EscalationId,
        attempt: u32,
        message_id: Option<String>,
        status: String,
        line: TimelineEntry,
    ) -> Result<(), StoreError> {
        let escalation = escalation.to_string();
        self.writer
            .write(move |tx| {
                append(tx, &escalation, std::slice::from_ref(&line))?;
                tx.prepare_cached(
                    "UPDATE texts SET message_id = COALESCE(?3, message_id), status = ?4,
                         updated_at = ?5
                     WHERE escalation_id = ?1 AND attempt = ?2",
                )?
                .execute((
                    &escalation,
                    attempt,
                    &message_id,
                    &status,
                    clock::now_rfc3339(),
                ))
                .map(drop)
            })
            .await
    }

    pub async fn open_texts_to(&self, number: String) -> Result<Vec<OpenText>, StoreError> {
        self.readers.with(move |conn| open_to(conn, &number)).await
    }

    pub async fn texts_of(&self, escalation: EscalationId) -> Result<Vec<StoredText>, StoreError> {
        self.readers.with(move |conn| of(conn, escalation)).await
    }

    pub async fn record_text_receipt(
        &self,
        webhook_id: String,
        message_id: String,
        status: String,
        line: TimelineEntry,
    ) -> Result<Receipt, StoreError> {
        self.writer
            .write(move |tx| {
                if !first_sight(tx, &webhook_id)? {
                    return Ok(Receipt::Duplicate);
                }
                let escalation: Option<String> = tx
                    .prepare_cached("SELECT escalation_id FROM texts WHERE message_id = ?1")?
                    .query_row([&message_id], |row| row.get(0))
                    .optional()?;
                let Some(escalation) = escalation else {
                    return Ok(Receipt::Unknown);
                };
                tx.prepare_cached(&format!(
                    "UPDATE texts SET status = ?2, updated_at = ?3
                     WHERE message_id = ?1
                       AND (?2 IN {FINAL_STATUSES_SQL} OR status NOT IN {FINAL_STATUSES_SQL})"
                ))?
                .execute((&message_id, &status, clock::now_rfc3339()))?;
                append(tx, &escalation, std::slice::from_ref(&line))?;
                Ok(match escalation.parse::<EscalationId>() {
                    Ok(id) => Receipt::Recorded(id),
                    Err(_) => Receipt::Unknown,
                })
            })
            .await
    }

    pub async fn record_text_reply(
        &self,
        webhook_id: String,
        lines: Vec<(EscalationId, TimelineEntry)>,
    ) -> Result<bool, StoreError> {
        self.writer
            .write(move |tx| {
                if !first_sight(tx, &webhook_id)? {
                    return Ok(false);
                }
                for (escalation, line) in &lines {
                    append(tx, &escalation.to_string(), std::slice::from_ref(line))?;
                }
                Ok(true)
            })
            .await
    }
}

fn claim(tx: &Transaction<'_>, node: &str, text: &NewText) -> rusqlite::Result<TextClaim> {
    let escalation = text.escalation.to_string();
    let now = clock::now_rfc3339();
    let inserted = tx
        .prepare_cached(
            "INSERT INTO texts (escalation_id, attempt, to_number, code, status, node,
                 created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'sending', ?5, ?6, ?6)
             ON CONFLICT (escalation_id, attempt) DO NOTHING",
        )?
        .execute((&escalation, text.attempt, &text.to, &text.code, node, &now))?;
    if inserted == 1 {
        return Ok(text.decide(None));
    }
    let existing: Option<Option<String>> = tx
        .prepare_cached("SELECT message_id FROM texts WHERE escalation_id = ?1 AND attempt = ?2")?
        .query_row((&escalation, text.attempt), |row| row.get(0))
        .optional()?;
    Ok(text.decide(existing))
}

/// Records a message webhook's id; false when it was there already.
fn first_sight(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<bool> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO text_webhooks (id, received_at) VALUES (?1, ?2)
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute((id, clock::now_rfc3339()))?;
    Ok(inserted == 1)
}

/// Adds lines to an escalation's timeline after its last one. The escalation's row is
/// touched first, so the numbering is taken under the same lock a step's save takes.
fn append(tx: &Transaction<'_>, escalation: &str, lines: &[TimelineEntry]) -> rusqlite::Result<()> {
    tx.prepare_cached("UPDATE escalations SET updated_at = ?2 WHERE id = ?1")?
        .execute((escalation, clock::now_rfc3339()))?;
    let next: i64 = tx
        .prepare_cached(
            "SELECT COALESCE(MAX(n), 0) + 1 FROM escalation_timeline WHERE escalation_id = ?1",
        )?
        .query_row([escalation], |row| row.get(0))?;
    let mut statement = tx.prepare_cached(
        "INSERT INTO escalation_timeline (escalation_id, n, at, kind, detail)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (n, line) in (next..).zip(lines) {
        statement.execute((escalation, n, &line.at, &line.kind, line.detail.to_string()))?;
    }
    Ok(())
}

fn open_to(conn: &Connection, number: &str) -> Result<Vec<OpenText>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT t.escalation_id, t.attempt, t.code FROM texts t
         JOIN escalations e ON e.id = t.escalation_id
         WHERE t.to_number = ?1 AND e.status = 'active'
         ORDER BY t.created_at DESC, t.attempt DESC",
    )?;
    let rows = statement
        .query_map([number], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, u32>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(escalation, attempt, code)| {
            Ok(OpenText {
                escalation: escalation
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("texts.escalation_id: {e}")))?,
                attempt,
                code,
            })
        })
        .collect()
}

fn of(conn: &Connection, escalation: EscalationId) -> Result<Vec<StoredText>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT attempt, to_number, code, message_id, status FROM texts
         WHERE escalation_id = ?1 ORDER BY attempt",
    )?;
    let texts = statement
        .query_map([escalation.to_string()], |row| {
            Ok(StoredText {
                attempt: row.get(0)?,
                to: row.get(1)?,
                code: row.get(2)?,
                message_id: row.get(3)?,
                status: row.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(texts)
}
