//! `GET /health` reports the store honestly; `GET /v1/nodes` lists the nodes on it.

use std::time::Duration;

use crate::support::TestServer;

#[tokio::test]
async fn a_healthy_server_says_so() {
    let server = TestServer::start().await;
    let (status, body) = server.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["service"], "klaxon");
    assert_eq!(body["version"], klaxon::VERSION);
    assert_eq!(body["database"], "ok");
}

#[tokio::test]
async fn a_store_that_cannot_commit_is_reported_as_503() {
    if crate::support::postgres::enabled() {
        // SQLite-specific: a held write lock is how an SQLite store "cannot commit".
        return;
    }
    let server = TestServer::start().await;
    // Another process holding the write lock is what "unreachable" looks like for SQLite.
    let mut blocker = rusqlite::Connection::open(&server.db_path).expect("open the same file");
    blocker
        .busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    let lock = blocker
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .expect("take the write lock");

    let (status, body) = server.get("/health").await;
    assert_eq!(status, 503);
    assert_eq!(body["database"], "error");
    assert_eq!(body["status"], "unavailable");

    lock.rollback().expect("release the lock");
    // The probe queued behind the lock finishes; a fresh one succeeds.
    let mut recovered = false;
    for _ in 0..10 {
        if server.get("/health").await.0 == 200 {
            recovered = true;
            break;
        }
    }
    assert!(recovered, "health recovers once the lock is released");
}

#[tokio::test]
async fn a_lone_server_lists_itself_as_the_one_live_node() {
    let server = TestServer::start().await;
    let (status, body) = server.get("/v1/nodes").await;
    assert_eq!(status, 200, "{body}");
    let nodes = body["data"].as_array().expect("a list");
    assert_eq!(nodes.len(), 1, "{body}");
    let node = &nodes[0];
    assert_eq!(node["this_node"], true);
    assert_eq!(node["alive"], true);
    assert_eq!(node["deliveries_held"], 0);
    assert_eq!(node["escalations_held"], 0);
    assert!(
        node["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("node_")),
        "{node}"
    );
    // Only PostgreSQL nodes can be taken over, so only they have a liveness deadline.
    assert_eq!(
        node.get("alive_until").is_some(),
        crate::support::postgres::enabled(),
        "{node}"
    );
}
