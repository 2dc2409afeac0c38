//! `[store]` as written (and its `KLAXON_*` variables), validated into [`StoreSettings`].

use std::time::Duration;

use serde::Deserialize;

use super::StoreSettings;
use crate::config::Reader;

/// Upper bound on events in one group commit. Large enough that 64 busy clients fit in one
/// transaction, small enough that one fsync never waits behind a huge batch.
pub const DEFAULT_GROUP_COMMIT_MAX_BATCH: usize = 1024;
/// PostgreSQL connections per node: enough for four ingest and four attempt batches in
/// flight plus API reads and jobs, while seven nodes stay under PostgreSQL's default
/// `max_connections = 100`.
pub const DEFAULT_POOL_SIZE: usize = 12;
/// How long a PostgreSQL node's claim on a job or an escalation lasts without renewal; a
/// node renews its claims every third of it, so a dead node's work moves on after this.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);
/// `/health` reports degraded below this much free space where the SQLite file lives: enough
/// for SQLite to finish a checkpoint and for an operator to notice before writes fail.
pub const DEFAULT_MIN_FREE_DISK_BYTES: u64 = 64 * 1024 * 1024;

/// `[store]`: tuning of the durable store.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub group_commit_max_batch: Option<usize>,
    pub pool_size: Option<usize>,
    pub lease_secs: Option<u64>,
    pub min_free_disk_bytes: Option<u64>,
}

/// Validates `[store]` overlaid by its variables.
pub fn resolve(raw: RawStore, r: &mut Reader<'_>) -> StoreSettings {
    let group_commit_max_batch = r
        .ranged(
            "KLAXON_GROUP_COMMIT_MAX_BATCH",
            "store.group_commit_max_batch",
            raw.group_commit_max_batch,
            1,
            100_000,
        )
        .unwrap_or(DEFAULT_GROUP_COMMIT_MAX_BATCH);
    let pool_size = r
        .ranged(
            "KLAXON_DB_POOL_SIZE",
            "store.pool_size",
            raw.pool_size,
            2,
            1_000,
        )
        .unwrap_or(DEFAULT_POOL_SIZE);
    let lease = r
        .ranged(
            "KLAXON_LEASE_SECS",
            "store.lease_secs",
            raw.lease_secs,
            1,
            3_600,
        )
        .map_or(DEFAULT_LEASE, Duration::from_secs);
    let min_free_disk_bytes = r
        .parsed(
            "KLAXON_MIN_FREE_DISK_BYTES",
            "store.min_free_disk_bytes",
            raw.min_free_disk_bytes,
        )
        .map_or(DEFAULT_MIN_FREE_DISK_BYTES, |(v, _)| v);
    StoreSettings {
        group_commit_max_batch,
        pool_size,
        lease,
        min_free_disk_bytes,
    }
}
