//! `alert_groups` on SQLite (see `crate::store::alert_group` for what they mean).

use rusqlite::{Connection, OptionalExtension, Transaction};

use super::SqliteStore;
use crate::store::alert_group::{GroupState, next};
use crate::store::{
    AlertGroup, AlertNotice, AlertStatus, AlertToSettle, EpisodeEscalations, EscalationId, Noted,
    StoreError, opening_key,
};

impl SqliteStore {
    pub async fn note_alerts(&self, notices: Vec<AlertNotice>) -> Result<Vec<Noted>, StoreError> {
        self.writer
            .write(move |tx| notices.iter().map(|n| note(tx, n)).collect())
            .await
    }

    pub async fn open_alert_groups(&self, limit: usize) -> Result<Vec<AlertGroup>, StoreError> {
        self.readers
            .with(move |conn| {
                let mut statement = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM alert_groups WHERE status <> 'resolved'
                     ORDER BY updated_at DESC LIMIT ?1"
                ))?;
                let rows = statement.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], row)?;
                rows.map(|r| r.map_err(StoreError::from).and_then(|g| g))
                    .collect()
            })
            .await
    }

    pub async fn alert_group(
        &self,
        source: String,
        dedup_key: String,
    ) -> Result<Option<AlertGroup>, StoreError> {
        self.readers
            .with(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM alert_groups WHERE source = ?1 AND dedup_key = ?2"
                ))?
                .query_row((&source, &dedup_key), row)
                .optional()?
                .transpose()
            })
            .await
    }

    pub async fn alerts_to_settle(&self, limit: usize) -> Result<Vec<AlertToSettle>, StoreError> {
        self.readers.with(move |conn| to_settle(conn, limit)).await
    }

    pub async fn alert_escalations(&self, key: String) -> Result<EpisodeEscalations, StoreError> {
        self.readers
            .with(move |conn| {
                let mut statement = conn.prepare_cached(
                    "SELECT e.pipeline_state, x.id, x.status
                     FROM events e LEFT JOIN escalations x ON x.event_id = e.id
                     WHERE e.source = 'alerts' AND e.idempotency_key = ?1",
                )?;
                let mut rows = statement.query([&key])?;
                let mut found = EpisodeEscalations::default();
                while let Some(r) = rows.next()? {
                    let state: Option<String> = r.get(0)?;
                    found.pipeline_pending = Some(state.as_deref() == Some("pending"));
                    if let (Some(id), Some(status)) = (
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                    ) {
                        let id: EscalationId = id
                            .parse()
                            .map_err(|_| StoreError::Corrupt(format!("escalation id {id:?}")))?;
                        found.escalations.push((id, status));
                    }
                }
                Ok(found)
            })
            .await
    }

    pub async fn alert_settled(&self, settled: AlertToSettle) -> Result<(), StoreError> {
        self.writer
            .write(move |tx| {
                tx.prepare_cached(
                    "UPDATE alert_groups SET settle = NULL, settle_episode = NULL
                     WHERE source = ?1 AND dedup_key = ?2 AND settle = ?3 AND settle_episode = ?4",
                )?
                .execute((
                    &settled.source,
                    &settled.dedup_key,
                    settled.how.as_str(),
                    settled.episode,
                ))?;
                Ok(())
            })
            .await
    }
}

const COLUMNS: &str = "source, dedup_key, status, episode, summary, severity, notifications,
                       opened_at, updated_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<AlertGroup, StoreError>> {
    let status: String = r.get(2)?;
    let Some(status) = AlertStatus::parse(&status) else {
        return Ok(Err(StoreError::Corrupt(format!(
            "alert group status {status:?}"
        ))));
    };
    Ok(Ok(AlertGroup {
        source: r.get(0)?,
        dedup_key: r.get(1)?,
        status,
        episode: r.get(3)?,
        summary: r.get(4)?,
        severity: r.get(5)?,
        notifications: r.get(6)?,
        opened_at: r.get(7)?,
        updated_at: r.get(8)?,
    }))
}

/// Decides one notice against the stored group and writes the outcome.
fn note(tx: &Transaction<'_>, notice: &AlertNotice) -> rusqlite::Result<Noted> {
    let stored = tx
        .prepare_cached(
            "SELECT status, episode FROM alert_groups WHERE source = ?1 AND dedup_key = ?2",
        )?
        .query_row((&notice.source, &notice.dedup_key), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .optional()?
        .map(|(status, episode)| GroupState {
            // An unreadable status counts as closed: the next firing opens afresh.
            status: AlertStatus::parse(&status).unwrap_or(AlertStatus::Resolved),
            episode,
        });
    let mut decision = next(stored, notice.status);
    if let Noted::Repeated { episode } = decision.noted {
        decision.noted = opening_stored(tx, notice, episode)?;
    }
    let Some(write) = decision.write else {
        return Ok(decision.noted);
    };
    if decision.opens {
        tx.prepare_cached(
            "INSERT INTO alert_groups (source, dedup_key, status, episode, summary, severity,
                                       notifications, opened_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)
             ON CONFLICT (source, dedup_key) DO UPDATE SET
                 status = excluded.status, episode = excluded.episode,
                 summary = excluded.summary, severity = excluded.severity,
                 notifications = 1, opened_at = excluded.opened_at,
                 updated_at = excluded.updated_at",
        )?
        .execute((
            &notice.source,
            &notice.dedup_key,
            write.status.as_str(),
            write.episode,
            &notice.summary,
            &notice.severity,
            &notice.at,
        ))?;
    } else {
        tx.prepare_cached(
            "UPDATE alert_groups SET status = ?3, notifications = notifications + 1,
                 updated_at = ?4,
                 settle = COALESCE(?5, settle),
                 settle_episode = CASE WHEN ?5 IS NULL THEN settle_episode ELSE episode END
             WHERE source = ?1 AND dedup_key = ?2",
        )?
        .execute((
            &notice.source,
            &notice.dedup_key,
            write.status.as_str(),
            &notice.at,
            decision.settle.map(AlertStatus::as_str),
        ))?;
    }
    Ok(decision.noted)
}

/// A repeat of an open alert, unless the episode's opening event was never stored (a crash
/// between the two writes of its first notification): then this notification opens it.
fn opening_stored(
    tx: &Transaction<'_>,
    notice: &AlertNotice,
    episode: i64,
) -> rusqlite::Result<Noted> {
    let key = opening_key(&notice.source, &notice.dedup_key, episode);
    let stored = tx
        .prepare_cached("SELECT 1 FROM events WHERE source = 'alerts' AND idempotency_key = ?1")?
        .exists([&key])?;
    Ok(if stored {
        Noted::Repeated { episode }
    } else {
        Noted::Opened { episode }
    })
}

fn to_settle(conn: &Connection, limit: usize) -> Result<Vec<AlertToSettle>, StoreError> {
    let mut statement = conn.prepare_cached(
        "SELECT source, dedup_key, settle_episode, settle FROM alert_groups
         WHERE settle IS NOT NULL LIMIT ?1",
    )?;
    let rows = statement.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    rows.map(|r| {
        let (source, dedup_key, episode, how) = r?;
        let how = AlertStatus::parse(&how)
            .ok_or_else(|| StoreError::Corrupt(format!("alert group settle {how:?}")))?;
        Ok(AlertToSettle {
            source,
            dedup_key,
            episode,
            how,
        })
    })
    .collect()
}
