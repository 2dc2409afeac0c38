//! `poll_cursors`: where each reconciliation poll resumes. One row per name; the poller
//! decides what a name and a cursor mean (see `crate::ingress::merge_poll`).

use rusqlite::{Connection, OptionalExtension, Transaction};

use crate::clock;
use crate::store::StoreError;

pub fn get(conn: &Connection, name: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT cursor FROM poll_cursors WHERE name = ?1")?
        .query_row([name], |row| row.get(0))
        .optional()?)
}

pub fn set(tx: &Transaction<'_>, name: &str, cursor: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO poll_cursors (name, cursor, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
    )?
    .execute((name, cursor, clock::now_rfc3339()))?;
    Ok(())
}
