//! On-call overrides as rows: added, removed and listed here; what they mean is
//! `crate::oncall`'s. Both backends alike; on PostgreSQL a change is announced to every node
//! (channel `klaxon_overrides`), whose cached copies reload at once.

use super::{Backend, Store, StoreError};

/// One override row. Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideRow {
    pub id: String,
    pub schedule: String,
    pub person: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub note: Option<String>,
    pub created_at_ms: i64,
}

impl Store {
    /// Stores a new override; durable when this returns.
    pub async fn insert_override(&self, row: OverrideRow) -> Result<(), StoreError> {
        let row = OverrideRow {
            note: row.note.map(crate::stored_text::without_nul),
            ..row
        };
        let outcome = match &self.backend {
            Backend::Sqlite(b) => b.insert_override(row).await,
            Backend::Postgres(b) => b.insert_override(row).await,
        };
        self.watch.writes.record(&outcome);
        outcome
    }

    /// Removes an override of `schedule`; false when there was none with that id.
    pub async fn delete_override(&self, schedule: String, id: String) -> Result<bool, StoreError> {
        let outcome = match &self.backend {
            Backend::Sqlite(b) => b.delete_override(schedule, id).await,
            Backend::Postgres(b) => b.delete_override(schedule, id).await,
        };
        self.watch.writes.record(&outcome);
        outcome
    }

    /// Overrides that end after `ends_after_ms`, of every schedule or of one, by start.
    pub async fn list_overrides(
        &self,
        schedule: Option<String>,
        ends_after_ms: i64,
    ) -> Result<Vec<OverrideRow>, StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => b.list_overrides(schedule, ends_after_ms).await,
            Backend::Postgres(b) => b.list_overrides(schedule, ends_after_ms).await,
        }
    }

    /// Resolves when some node added or removed an override (PostgreSQL). Never resolves on
    /// SQLite, where the one node knows its own changes.
    pub async fn overrides_changed(&self) {
        match &self.backend {
            Backend::Sqlite(_) => std::future::pending().await,
            Backend::Postgres(b) => b.overrides_changed().await,
        }
    }
}
