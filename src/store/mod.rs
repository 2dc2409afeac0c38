//! The durable store: every accepted event is committed here before Klaxon answers.
//!
//! [`Store`] is a cheap-to-clone handle. Today its one backend is SQLite (`sqlite/`): one
//! writer thread doing group commit, plus a small pool of read connections. PostgreSQL will
//! be a second backend behind the same methods; callers never see which one runs.

mod event;
mod migrations;
mod sqlite;

use std::time::Duration;

pub use event::{Cursor, Event, EventId, EventPage, EventQuery, Inserted, NewEvent, Source};

use crate::config::{DatabaseUrl, StoreSettings};

/// Errors from the store. Callers branch on [`StoreError::is_unavailable`] to answer 503.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("schema migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the database has schema version {found}, newer than this Klaxon knows ({known}); upgrade Klaxon"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A batch failed for a reason other than an SQLite error code (rare: a conversion
    /// failure); the text is the original error's.
    #[error("write failed: {0}")]
    WriteFailed(String),
    #[error("the store is shut down")]
    Closed,
    #[error("the store did not answer within {0:?}")]
    Timeout(Duration),
    #[error("a stored row is unreadable: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// True when the failure is the store being unreachable or busy rather than bad data,
    /// so the right answer is 503 and a retry.
    pub fn is_unavailable(&self) -> bool {
        !matches!(self, StoreError::Corrupt(_))
    }
}

/// A handle to the store.
#[derive(Clone)]
pub struct Store {
    backend: sqlite::SqliteStore,
}

impl Store {
    /// Opens (creating if needed) the database and applies pending migrations.
    pub async fn open(url: &DatabaseUrl, settings: &StoreSettings) -> Result<Store, StoreError> {
        let backend = match url {
            DatabaseUrl::Sqlite(path) => {
                let path = path.clone();
                let settings = settings.clone();
                tokio::task::spawn_blocking(move || sqlite::SqliteStore::open(&path, &settings))
                    .await
                    .map_err(|_| StoreError::Closed)??
            }
        };
        Ok(Store { backend })
    }

    /// Stores an event, or reports the earlier event with the same idempotency key. Returns
    /// only after the outcome is durable.
    pub async fn insert_event(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        self.backend.insert_event(event).await
    }

    pub async fn get_event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        self.backend.get_event(id).await
    }

    pub async fn list_events(&self, query: EventQuery) -> Result<EventPage, StoreError> {
        self.backend.list_events(query).await
    }

    /// Proves the store can still commit a write, within `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        tokio::time::timeout(timeout, self.backend.ping())
            .await
            .map_err(|_| StoreError::Timeout(timeout))?
    }

    /// Commits everything already queued, then stops the writer. Later writes fail with
    /// [`StoreError::Closed`].
    pub async fn close(&self) {
        self.backend.close().await
    }
}
