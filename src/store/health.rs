//! What the store tells `/health` beyond "it answers": problems that mean writes are failing
//! or soon will. Each is named by a stable code and explained in words, without paths or SQL,
//! since `/health` is unauthenticated.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::Store;
use super::disk_space::{DiskSpace, LowDisk};
use super::write_health::{Outage, WriteHealth};

/// A reason the store is degraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Writes failed for `cause`, the last one `ago`, and none has succeeded since.
    WritesFailing { cause: Outage, ago: Duration },
    /// The file system holding the SQLite database is nearly full.
    LowDisk(LowDisk),
}

impl Problem {
    /// A stable identifier, the first word of the reason.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::WritesFailing { .. } => "writes_failing",
            Problem::LowDisk(_) => "disk_low",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::WritesFailing { cause, ago } => write!(
                f,
                "{}: a write failed ({cause}) {} s ago and none has succeeded since",
                self.code(),
                ago.as_secs()
            ),
            Problem::LowDisk(LowDisk { free, minimum }) => write!(
                f,
                "{}: {free} bytes free on the database's disk, below the minimum of {minimum}",
                self.code()
            ),
        }
    }
}

/// What the store watches about itself.
#[derive(Debug, Default)]
pub(super) struct Watch {
    pub writes: WriteHealth,
    /// SQLite only, and only with a nonzero minimum.
    pub disk: Option<Arc<DiskSpace>>,
}

impl Store {
    /// Problems that mean writes are failing or soon will; empty when none is known. Cheap:
    /// no database round trip, at most one `statvfs` a second.
    pub async fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if let Some(failing) = self.watch.writes.failing() {
            problems.push(Problem::WritesFailing {
                cause: failing.cause,
                ago: failing.since.elapsed(),
            });
        }
        if let Some(disk) = &self.watch.disk
            && let Some(low) = disk.low().await
        {
            problems.push(Problem::LowDisk(low));
        }
        problems
    }
}
