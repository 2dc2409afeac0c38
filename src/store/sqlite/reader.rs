//! The pool of read connections.
//!
//! A tiny pool: a mutex-guarded stack of connections, each used on a blocking thread. A
//! handful of connections and no health checks, so a crate would add more than it saves.

use std::sync::Mutex;

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::store::StoreError;

pub struct ReaderPool {
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection, so a caller waits for a free connection instead of failing.
    permits: Semaphore,
}

impl ReaderPool {
    pub fn new(connections: Vec<Connection>) -> ReaderPool {
        ReaderPool {
            permits: Semaphore::new(connections.len()),
            idle: Mutex::new(connections),
        }
    }

    /// Runs `f` with a connection on the blocking thread pool.
    pub async fn with<T, F>(self: &std::sync::Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Closed)?;
        let pool = self.clone();
        let result = tokio::task::spawn_blocking(move || {
            let conn = pool.take().ok_or(StoreError::Closed)?;
            let result = f(&conn);
            pool.put(conn);
            result
        })
        .await
        .map_err(|_| StoreError::Closed)?;
        drop(permit);
        result
    }

    fn take(&self) -> Option<Connection> {
        self.idle.lock().ok()?.pop()
    }

    fn put(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }
}
