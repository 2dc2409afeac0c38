//! Whether the store can still write: the outcome of recent writes, as `/health` reports it.
//!
//! A write that fails because the store cannot write at all (a full disk, an I/O error, a
//! read-only database, no connection, a closed store, a timeout) is an [`Outage`]. The store
//! counts as failing from such a failure until a write succeeds again, or until
//! [`FAILURE_WINDOW`] passes with no write at all. A write the database refuses for its own
//! data (a constraint, a bad value) is not an outage: the next write may well succeed, and
//! `/health` should not take a node out of service for one bad row.
//!
//! `Store::ping` is not counted either way: it commits an empty transaction, which succeeds
//! on a full disk, so its success proves nothing about real writes.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::StoreError;

/// How long a failure is reported with no write since. Long enough for a load balancer to take
/// the node out of rotation; short enough that a node which receives no traffic once out of
/// rotation (so no write can succeed) is tried again, and reported again if writes still fail.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Why the store cannot write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    DiskFull,
    Io,
    ReadOnly,
    /// Another process holds the database's write lock past the busy timeout.
    Busy,
    /// PostgreSQL is unreachable, or no pooled connection could be had.
    Connection,
    Closed,
    Timeout,
}

impl fmt::Display for Outage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outage::DiskFull => "disk full",
            Outage::Io => "I/O error",
            Outage::ReadOnly => "read-only database",
            Outage::Busy => "database locked",
            Outage::Connection => "no database connection",
            Outage::Closed => "store closed",
            Outage::Timeout => "timed out",
        })
    }
}

impl Outage {
    /// The outage `error` shows, or `None` when it is about the data, not the store.
    pub fn of(error: &StoreError) -> Option<Outage> {
        match error {
            StoreError::Closed => Some(Outage::Closed),
            StoreError::Timeout(_) => Some(Outage::Timeout),
            StoreError::Pool(_) | StoreError::Connect { .. } | StoreError::Tls(_) => {
                Some(Outage::Connection)
            }
            StoreError::CannotWrite { cause, .. } => Some(*cause),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => {
                Outage::of_sqlite(failure.code)
            }
            StoreError::Open { .. } => Some(Outage::Io),
            StoreError::Postgres(error) => Outage::of_postgres(error),
            StoreError::Sqlite(_)
            | StoreError::Migration { .. }
            | StoreError::SchemaTooNew { .. }
            | StoreError::WriteFailed(_)
            | StoreError::Corrupt(_)
            | StoreError::Rejected(_)
            | StoreError::PostgresMigration { .. } => None,
        }
    }

    fn of_sqlite(code: rusqlite::ErrorCode) -> Option<Outage> {
        use rusqlite::ErrorCode as C;
        match code {
            C::DiskFull => Some(Outage::DiskFull),
            C::SystemIoFailure | C::CannotOpen | C::OutOfMemory | C::NoLargeFileSupport => {
                Some(Outage::Io)
            }
            C::ReadOnly | C::PermissionDenied => Some(Outage::ReadOnly),
            C::DatabaseBusy | C::DatabaseLocked | C::FileLockingProtocolFailed => {
                Some(Outage::Busy)
            }
            _ => None,
        }
    }

    fn of_postgres(error: &tokio_postgres::Error) -> Option<Outage> {
        let Some(code) = error.code() else {
            // No SQLSTATE: the connection broke, closed or timed out under the driver.
            return Some(if error.is_closed() {
                Outage::Closed
            } else {
                Outage::Connection
            });
        };
        let code = code.code();
        match code {
            "53100" => Some(Outage::DiskFull),
            "25006" => Some(Outage::ReadOnly),
            "57014" => Some(Outage::Timeout),
            "55P03" => Some(Outage::Busy),
            _ if code.starts_with("08") || code.starts_with("57P") => Some(Outage::Connection),
            _ if code.starts_with("53") || code.starts_with("58") => Some(Outage::Io),
            _ => None,
        }
    }
}

/// Writes are failing: the last one that failed for an outage, with no success since.
#[derive(Debug, Clone, Copy)]
pub struct Failing {
    pub cause: Outage,
    pub since: Instant,
}

/// The outcome of recent writes.
#[derive(Debug, Default)]
pub struct WriteHealth {
    /// The last outage with no successful write after it.
    failing: Mutex<Option<Failing>>,
    /// Whether `failing` may hold an outage: lets the common case (a success while all is
    /// well) skip the lock that every writer would otherwise take.
    maybe_failing: AtomicBool,
}

impl WriteHealth {
    /// Records the outcome of one write.
    pub fn record<T>(&self, outcome: &Result<T, StoreError>) {
        match outcome {
            Ok(_) => {
                if self.maybe_failing.load(Ordering::Relaxed)
                    && self.maybe_failing.swap(false, Ordering::AcqRel)
                {
                    *self.lock() = None;
                }
            }
            Err(error) => {
                if let Some(cause) = Outage::of(error) {
                    *self.lock() = Some(Failing {
                        cause,
                        since: Instant::now(),
                    });
                    self.maybe_failing.store(true, Ordering::Release);
                }
            }
        }
    }

    /// The failure to report, if writes failed within [`FAILURE_WINDOW`] and none succeeded
    /// since.
    pub fn failing(&self) -> Option<Failing> {
        let failing = *self.lock();
        failing.filter(|f| f.since.elapsed() < FAILURE_WINDOW)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Failing>> {
        self.failing.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: i32) -> StoreError {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    }

    #[test]
    fn a_full_disk_fails_writes_until_one_succeeds() {
        let health = WriteHealth::default();
        health.record::<()>(&Err(sqlite(rusqlite::ffi::SQLITE_FULL)));
        assert_eq!(health.failing().map(|f| f.cause), Some(Outage::DiskFull));
        health.record(&Ok(()));
        assert!(health.failing().is_none());
    }

    #[test]
    fn a_refused_row_is_not_an_outage() {
        let health = WriteHealth::default();
        health.record::<()>(&Err(sqlite(rusqlite::ffi::SQLITE_CONSTRAINT)));
        health.record::<()>(&Err(StoreError::WriteFailed("conversion".into())));
        assert!(health.failing().is_none());
    }

    #[test]
    fn closed_timeout_and_io_are_outages() {
        for (error, cause) in [
            (StoreError::Closed, Outage::Closed),
            (StoreError::Timeout(Duration::from_secs(1)), Outage::Timeout),
            (sqlite(rusqlite::ffi::SQLITE_IOERR), Outage::Io),
            (sqlite(rusqlite::ffi::SQLITE_READONLY), Outage::ReadOnly),
            (StoreError::Pool("down".into()), Outage::Connection),
        ] {
            assert_eq!(Outage::of(&error), Some(cause), "{error}");
        }
    }
}
