//! The SQLite backend: one file in WAL mode, one writer thread, a few readers.
//!
//! Why this shape: SQLite allows one writer at a time, and a durable commit costs an fsync.
//! Funnelling every write through one thread lets it put all requests that arrived during
//! the previous fsync into the next transaction (group commit), so throughput grows with
//! concurrency while each request is still answered only after its own commit. Readers use
//! their own connections; WAL lets them run while the writer commits.

mod reader;
mod writer;

use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags};

use super::{Event, EventId, EventPage, EventQuery, Inserted, NewEvent, StoreError, migrations};
use crate::config::StoreSettings;

/// How long a connection waits for a lock held by another process before giving up.
const BUSY_TIMEOUT_MS: u32 = 5_000;
/// Read connections; reads are short, and two cores rarely need more.
const READERS: usize = 4;

#[derive(Clone)]
pub struct SqliteStore {
    writer: writer::WriterHandle,
    readers: Arc<reader::ReaderPool>,
}

impl SqliteStore {
    /// Opens the file, applies migrations, and starts the writer thread. Blocking.
    pub fn open(path: &Path, settings: &StoreSettings) -> Result<SqliteStore, StoreError> {
        let mut conn = open_connection(path, OpenFlags::default())?;
        // WAL lets readers work during commits. synchronous=FULL makes every commit fsync the
        // WAL, so an acknowledged event survives power loss, not just a process crash;
        // group commit is what pays for it.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        migrations::apply_sqlite(&mut conn)?;

        let readers = (0..READERS)
            .map(|_| {
                let reader = open_connection(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                reader.pragma_update(None, "query_only", true)?;
                Ok(reader)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;

        Ok(SqliteStore {
            writer: writer::WriterHandle::start(conn, settings.group_commit_max_batch),
            readers: Arc::new(reader::ReaderPool::new(readers)),
        })
    }

    pub async fn insert_event(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        self.writer.insert_event(event).await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.writer.probe().await
    }

    pub async fn close(&self) {
        self.writer.close().await
    }

    pub async fn get_event(&self, id: EventId) -> Result<Option<Event>, StoreError> {
        self.readers
            .with(move |conn| reader::get_event(conn, id))
            .await
    }

    pub async fn list_events(&self, query: EventQuery) -> Result<EventPage, StoreError> {
        self.readers
            .with(move |conn| reader::list_events(conn, &query))
            .await
    }
}

fn open_connection(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
        path: path.display().to_string(),
        source,
    })?;
    conn.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS.into()))?;
    Ok(conn)
}
