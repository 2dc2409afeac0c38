//! Free space on the file system that holds the SQLite database, checked for `/health`.
//!
//! SQLite reports a full disk only when a write fails; this warns before that, while there is
//! still room to act. The figure is what an unprivileged process may use (`f_bavail`), since
//! root-reserved blocks are not available to Klaxon. It is cached for [`CACHE_FOR`], so a
//! health check polled in a loop costs at most one `statvfs` a second.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long one measurement is reused.
pub const CACHE_FOR: Duration = Duration::from_secs(1);

/// Too little space: `free` bytes are left, fewer than `minimum`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowDisk {
    pub free: u64,
    pub minimum: u64,
}

/// Watches the free space of one directory's file system.
#[derive(Debug)]
pub struct DiskSpace {
    dir: PathBuf,
    minimum: u64,
    last: Mutex<Option<(Instant, u64)>>,
}

impl DiskSpace {
    /// Watches the directory holding `database` (a file that may not exist yet); `minimum`
    /// 0 turns the check off.
    pub fn for_database(database: &Path, minimum: u64) -> Option<Arc<DiskSpace>> {
        if minimum == 0 {
            return None;
        }
        let dir = match database.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => PathBuf::from("."),
        };
        Some(Arc::new(DiskSpace {
            dir,
            minimum,
            last: Mutex::new(None),
        }))
    }

    /// `Some` when less than the minimum is free. A file system that cannot be measured is not
    /// reported here (the failing writes it would cause are).
    pub async fn low(self: &Arc<Self>) -> Option<LowDisk> {
        let free = self.free().await?;
        (free < self.minimum).then_some(LowDisk {
            free,
            minimum: self.minimum,
        })
    }

    async fn free(self: &Arc<Self>) -> Option<u64> {
        let cached = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, free)) = cached
            && at.elapsed() < CACHE_FOR
        {
            return Some(free);
        }
        let dir = self.dir.clone();
        // statvfs is usually instant, but on a network file system it may block.
        let measured = tokio::task::spawn_blocking(move || rustix::fs::statvfs(&dir))
            .await
            .ok()?;
        match measured {
            Ok(stats) => {
                let free = stats.f_bavail.saturating_mul(stats.f_frsize);
                *self.last.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((Instant::now(), free));
                Some(free)
            }
            Err(error) => {
                tracing::warn!(%error, dir = %self.dir.display(), "cannot measure free disk space");
                None
            }
        }
    }
}
