//! `schedule_overrides` on SQLite (see `crate::store::overrides`).

use rusqlite::Row;

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::overrides::OverrideRow;

const COLUMNS: &str = "id, schedule, person, start_ms, end_ms, note, created_at_ms";

fn row(r: &Row<'_>) -> rusqlite::Result<OverrideRow> {
    Ok(OverrideRow {
        id: r.get(0)?,
        schedule: r.get(1)?,
        person: r.get(2)?,
        start_ms: r.get(3)?,
        end_ms: r.get(4)?,
        note: r.get(5)?,
        created_at_ms: r.get(6)?,
    })
}

impl SqliteStore {
    pub async fn insert_override(&self, o: OverrideRow) -> Result<(), StoreError> {
        self.writer
            .write(move |tx| {
                tx.prepare_cached(&format!(
                    "INSERT INTO schedule_overrides ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ))?
                .execute((
                    &o.id,
                    &o.schedule,
                    &o.person,
                    o.start_ms,
                    o.end_ms,
                    &o.note,
                    o.created_at_ms,
                ))?;
                Ok(())
            })
            .await
    }

    pub async fn delete_override(&self, schedule: String, id: String) -> Result<bool, StoreError> {
        self.writer
            .write(move |tx| {
                let deleted = tx
                    .prepare_cached(
                        "DELETE FROM schedule_overrides WHERE schedule = ?1 AND id = ?2",
                    )?
                    .execute((&schedule, &id))?;
                Ok(deleted > 0)
            })
            .await
    }

    pub async fn list_overrides(
        &self,
        schedule: Option<String>,
        ends_after_ms: i64,
    ) -> Result<Vec<OverrideRow>, StoreError> {
        self.readers
            .with(move |conn| {
                let mut statement = conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM schedule_overrides
                     WHERE end_ms > ?1 AND (?2 IS NULL OR schedule = ?2)
                     ORDER BY start_ms, created_at_ms, id"
                ))?;
                let rows = statement.query_map((ends_after_ms, &schedule), row)?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
            })
            .await
    }
}
