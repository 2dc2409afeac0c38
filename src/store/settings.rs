//! What the store is told by the settings: where the database is ([`DatabaseUrl`]) and how
//! it is tuned ([`StoreSettings`]), validated from `[store]` and its variables in `raw.rs`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::PostgresUrl;

mod raw;

pub use raw::{RawStore, resolve};

/// Tuning of the durable store.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub group_commit_max_batch: usize,
    /// PostgreSQL only: connections in the pool (plus one that listens for notifications).
    pub pool_size: usize,
    /// PostgreSQL only: how long a node's claim on a delivery or an escalation lasts without
    /// renewal, i.e. how long a crashed node's work waits before another node takes it.
    pub lease: Duration,
    /// SQLite only: `/health` reports degraded when the database's file system has less free
    /// space than this (0 turns the check off).
    pub min_free_disk_bytes: u64,
}

/// Where events are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file, created if missing.
    Sqlite(PathBuf),
    /// A PostgreSQL server shared by any number of Klaxon nodes.
    Postgres(PostgresUrl),
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(url) => url.fmt(f),
        }
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(url: &str) -> Result<Self, String> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"));
        match path {
            Some("") => Err("an SQLite URL needs a file path, e.g. sqlite://klaxon.db".into()),
            Some(p) if p.starts_with(":memory:") => Err(
                "in-memory SQLite loses every event on exit; give a file path, e.g. sqlite://klaxon.db"
                    .into(),
            ),
            Some(p) => Ok(DatabaseUrl::Sqlite(PathBuf::from(p))),
            None if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                url.parse().map(DatabaseUrl::Postgres)
            }
            None => Err(format!(
                "unsupported database URL {:?}; expected sqlite://<file> or postgres://…",
                PostgresUrl::redact(url)
            )),
        }
    }
}
