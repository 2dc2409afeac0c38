//! `schedule_overrides` on PostgreSQL (see `crate::store::overrides`). Each change is
//! announced with `pg_notify` in its own transaction, so every node's cache reloads once the
//! change is visible.

use tokio_postgres::Row;

use super::PostgresStore;
use crate::store::StoreError;
use crate::store::overrides::OverrideRow;

/// The channel a change of overrides is announced on.
pub const OVERRIDES_CHANNEL: &str = "klaxon_overrides";

const COLUMNS: &str = "id, schedule, person, start_ms, end_ms, note, created_at_ms";

fn row(r: &Row) -> Result<OverrideRow, StoreError> {
    Ok(OverrideRow {
        id: r.try_get(0)?,
        schedule: r.try_get(1)?,
        person: r.try_get(2)?,
        start_ms: r.try_get(3)?,
        end_ms: r.try_get(4)?,
        note: r.try_get(5)?,
        created_at_ms: r.try_get(6)?,
    })
}

impl PostgresStore {
    pub async fn insert_override(&self, o: OverrideRow) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            &format!(
                "INSERT INTO schedule_overrides ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            &[
                &o.id,
                &o.schedule,
                &o.person,
                &o.start_ms,
                &o.end_ms,
                &o.note,
                &o.created_at_ms,
            ],
        )
        .await?;
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&OVERRIDES_CHANNEL, &o.schedule],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_override(&self, schedule: String, id: String) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let deleted = tx
            .execute(
                "DELETE FROM schedule_overrides WHERE schedule = $1 AND id = $2",
                &[&schedule, &id],
            )
            .await?;
        if deleted > 0 {
            tx.execute("SELECT pg_notify($1, $2)", &[&OVERRIDES_CHANNEL, &schedule])
                .await?;
        }
        tx.commit().await?;
        Ok(deleted > 0)
    }

    pub async fn list_overrides(
        &self,
        schedule: Option<String>,
        ends_after_ms: i64,
    ) -> Result<Vec<OverrideRow>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM schedule_overrides
                     WHERE end_ms > $1 AND ($2::TEXT IS NULL OR schedule = $2)
                     ORDER BY start_ms, created_at_ms, id"
                ),
                &[&ends_after_ms, &schedule],
            )
            .await?;
        rows.iter().map(row).collect()
    }

    /// Resolves when a node added or removed an override.
    pub async fn overrides_changed(&self) {
        self.wakers.overrides.notified().await
    }
}
