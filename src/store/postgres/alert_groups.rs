//! `alert_groups` on PostgreSQL (see `crate::store::alert_group` for what they mean). A
//! notice locks its group's row (`FOR UPDATE`), so nodes deciding on one alert at once take
//! turns; the rows of one notification are locked in key order, so two never deadlock.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::PostgresStore;
use crate::store::alert_group::{GroupState, next};
use crate::store::{
    AlertGroup, AlertNotice, AlertStatus, AlertToSettle, EpisodeEscalations, EscalationId, Noted,
    StoreError, opening_key,
};

const COLUMNS: &str = "source, dedup_key, status, episode, summary, severity, notifications,
                       opened_at, updated_at";

impl PostgresStore {
    pub async fn note_alerts(&self, notices: Vec<AlertNotice>) -> Result<Vec<Noted>, StoreError> {
        let mut order: Vec<usize> = (0..notices.len()).collect();
        order.sort_by(|&a, &b| {
            (&notices[a].source, &notices[a].dedup_key)
                .cmp(&(&notices[b].source, &notices[b].dedup_key))
        });
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut noted = vec![Noted::Dropped; notices.len()];
        for i in order {
            noted[i] = note(&tx, &notices[i]).await?;
        }
        tx.commit().await?;
        Ok(noted)
    }

    pub async fn open_alert_groups(&self, limit: usize) -> Result<Vec<AlertGroup>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM alert_groups WHERE status <> 'resolved'
                     ORDER BY updated_at DESC LIMIT $1"
                ),
                &[&i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .await?;
        rows.iter().map(group).collect()
    }

    pub async fn alert_group(
        &self,
        source: String,
        dedup_key: String,
    ) -> Result<Option<AlertGroup>, StoreError> {
        let client = self.client().await?;
        client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM alert_groups WHERE source = $1 AND dedup_key = $2"),
                &[&source, &dedup_key],
            )
            .await?
            .as_ref()
            .map(group)
            .transpose()
    }

    pub async fn alerts_to_settle(&self, limit: usize) -> Result<Vec<AlertToSettle>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT source, dedup_key, settle_episode, settle FROM alert_groups
                 WHERE settle IS NOT NULL LIMIT $1",
                &[&i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let how: String = r.try_get(3)?;
                Ok(AlertToSettle {
                    source: r.try_get(0)?,
                    dedup_key: r.try_get(1)?,
                    episode: r.try_get(2)?,
                    how: AlertStatus::parse(&how).ok_or_else(|| {
                        StoreError::Corrupt(format!("alert group settle {how:?}"))
                    })?,
                })
            })
            .collect()
    }

    pub async fn alert_escalations(&self, key: String) -> Result<EpisodeEscalations, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT e.pipeline_state, x.id, x.status
                 FROM events e LEFT JOIN escalations x ON x.event_id = e.id
                 WHERE e.source = 'alerts' AND e.idempotency_key = $1",
                &[&key],
            )
            .await?;
        let mut found = EpisodeEscalations::default();
        for r in rows {
            let state: Option<String> = r.try_get(0)?;
            found.pipeline_pending = Some(state.as_deref() == Some("pending"));
            if let (Some(id), Some(status)) = (
                r.try_get::<_, Option<String>>(1)?,
                r.try_get::<_, Option<String>>(2)?,
            ) {
                let id: EscalationId = id
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("escalation id {id:?}")))?;
                found.escalations.push((id, status));
            }
        }
        Ok(found)
    }

    pub async fn alert_settled(&self, settled: AlertToSettle) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE alert_groups SET settle = NULL, settle_episode = NULL
                 WHERE source = $1 AND dedup_key = $2 AND settle = $3 AND settle_episode = $4",
                &[
                    &settled.source,
                    &settled.dedup_key,
                    &settled.how.as_str(),
                    &settled.episode,
                ],
            )
            .await?;
        Ok(())
    }
}

fn group(r: &Row) -> Result<AlertGroup, StoreError> {
    let status: String = r.try_get(2)?;
    Ok(AlertGroup {
        source: r.try_get(0)?,
        dedup_key: r.try_get(1)?,
        status: AlertStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("alert group status {status:?}")))?,
        episode: r.try_get(3)?,
        summary: r.try_get(4)?,
        severity: r.try_get(5)?,
        notifications: r.try_get(6)?,
        opened_at: r.try_get(7)?,
        updated_at: r.try_get(8)?,
    })
}

/// Decides one notice against its locked group and writes the outcome.
async fn note(tx: &impl GenericClient, notice: &AlertNotice) -> Result<Noted, StoreError> {
    let (source, key) = (&notice.source, &notice.dedup_key);
    loop {
        let stored = tx
            .query_opt(
                "SELECT status, episode FROM alert_groups
                 WHERE source = $1 AND dedup_key = $2 FOR UPDATE",
                &[source, key],
            )
            .await?
            .map(|r| -> Result<GroupState, StoreError> {
                let status: String = r.try_get(0)?;
                Ok(GroupState {
                    // An unreadable status counts as closed: the next firing opens afresh.
                    status: AlertStatus::parse(&status).unwrap_or(AlertStatus::Resolved),
                    episode: r.try_get(1)?,
                })
            })
            .transpose()?;
        let mut decision = next(stored, notice.status);
        if let Noted::Repeated { episode } = decision.noted {
            // A repeat, unless the episode's opening event was never stored (a crash between
            // the two writes of its first notification): then this notification opens it.
            let stored = tx
                .query_opt(
                    "SELECT 1 FROM events WHERE source = 'alerts' AND idempotency_key = $1",
                    &[&opening_key(source, key, episode)],
                )
                .await?;
            if stored.is_none() {
                decision.noted = Noted::Opened { episode };
            }
        }
        let Some(write) = decision.write else {
            return Ok(decision.noted);
        };
        if decision.opens && stored.is_none() {
            let inserted = tx
                .execute(
                    "INSERT INTO alert_groups (source, dedup_key, status, episode, summary,
                         severity, notifications, opened_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)
                     ON CONFLICT (source, dedup_key) DO NOTHING",
                    &[
                        source,
                        key,
                        &write.status.as_str(),
                        &write.episode,
                        &notice.summary,
                        &notice.severity,
                        &notice.at,
                    ],
                )
                .await?;
            if inserted == 0 {
                // Another node created the group since the SELECT: decide again, locked.
                continue;
            }
        } else if decision.opens {
            tx.execute(
                "UPDATE alert_groups SET status = $3, episode = $4, summary = $5, severity = $6,
                     notifications = 1, opened_at = $7, updated_at = $7
                 WHERE source = $1 AND dedup_key = $2",
                &[
                    source,
                    key,
                    &write.status.as_str(),
                    &write.episode,
                    &notice.summary,
                    &notice.severity,
                    &notice.at,
                ],
            )
            .await?;
        } else {
            tx.execute(
                "UPDATE alert_groups SET status = $3, notifications = notifications + 1,
                     updated_at = $4,
                     settle = COALESCE($5, settle),
                     settle_episode = CASE WHEN $5::TEXT IS NULL THEN settle_episode ELSE episode END
                 WHERE source = $1 AND dedup_key = $2",
                &[
                    source,
                    key,
                    &write.status.as_str(),
                    &notice.at,
                    &decision.settle.map(AlertStatus::as_str),
                ],
            )
            .await?;
        }
        return Ok(decision.noted);
    }
}
