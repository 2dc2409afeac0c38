//! `[http]`: how long a connection may take to send a request head, how long it may sit idle
//! between requests, and how many connections are served at once.
//!
//! These bound what a client can hold without sending a request: without them, slow or idle
//! sockets pile up until the process runs out of file descriptors and `/health` stops
//! answering. The accept loop that applies them is `src/http/listener/`.

use std::time::Duration;

use serde::Deserialize;

use crate::config::Reader;

/// Time from a connection's first byte of a request (or from accepting it) to the end of that
/// request's head; slower clients are disconnected.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a keep-alive connection may wait for its next request before it is closed.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The file's `[http]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub header_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
}

/// Limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog. `None`: derived at start
    /// from the open-files limit (see `crate::open_files`).
    pub max_connections: Option<usize>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: None,
        }
    }
}

pub(super) fn resolve(raw: RawHttp, r: &mut Reader<'_>) -> HttpSettings {
    let header_timeout = r
        .ranged(
            "KLAXON_HEADER_TIMEOUT_SECS",
            "http.header_timeout_secs",
            raw.header_timeout_secs,
            1,
            300,
        )
        .map_or(DEFAULT_HEADER_TIMEOUT, Duration::from_secs);
    let idle_timeout = r
        .ranged(
            "KLAXON_IDLE_TIMEOUT_SECS",
            "http.idle_timeout_secs",
            raw.idle_timeout_secs,
            1,
            3_600,
        )
        .map_or(DEFAULT_IDLE_TIMEOUT, Duration::from_secs);
    let max_connections = r.ranged(
        "KLAXON_MAX_CONNECTIONS",
        "http.max_connections",
        raw.max_connections,
        1,
        1_000_000,
    );
    HttpSettings {
        header_timeout,
        idle_timeout,
        max_connections,
    }
}
