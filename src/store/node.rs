//! Klaxon nodes as the database knows them, for `GET /v1/nodes`: who is alive, until when,
//! and what each holds. On PostgreSQL every node that started in the last day is listed
//! (a dead one too, so an operator can see what it held and that the others took it over);
//! on SQLite the one process that owns the file.

/// One node, as `GET /v1/nodes` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NodeStatus {
    /// `node_<pid>_<random>` on PostgreSQL, `node_<pid>` on SQLite.
    pub id: String,
    /// RFC 3339.
    pub started_at: String,
    /// Until when the node counts as alive unless it renews (RFC 3339); `None` on SQLite,
    /// where nothing else could take its work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alive_until: Option<String>,
    pub alive: bool,
    /// Pending or failed deliveries the node holds (PostgreSQL: waiting or in flight on that
    /// node; SQLite: in flight).
    pub deliveries_held: u64,
    /// Escalations the node is stepping now (PostgreSQL only; 0 on SQLite).
    pub escalations_held: u64,
    /// This process.
    pub this_node: bool,
}
