//! The open-files limit (RLIMIT_NOFILE): raised at start-up, and the source of the default
//! connection limit.
//!
//! Every connection is a file descriptor, and so are the database's files and every outbound
//! request. When accepted connections use them all, nothing else can open one: the database
//! cannot, outbound calls cannot, and the next accept fails. The connection limit is therefore
//! the open-files limit minus room for everything else.

/// Descriptors kept for what is not a client connection, beyond the outbound requests and the
/// database: standard streams, the listeners (Klaxon's and the in-process sandboxes'), the
/// runtime's epoll and wakers, log files.
const BASE_RESERVE: u64 = 64;
/// The derived connection limit never goes below this, even under a tiny open-files limit.
const MIN_CONNECTIONS: u64 = 16;

/// Raises the soft open-files limit to the hard one where allowed; returns the soft limit now
/// in force (`None` when the platform reports no limit).
pub fn raise_to_hard_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(soft), Some(hard)) = (limit.current, limit.maximum)
        && soft < hard
    {
        let raised = Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => return Some(hard),
            Err(error) => {
                tracing::warn!(%error, soft, hard, "cannot raise the open-files limit");
            }
        }
    }
    limit.current
}

/// The connection limit for an open-files limit of `open_files`, when `outbound` requests may
/// be in flight and the store keeps `database` descriptors. Outbound requests count twice:
/// to an in-process sandbox server both ends of the connection are ours. At least a quarter of
/// the limit is always left for things other than connections.
pub fn derived_max_connections(open_files: u64, outbound: usize, database: usize) -> usize {
    let reserve = BASE_RESERVE
        .saturating_add(2 * outbound as u64)
        .saturating_add(database as u64)
        .max(open_files / 4);
    let connections = open_files.saturating_sub(reserve).max(MIN_CONNECTIONS);
    usize::try_from(connections).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tester_limit_of_512_leaves_room_for_the_database_and_outbound_calls() {
        // 64 outbound requests and a 12-connection PostgreSQL pool: 64 + 128 + 12 reserved.
        assert_eq!(derived_max_connections(512, 64, 12), 308);
    }

    #[test]
    fn a_large_limit_keeps_a_quarter_in_reserve() {
        assert_eq!(derived_max_connections(1 << 20, 64, 12), 786_432);
    }

    #[test]
    fn a_tiny_limit_still_serves_a_few_connections() {
        assert_eq!(derived_max_connections(100, 64, 12), 16);
    }
}
